/* The leak scan's pointer look-up (block_index_find, and batched) against the plain
 * binary search of the block table (heap_find), on heaps laid out like
 * glibc's: arenas far apart, chunk headers between blocks, free blocks,
 * a few huge blocks among many small ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "../../debugger/block_index.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* n blocks in narenas runs 1 GiB apart; usable sizes from 24 bytes up, one in
 * huge_every a megabyte or more; one in three free. */
static struct heap make_heap(size_t n, size_t narenas, size_t huge_every)
{
	struct heap h = { .blocks = calloc(n ? n : 1, sizeof(struct heap_block)), .n = n };
	uint64_t addr = 0x555500000010ull;
	for (size_t i = 0; i < n; i++) {
		if (narenas > 1 && i % (n / narenas + 1) == 0)
			addr += 1ull << 30;
		uint64_t usable = 24 + 16 * (next_random() % 64);
		if (huge_every && next_random() % huge_every == 0)
			usable = (1 << 20) + 16 * (next_random() % 4096);
		h.blocks[i] = (struct heap_block){ addr, (uint32_t)(usable / 8), 0,
						   next_random() % 3 ? STRAND_USED : STRAND_FREE, 0 };
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

/* The batched look-up answers as the single one does, in batches of every
 * size from 1 to BLOCK_INDEX_BATCH. */
static void expect_same_batches(const struct block_index *bi, const uint64_t *v, size_t n)
{
	uint32_t block[BLOCK_INDEX_BATCH], off[BLOCK_INDEX_BATCH];
	for (size_t i = 0, k = 1; i < n; i += k, k = k % BLOCK_INDEX_BATCH + 1) {
		size_t m = n - i < k ? n - i : k;
		block_index_find_batch(bi, v + i, m, block, off);
		for (size_t j = 0; j < m; j++) {
			uint32_t want_off = UINT32_MAX, want = block_index_find(bi, v[i + j], &want_off);
			assert_int_equal(block[j], want);
			if (want != BLOCK_NONE)
				assert_int_equal(off[j], want_off);
		}
	}
}

static void check_heap(struct heap h)
{
	struct block_index bi;
	block_index_build(&bi, &h);
	uint64_t *probes = calloc(h.n * 11 + 10002, sizeof(*probes));
	size_t n = 0;
	for (size_t i = 0; i < h.n; i++) {
		const struct heap_block *b = &h.blocks[i];
		uint64_t end = b->addr + heap_usable(b);
		uint64_t near[] = { b->addr - 9, b->addr - 8, b->addr - 1, b->addr, b->addr + 1, b->addr + 8,
				    b->addr + next_random() % heap_usable(b), end - 8, end - 1, end, end + 7 };
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

static void small_blocks_in_one_arena(void **state)
{
	(void)state;
	check_heap(make_heap(50000, 1, 0));
}

static void arenas_far_apart(void **state)
{
	(void)state;
	check_heap(make_heap(50000, 5, 0));
}

/* Huge blocks make the average slot big: many small blocks share a slot,
 * and the look-up falls back to a binary search among them. */
static void huge_blocks_among_small_ones(void **state)
{
	(void)state;
	check_heap(make_heap(20000, 3, 50));
}

static void one_block_and_none(void **state)
{
	(void)state;
	check_heap(make_heap(1, 1, 0));
	struct heap empty = { 0 };
	struct block_index bi;
	block_index_build(&bi, &empty);
	uint32_t off;
	assert_int_equal(block_index_find(&bi, 0x555500000010ull, &off), BLOCK_NONE);
	block_index_free(&bi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_blocks_in_one_arena),
		cmocka_unit_test(arenas_far_apart),
		cmocka_unit_test(huge_blocks_among_small_ones),
		cmocka_unit_test(one_block_and_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
