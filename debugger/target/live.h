/* The live target: a running process, stopped with PTRACE_SEIZE +
 * PTRACE_INTERRUPT (no SIGSTOP is ever injected) or, with --no-stop, inspected
 * through /proc and process_vm_readv without stopping anything. */
#ifndef STRAND_LIVE_H
#define STRAND_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "target.h"

struct attach_opts {
	bool no_stop;
	double stop_timeout;  /* seconds to wait for each thread to stop; 0: default */
	/* Called with one line for each warning before and during attach. */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

/* Attach to pid. NULL with error_set() on failure; nothing stays traced then. */
struct target *live_attach(pid_t pid, const struct attach_opts *opts);

/* Detach from every traced thread using only async-signal-safe calls: for the
 * handlers of fatal signals and termination requests. */
void live_emergency_detach(void);

/* System calls the kernel does not restart after a ptrace stop (signal(7)):
 * the thread sees EINTR. fd_kind is the /proc/PID/fd link of the first argument
 * for read(2), to spot inotify descriptors. */
bool syscall_returns_eintr_on_stop(long nr, const char *fd_link);

/* Bytes of [addr, addr+len) resident in RAM, from /proc/PID/pagemap (not the
 * shared zero page); -1 unknown, or not a live target. */
int64_t live_resident_bytes(struct target *t, uint64_t addr, uint64_t len);

/* A target over threads the caller already holds in ptrace-stops (strand run,
 * at the program's exit). Detaching lets them go on. */
struct target *live_adopt(pid_t pid, const pid_t *tids, size_t n);

#endif
