/* The leak check's entry: reach_build runs the stages in order (see
 * stages.h), and the session's reachability is rebuilt only when the
 * target moved or the options ask for more. */
#include "stages.h"

#include <stdlib.h>

#include "analysis/heap.h"
#include "analysis/plugin.h"
#include "base/util.h"
#include "session.h"

#define TCB_GUESS 4096       /* the thread descriptor's size when no runtime plugin knows it */

static void warn_partial_registers(struct session *s, struct reach *r)
{
	size_t missing = 0;
	for (size_t i = 0; i < s->target->nthreads; i++)
		missing += s->target->threads[i].regs_state != REGS_FULL;
	if (missing)
		r->warning = xasprintf("%zu thread%s ran with unknown registers (--no-stop): pointers held only in "
				       "registers are not seen, and the heap moved while it was read",
				       missing, missing == 1 ? "" : "s");
}

/* The marks and the graph, from the roots' marks: with graph, every
 * block's edges; without, the sweeps mark what they can and only the rest
 * is stored. */
static void mark_and_scan(struct session *s, struct scanner *sc)
{
	struct window w = { .buf = xmalloc(SCAN_CHUNK), .size = SCAN_CHUNK };
	if (!sc->r->graph)
		sweep_phases(s, sc, &w);
	scan_blocks(s, sc, &w);
	free(w.buf);
}

struct reach *reach_build(struct session *s, const struct reach_opts *opts, bool graph)
{
	const struct heap *h = heap_get(s);
	if (!h)
		return NULL;
	if (!h->walked) {
		error_set("the heap could not be walked (%s): there is no leak check without it",
			  h->nproblems ? h->problems[0].message : "its allocator's state was not found");
		return NULL;
	}
	double start = now_seconds();
	struct reach *r = xcalloc(1, sizeof(*r));
	r->heap = h;
	r->opts = *opts;
	r->edge_cap = max_edges(r);
	if (h->n >= EDGE_INTERIOR || r->edge_cap > UINT32_MAX) { /* block and edge numbers are 32 bits */
		error_set("the heap is too big for the leak check: %zu blocks, %zu words", h->n, r->edge_cap);
		free(r);
		return NULL;
	}
	r->graph = graph;
	r->cls = xcalloc_big(h->n, 1); /* the marks, then the classes */
	struct scanner sc = { .r = r, .mark = r->cls,
			      .interior_mask = opts->interior_reachable ? 0 : EDGE_INTERIOR };
	sc.heur.on = heuristics_on(opts);
	sc.static_tls = (symbols_static_tls_size(s->symbols) + 63) & ~63ull;
	const struct loaded_plugin *rt = plugin_runtime(s);
	sc.runtime = rt ? rt->p->runtime : NULL;
	sc.tcb_size = rt ? rt->p->runtime->descriptor_size(plugin_host(s)) : 0;
	if (!sc.tcb_size)
		sc.tcb_size = TCB_GUESS;
	block_index_build(&sc.index, h);
	reach_roots(s, &sc);
	resolve_pending(s, &sc);
	if (graph) /* only the graph keeps roots, to name them */
		split_globals_by_symbol(s, &sc);
	mark_and_scan(s, &sc);
	block_index_free(&sc.index);
	classify(s, r, &sc.heur);
	heuristics_free(&sc.heur);
	warn_partial_registers(s, r);
	r->seconds = now_seconds() - start;
	return r;
}

void reach_free(struct reach *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i].label);
	free(r->groups);
	free(r->roots);
	free(r->row);
	free(r->row_block);
	xunreserve(r->edges, r->edge_cap, sizeof(*r->edges));
	free(r->cls);
	free(r->lost);
	free(r->lost_leader);
	free(r->idom);
	free(r->retained);
	free(r->retained_blocks);
	free(r->indeg);
	free(r->warning);
	free(r);
}

/* The session's reachability for these options, rebuilt when the target
 * may have moved, the options differ, or the graph is wanted and missing. */
static const struct reach *reach_get_built(struct session *s, const struct reach_opts *opts, bool graph)
{
	if (s->reach && (!s->target->stopped || memcmp(&s->reach->opts, opts, sizeof(*opts)) ||
			 (graph && !s->reach->graph))) {
		reach_free(s->reach);
		s->reach = NULL;
	}
	if (!s->reach)
		s->reach = reach_build(s, opts, graph);
	return s->reach;
}

const struct reach *reach_get(struct session *s, const struct reach_opts *opts)
{
	return reach_get_built(s, opts, false);
}

const struct reach *reach_get_graph(struct session *s, const struct reach_opts *opts)
{
	return reach_get_built(s, opts, true);
}

const struct reach *reach_get_retained(struct session *s, const struct reach_opts *opts)
{
	reach_get_graph(s, opts);
	if (s->reach && !s->reach->idom)
		dominators(s->reach);
	return s->reach;
}
