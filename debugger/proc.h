/* Readers for /proc/PID/...: tasks, thread names and states, the system call a
 * thread is blocked in. None of these need ptrace, so they also serve --no-stop. */
#ifndef STRAND_PROC_H
#define STRAND_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The tids of /proc/PID/task, sorted. Returns the count, or -1 (errno set). */
int proc_tasks(pid_t pid, pid_t **tids);

/* One field of /proc/PID/status ("TracerPid", "State", "Uid", ...) into buf. */
bool proc_status_field(pid_t pid, const char *field, char *buf, size_t len);

/* State letter and name of a thread; '?' and "" when it is gone. */
char proc_thread_state(pid_t pid, pid_t tid);
void proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t len);
/* The kernel flags word of /proc/PID/stat (PF_KTHREAD = 0x00200000). */
bool proc_flags(pid_t pid, unsigned long *flags);

/* /proc/PID/task/TID/syscall. */
struct proc_syscall {
	bool valid;    /* the file could be read */
	bool running;  /* "running": on a CPU, nothing else known */
	long nr;       /* -1 when blocked outside a system call */
	uint64_t args[6];
	uint64_t sp, pc;
};
bool proc_syscall(pid_t pid, pid_t tid, struct proc_syscall *out);

/* Seconds since the thread last ran (from se.exec_start and /proc/uptime), or -1. */
double proc_thread_idle_seconds(pid_t pid, pid_t tid);

/* How many times the thread has gone to sleep (voluntary context switches):
 * two readings apart tell how often it woke in between. -1 when it is gone. */
long proc_thread_sleeps(pid_t pid, pid_t tid);

#endif
