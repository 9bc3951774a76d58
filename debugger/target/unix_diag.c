/* Sockets from the kernel's sock_diag netlink interface, for what /proc/net
 * does not say: the peer of a unix socket (as ss -x shows it), the device an
 * IP socket is bound to and whether an IPv6 one is IPv6-only (as ss -t shows
 * them). */
#include "proc.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"

static void read_attributes(const struct nlmsghdr *h, struct unix_socket *u)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	memset(u, 0, sizeof(*u));
	u->inode = m->udiag_ino;
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));
	for (const struct rtattr *a = (const struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			uint32_t peer;
			memcpy(&peer, RTA_DATA(a), sizeof(peer));
			u->peer = peer;
		} else if (a->rta_type == UNIX_DIAG_NAME && RTA_PAYLOAD(a) > 0) {
			const char *name = RTA_DATA(a);
			size_t n = RTA_PAYLOAD(a) < sizeof(u->path) - 1 ? RTA_PAYLOAD(a) : sizeof(u->path) - 1;
			memcpy(u->path, name, n);
			u->path[n] = '\0';
			if (name[0] == '\0') /* abstract: shown with '@' as ss does */
				u->path[0] = '@';
		}
	}
}

static int by_inode(const void *a, const void *b)
{
	unsigned long x = ((const struct unix_socket *)a)->inode, y = ((const struct unix_socket *)b)->inode;
	return x < y ? -1 : x > y;
}

/* Send a dump request and hand each answer to add; -1 when sock_diag fails. */
static int diag_dump(const void *req, size_t len, void (*add)(const struct nlmsghdr *h, void *ctx), void *ctx)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	bool done = send(nl, req, len, 0) != (ssize_t)len, failed = done;
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	while (!done) {
		ssize_t got = recv(nl, buf, sizeof(buf), 0);
		if (got <= 0) {
			failed = true;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)got); h = NLMSG_NEXT(h, got)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				failed = h->nlmsg_type == NLMSG_ERROR;
				done = true;
				break;
			}
			add(h, ctx);
		}
	}
	close(nl);
	return failed ? -1 : 0;
}

struct unix_list {
	struct unix_socket *v;
	size_t n, cap;
};

static void add_unix(const struct nlmsghdr *h, void *ctx)
{
	struct unix_list *l = ctx;
	GROW(l->v, l->cap, l->n + 1);
	read_attributes(h, &l->v[l->n++]);
}

long unix_sockets_dump(struct unix_socket **out)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_NAME },
	};
	struct unix_list l = { 0 };
	*out = NULL;
	if (diag_dump(&msg, sizeof(msg), add_unix, &l) < 0) {
		free(l.v);
		return -1;
	}
	qsort(l.v, l.n, sizeof(*l.v), by_inode);
	*out = l.v;
	return (long)l.n;
}

const struct unix_socket *unix_socket_find(const struct unix_socket *v, long n, unsigned long inode)
{
	struct unix_socket key = { .inode = inode };
	return n > 0 ? bsearch(&key, v, (size_t)n, sizeof(*v), by_inode) : NULL;
}

struct inet_list {
	struct inet_socket *v;
	size_t n, cap;
};

static void add_inet(const struct nlmsghdr *h, void *ctx)
{
	struct inet_list *l = ctx;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	GROW(l->v, l->cap, l->n + 1);
	struct inet_socket *s = &l->v[l->n++];
	*s = (struct inet_socket){ .inode = m->idiag_inode, .ifindex = m->id.idiag_if };
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));
	for (const struct rtattr *a = (const struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1)
			s->v6only = *(const uint8_t *)RTA_DATA(a) != 0;
}

static int by_inet_inode(const void *a, const void *b)
{
	unsigned long x = ((const struct inet_socket *)a)->inode, y = ((const struct inet_socket *)b)->inode;
	return x < y ? -1 : x > y;
}

long inet_sockets_dump(struct inet_socket **out)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 }, protocols[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct inet_list l = { 0 };
	bool any = false;
	for (size_t f = 0; f < sizeof(families); f++)
		for (size_t p = 0; p < sizeof(protocols); p++) {
			struct {
				struct nlmsghdr nlh;
				struct inet_diag_req_v2 req;
			} msg = {
				.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
					 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
				.req = { .sdiag_family = families[f], .sdiag_protocol = protocols[p],
					 .idiag_states = ~0u },
			};
			any |= diag_dump(&msg, sizeof(msg), add_inet, &l) == 0;
		}
	*out = NULL;
	if (!any) {
		free(l.v);
		return -1;
	}
	qsort(l.v, l.n, sizeof(*l.v), by_inet_inode);
	*out = l.v;
	return (long)l.n;
}

const struct inet_socket *inet_socket_find(const struct inet_socket *v, long n, unsigned long inode)
{
	struct inet_socket key = { .inode = inode };
	return n > 0 ? bsearch(&key, v, (size_t)n, sizeof(*v), by_inet_inode) : NULL;
}
