/* Many threads (FIXTURE_THREADS, default 1000) parked in a few nested frames:
 * for commands that take long enough to be interrupted. */
#include "fixture.h"

__attribute__((noinline)) static void park(int depth)
{
	volatile int locals[8] = { depth };
	if (depth > 0) {
		park(depth - 1);
		return;
	}
	fixture_arrive();
	while (locals[0] == 0)
		sleep(1000);
}

static void *worker(void *arg)
{
	park((int)(long)arg % 6);
	return NULL;
}

int main(void)
{
	const char *env = getenv("FIXTURE_THREADS");
	int n = env ? atoi(env) : 1000;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, &attr, worker, (void *)i);
	}
	fixture_wait_arrivals(n);
	fixture_ready();
	for (;;)
		pause();
}
