#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "proc.h"
#include "util.h"

#define PF_SIGNALED 0x400UL /* dying of a signal (a thread that took its SIGKILL) */

struct tracee {
	pid_t tid, tgid;
	bool at_exit;   /* held at PTRACE_EVENT_EXIT */
	bool fresh;     /* auto-attached, its first (SIGSTOP) stop not seen yet */
};

struct run {
	const struct run_opts *o;
	struct tracee *v;
	size_t n, cap;
	pid_t main_pid;
	int main_status;
	bool main_done;
};

static struct tracee *find(struct run *r, pid_t tid)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].tid == tid)
			return &r->v[i];
	return NULL;
}

static void add(struct run *r, pid_t tid, pid_t tgid, bool fresh)
{
	if (find(r, tid))
		return;
	GROW(r->v, r->cap, r->n + 1);
	r->v[r->n++] = (struct tracee){ tid, tgid, false, fresh };
}

static void drop(struct run *r, pid_t tid)
{
	struct tracee *t = find(r, tid);
	if (t)
		*t = r->v[--r->n];
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
	add(r, pid, pid, false);
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

/* Is the whole process going away (exit_group, a fatal signal), rather than
 * one thread calling pthread_exit? The kernel queues SIGKILL on every other
 * thread; one that already took it is marked PF_SIGNALED. (PF_EXITING would
 * not do: an ordinary thread exit sets it too.) */
static bool group_exiting(struct run *r, const struct tracee *t)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct tracee *o = &r->v[i];
		if (o->tgid != t->tgid || o->tid == t->tid)
			continue;
		if (o->at_exit)
			return true;
		char pending[32];
		unsigned long flags = 0;
		char *text = read_procf(NULL, "/proc/%d/task/%d/stat", (int)o->tgid, (int)o->tid);
		char *rest = text ? strrchr(text, ')') : NULL;
		if (rest)
			sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags);
		free(text);
		if (flags & PF_SIGNALED)
			return true;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)o->tgid, (int)o->tid);
		char *status = read_file(path, NULL);
		char *sigpnd = status ? strstr(status, "SigPnd:") : NULL;
		bool kill_pending = sigpnd && sscanf(sigpnd, "SigPnd: %31s", pending) == 1 &&
				    (strtoull(pending, NULL, 16) & (1ull << (SIGKILL - 1)));
		free(status);
		if (kill_pending)
			return true;
	}
	return false;
}

static bool all_at_exit(struct run *r, pid_t tgid)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].tgid == tgid && !r->v[i].at_exit)
			return false;
	return true;
}

/* Every thread of tgid is held at its exit: inspect, then let them all go. */
static void final_state(struct run *r, pid_t tgid)
{
	pid_t *tids = xmalloc(r->n * sizeof(*tids));
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].tgid == tgid)
			tids[n++] = r->v[i].tid;
	struct target *t = live_adopt(tgid, tids, n);
	if (t) {
		r->o->at_exit(t, r->o->arg);
		target_free(t); /* detaches: each thread finishes exiting */
	} else {
		fprintf(stderr, "strand: cannot inspect process %d at exit: %s\n", (int)tgid, error_get());
		for (size_t i = 0; i < n; i++)
			ptrace(PTRACE_DETACH, tids[i], 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		drop(r, tids[i]);
	free(tids);
}

static void on_exit_event(struct run *r, struct tracee *t)
{
	t->at_exit = true;
	if (all_at_exit(r, t->tgid))
		final_state(r, t->tgid);
	else if (!group_exiting(r, t)) {
		/* One thread ends; the process goes on. Forget it now: its death
		 * may be reported after the last thread's exit event. */
		ptrace(PTRACE_CONT, t->tid, 0, 0);
		drop(r, t->tid);
	}
}

static void on_stop(struct run *r, pid_t tid, int status)
{
	struct tracee *t = find(r, tid);
	int sig = WSTOPSIG(status), event = status >> 16;
	unsigned long msg = 0;
	if (!t) {
		/* A new thread or child can report before its creator's event. */
		add(r, tid, (pid_t)tid, true);
		t = find(r, tid);
		char tgid[16];
		if (proc_status_field(tid, "Tgid", tgid, sizeof(tgid)))
			t->tgid = (pid_t)atoi(tgid);
	}
	switch (event) {
	case PTRACE_EVENT_CLONE:
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		add(r, (pid_t)msg, t->tgid, true);
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
		add(r, (pid_t)msg, (pid_t)msg, true);
		break;
	case PTRACE_EVENT_EXIT:
		on_exit_event(r, t);
		return;
	case PTRACE_EVENT_STOP:
		/* A new tracee's first stop, then real group-stops (SIGSTOP and
		 * friends), which stay stopped until SIGCONT. */
		if (t->fresh) {
			t->fresh = false;
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

int run_program(const struct run_opts *o)
{
	struct run r = { .o = o };
	if (start(&r) < 0) {
		free(r.v);
		return -1;
	}
	/* Terminal signals belong to the program now: strand waits for its exit. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (!r.main_done || r.n) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (WIFSTOPPED(status)) {
			on_stop(&r, tid, status);
			continue;
		}
		drop(&r, tid);
		if (tid == r.main_pid) {
			r.main_status = status;
			r.main_done = true;
		}
	}
	free(r.v);
	return r.main_status;
}
