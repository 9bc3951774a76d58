/* Retention paths: the shortest chain of pointers from a root to a block,
 * over the graph. */
#include "stages.h"

#include <stdlib.h>

#include "base/util.h"

size_t reach_path(const struct reach *r, uint32_t b, size_t *root_edge, uint32_t **path)
{
	size_t n = r->heap->n;
	if (r->cls[b] != CLASS_REACHABLE && r->cls[b] != CLASS_POSSIBLE)
		return 0;
	uint32_t *parent = xmalloc(n * sizeof(*parent)), *queue = xmalloc(n * sizeof(*queue));
	uint32_t *via_root = xmalloc(n * sizeof(*via_root));
	for (size_t i = 0; i < n; i++)
		parent[i] = via_root[i] = UNDEF;
	size_t qn = 0;
	/* Start pointers first, so the path shown is the one that keeps it reachable. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->nroots; i++) {
			uint32_t t = r->roots[i].block;
			bool start = !r->roots[i].offset || r->opts.interior_reachable;
			if (via_root[t] == UNDEF && parent[t] == UNDEF && start == (pass == 0)) {
				via_root[t] = (uint32_t)i;
				queue[qn++] = t;
			}
		}
	for (size_t qi = 0; qi < qn && via_root[b] == UNDEF && parent[b] == UNDEF; qi++) {
		uint32_t u = queue[qi];
		for (uint32_t e = r->row[u]; e < r->row[u + 1]; e++) {
			uint32_t v = edge_block(r->edges[e]);
			if (via_root[v] == UNDEF && parent[v] == UNDEF) {
				parent[v] = u;
				queue[qn++] = v;
			}
		}
	}
	size_t len = 0;
	*path = NULL;
	if (via_root[b] != UNDEF || parent[b] != UNDEF) {
		for (uint32_t v = b;; v = parent[v]) {
			len++;
			if (via_root[v] != UNDEF)
				break;
		}
		*path = xmalloc(len * sizeof(**path));
		uint32_t v = b;
		for (size_t i = len; i-- > 0; v = parent[v]) {
			(*path)[i] = v;
			if (via_root[v] != UNDEF) {
				*root_edge = via_root[v];
				break;
			}
		}
	}
	free(parent);
	free(queue);
	free(via_root);
	return len;
}
