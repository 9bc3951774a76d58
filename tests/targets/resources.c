/* Descriptors and timers a service can leak: a TCP socket left in CLOSE_WAIT,
 * one file opened three times, an empty epoll set, an armed timerfd and an
 * armed POSIX timer. Records each: {"kind":"fd","fd":N,"what":"close_wait"}. */
#include "fixture.h"

#include "fixture_net.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

static void record(int fd, const char *what)
{
	fixture_truth("{\"kind\":\"fd\",\"fd\":%d,\"what\":\"%s\"}", fd, what);
}

int main(void)
{
	fixture_truth("{\"kind\":\"start\"}");
	record(fixture_close_wait_socket(), "close_wait");
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
