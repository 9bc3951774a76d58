#include "block_index.h"

#include <stdlib.h>

#include "util.h"

/* Blocks closer than this share a region; a bigger gap starts a new one, so
 * that slots never cover the empty space between arenas and mappings. */
#define REGION_GAP (1u << 20)

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
		bi->regions[bi->nregions++] = (struct block_region){ h->blocks[i].addr, end, (uint32_t)i, (uint32_t)j, NULL };
		i = j;
	}
}

/* Slots about as big as the average block: 4 to 8 bytes of index a block
 * (the scan frees it), and a pointer's block is among two or three. */
static void fill_slots(struct block_index *bi, const struct heap *h)
{
	uint64_t span = 0;
	for (size_t i = 0; i < bi->nregions; i++)
		span += bi->regions[i].end - bi->regions[i].base;
	bi->shift = 4;
	while (bi->shift < 30 && ((uint64_t)1 << bi->shift) * h->n < span)
		bi->shift++;
	for (size_t i = 0; i < bi->nregions; i++) {
		struct block_region *rg = &bi->regions[i];
		rg->base &= ~(((uint64_t)1 << bi->shift) - 1);
		size_t nslots = (size_t)((rg->end - rg->base) >> bi->shift) + 1;
		rg->slot_first = xcalloc_big(nslots + 1, sizeof(uint32_t));
		size_t k = rg->first_block;
		for (size_t p = 0; p <= nslots; p++) {
			uint64_t slot = rg->base + ((uint64_t)p << bi->shift);
			while (k < rg->end_block && block_end(&h->blocks[k]) <= slot)
				k++;
			rg->slot_first[p] = (uint32_t)k;
		}
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
	fill_slots(bi, h);
}

void block_index_free(struct block_index *bi)
{
	for (size_t i = 0; i < bi->nregions; i++)
		free(bi->regions[i].slot_first);
	free(bi->regions);
	*bi = (struct block_index){ 0 };
}
