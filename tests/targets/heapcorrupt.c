// fixture-flags: -Wno-use-after-free
/* A glibc heap damaged on purpose, one way per argument:
 *   size     a used chunk's size field overwritten with garbage
 *   fastbin  a fastbin made cyclic (a -> b -> a: a double free glibc misses)
 *   tcache   a tcache bin made cyclic (the key cleared, then freed twice)
 * Blocks allocated after the damage are recorded ("after"), so tests can check
 * that the walk resumes past it; the damaged chunk is recorded ("damage"). */
#include "fixture.h"

#include <malloc.h>
#include <stdint.h>

static void record(const char *kind, void *p)
{
	fixture_truth("{\"kind\":\"%s\",\"addr\":\"%p\",\"usable\":%zu}", kind, p, malloc_usable_size(p));
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "size";
	fixture_truth("{\"kind\":\"start\"}");
	void *before = malloc(100);
	record("before", before);
	if (!strcmp(mode, "size")) {
		uint64_t *victim = malloc(200);
		record("damage", victim);
		for (int i = 0; i < 5; i++)
			record("after", malloc(48));
		victim[-1] = 0x4141414141414141ull; /* the size field */
	} else if (!strcmp(mode, "fastbin")) {
		void *fill[7], *a = malloc(40), *b = malloc(40);
		for (int i = 0; i < 7; i++)
			fill[i] = malloc(40);
		for (int i = 0; i < 7; i++)
			free(fill[i]); /* the tcache bin is full: the rest goes to the fastbin */
		record("damage", a);
		free(a);
		free(b);
		free(a); /* a is not the fastbin's head, so glibc does not notice */
		for (int i = 0; i < 3; i++)
			record("after", malloc(300));
	} else {
		uint64_t *p = malloc(72);
		record("damage", p);
		free(p);
		p[1] = 0; /* the tcache key: with it cleared, the double free goes unnoticed */
		free(p);
		for (int i = 0; i < 3; i++)
			record("after", malloc(500));
	}
	fixture_ready();
	for (;;)
		pause();
}
