/* For strand run: a process that ends while detached threads are in every
 * state a thread can be in at that moment.
 *   exit_detached MODE [N]
 * N threads of each kind (default 10), all detached:
 *   busy      allocate and free in a loop, never blocking
 *   blocked   half in a condition wait (futex), half in nanosleep, forever
 *   exiting   wait for the end, then pthread_exit as the process ends
 * and the thread that ends the process creates short-lived detached threads
 * (each allocates, frees and returns) in a loop right up to its exit.
 * MODE says how the process ends:
 *   return       main returns 0 (exit_group(0) from the main thread)
 *   exit         main calls exit(37)
 *   thread-exit  a thread calls exit(41) while main waits to join it
 *   abort        a thread calls abort() while main waits to join it
 *   main-first   main calls pthread_exit; a thread joins it, then calls exit(41)
 * It leaks one block on purpose and records it ({"kind":"leak","addr","size"}),
 * the threads that never end on their own and so must be held at the end
 * ({"kind":"stays","tid","what"}: busy, blocked, main, ender), and how it ends
 * ({"kind":"end","code"} or {"kind":"end","signal"}). */
#include "fixture.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define LEAK_SIZE 4321

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_cond_t end_cond = PTHREAD_COND_INITIALIZER;
static bool ending;
static atomic_int started;

static void stays(const char *what)
{
	fixture_truth("{\"kind\":\"stays\",\"tid\":%d,\"what\":\"%s\"}", (int)gettid(), what);
}

static void *busy(void *arg)
{
	(void)arg;
	stays("busy");
	atomic_fetch_add(&started, 1);
	for (unsigned i = 0;; i++) {
		volatile char *p = malloc(32 + i % 200);
		p[0] = (char)i;
		free((void *)p);
	}
	return NULL;
}

static void *blocked_in_futex(void *arg)
{
	(void)arg;
	stays("futex");
	pthread_mutex_lock(&lock);
	atomic_fetch_add(&started, 1);
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static void *blocked_in_sleep(void *arg)
{
	(void)arg;
	stays("sleep");
	atomic_fetch_add(&started, 1);
	for (;;) {
		struct timespec ts = { 1000, 0 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *exiting(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	atomic_fetch_add(&started, 1);
	while (!ending)
		pthread_cond_wait(&end_cond, &lock);
	pthread_mutex_unlock(&lock);
	pthread_exit(NULL);
}

static void *short_lived(void *arg)
{
	(void)arg;
	free(malloc(100));
	return NULL;
}

static void spawn(void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_t t;
	if (pthread_create(&t, &attr, fn, NULL) != 0) {
		perror("pthread_create");
		exit(90);
	}
	pthread_attr_destroy(&attr);
}

/* Holds the chunk after the leaked block, so that the pointers malloc makes to
 * the free chunk that follows (its header is in the leaked block's last
 * bytes: an interior pointer) go beyond it. */
static void *after_leak;

/* The block no pointer refers to once this returns. */
static __attribute__((noinline)) void leak(void)
{
	char *p = malloc(LEAK_SIZE);
	after_leak = malloc(64);
	memset(p, 0x5a, LEAK_SIZE);
	fixture_truth("{\"kind\":\"leak\",\"addr\":\"%p\",\"size\":%d}", (void *)p, LEAK_SIZE);
}

/* Zero the stack below main's frame, where leak() and the printing of the
 * record left stale copies of pointers into the block: frames made later
 * there (pthread_create's) would keep them in their unwritten slots. */
static __attribute__((noinline)) void scrub_stack(void)
{
	char junk[16384];
	explicit_bzero(junk, sizeof(junk));
}

/* Wake the exiting threads, then create threads until the last moment. */
static void end_with_threads_starting(void)
{
	pthread_mutex_lock(&lock);
	ending = true;
	pthread_cond_broadcast(&end_cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 20; i++)
		spawn(short_lived);
}

static const char *mode;
static pthread_t main_thread;

static void *ender(void *arg)
{
	(void)arg;
	stays("ender");
	if (!strcmp(mode, "main-first"))
		pthread_join(main_thread, NULL);
	end_with_threads_starting();
	if (!strcmp(mode, "abort")) {
		fixture_truth("{\"kind\":\"end\",\"signal\":%d}", SIGABRT);
		abort();
	}
	fixture_truth("{\"kind\":\"end\",\"code\":41}");
	exit(41);
}

int main(int argc, char **argv)
{
	mode = argc > 1 ? argv[1] : "return";
	int n = argc > 2 ? atoi(argv[2]) : 10;
	bool main_first = !strcmp(mode, "main-first");
	main_thread = pthread_self();
	if (!main_first)
		stays("main");
	leak();
	scrub_stack();
	for (int i = 0; i < n; i++) {
		spawn(busy);
		spawn(i % 2 ? blocked_in_futex : blocked_in_sleep);
		spawn(exiting);
	}
	while (atomic_load(&started) < 3 * n)
		sched_yield();
	if (!strcmp(mode, "thread-exit") || !strcmp(mode, "abort") || main_first) {
		pthread_t t;
		pthread_create(&t, NULL, ender, NULL);
		if (main_first)
			pthread_exit(NULL);
		pthread_join(t, NULL);
		return 99; /* not reached: the ender ends the process */
	}
	if (!strcmp(mode, "exit")) {
		fixture_truth("{\"kind\":\"end\",\"code\":37}");
		end_with_threads_starting();
		exit(37);
	}
	fixture_truth("{\"kind\":\"end\",\"code\":0}");
	end_with_threads_starting();
	return 0;
}
