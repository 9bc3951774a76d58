#include "symbols.h"

#include <ctype.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/core.h"
#include "cu_index.h"
#include "dwarf_names.h"
#include "base/util.h"

/* From the C++ runtime (libstdc++), which strand links for this alone. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

char *demangle(const char *name)
{
	if (name && name[0] == '_' && name[1] == 'Z') {
		int status;
		char *d = __cxa_demangle(name, NULL, NULL, &status);
		if (d && status == 0)
			return d;
		free(d);
	}
	return xstrdup(name ? name : "??");
}

/* End of the bracketed group that starts at s[i] ('<' or '('), or the string's end. */
static size_t skip_group(const char *s, size_t i)
{
	int depth = 0;
	for (; s[i]; i++) {
		if (s[i] == '<' || s[i] == '(')
			depth++;
		else if ((s[i] == '>' || s[i] == ')') && --depth == 0)
			return i;
	}
	return i;
}

char *cxx_function_column(char *d)
{
	/* The name proper ends at its "operator" (whose own characters are not
	 * brackets) or at the parameter list, the last top-level "(...)". */
	size_t len = strlen(d), name_end = len, params = len;
	for (size_t i = 0; i < len; i++) {
		if (!strncmp(d + i, "operator", 8) && (i == 0 || d[i - 1] == ':' || d[i - 1] == ' ')) {
			name_end = i;
			char *open = strrchr(d + i + 8, '(');
			/* "operator()(int)": the last "(" opens the parameters. */
			params = open ? (size_t)(open - d) : len;
			break;
		}
		if (d[i] == '<' || (d[i] == '(' && i > 0 && d[i - 1] != ':' && d[i - 1] != ' ')) {
			size_t end = skip_group(d, i);
			if (d[i] == '(')
				params = i;
			i = end;
		} else if (d[i] == '(') { /* "(anonymous namespace)" */
			i = skip_group(d, i);
		}
	}
	if (params < name_end)
		name_end = params;
	d[params] = '\0';
	/* The return type: everything up to the last space outside brackets. */
	size_t start = 0;
	for (size_t i = 0; i < name_end && d[i]; i++) {
		if (d[i] == '<' || d[i] == '(')
			i = skip_group(d, i);
		else if (d[i] == ' ')
			start = i + 1;
	}
	memmove(d, d + start, strlen(d + start) + 1);
	return d;
}

/* libdwfl finds the symbol of an address by a linear search of the symbol
 * table; stacks of many threads repeat the same few pcs, so remember them. */
#define ADDR_CACHE 1024

struct addr_cache_entry {
	uint64_t addr;
	bool valid, found;
	struct sym_info info;
};

/* A library as the dynamic linker names it (link_map.l_name), by load bias. */
struct loaded_name {
	uint64_t bias;
	char *name;
};

/* One name per symbol address of a module: of several symbols at the same
 * address (aliases: clone3 and __clone3), the one gdb shows. */
struct alias_name {
	uint64_t addr;
	const char *name;
};

struct module_names {
	Dwfl_Module *mod;
	struct alias_name *v;
	size_t n;
};

/* Looking a name up reads every module's symbol table; call sites ask for
 * the same few functions in every stack. */
#define NAME_CACHE 256

struct name_cache_entry {
	char *name;
	bool found;
	uint64_t addr, size;
};

struct symbols {
	struct addr_cache_entry addr_cache[ADDR_CACHE];
	struct name_cache_entry name_cache[NAME_CACHE];
	struct module_names *names;
	size_t nnames, names_cap;
	Dwfl *dwfl;
	struct target *t;
	Dwfl_Callbacks callbacks;
	const char *const *hide_debug;
	bool attached;
	int main_known;          /* 0 not looked up yet, 1 found at main_addr, -1 none */
	uint64_t main_addr;
	struct loaded_name *loaded; /* the dynamic linker's names of the libraries */
	size_t nloaded;
	bool loaded_read;
};

/* libdwfl's find_debuginfo callback has no argument of ours; only one
 * symbols session exists at a time. */
static struct symbols *active;

static bool hidden(const char *name)
{
	if (!active || !active->hide_debug || !name)
		return false;
	for (const char *const *h = active->hide_debug; *h; h++)
		if (strstr(name, *h))
			return true;
	return false;
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	if (hidden(modname) || hidden(file_name))
		return -1;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
					    debuginfo_file_name);
}

/* Cores: the file that core.c found to match the core (by build-id, or by
 * the bytes of the pages the core holds), never one that merely has the
 * path: its symbols would name the core's addresses wrongly. */
static int find_elf_core(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			 char **file_name, Elf **elfp)
{
	(void)mod;
	(void)userdata;
	*elfp = NULL;
	if (!active || !modname || modname[0] != '/')
		return -1;
	return core_file_for(active->t, modname, base, file_name);
}

static char *debuginfo_path;

struct opened_module {
	char *name;
	uint64_t low, high;
	bool keep;
};

struct opened_modules {
	struct opened_module *v;
	size_t n, cap;
};

/* Each module and whether to keep it as libdwfl reported it. A module it
 * opened the file of by itself has that file's path as the core names it. */
static int list_opened(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr low, void *arg)
{
	(void)userdata;
	(void)low;
	struct opened_modules *list = arg;
	const char *mainfile;
	struct opened_module m = { .keep = true };
	dwfl_module_info(mod, NULL, &m.low, &m.high, NULL, NULL, &mainfile, NULL);
	const char *path = name && name[0] == '/' ? name : mainfile;
	if (mainfile && path[0] == '/') {
		char *found;
		int fd = core_file_for(active->t, path, m.low, &found);
		struct stat mine, theirs;
		m.keep = fd >= 0 && fstat(fd, &mine) == 0 && stat(mainfile, &theirs) == 0 && mine.st_dev == theirs.st_dev &&
			 mine.st_ino == theirs.st_ino;
		if (fd >= 0) {
			close(fd);
			free(found);
		}
	}
	m.name = xstrdup(m.keep ? (name ? name : "") : path);
	GROW(list->v, list->cap, list->n + 1);
	list->v[list->n++] = m;
	return DWARF_CB_OK;
}

/* The range a core maps path at, or [*low, *high) as it is when it maps none. */
static void mapped_range(const struct maps *m, const char *path, uint64_t *low, uint64_t *high)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].path && !strcmp(m->v[i].path, path)) {
			lo = m->v[i].start < lo ? m->v[i].start : lo;
			hi = m->v[i].end > hi ? m->v[i].end : hi;
		}
	if (hi > lo) {
		*low = lo;
		*high = hi;
	}
}

/* libdwfl opens the files a core's notes name by itself, checked by build-id
 * only where the core records one. A module whose file is not the one
 * core.c matched to the core (by build-id or by its bytes) is reported
 * again without it, over the core's mappings of the file: find_elf_core
 * then gives it core.c's file, or none. */
static void replace_unmatched(struct symbols *s)
{
	struct opened_modules list = { 0 };
	dwfl_getmodules(s->dwfl, list_opened, &list, 0);
	size_t replaced = 0;
	for (size_t i = 0; i < list.n; i++)
		replaced += !list.v[i].keep;
	if (replaced) {
		dwfl_report_begin(s->dwfl); /* modules not reported again are dropped */
		for (size_t i = 0; i < list.n; i++)
			if (list.v[i].keep)
				dwfl_report_module(s->dwfl, list.v[i].name, list.v[i].low, list.v[i].high);
		dwfl_report_end(s->dwfl, NULL, NULL);
		dwfl_report_begin_add(s->dwfl);
		for (size_t i = 0; i < list.n; i++)
			if (!list.v[i].keep) {
				mapped_range(&s->t->maps, list.v[i].name, &list.v[i].low, &list.v[i].high);
				dwfl_report_module(s->dwfl, list.v[i].name, list.v[i].low, list.v[i].high);
			}
		dwfl_report_end(s->dwfl, NULL, NULL);
	}
	for (size_t i = 0; i < list.n; i++)
		free(list.v[i].name);
	free(list.v);
}

/* dwfl_addrmodule also answers for the address just past a module. */
static bool module_covers(struct symbols *s, uint64_t addr)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	Dwarf_Addr low, high;
	return mod && dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL) && low <= addr && addr < high;
}

static bool mapped_executable(const struct maps *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if ((m->v[i].perms & MAP_X) && m->v[i].path && !strcmp(m->v[i].path, path))
			return true;
	return false;
}

/* libdwfl finds a core's modules by the ELF headers in its memory. A file
 * mapped executable whose first page the core lacks is reported here, when
 * core.c finds a copy whose bytes are the core's. */
static void report_headerless(struct symbols *s)
{
	const struct maps *m = &s->t->maps;
	size_t *missing = xcalloc(m->n + 1, sizeof(*missing)), n = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct mapping *head = &m->v[i];
		if (head->offset == 0 && head->path && head->path[0] == '/' && !module_covers(s, head->start) &&
		    mapped_executable(m, head->path))
			missing[n++] = i;
	}
	dwfl_report_begin_add(s->dwfl);
	for (size_t k = 0; k < n; k++) {
		const struct mapping *head = &m->v[missing[k]];
		char *found;
		int fd = core_file_for(s->t, head->path, head->start, &found);
		if (fd < 0)
			continue;
		if (!dwfl_report_elf(s->dwfl, head->path, found, fd, head->start, false))
			close(fd); /* reported, libdwfl keeps it */
		free(found);
	}
	dwfl_report_end(s->dwfl, NULL, NULL);
	free(missing);
}

/* The end of a module's loaded segments (PT_LOAD's memsz, .bss included), to a page. */
static uint64_t loaded_end(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t n;
	uint64_t end = 0;
	if (!elf || elf_getphdrnum(elf, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && bias + ph.p_vaddr + ph.p_memsz > end)
			end = bias + ph.p_vaddr + ph.p_memsz;
	}
	return (end + 4095) & ~(uint64_t)4095;
}

struct live_module {
	char *name;
	uint64_t low, high;
};

struct live_modules {
	struct live_module *v;
	size_t n, cap;
	const struct maps *maps;
	bool extended;
};

/* Each module, its range reaching over the anonymous mapping right after its
 * file's last page where its segments go on there (its .bss). */
static int list_live(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr low, void *arg)
{
	(void)userdata;
	(void)low;
	struct live_modules *list = arg;
	struct live_module m = { .name = xstrdup(name ? name : "") };
	dwfl_module_info(mod, NULL, &m.low, &m.high, NULL, NULL, NULL, NULL);
	const struct mapping *after = maps_find(list->maps, m.high);
	if (after && after->start == m.high && !after->path && (after->perms & MAP_W)) {
		uint64_t end = loaded_end(mod);
		if (end > m.high) {
			m.high = end < after->end ? end : after->end;
			list->extended = true;
		}
	}
	GROW(list->v, list->cap, list->n + 1);
	list->v[list->n++] = m;
	return DWARF_CB_OK;
}

/* /proc/PID/maps ends a module at its file's last page; the kernel maps the
 * rest of its .bss anonymously after it, where a core's modules (reported
 * from their program headers) reach. Reported again over it, a live process
 * names its globals there as its core does. */
static void extend_over_bss(struct symbols *s)
{
	struct live_modules list = { .maps = &s->t->maps };
	dwfl_getmodules(s->dwfl, list_live, &list, 0);
	if (list.extended) {
		dwfl_report_begin(s->dwfl);
		for (size_t i = 0; i < list.n; i++)
			dwfl_report_module(s->dwfl, list.v[i].name, list.v[i].low, list.v[i].high);
		dwfl_report_end(s->dwfl, NULL, NULL);
	}
	for (size_t i = 0; i < list.n; i++)
		free(list.v[i].name);
	free(list.v);
}

static int report_modules(struct symbols *s, const struct symbols_opts *opts)
{
	if (s->t->kind == TARGET_LIVE) {
		s->callbacks.find_elf = dwfl_linux_proc_find_elf;
		s->dwfl = dwfl_begin(&s->callbacks);
		dwfl_report_begin(s->dwfl);
		int rc = dwfl_linux_proc_report(s->dwfl, s->t->pid);
		dwfl_report_end(s->dwfl, NULL, NULL);
		if (rc != 0)
			return error_set("cannot read the modules of process %d: %s", (int)s->t->pid,
					 rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
		extend_over_bss(s);
		return 0;
	}
	s->callbacks.find_elf = find_elf_core;
	s->dwfl = dwfl_begin(&s->callbacks);
	dwfl_report_begin(s->dwfl);
	int n = dwfl_core_file_report(s->dwfl, (Elf *)s->t->priv_elf, opts ? opts->exe : NULL);
	dwfl_report_end(s->dwfl, NULL, NULL);
	if (n < 0)
		return error_set("cannot read the modules of the core: %s", dwfl_errmsg(-1));
	replace_unmatched(s);
	report_headerless(s);
	return 0;
}

/* Thread callbacks: libdwfl unwinds from the registers and memory strand captured. */
static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	(void)dwfl;
	struct symbols *s = arg;
	size_t i = (size_t)(uintptr_t)*thread_argp;
	if (i >= s->t->nthreads)
		return 0;
	*thread_argp = (void *)(uintptr_t)(i + 1);
	return s->t->threads[i].tid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	(void)dwfl;
	struct symbols *s = arg;
	for (size_t i = 0; i < s->t->nthreads; i++)
		if (s->t->threads[i].tid == tid) {
			*thread_argp = (void *)(uintptr_t)(i + 1);
			return true;
		}
	return false;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	(void)dwfl;
	struct symbols *s = arg;
	return target_read_u64(s->t, addr, result);
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct symbols *s = dwfl_thread_dwfl(thread) == active->dwfl ? active : NULL;
	size_t i = (size_t)(uintptr_t)thread_arg - 1;
	if (!s || i >= s->t->nthreads)
		return false;
	const struct thread *th = &s->t->threads[i];
	const struct user_regs_struct *r = &th->regs;
	if (th->regs_state == REGS_NONE)
		return false;
	if (th->regs_state == REGS_SP_PC) {
		Dwarf_Word sp = r->rsp;
		dwfl_thread_state_register_pc(thread, r->rip);
		return dwfl_thread_state_registers(thread, 7, 1, &sp);
	}
	Dwarf_Word regs[FRAME_NREGS] = { r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8,
					 r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip };
	return dwfl_thread_state_registers(thread, 0, FRAME_NREGS, regs);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

struct symbols *symbols_open(struct target *t, const struct symbols_opts *opts)
{
	struct symbols *s = xcalloc(1, sizeof(*s));
	s->t = t;
	s->callbacks.find_debuginfo = find_debuginfo;
	s->callbacks.debuginfo_path = &debuginfo_path;
	s->hide_debug = opts ? opts->hide_debug : NULL;
	active = s;
	if (report_modules(s, opts) < 0) {
		symbols_free(s);
		return NULL;
	}
	Elf *elf = t->kind == TARGET_CORE ? (Elf *)t->priv_elf : NULL;
	s->attached = dwfl_attach_state(s->dwfl, elf, t->pid ? t->pid : 1, &thread_callbacks, s);
	return s;
}

void symbols_free(struct symbols *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	cu_index_reset();
	dwarf_names_reset();
	if (active == s)
		active = NULL;
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i].v);
	free(s->names);
	for (size_t i = 0; i < s->nloaded; i++)
		free(s->loaded[i].name);
	free(s->loaded);
	for (size_t i = 0; i < NAME_CACHE; i++)
		free(s->name_cache[i].name);
	free(s);
}

Dwfl *symbols_dwfl(struct symbols *s)
{
	return s->dwfl;
}

struct target *symbols_target(struct symbols *s)
{
	return s->t;
}

struct named_sym {
	uint64_t addr;
	bool sized;
	const char *name;
};

static int named_sym_cmp(const void *a, const void *b)
{
	const struct named_sym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->sized != y->sized)
		return x->sized ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* gdb sorts a module's symbols by address then name and, of those at one
 * address, takes the last that has a size: the greatest name. */
static struct module_names *module_names(struct symbols *s, Dwfl_Module *mod)
{
	for (size_t i = 0; i < s->nnames; i++)
		if (s->names[i].mod == mod)
			return &s->names[i];
	GROW(s->names, s->names_cap, s->nnames + 1);
	struct module_names *m = &s->names[s->nnames++];
	memset(m, 0, sizeof(*m));
	m->mod = mod;
	int n = dwfl_module_getsymtab(mod);
	struct named_sym *all = n > 0 ? xmalloc((size_t)n * sizeof(*all)) : NULL;
	size_t count = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		if (name && *name && sym.st_shndx != SHN_UNDEF && type != STT_SECTION && type != STT_FILE)
			all[count++] = (struct named_sym){ addr, sym.st_size > 0, name };
	}
	qsort(all, count, sizeof(*all), named_sym_cmp);
	m->v = xmalloc((count ? count : 1) * sizeof(*m->v));
	for (size_t i = 0; i < count; i++) {
		if (i + 1 < count && all[i + 1].addr == all[i].addr)
			continue;
		m->v[m->n++] = (struct alias_name){ all[i].addr, all[i].name };
	}
	free(all);
	return m;
}

static const char *preferred_name(struct symbols *s, Dwfl_Module *mod, uint64_t start, const char *name)
{
	struct module_names *m = module_names(s, mod);
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].addr < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && m->v[lo].addr == start ? m->v[lo].name : name;
}

/* The program itself: an executable, or a position-independent one (it
 * names an interpreter, which shared libraries do not, libc.so.6 aside). */
static bool is_program(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	GElf_Ehdr eh;
	size_t n;
	if (!elf || !gelf_getehdr(elf, &eh))
		return false;
	if (eh.e_type == ET_EXEC)
		return true;
	if (eh.e_type != ET_DYN || elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
			return true;
	}
	return false;
}

static bool in_code(Elf *elf, GElf_Word shndx)
{
	GElf_Shdr shdr;
	Elf_Scn *scn = elf && shndx != SHN_UNDEF && shndx < SHN_LORESERVE ? elf_getscn(elf, shndx) : NULL;
	return scn && gelf_getshdr(scn, &shdr) && (shdr.sh_flags & SHF_EXECINSTR);
}

static bool addr_info(struct symbols *s, uint64_t addr, struct sym_info *out)
{
	memset(out, 0, sizeof(*out));
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	if (!mod)
		return false;
	Dwarf_Addr low;
	out->module = dwfl_module_info(mod, NULL, &low, NULL, &out->module_base, NULL, NULL, NULL);
	out->module_offset = addr - low;
	/* libc.so.6 names an interpreter too (it runs): a library is what the
	 * dynamic linker lists. */
	out->in_program = !symbols_loaded_name(s, addr) && is_program(mod);
	GElf_Sym sym;
	GElf_Off off;
	GElf_Word shndx;
	Elf *elf;
	Dwarf_Addr bias;
	out->name = dwfl_module_addrinfo(mod, addr, &off, &sym, &shndx, &elf, &bias);
	if (out->name) {
		out->sizeless_data = sym.st_size == 0 && !in_code(elf, shndx);
		out->offset = off;
		out->start = addr - off;
		out->size = sym.st_size;
		out->name = preferred_name(s, mod, out->start, out->name);
	}
	return true;
}

bool symbols_addr_info(struct symbols *s, uint64_t addr, struct sym_info *out)
{
	struct addr_cache_entry *e = &s->addr_cache[(addr ^ addr >> 12) % ADDR_CACHE];
	if (!e->valid || e->addr != addr) {
		e->found = addr_info(s, addr, &e->info);
		e->addr = addr;
		e->valid = true;
	}
	*out = e->info;
	return e->found;
}

const char *symbols_section(struct symbols *s, uint64_t addr)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	Dwarf_Addr rel = addr, bias;
	Elf_Scn *scn = mod ? dwfl_module_address_section(mod, &rel, &bias) : NULL;
	Elf *elf = mod ? dwfl_module_getelf(mod, &bias) : NULL;
	size_t shstrndx;
	GElf_Shdr shdr;
	if (!scn || !elf || elf_getshdrstrndx(elf, &shstrndx) != 0 || !gelf_getshdr(scn, &shdr))
		return NULL;
	return elf_strptr(elf, shstrndx, shdr.sh_name);
}

/* Source lines as gdb reads them. gdb splits a CU's line program into one
 * table per file and, where the file changes at an address, ends the old
 * file's run with a line-0 entry that removes the old file's entries at that
 * address; a row that changes file at the same address without being a
 * statement is dropped, and so is a repeat of a line that has discriminators. The line of a pc is then, of each file's last entry
 * at or before it (a statement entry at that address preferred), the one with
 * the greatest address. Where an inlined body begins, this is the inlined
 * code's line where the row order alone would give the caller's. */
struct line_entry {
	Dwarf_Addr addr;
	int line;
	bool is_stmt;
};

struct line_file {
	const char *name;
	struct line_entry *v; /* entries at or before the pc, in order */
	size_t n, cap;
};

struct line_tables {
	struct line_file *files;
	size_t n, cap;
};

static struct line_file *line_file(struct line_tables *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->files[i].name == name || !strcmp(t->files[i].name, name))
			return &t->files[i];
	GROW(t->files, t->cap, t->n + 1);
	t->files[t->n] = (struct line_file){ .name = name };
	return &t->files[t->n++];
}

static void record_line(struct line_file *f, Dwarf_Addr addr, int line, bool is_stmt)
{
	if (line == 0) { /* the end of a run removes the entries at its address */
		int last_line = -1;
		while (f->n > 0) {
			last_line = f->v[f->n - 1].line;
			if (f->v[f->n - 1].addr != addr)
				break;
			f->n--;
		}
		if (last_line <= 0)
			return;
	}
	GROW(f->v, f->cap, f->n + 1);
	f->v[f->n++] = (struct line_entry){ addr, line, is_stmt };
}

/* The rows of the sequence that holds pc, [*first, *end). */
static bool sequence_of(Dwarf_Lines *lines, size_t nlines, Dwarf_Addr pc, size_t *first, size_t *end)
{
	size_t start = 0;
	for (size_t i = 0; i < nlines; i++) {
		Dwarf_Line *l = dwarf_onesrcline(lines, i);
		bool end_seq;
		Dwarf_Addr addr;
		if (!l || dwarf_lineendsequence(l, &end_seq) != 0 || !end_seq || dwarf_lineaddr(l, &addr) != 0)
			continue;
		Dwarf_Addr begin;
		if (dwarf_lineaddr(dwarf_onesrcline(lines, start), &begin) == 0 && begin <= pc && pc < addr) {
			*first = start;
			*end = i + 1;
			return true;
		}
		start = i + 1;
	}
	return false;
}

static void build_line_tables(Dwarf_Lines *lines, size_t first, size_t end, Dwarf_Addr pc, struct line_tables *t)
{
	size_t last_file = SIZE_MAX; /* index in t->files: the array grows */
	Dwarf_Addr last_addr = (Dwarf_Addr)-1;
	int last_line = 0, row_line = 0;
	bool discriminated = false; /* a row of this line had a discriminator */
	for (size_t i = first; i < end; i++) {
		Dwarf_Line *l = dwarf_onesrcline(lines, i);
		Dwarf_Addr addr;
		int line;
		bool stmt, end_seq;
		unsigned disc = 0;
		const char *name = l ? dwarf_linesrc(l, NULL, NULL) : NULL;
		if (!name || dwarf_lineaddr(l, &addr) || dwarf_lineno(l, &line) || dwarf_linebeginstatement(l, &stmt) ||
		    dwarf_lineendsequence(l, &end_seq))
			continue;
		if (addr > pc)
			break;
		dwarf_linediscriminator(l, &disc);
		discriminated = (line == row_line && discriminated) || disc != 0;
		row_line = line;
		size_t f = (size_t)(line_file(t, name) - t->files);
		bool changed = f != last_file;
		bool ignore = (changed && !end_seq && last_addr == addr && !stmt) || (!end_seq && line == 0);
		if (((changed && !ignore) || end_seq) && last_file != SIZE_MAX)
			record_line(&t->files[last_file], addr, 0, true);
		if (!end_seq && !ignore) {
			/* The same line again in the same file is kept, unless the
			 * line has discriminators (its repeats are blocks of one line). */
			if (changed || line != last_line || !discriminated)
				record_line(&t->files[f], addr, line, stmt);
			last_file = f;
			last_line = line;
		}
		last_addr = addr;
	}
}

static bool gdb_line(Dwarf_Die *cu, Dwarf_Addr pc, const char **file, int *line, Dwarf_Addr *line_addr)
{
	Dwarf_Lines *lines;
	size_t nlines, first, end;
	if (dwarf_getsrclines(cu, &lines, &nlines) != 0 || !sequence_of(lines, nlines, pc, &first, &end))
		return false;
	struct line_tables t = { 0 };
	build_line_tables(lines, first, end, pc, &t);
	const struct line_entry *best = NULL;
	const char *best_file = NULL;
	for (size_t i = 0; i < t.n; i++) {
		const struct line_file *f = &t.files[i];
		if (f->n == 0)
			continue;
		size_t k = f->n - 1;
		while (!f->v[k].is_stmt && k > 0 && f->v[k - 1].addr == f->v[k].addr && f->v[k - 1].line != 0)
			k--;
		const struct line_entry *e = f->v[k].is_stmt ? &f->v[k] : &f->v[f->n - 1];
		if (!best || e->addr > best->addr || (e->addr == best->addr && best->line == 0 && e->line != 0)) {
			best = e;
			best_file = f->name;
		}
	}
	bool found = best && best->line != 0;
	if (found) {
		*file = best_file;
		*line = best->line;
		*line_addr = best->addr;
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.files[i].v);
	free(t.files);
	return found;
}

bool symbols_source_line(struct symbols *s, uint64_t pc, const char **file, int *line, uint64_t *line_addr)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, pc);
	Dwarf_Addr bias;
	Dwarf_Die *cu = mod ? module_addrdie(mod, pc, &bias) : NULL;
	Dwarf_Addr addr;
	if (!cu || !gdb_line(cu, pc - bias, file, line, &addr))
		return false;
	*file = unit_file_name(cu, *file);
	if (line_addr)
		*line_addr = addr + bias;
	return true;
}

struct lookup {
	const char *name, *module;
	uint64_t addr, size;
	bool found;
	bool by_cxx_name; /* the second pass: "ns::f" or "ns::f(int)" for _ZN2ns1fEi */
};

/* A C++ symbol that people name as gdb lets them: demangled, with or without
 * its parameters. */
static bool cxx_names(const char *symbol, const char *name)
{
	if (symbol[0] != '_' || symbol[1] != 'Z')
		return false;
	char *d = demangle(symbol);
	bool same = !strcmp(d, name) || !strcmp(cxx_function_column(d), name);
	free(d);
	return same;
}

/* name, or its default version "name@@GLIBC_2.34", which gdb knows by the bare name too. */
static bool same_symbol(const char *symbol, const char *name)
{
	size_t len = strlen(name);
	return !strncmp(symbol, name, len) && (!symbol[len] || !strncmp(symbol + len, "@@", 2));
}

static int lookup_in_module(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr low, void *arg)
{
	(void)userdata;
	(void)low;
	struct lookup *q = arg;
	if (q->module && (!modname || !strstr(modname, q->module)))
		return DWARF_CB_OK;
	int n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
		if (!name || sym.st_shndx == SHN_UNDEF ||
		    !(q->by_cxx_name ? cxx_names(name, q->name) : same_symbol(name, q->name)))
			continue;
		int type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_OBJECT && type != STT_TLS && type != STT_GNU_IFUNC &&
		    type != STT_NOTYPE)
			continue;
		q->addr = addr;
		q->size = sym.st_size;
		q->found = true;
		/* A global definition wins; keep looking past a local one. */
		if (GELF_ST_BIND(sym.st_info) != STB_LOCAL)
			return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

static bool lookup_uncached(struct symbols *s, const char *name, const char *module, uint64_t *addr,
			    uint64_t *size);

bool symbols_lookup(struct symbols *s, const char *name, const char *module, uint64_t *addr, uint64_t *size)
{
	if (module)
		return lookup_uncached(s, name, module, addr, size);
	uint32_t h = 5381;
	for (const char *p = name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	struct name_cache_entry *e = &s->name_cache[h % NAME_CACHE];
	if (!e->name || strcmp(e->name, name)) {
		free(e->name);
		e->name = xstrdup(name);
		e->found = lookup_uncached(s, name, NULL, &e->addr, &e->size);
	}
	if (e->found) {
		*addr = e->addr;
		if (size)
			*size = e->size;
	}
	return e->found;
}

static bool lookup_uncached(struct symbols *s, const char *name, const char *module, uint64_t *addr,
			    uint64_t *size)
{
	struct lookup q = { .name = name, .module = module };
	dwfl_getmodules(s->dwfl, lookup_in_module, &q, 0);
	if (!q.found && strchr(name, '@') == NULL) {
		q.by_cxx_name = true;
		dwfl_getmodules(s->dwfl, lookup_in_module, &q, 0);
	}
	if (q.found) {
		*addr = q.addr;
		if (size)
			*size = q.size;
	}
	return q.found;
}

/* The dynamic linker's list of loaded objects, from _r_debug.r_map in the
 * target (glibc's struct link_map: l_addr, l_name, l_ld, l_next). */
static void read_link_map(struct symbols *s)
{
	s->loaded_read = true;
	uint64_t r_debug, map;
	if (!symbols_lookup(s, "_r_debug", NULL, &r_debug, NULL) || !target_read_u64(s->t, r_debug + 8, &map))
		return;
	size_t cap = 0;
	for (int guard = 0; map && guard < 65536; guard++) {
		uint64_t l_addr, l_name, next;
		if (!target_read_u64(s->t, map, &l_addr) || !target_read_u64(s->t, map + 8, &l_name) ||
		    !target_read_u64(s->t, map + 24, &next))
			break;
		char *name = l_name ? target_read_string(s->t, l_name, 4096) : NULL;
		if (name && *name) {
			GROW(s->loaded, cap, s->nloaded + 1);
			s->loaded[s->nloaded++] = (struct loaded_name){ l_addr, name };
		} else {
			free(name);
		}
		map = next;
	}
}

const char *symbols_loaded_name(struct symbols *s, uint64_t addr)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	Dwarf_Addr bias;
	if (!mod || !dwfl_module_getelf(mod, &bias))
		return NULL;
	if (!s->loaded_read)
		read_link_map(s);
	for (size_t i = 0; i < s->nloaded; i++)
		if (s->loaded[i].bias == bias)
			return s->loaded[i].name;
	return NULL;
}

bool symbols_main(struct symbols *s, uint64_t *addr)
{
	if (!s->main_known)
		s->main_known = symbols_lookup(s, "main", NULL, &s->main_addr, NULL) ? 1 : -1;
	*addr = s->main_addr;
	return s->main_known > 0;
}

bool symbols_resolve_address(struct symbols *s, const char *expr, const struct thread *th, uint64_t *out)
{
	char *copy = xstrdup(expr);
	char *p = copy;
	while (isspace((unsigned char)*p))
		p++;
	char *end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*p == '*' || *p == '&')
		p++;
	uint64_t offset = 0;
	char *plus = strrchr(p, '+');
	char *minus = strrchr(p, '-');
	char *sep = plus > minus ? plus : minus;
	bool ok = true;
	if (sep && sep > p) {
		char *off = sep + 1;
		while (isspace((unsigned char)*off))
			off++;
		ok = parse_u64(off, &offset);
		if (ok && *sep == '-')
			offset = (uint64_t)-(int64_t)offset;
		*sep = '\0';
		for (char *e = sep; e > p && isspace((unsigned char)e[-1]);)
			*--e = '\0';
	}
	size_t len = strlen(p);
	if (len > 2 && p[0] == '\'' && p[len - 1] == '\'') { /* 'main.keep', as print takes it */
		p[len - 1] = '\0';
		p++;
	}
	uint64_t base = 0;
	if (ok && p[0] == '$')
		ok = th && th->regs_state != REGS_NONE && regs_get(&th->regs, p, &base);
	else if (ok && !parse_u64(p, &base))
		ok = symbols_lookup(s, p, NULL, &base, NULL);
	if (ok)
		*out = base + offset;
	else
		error_set("No symbol \"%s\" in current context.", p);
	free(copy);
	return ok;
}

struct unwind_state {
	struct backtrace *bt;
	size_t max;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct unwind_state *u = arg;
	struct backtrace *bt = u->bt;
	Dwarf_Addr pc;
	bool activation;
	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	/* A corrupt stack can repeat a frame forever: stop on an exact repeat. */
	if (bt->n > 0 && bt->frames[bt->n - 1].pc == pc) {
		Dwarf_Word sp;
		if (dwfl_frame_reg(state, 7, &sp) == 0 && sp == bt->frames[bt->n - 1].regs[7]) {
			bt->stop_reason = xstrdup("previous frame identical to this frame (corrupt stack?)");
			return DWARF_CB_ABORT;
		}
	}
	bt->frames = xrealloc(bt->frames, (bt->n + 1) * sizeof(*bt->frames));
	struct frame *f = &bt->frames[bt->n++];
	memset(f, 0, sizeof(*f));
	f->pc = pc;
	f->lookup_pc = activation ? pc : pc - 1;
	for (unsigned r = 0; r < FRAME_NREGS; r++) {
		Dwarf_Word v;
		if (dwfl_frame_reg(state, r, &v) == 0) {
			f->regs[r] = v;
			f->regs_valid |= 1u << r;
		}
	}
	if (bt->n >= 2 && (f->regs_valid & (1u << 7)))
		bt->frames[bt->n - 2].cfa = f->regs[7];
	if (bt->n >= u->max) {
		bt->stop_reason = xasprintf("stopped at the frame limit (%zu)", u->max);
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

int symbols_unwind(struct symbols *s, const struct thread *th, size_t max, struct backtrace *bt)
{
	memset(bt, 0, sizeof(*bt));
	if (!s->attached)
		return error_set("cannot unwind: %s", dwfl_errmsg(-1));
	if (th->regs_state == REGS_NONE)
		return error_set("thread %d is running: its registers are unknown without stopping it", (int)th->tid);
	struct unwind_state u = { bt, max ? max : 4096 };
	int rc = dwfl_getthread_frames(s->dwfl, th->tid, frame_cb, &u);
	if (rc != 0 && !bt->stop_reason && bt->n > 0) {
		const char *why = dwfl_errmsg(-1);
		/* libdwfl reports the normal end of a stack as an error on some paths. */
		if (why && !strstr(why, "no error"))
			bt->stop_reason = xstrdup(why);
	}
	if (bt->n == 0)
		return error_set("cannot unwind thread %d: %s", (int)th->tid, dwfl_errmsg(-1));
	return 0;
}

void backtrace_free(struct backtrace *bt)
{
	free(bt->frames);
	free(bt->stop_reason);
	memset(bt, 0, sizeof(*bt));
}

struct modules_walk {
	bool (*fn)(const struct module_info *m, void *arg);
	void *arg;
};

static int module_cb(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr low, void *arg)
{
	(void)userdata;
	(void)low;
	struct modules_walk *w = arg;
	struct module_info m = { .name = name };
	const char *mainfile, *debugfile;
	dwfl_module_info(mod, NULL, &m.low, &m.high, NULL, NULL, &mainfile, &debugfile);
	Dwarf_Addr bias;
	/* Ask for the ELF and DWARF: this is what loads symbols and debug info. */
	m.has_symtab = dwfl_module_getelf(mod, &m.bias) != NULL && dwfl_module_getsymtab(mod) > 0;
	m.has_debug_info = dwfl_module_getdwarf(mod, &bias) != NULL;
	dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &mainfile, &debugfile);
	m.path = mainfile ? mainfile : name;
	m.debug_file = debugfile;
	GElf_Addr vaddr;
	m.build_id_len = dwfl_module_build_id(mod, &m.build_id, &vaddr);
	return w->fn(&m, w->arg) ? DWARF_CB_OK : DWARF_CB_ABORT;
}

void symbols_modules(struct symbols *s, bool (*fn)(const struct module_info *m, void *arg), void *arg)
{
	struct modules_walk w = { fn, arg };
	dwfl_getmodules(s->dwfl, module_cb, &w, 0);
}

static int count_module(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr low, void *arg)
{
	(void)mod;
	(void)ud;
	(void)name;
	(void)low;
	(*(size_t *)arg)++;
	return DWARF_CB_OK;
}

size_t symbols_module_count(struct symbols *s)
{
	size_t n = 0;
	dwfl_getmodules(s->dwfl, count_module, &n, 0);
	return n;
}

struct tls_sum {
	uint64_t total;
};

static int add_module_tls(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr low, void *arg)
{
	(void)ud;
	(void)name;
	(void)low;
	struct tls_sum *sum = arg;
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t n;
	if (!elf || elf_getphdrnum(elf, &n) != 0)
		return DWARF_CB_OK;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_TLS) {
			uint64_t align = ph.p_align ? ph.p_align : 1;
			sum->total = (sum->total + ph.p_memsz + align - 1) / align * align;
		}
	}
	return DWARF_CB_OK;
}

uint64_t symbols_static_tls_size(struct symbols *s)
{
	struct tls_sum sum = { 0 };
	dwfl_getmodules(s->dwfl, add_module_tls, &sum, 0);
	return sum.total;
}
