/* Descriptors and timers a service can leak: a TCP socket left in CLOSE_WAIT,
 * one file opened three times, an empty epoll set, an armed timerfd and an
 * armed POSIX timer; pipes whose other end is in a child process, gone, or
 * only here (one of them watched by an epoll set); unix sockets whose peer is
 * here or in a child; an eventfd, a signalfd and an epoll set watching two of
 * them. Records each:
 * {"kind":"fd","fd":N,"what":"close_wait"} ("peer_pid" and "peer_fd" when the
 * other end is known). */
#include "fixture.h"

#include "fixture_net.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

static void record(int fd, const char *what)
{
	fixture_truth("{\"kind\":\"fd\",\"fd\":%d,\"what\":\"%s\"}", fd, what);
}

static void record_peer(int fd, const char *what, int peer_pid, int peer_fd)
{
	fixture_truth("{\"kind\":\"fd\",\"fd\":%d,\"what\":\"%s\",\"peer_pid\":%d,\"peer_fd\":%d}", fd, what,
		      peer_pid, peer_fd);
}

/* A child that keeps descriptor fd open, and none of the others above 2,
 * until this process dies. */
static pid_t child_holding(int fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int other = 3; other < 1024; other++)
			if (other != fd)
				close(other);
		for (;;)
			pause();
	}
	return pid;
}

/* Returns a pipe read end for the epoll set to watch. */
static int pipes_and_sockets(void)
{
	int p[2];
	pipe(p); /* the write end lives in a child only */
	pid_t child = child_holding(p[1]);
	record_peer(p[0], "pipe_read", child, p[1]);
	close(p[1]);
	pipe(p); /* nobody can write any more */
	close(p[1]);
	record(p[0], "pipe_no_writer");
	pipe(p); /* nobody can read any more */
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	record(p[1], "pipe_no_reader");
	pipe(p); /* both ends here */
	record_peer(p[0], "pipe_only_here", getpid(), p[1]);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	record_peer(sv[0], "unix_peer", getpid(), sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	child = child_holding(sv[1]);
	record_peer(sv[0], "unix_peer", child, sv[1]);
	close(sv[1]);
	pipe(p); /* both ends here too, but an epoll set watches the read end */
	record_peer(p[0], "pipe_watched", getpid(), p[1]);
	return p[0];
}

static void event_fds(int watched)
{
	int efd = eventfd(3, 0);
	record(efd, "eventfd");
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	record(signalfd(-1, &mask, 0), "signalfd");
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.fd = efd;
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	ev.data.fd = watched;
	epoll_ctl(ep, EPOLL_CTL_ADD, watched, &ev);
	record(ep, "epoll_two");
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
	event_fds(pipes_and_sockets());
	fixture_ready();
	for (;;)
		pause();
}
