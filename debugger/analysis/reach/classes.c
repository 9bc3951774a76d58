/* valgrind's classes: marking over the graph from what the roots and the
 * sweeps marked (start pointers, then any pointer), then the lost blocks,
 * their strongly connected components and leaders (the definitely lost
 * block that reaches each indirectly lost one). */
#include "stages.h"

#include <stdlib.h>

#include "base/util.h"
#include "session.h"

static const char *const class_names[] = { "definitely lost", "indirectly lost", "possibly lost", "still reachable",
					    "none" };

const char *leak_class_name(enum leak_class c)
{
	return class_names[c];
}

#define MARK_BATCH 16

/* Block b's edges: [*first, *end) in r->edges, empty for a block the sweeps
 * scanned (its row, if any, found among row_block by binary search). */
static inline void edges_of(const struct reach *r, uint32_t b, uint32_t *first, uint32_t *end)
{
	size_t k = b;
	if (r->row_block) {
		size_t lo = 0, hi = r->nrows;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (r->row_block[mid] < b)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == r->nrows || r->row_block[lo] != b) {
			*first = *end = 0;
			return;
		}
		k = lo;
	}
	*first = r->row[k];
	*end = r->row[k + 1];
}

/* Marks bit in every block reachable from the blocks on the stack (marked
 * already), depth first: a list is followed node after node, which keeps
 * the walk in nearby memory. start_only follows start pointers alone and
 * marks the targets of interior ones MARK_INTERIOR; with hc, those into
 * blocks not marked START wait there for the heuristics (rare: a branch
 * seldom taken, whatever order the edges' kinds come in). */
static void mark_from(const struct reach *r, uint8_t *mark, uint8_t bit, uint32_t *stack, size_t sp, bool start_only,
		      struct heuristics *hc)
{
	/* With the arrays in locals: the byte stores to mark would otherwise
	 * make the compiler reload them. */
	const uint32_t *edges = r->edges;
	uint32_t interior_mask = start_only ? EDGE_INTERIOR : 0, wait = hc != NULL;
	while (sp) {
		/* The last few blocks pushed, together: their rows, edges and
		 * targets' marks lie at random places, and fetching them for all
		 * at once overlaps the misses. */
		uint32_t first[MARK_BATCH], end[MARK_BATCH];
		size_t k = sp < MARK_BATCH ? sp : MARK_BATCH;
		sp -= k;
		for (size_t j = 0; j < k; j++)
			edges_of(r, stack[sp + j], &first[j], &end[j]);
		for (size_t j = 0; j < k; j++)
			__builtin_prefetch(&edges[first[j]]);
		for (size_t j = 0; j < k; j++)
			for (uint32_t e = first[j]; e < end[j] && e < first[j] + 8; e++)
				__builtin_prefetch(&mark[edge_block(edges[e])]);
		for (size_t j = 0; j < k; j++)
			for (uint32_t e = first[j]; e < end[j]; e++) {
				uint32_t v = edge_block(edges[e]), interior = (edges[e] & interior_mask) >> 31;
				uint8_t m = mark[v];
				if (__builtin_expect(interior & !(m & MARK_START) & wait, 0))
					note_interior_edge(hc, e);
				stack[sp] = v; /* room: each block is pushed once, and the batch has left */
				sp += mark_with(mark, v, m, interior, bit);
			}
	}
}

/* The row holding edge e: the last whose edges start at or before it. */
static size_t row_of_edge(const struct reach *r, uint32_t e)
{
	size_t lo = 0, hi = r->nrows;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->row[mid] <= e)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int by_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

/* The edges waiting for the heuristics, marking over the graph: their
 * offsets are found again in their source blocks' words (read once each,
 * in address order), and each into a block still not marked START is
 * tried. A block a heuristic accepts is marked START and pushed. Returns
 * the stack's size. */
static size_t resolve_pending_edges(struct session *s, const struct reach *r, struct heuristics *hc, uint8_t *mark,
				    uint32_t *stack)
{
	uint32_t *pending = hc->pending_edges;
	uint8_t *buf = NULL;
	uint64_t *where = NULL;
	uint32_t *offset = NULL;
	size_t sp = 0, buf_cap = 0, where_cap = 0, offset_cap = 0;
	sort_array(pending, hc->npending_edges, sizeof(*pending), by_u32);
	for (size_t i = 0; i < hc->npending_edges && !session_interrupted();) {
		size_t k = row_of_edge(r, pending[i]);
		uint32_t u = r->row_block ? r->row_block[k] : (uint32_t)k, first = r->row[k], end = r->row[k + 1];
		GROW(where, where_cap, end - first);
		GROW(offset, offset_cap, end - first);
		edge_words(s, r, k, u, &buf, &buf_cap, where, offset);
		for (; i < hc->npending_edges && pending[i] < end; i++) {
			uint32_t e = pending[i], v = edge_block(r->edges[e]);
			if ((mark[v] & MARK_START) || !where[e - first])
				continue;
			int h = heuristic_accepts(s, hc, &r->heap->blocks[v], offset[e - first]);
			if (h >= 0) {
				heuristic_accept(hc, mark, v, h);
				stack[sp++] = v;
			}
		}
	}
	hc->npending_edges = 0;
	free(buf);
	free(where);
	free(offset);
	return sp;
}

/* Reachable through start pointers (START), then from whatever an interior
 * pointer of a reached block or a root hits (ANY), over the graph, from the
 * marks the roots and the sweeps left: the blocks marked and not scanned.
 * A block is pushed only when first marked, so the stack never holds more
 * than every block. */
static void mark_reachable(struct session *s, const struct reach *r, struct heuristics *hc, uint8_t *mark,
			   uint32_t *stack)
{
	size_t n = r->heap->n, sp = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_START | MARK_SCANNED)) == MARK_START)
			stack[sp++] = (uint32_t)i;
	do { /* until the heuristics accept nothing more */
		mark_from(r, mark, MARK_START, stack, sp, true, hc->on ? hc : NULL);
		sp = hc->npending_edges ? resolve_pending_edges(s, r, hc, mark, stack) : 0;
	} while (sp);
	mark_interior_targets(mark, n);
	sp = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_ANY | MARK_START | MARK_SCANNED)) == MARK_ANY)
			stack[sp++] = (uint32_t)i;
	mark_from(r, mark, MARK_ANY, stack, sp, false, NULL);
}

/* The lost blocks, numbered 0..nlost-1 in address order, and their graph. */
struct lost_graph {
	const struct reach *r;
	const uint32_t *block; /* lost number -> block */
	const uint32_t *id;    /* block -> lost number (lost blocks' entries only) */
	const uint32_t *first, *end; /* lost number -> its edges in r->edges */
};

/* Tarjan's strongly connected components over the lost blocks, without
 * recursion: comp[k] gets a component id; returns the number of components.
 * index[] holds visit order + 1 so that zero means "not visited". */
static uint32_t lost_components(const struct lost_graph *g, size_t nlost, uint32_t *comp)
{
	const struct reach *r = g->r;
	uint32_t *index = xcalloc_big(nlost, sizeof(*index)), *low = xcalloc_big(nlost, sizeof(*low));
	uint32_t *edge_at = xcalloc_big(nlost, sizeof(*edge_at));
	uint32_t *stack = xcalloc_big(nlost, sizeof(*stack)), *call = xcalloc_big(nlost, sizeof(*call));
	uint8_t *on_stack = xcalloc_big(nlost, 1);
	uint32_t counter = 1, ncomp = 0;
	size_t sp = 0, cp = 0;
	for (uint32_t root = 0; root < nlost; root++) {
		if (index[root])
			continue;
		call[cp++] = root;
		index[root] = low[root] = counter++;
		edge_at[root] = g->first[root];
		stack[sp++] = root;
		on_stack[root] = 1;
		while (cp) {
			uint32_t u = call[cp - 1];
			if (edge_at[u] < g->end[u]) {
				uint32_t vb = edge_block(r->edges[edge_at[u]++]);
				if (r->cls[vb] != CLASS_DEFINITE)
					continue;
				uint32_t v = g->id[vb];
				if (!index[v]) {
					index[v] = low[v] = counter++;
					edge_at[v] = g->first[v];
					stack[sp++] = v;
					on_stack[v] = 1;
					call[cp++] = v;
				} else if (on_stack[v] && index[v] < low[u]) {
					low[u] = index[v];
				}
				continue;
			}
			cp--;
			if (cp && low[u] < low[call[cp - 1]])
				low[call[cp - 1]] = low[u];
			if (low[u] == index[u]) {
				uint32_t v;
				do {
					v = stack[--sp];
					on_stack[v] = 0;
					comp[v] = ncomp;
				} while (v != u);
				ncomp++;
			}
		}
	}
	free(index);
	free(low);
	free(edge_at);
	free(stack);
	free(call);
	free(on_stack);
	return ncomp;
}

/* The leaders: a lost component no other lost block points to is led by its
 * lowest block (blocks are numbered in address order: the first seen). */
static void find_leaders(const struct lost_graph *g, size_t nlost, const uint32_t *comp, uint32_t ncomp,
			 uint32_t *leader)
{
	const struct reach *r = g->r;
	uint8_t *entered = xcalloc(ncomp ? ncomp : 1, 1);
	uint32_t *first = xmalloc((ncomp ? ncomp : 1) * sizeof(*first));
	for (size_t k = 0; k < nlost; k++)
		for (uint32_t e = g->first[k]; e < g->end[k]; e++) {
			uint32_t vb = edge_block(r->edges[e]);
			if (r->cls[vb] == CLASS_DEFINITE && comp[g->id[vb]] != comp[k])
				entered[comp[g->id[vb]]] = 1;
		}
	for (uint32_t c = 0; c < ncomp; c++)
		first[c] = UNDEF;
	for (size_t k = 0; k < nlost; k++) {
		if (first[comp[k]] == UNDEF)
			first[comp[k]] = (uint32_t)k;
		leader[k] = !entered[comp[k]] && first[comp[k]] == k ? (uint32_t)k : UNDEF;
	}
	free(entered);
	free(first);
}

/* valgrind's rule for lost blocks: those no other lost block points to are
 * definitely lost; a lost cycle nothing else points to gets its lowest address
 * as leader; everything the leaders reach is indirectly lost, and counted
 * under the leader that reaches it first. id is scratch for every block. */
static void classify_lost(struct reach *r, size_t nlost, uint32_t *id)
{
	uint32_t *block = xmalloc((nlost ? nlost : 1) * sizeof(*block));
	for (size_t i = 0, k = 0; i < r->heap->n; i++)
		if (r->cls[i] == CLASS_DEFINITE)
			id[i] = (uint32_t)k, block[k++] = (uint32_t)i;
	uint32_t *first = xmalloc((nlost ? nlost : 1) * sizeof(*first));
	uint32_t *end = xmalloc((nlost ? nlost : 1) * sizeof(*end));
	for (size_t k = 0; k < nlost; k++)
		edges_of(r, block[k], &first[k], &end[k]);
	struct lost_graph g = { r, block, id, first, end };
	uint32_t *comp = xmalloc((nlost ? nlost : 1) * sizeof(*comp));
	uint32_t ncomp = lost_components(&g, nlost, comp);
	uint32_t *leader = xmalloc((nlost ? nlost : 1) * sizeof(*leader));
	find_leaders(&g, nlost, comp, ncomp, leader);
	uint32_t *queue = comp; /* done with the components */
	size_t qn = 0;
	for (size_t k = 0; k < nlost; k++)
		if (leader[k] == k)
			queue[qn++] = (uint32_t)k;
	for (size_t qi = 0; qi < qn; qi++) {
		uint32_t u = queue[qi];
		for (uint32_t e = first[u]; e < end[u]; e++) {
			uint32_t vb = edge_block(r->edges[e]);
			if (r->cls[vb] == CLASS_DEFINITE && leader[id[vb]] == UNDEF) {
				leader[id[vb]] = leader[u];
				queue[qn++] = id[vb];
			}
		}
	}
	for (size_t k = 0; k < nlost; k++)
		if (leader[k] != k)
			r->cls[block[k]] = CLASS_INDIRECT;
	free(comp);
	free(first);
	free(end);
	r->lost = block;
	r->lost_leader = leader;
	r->nlost = nlost;
}

/* valgrind's "of which reachable via heuristic": the blocks a heuristic
 * accepted that no pointer to their start reached (valgrind forgets the
 * heuristic of a block when such a pointer comes). */
static void count_heuristic_reachable(struct reach *r, const struct heuristics *hc)
{
	for (size_t i = 0; i < hc->naccepted; i++) {
		uint32_t b = hc->accepted[i].block;
		if (!(r->cls[b] & MARK_DIRECT)) {
			r->heuristic_bytes[hc->accepted[i].heuristic] += heap_usable(&r->heap->blocks[b]);
			r->heuristic_blocks[hc->accepted[i].heuristic]++;
		}
	}
}


void classify(struct session *s, struct reach *r, struct heuristics *hc)
{
	size_t n = r->heap->n;
	uint8_t *cls = r->cls;
	uint32_t *scratch = xcalloc_big(n, sizeof(*scratch));
	mark_reachable(s, r, hc, cls, scratch);
	count_heuristic_reachable(r, hc);
	size_t nlost = 0;
	for (size_t i = 0; i < n; i++) {
		if (r->heap->blocks[i].state != STRAND_USED)
			cls[i] = CLASS_NONE;
		else if (cls[i] & MARK_START)
			cls[i] = CLASS_REACHABLE;
		else if (cls[i] & MARK_ANY)
			cls[i] = CLASS_POSSIBLE;
		else
			cls[i] = CLASS_DEFINITE, nlost++; /* lost, until classify_lost splits it */
	}
	classify_lost(r, nlost, scratch);
	free(scratch);
}

uint32_t reach_leader(const struct reach *r, uint32_t b)
{
	const uint32_t *k = r->nlost ? bsearch(&b, r->lost, r->nlost, sizeof(*r->lost), by_u32) : NULL;
	return k ? r->lost[r->lost_leader[k - r->lost]] : UNDEF;
}
