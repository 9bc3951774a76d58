/* The block table: every block of the target's heap, from the allocator
 * plugin that fits the target, sorted by address, 16 bytes a block. Every
 * later analysis (leaks, retained arrays, escape report) stands on it. */
#ifndef STRAND_HEAP_H
#define STRAND_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../plugins/strand_plugin.h"

struct out;
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

/* An allocator in use that the walk left out: a detection-only plugin found
 * it beside the allocator walked (Go's heap beside C's malloc, CPython's
 * object arenas over it), so its memory was not analysed. */
struct heap_gap {
	const char *allocator; /* the plugin's name */
	char *evidence;        /* why the plugin believes it is in use; NULL if it did not say */
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
	struct heap_gap *gaps;  /* allocators in use that were not walked */
	size_t ngaps;
	const char *allocator;  /* the plugin's name, NULL when none fits */
	int confidence;
	char *discovery;        /* how the allocator's state was found */
	double seconds;         /* time the walk took */
	bool walked;            /* the plugin's walk succeeded */
};

/* The heap of the session's target, walked on first use (and again on each
 * use when the target is not stopped). NULL, with error_set(), when no
 * allocator plugin recognises the target or the allocator in use has no
 * walker (the message names it and why it was detected). */
const struct heap *heap_get(struct session *s);
/* heap_get for what stands on the walk (every analysis but `heap check`):
 * NULL, with the reason set, when the walk failed. */
const struct heap *heap_get_walked(struct session *s);
void heap_free(struct heap *h);
/* The table from one allocator's walk through host, without a session (what
 * heap_get does once it has chosen a plugin with a walker; the heap fuzz
 * harness walks synthetic memory this way). writable: bytes of the target's
 * writable mappings, which bound what an arena may claim. */
struct heap *heap_build(const struct strand_allocator *a, struct strand_host *host, uint64_t writable);

/* The walk saw the whole heap: it succeeded, met no problem, and left out no
 * allocator in use. Only then may an analysis say that there is nothing to
 * find. */
bool heap_complete(const struct heap *h);
/* What was not analysed, as one line for an error (malloc'd); NULL when the
 * heap is complete. */
char *heap_not_analysed(const struct heap *h);
/* A warning for each allocator in use that the walk left out. */
void heap_warn_gaps(struct out *o, const struct heap *h);
/* What a leak summary covered: the walked allocator's blocks in use, bytes,
 * arenas and mmapped blocks, then what was left out (allocators without a
 * walker, the damaged parts). Text lines and a `coverage` object. */
void heap_out_coverage(struct out *o, const struct heap *h);

static inline uint64_t heap_usable(const struct heap_block *b)
{
	return (uint64_t)b->usable8 * 8;
}

/* The block whose usable bytes contain addr, or NULL. O(log n). */
const struct heap_block *heap_find(const struct heap *h, uint64_t addr);
/* The index of the first block starting after addr (h->n if none). */
size_t heap_first_after(const struct heap *h, uint64_t addr);
/* "Foo" (malloc'd) when the block starts with a pointer into a vtable for Foo,
 * else NULL: the C++ type of an object, as heap histogram, leaks and top
 * name it. */
char *heap_block_type(struct session *s, const struct heap_block *blk);
/* "used", "tcache", "fastbin", ... */
const char *heap_state_name(unsigned state);
bool heap_state_is_free(unsigned state);

#endif
