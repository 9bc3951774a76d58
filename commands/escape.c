/* escape [--max-size N]: heap blocks referenced only from one frame of one
 * thread, which could have lived on that stack: Go's -gcflags=-m, observed. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/dwarf_values.h"
#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

struct candidate {
	uint32_t block;
	int thread;
	size_t frame;
	char function[128], where[160], variable[64];
};

/* The logical frame whose [sp, cfa) holds a stack word, or SIZE_MAX. */
static size_t frame_of(const struct stack *st, uint64_t where)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct frame *fr = &st->bt.frames[st->f[i].phys];
		if ((fr->regs_valid & (1u << 7)) && where >= fr->regs[7] && (!fr->cfa || where < fr->cfa)) {
			size_t k = i;
			while (k > 0 && st->f[k - 1].phys == st->f[i].phys)
				k--;
			return k;
		}
	}
	return SIZE_MAX;
}

/* Every root of b in one thread's stack (or its registers), all in one frame,
 * and no other block points to it. */
/* The roots of block b (order[first..end), indices into reach->roots) all in
 * one thread's stack or registers, all in one frame, and no other block
 * points to it. */
static bool single_frame(struct session *s, const struct reach *r, uint32_t b, const uint32_t *order, size_t first,
			 size_t end, struct stack *stacks, bool *built, struct candidate *c)
{
	int thread = -1;
	size_t frame = SIZE_MAX;
	uint64_t slot = 0;
	bool any = false;
	for (size_t k = first; k < end; k++) {
		const struct root_edge *e = &r->roots[order[k]];
		const struct root_group *g = &r->groups[e->group];
		if ((g->kind != ROOT_STACK && g->kind != ROOT_REGISTERS) || (thread >= 0 && g->thread != thread))
			return false;
		thread = g->thread;
		any = true;
		if (g->kind == ROOT_REGISTERS)
			continue; /* registers belong to the innermost frames: they agree with any frame */
		if (!built[thread]) {
			built[thread] = stack_build(s, &s->target->threads[thread], &stacks[thread]) == 0;
			if (!built[thread])
				return false;
		}
		size_t f = frame_of(&stacks[thread], e->where);
		if (f == SIZE_MAX || (frame != SIZE_MAX && f != frame))
			return false;
		frame = f;
		slot = e->where;
	}
	if (!any || frame == SIZE_MAX)
		return false;
	const struct logical_frame *lf = &stacks[thread].f[frame];
	c->block = b;
	c->thread = thread;
	c->frame = frame;
	snprintf(c->function, sizeof(c->function), "%s", lf->function ? lf->function : "??");
	snprintf(c->where, sizeof(c->where), "%s:%d", lf->file ? lf->file : "?", lf->line);
	struct value_frame vf = { s, &stacks[thread].bt.frames[lf->phys], lf };
	const char *var = frame_variable_at(&vf, slot, NULL);
	snprintf(c->variable, sizeof(c->variable), "%s", var ? var : "");
	return true;
}

static int by_root_block(const void *x, const void *y, void *reach)
{
	const struct root_edge *roots = ((const struct reach *)reach)->roots;
	uint32_t a = roots[*(const uint32_t *)x].block, b = roots[*(const uint32_t *)y].block;
	return (a > b) - (a < b);
}

static int by_function(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;
	int c = strcmp(a->function, b->function);
	return c ? c : (a->block > b->block) - (a->block < b->block);
}

int cmd_escape(struct session *s, const struct args *a)
{
	uint64_t max_size = 64 * 1024;
	if (!option_size(s, a, "--max-size", &max_size))
		return -1;
	const struct reach *r = reach_or_error(s, &(struct reach_opts){ 0 }, NEED_GRAPH);
	if (!r)
		return -1;
	const struct heap *h = r->heap;
	/* Blocks of an allocator left out are no candidates (the warnings say which). */
	out_hide_text(s->out, true);
	out_bool(s->out, "complete", heap_complete(h));
	out_hide_text(s->out, false);
	const uint32_t *indeg = reach_indegree(s->reach);
	struct stack *stacks = xcalloc(s->target->nthreads + 1, sizeof(*stacks));
	bool *built = xcalloc(s->target->nthreads + 1, sizeof(*built));
	/* Only blocks no other block points to can qualify, and roots alone reach
	 * them: walk the roots grouped by the block they point to. */
	uint32_t *order = xmalloc((r->nroots + 1) * sizeof(*order));
	for (size_t i = 0; i < r->nroots; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, r->nroots, sizeof(*order), by_root_block, (void *)r);
	struct candidate *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t first = 0, end; first < r->nroots && !session_interrupted(); first = end) {
		uint32_t b = r->roots[order[first]].block;
		for (end = first; end < r->nroots && r->roots[order[end]].block == b; end++)
			;
		struct candidate c;
		if (indeg[b] || r->cls[b] != CLASS_REACHABLE || heap_usable(&h->blocks[b]) > max_size ||
		    !single_frame(s, r, b, order, first, end, stacks, built, &c))
			continue;
		GROW(v, cap, n + 1);
		v[n++] = c;
	}
	free(order);
	sort_array(v, n, sizeof(*v), by_function);
	struct out *o = s->out;
	out_text(o, "%zu heap block%s referenced from a single stack frame only (observed now, not proven for every "
		    "execution):\n", n, n == 1 ? "" : "s");
	out_list(o, "blocks");
	for (size_t i = 0; i < n; i++) {
		const struct candidate *c = &v[i];
		const struct heap_block *b = &h->blocks[c->block];
		const struct thread *th = &s->target->threads[c->thread];
		out_obj(o, NULL);
		out_str(o, "where", c->where);
		out_text(o, ": heap block %" PRIu64 " B @", heap_usable(b));
		out_hex(o, "block", b->addr);
		out_hide_text(o, true);
		out_uint(o, "usable", heap_usable(b));
		out_hide_text(o, false);
		out_text(o, " held only by ");
		if (c->variable[0]) {
			out_text(o, "local '");
			out_str(o, "variable", c->variable);
			out_text(o, "' ");
		} else {
			out_null(o, "variable");
		}
		out_text(o, "in ");
		out_str(o, "function", c->function);
		out_text(o, "() [thread %d", c->thread + 1);
		if (th->name[0])
			out_text(o, " \"%s\"", th->name);
		out_text(o, ", frame #");
		out_uint(o, "frame", c->frame);
		out_hide_text(o, true);
		out_int(o, "thread", c->thread + 1);
		out_hide_text(o, false);
		out_text(o, "]: does not escape; could live on the stack\n");
		out_obj_end(o);
	}
	out_list_end(o);
	/* The worst allocation sites first: blocks and bytes per function. */
	out_text(o, "By function:\n");
	out_list(o, "functions");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint64_t bytes = 0;
		while (j < n && !strcmp(v[j].function, v[i].function))
			bytes += heap_usable(&h->blocks[v[j++].block]);
		out_obj(o, NULL);
		out_text(o, "  ");
		out_str(o, "function", v[i].function);
		out_text(o, ": ");
		out_uint(o, "blocks", j - i);
		out_text(o, " block%s, ", j - i == 1 ? "" : "s");
		out_uint(o, "bytes", bytes);
		out_text(o, " bytes\n");
		out_obj_end(o);
		i = j;
	}
	out_list_end(o);
	for (size_t t = 0; t < s->target->nthreads; t++)
		if (built[t])
			stack_free(&stacks[t]);
	free(stacks);
	free(built);
	free(v);
	return 0;
}
