#include "plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbols/dwarf_names.h"
#include "symbols/frames.h"
#include "base/util.h"

const struct strand_plugin *strand_glibc_malloc_init(const struct strand_host_api *host);
const struct strand_plugin *strand_glibc_nptl_init(const struct strand_host_api *host);
const struct strand_plugin *strand_go_runtime_init(const struct strand_host_api *host);
const struct strand_plugin *const *strand_detection_plugins_init(const struct strand_host_api *host);

struct strand_host {
	struct session *s;
	char *evidence; /* what the plugin being asked to detect said */
};

static struct strand_host host;
static struct loaded_plugin *plugins;
static size_t nplugins, cap;
static bool builtins_loaded;

static size_t host_read(struct strand_host *h, uint64_t addr, void *buf, size_t len)
{
	return target_read(h->s->target, addr, buf, len);
}

static bool host_lookup_symbol(struct strand_host *h, const char *name, const char *module, uint64_t *addr,
			       uint64_t *size)
{
	return symbols_lookup(h->s->symbols, name, module, addr, size);
}

static const char *host_symbolize(struct strand_host *h, uint64_t addr, uint64_t *offset)
{
	struct sym_info si;
	if (!symbols_addr_info(h->s->symbols, addr, &si) || !si.name)
		return NULL;
	*offset = si.offset;
	return si.name;
}

struct module_search {
	const char *name;
	struct strand_module_info *out;
	bool found;
};

static bool match_module(const struct module_info *m, void *arg)
{
	struct module_search *ms = arg;
	if (!m->path || !strstr(m->path, ms->name))
		return true;
	*ms->out = (struct strand_module_info){ m->path, m->low, m->high, m->bias, m->has_debug_info };
	ms->found = true;
	return false;
}

static bool host_find_module(struct strand_host *h, const char *name, struct strand_module_info *out)
{
	struct module_search ms = { name, out, false };
	symbols_modules(h->s->symbols, match_module, &ms);
	return ms.found;
}

struct address_search {
	uint64_t addr;
	struct strand_module_info *out;
	bool found;
};

static bool match_address(const struct module_info *m, void *arg)
{
	struct address_search *as = arg;
	if (as->addr < m->low || as->addr >= m->high)
		return true;
	*as->out = (struct strand_module_info){ m->path ? m->path : m->name, m->low, m->high, m->bias,
						m->has_debug_info };
	as->found = true;
	return false;
}

static bool host_module_at(struct strand_host *h, uint64_t addr, struct strand_module_info *out)
{
	struct address_search as = { addr, out, false };
	symbols_modules(h->s->symbols, match_address, &as);
	return as.found;
}

static size_t host_mapping_count(struct strand_host *h)
{
	return h->s->target->maps.n;
}

static bool host_mapping(struct strand_host *h, size_t i, struct strand_mapping_info *out)
{
	const struct maps *m = &h->s->target->maps;
	if (i >= m->n)
		return false;
	const struct mapping *mp = &m->v[i];
	/* [heap], [stack] are anonymous memory too; only files have a path here. */
	*out = (struct strand_mapping_info){ mp->start, mp->end, mp->offset, mp->perms,
					     mapping_is_file(mp) ? mp->path : NULL };
	return true;
}

static size_t host_thread_count(struct strand_host *h)
{
	return h->s->target->nthreads;
}

static bool host_thread(struct strand_host *h, size_t i, struct strand_thread_info *out)
{
	const struct target *t = h->s->target;
	if (i >= t->nthreads)
		return false;
	const struct thread *th = &t->threads[i];
	memset(out, 0, sizeof(*out));
	out->tid = th->tid;
	out->regs_known = th->regs_state == REGS_FULL;
	if (out->regs_known) {
		const struct user_regs_struct *r = &th->regs;
		uint64_t gp[17] = { r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi, r->rbp, r->rsp,
				    r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip };
		memcpy(out->gp, gp, sizeof(gp));
	}
	out->fs_base = th->thread_pointer;
	out->sp = regs_sp(th);
	out->pc = regs_pc(th);
	out->syscall = th->syscall;
	memcpy(out->syscall_args, th->syscall_args, sizeof(out->syscall_args));
	return true;
}

static bool host_auxv(struct strand_host *h, uint64_t type, uint64_t *value)
{
	bool found;
	*value = target_auxv(h->s->target, type, &found);
	return found;
}

static bool host_option(struct strand_host *h, const char *name)
{
	if (!strcmp(name, "no-libc-symbols"))
		return h->s->symbols_opts.hide_debug != NULL;
	return false;
}

static void host_warn(struct strand_host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	out_warn(h->s->out, "%s", msg);
	free(msg);
}

static void host_evidence(struct strand_host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(h->evidence);
	h->evidence = xvasprintf(fmt, ap);
	va_end(ap);
}

/* ---- How a function call binds: GOT, then the dynamic linker's order ---- */

/* The executable: the module that holds the entry point. */
static Dwfl_Module *exe_module(struct session *s)
{
	bool found;
	uint64_t entry = target_auxv(s->target, AT_ENTRY, &found);
	return found ? dwfl_addrmodule(symbols_dwfl(s->symbols), entry) : NULL;
}

/* A global definition of the function name in mod; with exported, only one
 * of default visibility: what the dynamic linker would bind a call to. */
static bool module_defines(Dwfl_Module *mod, const char *name, bool exported, uint64_t *addr)
{
	int n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		const char *sn = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
		if (sn && !strcmp(sn, name) && sym.st_shndx != SHN_UNDEF && (bind == STB_GLOBAL || bind == STB_WEAK) &&
		    (!exported || GELF_ST_VISIBILITY(sym.st_other) == STV_DEFAULT) &&
		    (type == STT_FUNC || type == STT_GNU_IFUNC)) {
			*addr = value;
			return true;
		}
	}
	return false;
}

/* The address of the executable's GOT slot for name (a PLT or GOT-data
 * relocation), 0 when it has none. */
static uint64_t got_slot(Dwfl_Module *exe, const char *name)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(exe, &bias);
	for (Elf_Scn *scn = elf ? elf_nextscn(elf, NULL) : NULL; scn; scn = elf_nextscn(elf, scn)) {
		GElf_Shdr sh, symsh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		Elf_Scn *symscn = elf_getscn(elf, sh.sh_link);
		Elf_Data *rela = elf_getdata(scn, NULL), *syms = symscn ? elf_getdata(symscn, NULL) : NULL;
		if (!rela || !syms || !gelf_getshdr(symscn, &symsh))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			if (!gelf_getrela(rela, (int)i, &r))
				break;
			unsigned type = (unsigned)GELF_R_TYPE(r.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
				continue;
			const char *sn = elf_strptr(elf, symsh.sh_link, sym.st_name);
			if (sn && !strcmp(sn, name))
				return r.r_offset + bias;
		}
	}
	return 0;
}

/* The dynamic linker's first link_map (the executable's, then LD_PRELOAD's,
 * then the needed libraries breadth first: its search order for the global
 * scope), through the executable's DT_DEBUG, else ld.so's _r_debug. */
static uint64_t first_link_map(struct session *s, Dwfl_Module *exe)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(exe, &bias);
	size_t nph;
	uint64_t r_debug = 0, map = 0;
	if (elf && elf_getphdrnum(elf, &nph) == 0)
		for (size_t i = 0; i < nph && !r_debug; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_DYNAMIC)
				continue;
			Elf64_Dyn d[64];
			size_t n = target_read(s->target, ph.p_vaddr + bias, d, sizeof(d)) / sizeof(d[0]);
			for (size_t k = 0; k < n && d[k].d_tag != DT_NULL; k++)
				if (d[k].d_tag == DT_DEBUG)
					r_debug = d[k].d_un.d_val;
		}
	if (!r_debug && !symbols_lookup(s->symbols, "_r_debug", "ld-linux", &r_debug, NULL))
		return 0;
	/* struct r_debug { int r_version; struct link_map *r_map; ... } */
	return target_read_u64(s->target, r_debug + 8, &map) ? map : 0;
}

enum { MAX_LINK_MAPS = 4096 };

static bool search_order(struct session *s, Dwfl_Module *exe, const char *name, uint64_t *addr)
{
	Dwfl *dwfl = symbols_dwfl(s->symbols);
	uint64_t lm = first_link_map(s, exe);
	/* struct link_map { l_addr; char *l_name; ElfW(Dyn) *l_ld; l_next, l_prev; } */
	for (int i = 0; lm && i < MAX_LINK_MAPS; i++) {
		uint64_t ld, next;
		if (!target_read_u64(s->target, lm + 16, &ld) || !target_read_u64(s->target, lm + 24, &next))
			return false;
		Dwfl_Module *mod = ld ? dwfl_addrmodule(dwfl, ld) : NULL;
		if (mod && module_defines(mod, name, true, addr))
			return true;
		lm = next;
	}
	return false;
}

bool plugin_binding(struct session *s, const char *name, uint64_t *addr, const char **how)
{
	Dwfl_Module *exe = exe_module(s);
	if (!exe)
		return false;
	uint64_t slot = got_slot(exe, name), value, own;
	if (slot && target_read_u64(s->target, slot, &value) && value) {
		/* Not yet bound (lazy binding), the slot points back into the
		 * executable's PLT, unless the executable defines name itself. */
		bool in_exe = dwfl_addrmodule(symbols_dwfl(s->symbols), value) == exe;
		if (!in_exe || (module_defines(exe, name, false, &own) && own == value)) {
			*addr = value;
			*how = "the executable's GOT";
			return true;
		}
	}
	if (search_order(s, exe, name, addr)) {
		*how = "the dynamic linker's search order";
		return true;
	}
	/* No dynamic linker: a static executable calls its own. */
	if (!first_link_map(s, exe) && module_defines(exe, name, false, addr)) {
		*how = "the executable's own definition (linked statically)";
		return true;
	}
	return false;
}

static bool host_binding(struct strand_host *h, const char *name, uint64_t *addr)
{
	const char *how;
	return plugin_binding(h->s, name, addr, &how);
}

/* ---- The target's environment ---- */

enum { MAX_ENVIRON = 4096, MAX_ENV_BYTES = 4096 };

/* var is "name=value": copy the value. */
static bool env_match(const char *var, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);
	if (strncmp(var, name, nl) || var[nl] != '=')
		return false;
	snprintf(buf, len, "%s", var + nl + 1);
	return true;
}

/* libc's environ: what the process sees now, live or in a core. 1 found, 0
 * not set, -1 unknown. */
static int environ_lookup(struct session *s, const char *name, char *buf, size_t len)
{
	uint64_t environ, envp;
	if (!symbols_lookup(s->symbols, "__environ", "libc.so", &environ, NULL) ||
	    !target_read_u64(s->target, environ, &envp) || !envp)
		return -1;
	for (int i = 0; i < MAX_ENVIRON; i++) {
		uint64_t p;
		if (!target_read_u64(s->target, envp + 8 * (uint64_t)i, &p))
			return -1;
		if (!p)
			return 0;
		char *var = target_read_string(s->target, p, MAX_ENV_BYTES);
		bool match = var && env_match(var, name, buf, len);
		free(var);
		if (match)
			return 1;
	}
	return 0;
}

static bool host_environment(struct strand_host *h, const char *name, char *buf, size_t len)
{
	struct session *s = h->s;
	int found = environ_lookup(s, name, buf, len);
	if (found >= 0 || s->target->kind != TARGET_LIVE)
		return found > 0;
	size_t n;
	char *env = read_procf(&n, "/proc/%d/environ", (int)s->target->pid);
	bool match = false;
	for (size_t i = 0; env && i < n && !match; i += strlen(env + i) + 1)
		match = env_match(env + i, name, buf, len);
	free(env);
	return match;
}

static uint64_t host_static_tls_size(struct strand_host *h)
{
	return symbols_static_tls_size(h->s->symbols);
}

/* ---- The target's DWARF by name (ABI 6): the executable's first ---- */

static bool host_type_member(struct strand_host *h, const char *type, const char *member, uint64_t *offset,
			     uint64_t *size)
{
	return dwarf_names_member(symbols_dwfl(h->s->symbols), exe_module(h->s), type, member, offset, size);
}

static bool host_constant(struct strand_host *h, const char *name, int64_t *value)
{
	return dwarf_names_constant(symbols_dwfl(h->s->symbols), exe_module(h->s), name, value);
}

static bool host_variable(struct strand_host *h, const char *name, uint64_t *addr, uint64_t *size)
{
	return dwarf_names_variable(symbols_dwfl(h->s->symbols), exe_module(h->s), name, addr, size) ||
	       symbols_lookup(h->s->symbols, name, NULL, addr, size);
}

static bool host_monotonic_now(struct strand_host *h, int64_t *ns)
{
	struct timespec ts;
	if (h->s->target->kind != TARGET_LIVE || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return false;
	*ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return true;
}

static void host_fail(struct strand_host *h, const char *fmt, ...)
{
	(void)h;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	error_set("%s", msg);
	free(msg);
}

static const struct strand_host_api host_api = {
	.abi = STRAND_PLUGIN_ABI,
	.read = host_read,
	.lookup_symbol = host_lookup_symbol,
	.symbolize = host_symbolize,
	.find_module = host_find_module,
	.mapping_count = host_mapping_count,
	.mapping = host_mapping,
	.thread_count = host_thread_count,
	.thread = host_thread,
	.auxv = host_auxv,
	.option = host_option,
	.warn = host_warn,
	.evidence = host_evidence,
	.module_at = host_module_at,
	.binding = host_binding,
	.environment = host_environment,
	.static_tls_size = host_static_tls_size,
	.type_member = host_type_member,
	.constant = host_constant,
	.variable = host_variable,
	.monotonic_now = host_monotonic_now,
	.fail = host_fail,
};

static void add_plugin(const struct strand_plugin *p, const char *path, void *handle)
{
	GROW(plugins, cap, nplugins + 1);
	plugins[nplugins++] = (struct loaded_plugin){ p, path ? xstrdup(path) : NULL, handle };
}

static void load_builtins(void)
{
	if (builtins_loaded)
		return;
	builtins_loaded = true;
	add_plugin(strand_glibc_malloc_init(&host_api), NULL, NULL);
	add_plugin(strand_glibc_nptl_init(&host_api), NULL, NULL);
	add_plugin(strand_go_runtime_init(&host_api), NULL, NULL);
	for (const struct strand_plugin *const *p = strand_detection_plugins_init(&host_api); *p; p++)
		add_plugin(*p, NULL, NULL);
}

int plugin_load(const char *path)
{
	load_builtins();
	/* dlopen would wait forever on a FIFO. A name without a slash is not a
	 * file here: dlopen looks for it in the library path. */
	if (strchr(path, '/') && check_user_file(path, "a plugin") < 0)
		return error_set("cannot load plugin %s", error_get());
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return error_set("cannot load plugin %s: %s", path, dlerror());
	strand_plugin_init_fn init = (strand_plugin_init_fn)(uintptr_t)dlsym(handle, "strand_plugin_init");
	const struct strand_plugin *p = init ? init(&host_api) : NULL;
	if (!p || p->abi != STRAND_PLUGIN_ABI) {
		dlclose(handle);
		return error_set("%s: %s", path, !init ? "not a strand plugin (no strand_plugin_init)"
						       : "the plugin does not support this strand (plugin ABI mismatch)");
	}
	add_plugin(p, path, handle);
	return 0;
}

const struct loaded_plugin *plugin_list(size_t *n)
{
	load_builtins();
	*n = nplugins;
	return plugins;
}

struct strand_host *plugin_host(struct session *s)
{
	host.s = s;
	return &host;
}

/* Ask one plugin's detect, keeping what it says as evidence. */
static int detect(struct session *s, int (*fn)(struct strand_host *), char **evidence)
{
	struct strand_host *h = plugin_host(s);
	free(h->evidence);
	h->evidence = NULL;
	int c = fn(h);
	*evidence = h->evidence;
	h->evidence = NULL;
	return c < 0 ? 0 : c > 100 ? 100 : c;
}

int plugin_detect_runtime(struct session *s, const struct strand_plugin *p, char **evidence)
{
	return detect(s, p->runtime->detect, evidence);
}

/* Detection looks symbols up by name and may read the executable, which is
 * slow: once per target and set of plugins is enough. A forked child inspected
 * by `strand run` is another target with another PID. */
struct detection_key {
	const struct symbols *symbols;
	pid_t pid;
	size_t nplugins;
};

static bool same_target(struct detection_key *k, struct session *s)
{
	struct detection_key now = { s->symbols, s->target ? s->target->pid : 0, nplugins };
	bool same = k->symbols == now.symbols && k->pid == now.pid && k->nplugins == now.nplugins;
	*k = now;
	return same;
}

static struct {
	struct detection_key key;
	struct plugin_detection *v;
	size_t n;
} allocators;

static void forget_allocators(void)
{
	for (size_t i = 0; i < allocators.n; i++)
		free(allocators.v[i].evidence);
	free(allocators.v);
	allocators.v = NULL;
	allocators.n = 0;
}

const struct plugin_detection *plugin_detections(struct session *s, size_t *n)
{
	load_builtins();
	if (!same_target(&allocators.key, s)) {
		forget_allocators();
		allocators.v = xcalloc(nplugins + 1, sizeof(*allocators.v));
		for (size_t i = 0; i < nplugins; i++) {
			const struct strand_plugin *p = plugins[i].p;
			if (!p->allocator)
				continue;
			struct plugin_detection *d = &allocators.v[allocators.n++];
			d->p = p;
			d->confidence = detect(s, p->allocator->detect, &d->evidence);
		}
	}
	*n = allocators.n;
	return allocators.v;
}

const struct plugin_detection *plugin_allocator(struct session *s)
{
	size_t n;
	const struct plugin_detection *d = plugin_detections(s, &n), *best = NULL;
	/* Ties go to the plugin loaded last: a user's plugin overrides a built-in. */
	for (size_t i = 0; i < n; i++)
		if (d[i].confidence > 0 && (!best || d[i].confidence >= best->confidence))
			best = &d[i];
	return best;
}

bool plugin_left_out(const struct plugin_detection *d, const struct plugin_detection *use)
{
	const struct strand_allocator *a = d->p->allocator;
	return d != use && !a->walk && d->confidence > 0 && strcmp(a->name, use->p->allocator->name) != 0;
}

/* The runtime plugin of the kind asked (thread runtimes, or those that list
 * goroutines) whose detection is highest; ties go to the one loaded last. */
static const struct loaded_plugin *best_runtime(struct session *s, bool goroutines)
{
	const struct loaded_plugin *best = NULL;
	int best_conf = 0;
	for (size_t i = 0; i < nplugins; i++) {
		const struct strand_runtime *rt = plugins[i].p->runtime;
		if (!rt || (goroutines ? !rt->goroutines : !rt->threads))
			continue;
		char *evidence;
		int c = plugin_detect_runtime(s, plugins[i].p, &evidence);
		free(evidence);
		if (c > 0 && c >= best_conf) {
			best = &plugins[i];
			best_conf = c;
		}
	}
	return best;
}

/* The runtime that fits the target best, as a thread runtime or as one that
 * schedules goroutines, detected once per target. */
static const struct loaded_plugin *cached_runtime(struct session *s, bool goroutines)
{
	static struct {
		struct detection_key key;
		const struct loaded_plugin *best;
	} cache[2];
	load_builtins();
	if (!same_target(&cache[goroutines].key, s))
		cache[goroutines].best = best_runtime(s, goroutines);
	return cache[goroutines].best;
}

const struct loaded_plugin *plugin_runtime(struct session *s)
{
	return cached_runtime(s, false);
}

const struct loaded_plugin *plugin_goroutine_runtime(struct session *s)
{
	return cached_runtime(s, true);
}

bool plugin_heap_region(struct session *s, uint64_t addr, uint64_t *start, const char **what)
{
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	return rt && rt->p->runtime->heap_region && rt->p->runtime->heap_region(plugin_host(s), addr, start, what);
}

void plugin_thread_info(struct session *s, size_t i, struct strand_thread_info *out)
{
	host_thread(plugin_host(s), i, out);
}

static void match_descriptor(void *ctx, const struct strand_thread_desc *d)
{
	struct target *t = ctx;
	struct thread *th = d->tid ? target_thread_by_tid(t, d->tid) : NULL;
	if (th && !th->thread_pointer)
		th->thread_pointer = d->descriptor;
}

void plugin_find_thread_pointers(struct session *s)
{
	struct target *t = s->target;
	bool missing = false;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = &t->threads[i];
		th->thread_pointer = th->regs_state == REGS_FULL ? th->regs.fs_base : 0;
		missing |= !th->thread_pointer;
	}
	const struct loaded_plugin *rt = missing ? plugin_runtime(s) : NULL;
	if (rt)
		rt->p->runtime->threads(plugin_host(s), match_descriptor, t);
}

void plugins_unload(void)
{
	for (size_t i = 0; i < nplugins; i++) {
		free(plugins[i].path);
		if (plugins[i].handle)
			dlclose(plugins[i].handle);
	}
	free(plugins);
	plugins = NULL;
	nplugins = cap = 0;
	builtins_loaded = false;
	forget_allocators();
	free(host.evidence);
	host.evidence = NULL;
}
