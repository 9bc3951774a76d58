/* Conservative reachability over the heap: roots (registers, stacks, TLS,
 * globals, anonymous memory), the pointer graph between used blocks (CSR),
 * valgrind's leak classes, shortest retention paths and the dominator tree
 * with retained sizes. Built on the block table (heap.h). */
#ifndef STRAND_REACH_H
#define STRAND_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

struct session;

enum root_kind { ROOT_REGISTERS, ROOT_STACK, ROOT_TLS, ROOT_GLOBALS, ROOT_ANON, ROOT_KINDS };

struct reach_opts {
	bool skip[ROOT_KINDS]; /* --no-registers, --no-stacks, --no-tls, --no-globals, --no-anon */
	bool unaligned;        /* also words at every byte offset */
};

/* valgrind's classes, in its order. */
enum leak_class { CLASS_DEFINITE, CLASS_INDIRECT, CLASS_POSSIBLE, CLASS_REACHABLE, CLASS_NONE };

/* A pointer is a start pointer when it lands within the first HEADER_SLACK
 * bytes of a block: glibc's DTV (dtv + 1), length-prefixed and new[] arrays
 * point a word or two in. Farther in, it is an interior pointer. */
#define HEADER_SLACK 16

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
