#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "proc.h"
#include "base/util.h"

/* How strand knows that a process ends, from the kernel's rules (ptrace(2)
 * "Death under ptrace"; kernel/exit.c and kernel/signal.c):
 *
 * - A thread that ends stops at PTRACE_EVENT_EXIT first, unless a SIGKILL is
 *   pending on it at that moment; a SIGKILL also wakes a thread held there.
 *   Then it stays a zombie until strand reaps it (WIFEXITED or WIFSIGNALED
 *   under __WALL). The leader's death is reported only once every other
 *   thread is reaped, so it comes last, or never when a thread execs.
 * - exit_group and a fatal signal mark the process as exiting and queue a
 *   SIGKILL on every other thread. A thread that takes it stops at its exit
 *   (taking it dequeued it) with the group's status as the event message.
 *   From then on the process takes no signal (the kernel drops them, but a
 *   SIGKILL while a core is dumped, before any thread stops at its exit), so
 *   nothing wakes a thread strand holds at its exit, and no thread can be
 *   created (clone fails with the SIGKILL pending; a clone that got through
 *   before may lose its event, but the new thread stops before it runs any
 *   code). A thread that was already inside exit() when the SIGKILL came dies
 *   without stopping, or is woken from its stop: it only reports its death.
 * - execve in a multithreaded process kills the other threads the same way,
 *   with status 0, and waits until they are reaped: holding them would hang it.
 *
 * So at an exit stop, the system call the thread entered the kernel with
 * (orig_rax, fixed while it is stopped) and the event message tell what
 * happens, without reading /proc:
 * - exit: one thread ends (pthread_exit) and the process goes on, unless no
 *   other thread is left that could still run: then it is the process's end;
 * - exit_group: the process ends;
 * - anything else: the thread was killed. A nonzero status (a signal number
 *   or an exit code) means the process ends. Status 0 is exit_group(0) or an
 *   execve: the thread is held until the caller of exit_group stops (it
 *   always does, nothing kills it), or /proc shows a thread in execve.
 * Reading the other threads' /proc flags (PF_SIGNALED) and pending signals
 * instead is a guess: they change between two reads, a thread created by a
 * lost clone event is not among them, and it costs two opens per thread at
 * every exit.
 *
 * The process is inspected once, when it is known to end and no thread that
 * may still run is left: each is held at its exit, let go past it, or dead.
 * If no thread of it reports for STALL_SECONDS meanwhile (a thread stuck in
 * the kernel), strand inspects what it holds and names the threads missing. */

#define STALL_SECONDS 3.0
#define TICK_MS 50

enum tracee_state {
	T_FRESH,   /* auto-attached, its first stop not seen yet */
	T_RUNNING, /* may run the program's code: will stop at its exit or die */
	T_HELD,    /* held at PTRACE_EVENT_EXIT */
	T_EXITING, /* past its exit stop: only its death is still to come */
};

struct tracee {
	pid_t tid;  /* 0: a free slot */
	pid_t tgid; /* 0: not known yet (it reported before its creator's event) */
	enum tracee_state state;
	bool named; /* its creator's clone or fork event was seen */
};

/* Tracees by tid: open addressing with linear probing; cap is a power of two
 * at least twice n. Programs start thousands of threads: a list searched at
 * every event would cost more than the event. */
struct tracees {
	struct tracee *slot;
	size_t cap, n;
};

enum group_state {
	G_RUNNING, /* no sign of an end (threads held with status 0 wait for one) */
	G_ENDING,  /* the process ends: every thread stops at its exit or dies */
	G_EXEC,    /* a thread is in execve: let the others die */
	G_DONE,    /* inspected: nothing more is held */
};

struct group {
	pid_t tgid;
	enum group_state state;
	bool inspect;       /* the main process, or any process with --follow-fork */
	long members, live, held; /* tracees; FRESH or RUNNING; HELD */
	double last_report; /* when one of its threads last reported */
};

struct run {
	const struct run_opts *o;
	struct tracees t;
	struct group *groups;
	size_t ngroups, groups_cap;
	long unknown; /* tracees whose process is not known yet */
	/* Tracees gone before their creator's event named them: the event,
	 * when it comes, must not add them again. */
	pid_t *unnamed_gone;
	size_t nunnamed_gone, unnamed_gone_cap;
	pid_t main_pid;
	int main_status;
	bool main_done;
};

static size_t home(const struct tracees *v, pid_t tid)
{
	return ((uint32_t)tid * 2654435761u) & (v->cap - 1);
}

static struct tracee *find(struct tracees *v, pid_t tid)
{
	if (!v->cap)
		return NULL;
	for (size_t i = home(v, tid);; i = (i + 1) & (v->cap - 1)) {
		if (v->slot[i].tid == tid)
			return &v->slot[i];
		if (!v->slot[i].tid)
			return NULL;
	}
}

static void place(struct tracees *v, struct tracee t)
{
	size_t i = home(v, t.tid);
	while (v->slot[i].tid)
		i = (i + 1) & (v->cap - 1);
	v->slot[i] = t;
}

/* Moves entries: pointers into the table are stale after an insert. */
static void insert(struct tracees *v, struct tracee t)
{
	if (2 * (v->n + 1) > v->cap) {
		struct tracees grown = { xcalloc(v->cap ? 2 * v->cap : 64, sizeof(*grown.slot)),
					 v->cap ? 2 * v->cap : 64, v->n };
		for (size_t i = 0; i < v->cap; i++)
			if (v->slot[i].tid)
				place(&grown, v->slot[i]);
		free(v->slot);
		*v = grown;
	}
	place(v, t);
	v->n++;
}

/* Backward-shift deletion: entries after the hole move into it when their
 * home slot allows, so a probe never stops early. */
static void erase(struct tracees *v, struct tracee *t)
{
	size_t mask = v->cap - 1, hole = (size_t)(t - v->slot);
	for (size_t j = (hole + 1) & mask; v->slot[j].tid; j = (j + 1) & mask)
		if (((j - home(v, v->slot[j].tid)) & mask) >= ((j - hole) & mask)) {
			v->slot[hole] = v->slot[j];
			hole = j;
		}
	v->slot[hole].tid = 0;
	v->n--;
}

static struct group *find_group(struct run *r, pid_t tgid)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (r->groups[i].tgid == tgid)
			return &r->groups[i];
	return NULL;
}

static struct group *group_of(struct run *r, pid_t tgid)
{
	struct group *g = find_group(r, tgid);
	if (g)
		return g;
	GROW(r->groups, r->groups_cap, r->ngroups + 1);
	g = &r->groups[r->ngroups++];
	*g = (struct group){ .tgid = tgid, .inspect = tgid == r->main_pid || r->o->follow_fork,
			     .last_report = now_seconds() };
	return g;
}

/* A process whose threads are all gone is forgotten, unless a thread not yet
 * placed might still be one of its own (it must find the process inspected). */
static void forget_if_gone(struct run *r, pid_t tgid)
{
	struct group *g = find_group(r, tgid);
	if (!g || g->members || r->unknown)
		return;
	*g = r->groups[--r->ngroups];
}

/* Adds (d = 1) or removes (d = -1) a tracee from its process's counts. */
static void account(struct run *r, const struct tracee *t, int d)
{
	if (!t->tgid) {
		r->unknown += d;
		return;
	}
	struct group *g = group_of(r, t->tgid);
	g->members += d;
	if (t->state == T_FRESH || t->state == T_RUNNING)
		g->live += d;
	else if (t->state == T_HELD)
		g->held += d;
}

static void set_state(struct run *r, struct tracee *t, enum tracee_state s)
{
	account(r, t, -1);
	t->state = s;
	account(r, t, 1);
}

static void set_tgid(struct run *r, struct tracee *t, pid_t tgid)
{
	account(r, t, -1);
	t->tgid = tgid;
	account(r, t, 1);
}

static void add(struct run *r, pid_t tid, pid_t tgid, enum tracee_state s, bool named)
{
	struct tracee t = { tid, tgid, s, named };
	insert(&r->t, t);
	account(r, &t, 1);
}

static void remove_tracee(struct run *r, struct tracee *t)
{
	if (!t->named) {
		GROW(r->unnamed_gone, r->unnamed_gone_cap, r->nunnamed_gone + 1);
		r->unnamed_gone[r->nunnamed_gone++] = t->tid;
	}
	account(r, t, -1);
	erase(&r->t, t);
}

/* The process of a tracee that reported before its creator's event: /proc,
 * read only when that matters (at an exit). A thread not reaped yet is still
 * there, a zombie at worst. */
static void resolve(struct run *r, struct tracee *t)
{
	char tgid[16];
	long v;
	if (proc_status_field(t->tid, "Tgid", tgid, sizeof(tgid)) && parse_int(tgid, &v) && v > 0)
		set_tgid(r, t, (pid_t)v);
	else
		set_tgid(r, t, t->tid);
}

static void resolve_all(struct run *r)
{
	for (size_t i = 0; r->unknown && i < r->t.cap; i++)
		if (r->t.slot[i].tid && !r->t.slot[i].tgid)
			resolve(r, &r->t.slot[i]);
}

/* The child: wait until the parent has seized it (the go pipe closes), then
 * become the program. An exec failure is reported to the parent through a
 * close-on-exec pipe. No signal is involved, so nothing can stop the wrong
 * process. */
static void child(char **argv, int go_fd, int err_fd)
{
	char c;
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	execvp(argv[0], argv);
	int e = errno;
	if (write(err_fd, &e, sizeof(e)) != sizeof(e))
		_exit(127);
	_exit(127);
}

static int start(struct run *r)
{
	const char *prog = r->o->argv[0];
	int err[2], go[2];
	if (pipe2(err, O_CLOEXEC) < 0)
		return error_set("cannot run %s: %s", prog, strerror(errno));
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(err[0]);
		close(err[1]);
		return error_set("cannot run %s: %s", prog, strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0)
		return error_set("cannot run %s: %s", prog, strerror(errno));
	if (pid == 0) {
		close(go[1]);
		child(r->o->argv, go[0], err[1]);
	}
	close(err[1]);
	close(go[0]);
	long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC;
	if (r->o->follow_fork)
		opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	int seized = ptrace(PTRACE_SEIZE, pid, 0, (void *)opts);
	int seize_errno = errno;
	close(go[1]); /* let the child go on: to exec, or to _exit if not seized */
	if (seized < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(err[0]);
		return error_set("cannot trace %s: %s", prog, strerror(seize_errno));
	}
	r->main_pid = pid;
	if (r->o->started)
		*r->o->started = pid;
	add(r, pid, pid, T_RUNNING, true);
	/* The pipe closes when exec succeeds (close-on-exec, before the exec event). */
	int e;
	ssize_t n;
	while ((n = read(err[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(err[0]);
	if (n == sizeof(e))
		return error_set("cannot run %s: %s", prog, strerror(e));
	return 0;
}

/* The held threads of g, the only ones inspected; they are detached after. */
static size_t held_tids(struct run *r, const struct group *g, pid_t **out)
{
	pid_t *tids = xmalloc(((size_t)g->held + 1) * sizeof(*tids));
	size_t n = 0;
	for (size_t i = 0; i < r->t.cap; i++)
		if (r->t.slot[i].tid && r->t.slot[i].tgid == g->tgid && r->t.slot[i].state == T_HELD)
			tids[n++] = r->t.slot[i].tid;
	*out = tids;
	return n;
}

/* The pid to inspect the process by: its own, unless its leader already
 * ended (main called pthread_exit) and is a zombie without memory or maps;
 * then a thread it holds, which /proc and process_vm_readv accept as well. */
static pid_t reachable_pid(pid_t tgid, const pid_t *tids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tids[i] == tgid)
			return tgid;
	return tids[0];
}

/* g ends and every thread of it that is still there is held: inspect, then
 * let them all go. */
static void final_state(struct run *r, struct group *g)
{
	pid_t tgid = g->tgid, *tids;
	size_t n = held_tids(r, g, &tids);
	struct target *t = n ? live_adopt(reachable_pid(tgid, tids, n), tids, n) : NULL;
	if (t) {
		r->o->at_exit(t, r->o->arg);
		target_free(t); /* detaches: each thread finishes exiting */
	} else {
		fprintf(stderr, "strand: cannot inspect process %d at exit: %s\n", (int)tgid,
			n ? error_get() : "no thread of it could be held at its exit");
		for (size_t i = 0; i < n; i++)
			ptrace(PTRACE_DETACH, tids[i], 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		remove_tracee(r, find(&r->t, tids[i]));
	free(tids);
	g = group_of(r, tgid);
	g->state = G_DONE;
	forget_if_gone(r, tgid);
}

static bool waits_for_end(const struct group *g)
{
	return g->state == G_ENDING || (g->state == G_RUNNING && g->held);
}

/* The end, once no thread of the process is left that could still run. (A
 * process with threads killed with status 0 and no thread left that could be
 * in execve ends too.) */
static void check_end(struct run *r, pid_t tgid)
{
	struct group *g = group_of(r, tgid);
	if (!waits_for_end(g) || g->live)
		return;
	resolve_all(r); /* a thread started as the process ended may be one of its own */
	g = group_of(r, tgid);
	if (!g->live)
		final_state(r, g);
}

static void let_go(struct run *r, struct tracee *t)
{
	ptrace(PTRACE_CONT, t->tid, 0, 0);
	set_state(r, t, T_EXITING);
}

enum exit_kind {
	EXIT_THREAD,  /* the thread called exit: pthread_exit */
	EXIT_PROCESS, /* exit_group, a fatal signal, or an exit code: the process ends */
	EXIT_KILLED,  /* killed with status 0: exit_group(0) elsewhere, or an execve */
	EXIT_WOKEN,   /* no longer stopped: a SIGKILL woke it from its exit stop */
};

static enum exit_kind exit_kind(pid_t tid)
{
	struct user_regs_struct regs;
	unsigned long status = 0;
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0 || ptrace(PTRACE_GETEVENTMSG, tid, 0, &status) != 0)
		return EXIT_WOKEN;
	bool compat = regs.cs == 0x23; /* a 32-bit process */
	long nr = (long)regs.orig_rax;
	if (nr == (compat ? 1 : SYS_exit))
		return EXIT_THREAD;
	if (nr == (compat ? 252 : SYS_exit_group) || status)
		return EXIT_PROCESS;
	return EXIT_KILLED;
}

/* One thread ends by exit; is it the last one that could still run? A thread
 * not placed yet may be a thread of this process. */
static bool last_thread(struct run *r, pid_t tgid)
{
	if (group_of(r, tgid)->live > 1 || group_of(r, tgid)->held)
		return false;
	resolve_all(r);
	return group_of(r, tgid)->live == 1;
}

static void on_exit_stop(struct run *r, struct tracee *t)
{
	enum exit_kind kind = exit_kind(t->tid);
	if (kind == EXIT_WOKEN) {
		set_state(r, t, T_EXITING);
		if (t->tgid)
			check_end(r, t->tgid);
		return;
	}
	/* A thread not placed yet was started by a thread whose event is still
	 * to come, which runs: this one is not the last. */
	if (kind == EXIT_THREAD && !t->tgid) {
		let_go(r, t);
		return;
	}
	if (!t->tgid)
		resolve(r, t);
	pid_t tgid = t->tgid;
	const struct group *g = group_of(r, tgid);
	bool hold;
	if (!g->inspect || g->state == G_DONE)
		hold = false;
	else if (kind == EXIT_THREAD)
		hold = g->state == G_RUNNING && last_thread(r, tgid);
	else
		hold = !(g->state == G_EXEC && kind == EXIT_KILLED);
	if (!hold) {
		let_go(r, t);
		return;
	}
	set_state(r, t, T_HELD);
	if (kind != EXIT_KILLED)
		group_of(r, tgid)->state = G_ENDING;
	check_end(r, tgid);
}

/* Does the clone the creator just made start a thread of its own process?
 * (clone without CLONE_THREAD and with an exit signal other than SIGCHLD
 * makes a process that PTRACE_O_TRACECLONE follows too.) */
static bool clone_made_thread(pid_t creator)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, creator, 0, &regs) != 0)
		return true;
	if (regs.orig_rax == SYS_clone)
		return regs.rdi & CLONE_THREAD;
	if (regs.orig_rax == SYS_clone3) {
		/* struct clone_args begins with the flags */
		errno = 0;
		long flags = ptrace(PTRACE_PEEKDATA, creator, (void *)regs.rdi, 0);
		return errno || (flags & CLONE_THREAD);
	}
	return true;
}

/* Was tid a tracee that came and went before its creator's event? (Then
 * this is that event.) */
static bool was_gone_unnamed(struct run *r, pid_t tid)
{
	for (size_t i = 0; i < r->nunnamed_gone; i++)
		if (r->unnamed_gone[i] == tid) {
			r->unnamed_gone[i] = r->unnamed_gone[--r->nunnamed_gone];
			return true;
		}
	return false;
}

static void on_new_tracee(struct run *r, struct tracee *creator, int event)
{
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, creator->tid, 0, &msg);
	pid_t tid = (pid_t)msg, tgid = tid;
	if (event == PTRACE_EVENT_CLONE && clone_made_thread(creator->tid)) {
		if (!creator->tgid)
			resolve(r, creator);
		tgid = creator->tgid;
	}
	struct tracee *t = find(&r->t, tid);
	if (t) {
		t->named = true;
		if (!t->tgid)
			set_tgid(r, t, tgid);
	} else if (!was_gone_unnamed(r, tid)) {
		if (tgid == tid)
			group_of(r, tid)->state = G_RUNNING; /* a new process, maybe with an old pid */
		add(r, tid, tgid, T_FRESH, true);
	}
}

/* The exec event comes on the leader's tid; the thread that called execve
 * had its own tid until then (the event message). The program is new. */
static void on_exec(struct run *r, struct tracee *t)
{
	pid_t tid = t->tid;
	unsigned long former = 0;
	ptrace(PTRACE_GETEVENTMSG, tid, 0, &former);
	struct tracee *old = (pid_t)former != tid ? find(&r->t, (pid_t)former) : NULL;
	if (old)
		remove_tracee(r, old);
	t = find(&r->t, tid);
	if (!t->tgid)
		set_tgid(r, t, tid);
	set_state(r, t, T_RUNNING);
	group_of(r, tid)->state = G_RUNNING;
}

static void on_stop(struct run *r, pid_t tid, int status)
{
	struct tracee *t = find(&r->t, tid);
	if (!t) {
		/* A new thread or child can report before its creator's event. */
		add(r, tid, 0, T_FRESH, false);
		t = find(&r->t, tid);
	}
	if (t->tgid)
		group_of(r, t->tgid)->last_report = now_seconds();
	int sig = WSTOPSIG(status), event = status >> 16;
	switch (event) {
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		on_new_tracee(r, t, event);
		break;
	case PTRACE_EVENT_EXEC:
		on_exec(r, t);
		break;
	case PTRACE_EVENT_EXIT:
		on_exit_stop(r, t);
		return;
	case PTRACE_EVENT_STOP:
		/* A new tracee's first stop, then real group-stops (SIGSTOP and
		 * friends), which stay stopped until SIGCONT. */
		if (t->state == T_FRESH) {
			set_state(r, t, T_RUNNING);
			break;
		}
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			ptrace(PTRACE_LISTEN, tid, 0, 0);
			return;
		}
		break;
	case 0:
		/* A signal for the program: deliver it. */
		ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig);
		return;
	default:
		break;
	}
	ptrace(PTRACE_CONT, tid, 0, 0);
}

static void on_death(struct run *r, pid_t tid, int status)
{
	if (tid == r->main_pid) {
		r->main_status = status;
		r->main_done = true;
	}
	struct tracee *t = find(&r->t, tid);
	if (!t)
		return;
	pid_t tgid = t->tgid;
	remove_tracee(r, t);
	if (!tgid)
		return;
	group_of(r, tgid)->last_report = now_seconds();
	check_end(r, tgid);
	forget_if_gone(r, tgid);
}

/* Is a thread of g (one not held) inside execve? Then the threads killed with
 * status 0 are torn down for it and must go. */
static bool in_execve(struct run *r, const struct group *g)
{
	for (size_t i = 0; i < r->t.cap; i++) {
		const struct tracee *t = &r->t.slot[i];
		struct proc_syscall sc;
		if (t->tid && t->tgid == g->tgid && t->state == T_RUNNING && proc_syscall(g->tgid, t->tid, &sc) &&
		    !sc.running && (sc.nr == SYS_execve || sc.nr == SYS_execveat))
			return true;
	}
	return false;
}

static void let_held_go(struct run *r, pid_t tgid)
{
	for (size_t i = 0; group_of(r, tgid)->held && i < r->t.cap; i++)
		if (r->t.slot[i].tid && r->t.slot[i].tgid == tgid && r->t.slot[i].state == T_HELD)
			let_go(r, &r->t.slot[i]);
}

/* Threads that did not stop at their exit, for the warning (the first few). */
static char *missing_threads(struct run *r, pid_t tgid)
{
	struct strbuf sb = STRBUF_INIT;
	int shown = 0;
	for (size_t i = 0; i < r->t.cap; i++) {
		const struct tracee *t = &r->t.slot[i];
		if (!t->tid || t->tgid != tgid || (t->state != T_RUNNING && t->state != T_FRESH))
			continue;
		if (shown++ < 5)
			sb_addf(&sb, "%s%d", shown > 1 ? ", " : "", (int)t->tid);
	}
	if (shown > 5)
		sb_addf(&sb, " and %d more", shown - 5);
	return sb_detach(&sb);
}

/* Nothing reported for a while: an execve to let through, or a thread that
 * will not stop; strand never waits forever for an end. */
static void on_quiet(struct run *r)
{
	double now = now_seconds();
	for (size_t i = 0; i < r->ngroups; i++) {
		struct group *g = &r->groups[i];
		pid_t tgid = g->tgid;
		if (g->state == G_RUNNING && g->held && in_execve(r, g)) {
			g->state = G_EXEC;
			let_held_go(r, tgid);
		} else if (waits_for_end(g) && now - g->last_report >= STALL_SECONDS) {
			char *missing = missing_threads(r, tgid);
			fprintf(stderr, "strand: process %d is ending but thread(s) %s did not stop at their exit "
				"within %.0f s; inspecting without them\n", (int)tgid, missing, STALL_SECONDS);
			free(missing);
			final_state(r, g);
		} else {
			continue;
		}
		i = (size_t)-1; /* the groups may have moved */
	}
}

static bool waiting_for_an_end(const struct run *r)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (waits_for_end(&r->groups[i]))
			return true;
	return false;
}

int run_program(const struct run_opts *o)
{
	struct run r = { .o = o };
	if (start(&r) < 0) {
		free(r.t.slot);
		free(r.groups);
		free(r.unnamed_gone);
		return -1;
	}
	/* Terminal signals belong to the program now: strand waits for its exit. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	/* Waiting for an end with a timeout: SIGCHLD (every report sends one)
	 * stays pending while blocked, so no report is missed between a poll and
	 * the wait. Blocked only now: the program must not inherit the mask. */
	sigset_t chld, saved;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &saved);
	bool timed_out = false;
	while (!r.main_done || r.t.n) {
		bool waiting = waiting_for_an_end(&r);
		int status;
		pid_t tid = waitpid(-1, &status, __WALL | (waiting ? WNOHANG : 0));
		if (tid > 0) {
			timed_out = false;
			if (WIFSTOPPED(status))
				on_stop(&r, tid, status);
			else
				on_death(&r, tid, status);
			continue;
		}
		if (tid < 0 && errno != EINTR)
			break; /* no child left */
		if (tid < 0)
			continue;
		if (timed_out)
			on_quiet(&r);
		struct timespec tick = { 0, TICK_MS * 1000000L };
		timed_out = sigtimedwait(&chld, NULL, &tick) < 0 && errno == EAGAIN;
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	free(r.t.slot);
	free(r.groups);
	free(r.unnamed_gone);
	return r.main_status;
}
