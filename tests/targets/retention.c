/* Retained-array and escape cases with their expected verdicts:
 *   {"kind":"array","addr":"0x..","finding":true|false,"name":"..."}
 *   {"kind":"escape","addr":"0x..","finding":true|false,"name":"..."} */
#include "fixture.h"

#include <stdint.h>

#define MIB (1 << 20)

struct buffer {
	char *data;
	size_t len, cap;
};

struct vec {
	char *begin, *end, *cap_end;
};

char *g_view_only, *g_view_with_start, *g_start;
struct buffer g_sparse, g_full;
char *g_views[3];
struct vec g_vec;
void *g_escaped;

static void expect(const char *kind, void *addr, int finding, const char *name)
{
	fixture_truth("{\"kind\":\"%s\",\"addr\":\"%p\",\"finding\":%s,\"name\":\"%s\"}", kind, addr,
		      finding ? "true" : "false", name);
}

static void arrays(void)
{
	char *a = malloc(MIB);
	g_view_only = a + 200;
	expect("array", a, 1, "view only");
	char *several = malloc(MIB);
	g_views[0] = several + 300, g_views[1] = several + 1000, g_views[2] = several + 2500;
	expect("array", several, 1, "several views");
	char *b = malloc(MIB);
	g_view_with_start = b + 200;
	g_start = b;
	expect("array", b, 0, "view and start");
	g_sparse.cap = 64 * 1024;
	g_sparse.data = malloc(g_sparse.cap);
	g_sparse.len = 100;
	expect("array", g_sparse.data, 1, "len << cap");
	g_full.cap = g_full.len = 64 * 1024;
	g_full.data = malloc(g_full.cap);
	expect("array", g_full.data, 0, "len == cap");
	g_vec.begin = malloc(64 * 1024);
	g_vec.end = g_vec.begin + 1024;
	g_vec.cap_end = g_vec.begin + 64 * 1024;
	expect("array", g_vec.begin, 1, "vector");
}

__attribute__((noinline)) static void callee_holds(char *p)
{
	char *volatile mine = p;
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (mine) sleep(1000);
}

static void *one_frame(void *arg)
{
	(void)arg;
	char *volatile scratch = malloc(64);
	expect("escape", scratch, 1, "one frame");
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (scratch) sleep(1000);
	return NULL;
}

static void *two_frames(void *arg)
{
	(void)arg;
	char *volatile p = malloc(64);
	expect("escape", p, 0, "two frames");
	callee_holds(p);
	return NULL;
}

static void *frame_and_global(void *arg)
{
	(void)arg;
	char *volatile p = malloc(64);
	g_escaped = p;
	expect("escape", p, 0, "frame and global");
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (p) sleep(1000);
	return NULL;
}

int main(void)
{
	pthread_t t;
	fixture_truth("{\"kind\":\"start\"}");
	arrays();
	pthread_create(&t, NULL, one_frame, NULL);
	pthread_create(&t, NULL, two_frames, NULL);
	pthread_create(&t, NULL, frame_and_global, NULL);
	fixture_wait_arrivals(3);
	fixture_ready();
	FIXTURE_PARK("pause"); for (;;) pause();
}
