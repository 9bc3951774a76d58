/* The block table: every block of the target's heap, from the allocator
 * plugin that fits the target, sorted by address, 16 bytes a block. Every
 * later analysis (leaks, retained arrays, escape report) stands on it. */
#ifndef STRAND_HEAP_H
#define STRAND_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../plugins/strand_plugin.h"

struct session;

enum { HEAP_MMAPPED = 1 };

struct heap_block {
	uint64_t addr;     /* the user address */
	uint32_t usable8;  /* usable bytes / 8 (usable sizes are multiples of 8) */
	uint16_t arena;    /* index into heap.arenas */
	uint8_t state;     /* enum strand_block_state */
	uint8_t flags;     /* HEAP_MMAPPED */
};

struct heap_arena {
	struct strand_arena a; /* a.kind points into kind */
	char kind[16];
};

struct heap_problem {
	uint64_t addr;
	char *message;
};

/* [start, end) of the target's memory. */
struct heap_range {
	uint64_t start, end;
};

/* qsort's order for ranges: by start. */
int heap_range_by_start(const void *x, const void *y);

struct heap {
	struct heap_block *blocks;
	size_t n;
	struct heap_arena *arenas;
	size_t narenas;
	struct heap_problem *problems;
	size_t nproblems;
	struct heap_range *metadata; /* sorted by start: the allocator's own state, never a root */
	size_t nmetadata;
	const char *allocator;  /* the plugin's name, NULL when none fits */
	int confidence;
	char *discovery;        /* how the allocator's state was found */
	double seconds;         /* time the walk took */
	bool walked;            /* the plugin's walk succeeded */
};

/* The heap of the session's target, walked on first use (and again on each
 * use when the target is not stopped). NULL, with error_set(), when no
 * allocator plugin recognises the target. */
const struct heap *heap_get(struct session *s);
void heap_free(struct heap *h);
/* The table from one allocator's walk through host, without a session (what
 * heap_get does once it has chosen the plugin; the heap fuzz harness walks
 * synthetic memory this way). writable: bytes of the target's writable
 * mappings, which bound what an arena may claim. */
struct heap *heap_build(const struct strand_allocator *a, struct strand_host *host, uint64_t writable);

static inline uint64_t heap_usable(const struct heap_block *b)
{
	return (uint64_t)b->usable8 * 8;
}

/* The block whose usable bytes contain addr, or NULL. O(log n). */
const struct heap_block *heap_find(const struct heap *h, uint64_t addr);
/* The index of the first block starting after addr (h->n if none). */
size_t heap_first_after(const struct heap *h, uint64_t addr);
/* "used", "tcache", "fastbin", ... */
const char *heap_state_name(unsigned state);
bool heap_state_is_free(unsigned state);

#endif
