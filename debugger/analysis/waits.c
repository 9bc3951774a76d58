#include "waits.h"

#include <dwarf.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "symbols/dwarf_values.h"
#include "symbols/frames.h"
#include "plugin.h"
#include "target/proc.h"
#include "reach.h"
#include "session.h"
#include "target/syscalls.h"
#include "base/util.h"

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
	/* Before the stacks: a runtime may run its threads on stacks inside its
	 * own heap (Go's arenas), so that heap shares their mapping. */
	uint64_t region;
	const char *what;
	if (plugin_heap_region(s, addr, &region, &what)) {
		snprintf(buf, len, "%s 0x%" PRIx64 "+%" PRIu64, what, region, addr - region);
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

/* The runtime's libraries: their frames are not the program's own code. */
static bool runtime_module(const char *path)
{
	static const char *const runtimes[] = { "libc.so", "libc-", "libstdc++.so", "libgcc_s.so", "ld-linux",
						"libpthread.so", "libm.so" };
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < ARRAY_SIZE(runtimes); i++)
		if (!strncmp(base, runtimes[i], strlen(runtimes[i])))
			return true;
	return false;
}

/* A frame of the program's own code: not in a runtime library, and not code
 * inlined or instantiated from the system's headers (std::mutex::lock and
 * __gthread_mutex_lock come from /usr/include even when compiled into the
 * program). */
static bool own_code(const struct logical_frame *lf)
{
	if (!lf->module || !lf->function || runtime_module(lf->module))
		return false;
	return !lf->file || (strncmp(lf->file, "/usr/include/", 13) && strncmp(lf->file, "/usr/lib/gcc/", 13));
}

/* Function names of the innermost frames, the stack key and the innermost
 * frame of the program's own code, for people. */
static size_t describe_stack(const struct stack *st, struct thread_wait *w, char **names)
{
	if (!st)
		return 0;
	size_t n = 0, key = 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct logical_frame *lf = &st->f[i];
		if (!w->where[0] && own_code(lf))
			snprintf(w->where, sizeof(w->where), "%s (%s:%d)", lf->function, lf->file ? lf->file : "?",
				 lf->line);
		if (n == MAX_FRAMES)
			continue;
		names[n++] = xstrdup(lf->function ? lf->function : "??");
		key += (size_t)snprintf(w->stack_key + key, key < sizeof(w->stack_key) ? sizeof(w->stack_key) - key : 0,
					"%s%s", i ? "<" : "", lf->function ? lf->function : "??");
		if (key >= sizeof(w->stack_key))
			key = sizeof(w->stack_key) - 1;
	}
	return n;
}

static double timespec_seconds(struct session *s, uint64_t addr)
{
	int64_t ts[2];
	if (!addr || !target_read_all(s->target, addr, ts, sizeof(ts)))
		return -1;
	return (double)ts[0] + (double)ts[1] / 1e9;
}

static const char *clock_name(clockid_t clock)
{
	static const char *const names[] = { "CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID",
					     "CLOCK_THREAD_CPUTIME_ID", "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE",
					     "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME", "CLOCK_REALTIME_ALARM",
					     "CLOCK_BOOTTIME_ALARM", "?", "CLOCK_TAI" };
	return clock >= 0 && (size_t)clock < ARRAY_SIZE(names) ? names[clock] : "?";
}

/* A wait's timeout: relative as given, or an absolute deadline on clock and
 * what is left until it (live targets only: a core's "now" is unknown). */
static void set_timeout(struct session *s, struct thread_wait *w, double seconds, bool deadline, clockid_t clock)
{
	if (seconds < 0)
		return;
	w->timed = true;
	if (deadline) {
		w->deadline = seconds;
		w->deadline_clock = clock_name(clock);
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
		snprintf(w->fd_target, sizeof(w->fd_target), "(a core records no descriptors)");
		return;
	}
	proc_fd_link(s->target->pid, fd, w->fd_target, sizeof(w->fd_target));
}

/* The call that restart_syscall resumes. A stop in a call with a timeout (a
 * timed futex wait, nanosleep, poll) makes the kernel restart it through
 * restart_syscall, keeping what it needs in the kernel; the registers still
 * hold the arguments the thread passed, and glibc's wrappers load the call's
 * number just before the syscall instruction (`mov $NR,%eax; syscall`: b8 NR
 * 0f 05), which ends at the PC. -1 when the code says nothing. */
static long restarted_call(struct session *s, const struct thread *th)
{
	uint8_t code[7];
	uint64_t pc = regs_pc(th);
	uint32_t nr;
	if (pc < sizeof(code) || !target_read_all(s->target, pc - sizeof(code), code, sizeof(code)) || code[0] != 0xb8 ||
	    code[5] != 0x0f || code[6] != 0x05)
		return -1;
	memcpy(&nr, code + 1, sizeof(nr));
	return nr < 1024 && strncmp(syscall_name(nr), "syscall_", 8) ? (long)nr : -1;
}

/* The syscall nr a thread sits in (the one restarted, for restart_syscall). */
static void classify_syscall(struct session *s, struct thread_wait *w, const struct thread *th, long nr)
{
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
	w->outside_can_wake = true; /* I/O, signals, children: until shown otherwise */
	if (name && !strcmp(name, "restart_syscall")) {
		/* Not known what was restarted, only that it had a timeout. */
		w->kind = "restarted call";
		w->timed = true;
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
			/* Until a time: what is left is no period (a loop's next deadline
			 * is unknown until it comes). */
			set_timeout(s, w, timespec_seconds(s, a[2]), true, (clockid_t)a[0]);
		} else if (!strcmp(name, "clock_nanosleep")) {
			w->sleep_seconds = timespec_seconds(s, a[2]);
		}
		io_timeout(s, w, name, a);
		w->timed |= !strcmp(w->kind, "sleep");
		return;
	}
	w->kind = name ? name : "system call";
}

/* Whether another process can wake a futex wait: only on a word it can
 * reach, in shared memory, and only with a call that is not private. */
static bool shared_futex(struct session *s, uint64_t word, uint64_t op)
{
	const struct mapping *m = target_mapping(s->target, word);
	return !(op & FUTEX_PRIVATE_FLAG) && (!m || (m->perms & MAP_SHARED_));
}

/* The arguments of the runtime's frames (libc's pthread_mutex_lock(mutex),
 * pthread_cond_wait(cond, mutex), ...) where debug info locates them: the
 * objects they were called with. The program's own frames are left out, so
 * that a parameter it calls `mutex` is never taken for libc's. */
static size_t runtime_args(struct session *s, const struct stack *st, struct strand_frame_arg *args, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; st && i < st->n && i < MAX_FRAMES && n < max; i++) {
		const struct logical_frame *lf = &st->f[i];
		if (!lf->nscopes || !lf->module || !runtime_module(lf->module))
			continue;
		struct value_frame vf = { s, &st->bt.frames[lf->phys], lf };
		Dwarf_Die fn = lf->scopes[lf->nscopes - 1], param;
		for (int r = dwarf_child(&fn, &param); r == 0 && n < max; r = dwarf_siblingof(&param, &param)) {
			const char *name = dwarf_tag(&param) == DW_TAG_formal_parameter ? dwarf_diename(&param) : NULL;
			struct value v = name ? variable_value(&vf, &param) : (struct value){ 0 };
			uint64_t value = v.bits;
			if (v.kind == VAL_NONE || (v.kind == VAL_MEMORY && !target_read_u64(s->target, v.addr, &value)))
				continue;
			args[n++] = (struct strand_frame_arg){ lf->function, name, value };
		}
	}
	return n;
}

static void decode_futex(struct session *s, const struct loaded_plugin *rt, struct thread_wait *w, size_t i,
			 const struct stack *st, char **names, size_t nnames)
{
	struct strand_thread_info ti;
	struct strand_frame_arg args[32];
	plugin_thread_info(s, i, &ti);
	ti.syscall = SYS_futex; /* also when restart_syscall resumes it */
	ti.frames = (const char *const *)names;
	ti.nframes = nnames;
	ti.args = args;
	ti.nargs = runtime_args(s, st, args, ARRAY_SIZE(args));
	w->outside_can_wake = shared_futex(s, ti.syscall_args[0], ti.syscall_args[1]);
	struct strand_wait sw;
	if (!rt || !rt->p->runtime->decode_wait(plugin_host(s), &ti, &sw)) {
		w->kind = "futex";
		w->object = ti.syscall_args[0];
		return;
	}
	w->decoded_by = sw.decoded_by == STRAND_DECODED_NAME_GUESS ? "name-guess"
			: sw.decoded_by == STRAND_DECODED_ARGUMENT ? "argument"
								   : "object";
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
	w->sleep_seconds = w->idle_seconds = w->timeout_seconds = w->deadline = w->period_seconds = -1;
	w->wakeups = -1;
	size_t n = describe_stack(st, w, names);
	w->verdict = VERDICT_PARKED;
	w->idle_seconds = th->idle_seconds;
	if (s->target->kind == TARGET_LIVE && !s->target->stopped)
		w->idle_seconds = proc_thread_idle_seconds(s->target->pid, th->tid);
	long nr = th->syscall;
	if (nr == SYS_restart_syscall) {
		w->restarted = true;
		long restarted = restarted_call(s, th);
		nr = restarted >= 0 ? restarted : nr;
	}
	if (nr < 0) {
		w->kind = "running";
		w->verdict = VERDICT_RUNNING;
	} else if (nr == SYS_futex) {
		decode_futex(s, rt, w, i, st, names, n);
	} else {
		classify_syscall(s, w, th, nr);
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

/* Go's "all goroutines are asleep - deadlock!": when no thread runs, none
 * has a timeout and none waits for anything from outside the process (I/O,
 * a signal, a child, a futex in shared memory), nothing can ever wake any of
 * them, whether or not the objects record an owner (semaphores, condition
 * variables, Python's locks). A signal handler aside. */
static void whole_process(struct waits *ws)
{
	for (size_t i = 0; i < ws->n; i++) {
		const struct thread_wait *w = &ws->v[i];
		const char *why = NULL;
		if (w->verdict == VERDICT_DEADLOCKED || w->verdict == VERDICT_STUCK)
			continue;
		if (w->verdict == VERDICT_RUNNING)
			why = "is running";
		else if (w->wakeups > 0)
			why = "woke while watched";
		else if (w->timed)
			why = "has a timeout";
		else if (w->outside_can_wake)
			why = "waits for something from outside the process";
		if (why) {
			snprintf(ws->why_awake, sizeof(ws->why_awake), "thread %zu %s (%s)", i + 1, why, w->kind);
			return;
		}
	}
	if (!ws->n || session_interrupted())
		return;
	ws->asleep = true;
	for (size_t i = 0; i < ws->n; i++) {
		struct thread_wait *w = &ws->v[i];
		if (w->verdict != VERDICT_PARKED && w->verdict != VERDICT_WAITING)
			continue;
		w->verdict = VERDICT_STUCK;
		if (!w->owner && w->object && strcmp(w->kind, "join"))
			snprintf(w->reason, sizeof(w->reason),
				 "the whole process is asleep and nothing outside it can wake it; the %s records no owner",
				 w->kind);
		else
			snprintf(w->reason, sizeof(w->reason),
				 "the whole process is asleep and nothing outside it can wake it");
	}
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
				if (w->wakeups >= 2 && w->period_seconds > 0)
					snprintf(w->reason, sizeof(w->reason),
						 "a periodic sleeper: woke %ld times in %.3g s of watching, to deadlines %.4g s "
						 "apart", w->wakeups, ws->sampled_seconds, w->period_seconds);
				else if (w->wakeups >= 2)
					snprintf(w->reason, sizeof(w->reason),
						 "a periodic sleeper: woke %ld times in %.3g s of watching (a ticker?)", w->wakeups,
						 ws->sampled_seconds);
				else if (w->period_seconds > 0)
					snprintf(w->reason, sizeof(w->reason),
						 "a periodic sleeper: its deadlines came %.4g s apart while watched",
						 w->period_seconds);
				else if (w->sleep_seconds >= 0 && w->sleep_seconds <= 1.0)
					snprintf(w->reason, sizeof(w->reason), "a periodic sleeper: wakes every %.3g s (a ticker?)",
						 w->sleep_seconds);
			}
		}
	proc_fd_holders_free(&pipes);
	whole_process(ws);
}

static void collect_desc(void *ctx, const struct strand_thread_desc *d)
{
	struct waits *ws = ctx;
	ws->descs = xrealloc(ws->descs, (size_t)(ws->ndescs + 1) * sizeof(*ws->descs));
	ws->descs[ws->ndescs++] = *d;
}

/* What a thread saw while watched: how often it went back to sleep, and the
 * absolute deadlines it slept to, in the order they came. */
struct watch {
	long sleeps;
	uint64_t deadline_ns, first_ns; /* the last and first deadline seen, 0 none */
	long deadlines;                 /* distinct deadlines seen */
};

/* The absolute deadline a thread sleeps to now (clock_nanosleep with
 * TIMER_ABSTIME, a futex wait on a deadline), in ns on its clock; 0 none. */
static uint64_t current_deadline(struct session *s, pid_t tid)
{
	struct proc_syscall sc;
	if (!proc_syscall(s->target->pid, tid, &sc) || sc.running || sc.nr < 0)
		return 0;
	uint64_t at = 0;
	int cmd = (int)(sc.args[1] & FUTEX_CMD_MASK);
	if (sc.nr == SYS_clock_nanosleep && (sc.args[1] & TIMER_ABSTIME))
		at = sc.args[2];
	else if (sc.nr == SYS_futex && (cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_LOCK_PI))
		at = sc.args[3];
	int64_t ts[2]; /* read past the cache: the thread runs */
	if (!at || s->target->ops->read(s->target, at, ts, sizeof(ts)) != sizeof(ts) || ts[0] < 0 || ts[1] < 0)
		return 0;
	return (uint64_t)ts[0] * 1000000000u + (uint64_t)ts[1];
}

/* Watch the threads for that long without stopping them: their wakeups
 * (voluntary context switches) and the deadlines they sleep to, read every
 * 20 ms: consecutive deadlines give a timer loop's period. */
static struct watch *watch_threads(struct session *s, double seconds, double *watched)
{
	struct target *t = s->target;
	struct watch *v = xcalloc(t->nthreads ? t->nthreads : 1, sizeof(*v));
	for (size_t i = 0; i < t->nthreads; i++)
		v[i].sleeps = proc_thread_sleeps(t->pid, t->threads[i].tid);
	double start = now_seconds();
	do {
		for (size_t i = 0; i < t->nthreads; i++) {
			uint64_t d = current_deadline(s, t->threads[i].tid);
			if (!d || d == v[i].deadline_ns)
				continue;
			if (!v[i].deadlines++)
				v[i].first_ns = d;
			v[i].deadline_ns = d;
		}
		usleep(20 * 1000);
	} while (now_seconds() - start < seconds && !session_interrupted());
	*watched = now_seconds() - start;
	target_invalidate(s->target);
	for (size_t i = 0; i < t->nthreads; i++) {
		long after = proc_thread_sleeps(t->pid, t->threads[i].tid);
		v[i].sleeps = v[i].sleeps >= 0 && after >= 0 ? after - v[i].sleeps : -1;
	}
	return v;
}

int waits_build(struct session *s, struct waits *ws, double sample_seconds)
{
	memset(ws, 0, sizeof(*ws));
	const struct loaded_plugin *rt = plugin_runtime(s);
	ws->runtime_found = rt != NULL;
	ws->n = s->target->nthreads;
	ws->v = xcalloc(ws->n ? ws->n : 1, sizeof(*ws->v));
	struct watch *watched = NULL;
	if (sample_seconds > 0 && s->target->kind == TARGET_LIVE)
		watched = watch_threads(s, sample_seconds, &ws->sampled_seconds);
	for (size_t i = 0; i < ws->n && !session_interrupted(); i++) {
		build_one(s, &ws->v[i], i);
		if (!watched)
			continue;
		ws->v[i].wakeups = watched[i].sleeps;
		if (watched[i].deadlines >= 2 && watched[i].deadline_ns > watched[i].first_ns)
			ws->v[i].period_seconds = (double)(watched[i].deadline_ns - watched[i].first_ns) / 1e9 /
						  (double)(watched[i].deadlines - 1);
	}
	free(watched);
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
