#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

int proc_tasks(pid_t pid, pid_t **tids)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	pid_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long tid;
		if (e->d_name[0] == '.' || !parse_int(e->d_name, &tid))
			continue;
		GROW(v, cap, n + 1);
		v[n++] = (pid_t)tid;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_pid);
	*tids = v;
	return (int)n;
}

bool proc_status_field(pid_t pid, const char *field, char *buf, size_t len)
{
	char *text = read_procf(NULL, "/proc/%d/status", (int)pid);
	if (!text)
		return false;
	size_t flen = strlen(field);
	bool found = false;
	for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, field, flen) || line[flen] != ':')
			continue;
		const char *v = line + flen + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t n = strcspn(v, "\n");
		if (n >= len)
			n = len - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
		found = true;
		break;
	}
	free(text);
	return found;
}

/* The fields of a stat file after "(comm)", which may itself hold spaces and parentheses. */
static char *stat_after_comm(pid_t pid, pid_t tid, char **text)
{
	*text = tid ? read_procf(NULL, "/proc/%d/task/%d/stat", (int)pid, (int)tid)
		    : read_procf(NULL, "/proc/%d/stat", (int)pid);
	if (!*text)
		return NULL;
	char *close = strrchr(*text, ')');
	return close && close[1] == ' ' ? close + 2 : NULL;
}

char proc_thread_state(pid_t pid, pid_t tid)
{
	char *text, *rest = stat_after_comm(pid, tid, &text);
	char state = rest ? rest[0] : '?';
	free(text);
	return state;
}

void proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char *comm = read_procf(NULL, "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	buf[0] = '\0';
	if (!comm)
		return;
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(buf, len, "%s", comm);
	free(comm);
}

bool proc_flags(pid_t pid, unsigned long *flags)
{
	char *text, *rest = stat_after_comm(pid, 0, &text);
	/* state ppid pgrp session tty_nr tpgid flags */
	bool ok = rest && sscanf(rest, "%*c %*d %*d %*d %*d %*d %lu", flags) == 1;
	free(text);
	return ok;
}

bool proc_syscall(pid_t pid, pid_t tid, struct proc_syscall *out)
{
	memset(out, 0, sizeof(*out));
	out->nr = -1;
	char *text = read_procf(NULL, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	if (!text)
		return false;
	out->valid = true;
	if (!strncmp(text, "running", 7)) {
		out->running = true;
	} else if (text[0] == '-') {
		sscanf(text, "%ld 0x%" SCNx64 " 0x%" SCNx64, &out->nr, &out->sp, &out->pc);
	} else {
		sscanf(text,
		       "%ld 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64
		       " 0x%" SCNx64 " 0x%" SCNx64,
		       &out->nr, &out->args[0], &out->args[1], &out->args[2], &out->args[3], &out->args[4],
		       &out->args[5], &out->sp, &out->pc);
	}
	free(text);
	return true;
}

double proc_thread_idle_seconds(pid_t pid, pid_t tid)
{
	char *sched = read_procf(NULL, "/proc/%d/task/%d/sched", (int)pid, (int)tid);
	char *uptime = read_file("/proc/uptime", NULL);
	double idle = -1, up, exec_start_ms;
	const char *field = sched ? strstr(sched, "se.exec_start") : NULL;
	if (field && uptime && sscanf(field, "se.exec_start : %lf", &exec_start_ms) == 1 &&
	    sscanf(uptime, "%lf", &up) == 1) {
		idle = up - exec_start_ms / 1000.0;
		if (idle < 0)
			idle = 0;
	}
	free(sched);
	free(uptime);
	return idle;
}

long proc_thread_sleeps(pid_t pid, pid_t tid)
{
	char *status = read_procf(NULL, "/proc/%d/task/%d/status", (int)pid, (int)tid);
	const char *field = status ? strstr(status, "\nvoluntary_ctxt_switches:") : NULL;
	long n = field ? atol(field + strlen("\nvoluntary_ctxt_switches:")) : -1;
	free(status);
	return n;
}

static int by_link(const void *a, const void *b)
{
	return strcmp(((const struct fd_holder *)a)->link, ((const struct fd_holder *)b)->link);
}

long proc_fd_flags(pid_t pid, int fd)
{
	char *info = read_procf(NULL, "/proc/%d/fdinfo/%d", (int)pid, fd);
	const char *f = info ? strstr(info, "flags:") : NULL;
	unsigned flags = 0;
	long result = f && sscanf(f + 6, "%o", &flags) == 1 ? (long)flags : -1;
	free(info);
	return result;
}

void proc_fd_link(pid_t pid, int fd, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = len ? readlink(path, buf, len - 1) : 0;
	if (len)
		buf[n > 0 ? n : 0] = '\0';
}

int proc_fd_access(pid_t pid, int fd)
{
	long flags = proc_fd_flags(pid, fd);
	return flags < 0 ? -1 : (int)(flags & 3);
}

/* Whether an epoll fdinfo text lists fd among its targets ("tfd: N events: ..."). */
static bool epoll_lists(const char *info, int fd)
{
	for (const char *p = info; (p = strstr(p, "tfd:")); p += 4)
		if (atoi(p + 4) == fd)
			return true;
	return false;
}

int proc_epoll_watching(pid_t pid, int fd)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	int found = -1;
	struct dirent *e;
	while (d && found < 0 && (e = readdir(d))) {
		char link[400], target[40];
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strcmp(target, "anon_inode:[eventpoll]"))
			continue;
		char *info = read_procf(NULL, "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
		if (info && epoll_lists(info, fd))
			found = atoi(e->d_name);
		free(info);
	}
	if (d)
		closedir(d);
	return found;
}

static void scan_process_fds(struct fd_holders *h, size_t *cap, pid_t pid)
{
	char dir[64], comm[16] = "";
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return;
	char *c = read_procf(NULL, "/proc/%d/comm", (int)pid);
	if (c) {
		snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(c, "\n"), c);
		free(c);
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[400], target[40];
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		bool is_pipe = !strncmp(target, "pipe:", 5);
		if (!is_pipe && strncmp(target, "socket:", 7))
			continue;
		GROW(h->v, *cap, h->n + 1);
		struct fd_holder *fh = &h->v[h->n++];
		snprintf(fh->link, sizeof(fh->link), "%s", target);
		fh->pid = pid;
		fh->fd = atoi(e->d_name);
		fh->access = is_pipe ? proc_fd_access(pid, fh->fd) : -1;
		memcpy(fh->comm, comm, sizeof(comm));
	}
	closedir(d);
}

void proc_fd_holders_scan(struct fd_holders *h)
{
	memset(h, 0, sizeof(*h));
	size_t cap = 0;
	DIR *proc = opendir("/proc");
	struct dirent *e;
	while (proc && (e = readdir(proc))) {
		int pid = atoi(e->d_name);
		if (pid > 0)
			scan_process_fds(h, &cap, pid);
	}
	if (proc)
		closedir(proc);
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), by_link);
}

size_t proc_fd_holders_of(const struct fd_holders *h, const char *link, const struct fd_holder **first)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(h->v[mid].link, link) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < h->n && !strcmp(h->v[end].link, link))
		end++;
	*first = h->v + lo;
	return end - lo;
}

void proc_fd_holders_free(struct fd_holders *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}
