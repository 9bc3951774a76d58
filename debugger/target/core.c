#include "core.h"

#include <elf.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/progress.h"
#include "base/util.h"

_Static_assert(sizeof(elf_gregset_t) == sizeof(struct user_regs_struct), "prstatus registers are user_regs");

/* strand's own note: the name of every thread, which the kernel's notes lack.
 * Name "STRAND", type "STRN", content: repeated { int32 tid; char name[16]; }.
 * Its type is none of the kernel's: readers that go by the type alone, not the
 * owner's name (Delve), would take a type 1 note for a truncated NT_PRSTATUS and
 * give up on the whole core. strand wrote type 1 before; it still reads it. */
#define NOTE_STRAND_NAME "STRAND"
#define NT_STRAND_THREAD_NAMES 0x5354524e
#define NT_STRAND_THREAD_NAMES_OLD 1
struct strand_thread_name {
	int32_t tid;
	char name[16];
};

struct segment {
	uint64_t vaddr, memsz, filesz, offset;
	uint32_t flags; /* PF_R, PF_W, PF_X */
};

/* x86_64 user mappings end below 2^57 (5-level paging); only the vsyscall
 * page lies above, in the kernel's half. */
#define USER_SPACE_END (1ull << 57)
#define VSYSCALL_START 0xffffffffff600000ull

enum file_state { FILE_UNCHECKED, FILE_CHECKING, FILE_USABLE, FILE_UNUSABLE };

/* A file NT_FILE names, shared by all its mappings: looked for, checked and
 * warned about once. */
struct source_file {
	char *path; /* as the core names it */
	enum file_state state;
	int fd;
	char *found; /* where the usable copy is */
};

/* A file mapping from NT_FILE: where pages the core omits can be read from. */
struct mapped_file {
	uint64_t start, end, offset;
	char *path;
	size_t source; /* index in core.sources */
};

struct core {
	int fd;
	Elf *elf;
	uint64_t file_size;
	struct segment *segs; /* sorted by vaddr */
	size_t nsegs;
	struct mapped_file *files;
	size_t nfiles;
	struct source_file *sources;
	size_t nsources, sources_cap;
	char *sysroot;
	char *program; /* the program named on the command line: a copy of the core's */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

static void core_warn(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void core_warn(struct core *c, const char *fmt, ...)
{
	if (!c->warn)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	c->warn(c->warn_arg, msg);
	free(msg);
}

static const struct segment *segment_at(const struct core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct segment *s = &c->segs[mid];
		if (addr < s->vaddr)
			hi = mid;
		else if (addr >= s->vaddr + s->memsz)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

/* The first segment that starts after addr, or NULL. */
static const struct segment *segment_after(const struct core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->segs[mid].vaddr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nsegs ? &c->segs[lo] : NULL;
}

static size_t read_core_bytes(struct core *c, const struct segment *s, uint64_t off, void *buf, size_t len)
{
	uint64_t pos = s->offset + off;
	if (pos >= c->file_size)
		return 0; /* truncated away */
	if (len > s->filesz - off)
		len = s->filesz - off;
	if (len > c->file_size - pos)
		len = c->file_size - pos;
	ssize_t n = pread(c->fd, buf, len, (off_t)pos);
	return n > 0 ? (size_t)n : 0;
}

size_t core_image_build_id(struct target *t, uint64_t base, uint8_t *id, size_t max)
{
	Elf64_Ehdr eh;
	if (!target_read_all(t, base, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		return 0;
	Elf64_Phdr ph[64];
	if (!target_read_all(t, base + eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr)))
		return 0;
	/* Notes are addressed by vaddr; the bias is base - vaddr of the first PT_LOAD. */
	uint64_t bias = base;
	for (size_t i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			bias = base - (ph[i].p_vaddr & ~(uint64_t)0xfff);
			break;
		}
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096)
			continue;
		uint8_t notes[4096];
		size_t len = ph[i].p_filesz;
		if (!target_read_all(t, bias + ph[i].p_vaddr, notes, len))
			continue;
		for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= len;) {
			Elf64_Nhdr nh;
			memcpy(&nh, notes + off, sizeof(nh));
			size_t name_off = off + sizeof(nh), desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
			size_t next = desc_off + ((nh.n_descsz + 3) & ~3u);
			if (next > len)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(notes + name_off, "GNU", 4) &&
			    nh.n_descsz <= max) {
				memcpy(id, notes + desc_off, nh.n_descsz);
				return nh.n_descsz;
			}
			off = next;
		}
	}
	return 0;
}

/* Whether every PT_LOAD's bytes lie inside the file: false for a separate
 * debug file, which keeps the program headers but not the code and data. */
static bool holds_loaded_bytes(Elf *elf, uint64_t file_size)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > file_size)
			return false;
	}
	return true;
}

static size_t elf_build_id(Elf *elf, uint8_t *id, size_t max)
{
	const void *p;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &p);
	if (n <= 0 || (size_t)n > max)
		return 0;
	memcpy(id, p, (size_t)n);
	return (size_t)n;
}

static size_t file_build_id(int fd, uint8_t *id, size_t max)
{
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	size_t len = elf ? elf_build_id(elf, id, max) : 0;
	elf_end(elf);
	return len;
}

#ifndef SHT_RELR
#define SHT_RELR 19
#endif

#define FILE_PAGE 4096ull

/* Bytes of [addr, addr + len) that the core itself holds, not filled in from
 * a file: false where it omits any. */
static bool core_own_bytes(struct core *c, uint64_t addr, void *buf, size_t len)
{
	const struct segment *s = segment_at(c, addr);
	return s && addr - s->vaddr + len <= s->filesz && read_core_bytes(c, s, addr - s->vaddr, buf, len) == len;
}

/* A word the dynamic loader writes: for RELOC_RELATIVE the load bias plus
 * addend, for RELOC_RELR the bias plus the file's word; RELOC_OTHER (other
 * relocations, and what the loader writes of its own) unknown. */
enum reloc_kind { RELOC_RELATIVE, RELOC_RELR, RELOC_OTHER };

struct reloc {
	uint64_t vaddr;
	int64_t addend;
	enum reloc_kind kind;
};

struct relocs {
	struct reloc *v;
	size_t n, cap;
};

static void add_reloc(struct relocs *r, uint64_t vaddr, int64_t addend, enum reloc_kind kind)
{
	GROW(r->v, r->cap, r->n + 1);
	r->v[r->n++] = (struct reloc){ vaddr, addend, kind };
}

static int reloc_cmp(const void *a, const void *b)
{
	const struct reloc *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

#define MAX_LOADER_WRITES (1u << 20) /* bytes: more is a damaged file */

static void add_unknown(struct relocs *r, uint64_t start, uint64_t size)
{
	if (size > MAX_LOADER_WRITES)
		return;
	for (uint64_t a = start & ~7ull; a < start + size; a += 8)
		add_reloc(r, a, 0, RELOC_OTHER);
}

/* What glibc's loader writes besides relocations: every d_ptr of .dynamic
 * (it adds the bias in place), the GOT's link map and resolver words, and
 * of ld.so its _rtld_global_ro, filled in before it is protected. */
static void add_loader_writes(Elf *elf, const GElf_Shdr *sh, Elf_Data *d, struct relocs *r)
{
	if (sh->sh_type == SHT_DYNAMIC) {
		add_unknown(r, sh->sh_addr, sh->sh_size);
		GElf_Dyn dyn;
		for (int i = 0; gelf_getdyn(d, i, &dyn); i++)
			if (dyn.d_tag == DT_PLTGOT)
				add_unknown(r, dyn.d_un.d_ptr + 8, 16);
	} else if (sh->sh_type == SHT_DYNSYM) {
		GElf_Sym sym;
		for (int i = 0; gelf_getsym(d, i, &sym); i++) {
			const char *name = elf_strptr(elf, sh->sh_link, sym.st_name);
			if (name && !strcmp(name, "_rtld_global_ro"))
				add_unknown(r, sym.st_value, sym.st_size);
		}
	}
}

/* The words of its image that the dynamic loader writes, from the file's
 * allocated SHT_RELA and SHT_RELR sections and add_loader_writes, sorted. */
static void read_relocs(Elf *elf, struct relocs *r)
{
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) || !(d = elf_getdata(scn, NULL)))
			continue;
		add_loader_writes(elf, &sh, d, r);
		GElf_Rela rela;
		if (sh.sh_type == SHT_RELA) {
			for (int i = 0; gelf_getrela(d, i, &rela); i++)
				add_reloc(r, rela.r_offset, rela.r_addend,
					  GELF_R_TYPE(rela.r_info) == R_X86_64_RELATIVE ? RELOC_RELATIVE : RELOC_OTHER);
		} else if (sh.sh_type == SHT_RELR) {
			/* An address, then bitmaps of the 63 words after it. */
			uint64_t where = 0;
			for (size_t i = 0; i < d->d_size / 8; i++) {
				uint64_t w;
				memcpy(&w, (const uint8_t *)d->d_buf + 8 * i, 8);
				if (!(w & 1)) {
					add_reloc(r, w, 0, RELOC_RELR);
					where = w + 8;
					continue;
				}
				for (uint64_t bits = w >> 1, k = 0; bits; bits >>= 1, k++)
					if (bits & 1)
						add_reloc(r, where + 8 * k, 0, RELOC_RELR);
				where += 63 * 8;
			}
		}
	}
	if (r->n)
		qsort(r->v, r->n, sizeof(*r->v), reloc_cmp);
}

struct tally {
	size_t same, differ;
};

/* The pages of a read-only loadable segment that the core holds, against
 * the file's: nothing changes them after loading. */
static void compare_read_only(struct core *c, int fd, const GElf_Phdr *ph, uint64_t bias, struct tally *pages)
{
	uint8_t mine[FILE_PAGE], theirs[FILE_PAGE];
	uint64_t first = ph->p_vaddr & ~(FILE_PAGE - 1), end = ph->p_vaddr + ph->p_filesz;
	for (uint64_t v = first; v < end; v += FILE_PAGE) {
		size_t len = end - v < FILE_PAGE ? end - v : FILE_PAGE;
		if (!core_own_bytes(c, bias + v, mine, len))
			continue;
		off_t off = (off_t)((ph->p_offset & ~(FILE_PAGE - 1)) + (v - first));
		bool same = pread(fd, theirs, len, off) == (ssize_t)len && !memcmp(mine, theirs, len);
		same ? pages->same++ : pages->differ++;
	}
}

/* The words of the relocated read-only range (PT_GNU_RELRO, inside the
 * writable segment load) that the core holds, against what the loader makes
 * of the file's: its bytes, or the bias plus an addend where it relocates. */
static void compare_relro(struct core *c, int fd, const GElf_Phdr *relro, const GElf_Phdr *load, uint64_t bias,
			  const struct relocs *r, struct tally *words)
{
	uint64_t mine[FILE_PAGE / 8], theirs[FILE_PAGE / 8];
	uint64_t end = relro->p_vaddr + relro->p_memsz, load_end = load->p_vaddr + load->p_filesz;
	if (end > load_end)
		end = load_end;
	for (uint64_t v = relro->p_vaddr & ~7ull; v < end;) {
		uint64_t next = (v | (FILE_PAGE - 1)) + 1;
		size_t len = (size_t)((next < end ? next : end) - v) & ~(size_t)7;
		off_t off = (off_t)(load->p_offset + (v - load->p_vaddr));
		if (len && core_own_bytes(c, bias + v, mine, len) && pread(fd, theirs, len, off) == (ssize_t)len) {
			for (size_t i = 0; i < len / 8; i++) {
				struct reloc key = { .vaddr = v + 8 * i };
				const struct reloc *k = r->n ? bsearch(&key, r->v, r->n, sizeof(*r->v), reloc_cmp) : NULL;
				if (k && k->kind == RELOC_OTHER)
					continue;
				uint64_t want = !k ? theirs[i] : bias + (k->kind == RELOC_RELR ? theirs[i] : (uint64_t)k->addend);
				want == mine[i] ? words->same++ : words->differ++;
			}
		}
		v = next;
	}
}

/* Whether the file's bytes are the core's where the core holds them: the
 * pages of read-only segments (the ELF header page, and text and read-only
 * data when a dumper kept them) exactly, and the relocated read-only data
 * (which kernel and gdb cores hold) word for word, where more than a quarter
 * of the words differ: ld.so's own start-up variables there (__libc_stack_end,
 * _dl_random...) are a tenth of its words in glibc 2.31, the host's libc.so.6
 * differs in four fifths of those of the 2.31 release's. NULL when they
 * match, else why not. */
static const char *content_mismatch(struct target *t, uint64_t header, Elf *elf, int fd)
{
	struct core *c = t->priv;
	size_t n;
	if (t->kind != TARGET_CORE || !header || elf_getphdrnum(elf, &n) != 0)
		return "the core records no build-id and its pages cannot be compared";
	uint64_t bias = 0;
	bool have_bias = false;
	struct relocs relocs = { 0 };
	struct tally pages = { 0 }, words = { 0 };
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (!have_bias) {
			bias = header - (ph.p_vaddr & ~(FILE_PAGE - 1));
			have_bias = true;
			read_relocs(elf, &relocs);
		}
		if (!(ph.p_flags & PF_W))
			compare_read_only(c, fd, &ph, bias, &pages);
	}
	for (size_t i = 0; i < n && have_bias; i++) {
		GElf_Phdr relro, load;
		if (!gelf_getphdr(elf, (int)i, &relro) || relro.p_type != PT_GNU_RELRO)
			continue;
		for (size_t k = 0; k < n; k++)
			if (gelf_getphdr(elf, (int)k, &load) && load.p_type == PT_LOAD && load.p_vaddr <= relro.p_vaddr &&
			    relro.p_vaddr < load.p_vaddr + load.p_filesz)
				compare_relro(c, fd, &relro, &load, bias, &relocs, &words);
	}
	free(relocs.v);
	if (pages.differ || words.differ * 4 > words.same + words.differ)
		return "the core records no build-id and its bytes differ from the core's";
	if (!pages.same && !words.same)
		return "the core records no build-id and holds none of its pages to compare";
	return NULL;
}

enum core_match core_file_matches(struct target *t, uint64_t header, int fd, const char **why)
{
	uint8_t want[64], have[64];
	size_t nwant = header ? core_image_build_id(t, header, want, sizeof(want)) : 0;
	struct stat st;
	Elf *elf = fstat(fd, &st) == 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		*why = "not an ELF file";
		return CORE_FILE_DIFFERS;
	}
	size_t nhave = elf_build_id(elf, have, sizeof(have));
	bool whole = holds_loaded_bytes(elf, (uint64_t)st.st_size);
	*why = nwant || !whole ? NULL : content_mismatch(t, header, elf, fd);
	elf_end(elf);
	if (nwant && (nwant != nhave || memcmp(want, have, nwant))) {
		*why = nhave ? "its build-id differs from the one the core records"
			     : "it has no build-id, the core records one";
		return CORE_FILE_DIFFERS;
	}
	if (!whole) {
		*why = "a separate debug file, without the program's bytes";
		return CORE_FILE_DIFFERS;
	}
	if (*why)
		return CORE_FILE_DIFFERS;
	return nwant ? CORE_FILE_MATCHES : CORE_FILE_SAME_BYTES;
}

/* The start of the mapping of f's file at offset 0, where its ELF header is. */
static uint64_t file_header_address(const struct core *c, const struct mapped_file *f)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].offset == 0 && c->files[i].source == f->source)
			return c->files[i].start;
	return 0;
}

static void hex_id(const uint8_t *id, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
	out[2 * n] = '\0';
}

/* Where a copy of a mapped file may be, best first: under --sysroot, the
 * program named on the command line (for the core's program), the path the
 * core records, then by build-id: /usr/lib/debug/.build-id/xx/yyyy and
 * /usr/lib/.build-id/xx/yyyy (links to the installed file, where a
 * distribution makes them; the .debug files there lack the code) and the
 * debuginfod cache. Returns how many were written to out (malloc'd). */
static size_t candidate_paths(struct target *t, struct core *c, const struct source_file *src, uint64_t header,
			      char *out[8])
{
	size_t n = 0;
	if (c->sysroot)
		out[n++] = xasprintf("%s%s", c->sysroot, src->path);
	if (c->program && t->exe && !strcmp(t->exe, src->path))
		out[n++] = xstrdup(c->program);
	out[n++] = xstrdup(src->path);
	uint8_t id[64];
	size_t len = header ? core_image_build_id(t, header, id, sizeof(id)) : 0;
	if (len < 2)
		return n;
	char hex[2 * sizeof(id) + 1];
	hex_id(id, len, hex);
	out[n++] = xasprintf("/usr/lib/debug/.build-id/%.2s/%s", hex, hex + 2);
	out[n++] = xasprintf("/usr/lib/.build-id/%.2s/%s", hex, hex + 2);
	const char *cache = getenv("DEBUGINFOD_CACHE_PATH"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (cache && *cache)
		out[n++] = xasprintf("%s/%s/executable", cache, hex);
	else if (xdg && *xdg)
		out[n++] = xasprintf("%s/debuginfod_client/%s/executable", xdg, hex);
	else if (home && *home)
		out[n++] = xasprintf("%s/.cache/debuginfod_client/%s/executable", home, hex);
	return n;
}

/* Find a copy of src that matches the core: by build-id, or where the core
 * records none by the bytes of the pages it holds. One warning when nothing
 * fits: then neither its pages nor its symbols are used. */
static void check_source(struct target *t, struct core *c, struct source_file *src, uint64_t header)
{
	src->state = FILE_CHECKING; /* the build-id read below must not come back here */
	char *paths[8];
	size_t n = candidate_paths(t, c, src, header, paths);
	const char *why = "not found";
	for (size_t i = 0; i < n && src->state == FILE_CHECKING; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		const char *reason;
		if (fd < 0)
			continue;
		if (core_file_matches(t, header, fd, &reason) == CORE_FILE_DIFFERS) {
			why = reason;
			close(fd);
			continue;
		}
		src->fd = fd;
		src->found = xstrdup(paths[i]);
		src->state = FILE_USABLE;
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	if (src->state == FILE_USABLE)
		return;
	src->state = FILE_UNUSABLE;
	core_warn(c, "%s: %s; not used: no symbols from it, and the pages the core omits are left unreadable",
		  src->path, why);
}

/* The NT_FILE mapping holding addr: files are sorted by start and do not overlap. */
static struct mapped_file *file_at(const struct core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nfiles;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < c->files[mid].start)
			hi = mid;
		else if (addr >= c->files[mid].end)
			lo = mid + 1;
		else
			return &c->files[mid];
	}
	return NULL;
}

/* The checked source of a mapping's file: its fd, or -1 when none is usable. */
static int source_fd(struct target *t, struct core *c, const struct mapped_file *f)
{
	struct source_file *src = &c->sources[f->source];
	if (src->state == FILE_UNCHECKED)
		check_source(t, c, src, file_header_address(c, f));
	return src->state == FILE_USABLE ? src->fd : -1;
}

static size_t source_of(struct core *c, const char *path);

int core_file_for(struct target *t, const char *path, uint64_t header, char **found)
{
	struct core *c = t->priv;
	size_t source = source_of(c, path);
	struct source_file *src = &c->sources[source];
	for (size_t i = 0; i < c->nfiles; i++) /* where the core's notes put its header */
		if (c->files[i].source == source && c->files[i].offset == 0)
			header = c->files[i].start;
	if (src->state == FILE_UNCHECKED)
		check_source(t, c, src, header);
	int fd = src->state == FILE_USABLE ? fcntl(src->fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0)
		*found = xstrdup(src->found);
	return fd;
}

/* Bytes the core omits, from the mapped file behind them; 0 if none is usable. */
static size_t read_omitted(struct target *t, struct core *c, uint64_t addr, void *buf, size_t len)
{
	struct mapped_file *f = file_at(c, addr);
	int fd = f ? source_fd(t, c, f) : -1;
	if (fd < 0)
		return 0;
	if (len > f->end - addr)
		len = f->end - addr;
	ssize_t n = pread(fd, buf, len, (off_t)(f->offset + (addr - f->start)));
	if (n <= 0)
		return 0;
	if ((size_t)n < len) /* past the end of the file: the mapping reads zeros */
		memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return len;
}

static size_t core_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct core *c = t->priv;
	size_t done = 0;
	while (done < len) {
		uint64_t a = addr + done;
		const struct segment *s = segment_at(c, a);
		if (!s)
			break;
		uint64_t off = a - s->vaddr;
		size_t want = len - done;
		if (want > s->memsz - off)
			want = s->memsz - off;
		size_t n;
		if (off < s->filesz) {
			n = read_core_bytes(c, s, off, (uint8_t *)buf + done, want);
		} else {
			n = read_omitted(t, c, a, (uint8_t *)buf + done, want);
		}
		done += n;
		if (n < want && !(off < s->filesz && n == s->filesz - off))
			break;
	}
	return done;
}

/* The first part of [addr, addr + len) that the core omits and no matching
 * file supplies: the path of the file it maps, or "" for memory of no file. */
static const char *core_omitted(struct target *t, uint64_t addr, uint64_t len)
{
	struct core *c = t->priv;
	uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
	for (uint64_t a = addr; a < end;) {
		const struct segment *s = segment_at(c, a);
		if (!s) {
			s = segment_after(c, a);
			if (!s)
				break;
			a = s->vaddr;
			continue;
		}
		uint64_t seg_end = s->vaddr + s->memsz, omitted = s->vaddr + s->filesz;
		for (uint64_t b = a > omitted ? a : omitted; b < seg_end && b < end;) {
			const struct mapped_file *f = file_at(c, b);
			if (!f)
				return "";
			if (source_fd(t, c, f) < 0)
				return f->path;
			b = f->end;
		}
		a = seg_end;
	}
	return NULL;
}

static void core_destroy(struct target *t)
{
	struct core *c = t->priv;
	if (!c)
		return;
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	for (size_t i = 0; i < c->nsources; i++) {
		if (c->sources[i].state == FILE_USABLE)
			close(c->sources[i].fd);
		free(c->sources[i].path);
		free(c->sources[i].found);
	}
	free(c->files);
	free(c->sources);
	free(c->program);
	free(c->segs);
	free(c->sysroot);
	if (c->elf)
		elf_end(c->elf);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static const struct target_ops core_ops = {
	.name = "core",
	.read = core_read,
	.omitted = core_omitted,
	.destroy = core_destroy,
};

/* ---- notes ---- */

static int file_by_start(const void *a, const void *b)
{
	const struct mapped_file *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

/* Files sorted by start, for file_at; an empty range or one overlapping the
 * file before it is damage, and left out. */
static void sort_files(struct core *c)
{
	qsort(c->files, c->nfiles, sizeof(*c->files), file_by_start);
	size_t n = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		struct mapped_file *f = &c->files[i];
		if (f->start >= f->end || (n && f->start < c->files[n - 1].end))
			free(f->path);
		else
			c->files[n++] = *f;
	}
	c->nfiles = n;
}

/* The index of the source file named path, added when new. */
static size_t source_of(struct core *c, const char *path)
{
	for (size_t i = 0; i < c->nsources; i++)
		if (!strcmp(c->sources[i].path, path))
			return i;
	GROW(c->sources, c->sources_cap, c->nsources + 1);
	c->sources[c->nsources] = (struct source_file){ .path = xstrdup(path), .state = FILE_UNCHECKED, .fd = -1 };
	return c->nsources++;
}

static void parse_nt_file(struct core *c, const uint8_t *d, size_t len)
{
	if (len < 16)
		return;
	uint64_t count, page;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > (len - 16) / 24)
		return;
	const char *names = (const char *)d + 16 + count * 24, *end = (const char *)d + len;
	c->files = xcalloc(count ? count : 1, sizeof(*c->files));
	for (uint64_t i = 0; i < count && names < end; i++) {
		uint64_t e[3];
		memcpy(e, d + 16 + i * 24, sizeof(e));
		size_t n = strnlen(names, (size_t)(end - names));
		struct mapped_file *f = &c->files[c->nfiles++];
		f->start = e[0];
		f->end = e[1];
		f->offset = e[2] * page;
		f->path = xstrndup(names, n);
		names += n + 1;
	}
	sort_files(c);
	for (size_t i = 0; i < c->nfiles; i++)
		c->files[i].source = source_of(c, c->files[i].path);
}

/* The thread a NT_PRSTATUS note describes, or NULL when the note is too short. */
static struct thread *thread_from_prstatus(struct target *t, const uint8_t *d, size_t len)
{
	struct elf_prstatus st;
	if (len < sizeof(st))
		return NULL;
	memcpy(&st, d, sizeof(st));
	struct thread *th = target_add_thread(t, st.pr_pid);
	memcpy(&th->regs, &st.pr_reg, sizeof(th->regs));
	th->regs_state = REGS_FULL;
	th->pending_signal = st.pr_cursig;
	/* In a system call when orig_rax holds its number: the kernel keeps it there
	 * while the thread sleeps inside the call. */
	if ((int64_t)th->regs.orig_rax >= 0) {
		th->syscall = (long)th->regs.orig_rax;
		uint64_t args[6] = { th->regs.rdi, th->regs.rsi, th->regs.rdx, th->regs.r10, th->regs.r8, th->regs.r9 };
		memcpy(th->syscall_args, args, sizeof(args));
		th->state = 'S';
	} else {
		th->state = 'R';
	}
	return th;
}

static void apply_thread_names(struct target *t, const uint8_t *d, size_t len)
{
	for (size_t off = 0; off + sizeof(struct strand_thread_name) <= len; off += sizeof(struct strand_thread_name)) {
		struct strand_thread_name tn;
		memcpy(&tn, d + off, sizeof(tn));
		struct thread *th = target_thread_by_tid(t, tn.tid);
		if (th)
			snprintf(th->name, sizeof(th->name), "%.*s", (int)sizeof(tn.name), tn.name);
	}
}

static int parse_notes(struct target *t, struct core *c, const GElf_Phdr *ph, const char *path)
{
	Elf_Data *data = elf_getdata_rawchunk(c->elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	if (!data)
		return error_set("the core's notes are unreadable: %s", elf_errmsg(-1));
	struct thread *last = NULL;
	char process_name[17] = "";
	const uint8_t *names = NULL;
	size_t names_len = 0;
	GElf_Nhdr nh;
	size_t off = 0, name_off, desc_off;
	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *d = (const uint8_t *)data->d_buf + desc_off;
		const char *name = (const char *)data->d_buf + name_off;
		if (nh.n_namesz == sizeof(NOTE_STRAND_NAME) && !memcmp(name, NOTE_STRAND_NAME, nh.n_namesz)) {
			if (nh.n_type == NT_STRAND_THREAD_NAMES || nh.n_type == NT_STRAND_THREAD_NAMES_OLD) {
				names = d;
				names_len = nh.n_descsz;
			}
			continue;
		}
		switch (nh.n_type) {
		case NT_PRSTATUS:
			last = thread_from_prstatus(t, d, nh.n_descsz);
			break;
		case NT_FPREGSET:
			if (last && nh.n_descsz >= sizeof(last->fpregs)) {
				memcpy(&last->fpregs, d, sizeof(last->fpregs));
				last->have_fpregs = true;
			}
			break;
		case NT_X86_XSTATE:
			if (last && !last->xstate) {
				last->xstate = xmalloc(nh.n_descsz);
				memcpy(last->xstate, d, nh.n_descsz);
				last->xstate_size = nh.n_descsz;
			}
			break;
		case NT_PRPSINFO:
			if (nh.n_descsz >= sizeof(struct elf_prpsinfo)) {
				struct elf_prpsinfo ps;
				memcpy(&ps, d, sizeof(ps));
				t->pid = ps.pr_pid;
				snprintf(process_name, sizeof(process_name), "%.16s", ps.pr_fname);
			}
			break;
		case NT_AUXV:
			if (t->auxv)
				break; /* a process has one: the first note is it */
			t->auxv_n = nh.n_descsz / 16;
			t->auxv = xmalloc(t->auxv_n * 16 + 16);
			memcpy(t->auxv, d, t->auxv_n * 16);
			while (t->auxv_n && t->auxv[2 * (t->auxv_n - 1)] == AT_NULL)
				t->auxv_n--;
			break;
		case NT_FILE:
			if (!c->files)
				parse_nt_file(c, d, nh.n_descsz);
			break;
		}
	}
	if (!t->nthreads)
		return error_set("%s holds no thread (no NT_PRSTATUS note): truncated, damaged or not a process core",
				 path);
	/* The kernel writes the thread that caused the dump first: gdb selects it. */
	t->initial_thread = 0;
	if (names)
		apply_thread_names(t, names, names_len);
	else if (process_name[0])
		snprintf(t->threads[0].name, sizeof(t->threads[0].name), "%s", process_name);
	return 0;
}

/* ---- segments and mappings ---- */

static int by_vaddr(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;
	return (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static void add_mapping(struct target *t, const struct core *c, const struct segment *s)
{
	struct mapping m = { .start = s->vaddr, .end = s->vaddr + s->memsz };
	m.perms = ((s->flags & PF_R) ? MAP_R : 0) | ((s->flags & PF_W) ? MAP_W : 0) | ((s->flags & PF_X) ? MAP_X : 0);
	const struct mapped_file *f = file_at(c, m.start);
	if (f) {
		m.path = f->path;
		m.offset = f->offset + (m.start - f->start);
	}
	maps_add(&t->maps, &m);
}

/* Segments whose bytes lie past the end of the file: one warning for all. */
static void warn_truncation(struct core *c, const char *path)
{
	uint64_t need = 0, missing = 0;
	size_t partial = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct segment *s = &c->segs[i];
		uint64_t end = s->offset + s->filesz;
		if (s->filesz && end > need)
			need = end;
		if (s->filesz && end > c->file_size) {
			partial++;
			missing += end - (s->offset > c->file_size ? s->offset : c->file_size);
		}
	}
	if (partial)
		core_warn(c, "%s is truncated: %" PRIu64 " of %" PRIu64 " bytes present; %zu memory segment%s "
			     "(%" PRIu64 " bytes) missing, read as unreadable memory",
			  path, c->file_size, need, partial, partial == 1 ? "" : "s", missing);
}

/* A PT_LOAD a process could have: inside the user address space (or the
 * vsyscall page), its file bytes addressable. */
static bool possible_segment(const GElf_Phdr *ph)
{
	uint64_t end = ph->p_vaddr + ph->p_memsz, file_end = ph->p_offset + ph->p_filesz;
	return end > ph->p_vaddr && file_end >= ph->p_offset && file_end <= INT64_MAX &&
	       (end <= USER_SPACE_END || ph->p_vaddr >= VSYSCALL_START);
}

/* Segments in address order; one that overlaps the segment before it is
 * damage (a process's mappings never overlap) and is left out. Returns how
 * many were left out. */
static size_t sort_segments(struct core *c)
{
	qsort(c->segs, c->nsegs, sizeof(*c->segs), by_vaddr);
	size_t n = 0, dropped = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct segment *s = &c->segs[i];
		if (n && s->vaddr < c->segs[n - 1].vaddr + c->segs[n - 1].memsz)
			dropped++;
		else
			c->segs[n++] = *s;
	}
	c->nsegs = n;
	return dropped;
}

/* The flags of the loadable segment of the ELF file whose header lies at
 * header in the core that maps file offset off; PF_R when unknown. Read
 * straight from the core's segments: the memory cache is not filled yet. */
static uint32_t file_segment_flags(struct target *t, uint64_t header, uint64_t off)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	if (!header || core_read(t, header, &eh, sizeof(eh)) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64 ||
	    core_read(t, header + eh.e_phoff, ph, eh.e_phnum * sizeof(*ph)) != eh.e_phnum * sizeof(*ph))
		return PF_R;
	for (size_t i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_offset & ~(uint64_t)0xfff) <= off &&
		    off < ph[i].p_offset + ph[i].p_filesz)
			return ph[i].p_flags & (PF_R | PF_W | PF_X);
	return PF_R;
}

/* gdb's gcore writes no PT_LOAD at all for the file mappings it takes to be
 * unchanged (program text, read-only data), where the kernel writes one
 * without bytes. The ranges NT_FILE names that no segment covers become such
 * segments, read from the files like any omitted page. */
static void add_omitted_segments(struct target *t, struct core *c)
{
	struct segment *gaps = NULL;
	size_t ngaps = 0, cap = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct mapped_file *f = &c->files[i];
		if (f->end > USER_SPACE_END)
			continue; /* damage: no process maps files there */
		for (uint64_t a = f->start; a < f->end;) {
			const struct segment *s = segment_at(c, a);
			if (s) {
				a = s->vaddr + s->memsz;
				continue;
			}
			const struct segment *next = segment_after(c, a);
			uint64_t end = next && next->vaddr < f->end ? next->vaddr : f->end;
			uint32_t flags = file_segment_flags(t, file_header_address(c, f), f->offset + (a - f->start));
			GROW(gaps, cap, ngaps + 1);
			gaps[ngaps++] = (struct segment){ .vaddr = a, .memsz = end - a, .flags = flags };
			a = end;
		}
	}
	if (!ngaps)
		return;
	c->segs = xrealloc(c->segs, (c->nsegs + ngaps) * sizeof(*c->segs));
	memcpy(c->segs + c->nsegs, gaps, ngaps * sizeof(*gaps));
	c->nsegs += ngaps;
	free(gaps);
	sort_segments(c);
}

static void read_segments(struct target *t, struct core *c, const char *path, size_t nph)
{
	size_t impossible = 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(c->elf, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (!possible_segment(&ph)) {
			impossible++;
			continue;
		}
		c->segs[c->nsegs++] = (struct segment){ ph.p_vaddr, ph.p_memsz, ph.p_filesz, ph.p_offset, ph.p_flags };
	}
	size_t overlapping = sort_segments(c);
	if (impossible || overlapping)
		core_warn(c, "%s is damaged: %zu memory segment%s left out (%zu beyond the address space or the file's "
			     "offsets, %zu overlapping another)", path, impossible + overlapping,
			  impossible + overlapping == 1 ? "" : "s", impossible, overlapping);
	add_omitted_segments(t, c);
	for (size_t i = 0; i < c->nsegs; i++)
		add_mapping(t, c, &c->segs[i]);
	maps_sort(&t->maps);
	warn_truncation(c, path);
}

static int by_tid_then_order(const void *a, const void *b)
{
	const struct thread *const *x = a, *const *y = b;
	if ((*x)->tid != (*y)->tid)
		return ((*x)->tid > (*y)->tid) - ((*x)->tid < (*y)->tid);
	return (*x > *y) - (*x < *y);
}

/* A thread listed twice (damage: the kernel writes each once) keeps its first
 * note; the threads keep their order, so the first is still the one selected. */
static void drop_duplicate_threads(struct target *t, struct core *c, const char *path)
{
	struct thread **order = xmalloc(t->nthreads * sizeof(*order));
	bool *repeat = xcalloc(t->nthreads, sizeof(*repeat));
	for (size_t i = 0; i < t->nthreads; i++)
		order[i] = &t->threads[i];
	qsort(order, t->nthreads, sizeof(*order), by_tid_then_order);
	size_t dropped = 0, n = 0;
	for (size_t i = 1; i < t->nthreads; i++)
		if (order[i]->tid == order[i - 1]->tid) {
			repeat[order[i] - t->threads] = true;
			dropped++;
		}
	for (size_t i = 0; i < t->nthreads; i++) {
		if (repeat[i])
			free(t->threads[i].xstate);
		else
			t->threads[n++] = t->threads[i];
	}
	t->nthreads = n;
	free(repeat);
	free(order);
	if (dropped)
		core_warn(c, "%s is damaged: %zu thread note%s repeat an LWP already listed; the first of each is used",
			  path, dropped, dropped == 1 ? "" : "s");
}

/* The program: the file mapped at offset 0 that holds AT_PHDR. */
static void find_exe(struct target *t, const struct core *c)
{
	uint64_t phdr = target_auxv(t, AT_PHDR, NULL);
	const struct mapped_file *f = phdr ? file_at(c, phdr) : NULL;
	if (f)
		t->exe = xstrdup(f->path);
}

static int read_program_headers(struct target *t, struct core *c, const char *path)
{
	size_t n;
	if (elf_getphdrnum(c->elf, &n) != 0)
		return error_set("%s: cannot read program headers: %s", path, elf_errmsg(-1));
	if (n > c->file_size / sizeof(Elf64_Phdr))
		return error_set("%s is truncated or damaged: it claims %zu program headers", path, n);
	c->segs = xcalloc(n ? n : 1, sizeof(*c->segs));
	/* Notes first: NT_FILE names the mappings that PT_LOADs then describe. */
	bool have_notes = false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(c->elf, (int)i, &ph))
			return error_set("%s is truncated or damaged: its program headers are unreadable", path);
		if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > c->file_size || ph.p_filesz > c->file_size - ph.p_offset)
				return error_set("%s is truncated inside its notes: its threads cannot be read", path);
			if (parse_notes(t, c, &ph, path) < 0)
				return -1;
			have_notes = true;
		}
	}
	if (!have_notes)
		return error_set("%s has no notes: not a process core", path);
	drop_duplicate_threads(t, c, path);
	find_exe(t, c); /* before the segments: a copy of the program may stand for their pages */
	read_segments(t, c, path, n);
	return 0;
}

static int check_elf_core(Elf *elf, const char *path)
{
	if (elf_kind(elf) != ELF_K_ELF)
		return error_set("%s: not an ELF file, so not a core", path);
	GElf_Ehdr eh;
	if (!gelf_getehdr(elf, &eh))
		return error_set("%s: unreadable ELF header: %s", path, elf_errmsg(-1));
	if (eh.e_type != ET_CORE)
		return error_set("%s: an ELF %s, not a core file", path,
				 eh.e_type == ET_EXEC ? "executable" : eh.e_type == ET_DYN ? "shared object or PIE" :
				 "object");
	if ((eh.e_machine == EM_386 || eh.e_machine == EM_X86_64) && eh.e_ident[EI_CLASS] == ELFCLASS32)
		return error_set("%s: a core of a 32-bit x86 process; 32-bit is not supported (strand reads x86_64 "
				 "cores)", path);
	if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return error_set("%s: a core of another machine (ELF machine %u, class %u); strand reads x86_64 cores",
				 path, eh.e_machine, eh.e_ident[EI_CLASS]);
	return 0;
}

struct target *core_open(const char *path, const struct core_opts *opts)
{
	elf_version(EV_CURRENT);
	int fd = open_user_file(path, "a core");
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		error_set("%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	struct target *t = xmalloc(sizeof(*t));
	target_init(t, &core_ops, TARGET_CORE);
	struct core *c = xcalloc(1, sizeof(*c));
	t->priv = c;
	c->fd = fd;
	c->file_size = (uint64_t)st.st_size;
	c->sysroot = opts && opts->sysroot ? xstrdup(opts->sysroot) : NULL;
	c->program = opts && opts->program ? xstrdup(opts->program) : NULL;
	c->warn = opts ? opts->warn : NULL;
	c->warn_arg = opts ? opts->warn_arg : NULL;
	c->elf = st.st_size ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (!c->elf) {
		error_set("%s: %s", path, st.st_size == 0 ? "empty file, not a core" : elf_errmsg(-1));
		target_free(t);
		return NULL;
	}
	if (check_elf_core(c->elf, path) < 0 || read_program_headers(t, c, path) < 0) {
		target_free(t);
		return NULL;
	}
	t->priv_elf = c->elf;
	t->stopped = true;
	t->description = xasprintf("core file %s", path);
	target_sort_threads(t); /* keeps the initial thread selected */
	return t;
}

/* ---- writing ---- */

static void add_note(struct strbuf *sb, const char *name, uint32_t type, const void *desc, size_t len)
{
	static const char pad[4];
	Elf64_Nhdr nh = { .n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = (uint32_t)len, .n_type = type };
	sb_add(sb, &nh, sizeof(nh));
	sb_add(sb, name, nh.n_namesz);
	sb_add(sb, pad, (4 - nh.n_namesz % 4) % 4);
	sb_add(sb, desc, len);
	sb_add(sb, pad, (4 - len % 4) % 4);
}

static void add_process_notes(struct strbuf *sb, struct target *t)
{
	struct elf_prpsinfo ps = { .pr_pid = t->pid, .pr_sname = 'S' };
	char *comm = read_procf(NULL, "/proc/%d/comm", (int)t->pid);
	if (comm) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(ps.pr_fname, sizeof(ps.pr_fname), "%s", comm);
		free(comm);
	}
	size_t len = 0;
	char *args = read_procf(&len, "/proc/%d/cmdline", (int)t->pid);
	if (args) {
		/* cmdline is NUL-separated; the kernel's psargs uses spaces. */
		for (size_t i = 0; i + 1 < len && i < sizeof(ps.pr_psargs) - 1; i++)
			ps.pr_psargs[i] = args[i] ? args[i] : ' ';
		free(args);
	}
	add_note(sb, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
	uint64_t *auxv = xcalloc(t->auxv_n + 1, 16);
	memcpy(auxv, t->auxv, t->auxv_n * 16);
	add_note(sb, "CORE", NT_AUXV, auxv, (t->auxv_n + 1) * 16);
	free(auxv);

	struct strbuf files = STRBUF_INIT, paths = STRBUF_INIT;
	uint64_t count = 0, page = 4096;
	sb_add(&files, &count, 8);
	sb_add(&files, &page, 8);
	for (size_t i = 0; i < t->maps.n; i++) {
		const struct mapping *m = &t->maps.v[i];
		if (!mapping_is_file(m))
			continue;
		uint64_t e[3] = { m->start, m->end, m->offset / page };
		sb_add(&files, e, sizeof(e));
		sb_add(&paths, m->path, strlen(m->path) + 1);
		count++;
	}
	memcpy(files.buf, &count, 8);
	sb_add(&files, paths.buf, paths.len);
	add_note(sb, "CORE", NT_FILE, files.buf, files.len);
	sb_release(&files);
	sb_release(&paths);
}

static void add_thread_notes(struct strbuf *sb, struct target *t, const struct thread *th)
{
	struct elf_prstatus st = { .pr_pid = th->tid, .pr_ppid = 0, .pr_pgrp = t->pid, .pr_sid = t->pid };
	st.pr_cursig = (short)th->pending_signal;
	memcpy(&st.pr_reg, &th->regs, sizeof(st.pr_reg));
	add_note(sb, "CORE", NT_PRSTATUS, &st, sizeof(st));
	if (th->have_fpregs)
		add_note(sb, "CORE", NT_FPREGSET, &th->fpregs, sizeof(th->fpregs));
	if (th->xstate)
		add_note(sb, "LINUX", NT_X86_XSTATE, th->xstate, th->xstate_size);
}

static void build_notes(struct strbuf *sb, struct target *t)
{
	/* The selected thread first: readers take the first NT_PRSTATUS as current. */
	add_thread_notes(sb, t, &t->threads[t->initial_thread]);
	add_process_notes(sb, t);
	struct strand_thread_name *names = xcalloc(t->nthreads, sizeof(*names));
	for (size_t i = 0; i < t->nthreads; i++) {
		if (i != t->initial_thread)
			add_thread_notes(sb, t, &t->threads[i]);
		names[i].tid = t->threads[i].tid;
		memcpy(names[i].name, t->threads[i].name, sizeof(names[i].name));
	}
	add_note(sb, NOTE_STRAND_NAME, NT_STRAND_THREAD_NAMES, names, t->nthreads * sizeof(*names));
	free(names);
}

static bool starts_with_elf_header(struct target *t, const struct mapping *m)
{
	char magic[SELFMAG];
	return m->offset == 0 && t->ops->read(t, m->start, magic, SELFMAG) == SELFMAG && !memcmp(magic, ELFMAG, SELFMAG);
}

/* How many bytes of a mapping go into the core, following the kernel's default
 * coredump_filter (0x33): private and anonymous memory whole, the ELF header
 * page of mapped files, nothing of read-only or shared file data. */
static uint64_t dump_size(struct target *t, const struct mapping *m)
{
	if (!(m->perms & MAP_R) || (m->path && (!strcmp(m->path, "[vvar]") || !strcmp(m->path, "[vsyscall]"))))
		return 0;
	if (!mapping_is_file(m))
		return m->end - m->start;
	if (!(m->perms & MAP_SHARED_) && ((m->perms & MAP_W) || m->written))
		return m->end - m->start; /* private data, relro included: it holds .dynamic and the GOT */
	return starts_with_elf_header(t, m) ? 4096 : 0;
}

static int copy_memory(struct target *t, FILE *f, uint64_t addr, uint64_t len, uint8_t *buf, size_t bufsize,
		       uint64_t *done, uint64_t total)
{
	while (len) {
		progress_update("gcore", *done, total);
		*done += len < bufsize ? len : bufsize;
		size_t want = len < bufsize ? (size_t)len : bufsize;
		size_t got = t->ops->read(t, addr, buf, want);
		memset(buf + got, 0, want - got); /* unreadable pages read as zeros, as the kernel writes them */
		if (fwrite(buf, 1, want, f) != want)
			return -1;
		addr += want;
		len -= want;
	}
	return 0;
}

/* The file gcore replaces: path, or the file path links to. Anything there
 * that is not a regular file is refused: the core goes to a new file that is
 * then renamed over path, and renamed over /dev/full it would replace the
 * device. NULL with error_set(). */
static char *output_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return xstrdup(path);
		error_set("cannot write %s: %s", path, strerror(errno));
		return NULL;
	}
	char *target = S_ISLNK(st.st_mode) ? realpath(path, NULL) : xstrdup(path);
	if (!target || stat(target, &st) < 0) {
		error_set("cannot write %s: %s", path, strerror(errno));
		free(target);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set("cannot write %s: %s, not a regular file", path, file_type_name(st.st_mode));
		free(target);
		return NULL;
	}
	return target;
}

/* A new file of its own beside path (same directory, so that a rename puts it
 * in place): ".NAME.XXXXXX", created with O_EXCL and mode 0600, as the kernel
 * writes cores (they hold the process's memory). *tmp: its name. */
static FILE *create_beside(const char *path, char **tmp)
{
	const char *slash = strrchr(path, '/');
	*tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
		     : xasprintf(".%s.XXXXXX", path);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		error_set("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
	}
	return f;
}

int core_write(struct target *t, const char *path, uint64_t *bytes_written)
{
	char *smaps = read_procf(NULL, "/proc/%d/smaps", (int)t->pid);
	if (smaps)
		maps_mark_written(&t->maps, smaps);
	free(smaps);
	struct strbuf notes = STRBUF_INIT;
	build_notes(&notes, t);
	size_t nph = 1 + t->maps.n;
	uint64_t *sizes = xcalloc(t->maps.n ? t->maps.n : 1, sizeof(*sizes));
	Elf64_Phdr *ph = xcalloc(nph, sizeof(*ph));
	uint64_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = off, .p_filesz = notes.len, .p_align = 4 };
	off = (off + notes.len + 4095) & ~(uint64_t)4095;
	uint64_t data_start = off;
	for (size_t i = 0; i < t->maps.n; i++) {
		const struct mapping *m = &t->maps.v[i];
		sizes[i] = dump_size(t, m);
		ph[1 + i] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = off, .p_vaddr = m->start,
					  .p_filesz = sizes[i], .p_memsz = m->end - m->start, .p_align = 4096,
					  .p_flags = ((m->perms & MAP_R) ? PF_R : 0) | ((m->perms & MAP_W) ? PF_W : 0) |
						     ((m->perms & MAP_X) ? PF_X : 0) };
		off += sizes[i];
	}
	Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (Elf64_Half)nph };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;

	/* Written to a file of its own, renamed over path once whole: a failure
	 * (a full disk) removes that file, never path or what was there before. */
	int rc = -1;
	char *tmp = NULL, *target = output_path(path);
	FILE *f = target ? create_beside(target, &tmp) : NULL;
	if (!f)
		goto out;
	size_t bufsize = 1 << 20;
	uint8_t *buf = xcalloc(1, bufsize);
	bool ok = fwrite(&eh, sizeof(eh), 1, f) == 1 && fwrite(ph, sizeof(*ph), nph, f) == nph &&
		  fwrite(notes.buf, 1, notes.len, f) == notes.len;
	size_t pad = (size_t)(data_start - (sizeof(eh) + nph * sizeof(*ph) + notes.len));
	ok = ok && fwrite(buf, 1, pad, f) == pad;
	uint64_t done = 0;
	for (size_t i = 0; ok && i < t->maps.n; i++)
		ok = copy_memory(t, f, t->maps.v[i].start, sizes[i], buf, bufsize, &done, off - data_start) == 0;
	int err = errno; /* why, when !ok */
	progress_done();
	free(buf);
	if (fclose(f) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, target) < 0) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		error_set("cannot write %s: %s", path, strerror(err));
		unlink(tmp);
		goto out;
	}
	*bytes_written = off;
	rc = 0;
out:
	free(tmp);
	free(target);
	free(ph);
	free(sizes);
	sb_release(&notes);
	return rc;
}

int core_check_program(struct target *t, const char *program)
{
	struct core *c = t->priv;
	const struct mapped_file *exe = NULL;
	for (size_t i = 0; i < c->nfiles && !exe; i++)
		if (t->exe && c->files[i].offset == 0 && !strcmp(c->files[i].path, t->exe))
			exe = &c->files[i];
	if (!exe)
		return 0; /* the core names no program: nothing to compare */
	uint8_t want[64], have[64];
	size_t nwant = core_image_build_id(t, exe->start, want, sizeof(want));
	int fd = open(program, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set("%s: %s", program, strerror(errno));
	size_t nhave = file_build_id(fd, have, sizeof(have));
	close(fd);
	if (nwant && nhave && (nwant != nhave || memcmp(want, have, nwant)))
		return error_set("%s does not match the core: the core was made from %s (build-ids differ)", program,
				 exe->path);
	return 0;
}
