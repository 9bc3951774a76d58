/* bench: a process with N threads (default 1000), each parked in a nested
 * call chain in nanosleep, for attach and backtrace timing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static __attribute__((noinline)) void park(int depth)
{
	if (depth > 0) {
		park(depth - 1);
		return;
	}
	for (;;)
		sleep(1000);
}

static void *thread_main(void *arg)
{
	park((int)(long)arg % 8);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
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
