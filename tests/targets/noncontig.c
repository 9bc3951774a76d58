/* A main arena that became non-contiguous: right after the heap's first
 * growth, a mapping is placed where the program break would go, so every later
 * sbrk fails and glibc mmaps 1 MiB stand-in regions instead, fenceposting the
 * old top each time. About 3 MiB of small blocks spread over several regions;
 * every fifth is freed. Records, as the heap fixture does:
 *   {"kind":"malloc","addr":"0x..","usable":N,"arena":"main"}
 *   {"kind":"free","addr":"0x..","expect":"any"}
 *   {"kind":"blocker","addr":"0x..","sbrk_failed":true|false} */
#include "fixture.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <sys/mman.h>

#define BLOCKS 3000

int main(void)
{
	static void *blocks[BLOCKS];
	fixture_truth("{\"kind\":\"start\"}");
	free(malloc(16)); /* the sbrk area exists from here */
	void *brk_end = sbrk(0);
	void *blocker = mmap(brk_end, 1 << 16, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	errno = 0;
	bool sbrk_fails = sbrk(4096) == (void *)-1;
	fixture_truth("{\"kind\":\"blocker\",\"addr\":\"%p\",\"sbrk_failed\":%s}", blocker, sbrk_fails ? "true" : "false");
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = malloc(1000 + (size_t)(i % 7) * 16);
		fixture_truth("{\"kind\":\"malloc\",\"addr\":\"%p\",\"usable\":%zu,\"arena\":\"main\"}", blocks[i],
			      malloc_usable_size(blocks[i]));
	}
	for (int i = 0; i < BLOCKS; i += 5) {
		fixture_truth("{\"kind\":\"free\",\"addr\":\"%p\",\"expect\":\"any\"}", blocks[i]);
		free(blocks[i]);
	}
	fixture_ready();
	for (;;)
		pause();
}
