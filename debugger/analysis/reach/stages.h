/* The reachability engine's stages and what they share (private to
 * analysis/reach/). reach_build (build.c) runs them in order:
 *
 *   roots.c       the root words (registers, stacks, TLS, globals, anonymous
 *                 memory) that point into used blocks, marked
 *   sweeps.c      marking while reading the heap in address order, without
 *                 storing edges, for as long as that gets on
 *   scan.c        reading a block's words and looking each up in the block
 *                 index: marked while sweeping, else an edge of the graph
 *   graph.c       the pointer graph (CSR) of the blocks the sweeps left, and
 *                 the questions asked of it (in-degrees, pointers into blocks)
 *   classes.c     marking over the graph, then valgrind's classes and the
 *                 lost blocks' leaders
 *   dominators.c  the dominator tree and retained sizes (on demand)
 *   paths.c       the shortest retention path to a block (on demand)
 *   heuristics.c  valgrind's heuristics for interior pointers, which roots,
 *                 sweeps and classes consult
 */
#ifndef STRAND_REACH_STAGES_H
#define STRAND_REACH_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "analysis/block_index.h"
#include "analysis/reach.h"
#include "symbols/symbols.h"

struct session;

#define UNDEF UINT32_MAX
#define SCAN_CHUNK (1u << 20)
#define VTABLE_CACHE 256 /* verdicts kept, direct-mapped */

/* The heuristics while marking: which are on, the interior pointers waiting
 * for them, and the blocks they made reachable. A heuristic is tried only
 * for a pointer from a root or from a block reached by start pointers, into
 * a block not (yet) so reached: rare, and cheaper in address order, so such
 * pointers wait (their values while scanning roots and sweeping, their edge
 * numbers while marking over the graph) until nothing else is left to mark. */
struct heuristics {
	unsigned on;               /* bit per enum reach_heuristic */
	uint64_t *pending;         /* pointer values */
	size_t npending, pending_cap;
	uint32_t *pending_edges;   /* edge numbers */
	size_t npending_edges, pending_edges_cap;
	struct accepted {
		uint32_t block, heuristic;
	} *accepted;
	size_t naccepted, accepted_cap;
	struct {
		uint64_t addr; /* 0: empty */
		bool vtable;
	} vtables[VTABLE_CACHE];
};

struct scanner {
	struct reach *r;
	struct block_index index;
	uint32_t interior_mask; /* EDGE_INTERIOR; 0 with --interior=reachable */
	struct heuristics heur;
	/* Per thread: when it is inside exit_group, its caller of exit's frame
	 * (see exit_caller); exiting[t] false otherwise. */
	bool *exiting;
	struct frame *exit_caller;
	size_t root_cap, group_cap;
	uint64_t static_tls; /* bytes of static TLS below each thread pointer */
	uint64_t tcb_size;   /* bytes of thread descriptor above it */
	const struct strand_runtime *runtime; /* the thread-runtime plugin, NULL if none */
	struct heap_range *covered; /* stacks, TLS and globals: never anonymous roots */
	uint8_t *buf;               /* SCAN_CHUNK bytes of root memory (one for all: a core may list thousands of stacks) */
	size_t ncovered, covered_cap;
	/* While sweeping (see sweep_phase): the marks (r->cls), the phase's bit,
	 * how many blocks are marked with it and not yet scanned, and how many
	 * got it in all. When not sweeping, pointers are stored as edges. */
	bool sweeping;
	uint8_t *mark, bit;
	size_t frontier, newly_marked, used;
	/* Building the graph: words waiting for their look-up, with their
	 * block and its row (see queue_word), and the row being scanned. */
	uint64_t queued[BLOCK_INDEX_BATCH];
	uint32_t queued_src[BLOCK_INDEX_BATCH], queued_row[BLOCK_INDEX_BATCH];
	size_t nqueued;
	uint32_t row;
};

/* Marks in cls while classes are worked out: START for blocks reached through
 * start pointers alone, ANY for blocks reached at all, INTERIOR for the
 * targets of interior pointers, which the second phase starts from; SCANNED
 * for blocks whose pointers a sweep has followed already (they have no
 * edges in the graph); DIRECT for blocks a pointer to their first byte
 * marked START (not a heuristic: see heuristic_reachable). */
enum { MARK_START = 1, MARK_ANY = 2, MARK_INTERIOR = 4, MARK_SCANNED = 8, MARK_DIRECT = 16 };

/* The marking rule, for a pointer from a root or a block whose mark was m:
 * in the start phase (bit START) a start pointer marks its block START, ANY
 * and DIRECT, an interior one (interior is 1) marks it INTERIOR, which the
 * second phase starts from; there (bit ANY) every pointer marks ANY.
 * Returns 1 when the block got bit now, hence is to be scanned. Without a
 * branch on the pointer's kind: kinds come in no predictable order. */
static inline uint32_t mark_with(uint8_t *mark, uint32_t block, uint8_t m, uint32_t interior, uint8_t bit)
{
	uint8_t start_marks = (uint8_t)(bit | MARK_ANY | (bit & MARK_START) << 4);
	_Static_assert(MARK_START << 4 == MARK_DIRECT, "a start pointer in the start phase marks DIRECT");
	mark[block] = m | (uint8_t)(interior * MARK_INTERIOR + (1 - interior) * start_marks);
	return !interior & !(m & bit);
}

/* Up to a batch of the words of buf[*at .. len) into v, every step bytes;
 * returns how many, *at moved past them. */
static inline size_t gather_words(const uint8_t *buf, size_t len, size_t step, size_t *at, uint64_t *v)
{
	size_t k = 0;
	for (; k < BLOCK_INDEX_BATCH && *at + 8 <= len; k++, *at += step)
		memcpy(&v[k], buf + *at, 8);
	return k;
}

/* Where the next piece of a long read starts: unaligned words may straddle
 * pieces, so those overlap by 7 bytes. */
static inline uint64_t piece_step(const struct scanner *sc)
{
	return sc->r->opts.unaligned ? SCAN_CHUNK - 7 : SCAN_CHUNK;
}

/* Heap memory read ahead of the scan. Reads are a megabyte while the blocks
 * scanned fill them, and shrink to 4 KiB while they are sparse (a sweep
 * that needs one block in a thousand), so little is read for nothing. */
struct window {
	uint8_t *buf;
	uint64_t base, len;  /* bytes of buf read from base */
	uint64_t used;       /* bytes of them scanned */
	size_t size;         /* what the next read asks for */
	uint64_t read;       /* bytes read in all */
};


/* heuristics.c: which heuristics the options leave on; the first that makes
 * a pointer off bytes into b a start pointer (-1: none); the pointers and
 * edges that wait for them, and the blocks they accept. */
unsigned heuristics_on(const struct reach_opts *opts);
void heuristics_free(struct heuristics *hc);
int heuristic_accepts(struct session *s, struct heuristics *hc, const struct heap_block *b, uint32_t off);
void note_interior(struct scanner *sc, uint64_t value);
void note_interior_edge(struct heuristics *hc, uint32_t e);
void heuristic_accept(struct heuristics *hc, uint8_t *mark, uint32_t b, int h);

/* roots.c: every root, marked (and kept with the graph); then, once the
 * heuristics have had their say, globals split by symbol. */
void reach_roots(struct session *s, struct scanner *sc);
void split_globals_by_symbol(struct session *s, struct scanner *sc);

/* scan.c: block i's words, marked while sweeping, else its edges; the words
 * still queued for their look-up. */
void scan_block(struct session *s, struct scanner *sc, struct window *w, size_t i, bool down);
void flush_queue(struct scanner *sc);

/* sweeps.c: the sweeps of both phases; the heuristics' waiting pointers
 * resolved; the targets of interior pointers marked for the second phase. */
void sweep_phases(struct session *s, struct scanner *sc, struct window *w);
size_t resolve_pending(struct session *s, struct scanner *sc);
size_t mark_interior_targets(uint8_t *mark, size_t n);

/* graph.c: room for every edge; the rows and edges of the blocks the sweeps
 * left; the words behind row k's edges (block u's), read back. */
size_t max_edges(const struct reach *r);
void scan_blocks(struct session *s, struct scanner *sc, struct window *w);
bool edge_words(struct session *s, const struct reach *r, size_t k, uint32_t u, uint8_t **buf, size_t *buf_cap,
		 uint64_t *where, uint32_t *offset);

/* classes.c: marking over the graph, then the classes and the leaders. */
void classify(struct session *s, struct reach *r, struct heuristics *hc);

/* dominators.c: idom, retained and retained_blocks. */
void dominators(struct reach *r);

#endif
