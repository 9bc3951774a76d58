/* fds, timers: open descriptors and armed timers of a live process, with the
 * ones that look like resource leaks flagged. Cores record neither. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../debugger/proc.h"
#include "../debugger/syscalls.h"
#include "../debugger/util.h"
#include "commands.h"

struct fd_info {
	int fd;
	char target[256];
	char type[16];
	char detail[200];
	char flag[160];
	int access;                   /* pipes: O_RDONLY or O_WRONLY, -1 unknown */
	struct fd_holder peers[4];    /* the other end's holders (pipes, unix sockets), the first few */
	size_t npeers;                /* all of them */
	bool peers_known;
};

static const char *const tcp_states[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
					  "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };

static void format_ipv4(const char *hex, char *out, size_t len)
{
	unsigned a, port;
	if (sscanf(hex, "%8x:%4x", &a, &port) == 2)
		snprintf(out, len, "%u.%u.%u.%u:%u", a & 0xff, a >> 8 & 0xff, a >> 16 & 0xff, a >> 24, port);
	else
		snprintf(out, len, "%s", hex);
}

/* A socket's inode in /proc/PID/net/{tcp,tcp6,udp,unix}: protocol, addresses, state. */
static void describe_socket(pid_t pid, unsigned long inode, struct fd_info *f)
{
	static const char *const tables[] = { "tcp", "tcp6", "udp", "udp6", "unix" };
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
		char *text = read_procf(NULL, "/proc/%d/net/%s", (int)pid, tables[t]);
		for (char *line = text ? strchr(text, '\n') : NULL; line && *++line; line = strchr(line, '\n')) {
			char local[64], remote[64];
			unsigned st;
			unsigned long ino;
			if (!strcmp(tables[t], "unix")) {
				if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &ino) == 1 && ino == inode) {
					snprintf(f->detail, sizeof(f->detail), "unix socket");
					free(text);
					return;
				}
				continue;
			}
			if (sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st, &ino) != 4 ||
			    ino != inode)
				continue;
			char l[64], r[64];
			format_ipv4(local, l, sizeof(l));
			format_ipv4(remote, r, sizeof(r));
			const char *state = st < ARRAY_SIZE(tcp_states) ? tcp_states[st] : "?";
			snprintf(f->detail, sizeof(f->detail), "%s %s -> %s %s", tables[t], l, r,
				 tables[t][0] == 't' ? state : "");
			if (tables[t][0] == 't' && st == 8)
				snprintf(f->flag, sizeof(f->flag), "CLOSE_WAIT: the peer closed, this process never did");
			free(text);
			return;
		}
		free(text);
	}
}

static void describe_anon(pid_t pid, struct fd_info *f)
{
	char *info = read_procf(NULL, "/proc/%d/fdinfo/%d", (int)pid, f->fd);
	if (!info)
		return;
	char *it;
	if (strstr(f->target, "timerfd") && (it = strstr(info, "it_value:"))) {
		long vs = 0, vn = 0, is = 0, in = 0;
		char *iv = strstr(info, "it_interval:");
		sscanf(it, "it_value: (%ld, %ld)", &vs, &vn);
		if (iv)
			sscanf(iv, "it_interval: (%ld, %ld)", &is, &in);
		snprintf(f->detail, sizeof(f->detail), "timerfd %s, interval %.3g s", vs || vn ? "armed" : "disarmed",
			 (double)is + (double)in / 1e9);
	} else if (strstr(f->target, "eventpoll")) {
		int n = 0;
		size_t len = (size_t)snprintf(f->detail, sizeof(f->detail), "epoll watching");
		for (char *p = info; (p = strstr(p, "tfd:")); p += 4, n++)
			if (len < sizeof(f->detail))
				len += (size_t)snprintf(f->detail + len, sizeof(f->detail) - len, "%s fd %d", n ? "," : "",
							atoi(p + 4));
		if (!n) {
			snprintf(f->detail, sizeof(f->detail), "epoll watching nothing");
			snprintf(f->flag, sizeof(f->flag), "an epoll set with nothing in it never wakes");
		}
	} else if ((it = strstr(info, "eventfd-count:"))) {
		snprintf(f->detail, sizeof(f->detail), "eventfd, count %llu",
			 strtoull(it + strlen("eventfd-count:"), NULL, 16));
	} else if ((it = strstr(info, "sigmask:"))) {
		unsigned long long mask = strtoull(it + strlen("sigmask:"), NULL, 16);
		size_t len = (size_t)snprintf(f->detail, sizeof(f->detail), "signalfd for");
		for (int sig = 1; sig <= 64 && len < sizeof(f->detail); sig++) {
			const char *abbrev = sig < NSIG ? sigabbrev_np(sig) : NULL;
			if (!(mask >> (sig - 1) & 1))
				continue;
			if (abbrev)
				len += (size_t)snprintf(f->detail + len, sizeof(f->detail) - len, " SIG%s", abbrev);
			else
				len += (size_t)snprintf(f->detail + len, sizeof(f->detail) - len, " signal %d", sig);
		}
	}
	free(info);
}

static int by_fd(const void *x, const void *y)
{
	return ((const struct fd_info *)x)->fd - ((const struct fd_info *)y)->fd;
}

static size_t read_fds(pid_t pid, struct fd_info **out)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	struct fd_info *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		GROW(v, cap, n + 1);
		struct fd_info *f = &v[n++];
		memset(f, 0, sizeof(*f));
		f->fd = atoi(e->d_name);
		f->access = -1;
		char link[400];
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t len = readlink(link, f->target, sizeof(f->target) - 1);
		f->target[len > 0 ? len : 0] = '\0';
		unsigned long inode;
		if (sscanf(f->target, "socket:[%lu]", &inode) == 1) {
			snprintf(f->type, sizeof(f->type), "socket");
			describe_socket(pid, inode, f);
		} else if (!strncmp(f->target, "pipe:", 5)) {
			snprintf(f->type, sizeof(f->type), "pipe");
			f->access = proc_fd_access(pid, f->fd);
		} else if (!strncmp(f->target, "anon_inode:", 11)) {
			snprintf(f->type, sizeof(f->type), "%s", f->target + 11);
			describe_anon(pid, f);
		} else {
			snprintf(f->type, sizeof(f->type), "file");
		}
	}
	if (d)
		closedir(d);
	sort_array(v, n, sizeof(*v), by_fd);
	*out = v;
	return n;
}

/* Several descriptors on one file: often a leak of open() without close(). */
static void flag_duplicates(struct fd_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].type, "file") || v[i].flag[0] || !strncmp(v[i].target, "/dev/", 5))
			continue;
		size_t same = 0;
		for (size_t j = 0; j < n; j++)
			same += !strcmp(v[j].target, v[i].target);
		if (same >= 3)
			snprintf(v[i].flag, sizeof(v[i].flag), "%zu descriptors on this file", same);
	}
}

static void add_peer(struct fd_info *f, const struct fd_holder *h)
{
	if (f->npeers < ARRAY_SIZE(f->peers))
		f->peers[f->npeers] = *h;
	f->npeers++;
}

/* Someone of this process is writing to one of these descriptors right now. */
static bool a_thread_writes(const struct target *t, const struct fd_info *f)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		const struct thread *th = &t->threads[i];
		const char *call = th->syscall >= 0 ? syscall_name(th->syscall) : NULL;
		for (size_t k = 0; call && !strncmp(call, "write", 5) && k < f->npeers && k < ARRAY_SIZE(f->peers); k++)
			if (f->peers[k].pid == t->pid && (uint64_t)f->peers[k].fd == th->syscall_args[0])
				return true;
	}
	return false;
}

/* Who holds the pipe's other end, in any process, and what that means. */
static void pipe_other_end(const struct target *t, struct fd_info *f, const struct fd_holders *h)
{
	const struct fd_holder *first;
	size_t n = proc_fd_holders_of(h, f->target, &first);
	bool reader = f->access == O_RDONLY;
	size_t here = 0;
	for (size_t i = 0; i < n; i++) {
		const struct fd_holder *o = &first[i];
		if ((o->pid == t->pid && o->fd == f->fd) || o->access < 0 || o->access == f->access)
			continue;
		add_peer(f, o);
		here += o->pid == t->pid;
	}
	f->peers_known = f->access >= 0;
	snprintf(f->detail, sizeof(f->detail), "%s end", reader ? "read" : "write");
	if (!f->peers_known)
		return;
	if (!f->npeers)
		snprintf(f->flag, sizeof(f->flag), reader ? "no writer left: reads see end of file"
							 : "no reader left: writes fail with EPIPE");
	else if (reader && here == f->npeers && !a_thread_writes(t, f))
		snprintf(f->flag, sizeof(f->flag),
			 "only this process holds its write end and no thread of it is writing: a reader may wait forever");
}

/* A unix socket's peer from sock_diag, and who holds the peer. */
static void unix_other_end(struct fd_info *f, const struct fd_holders *h, const struct unix_socket *socks, long nsocks)
{
	unsigned long inode;
	const struct unix_socket *u = sscanf(f->target, "socket:[%lu]", &inode) == 1 ? unix_socket_find(socks, nsocks, inode)
										      : NULL;
	if (!u) /* another network namespace than strand's */
		return;
	f->peers_known = true;
	snprintf(f->detail, sizeof(f->detail), "unix socket%s%s%s", u->path[0] ? " " : "", u->path,
		 u->peer ? "" : ", no peer");
	if (!u->peer)
		return;
	char link[40];
	snprintf(link, sizeof(link), "socket:[%lu]", u->peer);
	const struct fd_holder *first;
	size_t n = proc_fd_holders_of(h, link, &first);
	for (size_t i = 0; i < n; i++)
		add_peer(f, &first[i]);
}

static void find_other_ends(const struct target *t, struct fd_info *v, size_t n)
{
	struct fd_holders h;
	proc_fd_holders_scan(&h);
	struct unix_socket *socks;
	long nsocks = unix_sockets_dump(&socks);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].type, "pipe"))
			pipe_other_end(t, &v[i], &h);
		else if (!strncmp(v[i].detail, "unix socket", 11))
			unix_other_end(&v[i], &h, socks, nsocks);
	}
	free(socks);
	proc_fd_holders_free(&h);
}

/* "; other end: this process fd 5, pid 123 (cat) fd 1" */
static void out_peers(struct session *s, const struct fd_info *f)
{
	struct out *o = s->out;
	if (!f->peers_known) {
		out_null(o, "peers");
		return;
	}
	if (f->npeers)
		out_text(o, "; other end:");
	out_list(o, "peers");
	for (size_t i = 0; i < f->npeers && i < ARRAY_SIZE(f->peers); i++) {
		const struct fd_holder *p = &f->peers[i];
		out_obj(o, NULL);
		bool here = p->pid == s->target->pid;
		out_text(o, "%s %s", i ? "," : "", here ? "this process" : "pid ");
		out_hide_text(o, here);
		out_int(o, "pid", p->pid);
		out_hide_text(o, false);
		if (!here)
			out_text(o, " (");
		out_hide_text(o, here);
		out_str(o, "comm", p->comm);
		out_hide_text(o, false);
		if (!here)
			out_text(o, ")");
		out_text(o, " fd ");
		out_int(o, "fd", p->fd);
		out_obj_end(o);
	}
	out_list_end(o);
	if (f->npeers > ARRAY_SIZE(f->peers))
		out_text(o, " and %zu more", f->npeers - ARRAY_SIZE(f->peers));
}

static bool live_only(struct session *s, const char *what)
{
	if (s->target->kind == TARGET_LIVE)
		return true;
	out_error(s->out, "a core file records no %s: run this on the live process", what);
	return false;
}

int cmd_fds(struct session *s, const struct args *a)
{
	(void)a;
	if (!live_only(s, "file descriptors"))
		return -1;
	struct fd_info *v;
	size_t n = read_fds(s->target->pid, &v);
	flag_duplicates(v, n);
	find_other_ends(s->target, v, n);
	struct out *o = s->out;
	size_t flagged = 0;
	out_list(o, "fds");
	for (size_t i = 0; i < n; i++) {
		out_obj(o, NULL);
		out_intw(o, "fd", 5, v[i].fd);
		out_text(o, "  ");
		out_strw(o, "type", -10, v[i].type);
		out_text(o, " ");
		out_str(o, "target", v[i].target);
		if (v[i].detail[0])
			out_text(o, "  %s", v[i].detail);
		out_hide_text(o, true);
		out_str(o, "detail", v[i].detail[0] ? v[i].detail : NULL);
		out_hide_text(o, false);
		out_peers(s, &v[i]);
		if (v[i].flag[0]) {
			out_text(o, "\n         ! ");
			flagged++;
		}
		out_str(o, "flag", v[i].flag[0] ? v[i].flag : NULL);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	struct rlimit rl;
	if (prlimit(s->target->pid, RLIMIT_NOFILE, NULL, &rl) == 0) {
		/* Past 80% of the soft limit, the next burst of accept() or open() fails with EMFILE. */
		bool near_limit = (double)n > 0.8 * (double)rl.rlim_cur;
		out_text(o, "%zu descriptors of a soft limit of %llu (%.0f%%); %zu flagged\n", n,
			 (unsigned long long)rl.rlim_cur, rl.rlim_cur ? 100.0 * (double)n / (double)rl.rlim_cur : 0.0,
			 flagged);
		if (near_limit)
			out_text(o, "! over 80%% of the soft limit: new descriptors will soon fail with EMFILE\n");
		out_hide_text(o, true);
		out_uint(o, "soft_limit", rl.rlim_cur);
		out_bool(o, "near_limit", near_limit);
		out_hide_text(o, false);
	}
	out_hide_text(o, true);
	out_uint(o, "flagged", flagged);
	out_hide_text(o, false);
	free(v);
	return 0;
}

int cmd_timers(struct session *s, const struct args *a)
{
	(void)a;
	if (!live_only(s, "timers"))
		return -1;
	struct out *o = s->out;
	char *text = read_procf(NULL, "/proc/%d/timers", (int)s->target->pid);
	out_list(o, "posix_timers");
	/* Records of "ID: n", "signal: ...", "notify: ...", "ClockID: n" lines. */
	for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "ID:", 3))
			continue;
		int id = atoi(p + 3);
		char clock[32] = "?";
		char *c = strstr(p, "ClockID:");
		if (c)
			snprintf(clock, sizeof(clock), "%d", atoi(c + 8));
		out_obj(o, NULL);
		out_text(o, "POSIX timer ");
		out_int(o, "id", id);
		out_text(o, " on clock ");
		out_str(o, "clock", clock);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	struct fd_info *v;
	size_t n = read_fds(s->target->pid, &v), shown = 0;
	out_list(o, "timerfds");
	for (size_t i = 0; i < n; i++) {
		if (!strstr(v[i].target, "timerfd"))
			continue;
		shown++;
		out_obj(o, NULL);
		out_text(o, "timerfd fd ");
		out_int(o, "fd", v[i].fd);
		out_text(o, ": ");
		out_str(o, "detail", v[i].detail);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	if (!shown && !(text && strstr(text, "ID:")))
		out_text(o, "No POSIX timers and no timerfds.\n");
	free(text);
	free(v);
	return 0;
}
