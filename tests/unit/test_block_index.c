/* The leak scan's pointer look-up (block_index_find, and batched) against the plain
 * binary search of the block table (heap_find), on heaps laid out like
 * glibc's: arenas far apart, chunk headers between blocks, free blocks,
 * a few huge blocks among many small ones, big blocks (slot shapes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "analysis/block_index.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* n blocks in narenas runs 1 GiB apart; usable sizes from min_usable up, in
 * steps of 16 bytes, spread steps; one in huge_every a megabyte or more
 * (never when 0); one in free_every free. */
struct layout {
	size_t n, narenas, huge_every, spread;
	uint64_t min_usable;
	unsigned free_every;
};

static struct heap make_heap(struct layout l)
{
	struct heap h = { .blocks = calloc(l.n ? l.n : 1, sizeof(struct heap_block)), .n = l.n };
	uint64_t addr = 0x555500000010ull;
	for (size_t i = 0; i < l.n; i++) {
		if (l.narenas > 1 && i % (l.n / l.narenas + 1) == 0)
			addr += 1ull << 30;
		uint64_t usable = l.min_usable + 16 * (next_random() % l.spread);
		if (l.huge_every && next_random() % l.huge_every == 0)
			usable = (1 << 20) + 16 * (next_random() % 4096);
		h.blocks[i] = (struct heap_block){ addr, (uint32_t)(usable / 8), 0,
						   next_random() % l.free_every ? STRAND_USED : STRAND_FREE, 0 };
		addr += usable + 8;
	}
	return h;
}

/* What the index must answer for v: the used block holding it, by heap_find. */
static void expect_same_answer(const struct heap *h, const struct block_index *bi, uint64_t v)
{
	const struct heap_block *want = heap_find(h, v);
	if (want && want->state != STRAND_USED)
		want = NULL;
	uint32_t off = UINT32_MAX, got = block_index_find(bi, v, &off);
	if (!want) {
		assert_int_equal(got, BLOCK_NONE);
		return;
	}
	assert_int_equal(got, (uint32_t)(want - h->blocks));
	assert_int_equal(off, v - want->addr);
}

/* The batched look-up (from slot shapes where the index has them) answers
 * as the single one does, in batches of every size from 1 to
 * BLOCK_INDEX_BATCH. */
static void expect_same_batches(const struct block_index *bi, const uint64_t *v, size_t n)
{
	uint32_t found[BLOCK_INDEX_BATCH];
	for (size_t i = 0, k = 1; i < n; i += k, k = k % BLOCK_INDEX_BATCH + 1) {
		size_t m = n - i < k ? n - i : k;
		block_index_find_batch(bi, v + i, m, found);
		for (size_t j = 0; j < m; j++) {
			uint32_t off = UINT32_MAX, want = block_index_find(bi, v[i + j], &off);
			if (want != BLOCK_NONE && off)
				want |= BLOCK_INDEX_INTERIOR; /* a start pointer is one to the first byte */
			assert_int_equal(found[j], want);
		}
	}
}

static bool has_shapes(const struct block_index *bi)
{
	for (size_t i = 0; i < bi->nregions; i++)
		if (bi->regions[i].shape)
			return true;
	return false;
}

static void check_heap(struct heap h, bool shapes)
{
	struct block_index bi;
	block_index_build(&bi, &h);
	assert_int_equal(has_shapes(&bi), shapes);
	uint64_t *probes = calloc(h.n * 13 + 10002, sizeof(*probes));
	size_t n = 0;
	for (size_t i = 0; i < h.n; i++) {
		const struct heap_block *b = &h.blocks[i];
		uint64_t end = b->addr + heap_usable(b);
		uint64_t near[] = { b->addr - 9, b->addr - 8, b->addr - 1, b->addr, b->addr + 1, b->addr + 8,
				    b->addr + 16, b->addr + 24, b->addr + next_random() % heap_usable(b),
				    end - 8, end - 1, end, end + 7 };
		for (size_t k = 0; k < sizeof(near) / sizeof(near[0]); k++)
			probes[n++] = near[k];
	}
	for (int k = 0; k < 10000; k++) /* anywhere, gaps between arenas included */
		probes[n++] = 0x555500000000ull + next_random() % (8ull << 30);
	probes[n++] = 0;
	probes[n++] = UINT64_MAX;
	for (size_t k = 0; k < n; k++)
		expect_same_answer(&h, &bi, probes[k]);
	expect_same_batches(&bi, probes, n);
	free(probes);
	block_index_free(&bi);
	free(h.blocks);
}

/* Blocks of tens of bytes: slots of 128 bytes, too small to have shapes. */
static void tiny_blocks_in_one_arena(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 50000, .narenas = 1, .spread = 8, .min_usable = 24,
					      .free_every = 3 }),
		   false);
}

/* Blocks of hundreds of bytes: slots of 512 bytes, with shapes. */
static void small_blocks_in_one_arena(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 50000, .narenas = 1, .spread = 64, .min_usable = 24,
					      .free_every = 3 }),
		   true);
}

static void arenas_far_apart(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 50000, .narenas = 5, .spread = 64, .min_usable = 24,
					      .free_every = 3 }),
		   true);
	check_heap(make_heap((struct layout){ .n = 50000, .narenas = 5, .spread = 8, .min_usable = 24,
					      .free_every = 3 }),
		   false);
}

/* Huge blocks make the average slot big: many small blocks share a slot,
 * and the look-up falls back to a binary search among them. */
static void huge_blocks_among_small_ones(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 20000, .narenas = 3, .huge_every = 50, .spread = 64,
					      .min_usable = 24, .free_every = 3 }),
		   true);
}

/* Blocks of kilobytes: slots of 4 KiB. With few free blocks, most slots are
 * simple and answered from their shapes alone. */
static void big_blocks_with_shapes(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 20000, .narenas = 1, .spread = 64, .min_usable = 2048,
					      .free_every = 3 }),
		   true);
	check_heap(make_heap((struct layout){ .n = 20000, .narenas = 4, .spread = 64, .min_usable = 2048,
					      .free_every = 20 }),
		   true);
}

/* An arena of tiny blocks, one of big blocks and a mapped block of 4 MiB far
 * from both: each region has slots of its own size (the mapped block must
 * not make the big blocks' slots coarse), shapes where they are big. */
static void regions_with_slots_of_their_own(void **state)
{
	(void)state;
	struct heap tiny = make_heap((struct layout){ .n = 20000, .narenas = 1, .spread = 8, .min_usable = 24,
						      .free_every = 3 });
	struct heap big = make_heap((struct layout){ .n = 20000, .narenas = 1, .spread = 1, .min_usable = 4088,
						     .free_every = 50 });
	struct heap h = { .blocks = calloc(tiny.n + big.n + 1, sizeof(struct heap_block)), .n = tiny.n + big.n + 1 };
	for (size_t i = 0; i < tiny.n; i++)
		h.blocks[i] = tiny.blocks[i];
	for (size_t i = 0; i < big.n; i++) {
		h.blocks[tiny.n + i] = big.blocks[i];
		h.blocks[tiny.n + i].addr += 4ull << 30;
	}
	h.blocks[h.n - 1] = (struct heap_block){ 0x7f0000000010ull, (4u << 20) / 8, 0, STRAND_USED, 0 };
	struct block_index bi;
	block_index_build(&bi, &h);
	assert_int_equal(bi.nregions, 3);
	assert_int_equal(bi.regions[0].shift, 7);
	assert_int_equal(bi.regions[1].shift, 12);
	assert_null(bi.regions[0].shape);
	assert_non_null(bi.regions[1].shape);
	block_index_free(&bi);
	free(tiny.blocks);
	free(big.blocks);
	check_heap(h, true);
}

/* 32 KiB blocks around a run of 140,000 blocks of 8 bytes, 16 apart (an
 * allocator with smaller blocks than glibc's): slots of 32 KiB, and more than
 * 2^16 blocks from a group's first to some of its slots, which a shape
 * cannot count. */
static void a_crowd_of_tiny_blocks_among_big_ones(void **state)
{
	(void)state;
	size_t big = 150000, tiny = 140000;
	struct heap h = { .blocks = calloc(2 * big + tiny, sizeof(struct heap_block)), .n = 2 * big + tiny };
	uint64_t addr = 0x555500000010ull;
	for (size_t i = 0; i < h.n; i++) {
		bool small = i >= big && i < big + tiny;
		uint64_t usable = small ? 8 : 32760;
		h.blocks[i] = (struct heap_block){ addr, (uint32_t)(usable / 8), 0,
						   next_random() % 7 ? STRAND_USED : STRAND_FREE, 0 };
		addr += usable + 8;
	}
	struct block_index bi;
	block_index_build(&bi, &h);
	const struct block_region *rg = &bi.regions[0];
	assert_int_equal(rg->shift, 15);
	bool crowded = false;
	for (size_t p = 0; p < (size_t)((rg->end - rg->base) >> rg->shift); p++)
		crowded |= rg->slot_first[p] - rg->group_first[p >> SHAPE_GROUP_SHIFT] > UINT16_MAX;
	assert_true(crowded);
	block_index_free(&bi);
	check_heap(h, true);
}

static void one_block_and_none(void **state)
{
	(void)state;
	check_heap(make_heap((struct layout){ .n = 1, .narenas = 1, .spread = 1, .min_usable = 24, .free_every = 3 }),
		   false);
	struct heap empty = { 0 };
	struct block_index bi;
	block_index_build(&bi, &empty);
	uint32_t off;
	assert_int_equal(block_index_find(&bi, 0x555500000010ull, &off), BLOCK_NONE);
	block_index_free(&bi);
}

/* Mapped blocks of megabytes just over a region gap apart, as a process's big
 * dict tables lie: a region of one 5 MiB block has slots of 8 MiB, and its
 * base, rounded down to one, once fell back inside the region before. */
static void regions_of_big_blocks_close_together(void **state)
{
	(void)state;
	static const uint64_t usable[] = { 4u << 20, 5u << 20, 3u << 20, 9u << 20, 6u << 20 };
	struct heap h = { .blocks = calloc(5, sizeof(struct heap_block)), .n = 5 };
	uint64_t addr = 0x7f0000000010ull;
	for (size_t i = 0; i < 5; i++) {
		h.blocks[i] = (struct heap_block){ addr, (uint32_t)(usable[i] / 8), 0, STRAND_USED, HEAP_MMAPPED };
		addr += usable[i] + (1u << 20) + 4096 * (i + 1); /* just over the gap that starts a new region */
	}
	check_heap(h, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tiny_blocks_in_one_arena),
		cmocka_unit_test(small_blocks_in_one_arena),
		cmocka_unit_test(arenas_far_apart),
		cmocka_unit_test(huge_blocks_among_small_ones),
		cmocka_unit_test(big_blocks_with_shapes),
		cmocka_unit_test(regions_with_slots_of_their_own),
		cmocka_unit_test(a_crowd_of_tiny_blocks_among_big_ones),
		cmocka_unit_test(one_block_and_none),
		cmocka_unit_test(regions_of_big_blocks_close_together),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
