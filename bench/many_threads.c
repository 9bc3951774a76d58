/* bench: a process with N threads (default 1000), each parked in a nested
 * call chain, for attach, backtrace and blocked timing. By default every
 * thread sleeps; with "mixed" they take turns: sleep, a mutex main holds, a
 * condition variable nobody signals, a semaphore at zero. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER, g_cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;
static sem_t g_empty;
static int g_mixed;

static void wait_somehow(long kind)
{
	switch (g_mixed ? kind % 4 : 0) {
	case 1:
		pthread_mutex_lock(&g_held);
		break;
	case 2:
		pthread_mutex_lock(&g_cond_mutex);
		for (;;)
			pthread_cond_wait(&g_never, &g_cond_mutex);
	case 3:
		sem_wait(&g_empty);
		break;
	}
	for (;;)
		sleep(1000);
}

static __attribute__((noinline)) void park(int depth, long kind)
{
	if (depth > 0) {
		park(depth - 1, kind);
		return;
	}
	wait_somehow(kind);
}

static void *thread_main(void *arg)
{
	park((int)(long)arg % 8, (long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	g_mixed = argc > 2 && !strcmp(argv[2], "mixed");
	sem_init(&g_empty, 0, 0);
	pthread_mutex_lock(&g_held);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, thread_main, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
