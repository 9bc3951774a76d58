#include "goroutines.h"

#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "base/util.h"
#include "target/maps.h"

/* A stack deeper than this is cut, with the reason. */
#define MAX_FRAMES 1024

static void add_goroutine(void *ctx, const struct strand_goroutine *g)
{
	struct goroutines *gs = ctx;
	gs->v = xrealloc(gs->v, (gs->n + 1) * sizeof(*gs->v));
	struct goroutine *out = &gs->v[gs->n++];
	out->g = *g;
	out->state = xstrdup(g->state ? g->state : "???");
	out->g.state = out->state;
}

/* Why no plugin lists goroutines: a Go program stripped of its symbols is
 * still recognised by its build information (the go-heap detection). */
static int no_runtime(struct session *s)
{
	size_t n;
	const struct plugin_detection *d = plugin_detections(s, &n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].p->allocator->name, "go-heap") && d[i].confidence > 0)
			return error_set("a Go program without symbols or DWARF (built with -ldflags=\"-s -w\"?): "
					 "the runtime's goroutine list (runtime.allgs) and layout (runtime.g) "
					 "cannot be found, so goroutines cannot be listed");
	return error_set("no runtime plugin that knows goroutines fits this program (not a Go program?)");
}

bool goroutines_known(struct session *s)
{
	return plugin_goroutine_runtime(s) != NULL;
}

int goroutines_read(struct session *s, struct goroutines *out)
{
	memset(out, 0, sizeof(*out));
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	if (!rt)
		return no_runtime(s);
	error_set("the %s plugin could not list the goroutines", rt->p->name);
	if (rt->p->runtime->goroutines(plugin_host(s), add_goroutine, out) < 0) {
		goroutines_free(out);
		return -1;
	}
	return 0;
}

void goroutines_free(struct goroutines *gs)
{
	for (size_t i = 0; i < gs->n; i++)
		free(gs->v[i].state);
	free(gs->v);
	memset(gs, 0, sizeof(*gs));
}

const struct goroutine *goroutine_find(const struct goroutines *gs, uint64_t id)
{
	for (size_t i = 0; i < gs->n; i++)
		if (gs->v[i].g.id == id)
			return &gs->v[i];
	return NULL;
}

unsigned goroutine_frame_flags(struct session *s, const char *function, const char *file)
{
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	if (!function || !rt || !rt->p->runtime->frame_flags)
		return 0;
	return rt->p->runtime->frame_flags(plugin_host(s), function, file);
}

/* Whether pc lies in the function every goroutine's stack begins with. */
static bool is_stack_base(struct session *s, uint64_t pc)
{
	struct sym_info si;
	return symbols_addr_info(s->symbols, pc, &si) && si.name &&
	       (goroutine_frame_flags(s, si.name, NULL) & STRAND_FRAME_BASE);
}

static struct frame *push_frame(struct backtrace *bt, uint64_t pc, uint64_t sp, uint64_t bp, bool at_entry)
{
	bt->frames = xrealloc(bt->frames, (bt->n + 1) * sizeof(*bt->frames));
	struct frame *f = &bt->frames[bt->n++];
	memset(f, 0, sizeof(*f));
	f->pc = pc;
	/* A return address: the call is before it (a parked g's pc too, after
	 * its call to mcall), unless the pc is a function's entry (a goroutine
	 * that has not run yet starts at its function). */
	f->lookup_pc = at_entry ? pc : pc - 1;
	f->regs[16] = pc;
	f->regs[7] = sp;
	f->regs[6] = bp;
	f->regs_valid = 1u << 16 | 1u << 7 | 1u << 6;
	return f;
}

/* Frame pointers from (pc, sp, bp) within the goroutine's stack: each frame's
 * return address is at bp + 8 and its caller's bp at bp. */
static void walk_frame_pointers(struct session *s, const struct strand_goroutine *g, uint64_t pc, uint64_t sp,
				uint64_t bp, struct backtrace *bt)
{
	struct sym_info si;
	push_frame(bt, pc, sp, bp, symbols_addr_info(s->symbols, pc, &si) && si.name && si.offset == 0);
	while (bp && !is_stack_base(s, bt->frames[bt->n - 1].pc)) {
		uint64_t ret, next;
		if (bp < g->stack_lo || bp + 16 > g->stack_hi || bp % 8) {
			bt->stop_reason = xasprintf("frame pointer 0x%llx outside the goroutine's stack",
						    (unsigned long long)bp);
			return;
		}
		if (!target_read_u64(s->target, bp + 8, &ret) || !target_read_u64(s->target, bp, &next)) {
			bt->stop_reason = xasprintf("cannot read the frame at 0x%llx", (unsigned long long)bp);
			return;
		}
		bt->frames[bt->n - 1].cfa = bp + 16;
		if (ret == 0)
			return;
		if (bt->n == MAX_FRAMES) {
			bt->stop_reason = xasprintf("stopped at the frame limit (%d)", MAX_FRAMES);
			return;
		}
		push_frame(bt, ret, bp + 16, next, false);
		if (next <= bp) /* the chain must go up the stack */
			return;
		bp = next;
	}
}

static bool same_function(struct session *s, uint64_t a, uint64_t b)
{
	struct sym_info x, y;
	return symbols_addr_info(s->symbols, a, &x) && symbols_addr_info(s->symbols, b, &y) && x.name && y.name &&
	       x.start == y.start;
}

/* A goroutine on a thread: the thread's stack from the frame on the
 * goroutine's stack (running), or from the function that entered the system
 * call, shown where it did, as Go's traceback does (syscallpc). */
static int thread_stack(struct session *s, const struct strand_goroutine *g, struct backtrace *bt)
{
	struct thread *th = target_thread_by_tid(s->target, g->tid);
	struct backtrace all;
	if (!th || symbols_unwind(s->symbols, th, MAX_FRAMES, &all) < 0)
		return error_set("goroutine running on other thread; stack unavailable");
	size_t k = 0;
	if (g->status == STRAND_G_SYSCALL) {
		while (k < all.n && !same_function(s, all.frames[k].lookup_pc, g->syscall_pc))
			k++;
	} else {
		while (k < all.n && !(all.frames[k].regs[7] >= g->stack_lo && all.frames[k].regs[7] < g->stack_hi))
			k++;
	}
	if (k == all.n) {
		backtrace_free(&all);
		return error_set("goroutine running on other thread; stack unavailable");
	}
	memset(bt, 0, sizeof(*bt));
	for (size_t i = k; i < all.n && !(i > k && is_stack_base(s, all.frames[i - 1].pc)); i++) {
		bt->frames = xrealloc(bt->frames, (bt->n + 1) * sizeof(*bt->frames));
		bt->frames[bt->n++] = all.frames[i];
	}
	if (g->status == STRAND_G_SYSCALL) {
		bt->frames[0].pc = g->syscall_pc;
		bt->frames[0].lookup_pc = g->syscall_pc - 1;
	}
	bt->stop_reason = all.stop_reason;
	all.stop_reason = NULL;
	backtrace_free(&all);
	return 0;
}

int goroutine_unwind(struct session *s, const struct goroutine *gr, struct backtrace *bt)
{
	const struct strand_goroutine *g = &gr->g;
	memset(bt, 0, sizeof(*bt));
	if (g->tid && (g->status == STRAND_G_RUNNING || g->status == STRAND_G_SYSCALL))
		return thread_stack(s, g, bt);
	if (g->status == STRAND_G_RUNNING)
		return error_set("goroutine running on other thread; stack unavailable");
	if (!g->sched_pc)
		return error_set("no saved pc: the goroutine has not run yet");
	walk_frame_pointers(s, g, g->sched_pc, g->sched_sp, g->sched_bp, bt);
	return 0;
}

int goroutine_stack(struct session *s, const struct goroutine *gr, struct stack *st)
{
	struct backtrace bt;
	memset(st, 0, sizeof(*st));
	if (goroutine_unwind(s, gr, &bt) < 0)
		return -1;
	stack_build_from(s, &bt, st);
	return 0;
}

bool goroutine_wait(struct session *s, const struct goroutine *gr, const struct stack *st,
		    struct strand_goroutine_wait *out)
{
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	memset(out, 0, sizeof(*out));
	if (!rt || !rt->p->runtime->goroutine_wait)
		return false;
	const char **names = xcalloc(st->n + 1, sizeof(*names));
	for (size_t i = 0; i < st->n; i++)
		names[i] = st->f[i].function;
	bool known = rt->p->runtime->goroutine_wait(plugin_host(s), &gr->g, names, st->n, out);
	free(names);
	return known;
}

int goroutine_channel(struct session *s, uint64_t addr, struct strand_channel *out)
{
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	if (!rt || !rt->p->runtime->channel)
		return error_set("no runtime plugin that knows channels fits this program");
	error_set("the %s plugin could not read the channel at 0x%llx", rt->p->name, (unsigned long long)addr);
	return rt->p->runtime->channel(plugin_host(s), addr, out) ? 0 : -1;
}

/* ---- The global variables that hold a pointer: a channel is a heap
 * object, named by the variable that refers to it ---- */

struct snapshot_walk {
	struct session *s;
	struct global_snapshot *out;
};

static void snapshot_range(void *arg, uint64_t start, uint64_t end)
{
	struct snapshot_walk *w = arg;
	struct global_range r = { .start = start, .words = (end - start) / 8 };
	r.v = xmalloc(r.words * 8 + 8);
	r.words = target_read(w->s->target, start, r.v, r.words * 8) / 8; /* short at a page not in a core */
	w->out->v = xrealloc(w->out->v, (w->out->n + 1) * sizeof(*w->out->v));
	w->out->v[w->out->n++] = r;
}

static bool snapshot_module(const struct module_info *mi, void *arg)
{
	struct snapshot_walk *w = arg;
	maps_each_writable(&w->s->target->maps, mi->low, mi->high, snapshot_range, w);
	return true;
}

uint64_t globals_holding(struct session *s, struct global_snapshot *g, uint64_t value)
{
	if (!g->taken) {
		struct snapshot_walk w = { s, g };
		g->taken = true;
		symbols_modules(s->symbols, snapshot_module, &w);
	}
	for (size_t i = 0; i < g->n && value; i++)
		for (size_t k = 0; k < g->v[i].words; k++)
			if (g->v[i].v[k] == value)
				return g->v[i].start + 8 * k;
	return 0;
}

void globals_snapshot_free(struct global_snapshot *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].v);
	free(g->v);
	memset(g, 0, sizeof(*g));
}

/* ---- Which goroutines' stacks refer to an object ---- */

uint64_t goroutine_live_sp(struct session *s, const struct strand_goroutine *g)
{
	uint64_t sp = g->sched_sp;
	if (g->status == STRAND_G_SYSCALL)
		sp = g->syscall_sp;
	if (g->status == STRAND_G_RUNNING) {
		struct thread *th = g->tid ? target_thread_by_tid(s->target, g->tid) : NULL;
		sp = th && th->regs_state == REGS_FULL ? regs_sp(th) : 0;
	}
	return sp >= g->stack_lo && sp < g->stack_hi ? sp : g->stack_lo;
}

void goroutines_referring(struct session *s, const struct goroutines *gs, const uint64_t *objs, size_t n,
			  void (*fn)(void *ctx, size_t obj, size_t g), void *ctx)
{
	uint64_t *sorted = xmalloc((n + 1) * sizeof(*sorted)), *words = NULL;
	size_t cap = 0;
	memcpy(sorted, objs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), compare_u64);
	for (size_t i = 0; i < gs->n && n && !session_interrupted(); i++) {
		uint64_t lo = goroutine_live_sp(s, &gs->v[i].g), hi = gs->v[i].g.stack_hi;
		size_t count = hi > lo && hi - lo < (1ull << 30) ? (size_t)((hi - lo) / 8) : 0;
		if (count > cap)
			words = xrealloc(words, (cap = count) * sizeof(*words));
		count = target_read(s->target, lo, words, count * 8) / 8;
		for (size_t k = 0; k < count; k++) {
			const uint64_t *hit = bsearch(&words[k], sorted, n, sizeof(*sorted), compare_u64);
			for (size_t o = 0; hit && o < n; o++)
				if (objs[o] == *hit)
					fn(ctx, o, i);
		}
	}
	free(words);
	free(sorted);
}
