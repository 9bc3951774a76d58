/* Threads parked in known functions, with known locals:
 *   sleeper: nanosleep in park_sleep(seconds=1000), local counter = 42
 *   locker:  blocked on g_mutex (held by main) in park_mutex()
 *   waiter:  pthread_cond_wait on g_cond in park_cond()
 *   reader:  read() on a pipe nobody writes, in park_read(fd)
 *   epoller: epoll_wait(-1) in park_epoll(); counts EINTR returns in g_epoll_eintr
 *   main:    pthread_join(sleeper) in main()
 * SIGUSR1 sets g_got_usr1 (the detach tests send it while strand holds the
 * process stopped) and the fixture reports it on stdout. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_pipe[2];
volatile int g_epoll_eintr;
volatile sig_atomic_t g_got_usr1;
long g_global_counter = 12345;

static void on_usr1(int sig)
{
	(void)sig;
	g_got_usr1 = 1;
}

__attribute__((noinline)) static void park_sleep(int seconds)
{
	volatile int counter = 42;
	fixture_arrive();
	FIXTURE_PARK("nanosleep"); while (counter == 42) sleep((unsigned)seconds);
}

static void *sleeper(void *arg)
{
	(void)arg;
	park_sleep(1000);
	return NULL;
}

__attribute__((noinline)) static void park_mutex(pthread_mutex_t *m)
{
	fixture_arrive();
	FIXTURE_PARK("mutex"); pthread_mutex_lock(m);
	pthread_mutex_unlock(m);
}

static void *locker(void *arg)
{
	(void)arg;
	park_mutex(&g_mutex);
	return NULL;
}

__attribute__((noinline)) static void park_cond(void)
{
	pthread_mutex_lock(&g_cond_mutex);
	fixture_arrive();
	FIXTURE_PARK("cond"); pthread_cond_wait(&g_cond, &g_cond_mutex);
	pthread_mutex_unlock(&g_cond_mutex);
}

static void *waiter(void *arg)
{
	(void)arg;
	park_cond();
	return NULL;
}

__attribute__((noinline)) static void park_read(int fd)
{
	char buf[16];
	fixture_arrive();
	FIXTURE_PARK("read"); ssize_t n = read(fd, buf, sizeof(buf));
	(void)n;
}

static void *reader(void *arg)
{
	(void)arg;
	park_read(g_pipe[0]);
	return NULL;
}

__attribute__((noinline)) static void park_epoll(int ep)
{
	struct epoll_event ev;
	fixture_arrive();
	for (;;) {
		FIXTURE_PARK("epoll"); int n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR) {
			g_epoll_eintr++;
			printf("epoll-eintr\n");
			fflush(stdout);
		}
	}
}

static void *epoller(void *arg)
{
	(void)arg;
	park_epoll(epoll_create1(0));
	return NULL;
}

static pthread_t start(void *(*fn)(void *), const char *name)
{
	pthread_t t;
	pthread_create(&t, NULL, fn, NULL);
	pthread_setname_np(t, name);
	fixture_truth("{\"kind\":\"thread\",\"name\":\"%s\"}", name);
	return t;
}

static void *watch_usr1(void *arg)
{
	(void)arg;
	for (;;) {
		if (g_got_usr1) {
			printf("got-usr1\n");
			fflush(stdout);
			g_got_usr1 = 0;
		}
		usleep(20 * 1000);
	}
	return NULL;
}

int main(void)
{
	signal(SIGUSR1, on_usr1);
	if (pipe(g_pipe))
		return 1;
	pthread_mutex_lock(&g_mutex);
	pthread_t t = start(sleeper, "sleeper");
	start(locker, "locker");
	start(waiter, "waiter");
	start(reader, "reader");
	if (!getenv("FIXTURE_NO_EPOLL"))
		start(epoller, "epoller");
	start(watch_usr1, "watcher");
	fixture_wait_arrivals(getenv("FIXTURE_NO_EPOLL") ? 4 : 5);
	fixture_ready();
	FIXTURE_PARK("join"); pthread_join(t, NULL);
	return 0;
}
