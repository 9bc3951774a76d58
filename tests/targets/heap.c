// fixture-flags: -Wno-use-after-free
/* A glibc heap with a block in every place a block can be: used blocks of
 * many sizes, calloc, realloc growth, memalign, mmapped blocks (plain and
 * memalign'd), full and partial tcache bins, every fastbin, the unsorted,
 * small and large bins, and non-main arenas from three threads (one with
 * several 64 MiB heaps). Every malloc and free is recorded with the place glibc
 * 2.36 puts the freed block, by construction:
 *   {"kind":"malloc","addr":"0x..","size":N,"usable":N,"arena":"main"|"thread"}
 *   {"kind":"free","addr":"0x..","expect":"tcache"|"fastbin"|"unsorted"|"smallbin"|"largebin"|"any"}
 * FIXTURE_HEAP_BIG=0 skips the 70 MiB multi-heap arena. */
#include "fixture.h"

#include <malloc.h>
#include <stdint.h>

static void *track(void *p, size_t size, const char *arena)
{
	fixture_truth("{\"kind\":\"malloc\",\"addr\":\"%p\",\"size\":%zu,\"usable\":%zu,\"arena\":\"%s\"}", p, size,
		      malloc_usable_size(p), arena);
	return p;
}

static void *tmalloc(size_t size, const char *arena)
{
	return track(malloc(size), size, arena);
}

static void tfree(void *p, const char *expect)
{
	fixture_truth("{\"kind\":\"free\",\"addr\":\"%p\",\"expect\":\"%s\"}", p, expect);
	free(p);
}

/* n blocks of one size freed in order: the first seven fill the tcache bin,
 * the rest go to the fastbin (small sizes) or the unsorted bin. */
static void fill_size_class(size_t size, int n, const char *arena, const char *overflow)
{
	void *p[16];
	void *guard[16];
	for (int i = 0; i < n; i++) {
		p[i] = tmalloc(size, arena);
		guard[i] = tmalloc(24, arena); /* keeps freed neighbours from merging */
	}
	for (int i = 0; i < n; i++)
		tfree(p[i], i < 7 ? "tcache" : overflow);
	(void)guard;
}

/* The order matters: a large request (0x400 or more), and any request that
 * reaches the unsorted bin, consolidates the fast bins and sorts the unsorted
 * bin. So: mmapped and large blocks first, then the small and large bin
 * patterns, the fast bins next, and the unsorted chunk is freed last. */
static void main_arena_patterns(void)
{
	/* mmapped: above the 128 KiB threshold, plain and memalign'd */
	fixture_truth("{\"kind\":\"mmapped\",\"addr\":\"%p\"}", tmalloc(1 << 20, "mmap"));
	fixture_truth("{\"kind\":\"mmapped\",\"addr\":\"%p\"}", tmalloc(300 * 1024, "mmap"));
	fixture_truth("{\"kind\":\"mmapped\",\"addr\":\"%p\"}", track(memalign(65536, 200000), 200000, "mmap"));
	/* calloc, realloc growth, memalign */
	track(calloc(10, 30), 300, "main");
	void *r = tmalloc(40, "main");
	for (size_t size = 80; size <= 2000; size *= 3) {
		uintptr_t old = (uintptr_t)r;
		r = realloc(r, size);
		if ((uintptr_t)r != old)
			fixture_truth("{\"kind\":\"free\",\"addr\":\"%p\",\"expect\":\"any\"}", (void *)old);
		track(r, size, "main");
	}
	track(memalign(64, 100), 100, "main");
	void *pm;
	if (posix_memalign(&pm, 256, 1000) == 0)
		track(pm, 1000, "main");
	/* Everything is allocated first, then freed, then one large request sorts
	 * the unsorted bin; nothing is allocated after, so no bin is split. */
	void *partial[3], *small[9], *fast[7][9];
	for (int i = 0; i < 3; i++)
		partial[i] = tmalloc(200, "main");
	for (int i = 0; i < 9; i++)
		small[i] = tmalloc(264, "main"), tmalloc(24, "main");
	void *l1 = tmalloc(0x600, "main"), *g1 = tmalloc(24, "main");
	void *l2 = tmalloc(0x800, "main"), *g2 = tmalloc(24, "main");
	void *u = tmalloc(0x500, "main"), *g3 = tmalloc(24, "main");
	for (int c = 0; c < 7; c++)
		for (int i = 0; i < 9; i++)
			fast[c][i] = tmalloc(24 + 16 * (size_t)c, "main"), tmalloc(24, "main");
	for (int i = 0; i < 3; i++)
		tfree(partial[i], "tcache"); /* a partial tcache bin */
	for (int i = 0; i < 9; i++)
		tfree(small[i], i < 7 ? "tcache" : "smallbin");
	tfree(l1, "largebin");
	tfree(l2, "largebin");
	void *sorter = tmalloc(0x1200, "main");
	/* Every fastbin size (chunks 0x20..0x80): 9 each, 7 to tcache, 2 to fastbin. */
	for (int c = 0; c < 7; c++)
		for (int i = 0; i < 9; i++)
			tfree(fast[c][i], i < 7 ? "tcache" : "fastbin");
	tfree(u, "unsorted");
	(void)g1, (void)g2, (void)g3, (void)sorter;
}

struct worker {
	pthread_t thread;
	size_t big; /* bytes to allocate in 100 KiB blocks: several heaps */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20; i++)
		tmalloc(1000 + (size_t)i * 8, "thread");
	for (size_t done = 0; done < w->big; done += 100 * 1024)
		tmalloc(100 * 1024, "thread");
	for (size_t size = 24; size <= 72; size += 16)
		fill_size_class(size, 8, "thread", "fastbin");
	fixture_arrive();
	FIXTURE_PARK("sleep"); for (;;) sleep(1000);
	return NULL;
}

int main(void)
{
	static struct worker workers[3];
	const char *big = getenv("FIXTURE_HEAP_BIG");
	fixture_truth("{\"kind\":\"start\"}");
	workers[0].big = big && !strcmp(big, "0") ? 0 : 70u << 20;
	for (int i = 0; i < 3; i++)
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	fixture_wait_arrivals(3);
	main_arena_patterns();
	fixture_ready();
	for (;;)
		pause();
}
