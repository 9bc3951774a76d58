/* What several commands share: the leak options and the reachability they
 * ask for (leaks, top, why, arrays, escape), a root printed as a person reads
 * it (why, arrays), and a thread's wait in brief (blocked, info threads). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/reach.h"
#include "analysis/waits.h"
#include "base/util.h"
#include "commands.h"
#include "symbols/dwarf_values.h"

/* valgrind's --leak-check-heuristics set: "all", "none", or names joined
 * by commas. Sets the heuristics switched off. */
static bool parse_heuristics(const char *set, unsigned *off)
{
	*off = (1u << HEURISTICS) - 1;
	if (!strcmp(set, "all"))
		*off = 0;
	if (!strcmp(set, "all") || !strcmp(set, "none"))
		return true;
	for (const char *p = set;; p++) {
		size_t len = strcspn(p, ",");
		int found = -1;
		for (int h = 0; h < HEURISTICS; h++)
			if (strlen(reach_heuristic_name((enum reach_heuristic)h)) == len &&
			    !strncmp(p, reach_heuristic_name((enum reach_heuristic)h), len))
				found = h;
		if (found < 0)
			return false;
		*off &= ~(1u << found);
		p += len;
		if (!*p)
			return true;
	}
}

/* "--NAME=VALUE" or "--NAME VALUE" at argv[*i] (moved past a separate
 * value): the value, or NULL when the word is another. */
static const char *option_value(const struct args *a, int *i, const char *name)
{
	size_t len = strlen(name);
	const char *w = a->argv[*i];
	if (strncmp(w, name, len))
		return NULL;
	if (w[len] == '=')
		return w + len + 1;
	if (w[len] || *i + 1 >= a->argc)
		return NULL;
	return a->argv[++*i];
}

char **take_reach_opts(struct session *s, const struct args *a, struct reach_opts *opts, int *argc)
{
	static const char *const names[ROOT_KINDS] = { "--no-registers", "--no-stacks", "--no-tls", "--no-globals",
						       "--no-anon" };
	memset(opts, 0, sizeof(*opts));
	char **rest = xmalloc((size_t)(a->argc + 1) * sizeof(*rest));
	int keep = 0;
	for (int i = 0; i < a->argc; i++) {
		bool known = false;
		const char *v;
		for (int k = 0; k < ROOT_KINDS; k++)
			if (!strcmp(a->argv[i], names[k]))
				opts->skip[k] = known = true;
		if (!strcmp(a->argv[i], "--unaligned"))
			opts->unaligned = known = true;
		if ((v = option_value(a, &i, "--heuristics"))) {
			if (!parse_heuristics(v, &opts->heuristics_off)) {
				out_error(s->out, "--heuristics: \"%s\" is not all, none or a list of stdstring, length64, "
						  "newarray, multipleinheritance (joined by commas)", v);
				free(rest);
				return NULL;
			}
			known = true;
		} else if ((v = option_value(a, &i, "--interior"))) {
			if (strcmp(v, "possible") && strcmp(v, "reachable")) {
				out_error(s->out, "--interior: \"%s\" is not possible (valgrind's rule) or reachable "
						  "(LeakSanitizer's)", v);
				free(rest);
				return NULL;
			}
			opts->interior_reachable = !strcmp(v, "reachable");
			known = true;
		}
		if (!known)
			rest[keep++] = a->argv[i];
	}
	*argc = keep;
	return rest;
}

const struct reach *reach_or_error(struct session *s, const struct reach_opts *opts, enum reach_need need)
{
	const struct reach *r = need == NEED_RETAINED ? reach_get_retained(s, opts)
				: need == NEED_GRAPH  ? reach_get_graph(s, opts)
						      : reach_get(s, opts);
	if (!r)
		out_error(s->out, "%s", error_get());
	else if (r->heap->nproblems)
		out_warn(s->out, "%s", incomplete_heap(r->heap));
	if (r)
		heap_warn_gaps(s->out, r->heap);
	return r;
}

const char *incomplete_heap(const struct heap *h)
{
	static char msg[160];
	snprintf(msg, sizeof(msg), "the heap walk met %zu problem%s (see `heap check`): blocks in its damaged parts "
		 "were not seen, so this is incomplete", h->nproblems, h->nproblems == 1 ? "" : "s");
	return msg;
}

static void register_name(uint64_t index, char *buf, size_t len)
{
	if (index < ROOT_REG_XMM) {
		snprintf(buf, len, "%s", regs_name((size_t)index));
	} else if (index < ROOT_REG_YMM_HI) {
		int lane = (int)(index - ROOT_REG_XMM);
		snprintf(buf, len, "xmm%d (bytes %d-%d)", lane / 2, lane % 2 * 8, lane % 2 * 8 + 7);
	} else {
		int lane = (int)(index - ROOT_REG_YMM_HI);
		snprintf(buf, len, "ymm%d (bytes %d-%d)", lane / 2, 16 + lane % 2 * 8, 23 + lane % 2 * 8);
	}
}

/* The frame of a stack word: the physical frame whose [sp, cfa) holds it. */
static void out_stack_root(struct session *s, const struct root_group *g, uint64_t where)
{
	struct out *o = s->out;
	const struct thread *th = &s->target->threads[g->thread];
	struct stack st;
	if (stack_build(s, th, &st) < 0) {
		out_text(o, "%s at 0x%" PRIx64 "\n", g->label, where);
		return;
	}
	const char *var;
	bool param;
	size_t found = stack_frame_holding(s, &st, where, &var, &param);
	if (found == st.n) {
		out_text(o, "%s at 0x%" PRIx64 " (outside every frame)\n", g->label, where);
		stack_free(&st);
		return;
	}
	const struct logical_frame *lf = &st.f[found];
	out_text(o, "frame #");
	out_uint(o, "frame", found);
	out_text(o, " of thread %d (LWP %d) in ", g->thread + 1, (int)th->tid);
	out_str(o, "function", lf->function ? lf->function : "??");
	if (lf->file) {
		out_text(o, " (");
		out_str(o, "file", lf->file);
		out_text(o, ":");
		out_int(o, "line", lf->line);
		out_text(o, ")");
	}
	if (var) {
		out_text(o, ", %s `", param ? "parameter" : "local");
		out_str(o, "variable", var);
		out_text(o, "`");
	} else {
		out_text(o, " at sp+0x%" PRIx64, where - st.bt.frames[lf->phys].regs[7]);
	}
	out_text(o, "\n");
	stack_free(&st);
}

void out_root_edge(struct session *s, const struct reach *r, const struct root_edge *e)
{
	struct out *o = s->out;
	const struct root_group *g = &r->groups[e->group];
	out_obj(o, "root");
	out_hide_text(o, true);
	out_str(o, "kind", root_kind_name(g->kind));
	out_str(o, "label", g->label);
	if (g->thread >= 0)
		out_int(o, "thread", g->thread + 1);
	else
		out_null(o, "thread");
	if (g->kind != ROOT_REGISTERS)
		out_hex(o, "address", e->where);
	out_hide_text(o, false);
	out_text(o, " ");
	char reg[32];
	switch (g->kind) {
	case ROOT_REGISTERS:
		register_name(e->where, reg, sizeof(reg));
		out_text(o, "register ");
		out_str(o, "register", reg);
		out_text(o, " of thread %d (LWP %d)\n", g->thread + 1, (int)s->target->threads[g->thread].tid);
		break;
	case ROOT_STACK:
		out_stack_root(s, g, e->where);
		break;
	case ROOT_GLOBALS:
		out_text(o, "%s", g->label);
		if (e->where > g->start)
			out_text(o, " at +%" PRIu64, e->where - g->start);
		out_text(o, "\n");
		break;
	default:
		out_text(o, "%s at 0x%" PRIx64 "\n", g->label, e->where);
	}
	out_obj_end(o);
}

/* One block of the chain, with the offset the pointer to it hits, and the
 * heuristic that makes that interior pointer count as a start pointer. */
static void out_duration(struct out *o, double seconds)
{
	if (seconds < 0) {
		out_null(o, "seconds");
		return;
	}
	out_text(o, ", ");
	out_hide_text(o, true);
	out_double(o, "seconds", "%.1f", seconds);
	out_hide_text(o, false);
	if (seconds < 120)
		out_text(o, "%.0f second%s", seconds, seconds >= 0.5 && seconds < 1.5 ? "" : "s");
	else if (seconds < 7200)
		out_text(o, "%.0f minutes", seconds / 60);
	else
		out_text(o, "%.1f hours", seconds / 3600);
}

/* "[mutex, 5 seconds]", as Go's goroutine dump heads each goroutine: the wait
 * column of info threads and blocked. */
void out_wait_brief(struct session *s, const struct thread_wait *w)
{
	struct out *o = s->out;
	out_text(o, "[");
	out_str(o, "kind", w->kind);
	if (w->decoded_by && !strcmp(w->decoded_by, "name-guess"))
		out_text(o, "?"); /* the object did not decode: a guess from the frames' names */
	out_hide_text(o, true);
	out_str(o, "decoded_by", w->decoded_by);
	out_hide_text(o, false);
	out_duration(o, w->idle_seconds);
	out_text(o, "]");
}
