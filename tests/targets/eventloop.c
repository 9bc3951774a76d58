/* An event loop and its neighbours. Self-pipes (both ends in this process)
 * read by an epoll loop (non-blocking, as Go's netpoller, redis, libevent and
 * libuv make them), a blocking one in the same epoll set, a non-blocking one
 * nobody watches, one a thread polls and one a thread selects on: none is a
 * reader that waits forever. A thread blocked in read() on a pipe whose only
 * writer is this process is. And IPv6 sockets: listening on [::] and [::1],
 * a connection over ::1, an IPv4 client accepted by the [::] listener
 * ([::ffff:127.0.0.1]) and, when allowed, a listener bound to lo. Records
 * {"kind":"fd","fd":N,"what":"..."} for each and
 * {"kind":"wait","tid":N,"what":"..."} for each waiting thread. */
#include "fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

static void record(int fd, const char *what)
{
	fixture_truth("{\"kind\":\"fd\",\"fd\":%d,\"what\":\"%s\"}", fd, what);
}

static void record_wait(const char *what)
{
	fixture_truth("{\"kind\":\"wait\",\"tid\":%d,\"what\":\"%s\"}", (int)gettid(), what);
}

/* A pipe; its read end recorded as what. Returns the read end. */
static int self_pipe(int flags, const char *what)
{
	int p[2];
	if (pipe2(p, flags) < 0)
		exit(2);
	record(p[0], what);
	return p[0];
}

static void *epoll_loop(void *arg)
{
	int ep = *(int *)arg;
	struct epoll_event ev;
	record_wait("epoll");
	fixture_arrive();
	for (;;)
		epoll_wait(ep, &ev, 1, -1);
	return NULL;
}

static void *poller(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };
	record_wait("poll");
	fixture_arrive();
	for (;;)
		poll(&p, 1, -1);
	return NULL;
}

static void *selector(void *arg)
{
	int fd = *(int *)arg;
	record_wait("select");
	fixture_arrive();
	for (;;) {
		fd_set r;
		FD_ZERO(&r);
		FD_SET(fd, &r);
		select(fd + 1, &r, NULL, NULL, NULL);
	}
	return NULL;
}

static void *reader(void *arg)
{
	char c;
	record_wait("read");
	fixture_arrive();
	for (;;)
		if (read(*(int *)arg, &c, 1) <= 0)
			break;
	return NULL;
}

static int ipv6_listener(const struct in6_addr *addr, const char *device)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	if (device && setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
		close(s);
		return -1;
	}
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = *addr };
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0)
		exit(2);
	return s;
}

static int port_of(int s)
{
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);
	getsockname(s, (struct sockaddr *)&a, &len);
	return ntohs(a.sin6_port);
}

static void ipv6_sockets(void)
{
	int any = ipv6_listener(&in6addr_any, NULL);
	record(any, "tcp6_listen_any");
	int loop = ipv6_listener(&in6addr_loopback, NULL);
	record(loop, "tcp6_listen_loopback");
	int bound = ipv6_listener(&in6addr_loopback, "lo");
	if (bound >= 0)
		record(bound, "tcp6_listen_device");

	int client = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = in6addr_loopback,
				   .sin6_port = htons((uint16_t)port_of(loop)) };
	if (connect(client, (struct sockaddr *)&to, sizeof(to)) < 0)
		exit(2);
	record(client, "tcp6_client");
	record(accept(loop, NULL, NULL), "tcp6_accepted");

	int v4 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = htons((uint16_t)port_of(any)) };
	if (connect(v4, (struct sockaddr *)&to4, sizeof(to4)) < 0)
		exit(2);
	record(v4, "tcp4_client");
	record(accept(any, NULL, NULL), "tcp6_accepted_mapped");
}

int main(void)
{
	fixture_truth("{\"kind\":\"start\"}");
	static int ep, polled, selected, blocking;
	ep = epoll_create1(0);
	int watched[2] = { self_pipe(O_NONBLOCK, "selfpipe_epoll"), self_pipe(0, "blocking_in_epoll") };
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = watched[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, watched[i], &ev);
	}
	self_pipe(O_NONBLOCK, "nonblocking_unwatched");
	polled = self_pipe(0, "polled");
	selected = self_pipe(0, "selected");
	blocking = self_pipe(0, "blocked_reader");
	ipv6_sockets();
	pthread_t t;
	pthread_create(&t, NULL, epoll_loop, &ep);
	pthread_create(&t, NULL, poller, &polled);
	pthread_create(&t, NULL, selector, &selected);
	pthread_create(&t, NULL, reader, &blocking);
	fixture_wait_arrivals(4);
	fixture_ready();
	for (;;)
		pause();
}
