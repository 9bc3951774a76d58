/* fds, and the POSIX timers and timerfds for timers: open descriptors and
 * armed timers of a live process, with the ones that look like resource
 * leaks flagged. Cores record neither. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "target/proc.h"
#include "symbols/symbols.h"
#include "target/syscalls.h"
#include "base/util.h"
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

struct inet_sockets {
	struct inet_socket *v;
	long n;
};

/* An address of /proc/net/{tcp,udp}{,6}: 8 hex digits for IPv4, 32 for IPv6
 * (32-bit words in host order), a colon, the port in hex. Printed as ss prints
 * it: 127.0.0.1:8080, [::1]:8080, [::ffff:127.0.0.1]:8080; the IPv6 wildcard
 * of a socket that also takes IPv4 as *; %dev after the local address of a
 * socket bound to a device (or with a scope id); port 0 as *. */
static void format_address(const char *hex, const struct inet_socket *info, bool local, char *out, size_t len)
{
	const char *colon = strchr(hex, ':');
	size_t digits = colon ? (size_t)(colon - hex) : 0;
	unsigned port;
	uint32_t words[4] = { 0 };
	if ((digits != 8 && digits != 32) || sscanf(colon + 1, "%x", &port) != 1) {
		snprintf(out, len, "%s", hex);
		return;
	}
	for (size_t i = 0; i < digits / 8; i++) {
		char word[9];
		memcpy(word, hex + 8 * i, 8);
		word[8] = '\0';
		words[i] = (uint32_t)strtoul(word, NULL, 16);
	}
	char host[INET6_ADDRSTRLEN + 2] = "*", text[INET6_ADDRSTRLEN];
	static const uint32_t wildcard[4];
	if (digits == 8)
		inet_ntop(AF_INET, words, host, sizeof(host));
	else if ((info && info->v6only) || memcmp(words, wildcard, sizeof(words)))
		snprintf(host, sizeof(host), "[%s]", inet_ntop(AF_INET6, words, text, sizeof(text)) ? text : "?");
	char device[IF_NAMESIZE + 1] = "", name[IF_NAMESIZE];
	if (local && info && info->ifindex && if_indextoname(info->ifindex, name))
		snprintf(device, sizeof(device), "%%%s", name);
	char port_text[12] = "*";
	if (port)
		snprintf(port_text, sizeof(port_text), "%u", port);
	snprintf(out, len, "%s%s:%s", host, device, port_text);
}

/* A socket's inode in /proc/PID/net/{tcp,tcp6,udp,unix}: protocol, addresses, state. */
static void describe_socket(pid_t pid, unsigned long inode, const struct inet_sockets *inet, struct fd_info *f)
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
			const struct inet_socket *info = inet_socket_find(inet->v, inet->n, inode);
			char l[80], r[80];
			format_address(local, info, true, l, sizeof(l));
			format_address(remote, info, false, r, sizeof(r));
			bool tcp = tables[t][0] == 't';
			const char *state = st < ARRAY_SIZE(tcp_states) ? tcp_states[st] : "?";
			snprintf(f->detail, sizeof(f->detail), "%s %s -> %s%s%s", tables[t], l, r, tcp ? " " : "",
				 tcp ? state : "");
			if (tcp && st == 8)
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
	struct inet_sockets inet;
	inet.n = inet_sockets_dump(&inet.v);
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
			describe_socket(pid, inode, &inet, f);
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
	free(inet.v);
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

/* The call a thread waits in. One that a stop interrupted (strand's own, an
 * earlier time) may have resumed as restart_syscall, its argument registers
 * unchanged: the function it was made from names it then. */
static const char *call_of(struct session *s, const struct thread *th)
{
	const char *call = th->syscall >= 0 ? syscall_name(th->syscall) : NULL;
	struct sym_info info;
	if (!call || strcmp(call, "restart_syscall") || !s->symbols ||
	    !symbols_addr_info(s->symbols, regs_pc(th), &info) || !info.name)
		return call;
	if (strstr(info.name, "poll") && !strstr(info.name, "epoll"))
		return strstr(info.name, "ppoll") ? "ppoll" : "poll";
	if (strstr(info.name, "select"))
		return strstr(info.name, "pselect") ? "pselect6" : "select";
	return call;
}

static bool thread_in(struct session *s, const struct thread *th, const char *const *calls)
{
	const char *call = call_of(s, th);
	for (size_t i = 0; call && calls[i]; i++)
		if (!strcmp(call, calls[i]))
			return true;
	return false;
}

/* Whether a poll or ppoll with these arguments waits to read fd. */
static bool polls_for_reading(struct target *t, const uint64_t *args, int fd)
{
	uint64_t n = args[1] < 4096 ? args[1] : 4096;
	for (uint64_t i = 0; i < n; i++) {
		struct pollfd p;
		if (!target_read_all(t, args[0] + i * sizeof(p), &p, sizeof(p)))
			return false;
		if (p.fd == fd && (p.events & (POLLIN | POLLRDNORM | POLLPRI)))
			return true;
	}
	return false;
}

/* Whether a select or pselect6 with these arguments (nfds, readfds, ...) waits to read fd. */
static bool selects_for_reading(struct target *t, const uint64_t *args, int fd)
{
	uint64_t word;
	return args[1] && fd >= 0 && (uint64_t)fd < args[0] &&
	       target_read_u64(t, args[1] + (uint64_t)fd / 64 * 8, &word) && (word >> (fd % 64) & 1);
}

/* The thread of the process that polls or selects on fd for reading, or NULL. */
static const struct thread *thread_polling(struct session *s, int fd)
{
	static const char *const polls[] = { "poll", "ppoll", NULL }, *const selects[] = { "select", "pselect6", NULL };
	struct target *t = s->target;
	for (size_t i = 0; i < t->nthreads; i++) {
		const struct thread *th = &t->threads[i];
		if ((thread_in(s, th, polls) && polls_for_reading(t, th->syscall_args, fd)) ||
		    (thread_in(s, th, selects) && selects_for_reading(t, th->syscall_args, fd)))
			return th;
	}
	return NULL;
}

static bool thread_reads(struct session *s, int fd)
{
	static const char *const reads[] = { "read", "readv", NULL };
	for (size_t i = 0; i < s->target->nthreads; i++) {
		const struct thread *th = &s->target->threads[i];
		if (thread_in(s, th, reads) && th->syscall_args[0] == (uint64_t)fd)
			return true;
	}
	return false;
}

/* Whether a pipe's read end belongs to an event loop rather than to a reader
 * that blocks: it is non-blocking, in an epoll set of the process, or among
 * the descriptors a thread polls or selects on (the self-pipe of Go's
 * netpoller, redis, libevent, libuv...); then f->detail says which. A thread
 * sitting in read() on it is a reader that blocks, whatever else watches it. */
static bool read_by_event_loop(struct session *s, struct fd_info *f)
{
	if (thread_reads(s, f->fd))
		return false;
	pid_t pid = s->target->pid;
	long flags = proc_fd_flags(pid, f->fd);
	int epoll_fd;
	const struct thread *poller;
	if (flags >= 0 && (flags & O_NONBLOCK))
		snprintf(f->detail, sizeof(f->detail), "read end, non-blocking");
	else if ((epoll_fd = proc_epoll_watching(pid, f->fd)) >= 0)
		snprintf(f->detail, sizeof(f->detail), "read end, watched by epoll fd %d", epoll_fd);
	else if ((poller = thread_polling(s, f->fd)))
		snprintf(f->detail, sizeof(f->detail), "read end, in the %s() of LWP %d", call_of(s, poller),
			 (int)poller->tid);
	else
		return false;
	return true;
}

/* Who holds the pipe's other end, in any process, and what that means. */
static void pipe_other_end(struct session *s, struct fd_info *f, const struct fd_holders *h)
{
	const struct target *t = s->target;
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
	else if (reader && here == f->npeers && !a_thread_writes(t, f) && !read_by_event_loop(s, f))
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

static void find_other_ends(struct session *s, struct fd_info *v, size_t n)
{
	struct fd_holders h;
	proc_fd_holders_scan(&h);
	struct unix_socket *socks;
	long nsocks = unix_sockets_dump(&socks);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].type, "pipe"))
			pipe_other_end(s, &v[i], &h);
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
	find_other_ends(s, v, n);
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

int out_posix_timers(struct session *s)
{
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
