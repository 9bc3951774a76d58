#include "block_index.h"

#include <stdlib.h>

#include "base/util.h"

/* Blocks closer than this share a region; a bigger gap starts a new one, so
 * that slots never cover the empty space between arenas and mappings. Slots
 * are at most this big: a region's base, rounded down to a slot, must stay
 * past the end of the region before it (the look-up takes the last region
 * whose base is at or below a word). */
#define REGION_GAP_SHIFT 20
#define REGION_GAP (1u << REGION_GAP_SHIFT)

static uint64_t block_end(const struct heap_block *b)
{
	return b->addr + heap_usable(b);
}

static void find_regions(struct block_index *bi, const struct heap *h)
{
	size_t cap = 0;
	for (size_t i = 0; i < h->n;) {
		size_t j = i + 1;
		uint64_t end = block_end(&h->blocks[i]);
		while (j < h->n && h->blocks[j].addr < end + REGION_GAP) {
			end = block_end(&h->blocks[j]) > end ? block_end(&h->blocks[j]) : end;
			j++;
		}
		GROW(bi->regions, cap, bi->nregions + 1);
		bi->regions[bi->nregions++] = (struct block_region){ .base = h->blocks[i].addr, .end = end,
								     .first_block = (uint32_t)i, .end_block = (uint32_t)j };
		i = j;
	}
}

/* Slots of the region (rg->base must be aligned to its slot size). */
static size_t region_slots(const struct block_region *rg)
{
	return (size_t)((rg->end - rg->base) >> rg->shift) + 1;
}

/* Slots about as big as the region's average block: about 4 bytes of index
 * a block (8 more with shapes; the scan frees them), and a pointer's block
 * is among two or three. Each region has its own size, so that one big
 * mapped block does not make the slots of an arena of small ones coarse;
 * blocks a little bigger than a power of two (4 KiB and a top chunk) still
 * get slots of that size, which their shapes can tell apart. */
static void fill_slots(struct block_region *rg, const struct heap *h)
{
	uint64_t span = rg->end - rg->base, n = rg->end_block - rg->first_block;
	rg->shift = 4;
	while (rg->shift < REGION_GAP_SHIFT && ((uint64_t)1 << rg->shift) * n < span - span / 16)
		rg->shift++;
	rg->base &= ~(((uint64_t)1 << rg->shift) - 1);
	size_t nslots = region_slots(rg);
	rg->slot_first = xcalloc_big(nslots + 1, sizeof(uint32_t));
	size_t k = rg->first_block;
	for (size_t p = 0; p <= nslots; p++) {
		uint64_t slot = rg->base + ((uint64_t)p << rg->shift);
		while (k < rg->end_block && block_end(&h->blocks[k]) <= slot)
			k++;
		rg->slot_first[p] = (uint32_t)k;
	}
}

/* Shapes cost 8 bytes a slot: worth it where blocks are big, hence have
 * many words to look up; 16-bit offsets hold slots up to 32 KiB. */
#define SHAPE_MIN_SHIFT 8
#define SHAPE_MAX_SHIFT 15

static uint16_t clamp_in_slot(uint64_t addr, uint64_t slot, uint64_t size)
{
	return (uint16_t)(addr <= slot ? 0 : addr - slot >= size ? size : addr - slot);
}

/* The shape of the slot at base whose entry is block a, delta blocks past
 * its group's first (see block_shape). */
static struct block_shape slot_shape(const struct block_index *bi, const struct block_region *rg, size_t a,
				     size_t delta, uint64_t base)
{
	uint64_t size = (uint64_t)1 << rg->shift, end = base + size;
	struct block_shape sh = { (uint16_t)delta, 0, 0, (uint16_t)size };
	if (a >= rg->end_block || bi->blocks[a].addr >= end)
		return sh; /* no block reaches into this slot */
	if (delta > UINT16_MAX) {
		sh.split = SHAPE_OTHER;
		return sh;
	}
	const struct heap_block *first = &bi->blocks[a];
	if (first->state == STRAND_USED) {
		if (first->addr >= base)
			sh.lo = (uint16_t)(first->addr - base) | SHAPE_STARTS;
		sh.end = clamp_in_slot(block_end(first), base, size);
	}
	if (a + 1 < rg->end_block && bi->blocks[a + 1].addr < end && sh.split != SHAPE_OTHER) {
		const struct heap_block *next = &bi->blocks[a + 1];
		if (next->state != STRAND_USED || block_end(next) < end)
			sh.split = SHAPE_OTHER;
		else
			sh.split = (uint16_t)(next->addr - base);
	}
	return sh;
}

static void fill_shapes(const struct block_index *bi, struct block_region *rg)
{
	if (rg->shift < SHAPE_MIN_SHIFT || rg->shift > SHAPE_MAX_SHIFT)
		return;
	size_t nslots = region_slots(rg);
	rg->shape = xcalloc_big(nslots, sizeof(*rg->shape));
	rg->group_first = xmalloc(((nslots >> SHAPE_GROUP_SHIFT) + 1) * sizeof(*rg->group_first));
	for (size_t p = 0; p < nslots; p++) {
		uint32_t group_first = rg->slot_first[p >> SHAPE_GROUP_SHIFT << SHAPE_GROUP_SHIFT];
		rg->group_first[p >> SHAPE_GROUP_SHIFT] = group_first;
		rg->shape[p] = slot_shape(bi, rg, rg->slot_first[p], rg->slot_first[p] - group_first,
					  rg->base + ((uint64_t)p << rg->shift));
	}
}

void block_index_build(struct block_index *bi, const struct heap *h)
{
	*bi = (struct block_index){ .blocks = h->blocks, .lo = UINT64_MAX };
	for (size_t i = 0; i < h->n; i++)
		if (h->blocks[i].state == STRAND_USED) {
			bi->lo = h->blocks[i].addr < bi->lo ? h->blocks[i].addr : bi->lo;
			bi->hi = block_end(&h->blocks[i]) > bi->hi ? block_end(&h->blocks[i]) : bi->hi;
		}
	find_regions(bi, h);
	for (size_t i = 0; i < bi->nregions; i++) {
		fill_slots(&bi->regions[i], h);
		fill_shapes(bi, &bi->regions[i]);
	}
	for (size_t i = 0; i < bi->nregions; i++)
		if (bi->regions[i].shape && (!bi->hot || region_slots(&bi->regions[i]) > region_slots(bi->hot)))
			bi->hot = &bi->regions[i];
}

void block_index_free(struct block_index *bi)
{
	for (size_t i = 0; i < bi->nregions; i++) {
		free(bi->regions[i].slot_first);
		free(bi->regions[i].shape);
		free(bi->regions[i].group_first);
	}
	free(bi->regions);
	*bi = (struct block_index){ 0 };
}
