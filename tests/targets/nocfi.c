/* A program built without CFI (no .eh_frame, no .debug_frame) and stripped of
 * its symbols: strand must still unwind it through frame pointers, and show
 * addresses as module+offset where no name is known. */
// fixture-flags: -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-omit-frame-pointer -g0 -s
#include "fixture.h"

__attribute__((noinline)) static void level3(void)
{
	fixture_arrive();
	FIXTURE_PARK("sleep"); for (;;) sleep(1000);
}

__attribute__((noinline)) static void level2(void)
{
	level3();
	__asm__ volatile("");
}

__attribute__((noinline)) static void level1(void)
{
	level2();
	__asm__ volatile("");
}

static void *worker(void *arg)
{
	(void)arg;
	level1();
	return NULL;
}

int main(void)
{
	pthread_t t;
	fixture_truth("{\"kind\":\"functions\",\"level3\":\"%p\",\"level2\":\"%p\",\"level1\":\"%p\","
		      "\"worker\":\"%p\",\"main\":\"%p\"}", (void *)level3, (void *)level2, (void *)level1,
		      (void *)worker, (void *)main);
	pthread_create(&t, NULL, worker, NULL);
	fixture_wait_arrivals(1);
	fixture_ready();
	pthread_join(t, NULL);
	return 0;
}
