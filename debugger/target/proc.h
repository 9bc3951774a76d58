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

/* Every pipe and socket descriptor of every process we may look at, to say
 * who holds the other end of a pipe or a unix socket. */
struct fd_holder {
	char link[40];   /* "pipe:[123]", "socket:[456]" */
	pid_t pid;
	int fd;
	int access;      /* O_RDONLY, O_WRONLY or O_RDWR (pipes; -1 unknown) */
	char comm[16];
};
struct fd_holders {
	struct fd_holder *v; /* sorted by link */
	size_t n;
};
void proc_fd_holders_scan(struct fd_holders *h);
/* O_RDONLY, O_WRONLY or O_RDWR of a descriptor (from fdinfo), -1 unknown. */
int proc_fd_access(pid_t pid, int fd);
/* What a descriptor refers to ("pipe:[123]", "/var/log/x"), into buf (empty
 * when it cannot be read). */
void proc_fd_link(pid_t pid, int fd, char *buf, size_t len);
/* The file status flags of a descriptor (fdinfo "flags:": access mode,
 * O_NONBLOCK, ...), -1 unknown. */
long proc_fd_flags(pid_t pid, int fd);
/* The epoll descriptor of pid whose interest list holds fd (its fdinfo "tfd:"
 * lines), -1 none. An event loop's self-pipe is such a descriptor. */
int proc_epoll_watching(pid_t pid, int fd);
/* The holders of link: *first and the count. */
size_t proc_fd_holders_of(const struct fd_holders *h, const char *link, const struct fd_holder **first);
void proc_fd_holders_free(struct fd_holders *h);

/* Unix sockets of strand's network namespace, from sock_diag: inode, peer
 * inode (0 none) and bound path ("" none, "@name" abstract). */
struct unix_socket {
	unsigned long inode, peer;
	char path[108];
};
/* Returns the count (sorted by inode), or -1 when sock_diag is unavailable. */
long unix_sockets_dump(struct unix_socket **out);
/* The socket with that inode in a dump, or NULL. */
const struct unix_socket *unix_socket_find(const struct unix_socket *v, long n, unsigned long inode);

/* TCP and UDP sockets (IPv4 and IPv6) of strand's network namespace, from
 * sock_diag: what /proc/net/tcp6 does not say and ss shows. */
struct inet_socket {
	unsigned long inode;
	unsigned ifindex; /* the device it is bound to (SO_BINDTODEVICE, a scope id), 0 none */
	bool v6only;      /* IPv6 only: [::] then accepts no IPv4 (ss prints "*" when it does) */
};
/* Returns the count (sorted by inode), or -1 when sock_diag is unavailable. */
long inet_sockets_dump(struct inet_socket **out);
/* The socket with that inode in a dump, or NULL. */
const struct inet_socket *inet_socket_find(const struct inet_socket *v, long n, unsigned long inode);

#endif
