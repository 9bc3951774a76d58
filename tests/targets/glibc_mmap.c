/* mmapped chunks in the shapes a walk from the start of each mapping misses,
 * each recorded with the leak class valgrind's rules give it:
 *   {"kind":"block","addr":"0x..","usable":N,"class":"definitely lost"|"still reachable","shape":"..."}
 * The shapes:
 *   merged      a block whose mapping merged with an unrelated anonymous
 *               mapping just below it: the chunk starts 2 MiB into the
 *               kernel's mapping (as python3's tables after a pymalloc arena)
 *   split-none  a 1 MiB block with part of it made PROT_NONE (LeakSanitizer's
 *               leak_check_segv)
 *   split-both  a 10 MiB block with a PROT_NONE and a PROT_READ part
 *               (valgrind's leak-segv-jmp): three mappings
 *   memalign    big blocks from memalign, posix_memalign and aligned_alloc,
 *               whose headers glibc moved on from their mapping's start
 * and glibc's own count of them all, from mallinfo2:
 *   {"kind":"mmapped","chunks":N,"bytes":N}
 * With the argument "hidden", one more block whose first page (its header)
 * is made PROT_NONE: no walk can read it, and the count says it is there.
 *   {"kind":"hidden","addr":"0x.."}
 * Lost blocks are made in a deep frame that has returned, as in leaks.c. */
#include "fixture.h"

#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096ul
#define MIB (1ul << 20)
/* The unrelated mappings, and the biggest alignment: gaps between blocks
 * past 1 MiB, where the leak check's block index starts a region of its own
 * (a region of big blocks whose base, aligned down to its slot size, reached
 * back into the region before it once made the blocks there seem lost). */
#define NEIGHBOUR (2ul << 20)

static void *g_merged, *g_split, *g_aligned[2]; /* the reachable ones */
static char *g_neighbours[2];                   /* the unrelated mappings */

static void expect(void *p, const char *cls, const char *shape)
{
	fixture_truth("{\"kind\":\"block\",\"addr\":\"%p\",\"usable\":%zu,\"class\":\"%s\",\"shape\":\"%s\"}", p,
		      malloc_usable_size(p), cls, shape);
}

/* Whether addr begins a mapping in /proc/self/maps. */
static int starts_mapping(uintptr_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long start;
	int found = 0;
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-", &start) == 1 && start == addr)
			found = 1;
	if (f)
		fclose(f);
	return found;
}

/* A block of size bytes whose mapping gets an unrelated anonymous mapping of
 * NEIGHBOUR bytes right below it, filled with bytes that point nowhere; the
 * kernel merges the two. Exits when the merge does not happen. */
static void *merged_block(size_t size, int which)
{
	char *p = malloc(size);
	memset(p, 0x11, size);
	uintptr_t chunk = (uintptr_t)p - 16;
	char *below = mmap((void *)(chunk - NEIGHBOUR), NEIGHBOUR, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (below == MAP_FAILED || (uintptr_t)below != chunk - NEIGHBOUR || starts_mapping(chunk)) {
		fprintf(stderr, "glibc_mmap: the mapping below %p did not merge\n", p);
		exit(2);
	}
	memset(below, 0x5a, NEIGHBOUR);
	g_neighbours[which] = below;
	return p;
}

/* A block with [from, from + len) of its pages given prot. */
static void protect(char *p, size_t from, size_t len, int prot)
{
	char *page = (char *)(((uintptr_t)p + from + PAGE - 1) & ~(PAGE - 1));
	if (mprotect(page, len, prot) != 0) {
		perror("mprotect");
		exit(2);
	}
}

__attribute__((noinline)) static void make_lost(void)
{
	void *merged = merged_block(300 * 1024, 0);
	expect(merged, "definitely lost", "merged");
	char *none = malloc(MIB);
	memset(none, 0x22, MIB);
	protect(none, 64 * 1024, 64 * 1024, PROT_NONE);
	expect(none, "definitely lost", "split-none");
	char *both = malloc(10 * MIB);
	memset(both, 0x33, 10 * MIB);
	protect(both, 2 * MIB, 3 * MIB, PROT_NONE);
	protect(both, 6 * MIB, 2 * MIB, PROT_READ);
	expect(both, "definitely lost", "split-both");
	void *aligned;
	if (posix_memalign(&aligned, NEIGHBOUR, 3 * MIB) != 0)
		exit(2);
	memset(aligned, 0x44, 3 * MIB);
	expect(aligned, "definitely lost", "memalign");
}

/* Far below where the live frames of main's parked call chain will reach. */
__attribute__((noinline)) static void deep(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	make_lost();
	pad[1] = pad[0];
}

int main(int argc, char **argv)
{
	deep();
	g_merged = merged_block(2 * MIB, 1);
	expect(g_merged, "still reachable", "merged");
	g_split = malloc(4 * MIB);
	memset(g_split, 0x55, 4 * MIB);
	protect(g_split, MIB, MIB, PROT_READ);
	expect(g_split, "still reachable", "split-both");
	g_aligned[0] = memalign(65536, 200000);
	expect(g_aligned[0], "still reachable", "memalign");
	g_aligned[1] = aligned_alloc(PAGE, MIB);
	expect(g_aligned[1], "still reachable", "memalign");
	if (argc > 1 && !strcmp(argv[1], "hidden")) {
		char *hidden = malloc(MIB);
		if (mprotect((void *)((uintptr_t)hidden & ~(PAGE - 1)), PAGE, PROT_NONE) != 0)
			exit(2);
		fixture_truth("{\"kind\":\"hidden\",\"addr\":\"%p\"}", hidden);
	}
	struct mallinfo2 mi = mallinfo2();
	fixture_truth("{\"kind\":\"mmapped\",\"chunks\":%zu,\"bytes\":%zu}", mi.hblks, mi.hblkhd);
	fixture_ready();
	for (;;)
		pause();
}
