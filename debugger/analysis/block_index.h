/* Which used heap block a word points into: the question the leak scan asks
 * of every word it reads, hundreds of millions of times on a big heap. The
 * block table is cut into regions (runs of blocks without big gaps) and each
 * region into slots about as big as its average block; a slot names the first
 * block that reaches into it, so a pointer's block is one of the two or three
 * from its slot's entry to the next one's. Where blocks are big, each slot
 * also has a shape: where its (at most two) blocks lie in it, so that most
 * look-ups never read the block table. */
#ifndef STRAND_BLOCK_INDEX_H
#define STRAND_BLOCK_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#define BLOCK_NONE UINT32_MAX
#define BLOCK_INDEX_INTERIOR 0x80000000u /* in batched answers: not to the block's first byte */

/* Where a slot's blocks lie in it, in byte offsets from the slot's start,
 * when a pointer into it can hit only its first block (the slot's entry)
 * and the next one, which runs past the slot's end. The first block is
 * number delta past its group's first (group_first), so that the look-up
 * need not read the slot's entry too; its used bytes are [lo, end); when it
 * starts in the slot (SHAPE_STARTS in lo), a pointer to lo is its start
 * pointer, else it began before the slot and every pointer into the slot is
 * an interior one. The next block starts at split. split is SHAPE_OTHER
 * when the slot is not so simple: a free block, or one ending inside it,
 * follows the first; or the first is 2^16 blocks or more past its group's
 * first. */
struct block_shape {
	uint16_t delta, lo, end, split;
};

#define SHAPE_OTHER UINT16_MAX
#define SHAPE_STARTS 0x8000u
#define SHAPE_GROUP_SHIFT 6 /* slots a group_first entry covers: 64 */

struct block_region {
	uint64_t base, end;   /* base aligned to a slot */
	uint32_t first_block, end_block;
	unsigned shift;       /* log2 of the slot size */
	uint32_t *slot_first; /* per slot, and one past the end */
	struct block_shape *shape; /* per slot, for slots of 256 bytes to 32 KiB; else NULL */
	uint32_t *group_first;     /* with shapes: the entry of every 64th slot */
};

struct block_index {
	const struct heap_block *blocks;
	uint64_t lo, hi; /* the span of used blocks: a quick first filter */
	struct block_region *regions;
	size_t nregions;
	const struct block_region *hot; /* the region with shapes and the most slots, or NULL */
};

/* Index the table of h (4 to 16 bytes a block); h must outlive the index. */
void block_index_build(struct block_index *bi, const struct heap *h);
void block_index_free(struct block_index *bi);

/* The slot entry of v (its region in *rgp), NULL when v is in no region. */
static inline const uint32_t *block_index_slot(const struct block_index *bi, uint64_t v,
						const struct block_region **rgp)
{
	if (v < bi->lo || v >= bi->hi)
		return NULL;
	const struct block_region *rg = bi->regions;
	if (bi->nregions > 1) {
		size_t lo = 0, hi = bi->nregions;
		while (lo < hi) { /* the last region starting at or before v */
			size_t mid = (lo + hi) / 2;
			if (bi->regions[mid].base <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!lo)
			return NULL;
		rg = &bi->regions[lo - 1];
	}
	if (v >= rg->end)
		return NULL;
	*rgp = rg;
	return &rg->slot_first[(v - rg->base) >> rg->shift];
}

/* The block from a slot entry on: the last starting at or before v among
 * those reaching into v's slot; BLOCK_NONE unless v lies in its usable bytes
 * and it is used. Pointers are random: the common case (at most four blocks
 * reach into the slot) takes no branch that depends on where in the slot v
 * falls. */
static inline __attribute__((always_inline)) uint32_t block_index_resolve(const struct block_index *bi,
									   const struct block_region *rg,
									   const uint32_t *slot, uint64_t v,
									   uint32_t *offset)
{
	const struct heap_block *blocks = bi->blocks;
	size_t a = slot[0], last = slot[1] < rg->end_block ? slot[1] : rg->end_block - 1;
	if (last - a <= 3) { /* blocks are sorted: the last of the next three that starts at or before v */
		size_t n1 = a + 1 < last ? a + 1 : last, n2 = a + 2 < last ? a + 2 : last;
		bool c1 = blocks[n1].addr <= v, c2 = blocks[n2].addr <= v, c3 = blocks[last].addr <= v;
		a = c3 ? last : c2 ? n2 : c1 ? n1 : a;
	} else {
		size_t b = last + 1;
		while (a + 1 < b) {
			size_t mid = (a + b) / 2;
			if (blocks[mid].addr <= v)
				a = mid;
			else
				b = mid;
		}
	}
	const struct heap_block *blk = &blocks[a];
	if (blk->addr > v || v >= blk->addr + heap_usable(blk) || blk->state != STRAND_USED)
		return BLOCK_NONE;
	*offset = (uint32_t)(v - blk->addr);
	return (uint32_t)a;
}

/* The index of the used block whose usable bytes hold v, with v's offset in
 * it; BLOCK_NONE if none. */
static inline __attribute__((always_inline)) uint32_t block_index_find(const struct block_index *bi, uint64_t v,
									uint32_t *offset)
{
	const struct block_region *rg;
	const uint32_t *slot = block_index_slot(bi, v, &rg);
	return slot ? block_index_resolve(bi, rg, slot, v, offset) : BLOCK_NONE;
}

#define BLOCK_INDEX_BATCH 32

/* The answer of a simple shape for a pointer off bytes into slot s of rg
 * (see block_shape). Without a branch on where in the slot the pointer
 * falls: pointers are random. */
static inline uint32_t block_shape_answer(const struct block_region *rg, size_t s, const struct block_shape *sh,
					  uint32_t off)
{
	uint32_t lo = sh->lo & ~SHAPE_STARTS, first = rg->group_first[s >> SHAPE_GROUP_SHIFT] + sh->delta;
	uint32_t second = off >= sh->split;
	uint32_t in_first = (off >= lo) & (off < sh->end);
	uint32_t first_interior = sh->lo & SHAPE_STARTS ? lo + 1 : 0;
	uint32_t interior_from = second ? sh->split + 1u : first_interior;
	uint32_t answer = (first + second) | (off >= interior_from ? BLOCK_INDEX_INTERIOR : 0);
	return second | in_first ? answer : BLOCK_NONE;
}

/* The words of v into the hot region's simple slots, answered in found;
 * the indices of the others go to rest, whose count is returned. Where
 * blocks are big, nearly every pointer lands here: a pass that fetches the
 * shapes ahead, then a short loop with few instructions a word. */
static inline __attribute__((always_inline)) size_t block_index_find_hot(const struct block_index *bi,
									  const uint64_t *v, size_t n,
									  uint32_t *found, uint8_t *rest)
{
	const struct block_region *hot = bi->hot;
	uint64_t span = hot->end - hot->base, mask = ((uint64_t)1 << hot->shift) - 1;
	size_t nrest = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = v[i] - hot->base;
		if (d < span)
			__builtin_prefetch(&hot->shape[d >> hot->shift]);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t d = v[i] - hot->base;
		if (d < span) {
			struct block_shape sh = hot->shape[d >> hot->shift];
			if (sh.split != SHAPE_OTHER) {
				found[i] = block_shape_answer(hot, d >> hot->shift, &sh, (uint32_t)(d & mask));
				continue;
			}
		}
		rest[nrest++] = (uint8_t)i;
	}
	return nrest;
}

/* Any n words: each look-up waits on cache misses, its slot and shape, then
 * (unless the shape answers) its blocks. Here every slot and shape is
 * fetched, then the blocks of the words the shapes cannot answer, then the
 * answers worked out, so the misses of the whole batch overlap instead of
 * following one another. */
static inline __attribute__((always_inline)) void block_index_find_any(const struct block_index *bi,
									const uint64_t *v, size_t n, uint32_t *found)
{
	const uint32_t *slot[BLOCK_INDEX_BATCH];
	const struct block_region *rg[BLOCK_INDEX_BATCH];
	struct block_shape shape[BLOCK_INDEX_BATCH];
	for (size_t i = 0; i < n; i++) {
		slot[i] = block_index_slot(bi, v[i], &rg[i]);
		if (slot[i]) {
			__builtin_prefetch(slot[i]);
			if (rg[i]->shape)
				__builtin_prefetch(&rg[i]->shape[slot[i] - rg[i]->slot_first]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		shape[i].split = SHAPE_OTHER;
		if (slot[i] && rg[i]->shape)
			shape[i] = rg[i]->shape[slot[i] - rg[i]->slot_first];
		if (slot[i] && shape[i].split == SHAPE_OTHER) {
			/* the slot's first and last candidates: often two cache lines */
			__builtin_prefetch(&bi->blocks[slot[i][0]]);
			__builtin_prefetch(&bi->blocks[slot[i][1] < rg[i]->end_block ? slot[i][1] : rg[i]->end_block - 1]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!slot[i]) {
			found[i] = BLOCK_NONE;
		} else if (shape[i].split != SHAPE_OTHER) {
			uint32_t off = (uint32_t)((v[i] - rg[i]->base) & (((uint64_t)1 << rg[i]->shift) - 1));
			found[i] = block_shape_answer(rg[i], (size_t)(slot[i] - rg[i]->slot_first), &shape[i], off);
		} else {
			uint32_t off, b = block_index_resolve(bi, rg[i], slot[i], v[i], &off);
			found[i] = b == BLOCK_NONE || !off ? b : b | BLOCK_INDEX_INTERIOR;
		}
	}
}

/* block_index_find for n <= BLOCK_INDEX_BATCH words at once, answering the
 * block with BLOCK_INDEX_INTERIOR when the pointer is an interior one: the
 * hot region's simple slots first, the other words after. */
static inline void block_index_find_batch(const struct block_index *bi, const uint64_t *v, size_t n,
					  uint32_t *found)
{
	if (!bi->hot) {
		block_index_find_any(bi, v, n, found);
		return;
	}
	uint8_t rest[BLOCK_INDEX_BATCH];
	uint64_t rest_v[BLOCK_INDEX_BATCH];
	uint32_t rest_found[BLOCK_INDEX_BATCH];
	size_t nrest = block_index_find_hot(bi, v, n, found, rest);
	for (size_t k = 0; k < nrest; k++)
		rest_v[k] = v[rest[k]];
	block_index_find_any(bi, rest_v, nrest, rest_found);
	for (size_t k = 0; k < nrest; k++)
		found[rest[k]] = rest_found[k];
}

#endif
