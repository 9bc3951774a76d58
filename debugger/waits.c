#include "waits.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dwarf_values.h"
#include "frames.h"
#include "plugin.h"
#include "proc.h"
#include "reach.h"
#include "session.h"
#include "syscalls.h"
#include "util.h"

#define MAX_FRAMES 16

static const char *const verdict_names[] = { "deadlocked", "stuck forever", "waiting on a live owner", "parked",
					      "running" };

const char *verdict_name(enum verdict v)
{
	return verdict_names[v];
}

static const char *const wait_kind_names[] = {
	[STRAND_WAIT_UNKNOWN] = "futex",          [STRAND_WAIT_MUTEX] = "mutex",
	[STRAND_WAIT_RWLOCK_READ] = "rwlock (read)", [STRAND_WAIT_RWLOCK_WRITE] = "rwlock (write)",
	[STRAND_WAIT_COND] = "condition variable", [STRAND_WAIT_SEMAPHORE] = "semaphore",
	[STRAND_WAIT_BARRIER] = "barrier",         [STRAND_WAIT_JOIN] = "join",
	[STRAND_WAIT_ONCE] = "once",
};

static size_t thread_index(const struct target *t, int32_t tid)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == tid)
			return i;
	return NO_THREAD;
}

/* "local `c` of local_cond (f.c:92) in thread 11": a local of thread's stack.
 * The waiting thread's stack is already built (waiter_stack, NULL when it did
 * not unwind); another thread's is unwound here. */
static void name_local(struct session *s, size_t thread, size_t waiter, const struct stack *waiter_stack,
		       uint64_t addr, char *buf, size_t len)
{
	struct stack own;
	bool built = thread != waiter && stack_build(s, &s->target->threads[thread], &own) == 0;
	const struct stack *st = thread == waiter ? waiter_stack : built ? &own : NULL;
	const char *var = NULL;
	bool param;
	size_t f = st ? stack_frame_holding(s, st, addr, &var, &param) : 0;
	if (var)
		snprintf(buf, len, "%s `%s` of %s (%s:%d) in thread %zu", param ? "parameter" : "local", var,
			 st->f[f].function ? st->f[f].function : "??", st->f[f].file ? st->f[f].file : "?", st->f[f].line,
			 thread + 1);
	else
		snprintf(buf, len, "a local on the stack of thread %zu", thread + 1);
	if (built)
		stack_free(&own);
}

/* "g_m1 (f.c:11)", "g_arr+16", "heap block 0x55..+8", a local of a thread.
 * waiter and st: the thread that waits on it and its stack. */
static void name_object(struct session *s, size_t waiter, const struct stack *st, uint64_t addr, char *buf,
			size_t len)
{
	struct sym_info si;
	if (symbols_addr_info(s->symbols, addr, &si) && si.name && si.size && addr < si.start + si.size) {
		char *name = symbol_offset_for_people(s->symbols, addr);
		const char *file;
		int line;
		if (addr == si.start && global_declared_at(s, addr, si.name, &file, &line))
			snprintf(buf, len, "%s (%s:%d)", name, file, line);
		else
			snprintf(buf, len, "%s", name);
		free(name);
		return;
	}
	const struct heap *h = heap_get(s);
	const struct heap_block *b = h ? heap_find(h, addr) : NULL;
	if (b) {
		snprintf(buf, len, "heap block 0x%" PRIx64 "+%" PRIu64, b->addr, addr - b->addr);
		return;
	}
	for (size_t i = 0; i < s->target->nthreads; i++)
		if (s->target->threads[i].thread_pointer == addr) {
			snprintf(buf, len, "the descriptor of thread %zu", i + 1);
			return;
		}
	const struct mapping *m = target_mapping(s->target, addr);
	for (size_t i = 0; m && i < s->target->nthreads; i++) {
		uint64_t sp = regs_sp(&s->target->threads[i]);
		if (sp >= m->start && sp < m->end) {
			name_local(s, i, waiter, st, addr, buf, len);
			return;
		}
	}
	snprintf(buf, len, "0x%" PRIx64, addr);
}

/* Function names of the innermost frames, the stack key and the first frame
 * of the program itself (not libc), for people. */
static size_t describe_stack(struct session *s, const struct stack *st, struct thread_wait *w, char **names)
{
	if (!st)
		return 0;
	size_t n = 0, key = 0;
	for (size_t i = 0; i < st->n && n < MAX_FRAMES; i++) {
		const struct logical_frame *lf = &st->f[i];
		names[n++] = xstrdup(lf->function ? lf->function : "??");
		key += (size_t)snprintf(w->stack_key + key, key < sizeof(w->stack_key) ? sizeof(w->stack_key) - key : 0,
					"%s%s", i ? "<" : "", lf->function ? lf->function : "??");
		if (key >= sizeof(w->stack_key))
			key = sizeof(w->stack_key) - 1;
		if (!w->where[0] && lf->module && s->target->exe && !strcmp(lf->module, s->target->exe))
			snprintf(w->where, sizeof(w->where), "%s (%s:%d)", lf->function ? lf->function : "??",
				 lf->file ? lf->file : "?", lf->line);
	}
	return n;
}

static bool mentions(char **names, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(names[i], what))
			return true;
	return false;
}

static double timespec_seconds(struct session *s, uint64_t addr)
{
	int64_t ts[2];
	if (!addr || !target_read_all(s->target, addr, ts, sizeof(ts)))
		return -1;
	return (double)ts[0] + (double)ts[1] / 1e9;
}

/* A wait's timeout: relative as given, or what is left until an absolute
 * deadline on clock (live targets only: a core's "now" is unknown). */
static void set_timeout(struct session *s, struct thread_wait *w, double seconds, bool deadline, clockid_t clock)
{
	if (seconds < 0)
		return;
	w->timed = true;
	if (deadline) {
		if (s->target->kind != TARGET_LIVE)
			return;
		struct timespec now;
		clock_gettime(clock, &now);
		seconds -= (double)now.tv_sec + (double)now.tv_nsec / 1e9;
		w->timeout_deadline = true;
	}
	w->timeout_seconds = seconds < 0 ? 0 : seconds;
}

/* Timeouts of the I/O and signal waits: milliseconds, a timespec or a timeval. */
static void io_timeout(struct session *s, struct thread_wait *w, const char *call, const uint64_t *a)
{
	if (!strcmp(call, "poll") || !strcmp(call, "epoll_wait") || !strcmp(call, "epoll_pwait")) {
		int ms = (int)a[!strcmp(call, "poll") ? 2 : 3];
		if (ms >= 0)
			set_timeout(s, w, ms / 1e3, false, 0);
	} else if (!strcmp(call, "ppoll") || !strcmp(call, "rt_sigtimedwait")) {
		set_timeout(s, w, timespec_seconds(s, a[2]), false, 0);
	} else if (!strcmp(call, "epoll_pwait2")) {
		set_timeout(s, w, timespec_seconds(s, a[3]), false, 0);
	} else if (!strcmp(call, "pselect6")) {
		set_timeout(s, w, timespec_seconds(s, a[4]), false, 0);
	} else if (!strcmp(call, "select") && a[4]) {
		int64_t tv[2];
		if (target_read_all(s->target, a[4], tv, sizeof(tv)))
			set_timeout(s, w, (double)tv[0] + (double)tv[1] / 1e6, false, 0);
	}
}

static void describe_fd(struct session *s, struct thread_wait *w, int fd)
{
	w->fd = fd;
	if (s->target->kind != TARGET_LIVE) {
		snprintf(w->fd_target, sizeof(w->fd_target), "fd %d (a core records no descriptors)", fd);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)s->target->pid, fd);
	ssize_t n = readlink(path, w->fd_target, sizeof(w->fd_target) - 1);
	w->fd_target[n > 0 ? n : 0] = '\0';
}

/* The syscall a thread sits in, or its frames when the call was restarted. */
static void classify_syscall(struct session *s, struct thread_wait *w, const struct thread *th, char **names,
			     size_t nnames)
{
	long nr = th->syscall;
	const uint64_t *a = th->syscall_args;
	static const struct {
		const char *name, *kind;
		int fd_arg;
	} calls[] = {
		{ "read", "read", 0 },        { "write", "write", 0 },         { "readv", "read", 0 },
		{ "recvfrom", "recv", 0 },    { "recvmsg", "recv", 0 },        { "sendto", "send", 0 },
		{ "sendmsg", "send", 0 },     { "accept", "accept", 0 },       { "accept4", "accept", 0 },
		{ "connect", "connect", 0 },  { "poll", "poll", -1 },          { "ppoll", "poll", -1 },
		{ "select", "select", -1 },   { "pselect6", "select", -1 },    { "epoll_wait", "epoll_wait", 0 },
		{ "epoll_pwait", "epoll_wait", 0 }, { "epoll_pwait2", "epoll_wait", 0 }, { "wait4", "wait for a child", -1 },
		{ "waitid", "wait for a child", -1 }, { "pause", "pause", -1 }, { "rt_sigtimedwait", "sigwait", -1 },
		{ "rt_sigsuspend", "sigwait", -1 }, { "nanosleep", "sleep", -1 }, { "clock_nanosleep", "sleep", -1 },
	};
	const char *name = nr >= 0 ? syscall_name(nr) : NULL;
	if (name && !strcmp(name, "restart_syscall")) {
		/* The arguments are gone: the frames tell what was restarted. */
		w->kind = mentions(names, nnames, "sleep") ? "sleep" : mentions(names, nnames, "poll") ? "poll"
											: "restarted call";
		w->timed = !strcmp(w->kind, "sleep");
		return;
	}
	for (size_t i = 0; name && i < ARRAY_SIZE(calls); i++) {
		if (strcmp(name, calls[i].name))
			continue;
		w->kind = calls[i].kind;
		if (calls[i].fd_arg >= 0)
			describe_fd(s, w, (int)a[calls[i].fd_arg]);
		if (!strcmp(name, "nanosleep")) {
			w->sleep_seconds = timespec_seconds(s, a[0]);
		} else if (!strcmp(name, "clock_nanosleep") && (a[1] & TIMER_ABSTIME)) {
			set_timeout(s, w, timespec_seconds(s, a[2]), true, (clockid_t)a[0]); /* sleep until a time */
			w->sleep_seconds = w->timeout_seconds;
		} else if (!strcmp(name, "clock_nanosleep")) {
			w->sleep_seconds = timespec_seconds(s, a[2]);
		}
		io_timeout(s, w, name, a);
		w->timed |= !strcmp(w->kind, "sleep");
		return;
	}
	w->kind = name ? name : "system call";
}

static void decode_futex(struct session *s, const struct loaded_plugin *rt, struct thread_wait *w, size_t i,
			 char **names, size_t nnames)
{
	struct strand_thread_info ti;
	plugin_thread_info(s, i, &ti);
	ti.frames = (const char *const *)names;
	ti.nframes = nnames;
	struct strand_wait sw;
	if (!rt || !rt->p->runtime->decode_wait(plugin_host(s), &ti, &sw)) {
		w->kind = "futex";
		w->object = ti.syscall_args[0];
		return;
	}
	w->kind = sw.kind >= 0 && (size_t)sw.kind < ARRAY_SIZE(wait_kind_names) ? wait_kind_names[sw.kind] : "futex";
	w->object = sw.object;
	w->owner = sw.owner;
	w->mutex = sw.mutex;
	/* FUTEX_WAIT takes a relative timeout; the other waits (WAIT_BITSET,
	 * LOCK_PI, ...) a deadline, on CLOCK_REALTIME when the op says so. */
	uint64_t op = ti.syscall_args[1];
	if (ti.syscall_args[3] && sw.kind != STRAND_WAIT_JOIN)
		set_timeout(s, w, timespec_seconds(s, ti.syscall_args[3]), (op & 0x7f) != FUTEX_WAIT,
			    (op & FUTEX_CLOCK_REALTIME) || (op & 0x7f) == FUTEX_LOCK_PI ? CLOCK_REALTIME : CLOCK_MONOTONIC);
	snprintf(w->detail, sizeof(w->detail), "%s", sw.detail);
}

void waits_describe(struct session *s, size_t i, const struct stack *st, struct thread_wait *w)
{
	const struct loaded_plugin *rt = plugin_runtime(s);
	const struct thread *th = &s->target->threads[i];
	char *names[MAX_FRAMES];
	memset(w, 0, sizeof(*w));
	w->thread = i;
	w->fd = -1;
	w->owner_index = NO_THREAD;
	w->sleep_seconds = w->idle_seconds = w->timeout_seconds = -1;
	w->wakeups = -1;
	size_t n = describe_stack(s, st, w, names);
	w->verdict = VERDICT_PARKED;
	w->idle_seconds = th->idle_seconds;
	if (s->target->kind == TARGET_LIVE && !s->target->stopped)
		w->idle_seconds = proc_thread_idle_seconds(s->target->pid, th->tid);
	if (th->syscall < 0) {
		w->kind = "running";
		w->verdict = VERDICT_RUNNING;
	} else if (!strcmp(syscall_name(th->syscall), "futex")) {
		decode_futex(s, rt, w, i, names, n);
	} else {
		classify_syscall(s, w, th, names, n);
	}
	if (w->object)
		name_object(s, i, st, w->object, w->object_name, sizeof(w->object_name));
	if (w->mutex)
		name_object(s, i, st, w->mutex, w->mutex_name, sizeof(w->mutex_name));
	if (w->owner)
		w->owner_index = thread_index(s->target, w->owner);
	for (size_t k = 0; k < n; k++)
		free(names[k]);
}

static void build_one(struct session *s, struct thread_wait *w, size_t i)
{
	struct stack st;
	bool have_stack = stack_build(s, &s->target->threads[i], &st) == 0;
	waits_describe(s, i, have_stack ? &st : NULL, w);
	if (have_stack)
		stack_free(&st);
}

/* ---- verdicts ---- */

/* Each blocked thread waits for at most one other: follow the chain; a chain
 * that comes back to a thread already on it is a deadlock. */
static void find_cycles(struct waits *ws)
{
	int *state = xcalloc(ws->n ? ws->n : 1, sizeof(int)); /* 0 new, 1 on the current path, 2 done */
	for (size_t start = 0; start < ws->n; start++) {
		size_t i = start;
		while (i != NO_THREAD && state[i] == 0) {
			state[i] = 1;
			i = ws->v[i].verdict == VERDICT_RUNNING ? NO_THREAD : ws->v[i].owner_index;
		}
		if (i != NO_THREAD && state[i] == 1) {
			int id = ++ws->ncycles;
			size_t j = i;
			do {
				ws->v[j].cycle = id;
				ws->v[j].verdict = VERDICT_DEADLOCKED;
				j = ws->v[j].owner_index;
			} while (j != i);
		}
		for (i = start; i != NO_THREAD && state[i] == 1; i = ws->v[i].owner_index)
			state[i] = 2;
	}
	free(state);
}

/* Only this thread can reach the object: a local of its own stack, or a heap
 * block that no other block and no other root points to. */
static bool private_to_thread(struct session *s, const struct thread_wait *w)
{
	uint64_t sp = regs_sp(&s->target->threads[w->thread]);
	const struct mapping *own_stack = sp ? target_mapping(s->target, sp) : NULL;
	if (own_stack && w->object >= own_stack->start && w->object < own_stack->end)
		return true;
	struct reach_opts opts = { 0 };
	const struct reach *r = reach_get_graph(s, &opts);
	const struct heap_block *b = r ? heap_find(r->heap, w->object) : NULL;
	if (!b)
		return false;
	uint32_t idx = (uint32_t)(b - r->heap->blocks);
	if (reach_indegree(s->reach)[idx])
		return false;
	for (size_t i = 0; i < r->nroots; i++) {
		const struct root_group *g = &r->groups[r->roots[i].group];
		if (r->roots[i].block == idx && (g->thread != (int)w->thread || g->kind == ROOT_GLOBALS))
			return false;
	}
	return true;
}

/* Who else holds a write end of the pipe this thread reads. The holders of
 * every pipe on the system are listed once, on first need (h->v NULL before). */
static bool pipe_writers_only_here(struct session *s, const struct thread_wait *w, struct fd_holders *h, char *why,
				   size_t len)
{
	if (s->target->kind != TARGET_LIVE || strncmp(w->fd_target, "pipe:[", 6) || strcmp(w->kind, "read"))
		return false;
	/* A read of a non-blocking end returns at once (an event loop draining
	 * its self-pipe): the thread is passing through, not waiting. */
	long flags = proc_fd_flags(s->target->pid, w->fd);
	if (flags >= 0 && (flags & O_NONBLOCK))
		return false;
	if (!h->v)
		proc_fd_holders_scan(h);
	const struct fd_holder *first;
	size_t n = proc_fd_holders_of(h, w->fd_target, &first);
	int here = 0, elsewhere = 0;
	for (size_t i = 0; i < n; i++)
		if (first[i].access == O_WRONLY || first[i].access == O_RDWR) {
			if (first[i].pid == s->target->pid)
				here++;
			else
				elsewhere++;
		}
	snprintf(why, len, "%d write end%s in this process, %d elsewhere", here, here == 1 ? "" : "s", elsewhere);
	return here > 0 && elsewhere == 0;
}

static bool any_thread_running(const struct waits *ws)
{
	for (size_t i = 0; i < ws->n; i++)
		if (ws->v[i].verdict == VERDICT_RUNNING)
			return true;
	return false;
}

static void decide(struct session *s, struct waits *ws)
{
	struct fd_holders pipes = { 0 };
	find_cycles(ws);
	/* Three passes settle chains: waiting on a thread that is stuck or
	 * deadlocked is being stuck too. */
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < ws->n; i++) {
			struct thread_wait *w = &ws->v[i];
			if (w->verdict == VERDICT_DEADLOCKED || w->verdict == VERDICT_RUNNING)
				continue;
			const struct thread_wait *o = w->owner_index != NO_THREAD ? &ws->v[w->owner_index] : NULL;
			char why[120];
			if (w->owner && !o && strcmp(w->kind, "join")) {
				w->verdict = VERDICT_STUCK;
				snprintf(w->reason, sizeof(w->reason), "held by LWP %d, which has exited: nobody can release it",
					 (int)w->owner);
			} else if (o && (o->verdict == VERDICT_DEADLOCKED || o->verdict == VERDICT_STUCK)) {
				w->verdict = VERDICT_STUCK;
				snprintf(w->reason, sizeof(w->reason), "waits for thread %zu, which is %s", w->owner_index + 1,
					 verdict_name(o->verdict));
			} else if (o) {
				w->verdict = VERDICT_WAITING;
				snprintf(w->reason, sizeof(w->reason), "held by thread %zu (LWP %d), itself blocked in %s",
					 w->owner_index + 1, (int)w->owner, o->kind);
			} else if (w->object && !w->timed && pass == 0 &&
				   (!strcmp(w->kind, "condition variable") || !strcmp(w->kind, "semaphore") ||
				    !strcmp(w->kind, "barrier")) && private_to_thread(s, w)) {
				w->verdict = VERDICT_STUCK;
				snprintf(w->reason, sizeof(w->reason),
					 "no other thread and no global can reach the %s: nothing can ever wake it", w->kind);
			} else if (pass == 0 && pipe_writers_only_here(s, w, &pipes, why, sizeof(why)) && !any_thread_running(ws)) {
				w->verdict = VERDICT_STUCK;
				snprintf(w->reason, sizeof(w->reason),
					 "its pipe's only writer is this process (%s) and no thread of it is running", why);
			} else if (w->verdict != VERDICT_STUCK) {
				w->verdict = VERDICT_PARKED;
				if (w->wakeups >= 2)
					snprintf(w->reason, sizeof(w->reason),
						 "a periodic sleeper: woke %ld times in %.3g s of watching (a ticker?)", w->wakeups,
						 ws->sampled_seconds);
				else if (w->sleep_seconds >= 0 && w->sleep_seconds <= 1.0)
					snprintf(w->reason, sizeof(w->reason), "a periodic sleeper: wakes every %.3g s (a ticker?)",
						 w->sleep_seconds);
			}
		}
	proc_fd_holders_free(&pipes);
}

static void collect_desc(void *ctx, const struct strand_thread_desc *d)
{
	struct waits *ws = ctx;
	ws->descs = xrealloc(ws->descs, (size_t)(ws->ndescs + 1) * sizeof(*ws->descs));
	ws->descs[ws->ndescs++] = *d;
}

/* How often each thread went back to sleep while watched: its wakeups. */
static long *sample_wakeups(struct session *s, double seconds, double *watched)
{
	const struct target *t = s->target;
	long *sleeps = xcalloc(t->nthreads ? t->nthreads : 1, sizeof(long));
	for (size_t i = 0; i < t->nthreads; i++)
		sleeps[i] = proc_thread_sleeps(t->pid, t->threads[i].tid);
	double start = now_seconds();
	while (now_seconds() - start < seconds && !session_interrupted())
		usleep(20 * 1000);
	*watched = now_seconds() - start;
	for (size_t i = 0; i < t->nthreads; i++) {
		long after = proc_thread_sleeps(t->pid, t->threads[i].tid);
		sleeps[i] = sleeps[i] >= 0 && after >= 0 ? after - sleeps[i] : -1;
	}
	return sleeps;
}

int waits_build(struct session *s, struct waits *ws, double sample_seconds)
{
	memset(ws, 0, sizeof(*ws));
	const struct loaded_plugin *rt = plugin_runtime(s);
	ws->runtime_found = rt != NULL;
	ws->n = s->target->nthreads;
	ws->v = xcalloc(ws->n ? ws->n : 1, sizeof(*ws->v));
	long *wakeups = NULL;
	if (sample_seconds > 0 && s->target->kind == TARGET_LIVE)
		wakeups = sample_wakeups(s, sample_seconds, &ws->sampled_seconds);
	for (size_t i = 0; i < ws->n && !session_interrupted(); i++) {
		build_one(s, &ws->v[i], i);
		if (wakeups)
			ws->v[i].wakeups = wakeups[i];
	}
	free(wakeups);
	decide(s, ws);
	ws->ndescs = -1;
	if (rt) {
		ws->ndescs = 0;
		if (rt->p->runtime->threads(plugin_host(s), collect_desc, ws) < 0)
			ws->ndescs = -1;
	}
	return 0;
}

void waits_free(struct waits *ws)
{
	free(ws->v);
	free(ws->descs);
	memset(ws, 0, sizeof(*ws));
}
