/* The glibc malloc plugin on releases that this machine cannot build in time
 * (2.17, 2.23, 2.27): synthetic memory laid out as those releases' malloc/malloc.c
 * defines its structures (the structs below copy their field lists; the
 * compiler gives the offsets), behind a fake host. No libc symbols and no
 * libc file: the arena is found by the search of memory, its layout by the
 * versioned file name and by structure. (Built releases are tested end to
 * end in test_glibc_versions.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/strand_plugin.h"

const struct strand_plugin *strand_glibc_malloc_init(const struct strand_host_api *host);

/* glibc 2.17 (RHEL 7), malloc.c with PER_THREAD, THREAD_STATS off; 2.23
 * added attached_threads before system_mem. */
struct malloc_state_2_17 {
	int mutex, flags;
	uint64_t fastbinsY[10];
	uint64_t top, last_remainder;
	uint64_t bins[254];
	unsigned binmap[4];
	uint64_t next, next_free;
	uint64_t system_mem, max_system_mem;
};

struct malloc_state_2_23 {
	int mutex, flags;
	uint64_t fastbinsY[10];
	uint64_t top, last_remainder;
	uint64_t bins[254];
	unsigned binmap[4];
	uint64_t next, next_free, attached_threads;
	uint64_t system_mem, max_system_mem;
};

/* 2.27 to 2.34: have_fastchunks before fastbinsY. */
struct malloc_state_2_27 {
	int mutex, flags, have_fastchunks;
	uint64_t fastbinsY[10];
	uint64_t top, last_remainder;
	uint64_t bins[254];
	unsigned binmap[4];
	uint64_t next, next_free, attached_threads;
	uint64_t system_mem, max_system_mem;
};

/* malloc_par of 2.26 to 2.34, with the tcache fields. */
struct malloc_par_2_26 {
	uint64_t trim_threshold, top_pad, mmap_threshold, arena_test, arena_max;
	int n_mmaps, n_mmaps_max, max_n_mmaps, no_dyn_threshold;
	uint64_t mmapped_mem, max_mmapped_mem, sbrk_base;
	uint64_t tcache_bins, tcache_max_bytes, tcache_count, tcache_unsorted_limit;
};

/* 2.26 to 2.29: char counts (2.30 made them uint16_t). */
struct tcache_perthread_2_26 {
	char counts[64];
	uint64_t entries[64];
};

/* malloc_par of 2.17 to 2.23 (max_total_mem went in 2.24). */
struct malloc_par_2_17 {
	uint64_t trim_threshold, top_pad, mmap_threshold, arena_test, arena_max;
	int n_mmaps, n_mmaps_max, max_n_mmaps, no_dyn_threshold;
	uint64_t mmapped_mem, max_mmapped_mem, max_total_mem, sbrk_base;
};

#define LIBC_DATA 0x7f0000200000ull
#define HEAP 0x555555559000ull
#define HEAP_SIZE 0x21000ull
#define ARENA_OFF 0x240
#define MP_OFF 0x1000

struct region {
	uint64_t start;
	uint8_t *bytes;
	size_t len;
	const char *path;
};

#define TLS 0x7f0000100000ull /* a thread's static TLS, below its thread pointer */

static struct region regions[3];
static size_t nregions, nthreads;
static char discovery[512], evidence[512];

/* The blocks reported, the last report of an address winning (a list
 * overlay after the walk), and the problems. */
struct result {
	uint64_t addr[64];
	uint8_t state[64];
	int n, problems;
	int blocks[STRAND_INTERNAL + 1];
};

static size_t host_read(struct strand_host *h, uint64_t addr, void *buf, size_t len)
{
	(void)h;
	for (size_t i = 0; i < nregions; i++)
		if (addr >= regions[i].start && addr < regions[i].start + regions[i].len) {
			size_t avail = regions[i].start + regions[i].len - addr, n = len < avail ? len : avail;
			memcpy(buf, regions[i].bytes + (addr - regions[i].start), n);
			return n;
		}
	return 0;
}

static bool no_symbol(struct strand_host *h, const char *name, const char *module, uint64_t *addr, uint64_t *size)
{
	(void)h, (void)name, (void)module, (void)addr, (void)size;
	return false;
}

static const char *no_name(struct strand_host *h, uint64_t addr, uint64_t *offset)
{
	(void)h, (void)addr, (void)offset;
	return NULL;
}

static bool no_module(struct strand_host *h, const char *name, struct strand_module_info *out)
{
	(void)h, (void)name, (void)out;
	return false;
}

static bool no_module_at(struct strand_host *h, uint64_t addr, struct strand_module_info *out)
{
	(void)h, (void)addr, (void)out;
	return false;
}

static size_t mapping_count(struct strand_host *h)
{
	(void)h;
	return nregions;
}

static size_t thread_count(struct strand_host *h)
{
	(void)h;
	return nthreads;
}

static bool thread(struct strand_host *h, size_t i, struct strand_thread_info *out)
{
	(void)h, (void)i;
	*out = (struct strand_thread_info){ .tid = 100, .fs_base = TLS + 0x1000, .syscall = -1 };
	return true;
}

static bool mapping(struct strand_host *h, size_t i, struct strand_mapping_info *out)
{
	(void)h;
	*out = (struct strand_mapping_info){ regions[i].start, regions[i].start + regions[i].len, 0, 3,
					     regions[i].path };
	return true;
}

static bool no_auxv(struct strand_host *h, uint64_t type, uint64_t *value)
{
	(void)h, (void)type, (void)value;
	return false;
}

static bool option(struct strand_host *h, const char *name)
{
	(void)h;
	return !strcmp(name, "no-libc-symbols");
}

static void warn(struct strand_host *h, const char *fmt, ...)
{
	(void)h, (void)fmt;
}

static void set_evidence(struct strand_host *h, const char *fmt, ...)
{
	(void)h;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(evidence, sizeof(evidence), fmt, ap);
	va_end(ap);
}

static bool no_binding(struct strand_host *h, const char *name, uint64_t *addr)
{
	(void)h, (void)name, (void)addr;
	return false;
}

static bool no_env(struct strand_host *h, const char *name, char *buf, size_t len)
{
	(void)h, (void)name, (void)buf, (void)len;
	return false;
}

static uint64_t no_tls(struct strand_host *h)
{
	(void)h;
	return 0;
}

static const struct strand_host_api host = {
	.abi = STRAND_PLUGIN_ABI, .read = host_read, .lookup_symbol = no_symbol, .symbolize = no_name,
	.find_module = no_module, .mapping_count = mapping_count, .mapping = mapping, .thread_count = thread_count,
	.thread = thread, .auxv = no_auxv, .option = option, .warn = warn, .evidence = set_evidence,
	.module_at = no_module_at, .binding = no_binding, .environment = no_env, .static_tls_size = no_tls,
};

static void sink_arena(void *ctx, const struct strand_arena *a)
{
	(void)ctx, (void)a;
}

static void sink_block(void *ctx, const struct strand_block *b)
{
	struct result *r = ctx;
	int i = 0;
	while (i < r->n && r->addr[i] != b->addr)
		i++;
	assert_true(i < 64);
	if (i == r->n)
		r->addr[r->n++] = b->addr;
	r->state[i] = b->state;
}

static void sink_problem(void *ctx, uint64_t addr, const char *fmt, ...)
{
	(void)addr, (void)fmt;
	((struct result *)ctx)->problems++;
}

static void sink_discovery(void *ctx, const char *how)
{
	(void)ctx;
	snprintf(discovery, sizeof(discovery), "%s", how);
}

static void sink_metadata(void *ctx, uint64_t start, uint64_t end)
{
	(void)ctx, (void)start, (void)end;
}

static uint8_t libc_data[0x2000], heap[HEAP_SIZE], tls[0x1000];

static uint64_t build_heap_at(uint64_t c, uint64_t *fastbins, uint64_t *bins, uint64_t bins_addr);

static void put(uint64_t addr, uint64_t value)
{
	memcpy(heap + (addr - HEAP), &value, 8);
}

/* A chunk header at c: its size field. */
static void chunk(uint64_t c, uint64_t size)
{
	put(c + 8, size);
}

/* The main heap of both releases: used chunks, two in the 0x30 fastbin (raw
 * links: no safe-linking before 2.32), one in small bin 9 (0x90 bytes), top.
 * Returns top. */
static uint64_t build_heap(uint64_t *fastbins, uint64_t *bins, uint64_t bins_addr)
{
	memset(heap, 0, sizeof(heap));
	return build_heap_at(HEAP, fastbins, bins, bins_addr);
}

static uint64_t build_heap_at(uint64_t c, uint64_t *fastbins, uint64_t *bins, uint64_t bins_addr)
{
	uint64_t fast1, fast2, small;
	chunk(c, 0x30 | 1), c += 0x30;                   /* used */
	fast1 = c, chunk(c, 0x30 | 1), c += 0x30;        /* fastbin */
	chunk(c, 0x30 | 1), c += 0x30;                   /* used */
	small = c, chunk(c, 0x90 | 1), c += 0x90;        /* small bin */
	put(c, 0x90), chunk(c, 0x40), c += 0x40;         /* used, its P bit clear */
	fast2 = c, chunk(c, 0x30 | 1), c += 0x30;        /* fastbin */
	chunk(c, 0x20 | 1), c += 0x20;                   /* used */
	chunk(c, (HEAP + HEAP_SIZE - c) | 1);            /* top */
	fastbins[1] = fast2;
	put(fast2 + 16, fast1);
	put(fast1 + 16, 0);
	for (int i = 0; i < 127; i++)
		bins[2 * i] = bins[2 * i + 1] = bins_addr + 16 * i - 16;
	uint64_t bin9 = bins_addr + 16 * 8 - 16;
	bins[16] = bins[17] = small;
	put(small + 16, bin9);
	put(small + 24, bin9);
	return c;
}

static void build_mp(void)
{
	struct malloc_par_2_17 mp = { 0x20000, 0x20000, 0x20000, 8, 0, 0, 65536, 0, 0, 0, 0, 0, HEAP };
	memcpy(libc_data + MP_OFF, &mp, sizeof(mp));
}

static int walk(struct result *r, const char *libc_path)
{
	regions[0] = (struct region){ LIBC_DATA, libc_data, sizeof(libc_data), libc_path };
	regions[1] = (struct region){ HEAP, heap, sizeof(heap), NULL };
	regions[2] = (struct region){ TLS, tls, sizeof(tls), NULL };
	nregions = nthreads ? 3 : 2;
	const struct strand_plugin *p = strand_glibc_malloc_init(&host);
	assert_non_null(p);
	memset(r, 0, sizeof(*r));
	discovery[0] = evidence[0] = 0;
	assert_int_equal(p->allocator->detect(NULL), 90);
	struct strand_heap_sink sink = { r, sink_arena, sink_block, sink_problem, sink_discovery, sink_metadata };
	int rc = p->allocator->walk(NULL, &sink);
	for (int i = 0; i < r->n; i++)
		r->blocks[r->state[i]]++;
	return rc;
}

static void expect_blocks(const struct result *r)
{
	assert_int_equal(r->problems, 0);
	assert_int_equal(r->blocks[STRAND_USED], 4);
	assert_int_equal(r->blocks[STRAND_FASTBIN], 2);
	assert_int_equal(r->blocks[STRAND_SMALLBIN], 1);
	assert_int_equal(r->blocks[STRAND_TOP], 1);
	assert_int_equal(r->blocks[STRAND_TCACHE] + r->blocks[STRAND_INTERNAL], 0);
	assert_int_equal(r->addr[0], HEAP + 0x10);
	assert_int_equal(r->state[0], STRAND_USED);
}

static void walks_a_2_17_heap(void **state)
{
	(void)state;
	struct malloc_state_2_17 *a = (void *)(libc_data + ARENA_OFF);
	uint64_t addr = LIBC_DATA + ARENA_OFF;
	memset(libc_data, 0, sizeof(libc_data));
	a->top = build_heap(a->fastbinsY, a->bins, addr + offsetof(struct malloc_state_2_17, bins));
	a->next = addr;
	a->system_mem = a->max_system_mem = HEAP_SIZE;
	build_mp();
	struct result r;
	assert_int_equal(walk(&r, "/usr/lib64/libc-2.17.so"), 0);
	expect_blocks(&r);
	assert_non_null(strstr(evidence, "glibc 2.17 by libc's file name /usr/lib64/libc-2.17.so"));
	assert_non_null(strstr(discovery, "a search of memory"));
	assert_non_null(strstr(discovery, "layout of glibc 2.17-2.22"));
	/* Without the file name, structure alone: the 2.17 arena has no
	 * attached_threads, so later layouts do not fit it. */
	assert_int_equal(walk(&r, "/usr/lib64/libc.so.6"), 0);
	expect_blocks(&r);
	assert_non_null(strstr(discovery, "layout of glibc 2.17-2.22, the first that the memory fits"));
}

static void walks_a_2_23_heap(void **state)
{
	(void)state;
	struct malloc_state_2_23 *a = (void *)(libc_data + ARENA_OFF);
	uint64_t addr = LIBC_DATA + ARENA_OFF;
	memset(libc_data, 0, sizeof(libc_data));
	a->top = build_heap(a->fastbinsY, a->bins, addr + offsetof(struct malloc_state_2_23, bins));
	a->next = addr;
	a->attached_threads = 1;
	a->system_mem = a->max_system_mem = HEAP_SIZE;
	build_mp();
	struct result r;
	assert_int_equal(walk(&r, "/lib/x86_64-linux-gnu/libc-2.23.so"), 0);
	expect_blocks(&r);
	assert_non_null(strstr(discovery, "layout of glibc 2.23, glibc 2.23 by libc's file name"));
}

/* 2.27: the first chunk is the main thread's tcache (char counts, 0x250
 * bytes), its pointer in the thread's static TLS; two 0x30 chunks in its bin
 * 1, linked raw (no safe-linking before 2.32). The arena's fastbins hold
 * two more. */
static void walks_a_2_27_heap_with_its_tcache(void **state)
{
	(void)state;
	struct malloc_state_2_27 *a = (void *)(libc_data + ARENA_OFF);
	uint64_t addr = LIBC_DATA + ARENA_OFF, tc = HEAP + 0x10, t1 = HEAP + 0x250 + 0x1000, t2 = t1 + 0x30;
	memset(libc_data, 0, sizeof(libc_data));
	memset(heap, 0, sizeof(heap));
	memset(tls, 0, sizeof(tls));
	chunk(HEAP, 0x250 | 1);
	struct tcache_perthread_2_26 *cache = (void *)(heap + 0x10);
	chunk(HEAP + 0x250, 0x1000 | 1); /* used: its data holds nothing */
	chunk(t1, 0x30 | 1);
	chunk(t2, 0x30 | 1);
	a->top = build_heap_at(t2 + 0x30, a->fastbinsY, a->bins, addr + offsetof(struct malloc_state_2_27, bins));
	cache->counts[1] = 2;
	cache->entries[1] = t1 + 16;
	put(t1 + 16, t2 + 16);
	a->next = addr;
	a->attached_threads = 1;
	a->have_fastchunks = 1;
	a->system_mem = a->max_system_mem = HEAP_SIZE;
	struct malloc_par_2_26 mp = { 0x20000, 0x20000, 0x20000, 8, 0, 0, 65536, 0, 0, 0, 0, HEAP, 64, 0x408, 7, 0 };
	memcpy(libc_data + MP_OFF, &mp, sizeof(mp));
	memcpy(tls + 0x800, &tc, 8);
	nthreads = 1;
	struct result r;
	for (int named = 1; named >= 0; named--) {
		assert_int_equal(walk(&r, named ? "/lib/x86_64-linux-gnu/libc-2.27.so" : "/lib/libc.so.6"), 0);
		assert_int_equal(r.problems, 0);
		assert_int_equal(r.blocks[STRAND_INTERNAL], 1);
		assert_int_equal(r.blocks[STRAND_TCACHE], 2);
		assert_int_equal(r.blocks[STRAND_USED], 5);
		assert_int_equal(r.blocks[STRAND_FASTBIN], 2);
		assert_int_equal(r.blocks[STRAND_SMALLBIN], 1);
		assert_non_null(strstr(discovery, named ? "layout of glibc 2.27-2.29, glibc 2.27 by libc's file name"
							: "layout of glibc 2.27-2.29, the first that the memory fits"));
	}
	nthreads = 0;
}

/* No arena anywhere (its bins wiped): the walk fails and says so. */
static void fails_without_an_arena(void **state)
{
	(void)state;
	struct malloc_state_2_17 *a = (void *)(libc_data + ARENA_OFF);
	memset(libc_data, 0, sizeof(libc_data));
	a->top = build_heap(a->fastbinsY, a->bins, LIBC_DATA + ARENA_OFF + offsetof(struct malloc_state_2_17, bins));
	memset(a->bins, 0, sizeof(a->bins));
	a->next = LIBC_DATA + ARENA_OFF;
	a->system_mem = a->max_system_mem = HEAP_SIZE;
	struct result r;
	assert_int_equal(walk(&r, "/usr/lib64/libc-2.17.so"), -1);
	assert_int_equal(r.problems, 1);
	assert_int_equal(r.blocks[STRAND_USED], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(walks_a_2_17_heap),
		cmocka_unit_test(walks_a_2_23_heap),
		cmocka_unit_test(walks_a_2_27_heap_with_its_tcache),
		cmocka_unit_test(fails_without_an_arena),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
