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
#define MP_MMAPPED_MEM 0x50
#define MP_SBRK_BASE 0x60
#define MP_TCACHE_COUNT 0x78
#define MP_SIZE 0x88
/* tcache_perthread_struct */
#define TCACHE_BINS 64
#define TCACHE_CHUNK 0x290
#define TCACHE_MAX_COUNT 0xffff /* counts are uint16_t */
/* struct r_debug, struct link_map: the public, stable part */
#define R_MAP 8
#define L_NEXT 24

#define MAX_ARENAS 1024
#define MAX_HEAPS 4096
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
	uint64_t bias, low, high;
	uint64_t tls_size;     /* its PT_TLS block, 0 if none */
};

struct walk {
	struct strand_host *h;
	const struct strand_heap_sink *sink;
	struct libc_image libc;
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
		close(fd);
		for (size_t k = 0; k < eh.e_phnum; k++) {
			if (ph[k].p_type != PT_LOAD || !(ph[k].p_flags & PF_X) || (ph[k].p_offset & ~(PAGE - 1)) != m.offset)
				continue;
			w->libc = (struct libc_image){ m.path, m.start - (ph[k].p_vaddr & ~(PAGE - 1)), 0, 0, 0 };
			libc_layout(&w->libc, ph, eh.e_phnum);
			return;
		}
	}
	struct strand_module_info mi;
	if (!api->find_module(w->h, "libc.so", &mi))
		return;
	w->libc = (struct libc_image){ mi.path, mi.bias, mi.low, mi.high, 0 };
	int fd = open_elf(mi.path, &eh, ph);
	if (fd >= 0) {
		close(fd);
		libc_layout(&w->libc, ph, eh.e_phnum);
	}
}

/* A symbol of libc's (its symbol table, or its dynamic symbols) at an address
 * inside libc as loaded, when that is known: a copy of the file mapped
 * elsewhere has the same symbols at other addresses. */
static bool libc_symbol(struct walk *w, const char *name, uint64_t *addr)
{
	uint64_t size;
	return api->lookup_symbol(w->h, name, "libc.so", addr, &size) &&
	       (!w->libc.high || (*addr >= w->libc.low && *addr < w->libc.high));
}

/* ---- finding main_arena ---- */

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

static bool arena_by_structure(struct walk *w, uint64_t *arena, uint64_t *mp)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHDRS];
	int fd = w->libc.path ? open_elf(w->libc.path, &eh, ph) : -1;
	if (fd < 0)
		return false;
	bool found = false;
	*mp = 0;
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
					*arena = vaddr + w->libc.bias;
					found = true;
				}
				if (!*mp && k + 16 <= words && is_mp_image(data + k))
					*mp = vaddr + w->libc.bias;
			}
		}
		free(data);
	}
	close(fd);
	return found;
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

/* The counters glibc keeps in mp_: mmapped chunks and their bytes, where the
 * sbrk heap starts, the tcache bins' capacity. */
static void read_mp(struct walk *w)
{
	uint8_t mp[MP_SIZE];
	if (!w->mp || !rd(w, w->mp, mp, sizeof(mp)))
		return;
	memcpy(&w->n_mmaps, mp + MP_N_MMAPS, 4);
	memcpy(&w->mmapped_mem, mp + MP_MMAPPED_MEM, 8);
	memcpy(&w->sbrk_base, mp + MP_SBRK_BASE, 8);
	memcpy(&w->tcache_count, mp + MP_TCACHE_COUNT, 8);
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
	uint64_t size, next_size;
	if (p < 16 || (p & 15) || !rd(w, p - 8, &size, 8) || (size & ~SIZE_BITS) != TCACHE_CHUNK ||
	    (size & IS_MMAPPED) || !rd(w, p - 16 + TCACHE_CHUNK + 8, &next_size, 8) || !(next_size & PREV_INUSE))
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
	uint64_t entries[TCACHE_BINS], limit = w->mp_read ? w->tcache_count : TCACHE_MAX_COUNT;
	int64_t total = 0;
	if (!rd(w, p, counts, sizeof(counts)) || !rd(w, p + sizeof(counts), entries, sizeof(entries)))
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
		       "in use", th->tid, (unsigned long long)at, (unsigned long long)p, TCACHE_CHUNK);
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
		uint32_t arena;
		if ((kept && w->tcaches[kept - 1] == w->tcaches[i]) || !rd(w, w->tcaches[i], counts, sizeof(counts)) ||
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

/* ---- arenas ---- */

/* An arena, with what glibc counts (system_mem) beside what the walk goes
 * through (walked, when measured): they must be equal. */
static void report_arena(struct walk *w, uint32_t index, const char *kind, uint32_t heaps, bool measured,
			 uint64_t walked)
{
	const struct arena_info *ai = &w->arenas[index];
	uint64_t top_size = chunk_size_at(w, ai->top), system_mem = 0;
	uint32_t flags = 0;
	rd(w, ai->addr + AR_SYSTEM_MEM, &system_mem, 8);
	rd(w, ai->addr + AR_FLAGS, &flags, 4);
	struct strand_arena a = { .index = index, .address = ai->addr, .kind = kind, .top = ai->top,
				  .top_size = top_size, .system_mem = system_mem, .heaps = heaps,
				  .contiguous = !(flags & NONCONTIGUOUS), .measured = measured, .walked_mem = walked,
				  .caches = ai->caches, .cached_blocks = ai->cached };
	w->sink->arena(w->sink->ctx, &a);
	/* Its top and bins point at chunk headers, the last word of the block
	 * before each: not a root, or a lost block would seem possibly lost. */
	w->sink->metadata(w->sink->ctx, ai->addr, ai->addr + AR_SIZE);
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
	if (!ai->readable || !rd(w, w->main_arena + AR_SYSTEM_MEM, &system_mem, 8) ||
	    !rd(w, w->main_arena + AR_FLAGS, &flags, 4)) {
		problem(w, w->main_arena, "main arena at 0x%llx is unreadable", (unsigned long long)w->main_arena);
		return;
	}
	if (top == w->main_arena + AR_BINS - 16) {
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
		uint64_t start = h == first_heap ? ai->addr + AR_SIZE : h + info_size;
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

/* Whether next can be the next arena of the ring: a readable structure in the
 * first heap of its own, whose heap_info names it. */
static bool is_thread_arena(struct walk *w, uint64_t next)
{
	uint64_t ar_ptr, top;
	return !(next & 7) && rd(w, next & ~(HEAP_MAX_SIZE - 1), &ar_ptr, 8) && ar_ptr == next &&
	       rd(w, next + AR_TOP, &top, 8);
}

/* The ring of arenas from main_arena through next, back to main_arena, and
 * each thread arena's heaps: known before any is walked, so that thread
 * caches can be placed in them. */
static void collect_arenas(struct walk *w)
{
	struct arena_info *main = &w->arenas[0];
	main->addr = w->main_arena;
	main->readable = rd(w, w->main_arena + AR_TOP, &main->top, 8);
	w->narenas = 1;
	uint64_t a = w->main_arena, next, heaps[MAX_HEAPS];
	while (rd(w, a + AR_NEXT, &next, 8) && next != w->main_arena) {
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
		struct arena_info *ai = &w->arenas[w->narenas++];
		ai->addr = next;
		ai->readable = rd(w, next + AR_TOP, &ai->top, 8);
		ai->nheaps = thread_heaps(w, next, ai->top, heaps);
		ai->heaps = malloc(ai->nheaps * sizeof(*heaps) + 1);
		if (ai->heaps)
			memcpy(ai->heaps, heaps, ai->nheaps * sizeof(*heaps));
		else
			ai->nheaps = 0;
		a = next;
	}
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

static int glibc_detect(struct strand_host *h)
{
	struct strand_module_info libc;
	return api->find_module(h, "libc.so.6", &libc) ? 90 : 0;
}

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
		sink->problem(sink->ctx, 0, "glibc's main_arena not found (no libc symbols and no matching structure)");
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
