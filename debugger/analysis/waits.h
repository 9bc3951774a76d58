/* What every thread waits on and for whom: the system call, decoded by the
 * thread-runtime plugin for futexes, the wait-for graph between threads, its
 * cycles (deadlocks), and a verdict per thread. */
#ifndef STRAND_WAITS_H
#define STRAND_WAITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../plugins/strand_plugin.h"

struct session;
struct stack;

enum verdict { VERDICT_DEADLOCKED, VERDICT_STUCK, VERDICT_WAITING, VERDICT_PARKED, VERDICT_RUNNING };

#define NO_THREAD SIZE_MAX

struct thread_wait {
	size_t thread;           /* index into target->threads */
	const char *kind;        /* "mutex", "condition variable", "read", "sleep", "running", ... */
	uint64_t object;         /* the sync object, 0 if none */
	char object_name[160];   /* "g_m1", "heap block 0x55..+8", "a local of thread 3" */
	int32_t owner;           /* TID that can release it, 0 none */
	size_t owner_index;      /* that thread's index, NO_THREAD if none or gone */
	uint64_t mutex;          /* a condition variable's mutex, 0 unknown */
	char detail[160];
	int fd;                  /* the fd of an I/O wait, -1 */
	char fd_target[200];
	bool timed;              /* a wait with a timeout or a sleep */
	double sleep_seconds;    /* sleep: the requested interval, -1 unknown */
	double timeout_seconds;  /* the wait's timeout (for a deadline: what is left of it), -1 none or unknown */
	bool timeout_deadline;   /* timeout_seconds counts down to an absolute deadline */
	double deadline;         /* that deadline, seconds on deadline_clock; -1 none */
	const char *deadline_clock; /* "CLOCK_REALTIME", "CLOCK_MONOTONIC", ... */
	bool restarted;          /* the kernel restarted the call after an earlier stop (restart_syscall) */
	const char *decoded_by;  /* a futex wait: "object" or "name-guess"; NULL otherwise */
	bool outside_can_wake;   /* an event outside the process can end it (I/O, a signal, a shared futex) */
	char mutex_name[160];    /* the condition variable's mutex, named like object */
	double idle_seconds;     /* since it last ran (live), -1 unknown */
	long wakeups;            /* times it went back to sleep during --sample, -1 not sampled */
	double period_seconds;   /* how far apart its consecutive deadlines came during --sample, -1 unknown */
	enum verdict verdict;
	char reason[200];
	int cycle;               /* deadlock number (1-based), 0 none */
	char stack_key[256];     /* the innermost functions, to group identical stacks */
	char where[200];         /* the innermost frame of the program's own code: "lock_both (blocked.c:40)" */
};

struct waits {
	struct thread_wait *v;   /* one per thread */
	size_t n;
	int ncycles;
	/* No thread runs or has a timeout, and nothing outside the process can
	 * end any wait: the whole process sleeps forever (Go's "all goroutines
	 * are asleep"). Otherwise why_awake says which thread can still wake. */
	bool asleep;
	char why_awake[200];
	double sampled_seconds;  /* length of the --sample watch, 0 none */
	bool runtime_found;
	struct strand_thread_desc *descs; /* every thread descriptor, -1 count when unknown */
	long ndescs;
};

/* Every thread's wait and verdict. With sample_seconds > 0 on a live target,
 * first watch for that long how often each thread wakes (from /proc, nothing
 * is stopped or resumed for it), which finds periodic sleepers of any kind. */
int waits_build(struct session *s, struct waits *w, double sample_seconds);
/* What thread i waits on, from its stack (NULL when it has none): kind,
 * object, owner and idle time, without the verdicts (info threads). */
void waits_describe(struct session *s, size_t i, const struct stack *st, struct thread_wait *w);
void waits_free(struct waits *w);
const char *verdict_name(enum verdict v);

#endif
