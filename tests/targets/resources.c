/* Descriptors and timers a service can leak: a TCP socket left in CLOSE_WAIT,
 * one file opened three times, an empty epoll set, an armed timerfd and an
 * armed POSIX timer. Records each: {"kind":"fd","fd":N,"what":"close_wait"}. */
#include "fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

static void record(int fd, const char *what)
{
	fixture_truth("{\"kind\":\"fd\",\"fd\":%d,\"what\":\"%s\"}", fd, what);
}

int main(void)
{
	fixture_truth("{\"kind\":\"start\"}");
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	bind(listener, (struct sockaddr *)&addr, sizeof(addr));
	listen(listener, 1);
	getsockname(listener, (struct sockaddr *)&addr, &len);
	int client = socket(AF_INET, SOCK_STREAM, 0);
	connect(client, (struct sockaddr *)&addr, sizeof(addr));
	int server = accept(listener, NULL, NULL);
	close(client); /* the peer closes; the server side never does */
	record(server, "close_wait");
	for (int i = 0; i < 3; i++)
		record(open("/proc/self/exe", O_RDONLY), "duplicate");
	record(epoll_create1(0), "empty_epoll");
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	timerfd_settime(tfd, 0, &its, NULL);
	record(tfd, "timerfd");
	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	timer_create(CLOCK_MONOTONIC, &sev, &timer);
	timer_settime(timer, 0, &its, NULL);
	fixture_truth("{\"kind\":\"posix_timer\"}");
	fixture_ready();
	for (;;)
		pause();
}
