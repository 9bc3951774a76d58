/* info goroutines [-a] [-g], goroutine ID bt [full], goroutine apply all|ID... bt [full] */
#include <dwarf.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/goroutine_leaks.h"
#include "analysis/goroutines.h"
#include "symbols/dwarf_values.h"
#include "target/proc.h"
#include "base/util.h"
#include "commands.h"

static const char *const status_names[] = {
	[STRAND_G_IDLE] = "idle",         [STRAND_G_RUNNABLE] = "runnable", [STRAND_G_RUNNING] = "running",
	[STRAND_G_SYSCALL] = "syscall",   [STRAND_G_WAITING] = "waiting",   [STRAND_G_DEAD] = "dead",
	[STRAND_G_COPYSTACK] = "copystack", [STRAND_G_PREEMPTED] = "preempted", [STRAND_G_OTHER] = "other",
};

static const char *status_name(int status)
{
	return status >= 0 && (size_t)status < ARRAY_SIZE(status_names) ? status_names[status] : "other";
}

/* Whether the runtime's traceback shows the frame (Go's showfuncinfo at the
 * default level); every frame with all (GOTRACEBACK=system). */
static bool go_shows(struct session *s, const char *function, bool first, bool all)
{
	unsigned flags = goroutine_frame_flags(s, function, NULL);
	if (all)
		return true;
	return function && !(flags & STRAND_FRAME_HIDDEN) && !(first && (flags & STRAND_FRAME_HIDDEN_INNERMOST));
}

/* The frame every goroutine's stack begins with (Go's runtime.goexit). */
static bool is_stack_base(struct session *s, const struct logical_frame *lf)
{
	return goroutine_frame_flags(s, lf->function, lf->file) & STRAND_FRAME_BASE;
}

/* Whether the function takes arguments (Go marks its results as variable
 * parameters); unknown without DWARF. */
static bool takes_arguments(const struct logical_frame *lf)
{
	Dwarf_Die fn, child;
	if (lf->nscopes == 0)
		return true;
	fn = lf->scopes[lf->nscopes - 1];
	if (dwarf_child(&fn, &child) != 0)
		return false;
	do {
		Dwarf_Attribute attr;
		bool result = false;
		if (dwarf_tag(&child) != DW_TAG_formal_parameter)
			continue;
		if (dwarf_attr_integrate(&child, DW_AT_variable_parameter, &attr))
			dwarf_formflag(&attr, &result);
		if (!result)
			return true;
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

/* "main.f(...)\n\t/path/f.go:12 +0x25\n", as Go's traceback lays a frame out
 * (argument words are not printed: "(...)" stands for them). */
static void out_go_frame(struct session *s, const struct logical_frame *lf)
{
	struct out *o = s->out;
	out_obj(o, NULL);
	out_str(o, "function", lf->function ? lf->function : "?");
	out_text(o, "(%s)\n\t", lf->inlined || takes_arguments(lf) ? "..." : "");
	if (lf->file) {
		out_str(o, "file", lf->file);
		out_text(o, ":");
		out_int(o, "line", lf->line);
	} else {
		out_text(o, "?:0");
		out_hide_text(o, true);
		out_null(o, "file");
		out_null(o, "line");
		out_hide_text(o, false);
	}
	out_hide_text(o, true);
	out_addr(o, "pc", lf->pc);
	out_bool(o, "inlined", lf->inlined);
	out_hide_text(o, false);
	if (!lf->inlined && lf->func_offset) {
		out_text(o, " +");
		out_hex(o, "offset", lf->func_offset);
	} else {
		out_hide_text(o, true);
		out_null(o, "offset");
		out_hide_text(o, false);
	}
	out_text(o, "\n");
	out_obj_end(o);
}

/* "created by main.f\n\t/path/f.go:12 +0x85\n" (Go 1.21's " in goroutine N"
 * when the runtime records the parent). */
static void out_created_by(struct session *s, const struct goroutine *gr, bool all)
{
	struct out *o = s->out;
	const struct strand_goroutine *g = &gr->g;
	struct sym_info si;
	const char *file;
	int line;
	uint64_t line_addr;
	bool known = g->creator_pc && g->id != 1 && symbols_addr_info(s->symbols, g->creator_pc, &si) && si.name;
	if (!known || !go_shows(s, si.name, false, all)) {
		out_null(o, "created_by");
		return;
	}
	out_obj(o, "created_by");
	out_text(o, "created by ");
	out_str(o, "function", si.name);
	if (g->parent_id) {
		out_text(o, " in goroutine ");
		out_uint(o, "goroutine", g->parent_id);
	}
	out_text(o, "\n\t");
	if (symbols_source_line(s->symbols, g->creator_pc - (si.offset > 0), &file, &line, &line_addr)) {
		out_str(o, "file", file);
		out_text(o, ":");
		out_int(o, "line", line);
	} else {
		out_text(o, "?:0");
	}
	if (si.offset) {
		out_text(o, " +");
		out_hex(o, "offset", si.offset);
	}
	out_hide_text(o, true);
	out_addr(o, "pc", g->creator_pc);
	out_hide_text(o, false);
	out_text(o, "\n");
	out_obj_end(o);
}

/* "goroutine 18 [chan send, 2 minutes, locked to thread]:" as
 * goroutineheader prints it; the rest for JSON. */
static void out_header(struct session *s, const struct goroutine *gr, const char *after)
{
	struct out *o = s->out;
	const struct strand_goroutine *g = &gr->g;
	out_text(o, "goroutine ");
	out_uint(o, "id", g->id);
	out_text(o, " [");
	out_str(o, "state", gr->state);
	if (g->scan)
		out_text(o, " (scan)");
	if (g->wait_minutes >= 1) {
		out_text(o, ", ");
		out_int(o, "wait_minutes", g->wait_minutes);
		out_text(o, " minutes");
	} else {
		out_hide_text(o, true);
		out_null(o, "wait_minutes");
		out_hide_text(o, false);
	}
	if (g->locked_to_thread)
		out_text(o, ", locked to thread");
	out_text(o, "]");
	out_hide_text(o, true);
	out_str(o, "status", status_name(g->status));
	out_bool(o, "scan", g->scan);
	out_int(o, "wait_since", g->wait_since);
	out_bool(o, "locked_to_thread", g->locked_to_thread);
	out_bool(o, "system", g->system);
	out_hex(o, "address", g->address);
	out_hex(o, "start_pc", g->start_pc);
	if (g->parent_id)
		out_uint(o, "parent", g->parent_id);
	else
		out_null(o, "parent");
	out_hide_text(o, false);
	if (g->tid) {
		/* Go's header has no thread: only goroutine ID bt shows it. */
		struct thread *th = target_thread_by_tid(s->target, g->tid);
		if (after && th)
			out_text(o, " on thread %zu", (size_t)(th - s->target->threads) + 1);
		if (after)
			out_text(o, " (LWP ");
		out_hide_text(o, !after);
		out_int(o, "thread", g->tid);
		out_hide_text(o, false);
		if (after)
			out_text(o, ")");
	} else {
		out_hide_text(o, true);
		out_null(o, "thread");
		out_hide_text(o, false);
	}
	out_text(o, "%s\n", after ? after : ":");
}

/* ---- Goroutines with identical stacks share one: unwound each, symbolized
 * once (ten thousand goroutines parked at one place cost one expansion) ---- */

struct group {
	const struct goroutine *first;
	struct backtrace bt;   /* the physical frames (no frames: error) */
	char *error;           /* why there is no stack */
	struct stack st;
	bool built;
	size_t *members, n, cap;
};

struct groups {
	struct group *v;
	size_t n, cap;
	size_t *of;            /* the group of each goroutine (SIZE_MAX: not listed) */
	size_t *slots, nslots; /* hash of the pcs -> group index + 1 */
};

static uint64_t hash_pcs(const struct backtrace *bt)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < bt->n; i++)
		h = (h ^ bt->frames[i].pc) * 1099511628211ULL;
	return h;
}

static bool same_pcs(const struct backtrace *a, const struct backtrace *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->frames[i].pc != b->frames[i].pc)
			return false;
	return true;
}

static size_t new_group(struct groups *g, const struct goroutine *first, struct backtrace *bt, const char *error)
{
	GROW(g->v, g->cap, g->n + 1);
	g->v[g->n] = (struct group){ .first = first, .bt = *bt, .error = error ? xstrdup(error) : NULL };
	return g->n++;
}

/* The goroutines listed (every one with all, else the program's), each in
 * the group of its stack. */
static void group_stacks(struct session *s, const struct goroutines *gs, bool all, struct groups *g)
{
	memset(g, 0, sizeof(*g));
	g->of = xmalloc((gs->n + 1) * sizeof(*g->of));
	g->nslots = 16;
	while (g->nslots < 2 * gs->n)
		g->nslots *= 2;
	g->slots = xcalloc(g->nslots, sizeof(*g->slots));
	for (size_t i = 0; i < gs->n; i++) {
		g->of[i] = SIZE_MAX;
		if ((gs->v[i].g.system && !all) || session_interrupted())
			continue;
		struct backtrace bt;
		if (goroutine_unwind(s, &gs->v[i], &bt) < 0) {
			g->of[i] = new_group(g, &gs->v[i], &bt, error_get());
		} else {
			size_t slot = hash_pcs(&bt) & (g->nslots - 1);
			while (g->slots[slot] && !same_pcs(&g->v[g->slots[slot] - 1].bt, &bt))
				slot = (slot + 1) & (g->nslots - 1);
			if (g->slots[slot]) {
				backtrace_free(&bt);
			} else {
				g->slots[slot] = new_group(g, &gs->v[i], &bt, NULL) + 1;
			}
			g->of[i] = g->slots[slot] - 1;
		}
		struct group *gr = &g->v[g->of[i]];
		GROW(gr->members, gr->cap, gr->n + 1);
		gr->members[gr->n++] = i;
	}
}

static const struct stack *group_stack(struct session *s, struct group *gr)
{
	if (!gr->built) {
		struct backtrace copy = gr->bt;
		copy.frames = xmalloc((gr->bt.n + 1) * sizeof(*copy.frames));
		memcpy(copy.frames, gr->bt.frames, gr->bt.n * sizeof(*copy.frames));
		copy.stop_reason = gr->bt.stop_reason ? xstrdup(gr->bt.stop_reason) : NULL;
		stack_build_from(s, &copy, &gr->st);
		gr->built = true;
	}
	return &gr->st;
}

static void groups_free(struct groups *g)
{
	for (size_t k = 0; k < g->n; k++) {
		backtrace_free(&g->v[k].bt);
		if (g->v[k].built)
			stack_free(&g->v[k].st);
		free(g->v[k].error);
		free(g->v[k].members);
	}
	free(g->v);
	free(g->of);
	free(g->slots);
}

/* One goroutine as Go's traceback prints it. */
static void out_go_goroutine(struct session *s, const struct goroutine *gr, struct group *group, bool all)
{
	struct out *o = s->out;
	out_obj(o, NULL);
	out_header(s, gr, NULL);
	const struct stack *st = group->error ? NULL : group_stack(s, group);
	if (!st) {
		out_text(o, "\t");
		out_str(o, "stack_unavailable", group->error);
		out_text(o, "\n");
	} else {
		out_hide_text(o, true);
		out_null(o, "stack_unavailable");
		out_hide_text(o, false);
	}
	out_list(o, "frames");
	for (size_t i = 0; st && i < st->n && !is_stack_base(s, &st->f[i]); i++)
		if (go_shows(s, st->f[i].function, i == 0, all))
			out_go_frame(s, &st->f[i]);
	out_list_end(o);
	out_created_by(s, gr, all);
	out_obj_end(o);
}

/* ---- -g: identical stacks counted together, as pprof's debug=1 ---- */

static int by_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return x->first->g.id < y->first->g.id ? -1 : x->first->g.id > y->first->g.id;
}

/* "#\t0x4e2b24\tmain.chanSend+0x24\t/path/f.go:59": the runtime's frames
 * before the first of the program's, and goexit, are left out (pprof's
 * printStackRecord), unless nothing else is left. */
static void out_group_frames(struct session *s, const struct stack *st)
{
	struct out *o = s->out;
	bool any = false;
	for (size_t i = 0; i < st->n && !any; i++)
		any = st->f[i].function && !(goroutine_frame_flags(s, st->f[i].function, NULL) &
					     (STRAND_FRAME_BASE | STRAND_FRAME_RUNTIME));
	bool show = !any;
	out_list(o, "frames");
	for (size_t i = 0; i < st->n; i++) {
		const struct logical_frame *lf = &st->f[i];
		unsigned flags = goroutine_frame_flags(s, lf->function, lf->file);
		if ((flags & STRAND_FRAME_BASE) || (!show && (flags & STRAND_FRAME_RUNTIME)))
			continue;
		show = true;
		uint64_t pc = st->bt.frames[lf->phys].lookup_pc;
		struct sym_info si;
		bool sym = symbols_addr_info(s->symbols, pc, &si) && si.name;
		out_obj(o, NULL);
		out_text(o, "#\t");
		out_hex(o, "pc", pc);
		out_text(o, "\t");
		out_str(o, "function", lf->function ? lf->function : "?");
		out_text(o, "+");
		out_hex(o, "offset", sym ? pc - si.start : 0);
		out_text(o, "\t");
		out_str(o, "file", lf->file);
		out_text(o, ":");
		out_int(o, "line", lf->line);
		out_hide_text(o, true);
		out_bool(o, "inlined", lf->inlined);
		out_hide_text(o, false);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
}

static void out_groups(struct session *s, const struct goroutines *gs, struct groups *g)
{
	struct out *o = s->out;
	size_t total = 0;
	for (size_t k = 0; k < g->n; k++)
		total += g->v[k].n;
	sort_array(g->v, g->n, sizeof(*g->v), by_count); /* g->of is stale from here */
	out_text(o, "goroutine profile: total ");
	out_uint(o, "total", total);
	out_text(o, "\n");
	out_list(o, "groups");
	for (size_t k = 0; k < g->n && !session_interrupted(); k++) {
		struct group *gr = &g->v[k];
		out_obj(o, NULL);
		out_uint(o, "count", gr->n);
		out_text(o, " @");
		out_hide_text(o, true);
		out_list(o, "goroutines");
		for (size_t m = 0; m < gr->n; m++)
			out_uint(o, NULL, gs->v[gr->members[m]].g.id);
		out_list_end(o);
		out_hide_text(o, false);
		out_list(o, "pcs");
		for (size_t i = 0; i < gr->bt.n; i++) {
			out_text(o, " ");
			out_hex(o, NULL, gr->bt.frames[i].pc);
		}
		out_list_end(o);
		out_text(o, "\n");
		if (gr->error) {
			out_text(o, "#\t");
			out_str(o, "stack_unavailable", gr->error);
			out_text(o, "\n");
		}
		out_group_frames(s, gr->error ? &(struct stack){ 0 } : group_stack(s, gr));
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
}

int cmd_info_goroutines(struct session *s, const struct args *a)
{
	struct out *o = s->out;
	bool all = false, grouped = false;
	for (int i = 0; i < a->argc; i++) {
		if (!strcmp(a->argv[i], "-a"))
			all = true;
		else if (!strcmp(a->argv[i], "-g"))
			grouped = true;
		else {
			out_error(o, "usage: info goroutines [-a] [-g]");
			return -1;
		}
	}
	struct goroutines gs;
	if (goroutines_read(s, &gs) < 0) {
		out_error(o, "%s", error_get());
		return -1;
	}
	struct groups groups;
	group_stacks(s, &gs, all, &groups);
	if (grouped) {
		out_groups(s, &gs, &groups);
		groups_free(&groups);
		goroutines_free(&gs);
		return 0;
	}
	size_t hidden = 0, shown = 0;
	out_list(o, "goroutines");
	for (size_t i = 0; i < gs.n && !session_interrupted(); i++) {
		if (groups.of[i] == SIZE_MAX) {
			hidden += gs.v[i].g.system;
			continue;
		}
		if (shown++)
			out_text(o, "\n");
		out_go_goroutine(s, &gs.v[i], &groups.v[groups.of[i]], all);
	}
	out_list_end(o);
	if (hidden)
		out_text(o, "\n(");
	out_hide_text(o, !hidden);
	out_uint(o, "system_hidden", hidden);
	out_hide_text(o, false);
	if (hidden)
		out_text(o, " system goroutines not shown: info goroutines -a lists them)\n");
	groups_free(&groups);
	goroutines_free(&gs);
	return 0;
}

/* "bt" or "bt full" (backtrace, where): what goroutine and goroutine apply run. */
static bool parse_bt(int argc, char **argv, unsigned *flags)
{
	static const char *const names[] = { "bt", "backtrace", "where" };
	bool bt = false;
	for (size_t k = 0; argc >= 1 && k < ARRAY_SIZE(names); k++)
		bt |= !strcmp(argv[0], names[k]);
	if (!bt || argc > 2 || (argc == 2 && strcmp(argv[1], "full") != 0))
		return false;
	*flags = FRAME_ARGS | (argc == 2 ? FRAME_LOCALS : 0);
	return true;
}

/* One goroutine's stack as bt prints a thread's, every frame shown. Its
 * frames are named as its group's (same pcs), their values read from its own
 * registers and stack. */
static void out_goroutine_bt(struct session *s, const struct goroutine *gr, struct group *group, unsigned flags)
{
	struct out *o = s->out;
	struct backtrace own;
	out_obj(o, NULL);
	out_text(o, "\n");
	out_header(s, gr, ":");
	if (group->error || goroutine_unwind(s, gr, &own) < 0) {
		out_text(o, "\t");
		out_str(o, "stack_unavailable", group->error ? group->error : error_get());
		out_text(o, "\n");
		out_list(o, "frames");
		out_list_end(o);
		out_obj_end(o);
		return;
	}
	const struct stack *shared = group_stack(s, group);
	struct stack st = *shared;
	bool own_expansion = shared->bt.n != own.n; /* frames were put back (tail calls) */
	if (own_expansion)
		stack_build_from(s, &own, &st);
	else
		st.bt = own;
	out_hide_text(o, true);
	out_null(o, "stack_unavailable");
	out_hide_text(o, false);
	out_list(o, "frames");
	for (size_t i = 0; i < st.n && !session_interrupted(); i++)
		out_frame(s, &st, i, flags);
	out_list_end(o);
	if (st.bt.stop_reason) {
		out_text(o, "Backtrace stopped: ");
		out_str(o, "stop_reason", st.bt.stop_reason);
		out_text(o, "\n");
	}
	if (own_expansion)
		stack_free(&st);
	else
		backtrace_free(&st.bt);
	out_obj_end(o);
}

static bool parse_goroutine_id(struct session *s, const struct goroutines *gs, const char *word,
			       const struct goroutine **out)
{
	unsigned long long id;
	char *end;
	id = strtoull(word, &end, 10);
	if (!*word || *end || !(*out = goroutine_find(gs, id))) {
		out_error(s->out, "No goroutine %s", word);
		return false;
	}
	return true;
}

/* goroutine ID bt [full]; goroutine apply all|ID... bt [full] */
static int run_goroutines_bt(struct session *s, const struct args *a, bool apply)
{
	struct out *o = s->out;
	const char *usage = apply ? "usage: goroutine apply all|ID... bt [full]" : "usage: goroutine ID bt [full]";
	int first_cmd = 0, alls = 0;
	for (; first_cmd < a->argc; first_cmd++) {
		const char *w = a->argv[first_cmd];
		if (apply && !strcmp(w, "all"))
			alls++;
		else if (!*w || strspn(w, "0123456789") != strlen(w))
			break;
	}
	unsigned flags;
	if (first_cmd == 0 || (!apply && first_cmd != 1) || !parse_bt(a->argc - first_cmd, a->argv + first_cmd, &flags)) {
		out_error(o, "%s", usage);
		return -1;
	}
	struct goroutines gs;
	if (goroutines_read(s, &gs) < 0) {
		out_error(o, "%s", error_get());
		return -1;
	}
	/* an ID, or all, may come more than once */
	const struct goroutine **chosen = xcalloc(gs.n * (size_t)alls + (size_t)first_cmd + 1, sizeof(*chosen));
	size_t n = 0;
	for (int k = 0; k < first_cmd; k++) {
		if (!strcmp(a->argv[k], "all")) {
			for (size_t i = 0; i < gs.n; i++)
				chosen[n++] = &gs.v[i];
		} else if (!parse_goroutine_id(s, &gs, a->argv[k], &chosen[n++])) {
			free(chosen);
			goroutines_free(&gs);
			return -1;
		}
	}
	struct groups groups;
	group_stacks(s, &gs, true, &groups);
	out_list(o, "goroutines");
	for (size_t i = 0; i < n && !session_interrupted(); i++)
		out_goroutine_bt(s, chosen[i], &groups.v[groups.of[chosen[i] - gs.v]], flags);
	out_list_end(o);
	groups_free(&groups);
	free(chosen);
	goroutines_free(&gs);
	return 0;
}

int cmd_goroutine(struct session *s, const struct args *a)
{
	return run_goroutines_bt(s, a, false);
}

int cmd_goroutine_apply(struct session *s, const struct args *a)
{
	return run_goroutines_bt(s, a, true);
}

/* ---- blocked: what each waiting goroutine of the program waits on ---- */

struct gwait {
	const struct goroutine *g;
	size_t group;
	struct strand_goroutine_wait w;
	uint64_t holder; /* the goroutine that likely holds the sync object, 0 none */
	uint64_t candidates[8]; /* the goroutines whose stacks refer to it (ids) */
	size_t ncandidates;
	bool more_candidates;
	size_t next;     /* the holder's own wait (index in the waits), SIZE_MAX none */
	int cycle;      /* the deadlock it is part of, 0 none */
	bool leaked;    /* nothing that can run refers to what it waits on */
};

enum gwait_section { SEC_FOREVER, SEC_LEAKED, SEC_CHANNEL, SEC_SYNC, SEC_OTHER, NSECTIONS };

static const char *const section_titles[NSECTIONS] = {
	"Goroutines blocked forever",
	"Goroutines that can never run again (leaked: nothing that can run refers to what they wait on)",
	"Goroutines blocked on channels", "Goroutines blocked on sync objects",
	"Goroutines waiting otherwise (timers, I/O, conditions)",
};

/* Why a wait can never end whatever the other goroutines do (the runtime
 * says), NULL when it can. */
static const char *forever_reason(const struct gwait *w)
{
	return w->w.kind == STRAND_GWAIT_FOREVER ? w->w.detail : NULL;
}

static enum gwait_section section_of(const struct gwait *w)
{
	if (forever_reason(w))
		return SEC_FOREVER;
	if (w->leaked)
		return SEC_LEAKED;
	if (w->w.kind == STRAND_GWAIT_CHANNEL || w->w.kind == STRAND_GWAIT_SELECT)
		return SEC_CHANNEL;
	return w->w.kind == STRAND_GWAIT_SYNC ? SEC_SYNC : SEC_OTHER;
}

/* Goroutines waiting at the same place on the same objects come together. */
static int by_wait(const void *a, const void *b)
{
	const struct gwait *x = a, *y = b;
	int c = (int)section_of(x) - (int)section_of(y);
	if (c)
		return c;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if ((c = strcmp(x->g->state, y->g->state)))
		return c;
	if (x->w.nobjects != y->w.nobjects)
		return x->w.nobjects < y->w.nobjects ? -1 : 1;
	for (size_t i = 0; i < x->w.nobjects && i < STRAND_MAX_WAIT_OBJECTS; i++)
		if (x->w.objects[i].address != y->w.objects[i].address)
			return x->w.objects[i].address < y->w.objects[i].address ? -1 : 1;
	return x->g->g.id < y->g->g.id ? -1 : x->g->g.id > y->g->g.id;
}

static bool same_wait(const struct gwait *x, const struct gwait *y)
{
	struct gwait a = *x, b = *y;
	a.g = b.g; /* every key but the goroutine */
	return section_of(x) == section_of(y) && by_wait(&a, &b) == 0;
}

/* " (main.unread)": the global that holds the object's address (a channel),
 * or the global the object is (a sync.Mutex); nothing when neither. */
static void out_object_name(struct session *s, struct global_snapshot *globals, uint64_t addr, bool pointed)
{
	struct sym_info si;
	uint64_t where = pointed ? globals_holding(s, globals, addr) : addr;
	if (!where || !symbols_addr_info(s->symbols, where, &si) || !si.name) {
		out_null(s->out, "name");
		return;
	}
	out_text(s->out, " (");
	if (si.offset)
		out_strf(s->out, "name", "%s+%llu", si.name, (unsigned long long)si.offset);
	else
		out_str(s->out, "name", si.name);
	out_text(s->out, ")");
}

static void out_ids(struct out *o, const char *key, const uint64_t *ids, size_t n)
{
	out_list(o, key);
	for (size_t i = 0; i < n && i < STRAND_MAX_CHANNEL_WAITERS; i++) {
		out_text(o, " ");
		out_uint(o, NULL, ids[i]);
	}
	out_list_end(o);
	if (n > STRAND_MAX_CHANNEL_WAITERS)
		out_text(o, " ... (%zu in all)", n);
}

/* "send on channel 0xc0000740c0 (main.unread): chan int, unbuffered, open;
 * senders 6 21; no receiver" */
static void out_channel_wait(struct session *s, struct global_snapshot *globals, uint64_t addr, bool send)
{
	struct out *o = s->out;
	struct strand_channel ch;
	out_obj(o, NULL);
	out_text(o, "%s on channel ", send ? "send" : "receive");
	out_hide_text(o, true);
	out_str(o, "direction", send ? "send" : "receive");
	out_hide_text(o, false);
	out_hex(o, "address", addr);
	out_object_name(s, globals, addr, true);
	if (goroutine_channel(s, addr, &ch) < 0) {
		out_text(o, ": ");
		out_str(o, "error", error_get());
		out_obj_end(o);
		return;
	}
	out_text(o, ": chan ");
	out_str(o, "elem_type", ch.elem_type[0] ? ch.elem_type : "?");
	if (ch.cap) {
		out_text(o, ", buffer ");
		out_uint(o, "len", ch.len);
		out_text(o, "/");
		out_uint(o, "cap", ch.cap);
	} else {
		out_text(o, ", unbuffered");
		out_hide_text(o, true);
		out_uint(o, "len", 0);
		out_uint(o, "cap", 0);
		out_hide_text(o, false);
	}
	out_text(o, ch.closed ? ", closed" : ", open");
	out_hide_text(o, true);
	out_bool(o, "closed", ch.closed);
	out_hide_text(o, false);
	out_text(o, "; %s", ch.nsenders ? "senders" : "no sender");
	out_ids(o, "senders", ch.senders, ch.nsenders);
	out_text(o, "; %s", ch.nreceivers ? "receivers" : "no receiver");
	out_ids(o, "receivers", ch.receivers, ch.nreceivers);
	out_obj_end(o);
}

/* ", likely held by goroutine 25" or ", the stacks of goroutines 1 25
 * refer to it" (JSON: both) */
static void out_holder(struct out *o, const struct gwait *w)
{
	if (w->holder) {
		out_text(o, ", likely held by goroutine ");
		out_uint(o, "holder", w->holder);
	} else {
		out_null(o, "holder");
	}
	bool show = !w->holder && w->ncandidates;
	if (show)
		out_text(o, ", the stack%s of goroutine%s", w->ncandidates > 1 ? "s" : "", w->ncandidates > 1 ? "s" : "");
	out_hide_text(o, !show);
	out_list(o, "referred_by");
	for (size_t i = 0; i < w->ncandidates; i++) {
		if (show)
			out_text(o, " ");
		out_uint(o, NULL, w->candidates[i]);
	}
	out_list_end(o);
	out_hide_text(o, false);
	if (show)
		out_text(o, "%s refer%s to it", w->more_candidates ? " and more" : "", w->ncandidates > 1 ? "" : "s");
}

/* ": read on fd 12 socket:[4937377]", as blocked names a thread's I/O wait. */
static void out_io_wait(struct session *s, const struct strand_goroutine_wait *gw)
{
	struct out *o = s->out;
	char link[256] = "(a core records no descriptors)";
	if (s->target->kind == TARGET_LIVE)
		proc_fd_link(s->target->pid, gw->fd, link, sizeof(link));
	out_obj(o, NULL);
	out_text(o, ": %s on fd ", gw->objects[0].send ? "write" : "read");
	out_hide_text(o, true);
	out_str(o, "direction", gw->objects[0].send ? "write" : "read");
	out_hex(o, "address", gw->objects[0].address);
	out_hide_text(o, false);
	out_int(o, "fd", gw->fd);
	out_text(o, " ");
	out_str(o, "fd_target", link);
	out_obj_end(o);
}

static void out_wait_objects(struct session *s, struct global_snapshot *globals, const struct gwait *w)
{
	struct out *o = s->out;
	const struct strand_goroutine_wait *gw = &w->w;
	const char *forever = forever_reason(w);
	size_t shown = gw->nobjects < STRAND_MAX_WAIT_OBJECTS ? gw->nobjects : STRAND_MAX_WAIT_OBJECTS;
	out_list(o, "objects");
	if (forever) {
		out_text(o, ": ");
	} else if (gw->kind == STRAND_GWAIT_SELECT) {
		out_text(o, ": select on %zu channels", gw->nobjects);
		for (size_t i = 0; i < shown; i++) {
			out_text(o, "\n        ");
			out_channel_wait(s, globals, gw->objects[i].address, gw->objects[i].send);
		}
	} else if (gw->kind == STRAND_GWAIT_CHANNEL) {
		out_text(o, ": ");
		out_channel_wait(s, globals, gw->objects[0].address, gw->objects[0].send);
	} else if (gw->kind == STRAND_GWAIT_IO) {
		out_io_wait(s, gw);
	} else if (gw->kind == STRAND_GWAIT_SYNC) {
		out_obj(o, NULL);
		out_text(o, ": ");
		out_str(o, "type", gw->type);
		out_text(o, " ");
		out_hex(o, "address", gw->objects[0].address);
		out_object_name(s, globals, gw->objects[0].address, false);
		if (gw->detail[0]) {
			out_text(o, ", ");
			out_str(o, "detail", gw->detail);
		}
		out_holder(o, w);
		out_obj_end(o);
	}
	out_list_end(o);
	if (forever)
		out_str(o, "forever", forever);
	else
		out_null(o, "forever");
}

/* "at main.mutexWait (/src/f.go:79)": the first frame of the program's own
 * code (not the runtime's library), else the first one its traceback shows. */
static void out_wait_site(struct session *s, struct group *group)
{
	struct out *o = s->out;
	const struct stack *st = group->error ? NULL : group_stack(s, group);
	const struct logical_frame *site = NULL;
	for (size_t i = 0; st && i < st->n && !is_stack_base(s, &st->f[i]); i++) {
		const struct logical_frame *lf = &st->f[i];
		if (!go_shows(s, lf->function, i == 0, false))
			continue;
		if (!site)
			site = lf;
		if (!(goroutine_frame_flags(s, lf->function, lf->file) & STRAND_FRAME_LIBRARY)) {
			site = lf;
			break;
		}
	}
	if (!site) {
		out_null(o, "function");
		return;
	}
	out_text(o, "\n      at ");
	out_str(o, "function", site->function);
	if (site->file) {
		out_text(o, " (");
		out_str(o, "file", site->file);
		out_text(o, ":");
		out_int(o, "line", site->line);
		out_text(o, ")");
	}
}

static void out_wait_bucket(struct session *s, struct global_snapshot *globals, struct groups *groups,
			    const struct gwait *w, size_t n)
{
	struct out *o = s->out;
	out_obj(o, NULL);
	out_text(o, "  goroutine%s", n > 1 ? "s" : "");
	out_list(o, "goroutines");
	for (size_t i = 0; i < n; i++) {
		out_text(o, " ");
		out_uint(o, NULL, w[i].g->g.id);
	}
	out_list_end(o);
	out_text(o, " [");
	out_str(o, "state", w->g->state);
	out_text(o, "]");
	out_wait_objects(s, globals, w);
	out_hide_text(o, true);
	out_int(o, "deadlock", w->cycle);
	out_bool(o, "leaked", w->leaked);
	out_hide_text(o, false);
	out_wait_site(s, &groups->v[w->group]);
	out_text(o, "\n");
	out_obj_end(o);
}

static void out_wait_sections(struct session *s, struct gwait *v, size_t n, struct groups *groups)
{
	struct out *o = s->out;
	struct global_snapshot globals = { 0 };
	size_t count[NSECTIONS] = { 0 };
	for (size_t i = 0; i < n; i++)
		count[section_of(&v[i])]++;
	out_list(o, "goroutines");
	int shown_section = -1;
	for (size_t i = 0, k; i < n && !session_interrupted(); i = k) {
		for (k = i + 1; k < n && same_wait(&v[i], &v[k]); k++)
			;
		if ((int)section_of(&v[i]) != shown_section) {
			shown_section = (int)section_of(&v[i]);
			out_text(o, "\n%s (%zu):\n", section_titles[shown_section], count[shown_section]);
		}
		out_wait_bucket(s, &globals, groups, &v[i], k - i);
	}
	out_list_end(o);
	globals_snapshot_free(&globals);
}

/* ---- Who holds a locked Mutex: Go's records no holder. The goroutines not
 * waiting for it whose stacks refer to it may; when one alone does, or one
 * alone of those that wait themselves (a holder blocked on another lock: the
 * shape of a deadlock), it likely does ---- */

#define MAX_CANDIDATES 8

struct candidates {
	size_t g[MAX_CANDIDATES]; /* goroutine indexes */
	size_t n;
};

struct holder_search {
	struct gwait *v;
	size_t *wait_of;   /* by goroutine index: its wait, SIZE_MAX none */
	uint64_t *objs;
	struct candidates *found; /* by object */
};

static bool held_sync(const struct gwait *w)
{
	return w->w.kind == STRAND_GWAIT_SYNC && w->w.held;
}

static void note_reference(void *ctx, size_t obj, size_t g)
{
	struct holder_search *h = ctx;
	struct candidates *c = &h->found[obj];
	size_t w = h->wait_of[g];
	if (w != SIZE_MAX && held_sync(&h->v[w]) && h->v[w].w.objects[0].address == h->objs[obj])
		return; /* it waits for the object */
	for (size_t i = 0; i < c->n && i < MAX_CANDIDATES; i++)
		if (c->g[i] == g)
			return;
	if (c->n < MAX_CANDIDATES)
		c->g[c->n] = g;
	c->n++;
}

/* The likely holder among the candidates (goroutine index), SIZE_MAX none. */
static size_t likely_holder(const struct holder_search *h, const struct candidates *c)
{
	size_t pick = SIZE_MAX, waiting = 0;
	if (c->n == 1)
		return c->g[0];
	for (size_t i = 0; i < c->n && i < MAX_CANDIDATES; i++) {
		size_t w = h->wait_of[c->g[i]];
		if (w != SIZE_MAX && h->v[w].w.kind != STRAND_GWAIT_NONE) {
			pick = c->g[i];
			waiting++;
		}
	}
	return c->n <= MAX_CANDIDATES && waiting == 1 ? pick : SIZE_MAX;
}

static void find_holders(struct session *s, const struct goroutines *gs, struct gwait *v, size_t n)
{
	struct holder_search h = { v, xmalloc((gs->n + 1) * sizeof(size_t)), xcalloc(n + 1, sizeof(uint64_t)),
				   xcalloc(n + 1, sizeof(struct candidates)) };
	size_t nobjs = 0;
	for (size_t i = 0; i < gs->n; i++)
		h.wait_of[i] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		h.wait_of[v[i].g - gs->v] = i;
		v[i].next = SIZE_MAX;
		if (held_sync(&v[i]))
			h.objs[nobjs++] = v[i].w.objects[0].address;
	}
	goroutines_referring(s, gs, h.objs, nobjs, note_reference, &h);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (!held_sync(&v[i]))
			continue;
		const struct candidates *c = &h.found[k++];
		size_t g = likely_holder(&h, c);
		for (size_t j = 0; j < c->n && j < MAX_CANDIDATES; j++)
			v[i].candidates[v[i].ncandidates++] = gs->v[c->g[j]].g.id;
		v[i].more_candidates = c->n > MAX_CANDIDATES;
		if (g != SIZE_MAX) {
			v[i].holder = gs->v[g].g.id;
			v[i].next = h.wait_of[g];
		}
	}
	free(h.wait_of), free(h.objs), free(h.found);
}

/* Cycles of waits through likely holders: goroutine deadlocks. Each wait
 * has at most one next, so following it from each wait finds them all. */
static int out_deadlocks(struct session *s, struct gwait *v, size_t n)
{
	struct out *o = s->out;
	unsigned char *state = xcalloc(n + 1, 1); /* 0 unseen, 1 on the path, 2 done */
	int cycles = 0;
	out_list(o, "deadlocks");
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		while (k != SIZE_MAX && !state[k]) {
			state[k] = 1;
			k = v[k].next;
		}
		if (k != SIZE_MAX && state[k] == 1) {
			cycles++;
			out_text(o, "\nGoroutine deadlock %d (likely: the runtime records no holder; each holder named "
				    "is the goroutine whose stack refers to the object, alone or alone blocked itself):\n", cycles);
			out_list(o, NULL);
			size_t c = k;
			do {
				v[c].cycle = cycles;
				out_text(o, "  goroutine ");
				out_uint(o, NULL, v[c].g->g.id);
				out_text(o, " waits for %s 0x%" PRIx64 " held by goroutine %" PRIu64 "\n", v[c].w.type,
					 v[c].w.objects[0].address, v[c].holder);
				c = v[c].next;
			} while (c != k);
			out_list_end(o);
		}
		for (k = i; k != SIZE_MAX && state[k] == 1; k = v[k].next)
			state[k] = 2;
	}
	out_list_end(o);
	free(state);
	return cycles;
}

/* Which waiting goroutines can never run again (analysis/goroutine_leaks.h):
 * those waiting on channels or sync objects, and the ones blocked forever.
 * NULL, or why the check could not be made (malloc'd). */
static char *find_leaks(struct session *s, const struct goroutines *gs, struct gwait *v, size_t n)
{
	struct blocked_goroutine *b = xcalloc(n + 1, sizeof(*b));
	size_t *at = xcalloc(n + 1, sizeof(*at)), nb = 0;
	for (size_t i = 0; i < n; i++) {
		bool on_objects = v[i].w.kind == STRAND_GWAIT_CHANNEL || v[i].w.kind == STRAND_GWAIT_SELECT ||
				  v[i].w.kind == STRAND_GWAIT_SYNC;
		if (!on_objects && !forever_reason(&v[i]))
			continue;
		b[nb] = (struct blocked_goroutine){ .g = v[i].g, .w = &v[i].w, .never_runs = forever_reason(&v[i]) };
		at[nb++] = i;
	}
	char *why = goroutine_leaks(s, gs, b, nb) < 0 ? xstrdup(error_get()) : NULL;
	for (size_t k = 0; !why && k < nb; k++)
		v[at[k]].leaked = b[k].leaked;
	free(b), free(at);
	return why;
}

int out_goroutine_waits(struct session *s)
{
	struct out *o = s->out;
	struct goroutines gs;
	if (!goroutines_known(s))
		return 0;
	if (goroutines_read(s, &gs) < 0) {
		out_warn(o, "goroutines not analysed: %s", error_get());
		return 0;
	}
	struct groups groups;
	group_stacks(s, &gs, false, &groups);
	struct gwait *v = xcalloc(gs.n + 1, sizeof(*v));
	size_t n = 0, running = 0;
	for (size_t i = 0; i < gs.n && !session_interrupted(); i++) {
		const struct goroutine *g = &gs.v[i];
		if (groups.of[i] == SIZE_MAX)
			continue;
		if (g->g.status != STRAND_G_WAITING) {
			running++;
			continue;
		}
		v[n] = (struct gwait){ .g = g, .group = groups.of[i] };
		const struct stack *st = groups.v[groups.of[i]].error ? NULL : group_stack(s, &groups.v[groups.of[i]]);
		if (st)
			goroutine_wait(s, g, st, &v[n].w);
		n++;
	}
	find_holders(s, &gs, v, n);
	char *not_checked = find_leaks(s, &gs, v, n);
	out_obj(o, "goroutines");
	out_uint(o, "waiting", n);
	out_text(o, " goroutines of the program waiting, ");
	out_uint(o, "not_waiting", running);
	out_text(o, " running, runnable or in a system call\n");
	if (not_checked)
		out_warn(o, "goroutine leaks not checked: %s", not_checked);
	out_str(o, "leaks_not_checked", not_checked);
	free(not_checked);
	int stuck = out_deadlocks(s, v, n);
	for (size_t i = 0; i < n; i++)
		stuck += forever_reason(&v[i]) != NULL || v[i].leaked;
	qsort(v, n, sizeof(*v), by_wait);
	out_wait_sections(s, v, n, &groups);
	out_obj_end(o);
	free(v);
	groups_free(&groups);
	goroutines_free(&gs);
	return stuck;
}
