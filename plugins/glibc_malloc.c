/* glibc malloc (ptmalloc2, 2.36 first) as a strand allocator plugin: every
 * block of every arena, used or free, and which free list holds it.
 *
 * Layouts: ../shared/reference/glibc-2.36-malloc.md, checked against libc6-dbg.
 * The walker reads the target only through the host API and bounds every walk
 * of target data (lists can be cyclic, sizes can be garbage). */
#include <elf.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strand_plugin.h"

#define SIZE_BITS 7ull
#define PREV_INUSE 1ull
#define IS_MMAPPED 2ull
#define NON_MAIN_ARENA 4ull
#define MINSIZE 0x20ull
#define NONCONTIGUOUS 2u /* malloc_state.flags: the main arena's sbrk failed once */
#define HEAP_MAX_SIZE 0x4000000ull /* 64 MiB: non-main heaps are aligned to it */

/* struct malloc_state */
#define AR_FLAGS 0x4
#define AR_FASTBINS 0x10
#define AR_TOP 0x60
#define AR_BINS 0x70
#define AR_NEXT 0x870
#define AR_ATTACHED 0x880
#define AR_SYSTEM_MEM 0x888
#define AR_SIZE 0x898
#define NFASTBINS 10
#define NBINS 128
#define NSMALLBINS 64
/* struct malloc_par */
#define MP_N_MMAPS 0x3c
#define MP_SBRK_BASE 0x60
/* tcache_perthread_struct */
#define TCACHE_BINS 64
#define TCACHE_CHUNK 0x290
#define TCACHE_SCAN 0x400 /* bytes below fs_base searched for the tcache pointer */

#define MAX_ARENAS 1024
#define MAX_HEAPS 4096
#define MAX_LIST 10000000 /* no list is longer than the heap has chunks */
#define WINDOW (1u << 20)

static const struct strand_host_api *api;

struct walk {
	struct strand_host *h;
	const struct strand_heap_sink *sink;
	uint64_t main_arena, mp;
	uint8_t *win;
	uint64_t win_base;
	size_t win_len;
	uint64_t ranges[2 * (MAX_ARENAS + MAX_HEAPS)]; /* [start, end) pairs already walked */
	size_t nranges;
	uint32_t narenas;
};

/* ---- reading ---- */

static bool rd(struct walk *w, uint64_t addr, void *buf, size_t len)
{
	return api->read(w->h, addr, buf, len) == len;
}

/* A word through a 1 MiB window: chunk walks read memory in order, so this
 * costs one read per MiB of heap. */
static bool word(struct walk *w, uint64_t addr, uint64_t *out)
{
	if (addr > UINT64_MAX - 8)
		return false;
	if (addr < w->win_base || addr + 8 > w->win_base + w->win_len) {
		w->win_base = addr & ~0xfffull;
		w->win_len = api->read(w->h, w->win_base, w->win, WINDOW);
		if (addr + 8 > w->win_base + w->win_len)
			return false;
	}
	memcpy(out, w->win + (addr - w->win_base), 8);
	return true;
}

static void problem(struct walk *w, uint64_t addr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(struct walk *w, uint64_t addr, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->sink->problem(w->sink->ctx, addr, "%s", msg);
}

static void emit(struct walk *w, uint64_t chunk, uint64_t usable, uint32_t arena, enum strand_block_state st,
		 bool mmapped)
{
	struct strand_block b = { chunk + 16, usable, arena, (uint8_t)st, mmapped };
	w->sink->block(w->sink->ctx, &b);
}

static void note_range(struct walk *w, uint64_t start, uint64_t end)
{
	if (w->nranges + 2 <= sizeof(w->ranges) / sizeof(w->ranges[0])) {
		w->ranges[w->nranges++] = start;
		w->ranges[w->nranges++] = end;
	}
}

/* The end of the walked range that starts at addr, 0 if none does. */
static uint64_t walked_from(const struct walk *w, uint64_t addr)
{
	for (size_t i = 0; i < w->nranges; i += 2)
		if (w->ranges[i] == addr)
			return w->ranges[i + 1];
	return 0;
}

/* ---- finding main_arena ---- */

/* Through libc's symbols (libc6-dbg, debuginfod): main_arena is static. */
static bool arena_by_symbols(struct walk *w, uint64_t *arena, uint64_t *mp)
{
	if (api->option(w->h, "no-libc-symbols"))
		return false;
	uint64_t size;
	if (!api->lookup_symbol(w->h, "main_arena", "libc.so", arena, &size))
		return false;
	if (!api->lookup_symbol(w->h, "mp_", "libc.so", mp, &size))
		*mp = 0;
	return true;
}

static bool all_zero(const uint64_t *q, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (q[i])
			return false;
	return true;
}

/* main_arena in libc's file image: the one arena-sized window whose `next`
 * points at itself (stored in place: RELR), attached_threads 1, the rest 0. */
static bool is_arena_image(const uint64_t *q, uint64_t vaddr)
{
	return q[AR_NEXT / 8] == vaddr && q[AR_ATTACHED / 8] == 1 && all_zero(q, 0, AR_NEXT / 8) &&
	       q[AR_NEXT / 8 + 1] == 0 && all_zero(q, AR_ATTACHED / 8 + 1, AR_SIZE / 8);
}

/* mp_'s initial values: thresholds 128 KiB, arena_test 8, 64 tcache bins of up
 * to 0x408 bytes, 7 entries each. */
static bool is_mp_image(const uint64_t *q)
{
	return q[0] == 0x20000 && q[1] == 0x20000 && q[2] == 0x20000 && q[3] == 8 && q[13] == 64 && q[14] == 0x408 &&
	       q[15] == 7;
}

static bool read_file_at(int fd, uint64_t off, void *buf, size_t len)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool arena_by_structure(struct walk *w, uint64_t *arena, uint64_t *mp)
{
	struct strand_module_info libc;
	if (!api->find_module(w->h, "libc.so", &libc))
		return false;
	int fd = open(libc.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[32];
	bool found = false;
	*mp = 0;
	if (!read_file_at(fd, 0, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phnum > 32 ||
	    !read_file_at(fd, eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr))) {
		close(fd);
		return false;
	}
	for (size_t i = 0; i < eh.e_phnum && !found; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W) || ph[i].p_filesz > (64u << 20))
			continue;
		uint64_t *data = malloc(ph[i].p_filesz + AR_SIZE);
		if (!data)
			break;
		memset(data, 0, ph[i].p_filesz + AR_SIZE);
		if (read_file_at(fd, ph[i].p_offset, data, ph[i].p_filesz)) {
			size_t words = ph[i].p_filesz / 8;
			for (size_t k = 0; k < words; k++) {
				uint64_t vaddr = ph[i].p_vaddr + 8 * k;
				if (!found && data[k + AR_NEXT / 8] == vaddr && is_arena_image(data + k, vaddr)) {
					*arena = vaddr + libc.bias;
					found = true;
				}
				if (!*mp && k + 16 <= words && is_mp_image(data + k))
					*mp = vaddr + libc.bias;
			}
		}
		free(data);
	}
	close(fd);
	return found;
}

/* ---- chunk walks ---- */

/* A size field a chunk at chunk could have, ending by end. Written so that no
 * size, however large, wraps around the address space. */
static bool plausible_size(uint64_t size, uint64_t chunk, uint64_t end)
{
	uint64_t sz = size & ~SIZE_BITS;
	return (size & 8) == 0 && sz >= MINSIZE && (sz & 15) == 0 && chunk < end && sz <= end - chunk;
}

/* After a damaged header: the next address from which two consecutive chunk
 * headers make sense, or 0. Bounded to 1 MiB of scanning. */
static uint64_t resume_after(struct walk *w, uint64_t chunk, uint64_t end, uint64_t top)
{
	for (uint64_t c = chunk + 16; c + 16 <= end && c < chunk + WINDOW; c += 16) {
		uint64_t s1, s2;
		if (!word(w, c + 8, &s1) || !plausible_size(s1, c, end))
			continue;
		uint64_t next = c + (s1 & ~SIZE_BITS);
		if (next == top || (word(w, next + 8, &s2) && plausible_size(s2, next, end)))
			return c;
	}
	return 0;
}

/* A free chunk's size is repeated in the next chunk's prev_size (glibc's
 * "corrupted size vs. prev_size"). */
static void check_footer(struct walk *w, uint64_t c, uint64_t sz)
{
	uint64_t prev_size;
	if (word(w, c + sz, &prev_size) && prev_size != sz)
		problem(w, c, "free chunk at 0x%llx has size 0x%llx but the next chunk's prev_size says 0x%llx",
			(unsigned long long)c, (unsigned long long)sz, (unsigned long long)prev_size);
}

/* Walk [start, end) chunk by chunk. A chunk is used when the next chunk's
 * PREV_INUSE bit says so; the top chunk and a double fencepost end the walk. */
static void walk_chunks(struct walk *w, uint32_t arena, uint64_t start, uint64_t end, uint64_t top)
{
	uint64_t c = start;
	note_range(w, start, end);
	while (c + 16 <= end) {
		uint64_t size;
		if (!word(w, c + 8, &size)) {
			problem(w, c, "heap memory unreadable at 0x%llx: walk of this region stops", (unsigned long long)c);
			return;
		}
		uint64_t sz = size & ~SIZE_BITS;
		if (c == top) {
			emit(w, c, sz >= 8 ? sz - 8 : 0, arena, STRAND_TOP, false);
			return;
		}
		if (sz == 0x10 && top == 0)
			return; /* fencepost: the end of an old heap */
		if (!plausible_size(size, c, end)) {
			uint64_t again = resume_after(w, c, end, top);
			problem(w, c, "chunk at 0x%llx has an impossible size 0x%llx%s", (unsigned long long)c,
				(unsigned long long)size, again ? "; walk resumed after it" : "; rest of region skipped");
			if (!again)
				return;
			c = again;
			continue;
		}
		uint64_t next = c + sz, next_size = PREV_INUSE;
		if (next + 16 <= end)
			word(w, next + 8, &next_size);
		bool used = (next_size & PREV_INUSE) != 0;
		if (!used)
			check_footer(w, c, sz);
		emit(w, c, sz - 8, arena, used ? STRAND_USED : STRAND_FREE, false);
		c = next;
	}
}

/* ---- free lists ---- */

/* Safe-linking (glibc 2.32+): a stored link is the target xor (its own address >> 12). */
static uint64_t reveal(uint64_t pos, uint64_t stored)
{
	return stored ^ (pos >> 12);
}

static uint64_t chunk_size_at(struct walk *w, uint64_t chunk)
{
	uint64_t size = 0;
	return rd(w, chunk + 8, &size, 8) ? size & ~SIZE_BITS : 0;
}

/* A singly linked list in the target: step() gives the next node (0 at the
 * end or on a bad link); visit() checks and reports a node, false to stop.
 * from is the node whose link led there, 0 for the list's head: a bad node is
 * reported there, where the damaged link is. */
struct list {
	uint64_t (*step)(struct walk *w, uint64_t node, uint64_t arg);
	uint64_t arg;
	bool (*visit)(struct walk *w, uint64_t node, uint64_t from, const void *ctx);
	const void *ctx;
};

/* Visit the nodes of a list in one pass, with Brent's cycle detection: a
 * cyclic list is visited until the repeat is seen (a few nodes twice, which the
 * engine ignores). Returns the nodes visited; *cycle_at is a node on the
 * cycle, 0 when the list ends. */
static uint64_t walk_list(struct walk *w, const struct list *l, uint64_t head, uint64_t *cycle_at)
{
	uint64_t tortoise = head, power = 1, lambda = 0, n = 0, from = 0;
	*cycle_at = 0;
	for (uint64_t node = head; node && n < MAX_LIST; from = node, node = l->step(w, node, l->arg)) {
		if (n > 0 && node == tortoise) {
			*cycle_at = node;
			break;
		}
		if (!l->visit(w, node, from, l->ctx))
			break;
		n++;
		if (++lambda == power) {
			tortoise = node;
			power *= 2;
			lambda = 0;
		}
	}
	return n;
}

static uint64_t tcache_next(struct walk *w, uint64_t entry, uint64_t unused)
{
	(void)unused;
	uint64_t stored;
	if ((entry & 15) || !rd(w, entry, &stored, 8))
		return 0;
	return reveal(entry, stored);
}

struct bin_ctx {
	uint64_t owner;    /* tcache or arena address, for messages */
	int bin;
	uint64_t want;     /* the chunk size every node must have, 0: any */
	uint32_t arena;
	enum strand_block_state state;
};

static bool visit_tcache_entry(struct walk *w, uint64_t e, uint64_t from, const void *ctx)
{
	const struct bin_ctx *b = ctx;
	if ((e & 15) || chunk_size_at(w, e - 16) != b->want) {
		problem(w, from ? from : b->owner, "tcache 0x%llx bin %d: entry 0x%llx (linked from %s0x%llx) is not a free "
						   "chunk of 0x%llx bytes", (unsigned long long)b->owner, b->bin,
			(unsigned long long)e, from ? "entry " : "the bin's head in ",
			(unsigned long long)(from ? from : b->owner), (unsigned long long)b->want);
		return false;
	}
	emit(w, e - 16, b->want - 8, STRAND_ARENA_KEEP, STRAND_TCACHE, false);
	return true;
}

/* A tcache bin: user pointers, safe-linked through their first word. */
static void walk_tcache_bin(struct walk *w, uint64_t tcache, int bin, uint64_t head, uint16_t count)
{
	struct bin_ctx b = { tcache, bin, 0x20 + 16 * (uint64_t)bin, 0, STRAND_TCACHE };
	struct list l = { tcache_next, 0, visit_tcache_entry, &b };
	uint64_t at, n = walk_list(w, &l, head, &at);
	if (at)
		problem(w, at, "tcache 0x%llx bin %d (chunks of 0x%llx): the list is cyclic at 0x%llx (a double free?)",
			(unsigned long long)tcache, bin, (unsigned long long)b.want, (unsigned long long)at);
	else if (n != count)
		problem(w, tcache, "tcache 0x%llx bin %d: count says %u entries, the list has %llu",
			(unsigned long long)tcache, bin, count, (unsigned long long)n);
}

static void walk_tcache(struct walk *w, uint64_t tcache)
{
	uint16_t counts[TCACHE_BINS];
	uint64_t entries[TCACHE_BINS];
	if (!rd(w, tcache, counts, sizeof(counts)) || !rd(w, tcache + sizeof(counts), entries, sizeof(entries)))
		return;
	emit(w, tcache - 16, TCACHE_CHUNK - 8, STRAND_ARENA_KEEP, STRAND_INTERNAL, false);
	for (int i = 0; i < TCACHE_BINS; i++)
		if (entries[i] || counts[i])
			walk_tcache_bin(w, tcache, i, entries[i], counts[i]);
}

/* The thread's tcache pointer lives in libc's static TLS just below fs_base:
 * the nearest word there that points at a 0x290-byte chunk. */
static uint64_t find_tcache(struct walk *w, uint64_t fs_base)
{
	uint64_t tls[TCACHE_SCAN / 8];
	if (!fs_base || !rd(w, fs_base - TCACHE_SCAN, tls, sizeof(tls)))
		return 0;
	for (size_t i = TCACHE_SCAN / 8; i-- > 0;) {
		uint64_t p = tls[i];
		if (p && !(p & 15) && p != fs_base && chunk_size_at(w, p - 16) == TCACHE_CHUNK) {
			uint64_t size;
			if (rd(w, p - 8, &size, 8) && (size & PREV_INUSE))
				return p;
		}
	}
	return 0;
}

static void walk_tcaches(struct walk *w)
{
	uint64_t seen[512];
	size_t nseen = 0;
	size_t n = api->thread_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_thread_info th;
		if (!api->thread(w->h, i, &th))
			continue;
		uint64_t tc = find_tcache(w, th.fs_base);
		bool dup = false;
		for (size_t k = 0; k < nseen; k++)
			dup |= seen[k] == tc;
		if (!tc || dup)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = tc;
		walk_tcache(w, tc);
	}
}

static uint64_t fastbin_next(struct walk *w, uint64_t chunk, uint64_t unused)
{
	(void)unused;
	uint64_t stored;
	if ((chunk & 15) || !rd(w, chunk + 16, &stored, 8))
		return 0;
	return reveal(chunk + 16, stored);
}

static bool visit_bin_chunk(struct walk *w, uint64_t c, uint64_t from, const void *ctx)
{
	const struct bin_ctx *b = ctx;
	uint64_t sz = chunk_size_at(w, c);
	if ((c & 15) || sz < MINSIZE || (b->want && sz != b->want)) {
		problem(w, from ? from : b->owner, "arena 0x%llx %s %d: 0x%llx (linked from %s0x%llx) is not a free chunk%s",
			(unsigned long long)b->owner, b->state == STRAND_FASTBIN ? "fastbin" : "bin", b->bin,
			(unsigned long long)c, from ? "chunk " : "the bin's head in arena ",
			(unsigned long long)(from ? from : b->owner), b->want ? " of the bin's size" : "");
		return false;
	}
	emit(w, c, sz - 8, b->arena, b->state, false);
	return true;
}

static void walk_fastbins(struct walk *w, uint64_t arena, uint32_t index)
{
	uint64_t heads[NFASTBINS];
	if (!rd(w, arena + AR_FASTBINS, heads, sizeof(heads)))
		return;
	for (int i = 0; i < NFASTBINS; i++) {
		if (!heads[i])
			continue;
		struct bin_ctx b = { arena, i, 0x20 + 16 * (uint64_t)i, index, STRAND_FASTBIN };
		struct list l = { fastbin_next, 0, visit_bin_chunk, &b };
		uint64_t at;
		walk_list(w, &l, heads[i], &at);
		if (at)
			problem(w, at, "arena 0x%llx fastbin %d (chunks of 0x%llx): the list is cyclic at chunk 0x%llx "
				       "(a double free?)", (unsigned long long)arena, i, (unsigned long long)b.want,
				(unsigned long long)at);
	}
}

static uint64_t bin_next(struct walk *w, uint64_t chunk, uint64_t bin_head)
{
	uint64_t fd;
	if ((chunk & 15) || !rd(w, chunk + 16, &fd, 8) || fd == bin_head)
		return 0;
	return fd;
}

/* Unsorted, small and large bins: doubly linked through fd/bk, headed by a
 * pseudo-chunk inside the arena whose fd field is bins[2(i-1)]. */
static void walk_bins(struct walk *w, uint64_t arena, uint32_t index)
{
	for (int i = 1; i < NBINS; i++) {
		uint64_t head = arena + AR_BINS + 16 * (uint64_t)(i - 1) - 16, first;
		if (!rd(w, head + 16, &first, 8) || first == head)
			continue;
		enum strand_block_state st = i == 1 ? STRAND_UNSORTED : i < NSMALLBINS ? STRAND_SMALLBIN : STRAND_LARGEBIN;
		struct bin_ctx b = { arena, i, 0, index, st };
		struct list l = { bin_next, head, visit_bin_chunk, &b };
		uint64_t at;
		walk_list(w, &l, first, &at);
		if (at)
			problem(w, at, "arena 0x%llx bin %d: the list never returns to its head (cycle at chunk 0x%llx)",
				(unsigned long long)arena, i, (unsigned long long)at);
	}
}

/* ---- arenas ---- */

static void report_arena(struct walk *w, uint32_t index, uint64_t arena, const char *kind, uint64_t top,
			 uint32_t heaps)
{
	uint64_t top_size = chunk_size_at(w, top), system_mem = 0, flags = 0;
	rd(w, arena + AR_SYSTEM_MEM, &system_mem, 8);
	rd(w, arena + 4, &flags, 4);
	struct strand_arena a = { index, arena, kind, top, top_size, system_mem, heaps, !((uint32_t)flags & 2) };
	w->sink->arena(w->sink->ctx, &a);
	/* Its top and bins point at chunk headers, the last word of the block
	 * before each: not a root, or a lost block would seem possibly lost. */
	w->sink->metadata(w->sink->ctx, arena, arena + AR_SIZE);
}

/* An mmapped chunk: IS_MMAPPED set, prev_size holds the memalign offset from
 * the start of its mapping, and offset + size is whole pages. */
static bool mmapped_chunk_at(struct walk *w, uint64_t c, uint64_t end, uint64_t *size)
{
	uint64_t hdr[2];
	if (!rd(w, c, hdr, sizeof(hdr)))
		return false;
	uint64_t sz = hdr[1] & ~SIZE_BITS;
	*size = sz;
	return (hdr[1] & SIZE_BITS) == IS_MMAPPED && sz >= MINSIZE && !(sz & 15) && !((hdr[0] + sz) & 0xfff) &&
	       hdr[0] < (1ull << 32) && c < end && sz <= end - c;
}

/* Where the main-arena chunks that start at c end: at the end of top, or
 * after a double fencepost; 0 when the memory at c is not such a region. */
static uint64_t main_region_end(struct walk *w, uint64_t c, uint64_t end, uint64_t top)
{
	uint64_t size;
	if (!word(w, c + 8, &size) || !(size & PREV_INUSE))
		return 0;
	for (uint64_t n = 0; c + 16 <= end && n < MAX_LIST; n++) {
		if (!word(w, c + 8, &size))
			return 0;
		uint64_t sz = size & ~SIZE_BITS;
		if (c == top)
			return sz <= end - c ? c + sz : 0;
		if (sz == 0x10) {
			uint64_t second;
			return word(w, c + 24, &second) && (second & ~SIZE_BITS) == 0x10 ? c + 32 : 0;
		}
		if (!plausible_size(size, c, end) || (size & (IS_MMAPPED | NON_MAIN_ARENA)))
			return 0;
		c += sz;
	}
	return 0;
}

/* A main arena whose sbrk failed once (or met a foreign sbrk) is
 * non-contiguous: the sbrk area from sbrk_base, then regions glibc mmapped
 * instead (1 MiB or more) or later sbrk pieces, each ending in a double
 * fencepost but the one holding top. Neighbouring anonymous mappings merge,
 * so a mapping may hold several regions and mmapped chunks in a row.
 * Returns the number of regions; walks them when walk is set. */
static uint32_t main_regions(struct walk *w, uint64_t sbrk_base, uint64_t top, bool walk)
{
	uint32_t regions = 0;
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(w->h, i, &m) || (m.perms & 3) != 3 || (m.perms & 8))
			continue;
		bool sbrk_area = sbrk_base >= m.start && sbrk_base < m.end;
		if (m.path && !sbrk_area)
			continue;
		uint64_t c = sbrk_area ? sbrk_base : m.start, size, end;
		while (c < m.end) {
			if ((end = main_region_end(w, c, m.end, top))) {
				if (walk)
					walk_chunks(w, 0, c, end, top >= c && top < end ? top : 0);
				regions++;
				c = end;
			} else if (mmapped_chunk_at(w, c, m.end, &size)) {
				c += size;
			} else {
				break;
			}
		}
	}
	return regions;
}

/* The mapping that holds addr: [*start, *end). false when none does. */
static bool mapping_of(struct walk *w, uint64_t addr, uint64_t *start, uint64_t *end)
{
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (api->mapping(w->h, i, &m) && addr >= m.start && addr < m.end) {
			*start = m.start;
			*end = m.end;
			return true;
		}
	}
	return false;
}

/* Where the heap that top closes ends: top's end, which glibc keeps on a page
 * boundary at the end of the heap's memory (sysmalloc asserts it). 0, with the
 * damage reported, when top's size cannot be that. */
static uint64_t top_end(struct walk *w, uint64_t top)
{
	uint64_t size, first, bound;
	if (!mapping_of(w, top, &first, &bound) || !word(w, top + 8, &size)) {
		problem(w, top, "top chunk 0x%llx is not in readable memory", (unsigned long long)top);
		return 0;
	}
	uint64_t sz = size & ~SIZE_BITS;
	if ((top & 15) || !(size & PREV_INUSE) || !plausible_size(size, top, bound) || ((top + sz) & 0xfff)) {
		problem(w, top, "top chunk at 0x%llx has an impossible size 0x%llx (it must end its heap on a page "
				"boundary by 0x%llx)", (unsigned long long)top, (unsigned long long)size,
			(unsigned long long)bound);
		return 0;
	}
	return top + sz;
}

/* A contiguous main arena: its sbrk area, from sbrk_base (or, without mp_,
 * from where its system_mem says) to the end of top. */
static void walk_sbrk_area(struct walk *w, uint64_t top, uint64_t system_mem, uint64_t sbrk_base)
{
	uint64_t end = top_end(w, top), first = 0, last, start = sbrk_base;
	mapping_of(w, top, &first, &last);
	if (!start) /* the heap's first byte cannot lie before its mapping's */
		start = end && system_mem <= end - first ? end - system_mem : first;
	start = (start + 15) & ~15ull;
	if (!first || start < first || start > top) {
		problem(w, w->main_arena, "main arena: heap bounds make no sense (top 0x%llx, heap start 0x%llx)",
			(unsigned long long)top, (unsigned long long)start);
		return;
	}
	if (sbrk_base && end && system_mem > end - sbrk_base + 4096)
		problem(w, w->main_arena, "main arena at 0x%llx: system_mem says 0x%llx bytes, its heap holds 0x%llx",
			(unsigned long long)w->main_arena, (unsigned long long)system_mem,
			(unsigned long long)(end - sbrk_base));
	walk_chunks(w, 0, start, end ? end : top, top);
}

static void walk_main_arena(struct walk *w)
{
	uint64_t top, system_mem, sbrk_base = 0;
	uint32_t flags = 0;
	if (!rd(w, w->main_arena + AR_TOP, &top, 8) || !rd(w, w->main_arena + AR_SYSTEM_MEM, &system_mem, 8) ||
	    !rd(w, w->main_arena + AR_FLAGS, &flags, 4)) {
		problem(w, w->main_arena, "main arena at 0x%llx is unreadable", (unsigned long long)w->main_arena);
		return;
	}
	if (w->mp)
		rd(w, w->mp + MP_SBRK_BASE, &sbrk_base, 8);
	if (top == w->main_arena + AR_BINS - 16) {
		report_arena(w, 0, w->main_arena, "main", top, 0); /* initial_top: nothing allocated yet */
	} else if (flags & NONCONTIGUOUS) {
		report_arena(w, 0, w->main_arena, "main", top, main_regions(w, sbrk_base, top, false));
		if (!sbrk_base)
			problem(w, w->main_arena, "main arena is non-contiguous and mp_.sbrk_base is unknown: "
						  "its sbrk area is not walked");
		main_regions(w, sbrk_base, top, true);
	} else {
		report_arena(w, 0, w->main_arena, "main", top, 1);
		walk_sbrk_area(w, top, system_mem, sbrk_base);
	}
	walk_fastbins(w, w->main_arena, 0);
	walk_bins(w, w->main_arena, 0);
}

static bool seen_before(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* The heaps of a non-main arena, from the one holding top back through prev;
 * a link that leads out of the arena or round again is reported where it is. */
static uint32_t thread_heaps(struct walk *w, uint64_t arena, uint64_t top, uint64_t *heaps)
{
	uint32_t n = 0;
	for (uint64_t h = top & ~(HEAP_MAX_SIZE - 1); h && n < MAX_HEAPS;) {
		uint64_t info[2]; /* ar_ptr, prev */
		uint64_t from = n ? heaps[n - 1] : arena;
		if ((h & (HEAP_MAX_SIZE - 1)) || !rd(w, h, info, sizeof(info)) || info[0] != arena) {
			problem(w, from, "%s 0x%llx: %s 0x%llx is not a heap of arena 0x%llx",
				n ? "heap_info" : "arena", (unsigned long long)from, n ? "its prev" : "the heap of its top",
				(unsigned long long)h, (unsigned long long)arena);
			break;
		}
		if (seen_before(heaps, n, h)) {
			problem(w, from, "heap_info 0x%llx: its prev 0x%llx was met before (the heaps of arena 0x%llx "
					 "form a cycle)", (unsigned long long)from, (unsigned long long)h,
				(unsigned long long)arena);
			break;
		}
		heaps[n++] = h;
		h = info[1];
	}
	/* A broken chain still leaves the arena's first heap: the one it sits in. */
	uint64_t first = arena & ~(HEAP_MAX_SIZE - 1), ar_ptr;
	if (n < MAX_HEAPS && !seen_before(heaps, n, first) && rd(w, first, &ar_ptr, 8) && ar_ptr == arena)
		heaps[n++] = first;
	return n;
}

/* Where a heap that does not hold top ends: heap_info's size, which is
 * page-aligned and within the heap's reservation. */
static uint64_t old_heap_end(struct walk *w, uint64_t h)
{
	uint64_t size = 0;
	rd(w, h + 16, &size, 8);
	if (!size || (size & 0xfff) || size > HEAP_MAX_SIZE) {
		problem(w, h, "heap_info at 0x%llx has an impossible size 0x%llx", (unsigned long long)h,
			(unsigned long long)size);
		return h + HEAP_MAX_SIZE; /* the walk stops at the first unreadable page */
	}
	return h + size;
}

/* A non-main arena: its heaps, oldest first. */
static void walk_thread_arena(struct walk *w, uint64_t arena, uint32_t index)
{
	uint64_t top;
	if (!rd(w, arena + AR_TOP, &top, 8))
		return;
	uint64_t heaps[MAX_HEAPS];
	uint32_t nheaps = thread_heaps(w, arena, top, heaps);
	report_arena(w, index, arena, "thread", top, nheaps);
	/* The arena structure sits in its first heap, after heap_info: that
	 * distance is sizeof(heap_info), 0x30 since 2.35 and 0x20 before. */
	uint64_t first_heap = arena & ~(HEAP_MAX_SIZE - 1), info_size = arena - first_heap;
	for (uint32_t i = nheaps; i-- > 0;) {
		uint64_t h = heaps[i];
		uint64_t start = h == first_heap ? arena + AR_SIZE : h + info_size;
		start = ((start + 16 + 15) & ~15ull) - 16;
		bool has_top = top >= h && top < h + HEAP_MAX_SIZE;
		uint64_t end = has_top ? top_end(w, top) : old_heap_end(w, h);
		walk_chunks(w, index, start, end ? end : top, has_top ? top : 0);
	}
	walk_fastbins(w, arena, index);
	walk_bins(w, arena, index);
}

/* Whether next can be the next arena of the ring: a readable structure in the
 * first heap of its own, whose heap_info names it. */
static bool is_thread_arena(struct walk *w, uint64_t next)
{
	uint64_t ar_ptr, top;
	return !(next & 7) && rd(w, next & ~(HEAP_MAX_SIZE - 1), &ar_ptr, 8) && ar_ptr == next &&
	       rd(w, next + AR_TOP, &top, 8);
}

/* The ring of arenas from main_arena through next, back to main_arena. */
static void walk_arenas(struct walk *w)
{
	walk_main_arena(w);
	uint64_t seen[MAX_ARENAS], a = w->main_arena, next;
	uint32_t index = 0;
	while (rd(w, a + AR_NEXT, &next, 8) && next != w->main_arena) {
		const char *why = index + 1 >= MAX_ARENAS	? "is one arena too many"
				  : seen_before(seen, index, next) ? "was met before: the ring never returns to main_arena"
				  : !is_thread_arena(w, next)	   ? "is not an arena"
								   : NULL;
		if (why) {
			problem(w, a, "arena 0x%llx: its next arena 0x%llx %s", (unsigned long long)a,
				(unsigned long long)next, why);
			break;
		}
		seen[index++] = next;
		walk_thread_arena(w, next, index);
		a = next;
	}
	w->narenas = index + 1;
}

/* ---- mmapped chunks ---- */

/* memalign on an mmapped chunk moves the header forward and leaves the old
 * one in place: prev_size of the real header is its distance from the
 * mapping's start, and it ends where the mapping does. Returns that offset,
 * or 0 when the chunk at c is the real one. */
static uint64_t memalign_offset(struct walk *w, uint64_t c, uint64_t size)
{
	uint64_t len = size < WINDOW ? size : WINDOW;
	for (uint64_t off = 16; off + 16 <= len; off += 16) {
		uint64_t hdr[2];
		if (!word(w, c + off, &hdr[0]) || hdr[0] != off || !word(w, c + off + 8, &hdr[1]))
			continue;
		if ((hdr[1] & SIZE_BITS) == IS_MMAPPED && off + (hdr[1] & ~SIZE_BITS) == size)
			return off;
	}
	return 0;
}

/* Chunks that begin anonymous writable mappings, and the chunks right after
 * them (neighbouring mmaps merge into one mapping). */
static void walk_mmapped(struct walk *w)
{
	uint32_t index = w->narenas;
	struct strand_arena a = { index, 0, "mmap", 0, 0, 0, 0, false };
	uint64_t total = 0;
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(w->h, i, &m) || m.path || (m.perms & 3) != 3 || (m.perms & 8))
			continue;
		uint64_t c = m.start, size, skip;
		while (c < m.end) {
			bool found = false;
			if ((skip = walked_from(w, c))) { /* an arena's region (a non-contiguous main arena) */
				c = skip;
				continue;
			}
			/* memalign'd chunks start up to a page into their mapping */
			if (mmapped_chunk_at(w, c, m.end, &size)) {
				uint64_t off = memalign_offset(w, c, size);
				emit(w, c + off, size - off - 16, index, STRAND_USED, true);
				total += size;
				c += size;
				found = true;
			}
			if (!found)
				break;
		}
	}
	a.system_mem = total;
	w->sink->arena(w->sink->ctx, &a);
}

/* ---- the plugin ---- */

static int glibc_detect(struct strand_host *h)
{
	struct strand_module_info libc;
	return api->find_module(h, "libc.so.6", &libc) ? 90 : 0;
}

/* With symbols, structural discovery runs too and the two must agree. */
static bool find_main_arena(struct walk *w)
{
	uint64_t sym_arena = 0, sym_mp = 0, st_arena = 0, st_mp = 0;
	bool by_sym = arena_by_symbols(w, &sym_arena, &sym_mp);
	bool by_structure = arena_by_structure(w, &st_arena, &st_mp);
	if (by_sym && by_structure && (sym_arena != st_arena || (sym_mp && st_mp && sym_mp != st_mp)))
		api->warn(w->h, "main_arena from libc's symbols (0x%llx) and from its structure (0x%llx) disagree; "
				"using the symbols", (unsigned long long)sym_arena, (unsigned long long)st_arena);
	if (by_sym) {
		w->main_arena = sym_arena;
		w->mp = sym_mp ? sym_mp : st_mp;
		w->sink->discovery(w->sink->ctx, by_structure && sym_arena == st_arena ? "symbols (structure agrees)"
										 : "symbols");
		return true;
	}
	if (by_structure) {
		w->main_arena = st_arena;
		w->mp = st_mp;
		w->sink->discovery(w->sink->ctx, "structure (no libc symbols)");
		return true;
	}
	return false;
}

static int glibc_walk(struct strand_host *h, const struct strand_heap_sink *sink)
{
	struct walk *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->h = h;
	w->sink = sink;
	w->win = malloc(WINDOW);
	int rc = -1;
	if (!w->win) {
		free(w);
		return -1;
	}
	if (!find_main_arena(w)) {
		sink->problem(sink->ctx, 0, "glibc's main_arena not found (no libc symbols and no matching structure)");
	} else {
		walk_arenas(w);
		walk_mmapped(w);
		walk_tcaches(w);
		rc = 0;
	}
	free(w->win);
	free(w);
	return rc;
}

static const struct strand_allocator glibc_allocator = {
	.name = "glibc-malloc",
	.detect = glibc_detect,
	.walk = glibc_walk,
};

static const struct strand_plugin glibc_plugin = {
	.abi = STRAND_PLUGIN_ABI,
	.name = "glibc-malloc",
	.description = "glibc ptmalloc2: arenas, heaps, mmapped chunks, tcache, fast/small/large bins",
	.allocator = &glibc_allocator,
};

const struct strand_plugin *strand_glibc_malloc_init(const struct strand_host_api *host)
{
	if (host->abi != STRAND_PLUGIN_ABI)
		return NULL;
	api = host;
	return &glibc_plugin;
}
