/* libFuzzer harness: glibc's heap walker (plugins/glibc_malloc.c) through the
 * plugin ABI over synthetic memory, and the engine's block table built from
 * its reports (heap_build, debugger/analysis/heap.c). The input (little endian):
 *
 *   u64 main_arena    what lookup_symbol answers for "main_arena" (0: absent)
 *   u64 mp            ... for "mp_" (0: absent)
 *   u8  nregions      at most 16: the mappings
 *   u8  nthreads      at most 8
 *   u8  pad[6]
 *   nregions x { u64 start; u64 len; u32 nbytes; u32 perms }
 *                     a mapping [start, start + len) whose first nbytes are
 *                     readable; perms: 1 r, 2 w, 4 x, 8 shared, 16 file-backed
 *                     (libc's path)
 *   nthreads x u64 fs_base
 *   the regions' bytes, nbytes each, in order (the last may run short)
 *
 * tests/fuzz/heap_seed.py writes such inputs from real cores. The walk must end
 * (-timeout catches loops) and the table must be sorted, each block's size
 * word readable (every walk reads it before it reports the block). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/heap.h"
#include "base/util.h"
#include "../../plugins/strand_plugin.h"

const struct strand_plugin *strand_glibc_malloc_init(const struct strand_host_api *host);

#define MAX_REGIONS 16
#define MAX_THREADS 8
#define LIBC_PATH "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define USER_END (1ull << 57) /* as debugger/target/core.c: 5-level paging's user space */

struct region {
	uint64_t start, len;
	uint32_t perms;
	const uint8_t *bytes;
	size_t nbytes; /* readable from start */
};

struct strand_host {
	uint64_t main_arena, mp;
	struct region regions[MAX_REGIONS];
	size_t nregions;
	uint64_t fs_base[MAX_THREADS];
	size_t nthreads;
};

static size_t fake_read(struct strand_host *h, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		uint64_t a = addr + done;
		const struct region *r = NULL;
		for (size_t i = 0; i < h->nregions && !r; i++)
			if (a >= h->regions[i].start && a - h->regions[i].start < h->regions[i].nbytes)
				r = &h->regions[i];
		if (!r)
			break;
		size_t off = (size_t)(a - r->start), n = r->nbytes - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, r->bytes + off, n);
		done += n;
	}
	return done;
}

static bool fake_lookup_symbol(struct strand_host *h, const char *name, const char *module, uint64_t *addr,
			       uint64_t *size)
{
	(void)module;
	uint64_t v = !strcmp(name, "main_arena") ? h->main_arena : !strcmp(name, "mp_") ? h->mp : 0;
	*addr = v;
	*size = 0;
	return v != 0;
}

static const char *fake_symbolize(struct strand_host *h, uint64_t addr, uint64_t *offset)
{
	(void)h;
	(void)addr;
	(void)offset;
	return NULL;
}

/* No libc file: the walker finds main_arena by symbols or not at all. */
static bool fake_find_module(struct strand_host *h, const char *name, struct strand_module_info *out)
{
	(void)h;
	(void)name;
	(void)out;
	return false;
}

static size_t fake_mapping_count(struct strand_host *h)
{
	return h->nregions;
}

static bool fake_mapping(struct strand_host *h, size_t i, struct strand_mapping_info *out)
{
	if (i >= h->nregions)
		return false;
	const struct region *r = &h->regions[i];
	*out = (struct strand_mapping_info){ r->start, r->start + r->len, 0, r->perms & 15,
					     (r->perms & 16) ? LIBC_PATH : NULL };
	return true;
}

static size_t fake_thread_count(struct strand_host *h)
{
	return h->nthreads;
}

static bool fake_thread(struct strand_host *h, size_t i, struct strand_thread_info *out)
{
	if (i >= h->nthreads)
		return false;
	memset(out, 0, sizeof(*out));
	out->tid = (int32_t)(100 + i);
	out->fs_base = h->fs_base[i];
	out->syscall = -1;
	return true;
}

static bool fake_auxv(struct strand_host *h, uint64_t type, uint64_t *value)
{
	(void)h;
	(void)type;
	(void)value;
	return false;
}

static bool fake_option(struct strand_host *h, const char *name)
{
	(void)h;
	(void)name;
	return false;
}

static void fake_warn(struct strand_host *h, const char *fmt, ...)
{
	(void)h;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

static uint64_t fake_static_tls_size(struct strand_host *h)
{
	(void)h;
	return 0; /* unknown: the walker searches a page below each thread pointer */
}

static const struct strand_host_api fake_api = {
	.abi = STRAND_PLUGIN_ABI,
	.read = fake_read,
	.lookup_symbol = fake_lookup_symbol,
	.symbolize = fake_symbolize,
	.find_module = fake_find_module,
	.mapping_count = fake_mapping_count,
	.mapping = fake_mapping,
	.thread_count = fake_thread_count,
	.thread = fake_thread,
	.auxv = fake_auxv,
	.option = fake_option,
	.warn = fake_warn,
	.static_tls_size = fake_static_tls_size,
};

static const struct strand_allocator *glibc;
static bool verbose; /* STRAND_FUZZ_VERBOSE=1: a line per input, to check seeds */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	glibc = strand_glibc_malloc_init(&fake_api)->allocator;
	verbose = getenv("STRAND_FUZZ_VERBOSE") != NULL;
	return 0;
}

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* The input as a host; false when even the header is short. */
static bool parse(const uint8_t *data, size_t size, struct strand_host *h)
{
	memset(h, 0, sizeof(*h));
	if (size < 24)
		return false;
	h->main_arena = le(data, 8);
	h->mp = le(data + 8, 8);
	h->nregions = data[16] % (MAX_REGIONS + 1);
	h->nthreads = data[17] % (MAX_THREADS + 1);
	size_t off = 24;
	if (size - off < h->nregions * 24 + h->nthreads * 8)
		return false;
	size_t want[MAX_REGIONS];
	for (size_t i = 0; i < h->nregions; i++, off += 24) {
		h->regions[i] = (struct region){ le(data + off, 8), le(data + off + 8, 8), (uint32_t)le(data + off + 20, 4),
						 NULL, 0 };
		want[i] = (size_t)le(data + off + 16, 4);
	}
	for (size_t i = 0; i < h->nthreads; i++, off += 8)
		h->fs_base[i] = le(data + off, 8);
	for (size_t i = 0; i < h->nregions; i++) {
		struct region *r = &h->regions[i];
		r->bytes = data + off;
		r->nbytes = want[i] < size - off ? want[i] : size - off;
		if (r->nbytes > r->len)
			r->nbytes = (size_t)r->len;
		off += want[i] < size - off ? want[i] : size - off;
	}
	return true;
}

static void check_table(struct strand_host *host, const struct heap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct heap_block *b = &h->blocks[i];
		uint64_t size;
		if (i && b->addr <= h->blocks[i - 1].addr) {
			fprintf(stderr, "block %zu at 0x%llx is not after block %zu at 0x%llx\n", i,
				(unsigned long long)b->addr, i - 1, (unsigned long long)h->blocks[i - 1].addr);
			abort();
		}
		if (fake_read(host, b->addr - 8, &size, 8) != 8) {
			fprintf(stderr, "block 0x%llx: its size word was never read\n", (unsigned long long)b->addr);
			abort();
		}
	}
	for (size_t i = 0; i < h->nproblems; i++)
		if (!h->problems[i].message)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strand_host host;
	if (!parse(data, size, &host))
		return 0;
	uint64_t writable = 0; /* as the engine counts it: a core's mappings lie in user space */
	for (size_t i = 0; i < host.nregions; i++)
		if ((host.regions[i].perms & 2) && host.regions[i].start < USER_END)
			writable += (host.regions[i].len < USER_END - host.regions[i].start ? host.regions[i].len
									       : USER_END - host.regions[i].start);
	struct heap *h = heap_build(glibc, &host, writable);
	check_table(&host, h);
	if (verbose)
		fprintf(stderr, "heap: %zu blocks, %zu arenas, %zu problems%s%s\n", h->n, h->narenas, h->nproblems,
			h->nproblems ? ", first: " : "", h->nproblems ? h->problems[0].message : "");
	heap_free(h);
	return 0;
}
