// fixture-flags: -Wno-use-after-free -Wno-unused-result
/* A glibc heap damaged on purpose, one way per argument (the modes table at
 * the end). Each mode records, before it damages anything, the address where
 * the damage is ("damage": the chunk, tcache entry, arena or heap_info whose
 * word it overwrites, as a heap check should name it), blocks allocated before
 * and after the damage ("before", "after") so tests can check that the walk
 * goes on past it, then overwrites one word and never calls malloc again.
 *
 * On SIGUSR1 it checksums the damaged structures again and prints "intact"
 * or "changed": strand only reads, so it must be "intact".
 *
 * The layouts (glibc 2.36, x86_64) are checked against glibc's own counters
 * (mallinfo2) before use: a mismatch exits 3 rather than damage the wrong word. */
#include "fixture.h"

#include <malloc.h>
#include <signal.h>
#include <fcntl.h>
#include <stdint.h>

#define ARENA_TOP 0x60
#define ARENA_UNSORTED 0x60 /* bin_at(1): the unsorted bin's head, as a chunk */
#define ARENA_NEXT 0x870
#define ARENA_SYSTEM_MEM 0x888
#define ARENA_SIZE 0x898
#define HEAP_MAX 0x4000000ull
#define GARBAGE 0x4141414141414140ull

typedef uint64_t word;

static word *at(uint64_t addr)
{
	return (word *)(uintptr_t)addr;
}

static uint64_t chunk(void *user)
{
	return (uint64_t)(uintptr_t)user - 16;
}

static uint64_t chunk_size(uint64_t c)
{
	return at(c)[1] & ~7ull;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "heapcorrupt: layout check failed: %s\n", what);
		exit(3);
	}
}

static void record(const char *kind, void *p)
{
	fixture_truth("{\"kind\":\"%s\",\"addr\":\"%p\",\"usable\":%zu}", kind, p, malloc_usable_size(p));
}

static void record_damage(uint64_t addr)
{
	fixture_truth("{\"kind\":\"damage\",\"addr\":\"0x%llx\"}", (unsigned long long)addr);
}

static void allocate_after(size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++)
		record("after", malloc(size));
}

/* ---- what the checksum covers ---- */

struct range {
	uint64_t start, end;
};
static struct range watched[8];
static int nwatched;
static uint64_t sum_at_ready;

static void watch(uint64_t start, uint64_t end)
{
	watched[nwatched++] = (struct range){ start, end };
}

static uint64_t checksum(void)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < nwatched; i++)
		for (const unsigned char *p = (const void *)(uintptr_t)watched[i].start;
		     p < (const unsigned char *)(uintptr_t)watched[i].end; p++)
			h = (h ^ *p) * 1099511628211ull;
	return h;
}

static void on_usr1(int sig)
{
	(void)sig;
	const char *say = checksum() == sum_at_ready ? "intact\n" : "changed\n";
	if (write(1, say, strlen(say)) < 0)
		_exit(3);
}

/* Where the main heap starts: the [heap] mapping, read without stdio (whose
 * buffers would come from the heap and go back to its bins). */
static uint64_t main_heap_start(void)
{
	static char maps[1 << 16];
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, maps, sizeof(maps) - 1) : -1;
	if (fd >= 0)
		close(fd);
	maps[n > 0 ? n : 0] = '\0';
	char *line = strstr(maps, "[heap]");
	while (line && line > maps && line[-1] != '\n')
		line--;
	check(line != NULL, "a [heap] mapping");
	return strtoull(line, NULL, 16);
}

/* main_arena: a chunk too big for the tcache, freed, sits alone in the
 * unsorted bin, whose fd is the bin's head in main_arena. Taken back at once:
 * the modes that want it free free it again. */
static void *big;
static uint64_t main_arena(void)
{
	static uint64_t arena;
	if (arena)
		return arena;
	big = malloc(0x500);
	malloc(24); /* keeps it from merging with top */
	free(big);
	arena = at((uint64_t)(uintptr_t)big)[0] - ARENA_UNSORTED;
	check(at(arena)[ARENA_SYSTEM_MEM / 8] == mallinfo2().arena, "main_arena.system_mem is mallinfo2().arena");
	check(malloc(0x500) == big, "the unsorted chunk comes back");
	return arena;
}

static uint64_t main_top(void)
{
	uint64_t top = at(main_arena())[ARENA_TOP / 8];
	check(chunk_size(top) == mallinfo2().keepcost, "main_arena.top's size is mallinfo2().keepcost");
	return top;
}

/* ---- modes ---- */

static void damage_size(void)
{
	word *victim = malloc(200);
	record_damage(chunk(victim));
	allocate_after(5, 48);
	victim[-1] = 0x4141414141414141ull;
}

/* A size that takes the next chunk 256 bytes backwards (it wraps around). */
static void damage_size_wrap(void)
{
	word *victim = malloc(200);
	record_damage(chunk(victim));
	allocate_after(5, 48);
	victim[-1] = (word)-0x100 | 1;
}

static void damage_top(word size)
{
	uint64_t top = main_top();
	record_damage(top);
	at(top)[1] = size;
}

static void damage_top_zero(void)
{
	damage_top(0);
}

static void damage_top_small(void)
{
	damage_top(0x21);
}

static void damage_top_huge(void)
{
	damage_top(0x7ffffffffffff001ull);
}

static void damage_system_mem(void)
{
	uint64_t arena = main_arena();
	record_damage(arena);
	at(arena)[ARENA_SYSTEM_MEM / 8] = 1ull << 62;
}

static void damage_arena_next(void)
{
	uint64_t arena = main_arena();
	record_damage(arena);
	at(arena)[ARENA_NEXT / 8] = GARBAGE;
}

static void damage_fastbin(void)
{
	void *fill[7], *a = malloc(40), *b = malloc(40);
	for (int i = 0; i < 7; i++)
		fill[i] = malloc(40);
	for (int i = 0; i < 7; i++)
		free(fill[i]); /* the tcache bin is full: the rest goes to the fastbin */
	record_damage(chunk(a));
	free(a);
	free(b);
	allocate_after(3, 300);
	free(a); /* a is not the fastbin's head, so glibc does not notice: a -> b -> a */
}

static void damage_fastbin_link(void)
{
	void *fill[7], *a = malloc(40), *b = malloc(40);
	for (int i = 0; i < 7; i++)
		fill[i] = malloc(40);
	for (int i = 0; i < 7; i++)
		free(fill[i]);
	free(a);
	free(b); /* the fastbin: b -> a */
	allocate_after(3, 300);
	record_damage(chunk(b));
	((word *)b)[0] = GARBAGE;
}

static void damage_tcache(void)
{
	word *p = malloc(72);
	record_damage((uint64_t)(uintptr_t)p);
	allocate_after(3, 500);
	free(p);
	p[1] = 0; /* the tcache key: with it cleared, the double free goes unnoticed */
	free(p);
}

static void damage_tcache_link(void)
{
	word *p = malloc(72), *q = malloc(72);
	free(p);
	free(q); /* the bin: q -> p */
	allocate_after(3, 500);
	record_damage((uint64_t)(uintptr_t)q);
	q[0] = GARBAGE;
}

/* The main thread's tcache_perthread_struct: the first chunk of the heap. */
static void damage_tcache_count(void)
{
	word *p = malloc(72), *q = malloc(72);
	free(p);
	free(q);
	uint64_t tcache = main_heap_start() + 16;
	uint16_t *counts = (uint16_t *)(uintptr_t)tcache;
	word *entries = at(tcache + 64 * sizeof(uint16_t));
	check(chunk_size(chunk(at(tcache))) == 0x290, "the heap starts with the tcache");
	check(entries[3] == (word)(uintptr_t)q && counts[3] == 2, "the 0x50 bin holds q -> p");
	record_damage(tcache);
	counts[3] = 5;
}

static void damage_unsorted_link(void)
{
	free(big); /* alone in the unsorted bin */
	record_damage(chunk(big));
	((word *)big)[0] = GARBAGE;
}

static void damage_unsorted_cycle(void)
{
	void *second = malloc(0x540);
	malloc(24);
	free(big);
	free(second); /* the unsorted bin: second -> big -> head */
	record_damage(chunk(big));
	((word *)big)[0] = chunk(big);
}

/* A chunk of 0x100 bytes into its small bin and big into its large bin: freed
 * into the unsorted bin, then sorted out of it by a malloc that neither fits. */
static void *sorted_small(void)
{
	uint64_t arena = main_arena();
	void *fill[7], *s = malloc(0xf0);
	malloc(24);
	for (int i = 0; i < 7; i++)
		fill[i] = malloc(0xf0);
	for (int i = 0; i < 7; i++)
		free(fill[i]);
	free(s);
	free(big);
	malloc(0x600);
	word fd = ((word *)s)[0];
	check(fd > arena + ARENA_UNSORTED && fd < arena + ARENA_NEXT, "the 0x100 chunk sits alone in a small bin");
	fd = ((word *)big)[0];
	check(fd > arena + ARENA_UNSORTED && fd < arena + ARENA_NEXT, "the 0x510 chunk sits alone in a large bin");
	return s;
}

static void damage_smallbin_link(void)
{
	void *s = sorted_small();
	record_damage(chunk(s));
	((word *)s)[0] = GARBAGE;
}

static void damage_largebin_link(void)
{
	sorted_small();
	record_damage(chunk(big));
	((word *)big)[0] = GARBAGE;
}

/* The copy of a free chunk's size in the next chunk's prev_size. */
static void damage_prev_size(void)
{
	free(big);
	uint64_t c = chunk(big);
	record_damage(c);
	at(c + chunk_size(c))[0] = 0x4242;
}

/* ---- a second arena ---- */

struct thread_arena {
	uint64_t arena, heap, top_heap;
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t arena_made = PTHREAD_COND_INITIALIZER;
static struct thread_arena thread_arena;
static int blocks_wanted;

/* A thread's first malloc makes it an arena of its own; enough blocks too
 * small to be mmapped give that arena a second heap. The thread stays: its
 * exit would free into the damaged arena. */
static void *arena_thread(void *arg)
{
	(void)arg;
	void *p = NULL;
	for (int i = 0; i < blocks_wanted; i++)
		p = malloc(120 * 1024);
	uint64_t arena = at((uint64_t)(uintptr_t)p & ~(HEAP_MAX - 1))[0]; /* heap_info.ar_ptr */
	pthread_mutex_lock(&arena_lock);
	thread_arena.arena = arena;
	thread_arena.heap = arena & ~(HEAP_MAX - 1); /* the first heap holds the arena */
	thread_arena.top_heap = at(arena)[ARENA_TOP / 8] & ~(HEAP_MAX - 1);
	pthread_cond_signal(&arena_made);
	pthread_mutex_unlock(&arena_lock);
	for (;;)
		pause();
	return NULL;
}

static struct thread_arena make_thread_arena(int blocks)
{
	main_arena(); /* mallinfo2 checks it before a second arena adds to the counts */
	blocks_wanted = blocks;
	pthread_t t;
	pthread_mutex_lock(&arena_lock);
	pthread_create(&t, NULL, arena_thread, NULL);
	while (!thread_arena.arena)
		pthread_cond_wait(&arena_made, &arena_lock);
	pthread_mutex_unlock(&arena_lock);
	check(thread_arena.arena != main_arena(), "the thread has an arena of its own");
	check(at(thread_arena.arena)[ARENA_NEXT / 8] == main_arena(), "the ring: main -> thread -> main");
	watch(thread_arena.arena, thread_arena.arena + ARENA_SIZE);
	return thread_arena;
}

static void damage_arena_self(void)
{
	struct thread_arena ta = make_thread_arena(1);
	record_damage(ta.arena);
	at(ta.arena)[ARENA_NEXT / 8] = ta.arena;
}

static struct thread_arena two_heaps(void)
{
	struct thread_arena ta = make_thread_arena(700);
	check(ta.top_heap != ta.heap && at(ta.top_heap)[1] == ta.heap, "the arena's newest heap links to its first");
	watch(ta.top_heap, ta.top_heap + 64);
	watch(ta.heap, ta.heap + 64);
	return ta;
}

static void damage_heap_prev(void)
{
	struct thread_arena ta = two_heaps();
	record_damage(ta.top_heap);
	at(ta.top_heap)[1] = GARBAGE;
}

static void damage_heap_size(void)
{
	struct thread_arena ta = two_heaps();
	record_damage(ta.heap);
	at(ta.heap)[2] = 0x4141;
}

static const struct {
	const char *name;
	void (*damage)(void);
} modes[] = {
	{ "size", damage_size },
	{ "size-wrap", damage_size_wrap },
	{ "top-zero", damage_top_zero },
	{ "top-small", damage_top_small },
	{ "top-huge", damage_top_huge },
	{ "system-mem", damage_system_mem },
	{ "arena-next", damage_arena_next },
	{ "arena-self", damage_arena_self },
	{ "heap-prev", damage_heap_prev },
	{ "heap-size", damage_heap_size },
	{ "fastbin", damage_fastbin },
	{ "fastbin-link", damage_fastbin_link },
	{ "tcache", damage_tcache },
	{ "tcache-link", damage_tcache_link },
	{ "tcache-count", damage_tcache_count },
	{ "unsorted-link", damage_unsorted_link },
	{ "unsorted-cycle", damage_unsorted_cycle },
	{ "smallbin-link", damage_smallbin_link },
	{ "largebin-link", damage_largebin_link },
	{ "prev-size", damage_prev_size },
};

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "size";
	size_t i = 0;
	while (i < sizeof(modes) / sizeof(modes[0]) && strcmp(modes[i].name, mode))
		i++;
	if (i == sizeof(modes) / sizeof(modes[0])) {
		fprintf(stderr, "heapcorrupt: unknown mode %s\n", mode);
		return 2;
	}
	fixture_truth("{\"kind\":\"start\"}");
	record("before", malloc(100));
	uint64_t heap_start = main_heap_start();
	watch(main_arena(), main_arena() + ARENA_SIZE);
	signal(SIGUSR1, on_usr1);
	modes[i].damage();
	/* From here on no malloc: the heap is damaged. */
	watch(heap_start, (uint64_t)(uintptr_t)sbrk(0));
	fixture_ready();
	sum_at_ready = checksum(); /* after ready's own writes to the truth file's buffer */
	for (;;)
		pause();
}
