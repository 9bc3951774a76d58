/* Conservative reachability over the heap: roots (registers, stacks, TLS,
 * globals, anonymous memory), the pointer graph between used blocks (CSR),
 * valgrind's leak classes, shortest retention paths and the dominator tree
 * with retained sizes. Built on the block table (heap.h); the engine is in
 * analysis/reach/, one file per stage (analysis/reach/stages.h). */
#ifndef STRAND_REACH_H
#define STRAND_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

struct session;

enum root_kind { ROOT_REGISTERS, ROOT_STACK, ROOT_TLS, ROOT_GLOBALS, ROOT_ANON, ROOT_KINDS };

/* A start pointer points to a block's first byte; any other pointer into it
 * is an interior pointer, unless one of valgrind's heuristics (memcheck's
 * --leak-check-heuristics, all on by default there as here) finds in the
 * block's content that this is how the block is used: then it counts as a
 * start pointer. Each is tried only for an interior pointer from a root or a
 * block reached by start pointers, into a block not (yet) so reached. */
enum reach_heuristic {
	HEURISTIC_STDSTRING,  /* 3 words in, past a copy-on-write std::string's {length, capacity, refcount} */
	HEURISTIC_LENGTH64,   /* 8 bytes in, past the length of the rest */
	HEURISTIC_NEWARRAY,   /* 8 bytes in, past new[]'s count of elements */
	HEURISTIC_MULTIPLE_INHERITANCE, /* to a vtable pointer, in a block that starts with one */
	HEURISTICS
};

struct reach_opts {
	bool skip[ROOT_KINDS]; /* --no-registers, --no-stacks, --no-tls, --no-globals, --no-anon */
	bool unaligned;        /* also words at every byte offset */
	unsigned heuristics_off; /* bit h: heuristic h switched off (--heuristics); 0 is valgrind's default, all on */
	bool interior_reachable; /* --interior=reachable: any pointer into a block keeps it, as LeakSanitizer's */
};

/* valgrind's classes, in its order. */
enum leak_class { CLASS_DEFINITE, CLASS_INDIRECT, CLASS_POSSIBLE, CLASS_REACHABLE, CLASS_NONE };

/* A group of root words with one name: a thread's registers, one frame of a
 * stack, a global symbol, a thread's TLS, an anonymous mapping. */
struct root_group {
	enum root_kind kind;
	int thread;          /* index into target->threads, -1 if none */
	uint64_t start, end; /* the memory it covers (registers: 0, 0) */
	char *label;         /* "global g_cache (values)", "registers of thread 2" */
};

/* Register roots' indices (root_edge.where): 0-16 the general registers in
 * regs_name() order (rip last), then 8-byte lanes of xmm0-15, then of the
 * upper halves of ymm0-15. */
#define ROOT_REG_XMM 17
#define ROOT_REG_YMM_HI (ROOT_REG_XMM + 32)

/* One root word pointing into a used block. */
struct root_edge {
	uint64_t where;      /* address of the word (registers: the register index) */
	uint32_t group;      /* index into groups */
	uint32_t block;      /* index into heap.blocks */
	uint32_t offset;     /* where in the block it points */
};

#define EDGE_INTERIOR 0x80000000u /* so a heap holds fewer than 2^31 blocks */

static inline uint32_t edge_block(uint32_t edge)
{
	return edge & ~EDGE_INTERIOR;
}

struct reach {
	const struct heap *heap;
	struct reach_opts opts;
	/* The graph: block i's pointers are edges[row[i] .. row[i+1]), in the
	 * order of the words holding them: the target block, EDGE_INTERIOR set
	 * for an interior pointer. Offsets are read back from the target when
	 * shown (reach_edge_offsets): an edge takes 4 bytes, not 8. Without
	 * graph, only the blocks the sweeps left have their edges (always the
	 * lost ones): enough for the classes, not for paths or dominators. */
	bool graph;
	uint32_t *row;        /* heap->n + 1, or without graph nrows + 1 */
	uint32_t *row_block;  /* without graph: the blocks with rows, ascending; NULL with graph */
	size_t nrows;
	uint32_t *edges;      /* reserved for edge_cap edges (xreserve) */
	size_t nedges, edge_cap;
	uint64_t npointers;   /* pointers between blocks found, stored as edges or not */
	unsigned sweeps;      /* passes over the heap that marked without edges */
	struct root_group *groups;
	size_t ngroups;
	struct root_edge *roots;
	size_t nroots;
	uint8_t *cls;         /* enum leak_class per block (CLASS_NONE: not a used block) */
	/* The lost blocks (definitely and indirectly), in address order, and for
	 * each the index in lost of its leader: the definitely lost block that
	 * reaches it (itself for a definitely lost block). */
	uint32_t *lost, *lost_leader;
	size_t nlost;
	/* Dominator tree over the virtual root, the root groups and reachable
	 * blocks: node ids are block indices, then heap->n + group index, then the
	 * virtual root. idom of an unreachable block is UINT32_MAX. NULL until
	 * reach_get_retained. */
	uint32_t *idom;
	uint64_t *retained;   /* usable bytes each node keeps alive (blocks, then groups) */
	uint32_t *retained_blocks;
	uint32_t *indeg;      /* pointers from other blocks into each block; built on first use */
	/* Still reachable blocks that no pointer to their start reaches, only a
	 * heuristic's (valgrind's "of which reachable via heuristic"). */
	uint64_t heuristic_bytes[HEURISTICS], heuristic_blocks[HEURISTICS];
	uint64_t scanned_bytes;
	double seconds;
	char *warning;        /* a caveat to show (moving target, threads without registers) */
};

/* Build the classes for the session's target, and with graph every edge.
 * NULL with error_set() when there is no heap. */
struct reach *reach_build(struct session *s, const struct reach_opts *opts, bool graph);
void reach_free(struct reach *r);
/* The session's reachability for these options, built on first use:
 * reach_get the classes (leaks), reach_get_graph also every edge (paths,
 * pointers into a block, in-degrees), reach_get_retained also the dominator
 * tree (idom, retained, retained_blocks). reach_path, reach_edge_offsets,
 * reach_indegree and reach_refs need the graph. */
const struct reach *reach_get(struct session *s, const struct reach_opts *opts);
const struct reach *reach_get_graph(struct session *s, const struct reach_opts *opts);
const struct reach *reach_get_retained(struct session *s, const struct reach_opts *opts);

static inline uint32_t reach_virtual_root(const struct reach *r)
{
	return (uint32_t)(r->heap->n + r->ngroups);
}

/* The shortest chain from a root to block b: root edge index in *root_edge,
 * then the blocks from the first after the root to b. Returns the number of
 * blocks in path (malloc'd in *path), 0 when b is unreachable. */
size_t reach_path(const struct reach *r, uint32_t b, size_t *root_edge, uint32_t **path);

/* Where block u's edges point: for each, the address of the word holding it
 * and the offset it hits in its target (where[], offset[]: row[u+1] - row[u]
 * entries), read from the target's memory. False when it cannot be read. */
bool reach_edge_offsets(struct session *s, const struct reach *r, uint32_t u, uint64_t *where, uint32_t *offset);

/* The definitely lost block that leads lost block b (b itself when b is
 * definitely lost), UINT32_MAX when b is not lost. */
uint32_t reach_leader(const struct reach *r, uint32_t b);

const char *leak_class_name(enum leak_class c);
const char *root_kind_name(enum root_kind k);
/* "stdstring", "length64", "newarray", "multipleinheritance": valgrind's names. */
const char *reach_heuristic_name(enum reach_heuristic h);
/* The heuristic (among those r's options leave on) that makes a pointer
 * offset bytes into block b a start pointer, -1 when none does (or offset
 * is 0, or --interior=reachable). Reads the block from the target. */
int reach_heuristic(struct session *s, const struct reach *r, uint32_t b, uint32_t offset);


/* How many block-to-block pointers reach each block (counted once, on first use). */
const uint32_t *reach_indegree(struct reach *r);

/* A pointer into a block: from a root word or from another block. */
struct block_ref {
	uint32_t block;       /* the block pointed into */
	uint64_t where;       /* address of the pointer word (registers: the register index) */
	uint32_t offset;      /* where in the target block it points */
	int64_t root;         /* index into reach->roots, or -1 */
	uint32_t src;         /* the source block when root == -1 */
};

/* Every pointer into the blocks marked in want (want[b] != 0), in one pass over
 * the roots and the graph, sorted by target block; the source words of block
 * edges are found by reading each source block once. Returns the count; *out
 * is malloc'd. */
size_t reach_refs(struct session *s, const struct reach *r, const uint8_t *want, struct block_ref **out);

#endif
