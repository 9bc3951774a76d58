/* A program as distributions ship servers (mariadbd): position-independent,
 * its globals exported (-rdynamic, for plugins), stripped by the test, with its
 * debug info in a separate file or nowhere. A thread waits on an exported
 * mutex that main holds. Records the globals' addresses:
 *   {"kind":"global","name":"LOCK_item_func_sleep","addr":"0x..","exported":true} */
// fixture-flags: -O1 -fPIE -pie -rdynamic
#include "fixture.h"

pthread_mutex_t LOCK_item_func_sleep = PTHREAD_MUTEX_INITIALIZER;
long g_queries = 42;
static long s_hidden_count = 7;

static void *sleeper(void *arg)
{
	(void)arg;
	fixture_arrive();
	FIXTURE_PARK("mutex"); pthread_mutex_lock(&LOCK_item_func_sleep);
	return NULL;
}

static void record(const char *name, const void *addr, int exported)
{
	fixture_truth("{\"kind\":\"global\",\"name\":\"%s\",\"addr\":\"%p\",\"exported\":%s}", name, addr,
		      exported ? "true" : "false");
}

int main(void)
{
	record("LOCK_item_func_sleep", &LOCK_item_func_sleep, 1);
	record("g_queries", &g_queries, 1);
	record("s_hidden_count", &s_hidden_count, 0);
	pthread_mutex_lock(&LOCK_item_func_sleep);
	pthread_t t;
	pthread_create(&t, NULL, sleeper, NULL);
	fixture_wait_arrivals(1);
	fixture_ready();
	FIXTURE_PARK("join"); pthread_join(t, NULL);
	return (int)(g_queries + s_hidden_count);
}
