/* A small heap that leaks or not, for the allocator tests: the same program
 * with glibc's malloc (built by make), preloaded with another malloc, linked
 * with a static jemalloc, or built with a sanitizer (by the tests). With the
 * argument "leak" it loses LOST blocks, each recorded as
 *   {"kind":"lost","addr":"0x..","size":N}
 * and every other block stays reachable from g_kept. */
#include "fixture.h"

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

int main(int argc, char **argv)
{
	for (int i = 0; i < KEPT; i++)
		g_kept[i] = calloc(1, 64);
	if (argc > 1 && !strcmp(argv[1], "leak"))
		deep();
	fixture_ready();
	for (;;)
		pause();
}
