/* glibc malloc (ptmalloc2, 2.36 first) as a strand allocator plugin: every
 * block of every arena, used or free, and which free list holds it, checked
 * against glibc's own accounting (system_mem, mp_'s mmap counters, the
 * tcache counts).
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
#define PAGE 0x1000ull
#define NONCONTIGUOUS 2u /* malloc_state.flags: the main arena's sbrk failed once */
#define HEAP_MAX_SIZE 0x4000000ull /* 64 MiB: non-main heaps are aligned to it */

#define AR_FLAGS 0x4 /* malloc_state.flags: the same place in every release */
#define NFASTBINS 10
#define NBINS 128
#define NSMALLBINS 64
#define TCACHE_BINS 64

/* What changed in ptmalloc2's structures from glibc 2.17 to 2.41 (x86_64),
 * read in each release's malloc/malloc.c and malloc/arena.c:
 * - malloc_state: 2.23 added attached_threads before system_mem; 2.27 moved
 *   the fast-chunks flag out of flags into have_fastchunks, an int before
 *   fastbinsY, which moved everything after it by 8.
 * - malloc_par: 2.24 dropped max_total_mem before sbrk_base; 2.26 added the
 *   tcache fields after it; 2.35 added thp_pagesize, hp_pagesize and hp_flags
 *   before n_mmaps.
 * - the tcache (2.26): counts were chars until 2.30 made them uint16_t, which
 *   made its chunk 0x290 bytes instead of 0x250.
 * - safe-linking (2.32): tcache and fastbin links are stored xor'ed with
 *   their own address >> 12.
 * - heap_info: 2.35 added pagesize, 0x30 bytes instead of 0x20 (found from
 *   where a thread arena sits in its heap, so not in this table). */
struct layout {
	unsigned first, last;  /* 2.first to 2.last */
	/* struct malloc_state */
	uint32_t ar_fastbins, ar_top, ar_bins, ar_next, ar_attached /* 0: none */, ar_system_mem, ar_size;
	/* struct malloc_par (mp_) */
	uint32_t mp_n_mmaps, mp_mmapped_mem, mp_sbrk_base, mp_tcache_bins /* 0: no tcache */, mp_size;
	uint8_t tcache_counts; /* bytes of a tcache count, 0: no tcache */
	bool safe_linking;
};

#define ARENA_2_17 0x8, 0x58, 0x68, 0x868, 0, 0x878, 0x888
#define ARENA_2_23 0x8, 0x58, 0x68, 0x868, 0x878, 0x880, 0x890
#define ARENA_2_27 0x10, 0x60, 0x70, 0x870, 0x880, 0x888, 0x898
#define PAR_2_17 0x28, 0x38, 0x50, 0, 0x58
#define PAR_2_24 0x28, 0x38, 0x48, 0, 0x50
#define PAR_2_26 0x28, 0x38, 0x48, 0x50, 0x70
#define PAR_2_35 0x3c, 0x50, 0x60, 0x68, 0x88

/* Newest first: without a known release, the first layout that fits wins. */
static const struct layout layouts[] = {
	{ 35, 41, ARENA_2_27, PAR_2_35, 2, true },
	{ 32, 34, ARENA_2_27, PAR_2_26, 2, true },
	{ 30, 31, ARENA_2_27, PAR_2_26, 2, false },
	{ 27, 29, ARENA_2_27, PAR_2_26, 1, false },
	{ 26, 26, ARENA_2_23, PAR_2_26, 1, false },
	{ 24, 25, ARENA_2_23, PAR_2_24, 0, false },
	{ 23, 23, ARENA_2_23, PAR_2_17, 0, false },
	{ 17, 22, ARENA_2_17, PAR_2_17, 0, false },
};
#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))
#define MAX_ARENA_SIZE 0x898
#define MAX_MP_SIZE 0x88
/* malloc_par's tcache fields, from tcache_bins on */
#define MP_TCACHE_COUNT 16 /* after tcache_bins */

/* struct r_debug, struct link_map: the public, stable part */
#define R_MAP 8
#define L_NEXT 24

#define MAX_ARENAS 1024
#define MAX_THREADS (1u << 22)
#define MEMORY_SEARCH (1ull << 30) /* bytes searched for main_arena */
#define MP_SEARCH (64ull << 20)    /* the largest mapping searched for mp_ (libc's data is far smaller) */
#define MAX_HEAPS 4096
#define HEAP_PROBES 65536 /* 64 MiB boundaries read for heap_info: 4 TiB */
#define MAX_LIST 10000000 /* no list is longer than the heap has chunks */
#define MAX_MODULES 100000
#define MAX_PHDRS 64
#define MAX_STATIC_TLS (64ull << 20)
#define WINDOW (1u << 20)
#define SEARCH_PAGES ((16ull << 30) / PAGE) /* the search for mmapped chunks inside mappings: 16 GiB */

static const struct strand_host_api *api;

struct range {
	uint64_t start, end;
};

/* Address ranges, appended as found. */
struct ranges {
	struct range *v;
	size_t n, cap;
};

struct arena_info {
	uint64_t addr, top;
	bool readable;
	uint32_t nheaps;
	uint64_t *heaps;       /* a thread arena's heap_info addresses, from the heap holding top back */
	uint32_t caches;       /* thread caches allocated in it, and the blocks their counts say they hold */
	uint64_t cached;
};

/* libc as the dynamic loader mapped it. */
struct libc_image {
	const char *path;
	bool file;             /* the file at path is the target's (its image may be read) */
	uint64_t bias, low, high;
	uint64_t tls_size;     /* its PT_TLS block, 0 if none */
};

struct walk {
	struct strand_host *h;
	const struct strand_heap_sink *sink;
	struct libc_image libc;
	bool quiet;               /* detection only: no warning */
	const struct layout *lay; /* the release's structures */
	uint64_t main_arena, mp;
	/* mp_'s counters, when it could be read */
	bool mp_read;
	uint32_t n_mmaps;
	uint64_t mmapped_mem, sbrk_base, tcache_count;
	uint8_t *win;
	uint64_t win_base;
	size_t win_len;
	struct arena_info arenas[MAX_ARENAS];
	uint32_t narenas;
	struct ranges arena_mem;  /* what the arenas' heaps span: no mmapped chunk lies there */
	uint64_t *tcaches;
	size_t ntcaches;
	struct ranges mmapped;    /* mmapped chunks found, from their mapping's start */
	uint64_t mmapped_bytes;
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

/* A range appended; when memory runs out the list stays as it was (the
 * mmapped-chunk search then only looks at more memory). */
static void add_range(struct ranges *r, uint64_t start, uint64_t end)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct range *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct range){ start, end };
}

static void note_range(struct walk *w, uint64_t start, uint64_t end)
{
	add_range(&w->arena_mem, start, end);
}

/* ---- libc ---- */

static bool read_file_at(int fd, uint64_t off, void *buf, size_t len)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

/* A 64-bit ELF file's header and program headers: the open descriptor, or -1. */
static int open_elf(const char *path, Elf64_Ehdr *eh, Elf64_Phdr *ph)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (!read_file_at(fd, 0, eh, sizeof(*eh)) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phnum > MAX_PHDRS || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !read_file_at(fd, eh->e_phoff, ph, eh->e_phnum * sizeof(Elf64_Phdr))) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool is_libc_file(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || (!strncmp(base, "libc-", 5) && strstr(base, ".so"));
}

/* The address range libc's segments span at its load bias, and its TLS block. */
static void libc_layout(struct libc_image *l, const Elf64_Phdr *ph, size_t n)
{
	uint64_t low = UINT64_MAX, high = 0;
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type == PT_TLS)
			l->tls_size = ph[i].p_memsz;
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_vaddr < low)
			low = ph[i].p_vaddr;
		if (ph[i].p_vaddr + ph[i].p_memsz > high)
			high = ph[i].p_vaddr + ph[i].p_memsz;
	}
	if (high > low) {
		l->low = l->bias + (low & ~(PAGE - 1));
		l->high = l->bias + high;
	}
}

/* libc as the dynamic loader mapped it. The module list may name libc twice
 * (a debugger maps the file again to read it, as gdb does): the one loaded
 * runs code, so an executable mapping of it, matched to its segment, gives
 * the load bias. The module list is the fallback (a core whose mappings
 * carry no file names). Left empty when neither knows libc. */
/* Whether the file open at fd is the one the target mapped at base: its
 * first page is the target's there (the kernel dumps that page of every
 * mapped ELF file into a core). A file of the same name on another machine
 * has other contents, and its symbols and image other addresses. false when
 * the target's page is not there to compare (nor a file that matches the
 * core otherwise, which the host would read it from). */
static bool same_first_page(struct walk *w, int fd, uint64_t base)
{
	uint8_t file[PAGE], mem[PAGE];
	return api->read(w->h, base, mem, PAGE) == PAGE && read_file_at(fd, 0, file, PAGE) &&
	       !memcmp(file, mem, PAGE);
}

static void find_libc(struct walk *w)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHDRS];
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(w->h, i, &m) || !m.path || !(m.perms & 4) || !is_libc_file(m.path))
			continue;
		int fd = open_elf(m.path, &eh, ph);
		if (fd < 0)
			continue;
		for (size_t k = 0; k < eh.e_phnum; k++) {
			uint64_t bias = m.start - (ph[k].p_vaddr & ~(PAGE - 1));
			if (ph[k].p_type != PT_LOAD || !(ph[k].p_flags & PF_X) ||
			    (ph[k].p_offset & ~(PAGE - 1)) != m.offset || !same_first_page(w, fd, bias))
				continue;
			close(fd);
			w->libc = (struct libc_image){ m.path, true, bias, 0, 0, 0 };
			libc_layout(&w->libc, ph, eh.e_phnum);
			return;
		}
		close(fd);
	}
	struct strand_module_info mi;
	if (!api->find_module(w->h, "libc.so", &mi))
		return;
	w->libc = (struct libc_image){ mi.path, false, mi.bias, mi.low, mi.high, 0 };
	int fd = open_elf(mi.path, &eh, ph);
	if (fd >= 0 && same_first_page(w, fd, mi.low)) {
		w->libc.file = true;
		libc_layout(&w->libc, ph, eh.e_phnum);
	}
	if (fd >= 0)
		close(fd);
}

/* A symbol of libc's (its symbol table, or its dynamic symbols) at an address
 * inside libc as loaded, when that is known: a copy of the file mapped
 * elsewhere has the same symbols at other addresses. */
static bool libc_symbol(struct walk *w, const char *name, uint64_t *addr)
{
	uint64_t size;
	const char *base = w->libc.path ? strrchr(w->libc.path, '/') : NULL;
	return api->lookup_symbol(w->h, name, base ? base + 1 : "libc.so", addr, &size) &&
	       (!w->libc.high || (*addr >= w->libc.low && *addr < w->libc.high));
}

static bool plausible_size(uint64_t size, uint64_t chunk, uint64_t end);
static uint64_t chunk_size_at(struct walk *w, uint64_t chunk);
static uint64_t tcache_chunk_size(const struct layout *l);

/* ---- the release ---- */

#define BANNER_SCAN (16ull << 20) /* bytes of libc's read-only mappings searched for its banner */
#define BANNER_CHUNK 0x10000

struct release {
	unsigned minor;        /* 2.minor; 0: unknown */
	char why[200];         /* where it was read, for the user */
};

static bool is_libc_mapping(const struct strand_mapping_info *m)
{
	return m->path && is_libc_file(m->path);
}

/* The text around a match in libc's banner ("GNU C Library (Debian GLIBC
 * 2.36-9) stable release version 2.36."): back to the string's start, up to
 * its end or line end. */
static void banner_text(const char *buf, size_t len, size_t at, char *out, size_t outlen)
{
	size_t from = at, to = at;
	while (from > 0 && at - from < 100 && buf[from - 1] >= ' ' && buf[from - 1] < 0x7f)
		from--;
	while (to < len && to - at < 40 && buf[to] >= ' ' && buf[to] < 0x7f)
		to++;
	snprintf(out, outlen, "%.*s", (int)(to - from), buf + from);
}

/* 2.minor from "release version 2.NN" in libc's banner, which sits in its
 * read-only data: there when the target's own libc file is (a core leaves
 * read-only file pages out, and the host reads them from the file it
 * matched). 0 when not found. */
static unsigned release_from_banner(struct strand_host *h, char *banner, size_t len)
{
	static const char key[] = "release version 2.";
	char *buf = malloc(BANNER_CHUNK + 64);
	size_t n = api->mapping_count(h);
	unsigned minor = 0;
	for (size_t i = 0; buf && i < n && !minor; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(h, i, &m) || !is_libc_mapping(&m) || (m.perms & 2) || !(m.perms & 1))
			continue;
		for (uint64_t at = m.start; at < m.end && at - m.start < BANNER_SCAN && !minor; at += BANNER_CHUNK) {
			size_t want = m.end - at < BANNER_CHUNK + 64 ? (size_t)(m.end - at) : BANNER_CHUNK + 64;
			size_t got = api->read(h, at, buf, want);
			const char *hit = got ? memmem(buf, got, key, sizeof(key) - 1) : NULL;
			if (!got)
				break;
			if (!hit)
				continue;
			size_t k = (size_t)(hit - buf) + sizeof(key) - 1;
			while (k < got && buf[k] >= '0' && buf[k] <= '9' && minor < 1000)
				minor = minor * 10 + (unsigned)(buf[k++] - '0');
			banner_text(buf, got, (size_t)(hit - buf), banner, len);
		}
	}
	free(buf);
	return minor;
}

/* 2.minor from libc's file name: libc-2.31.so, as releases before 2.34
 * install it. */
static unsigned release_from_name(struct strand_host *h, const char **path)
{
	size_t n = api->mapping_count(h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		unsigned minor;
		if (!api->mapping(h, i, &m) || !is_libc_mapping(&m))
			continue;
		const char *base = strrchr(m.path, '/');
		base = base ? base + 1 : m.path;
		if (sscanf(base, "libc-2.%u.so", &minor) == 1) {
			*path = m.path;
			return minor;
		}
	}
	return 0;
}

static void find_release(struct strand_host *h, struct release *r)
{
	char banner[160];
	const char *path;
	if ((r->minor = release_from_banner(h, banner, sizeof(banner))))
		snprintf(r->why, sizeof(r->why), "libc's version string \"%s\"", banner);
	else if ((r->minor = release_from_name(h, &path)))
		snprintf(r->why, sizeof(r->why), "libc's file name %s", path);
	else
		snprintf(r->why, sizeof(r->why), "no version string or versioned file name of libc in the target");
}

static const struct layout *layout_of(unsigned minor)
{
	for (size_t i = 0; i < NLAYOUTS; i++)
		if (minor >= layouts[i].first && minor <= layouts[i].last)
			return &layouts[i];
	return NULL;
}

static bool same_arena(const struct layout *a, const struct layout *b)
{
	return a->ar_bins == b->ar_bins && a->ar_next == b->ar_next && a->ar_system_mem == b->ar_system_mem;
}

/* ---- finding main_arena ---- */

static bool mapping_at(struct walk *w, uint64_t addr, struct strand_mapping_info *m)
{
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++)
		if (api->mapping(w->h, i, m) && addr >= m->start && addr < m->end)
			return true;
	return false;
}

static bool mapping_of(struct walk *w, uint64_t addr, uint64_t *start, uint64_t *end)
{
	struct strand_mapping_info m;
	if (!mapping_at(w, addr, &m))
		return false;
	*start = m.start;
	*end = m.end;
	return true;
}

/* Whether next can be the next arena of the ring: a readable structure in the
 * first heap of its own, whose heap_info names it. */
static bool is_thread_arena(struct walk *w, uint64_t next)
{
	uint64_t ar_ptr, top;
	return !(next & 7) && rd(w, next & ~(HEAP_MAX_SIZE - 1), &ar_ptr, 8) && ar_ptr == next &&
	       rd(w, next + w->lay->ar_top, &top, 8);
}

/* The 127 bins that start at addr (bin 1's fd), as words: the number that are
 * empty (fd and bk point at the bin itself), -1 when one is neither empty nor
 * a list of chunks. From the last bin back: most memory fails at once. */
static int empty_bins(const uint64_t *bins, uint64_t addr)
{
	int empty = 0;
	for (int i = NBINS - 2; i >= 0; i--) {
		uint64_t fd = bins[2 * i], bk = bins[2 * i + 1], head = addr + 16 * (uint64_t)i - 16;
		if (fd == head && bk == head)
			empty++;
		else if (fd == head || bk == head || !fd || !bk || ((fd | bk) & 15))
			return -1;
	}
	return empty;
}

/* Whether the ring of arenas from a through next comes back to a, through
 * thread arenas only. */
static bool ring_closes(struct walk *w, uint64_t a, uint64_t next)
{
	for (uint32_t n = 0; n < MAX_ARENAS; n++) {
		if (next == a)
			return true;
		if (!is_thread_arena(w, next) || !rd(w, next + w->lay->ar_next, &next, 8))
			return false;
	}
	return false;
}

/* Why the memory at a is not one of glibc's arenas in the layout w->lay,
 * NULL when it can be: flags with glibc's bits only, fastbin heads and bins
 * that point at chunks or (bins) at themselves, a top chunk that ends its
 * heap on a page in writable memory, a system_mem that covers the heap, and
 * for the main arena a ring of arenas that comes back to it and a place
 * outside every thread heap; a thread arena lies in its own first heap. */
static const char *arena_mismatch(struct walk *w, uint64_t a, bool main)
{
	const struct layout *l = w->lay;
	uint64_t q[MAX_ARENA_SIZE / 8], size;
	uint32_t flags, have_fastchunks;
	struct strand_mapping_info m;
	if ((a & 7) || !rd(w, a, q, l->ar_size))
		return "it is not readable";
	memcpy(&flags, (const uint8_t *)q + AR_FLAGS, 4);
	memcpy(&have_fastchunks, (const uint8_t *)q + 8, 4);
	/* Before 2.27 flags also held FASTCHUNKS_BIT (1) and, 2.22 to 2.26,
	 * ARENA_CORRUPTION_BIT (4); from 2.27 NONCONTIGUOUS_BIT (2) alone. */
	bool old = l->ar_fastbins == 8;
	if ((flags & (old ? ~7u : ~2u)) || (!old && have_fastchunks > 1))
		return "its flags hold values glibc never sets";
	for (int i = 0; i < NFASTBINS; i++)
		if (q[l->ar_fastbins / 8 + i] & 15)
			return "a fastbin head is not a chunk address";
	int empty = empty_bins(q + l->ar_bins / 8, a + l->ar_bins);
	if (empty <= 0)
		return empty < 0 ? "a bin is neither empty nor a list of chunks" : "none of its bins is empty";
	uint64_t top = q[l->ar_top / 8], next = q[l->ar_next / 8];
	uint64_t system_mem = q[l->ar_system_mem / 8], max_system_mem = q[l->ar_system_mem / 8 + 1];
	if ((l->ar_attached && q[l->ar_attached / 8] > MAX_THREADS) || max_system_mem < system_mem)
		return "its thread and memory counters are impossible";
	if (top == a + l->ar_bins - 16) { /* initial_top: nothing allocated yet */
		if (system_mem)
			return "it holds memory but has no top chunk";
	} else {
		if ((top & 15) || !mapping_at(w, top, &m) || !(m.perms & 2) || !rd(w, top + 8, &size, 8))
			return "its top is not a chunk in writable memory";
		uint64_t sz = size & ~SIZE_BITS;
		if (!(size & PREV_INUSE) || !plausible_size(size, top, m.end) || ((top + sz) & (PAGE - 1)))
			return "its top chunk does not end its heap on a page boundary";
		if (system_mem < sz || (!(flags & NONCONTIGUOUS) && system_mem > top + sz - m.start))
			return "its system_mem does not match its heap's mapping";
	}
	if (main && next != a && !ring_closes(w, a, next))
		return "its ring of arenas does not come back to it";
	if (is_thread_arena(w, a) != !main)
		return main ? "it lies in a thread arena's heap" : "no heap_info names it";
	return NULL;
}

/* Through libc's symbols (libc6-dbg, debuginfod): main_arena is static. */
static bool arena_by_symbols(struct walk *w, uint64_t *arena, uint64_t *mp)
{
	if (api->option(w->h, "no-libc-symbols") || !libc_symbol(w, "main_arena", arena))
		return false;
	if (!libc_symbol(w, "mp_", mp))
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
 * points at itself (stored in place: RELR), attached_threads 1 (2.23+), the
 * rest 0. */
static bool is_arena_image(const struct layout *l, const uint64_t *q, uint64_t vaddr)
{
	size_t next = l->ar_next / 8, after = l->ar_attached ? l->ar_attached / 8 : next + 1;
	return q[next] == vaddr && all_zero(q, 0, next) && all_zero(q, next + 1, after) &&
	       (!l->ar_attached || q[after] == 1) && all_zero(q, after + !!l->ar_attached, l->ar_size / 8);
}

/* mp_'s initial values: thresholds 128 KiB, arena_test 8, and from 2.26 64
 * tcache bins of up to 0x408 bytes, 7 entries each. */
static bool is_mp_image(const struct layout *l, const uint64_t *q)
{
	const uint64_t *t = q + l->mp_tcache_bins / 8;
	return q[0] == 0x20000 && q[1] == 0x20000 && q[2] == 0x20000 && q[3] == 8 &&
	       (!l->mp_tcache_bins || (t[0] == 64 && t[1] == 0x408 && t[2] == 7));
}

/* main_arena and mp_ in the image of libc's file at w->libc.path, for the
 * layout w->lay. Only a candidate: the file may not be the target's. */
static bool arena_in_file(struct walk *w, uint64_t *arena, uint64_t *mp)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHDRS];
	const struct layout *l = w->lay;
	int fd = w->libc.file ? open_elf(w->libc.path, &eh, ph) : -1;
	if (fd < 0)
		return false;
	bool found = false;
	*mp = 0;
	for (size_t i = 0; i < eh.e_phnum && !found; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W) || ph[i].p_filesz > (64u << 20))
			continue;
		uint64_t *data = calloc(1, ph[i].p_filesz + MAX_ARENA_SIZE);
		if (!data)
			break;
		if (read_file_at(fd, ph[i].p_offset, data, ph[i].p_filesz)) {
			size_t words = ph[i].p_filesz / 8;
			for (size_t k = 0; k < words; k++) {
				uint64_t vaddr = ph[i].p_vaddr + 8 * k;
				if (!found && data[k + l->ar_next / 8] == vaddr && is_arena_image(l, data + k, vaddr)) {
					*arena = vaddr + w->libc.bias;
					found = true;
				}
				if (!*mp && k + MAX_MP_SIZE / 8 <= words && is_mp_image(l, data + k))
					*mp = vaddr + w->libc.bias;
			}
		}
		free(data);
	}
	close(fd);
	return found;
}

/* Where to search memory for main_arena: libc's writable mappings, or every
 * writable mapping when none is named libc's (a core without file notes). */
static size_t search_areas(struct walk *w, struct range **out)
{
	struct ranges libc = { 0 }, all = { 0 };
	size_t n = api->mapping_count(w->h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(w->h, i, &m) || (m.perms & 3) != 3 || m.end <= m.start)
			continue;
		add_range(is_libc_mapping(&m) ? &libc : &all, m.start, m.end);
	}
	if (libc.n) {
		free(all.v);
		*out = libc.v;
		return libc.n;
	}
	*out = all.v;
	return all.n;
}

/* main_arena by a search of memory, chap's way: 127 bins in a row that are
 * empty or lists of chunks, and around them an arena that passes
 * arena_mismatch in one of the layouts, tried in the order given. Sets
 * w->lay to the layout that fits. How many arenas fit in *found. */
static bool arena_in_memory(struct walk *w, const struct layout *const *order, size_t norder, uint64_t *arena,
			    unsigned *found)
{
	struct range *areas;
	size_t nareas = search_areas(w, &areas);
	uint64_t *buf = malloc(WINDOW + MAX_ARENA_SIZE), searched = 0;
	const struct layout *chosen = NULL;
	*found = 0;
	for (size_t i = 0; buf && i < nareas && searched < MEMORY_SEARCH; i++) {
		for (uint64_t base = areas[i].start; base < areas[i].end && searched < MEMORY_SEARCH; base += WINDOW) {
			size_t want = areas[i].end - base < WINDOW + MAX_ARENA_SIZE ? (size_t)(areas[i].end - base)
										  : WINDOW + MAX_ARENA_SIZE;
			size_t got = api->read(w->h, base, buf, want) / 8 * 8;
			searched += WINDOW;
			for (size_t k = 0; k * 8 < WINDOW && (k + 2 * (NBINS - 1)) * 8 <= got; k++) {
				uint64_t bins = base + 8 * k;
				if (empty_bins(buf + k, bins) <= 0)
					continue;
				for (size_t t = 0; t < norder; t++) {
					w->lay = order[t];
					if (bins < w->lay->ar_bins || arena_mismatch(w, bins - w->lay->ar_bins, true))
						continue;
					if (!(*found)++) {
						*arena = bins - w->lay->ar_bins;
						chosen = w->lay;
					}
					break;
				}
			}
		}
	}
	free(buf);
	free(areas);
	w->lay = chosen;
	return chosen != NULL;
}

/* Whether mp_ can be at mp in layout l, given where the main heap begins
 * (0: unknown): sane thresholds and counters, and sbrk_base there. */
static bool is_mp(struct walk *w, const struct layout *l, uint64_t mp, uint64_t heap_start)
{
	uint64_t q[MAX_MP_SIZE / 8], mmapped_mem;
	int32_t n_mmaps[2];
	if ((mp & 7) || !rd(w, mp, q, l->mp_size))
		return false;
	memcpy(n_mmaps, (const uint8_t *)q + l->mp_n_mmaps, sizeof(n_mmaps));
	memcpy(&mmapped_mem, (const uint8_t *)q + l->mp_mmapped_mem, 8);
	const uint64_t *t = q + l->mp_tcache_bins / 8;
	return q[2] && q[2] <= HEAP_MAX_SIZE && q[3] && q[3] <= MAX_THREADS && n_mmaps[0] >= 0 &&
	       n_mmaps[0] <= n_mmaps[1] && !(mmapped_mem & (PAGE - 1)) && !mmapped_mem == !n_mmaps[0] &&
	       (!heap_start || q[l->mp_sbrk_base / 8] == heap_start) &&
	       (!l->mp_tcache_bins || (t[0] <= TCACHE_BINS && t[2] <= 0xffff));
}

/* Where the main arena's heap begins when it is one sbrk area: 0 when that is
 * not known. */
static uint64_t main_heap_start(struct walk *w, uint64_t arena)
{
	uint64_t top, size, system_mem;
	uint32_t flags;
	if (!rd(w, arena + w->lay->ar_top, &top, 8) || top == arena + w->lay->ar_bins - 16 ||
	    !rd(w, arena + AR_FLAGS, &flags, 4) || (flags & NONCONTIGUOUS) || !rd(w, top + 8, &size, 8) ||
	    !rd(w, arena + w->lay->ar_system_mem, &system_mem, 8))
		return 0;
	return top + (size & ~SIZE_BITS) - system_mem;
}

/* mp_ by a search of the memory main_arena was found in, for a layout of
 * the arena's kind: the word that holds sbrk_base, at its place in mp_.
 * Sets w->lay to the layout whose malloc_par fits; 0 when none does. */
static uint64_t mp_in_memory(struct walk *w, const struct layout *const *order, size_t norder)
{
	uint64_t heap = main_heap_start(w, w->main_arena), start, end;
	if (!heap || !mapping_of(w, w->main_arena, &start, &end) || end - start > MP_SEARCH)
		return 0;
	uint64_t *data = malloc(end - start), found = 0;
	const struct layout *arena_layout = w->lay;
	if (data && rd(w, start, data, end - start))
		for (size_t k = 0; k < (end - start) / 8 && !found; k++) {
			if (data[k] != heap)
				continue;
			for (size_t t = 0; t < norder && !found; t++)
				if (same_arena(order[t], arena_layout) && start + 8 * k >= order[t]->mp_sbrk_base &&
				    is_mp(w, order[t], start + 8 * k - order[t]->mp_sbrk_base, heap)) {
					found = start + 8 * k - order[t]->mp_sbrk_base;
					w->lay = order[t];
				}
		}
	free(data);
	return found;
}

/* What the main arena's lists and heap say of the layout, for layouts that
 * differ in nothing else: -1 when they contradict it, else the number of
 * signs that fit. A fastbin link read raw or revealed (safe-linking) must be
 * NULL or a chunk of the bin's size; the heap's first chunk is the main
 * thread's tcache when it was the first to call malloc (0x250 bytes with
 * 8-bit counts, 0x290 with 16-bit ones). */
static int layout_signs(struct walk *w, const struct layout *l)
{
	uint64_t heads[NFASTBINS], heap = main_heap_start(w, w->main_arena), size;
	int signs = 0;
	if (rd(w, w->main_arena + l->ar_fastbins, heads, sizeof(heads)))
		for (int i = 0; i < NFASTBINS; i++) {
			uint64_t stored, pos = heads[i] + 16, raw, safe;
			if (!heads[i] || !rd(w, pos, &stored, 8))
				continue;
			safe = stored ^ (pos >> 12);
			raw = stored;
			bool raw_fits = !raw || (!(raw & 15) && chunk_size_at(w, raw) == 0x20 + 16 * (uint64_t)i);
			bool safe_fits = !safe || (!(safe & 15) && chunk_size_at(w, safe) == 0x20 + 16 * (uint64_t)i);
			if (raw_fits != safe_fits)
				signs += safe_fits == l->safe_linking ? 1 : -100;
		}
	if (heap && rd(w, heap + 8, &size, 8) && l->tcache_counts) {
		uint64_t own = tcache_chunk_size(l), other = l->tcache_counts == 1 ? 0x290 : 0x250;
		if ((size & ~SIZE_BITS) == own)
			signs++;
		else if ((size & ~SIZE_BITS) == other)
			signs -= 100;
	}
	return signs < 0 ? -1 : signs;
}

/* Among the layouts whose structures match w->lay's, the one the lists and
 * heap fit best (the first of equals, in the order given). */
static void refine_layout(struct walk *w, const struct layout *const *order, size_t norder)
{
	const struct layout *chosen = w->lay;
	int best = layout_signs(w, chosen);
	for (size_t t = 0; t < norder; t++) {
		const struct layout *l = order[t];
		int signs;
		if (l == chosen || !same_arena(l, chosen) || l->mp_sbrk_base != chosen->mp_sbrk_base ||
		    l->mp_tcache_bins != chosen->mp_tcache_bins || (signs = layout_signs(w, l)) <= best)
			continue;
		w->lay = l;
		best = signs;
	}
}

/* The layouts to try: the release's own first, then the others newest first. */
static size_t layout_order(unsigned minor, const struct layout **order)
{
	const struct layout *own = layout_of(minor);
	size_t n = 0;
	if (own)
		order[n++] = own;
	for (size_t i = 0; i < NLAYOUTS; i++)
		if (&layouts[i] != own)
			order[n++] = &layouts[i];
	return n;
}

/* The layout's release range, "2.27-2.29". */
static const char *releases_of(const struct layout *l, char *buf, size_t len)
{
	if (l->first == l->last)
		snprintf(buf, len, "2.%u", l->first);
	else
		snprintf(buf, len, "2.%u-2.%u", l->first, l->last);
	return buf;
}

/* main_arena, mp_ and the layout: candidates from libc's symbols and its file
 * image, each checked against the target's memory, else a search of that
 * memory; the release's layout first. What was found and how goes to the
 * sink's discovery. */
static bool find_main_arena(struct walk *w)
{
	struct release r;
	const struct layout *order[NLAYOUTS], *named_layout = NULL;
	find_release(w->h, &r);
	size_t norder = layout_order(r.minor, order);
	uint64_t named = 0, named_mp = 0, arena = 0, mp = 0;
	unsigned found = 0;
	const char *how = NULL, *named_how = NULL;
	/* A candidate named by libc's symbols or found in its file's image. */
	bool by_symbols = arena_by_symbols(w, &named, &named_mp);
	if (by_symbols) {
		named_how = "symbols";
		named_layout = order[0];
	}
	for (size_t t = 0; !named_how && t < norder; t++) {
		w->lay = order[t];
		if (arena_in_file(w, &named, &named_mp)) {
			named_how = "structure (libc's file image; no libc symbols)";
			named_layout = w->lay;
		}
	}
	for (size_t t = 0; named_how && t < norder && !how; t++) {
		w->lay = order[t];
		if (!arena_mismatch(w, named, true)) {
			how = by_symbols ? "symbols (structure agrees)" : named_how;
			arena = named;
			mp = named_mp;
		}
	}
	if (!how && arena_in_memory(w, order, norder, &arena, &found))
		how = "structure (a search of memory; no libc symbols)";
	if (named_how && arena != named) {
		/* A damaged arena is still the one to walk, its damage reported
		 * where it is; a file that is not the target's names another. */
		w->lay = named_layout;
		if (!w->quiet)
			api->warn(w->h, "main_arena from %s (0x%llx) is not an arena in the target's memory (%s): %s",
				  by_symbols ? "libc's symbols" : "libc's file image", (unsigned long long)named,
				  arena_mismatch(w, named, true),
				  how ? "is libc's file the one the target ran? The arena found in memory is walked"
				      : "walked as it is, as no other arena was found");
		if (!how) {
			how = named_how;
			arena = named;
			mp = named_mp;
		}
	}
	if (!how)
		return false;
	w->main_arena = arena;
	const struct layout *arena_layout = w->lay;
	if (!mp || !is_mp(w, w->lay, mp, 0))
		mp = mp_in_memory(w, order, norder);
	if (!mp)
		w->lay = arena_layout;
	/* A release read from a file that is not the target's can name a
	 * layout that the lists contradict. */
	if (!r.minor || layout_of(r.minor) != w->lay || layout_signs(w, w->lay) < 0)
		refine_layout(w, order, norder);
	w->mp = mp;
	char text[512], range[32];
	int len = snprintf(text, sizeof(text), "%s%s; layout of glibc %s", how,
			   found > 1 ? ", the first of several candidates" : "", releases_of(w->lay, range, sizeof(range)));
	if (r.minor && layout_of(r.minor) == w->lay)
		snprintf(text + len, sizeof(text) - len, ", glibc 2.%u by %s", r.minor, r.why);
	else if (r.minor)
		snprintf(text + len, sizeof(text) - len, ", which the memory fits, not that of glibc 2.%u named by %s",
			 r.minor, r.why);
	else
		snprintf(text + len, sizeof(text) - len, ", the first that the memory fits (%s)", r.why);
	w->sink->discovery(w->sink->ctx, text);
	return true;
}

/* The counters glibc keeps in mp_: mmapped chunks and their bytes, where the
 * sbrk heap starts, the tcache bins' capacity. */
static void read_mp(struct walk *w)
{
	const struct layout *l = w->lay;
	uint8_t mp[MAX_MP_SIZE];
	if (!w->mp || !rd(w, w->mp, mp, l->mp_size))
		return;
	memcpy(&w->n_mmaps, mp + l->mp_n_mmaps, 4);
	memcpy(&w->mmapped_mem, mp + l->mp_mmapped_mem, 8);
	memcpy(&w->sbrk_base, mp + l->mp_sbrk_base, 8);
	if (l->mp_tcache_bins)
		memcpy(&w->tcache_count, mp + l->mp_tcache_bins + MP_TCACHE_COUNT, 8);
	w->mp_read = true;
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


/* A tcache or fastbin link as stored at pos: with safe-linking (2.32+) the
 * target xor (pos >> 12). */
static uint64_t reveal(const struct walk *w, uint64_t pos, uint64_t stored)
{
	return w->lay->safe_linking ? stored ^ (pos >> 12) : stored;
}

/* The chunk of a tcache_perthread_struct: its counts, its 64 entries, the header. */
static uint64_t tcache_chunk_size(const struct layout *l)
{
	return (TCACHE_BINS * (l->tcache_counts + 8ull) + 16 + 15) & ~15ull;
}

/* A tcache's counts (chars before 2.30) and entries. */
static bool read_tcache(struct walk *w, uint64_t p, uint16_t *counts, uint64_t *entries)
{
	uint8_t raw[TCACHE_BINS * 2];
	size_t width = w->lay->tcache_counts, len = TCACHE_BINS * width;
	if (!width || !rd(w, p, raw, len) || !rd(w, p + len, entries, TCACHE_BINS * 8))
		return false;
	for (int i = 0; i < TCACHE_BINS; i++)
		counts[i] = width == 1 ? raw[i] : (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
	return true;
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
	return reveal(w, entry, stored);
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
	if (!read_tcache(w, tcache, counts, entries))
		return;
	emit(w, tcache - 16, tcache_chunk_size(w->lay) - 8, STRAND_ARENA_KEEP, STRAND_INTERNAL, false);
	for (int i = 0; i < TCACHE_BINS; i++)
		if (entries[i] || counts[i])
			walk_tcache_bin(w, tcache, i, entries[i], counts[i]);
}


/* ---- finding each thread's tcache ---- */

/* How far below every thread pointer libc's static TLS block begins:
 * l_tls_offset in libc's link_map, found in the dynamic loader's list
 * (_r_debug.r_map) by its load bias; the field's place comes from the
 * descriptor libc exports for libthread_db (a dynamic symbol, there without
 * debug info). 0 when any of it is missing. */
static uint64_t libc_tls_offset(struct walk *w)
{
	uint64_t desc_addr, r_debug, size, lm, offset;
	uint32_t desc[3]; /* bits, count, byte offset */
	if (!w->libc.tls_size || !libc_symbol(w, "_thread_db_link_map_l_tls_offset", &desc_addr) ||
	    !rd(w, desc_addr, desc, sizeof(desc)) || desc[0] != 64 ||
	    !api->lookup_symbol(w->h, "_r_debug", "ld-linux", &r_debug, &size) || !rd(w, r_debug + R_MAP, &lm, 8))
		return 0;
	for (uint32_t n = 0; lm && n < MAX_MODULES; n++) {
		uint64_t l_addr;
		if (!rd(w, lm, &l_addr, 8))
			return 0;
		if (l_addr == w->libc.bias)
			return rd(w, lm + desc[2], &offset, 8) && offset >= w->libc.tls_size && offset <= MAX_STATIC_TLS
				       ? offset
				       : 0;
		if (!rd(w, lm + L_NEXT, &lm, 8))
			return 0;
	}
	return 0;
}

/* tcache's place in libc's TLS block: a TLS symbol's value is its offset in
 * the block, to which the host added the load bias. From libc's symbols only
 * (libc6-dbg, debuginfod): tcache is static. */
static bool tcache_symbol(struct walk *w, uint64_t *offset)
{
	uint64_t addr;
	if (api->option(w->h, "no-libc-symbols") || !libc_symbol(w, "tcache", &addr))
		return false;
	*offset = addr - w->libc.bias;
	return *offset + 8 <= w->libc.tls_size;
}

/* The arena whose heaps hold chunk c: a thread arena's heap, else main. */
static uint32_t arena_holding(const struct walk *w, uint64_t c)
{
	uint64_t heap = c & ~(HEAP_MAX_SIZE - 1);
	for (uint32_t i = 1; i < w->narenas; i++)
		for (uint32_t k = 0; k < w->arenas[i].nheaps; k++)
			if (w->arenas[i].heaps[k] == heap)
				return i;
	return 0;
}

/* Whether p is the user pointer of a tcache_perthread_struct's chunk: 0x290
 * bytes, in use (the next chunk says so), not mmapped, its NON_MAIN_ARENA bit
 * telling the kind of arena whose heap holds it. That arena's index in
 * *arena. */
static bool tcache_chunk(struct walk *w, uint64_t p, uint32_t *arena)
{
	uint64_t size, next_size, chunk = tcache_chunk_size(w->lay);
	if (!w->lay->tcache_counts || p < 16 || (p & 15) || !rd(w, p - 8, &size, 8) || (size & ~SIZE_BITS) != chunk ||
	    (size & IS_MMAPPED) || !rd(w, p - 16 + chunk + 8, &next_size, 8) || !(next_size & PREV_INUSE))
		return false;
	*arena = arena_holding(w, p - 16);
	return !(size & NON_MAIN_ARENA) == (*arena == 0);
}

/* The entries a structure at p holds if it is a tcache, -1 if it cannot be
 * one: no count above mp_'s tcache_count, every head chunk-aligned, a head
 * exactly where the count is not 0 (tcache_get leaves NULL behind the last
 * entry). */
static int64_t tcache_contents(struct walk *w, uint64_t p)
{
	uint16_t counts[TCACHE_BINS];
	uint64_t entries[TCACHE_BINS], limit = w->mp_read ? w->tcache_count : w->lay->tcache_counts == 1 ? 0xff : 0xffff;
	int64_t total = 0;
	if (!read_tcache(w, p, counts, entries))
		return -1;
	for (int i = 0; i < TCACHE_BINS; i++) {
		if (counts[i] > limit || (entries[i] & 15) || !counts[i] != !entries[i])
			return -1;
		total += counts[i];
	}
	return total;
}

/* Searching [lo, hi) below a thread pointer for the tcache pointer, without
 * libc's symbols: the words that point at a tcache by structure. Another
 * module's TLS could point at a zeroed block of the same size, which reads
 * as an empty tcache: a tcache that holds entries goes first, then the
 * lowest (libc's block lies below the program's and those of the libraries
 * loaded before it). */
static uint64_t tcache_in_tls(struct walk *w, uint64_t lo, uint64_t hi)
{
	uint64_t best = 0, buf[PAGE / 8];
	bool best_holds = false;
	/* Page by page: the area is an upper bound, and may begin below the
	 * mapping that holds the thread's TLS. */
	for (uint64_t at = lo & ~7ull, next; at < hi && !best_holds; at = next) {
		uint64_t in_page = PAGE - (at & (PAGE - 1));
		next = hi - at > in_page ? at + in_page : hi;
		size_t len = (size_t)(next - at);
		if (!rd(w, at, buf, len))
			continue;
		for (size_t i = 0; i < len / 8 && !best_holds; i++) {
			uint32_t arena;
			int64_t entries = -1;
			if (buf[i] != best && tcache_chunk(w, buf[i], &arena))
				entries = tcache_contents(w, buf[i]);
			if (entries < 0)
				continue;
			if (!best || entries > 0) {
				best = buf[i];
				best_holds = entries > 0;
			}
		}
	}
	return best;
}

/* Where a thread's tcache pointer is: with libc's symbols, at a known place
 * in libc's TLS block, itself a known distance below the thread pointer;
 * without, somewhere in the static TLS area below it. */
struct tls_plan {
	bool exact;
	uint64_t libc_offset, tcache_offset; /* exact: the block's distance, the pointer's place in it */
	uint64_t area;                       /* else: the bytes below the thread pointer searched */
};

/* A thread's tcache: the word libc's symbols name, or a search of the static
 * TLS area validated by structure. 0 when the thread has none (it never
 * called malloc). */
static uint64_t thread_tcache(struct walk *w, const struct tls_plan *plan, const struct strand_thread_info *th)
{
	uint64_t tp = th->fs_base, at = tp - plan->libc_offset + plan->tcache_offset, p;
	uint32_t arena;
	if (!plan->exact)
		return tcache_in_tls(w, tp - plan->area, tp);
	if (!rd(w, at, &p, 8) || !p)
		return 0;
	if (tcache_chunk(w, p, &arena))
		return p;
	problem(w, at, "thread LWP %d: its tcache pointer at 0x%llx holds 0x%llx, which is not a 0x%x-byte chunk "
		       "in use", th->tid, (unsigned long long)at, (unsigned long long)p, (unsigned)tcache_chunk_size(w->lay));
	return 0;
}

static int by_value(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Every thread's tcache, before the arenas are reported: each arena then
 * says how many caches it holds and what their counts add up to. */
static void find_tcaches(struct walk *w)
{
	struct tls_plan plan = { false, 0, 0, 0 };
	plan.exact = tcache_symbol(w, &plan.tcache_offset) && (plan.libc_offset = libc_tls_offset(w));
	plan.area = (api->static_tls_size(w->h) + 63) & ~63ull;
	if (!plan.area || plan.area > MAX_STATIC_TLS)
		plan.area = PAGE;
	size_t n = api->thread_count(w->h);
	w->tcaches = calloc(n ? n : 1, sizeof(*w->tcaches));
	if (!w->tcaches)
		return;
	for (size_t i = 0; i < n; i++) {
		struct strand_thread_info th;
		uint64_t tc;
		if (api->thread(w->h, i, &th) && th.fs_base > MAX_STATIC_TLS && (tc = thread_tcache(w, &plan, &th)))
			w->tcaches[w->ntcaches++] = tc;
	}
	qsort(w->tcaches, w->ntcaches, sizeof(*w->tcaches), by_value);
	size_t kept = 0;
	for (size_t i = 0; i < w->ntcaches; i++) {
		uint16_t counts[TCACHE_BINS];
		uint64_t entries[TCACHE_BINS];
		uint32_t arena;
		if ((kept && w->tcaches[kept - 1] == w->tcaches[i]) || !read_tcache(w, w->tcaches[i], counts, entries) ||
		    !tcache_chunk(w, w->tcaches[i], &arena))
			continue;
		w->tcaches[kept++] = w->tcaches[i];
		w->arenas[arena].caches++;
		for (int b = 0; b < TCACHE_BINS; b++)
			w->arenas[arena].cached += counts[b];
	}
	w->ntcaches = kept;
}

static void walk_tcaches(struct walk *w)
{
	for (size_t i = 0; i < w->ntcaches; i++)
		walk_tcache(w, w->tcaches[i]);
}

static uint64_t fastbin_next(struct walk *w, uint64_t chunk, uint64_t unused)
{
	(void)unused;
	uint64_t stored;
	if ((chunk & 15) || !rd(w, chunk + 16, &stored, 8))
		return 0;
	return reveal(w, chunk + 16, stored);
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
	if (!rd(w, arena + w->lay->ar_fastbins, heads, sizeof(heads)))
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
		uint64_t head = arena + w->lay->ar_bins + 16 * (uint64_t)(i - 1) - 16, first;
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

/* ---- arenas ---- */

/* An arena, with what glibc counts (system_mem) beside what the walk goes
 * through (walked, when measured): they must be equal. */
static void report_arena(struct walk *w, uint32_t index, const char *kind, uint32_t heaps, bool measured,
			 uint64_t walked)
{
	const struct arena_info *ai = &w->arenas[index];
	uint64_t top_size = chunk_size_at(w, ai->top), system_mem = 0;
	uint32_t flags = 0;
	rd(w, ai->addr + w->lay->ar_system_mem, &system_mem, 8);
	rd(w, ai->addr + AR_FLAGS, &flags, 4);
	struct strand_arena a = { .index = index, .address = ai->addr, .kind = kind, .top = ai->top,
				  .top_size = top_size, .system_mem = system_mem, .heaps = heaps,
				  .contiguous = !(flags & NONCONTIGUOUS), .measured = measured, .walked_mem = walked,
				  .caches = ai->caches, .cached_blocks = ai->cached };
	w->sink->arena(w->sink->ctx, &a);
	/* Its top and bins point at chunk headers, the last word of the block
	 * before each: not a root, or a lost block would seem possibly lost. */
	w->sink->metadata(w->sink->ctx, ai->addr, ai->addr + w->lay->ar_size);
	if (measured && walked != system_mem)
		problem(w, ai->addr, "%s arena at 0x%llx: system_mem says 0x%llx bytes, its heap%s hold%s 0x%llx",
			kind, (unsigned long long)ai->addr, (unsigned long long)system_mem, heaps == 1 ? "" : "s",
			heaps == 1 ? "s" : "", (unsigned long long)walked);
}

/* A chunk whose mapping starts at page c: prev_size 0 and a size of whole
 * pages with IS_MMAPPED alone, ending by limit. memalign may have moved the
 * header on (see memalign_offset); *total is the whole mapping's size. */
static bool mmapped_chunk_at(struct walk *w, uint64_t c, uint64_t limit, uint64_t *total)
{
	uint64_t hdr[2];
	if ((c & (PAGE - 1)) || !rd(w, c, hdr, sizeof(hdr)))
		return false;
	*total = hdr[1] & ~SIZE_BITS;
	return hdr[0] == 0 && (hdr[1] & SIZE_BITS) == IS_MMAPPED && *total >= PAGE && !(*total & (PAGE - 1)) &&
	       c < limit && *total <= limit - c;
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
 * Returns the number of regions and their bytes in *bytes; walks them when
 * walk is set. */
static uint32_t main_regions(struct walk *w, uint64_t sbrk_base, uint64_t top, bool walk, uint64_t *bytes)
{
	uint32_t regions = 0;
	size_t n = api->mapping_count(w->h);
	*bytes = 0;
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
				*bytes += end - c;
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
 * from where its system_mem says) to end, the end of top. */
static void walk_sbrk_area(struct walk *w, uint64_t top, uint64_t end, uint64_t system_mem)
{
	uint64_t first = 0, last, start = w->sbrk_base;
	mapping_of(w, top, &first, &last);
	if (!start) /* the heap's first byte cannot lie before its mapping's */
		start = end && system_mem <= end - first ? end - system_mem : first;
	start = (start + 15) & ~15ull;
	if (!first || start < first || start > top) {
		problem(w, w->main_arena, "main arena: heap bounds make no sense (top 0x%llx, heap start 0x%llx)",
			(unsigned long long)top, (unsigned long long)start);
		return;
	}
	walk_chunks(w, 0, start, end ? end : top, top);
}

static void walk_main_arena(struct walk *w)
{
	const struct arena_info *ai = &w->arenas[0];
	uint64_t top = ai->top, system_mem, sbrk_base = w->sbrk_base, bytes;
	uint32_t flags = 0;
	if (!ai->readable || !rd(w, w->main_arena + w->lay->ar_system_mem, &system_mem, 8) ||
	    !rd(w, w->main_arena + AR_FLAGS, &flags, 4)) {
		problem(w, w->main_arena, "main arena at 0x%llx is unreadable", (unsigned long long)w->main_arena);
		return;
	}
	if (top == w->main_arena + w->lay->ar_bins - 16) {
		report_arena(w, 0, "main", 0, false, 0); /* initial_top: nothing allocated yet */
	} else if (flags & NONCONTIGUOUS) {
		uint32_t regions = main_regions(w, sbrk_base, top, false, &bytes);
		report_arena(w, 0, "main", regions, sbrk_base != 0, bytes);
		if (!sbrk_base)
			problem(w, w->main_arena, "main arena is non-contiguous and mp_.sbrk_base is unknown: "
						  "its sbrk area is not walked");
		main_regions(w, sbrk_base, top, true, &bytes);
	} else {
		uint64_t end = top_end(w, top);
		report_arena(w, 0, "main", 1, sbrk_base && end > sbrk_base, end - sbrk_base);
		walk_sbrk_area(w, top, end, system_mem);
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
 * page-aligned and within the heap's reservation. 0, reported, when it
 * cannot be. */
static uint64_t old_heap_end(struct walk *w, uint64_t h)
{
	uint64_t size = 0;
	rd(w, h + 16, &size, 8);
	if (!size || (size & 0xfff) || size > HEAP_MAX_SIZE) {
		problem(w, h, "heap_info at 0x%llx has an impossible size 0x%llx", (unsigned long long)h,
			(unsigned long long)size);
		return 0;
	}
	return h + size;
}

/* A non-main arena: its heaps, oldest first. What they span, heap_info to
 * the end of each, is what glibc counts in system_mem. */
static void walk_thread_arena(struct walk *w, uint32_t index)
{
	const struct arena_info *ai = &w->arenas[index];
	uint64_t *ends = calloc(ai->nheaps ? ai->nheaps : 1, sizeof(*ends)), walked = 0;
	if (!ends)
		return;
	bool measured = true;
	for (uint32_t i = 0; i < ai->nheaps; i++) {
		uint64_t h = ai->heaps[i];
		ends[i] = ai->top >= h && ai->top < h + HEAP_MAX_SIZE ? top_end(w, ai->top) : old_heap_end(w, h);
		measured &= ends[i] > h;
		walked += ends[i] > h ? ends[i] - h : 0;
	}
	report_arena(w, index, "thread", ai->nheaps, measured, walked);
	/* The arena structure sits in its first heap, after heap_info: that
	 * distance is sizeof(heap_info), 0x30 since 2.35 and 0x20 before. */
	uint64_t first_heap = ai->addr & ~(HEAP_MAX_SIZE - 1), info_size = ai->addr - first_heap;
	for (uint32_t i = ai->nheaps; i-- > 0;) {
		uint64_t h = ai->heaps[i];
		uint64_t start = h == first_heap ? ai->addr + w->lay->ar_size : h + info_size;
		start = ((start + 16 + 15) & ~15ull) - 16;
		bool has_top = ai->top >= h && ai->top < h + HEAP_MAX_SIZE;
		walk_chunks(w, index, start, ends[i] ? ends[i] : has_top ? ai->top : h + HEAP_MAX_SIZE,
			    has_top ? ai->top : 0);
		note_range(w, h, h + HEAP_MAX_SIZE); /* with the reservation beyond its end */
	}
	free(ends);
	walk_fastbins(w, ai->addr, index);
	walk_bins(w, ai->addr, index);
}

/* The ring of arenas from main_arena through next, back to main_arena, and
 * each thread arena's heaps: known before any is walked, so that thread
 * caches can be placed in them. */
static void add_thread_arena(struct walk *w, uint64_t arena)
{
	uint64_t heaps[MAX_HEAPS];
	struct arena_info *ai = &w->arenas[w->narenas++];
	ai->addr = arena;
	ai->readable = rd(w, arena + w->lay->ar_top, &ai->top, 8);
	ai->nheaps = thread_heaps(w, arena, ai->top, heaps);
	ai->heaps = malloc(ai->nheaps * sizeof(*heaps) + 1);
	if (ai->heaps)
		memcpy(ai->heaps, heaps, ai->nheaps * sizeof(*heaps));
	else
		ai->nheaps = 0;
}

static bool known_arena(const struct walk *w, uint64_t a)
{
	for (uint32_t i = 0; i < w->narenas; i++)
		if (w->arenas[i].addr == a)
			return true;
	return false;
}

/* Thread arenas that the ring missed (a damaged link): an arena's first heap
 * starts a 64 MiB-aligned writable mapping with a heap_info whose prev is
 * NULL and whose ar_ptr points just past it (sizeof(heap_info): 0x20, 0x30
 * from 2.35), at an arena. Each is walked, and reported. At most
 * HEAP_PROBES places are read: a damaged core's mapping can claim 2^56
 * bytes. */
static void arenas_off_the_ring(struct walk *w)
{
	size_t n = api->mapping_count(w->h), probes = 0;
	for (size_t i = 0; i < n && w->narenas < MAX_ARENAS && probes < HEAP_PROBES; i++) {
		struct strand_mapping_info m;
		if (!api->mapping(w->h, i, &m) || m.path || (m.perms & 3) != 3)
			continue;
		for (uint64_t h = (m.start + HEAP_MAX_SIZE - 1) & ~(HEAP_MAX_SIZE - 1);
		     h >= m.start && h < m.end && w->narenas < MAX_ARENAS && probes++ < HEAP_PROBES; h += HEAP_MAX_SIZE) {
			uint64_t info[2]; /* ar_ptr, prev */
			if (!rd(w, h, info, sizeof(info)) || info[1] || (info[0] != h + 0x20 && info[0] != h + 0x30) ||
			    known_arena(w, info[0]) || arena_mismatch(w, info[0], false))
				continue;
			problem(w, info[0], "thread arena 0x%llx (named by the heap_info at 0x%llx) is not on the ring of "
					    "arenas from main_arena", (unsigned long long)info[0], (unsigned long long)h);
			add_thread_arena(w, info[0]);
		}
	}
}

static void collect_arenas(struct walk *w)
{
	struct arena_info *main = &w->arenas[0];
	main->addr = w->main_arena;
	main->readable = rd(w, w->main_arena + w->lay->ar_top, &main->top, 8);
	w->narenas = 1;
	uint64_t a = w->main_arena, next;
	while (rd(w, a + w->lay->ar_next, &next, 8) && next != w->main_arena) {
		bool met = false;
		for (uint32_t i = 1; i < w->narenas; i++)
			met |= w->arenas[i].addr == next;
		const char *why = w->narenas >= MAX_ARENAS ? "is one arena too many"
				  : met			     ? "was met before: the ring never returns to main_arena"
				  : !is_thread_arena(w, next) ? "is not an arena"
							      : NULL;
		if (why) {
			problem(w, a, "arena 0x%llx: its next arena 0x%llx %s", (unsigned long long)a,
				(unsigned long long)next, why);
			break;
		}
		add_thread_arena(w, next);
		a = next;
	}
	arenas_off_the_ring(w);
}

static void walk_arenas(struct walk *w)
{
	walk_main_arena(w);
	for (uint32_t i = 1; i < w->narenas; i++)
		walk_thread_arena(w, i);
}

/* ---- mmapped chunks ---- */

/* memalign on an mmapped chunk moves its header on to an aligned user
 * address and leaves the old one at the mapping's start: the real header's
 * prev_size is its distance from there, and the two sizes add up to the old
 * one. The bytes in between belong to nobody, so they are still zero. An
 * alignment is a power of two, so there are few places to look: for each,
 * the first aligned user address past the old header, or the next one when
 * the gap is too small for a chunk (glibc's _int_memalign). Returns the
 * distance, 0 when the chunk at c is the real one. */
static uint64_t memalign_offset(struct walk *w, uint64_t c, uint64_t total)
{
	uint64_t first;
	if (!rd(w, c + 16, &first, 8) || first)
		return 0;
	for (uint64_t align = 2 * 16; align < total; align *= 2) {
		uint64_t user = c + 16, hdr[2];
		if (!(user & (align - 1)))
			continue;
		uint64_t brk = ((user + align - 1) & ~(align - 1)) - 16;
		if (brk - c < MINSIZE)
			brk += align;
		uint64_t off = brk - c;
		if (off + MINSIZE > total)
			break;
		if (rd(w, brk, hdr, sizeof(hdr)) && hdr[0] == off && (hdr[1] & SIZE_BITS) == IS_MMAPPED &&
		    off + (hdr[1] & ~SIZE_BITS) == total)
			return off;
	}
	return 0;
}

static int by_start(const void *x, const void *y)
{
	const struct range *a = x, *b = y;
	return (a->start > b->start) - (a->start < b->start);
}

/* Sorted ranges merged where they overlap or touch. */
static void normalize(struct ranges *r)
{
	if (!r->n)
		return;
	qsort(r->v, r->n, sizeof(*r->v), by_start);
	size_t k = 0;
	for (size_t i = 1; i < r->n; i++) {
		if (r->v[i].start <= r->v[k].end) {
			if (r->v[i].end > r->v[k].end)
				r->v[k].end = r->v[i].end;
		} else {
			r->v[++k] = r->v[i];
		}
	}
	r->n = k + 1;
}

/* Among the first n of sorted, disjoint ranges: the end of the one holding c,
 * or 0 with *limit lowered to where the next one begins. */
static uint64_t taken(const struct ranges *r, size_t n, uint64_t c, uint64_t *limit)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid].end <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && r->v[lo].start <= c)
		return r->v[lo].end;
	if (lo < n && r->v[lo].start < *limit)
		*limit = r->v[lo].start;
	return 0;
}

/* The chunk whose mapping starts at page c, if one does and fits before end,
 * outside the arenas' memory and before the first nfound chunks found: it is
 * reported and its end returned. 0 when there is none. */
static uint64_t take_mmapped(struct walk *w, uint64_t c, uint64_t end, size_t nfound)
{
	uint64_t total, limit = end;
	if (taken(&w->arena_mem, w->arena_mem.n, c, &limit) || taken(&w->mmapped, nfound, c, &limit) ||
	    !mmapped_chunk_at(w, c, limit, &total))
		return 0;
	uint64_t off = memalign_offset(w, c, total);
	emit(w, c + off, total - off - 16, w->narenas, STRAND_USED, true);
	add_range(&w->mmapped, c, c + total);
	w->mmapped_bytes += total;
	return c + total;
}

/* Whether glibc's counters say chunks are still to be found (always, when
 * mp_ could not be read). */
static bool more_mmapped(const struct walk *w)
{
	return !w->mp_read || w->mmapped.n < w->n_mmaps || w->mmapped_bytes < w->mmapped_mem;
}

/* Anonymous private mappings in address order, with the end of the run of
 * adjacent ones each belongs to: a chunk split by mprotect spans several,
 * whatever their permissions. */
struct anon {
	uint64_t start, end, run_end;
	unsigned perms;
};

static int anon_by_start(const void *x, const void *y)
{
	const struct anon *a = x, *b = y;
	return (a->start > b->start) - (a->start < b->start);
}

static size_t anon_mappings(struct walk *w, struct anon **out)
{
	size_t n = api->mapping_count(w->h), k = 0;
	struct anon *v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++) {
		struct strand_mapping_info m;
		if (api->mapping(w->h, i, &m) && !m.path && !(m.perms & 8) && m.end > m.start)
			v[k++] = (struct anon){ m.start, m.end, m.end, m.perms };
	}
	if (v)
		qsort(v, k, sizeof(*v), anon_by_start);
	for (size_t i = k; i-- > 0;)
		if (i + 1 < k && v[i + 1].start == v[i].end)
			v[i].run_end = v[i + 1].run_end;
	*out = v;
	return k;
}

/* mmapped chunks wherever their mappings are. Each starts a mapping glibc
 * made, at a page, which the kernel may have merged with neighbouring
 * anonymous mappings (other chunks, a pymalloc arena, anything) or split
 * (mprotect on part of a block). First the cheap places: the start of every
 * mapping and the chunks right after each chunk found. Then, only while
 * mp_'s counters say chunks are missing, every other page of anonymous
 * memory outside the arenas' heaps, one header read each, until the counts
 * are met or SEARCH_PAGES pages were read (reservations of terabytes exist).
 * What is found is compared with those counters. */
static void walk_mmapped(struct walk *w)
{
	struct anon *v;
	size_t n = anon_mappings(w, &v);
	normalize(&w->arena_mem);
	uint64_t covered = 0, next, searched = 0;
	for (size_t i = 0; v && i < n; i++) {
		if (!(v[i].perms & 1) || v[i].start < covered)
			continue;
		uint64_t c = v[i].start, end = v[i].run_end;
		while (c < end && (next = take_mmapped(w, c, end, w->mmapped.n)))
			c = covered = next;
	}
	size_t first_pass = w->mmapped.n;
	covered = 0;
	for (size_t i = 0; v && i < n && more_mmapped(w) && searched < SEARCH_PAGES; i++) {
		if (!(v[i].perms & 1))
			continue;
		uint64_t c = v[i].start > covered ? v[i].start : covered;
		for (; c < v[i].end && more_mmapped(w) && searched < SEARCH_PAGES; searched++) {
			uint64_t limit = UINT64_MAX;
			next = take_mmapped(w, c, v[i].run_end, first_pass);
			if (!next)
				next = taken(&w->arena_mem, w->arena_mem.n, c, &limit);
			if (!next)
				next = taken(&w->mmapped, first_pass, c, &limit);
			c = covered = next ? (next + PAGE - 1) & ~(PAGE - 1) : c + PAGE;
		}
	}
	free(v);
	struct strand_arena a = { .index = w->narenas, .kind = "mmap",
				  .system_mem = w->mp_read ? w->mmapped_mem : w->mmapped_bytes,
				  .heaps = (uint32_t)w->mmapped.n, .measured = true, .walked_mem = w->mmapped_bytes,
				  .counts_blocks = w->mp_read, .counted_blocks = w->n_mmaps };
	w->sink->arena(w->sink->ctx, &a);
	if (w->mp_read && (w->mmapped.n != w->n_mmaps || w->mmapped_bytes != w->mmapped_mem))
		problem(w, w->mp, "mp_ at 0x%llx counts %u mmapped chunks of 0x%llx bytes (n_mmaps, mmapped_mem); "
				  "the walk found %zu chunks of 0x%llx bytes%s", (unsigned long long)w->mp, w->n_mmaps,
			(unsigned long long)w->mmapped_mem, w->mmapped.n, (unsigned long long)w->mmapped_bytes,
			searched < SEARCH_PAGES ? "" : " (the search stopped after 16 GiB of anonymous memory)");
}

/* ---- the plugin ---- */

static void free_walk(struct walk *w)
{
	for (uint32_t i = 0; i < w->narenas; i++)
		free(w->arenas[i].heaps);
	free(w->arena_mem.v);
	free(w->mmapped.v);
	free(w->tcaches);
	free(w->win);
	free(w);
}

static void keep_discovery(void *ctx, const char *how)
{
	snprintf(ctx, 512, "%s", how);
}

/* How main_arena is found and which layout it fits, as the walk would say:
 * false when none is found. */
static bool arena_discovery(struct strand_host *h, char how[512])
{
	struct walk *w = calloc(1, sizeof(*w));
	struct strand_heap_sink sink = { .ctx = how, .discovery = keep_discovery };
	bool found = false;
	if (!w)
		return false;
	w->h = h;
	w->sink = &sink;
	w->quiet = true;
	if ((w->win = malloc(WINDOW))) {
		find_libc(w);
		found = find_main_arena(w);
	}
	free_walk(w);
	return found;
}

/* glibc is in use when a mapping is libc's (by its file name, libc.so.6 or
 * libc-2.NN.so: the module list needs the ELF header, which some cores
 * lack). A core whose mappings name no file at all may still hold an arena
 * that the walk finds in memory. The release goes to `info plugins`. */
static int glibc_detect(struct strand_host *h)
{
	size_t n = api->mapping_count(h), named = 0;
	bool libc = false;
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (api->mapping(h, i, &m) && m.path) {
			named++;
			libc |= is_libc_mapping(&m);
		}
	}
	struct strand_module_info mi;
	if (!libc && !api->find_module(h, "libc.so.6", &mi)) {
		if (named)
			return 0;
		api->evidence(h, "no mapping names its file (a core without file notes): libc's arena is searched "
				 "for in memory");
		return 30;
	}
	struct release r;
	char how[512];
	find_release(h, &r);
	if (r.minor)
		api->evidence(h, "libc is mapped; glibc 2.%u by %s (layout of %s)", r.minor, r.why,
			      layout_of(r.minor) ? "that release" : "no release strand knows: the walk tries each");
	else if (arena_discovery(h, how))
		api->evidence(h, "libc is mapped; main_arena found by %s", how);
	else
		api->evidence(h, "libc is mapped; its release is unknown (%s), and no arena in its memory fits the "
				 "layout of any glibc from 2.17 to 2.41", r.why);
	return 90;
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
		free_walk(w);
		return -1;
	}
	find_libc(w); /* without it, symbols alone can still name main_arena */
	if (!find_main_arena(w)) {
		sink->problem(sink->ctx, 0, "glibc's main_arena not found: no arena in the target's memory fits the "
					    "layout of any glibc from 2.17 to 2.41 (and no libc symbols name one that does)");
	} else {
		read_mp(w);
		collect_arenas(w);
		find_tcaches(w);
		walk_arenas(w);
		walk_mmapped(w);
		walk_tcaches(w);
		rc = 0;
	}
	free_walk(w);
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
