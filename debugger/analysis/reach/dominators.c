/* The dominator tree over the virtual root, the root groups and the
 * reachable blocks, and each node's retained size: what would be freed with
 * it. Built on demand (reach_get_retained). */
#include "stages.h"

#include <stdlib.h>

#include "base/util.h"

/* The successors of a node: the virtual root has the groups, a group its root
 * edges' blocks, a block its edges. Root edges are stored group by group. */
struct dom_graph {
	const struct reach *r;
	uint32_t *group_first; /* ngroups + 1 */
	uint32_t vroot;
};

static inline uint32_t succ_count(const struct dom_graph *g, uint32_t u)
{
	const struct reach *r = g->r;
	if (u == g->vroot)
		return (uint32_t)r->ngroups;
	if (u >= r->heap->n)
		return g->group_first[u - r->heap->n + 1] - g->group_first[u - r->heap->n];
	return r->row[u + 1] - r->row[u];
}

static inline uint32_t succ(const struct dom_graph *g, uint32_t u, uint32_t i)
{
	const struct reach *r = g->r;
	if (u == g->vroot)
		return (uint32_t)r->heap->n + i;
	if (u >= r->heap->n)
		return r->roots[g->group_first[u - r->heap->n] + i].block;
	return edge_block(r->edges[r->row[u] + i]);
}

struct dfs_frame {
	uint32_t node, next, end; /* successors next..end-1 still to visit (edge indices for a block) */
};

static struct dfs_frame dfs_enter(const struct dom_graph *g, uint32_t u)
{
	const struct reach *r = g->r;
	if (u < r->heap->n)
		return (struct dfs_frame){ u, r->row[u], r->row[u + 1] };
	return (struct dfs_frame){ u, 0, succ_count(g, u) };
}

/* Reverse postorder from the virtual root, depth first without recursion:
 * every node after all of its predecessors but those closing a cycle. The
 * postorder fills order from its end, so the reverse postorder is its last
 * nodes, from *first on; rpo_num[node] = position - *first + 1 (rpo_num must
 * come zeroed: 0 is "not reached"). Returns the count. */
static size_t reverse_postorder(const struct dom_graph *g, uint32_t nnodes, uint32_t *order, uint32_t *rpo_num,
				size_t *first)
{
	const struct reach *r = g->r;
	struct dfs_frame *stack = NULL;
	size_t cap = 0, sp = 0, at = nnodes;
	GROW(stack, cap, 1);
	stack[sp++] = dfs_enter(g, g->vroot);
	rpo_num[g->vroot] = UNDEF; /* seen */
	while (sp) {
		struct dfs_frame *f = &stack[sp - 1];
		if (f->next < f->end) {
			uint32_t v = f->node < r->heap->n ? edge_block(r->edges[f->next]) : succ(g, f->node, f->next);
			f->next++;
			if (!rpo_num[v]) {
				rpo_num[v] = UNDEF;
				GROW(stack, cap, sp + 1);
				stack[sp++] = dfs_enter(g, v);
			}
			continue;
		}
		order[--at] = f->node;
		sp--;
	}
	for (size_t i = at; i < nnodes; i++)
		rpo_num[order[i]] = (uint32_t)(i - at + 1);
	free(stack);
	*first = at;
	return nnodes - at;
}

static uint32_t intersect(const uint32_t *idom, const uint32_t *rpo_num, uint32_t a, uint32_t b)
{
	while (a != b) {
		while (rpo_num[a] > rpo_num[b])
			a = idom[a];
		while (rpo_num[b] > rpo_num[a])
			b = idom[b];
	}
	return a;
}

/* Cooper, Harvey and Kennedy's iterative dominators, driven by edges so that
 * no predecessor lists are needed, in reverse postorder: without a cycle one
 * round is final; a cycle takes rounds until nothing changes. Then retained
 * sizes bottom-up. */

void dominators(struct reach *r)
{
	size_t n = r->heap->n;
	struct dom_graph g = { r, xcalloc(r->ngroups + 1, sizeof(uint32_t)), reach_virtual_root(r) };
	for (size_t i = 0; i < r->nroots; i++)
		g.group_first[r->roots[i].group + 1]++;
	for (size_t i = 0; i < r->ngroups; i++)
		g.group_first[i + 1] += g.group_first[i];
	uint32_t nnodes = g.vroot + 1;
	uint32_t *order_mem = xmalloc_big(nnodes, sizeof(*order_mem)), *rpo_num = xcalloc_big(nnodes, sizeof(*rpo_num));
	size_t first, reached = reverse_postorder(&g, nnodes, order_mem, rpo_num, &first);
	const uint32_t *order = order_mem + first;
	r->idom = xmalloc_big(nnodes, sizeof(*r->idom));
	memset(r->idom, 0xff, nnodes * sizeof(*r->idom)); /* UNDEF */
	r->idom[g.vroot] = g.vroot;
	bool changed = true, cyclic = true;
	for (int round = 0; changed && cyclic && round < 1000; round++) {
		changed = cyclic = false;
		for (size_t k = 0; k < reached; k++) {
			uint32_t u = order[k];
			if (r->idom[u] == UNDEF)
				continue;
			for (uint32_t i = 0, m = succ_count(&g, u); i < m; i++) {
				uint32_t v = succ(&g, u, i);
				if (v == g.vroot)
					continue;
				cyclic |= rpo_num[v] <= rpo_num[u];
				uint32_t d = r->idom[v] == UNDEF ? u : intersect(r->idom, rpo_num, u, r->idom[v]);
				if (d != r->idom[v]) {
					r->idom[v] = d;
					changed = true;
				}
			}
		}
	}
	r->retained = xcalloc_big(nnodes, sizeof(*r->retained));
	r->retained_blocks = rpo_num; /* done with the numbers: their pages are already ours */
	memset(r->retained_blocks, 0, nnodes * sizeof(*r->retained_blocks));
	for (size_t i = 0; i < n; i++)
		if (r->idom[i] != UNDEF) {
			r->retained[i] = heap_usable(&r->heap->blocks[i]);
			r->retained_blocks[i] = 1;
		}
	for (size_t k = reached; k-- > 1;) {
		uint32_t v = order[k];
		r->retained[r->idom[v]] += r->retained[v];
		r->retained_blocks[r->idom[v]] += r->retained_blocks[v];
	}
	free(order_mem);
	free(g.group_first);
}
