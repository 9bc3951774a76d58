/* strand run: start a program under ptrace, let it run at full speed (strand
 * does nothing but pass signals on), stop it as it exits — every thread held
 * at PTRACE_EVENT_EXIT while memory is still intact — hand that final state
 * to a callback, then let it finish exiting with its own status. */
#ifndef STRAND_RUN_H
#define STRAND_RUN_H

#include <stdbool.h>

#include "target.h"

struct run_opts {
	char **argv;        /* program and arguments, NULL-terminated */
	bool follow_fork;   /* also trace fork children and inspect each at its exit */
	/* Called once per traced process at its final state; t is a stopped live
	 * target that the callback may inspect and must not free. */
	void (*at_exit)(struct target *t, void *arg);
	void *arg;
	pid_t *started;     /* if set, receives the program's pid */
};

/* Returns the program's wait status (as from waitpid), or -1 with error_set()
 * when it could not be started. */
int run_program(const struct run_opts *o);

#endif
