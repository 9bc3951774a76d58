#include "plugin.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "util.h"

const struct strand_plugin *strand_glibc_malloc_init(const struct strand_host_api *host);
const struct strand_plugin *strand_glibc_nptl_init(const struct strand_host_api *host);

struct strand_host {
	struct session *s;
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

/* A plugin's confidence that it fits the target, as an allocator or as a
 * thread runtime; 0 when it is not that kind of plugin. */
static int allocator_confidence(const struct strand_plugin *p, struct strand_host *h)
{
	return p->allocator ? p->allocator->detect(h) : 0;
}

static int runtime_confidence(const struct strand_plugin *p, struct strand_host *h)
{
	return p->runtime ? p->runtime->detect(h) : 0;
}

static const struct loaded_plugin *best_plugin(struct session *s,
					       int (*confidence_of)(const struct strand_plugin *, struct strand_host *),
					       int *confidence)
{
	load_builtins();
	const struct loaded_plugin *best = NULL;
	int best_conf = 0;
	for (size_t i = 0; i < nplugins; i++) {
		int c = confidence_of(plugins[i].p, plugin_host(s));
		/* Ties go to the plugin loaded last: a user's plugin overrides a built-in. */
		if (c > 0 && c >= best_conf) {
			best = &plugins[i];
			best_conf = c;
		}
	}
	*confidence = best_conf;
	return best;
}

const struct loaded_plugin *plugin_allocator(struct session *s, int *confidence)
{
	return best_plugin(s, allocator_confidence, confidence);
}

/* Detection looks symbols up by name, which is slow: once per target and
 * set of plugins is enough. */
const struct loaded_plugin *plugin_runtime(struct session *s)
{
	static struct {
		const struct symbols *symbols;
		size_t nplugins;
		const struct loaded_plugin *best;
	} cache;
	load_builtins();
	if (cache.symbols != s->symbols || cache.nplugins != nplugins) {
		int confidence;
		cache.best = best_plugin(s, runtime_confidence, &confidence);
		cache.symbols = s->symbols;
		cache.nplugins = nplugins;
	}
	return cache.best;
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
}
