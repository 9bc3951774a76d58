/* A small heap that leaks or not, for the allocator tests: the same program
 * with glibc's malloc (built by make), preloaded with another malloc, linked
 * with a static jemalloc, or built with a sanitizer (by the tests). With the
 * argument "leak" it loses LOST blocks, each recorded as
 *   {"kind":"lost","addr":"0x..","size":N}
 * and every other block stays reachable from g_kept. With "exit" it exits
 * once ready (for `strand run`) instead of waiting to be killed. */
#include "fixture.h"

#include <stdbool.h>

#define LOST 5
#define KEPT 8

void *g_kept[KEPT];

__attribute__((noinline)) static void lose(void)
{
	for (int i = 0; i < LOST; i++) {
		int size = 100 + 16 * i;
		char *p = malloc(size);
		snprintf(p, size, "lost %d", i);
		fixture_truth("{\"kind\":\"lost\",\"addr\":\"%p\",\"size\":%d}", (void *)p, size);
	}
}

/* Far below where main's parked frames reach: no stale copy of a lost
 * pointer stays in a live frame. */
__attribute__((noinline)) static void deep(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	lose();
	pad[1] = pad[0];
}

static bool has_arg(int argc, char **argv, const char *arg)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], arg))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	for (int i = 0; i < KEPT; i++)
		g_kept[i] = calloc(1, 64);
	if (has_arg(argc, argv, "leak"))
		deep();
	fixture_ready();
	while (!has_arg(argc, argv, "exit"))
		pause();
	return 0;
}
