/* Unix sockets and their peers from the kernel's sock_diag netlink interface:
 * /proc/net/unix names no peer, sock_diag does (as ss -x shows it). */
#include "proc.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static int request_dump(int nl)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_NAME },
	};
	return send(nl, &msg, sizeof(msg), 0) == (ssize_t)sizeof(msg) ? 0 : -1;
}

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

long unix_sockets_dump(struct unix_socket **out)
{
	*out = NULL;
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	struct unix_socket *v = NULL;
	size_t n = 0, cap = 0;
	bool done = request_dump(nl) < 0, failed = done;
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	while (!done) {
		ssize_t len = recv(nl, buf, sizeof(buf), 0);
		if (len <= 0) {
			failed = true;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				failed = h->nlmsg_type == NLMSG_ERROR;
				done = true;
				break;
			}
			GROW(v, cap, n + 1);
			read_attributes(h, &v[n++]);
		}
	}
	close(nl);
	if (failed) {
		free(v);
		return -1;
	}
	qsort(v, n, sizeof(*v), by_inode);
	*out = v;
	return (long)n;
}

const struct unix_socket *unix_socket_find(const struct unix_socket *v, long n, unsigned long inode)
{
	struct unix_socket key = { .inode = inode };
	return n > 0 ? bsearch(&key, v, (size_t)n, sizeof(*v), by_inode) : NULL;
}
