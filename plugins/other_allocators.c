/* Detection-only plugins: allocators strand cannot walk, named so that no
 * command mistakes a heap it did not see for a clean one. Each says how sure
 * it is that its allocator serves the target and why (host->evidence):
 *
 *  - malloc replacements (jemalloc, tcmalloc, mimalloc): loaded as a library
 *    or linked into a module, and whether the program's malloc resolves to
 *    them (100), the executable calls them directly (95), or they sit unused
 *    by malloc (40: their own API may still hold blocks);
 *  - sanitizer runtimes, whose allocator replaces malloc (100);
 *  - glibc's malloc linked into a static executable, which the glibc walker,
 *    built for libc.so.6, does not walk (90, as glibc's own detection);
 *  - heaps beside malloc's: Go's garbage-collected heap (80) and CPython's
 *    object arenas (60). They score below glibc's 90, so that the walker of
 *    malloc's allocator still runs and they are reported as not analysed.
 *
 * Built against plugins/strand_plugin.h alone, like an external plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strand_plugin.h"

#define AT_ENTRY_TYPE 9 /* <elf.h>'s AT_ENTRY */

enum {
	SERVES_MALLOC = 100,    /* malloc resolves to it */
	CALLED_DIRECTLY = 95,   /* linked into the executable, which calls it */
	BINDING_UNKNOWN = 95,   /* loaded; where malloc goes is not known */
	STATIC_GLIBC = 90,
	GO_HEAP = 80,
	PYMALLOC = 60,
	LOADED_UNUSED = 40,     /* loaded, but malloc resolves elsewhere */
};

/* Bytes of a module read when looking for a marker: code and data of the
 * biggest executables stay under it, and a damaged mapping list costs no more. */
#define MAX_SCAN (64ull << 20)
#define SCAN_CHUNK (64u << 10)

static const struct strand_host_api *api;

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path ? path : "?";
}

static bool executable(struct strand_host *h, struct strand_module_info *out)
{
	uint64_t entry;
	return api->auxv(h, AT_ENTRY_TYPE, &entry) && api->module_at(h, entry, out);
}

static bool same_module(const struct strand_module_info *a, const struct strand_module_info *b)
{
	return a->low == b->low && a->high == b->high;
}

/* Where the program's malloc resolves: true and its module when known. */
static bool malloc_module(struct strand_host *h, struct strand_module_info *out)
{
	uint64_t addr;
	return api->binding(h, "malloc", &addr) && api->module_at(h, addr, out);
}

/* The first of names that some module defines, and that module. */
static const char *find_symbol(struct strand_host *h, const char *const *names, struct strand_module_info *where)
{
	for (const char *const *n = names; n && *n; n++) {
		uint64_t addr, size;
		if (api->lookup_symbol(h, *n, NULL, &addr, &size) && api->module_at(h, addr, where))
			return *n;
	}
	return NULL;
}

/* The address of needle in the module's file-backed mappings (at a multiple
 * of align), 0 if absent. Chunks overlap by the needle's length. */
static uint64_t scan_module(struct strand_host *h, const struct strand_module_info *m, const void *needle,
			    size_t len, size_t align)
{
	static unsigned char buf[SCAN_CHUNK];
	uint64_t budget = MAX_SCAN;
	size_t n = api->mapping_count(h);
	for (size_t i = 0; i < n && budget; i++) {
		struct strand_mapping_info map;
		if (!api->mapping(h, i, &map) || map.start < m->low || map.start >= m->high || !map.path ||
		    !(map.perms & 1))
			continue;
		for (uint64_t at = map.start; at < map.end && budget;) {
			size_t want = map.end - at < SCAN_CHUNK ? (size_t)(map.end - at) : SCAN_CHUNK;
			size_t got = api->read(h, at, buf, want);
			budget -= budget < got ? budget : got;
			const unsigned char *p = buf;
			while (got >= len && (p = memmem(p, got - (size_t)(p - buf), needle, len))) {
				if ((at + (uint64_t)(p - buf)) % align == 0)
					return at + (uint64_t)(p - buf);
				p++;
			}
			if (got < want || got <= len)
				break; /* an unreadable page, or the end: nothing more of this mapping */
			at += got - len + 1;
		}
	}
	return 0;
}

/* ---- malloc replacements ---- */

struct replacement {
	const char *label;          /* "jemalloc" */
	const char *library;        /* a substring of its shared library's name */
	const char *symbols[4];     /* its own API, for a copy linked into a module */
	const char *marker;         /* a message in its code, for a stripped static link */
};

static int detect_replacement(struct strand_host *h, const struct replacement *r)
{
	struct strand_module_info where, exe, mal;
	char found[256];
	const char *sym;
	bool have_exe = executable(h, &exe);
	if (api->find_module(h, r->library, &where)) {
		snprintf(found, sizeof(found), "%s is loaded", base_name(where.path));
	} else if ((sym = find_symbol(h, r->symbols, &where))) {
		snprintf(found, sizeof(found), "%s is linked into %s (%s)", r->label, base_name(where.path), sym);
	} else if (have_exe && scan_module(h, &exe, r->marker, strlen(r->marker), 1)) {
		where = exe;
		snprintf(found, sizeof(found), "%s is linked into %s (its message \"%s\")", r->label,
			 base_name(exe.path), r->marker);
	} else {
		return 0;
	}
	char preload[512];
	bool preloaded = api->environment(h, "LD_PRELOAD", preload, sizeof(preload)) && strstr(preload, r->library);
	if (!malloc_module(h, &mal)) {
		api->evidence(h, "%s%s; where malloc resolves is not known", found, preloaded ? " (LD_PRELOAD)" : "");
		return BINDING_UNKNOWN;
	}
	if (same_module(&mal, &where)) {
		api->evidence(h, "%s%s and malloc resolves to it", found, preloaded ? " (LD_PRELOAD)" : "");
		return SERVES_MALLOC;
	}
	if (have_exe && same_module(&where, &exe)) {
		api->evidence(h, "%s, which calls it directly; malloc itself resolves to %s", found, base_name(mal.path));
		return CALLED_DIRECTLY;
	}
	api->evidence(h, "%s, but malloc resolves to %s: only blocks from %s's own API would be there", found,
		      base_name(mal.path), r->label);
	return LOADED_UNUSED;
}

static const struct replacement jemalloc = {
	"jemalloc", "libjemalloc", { "je_malloc", "je_mallctl", "mallctl", NULL }, "<jemalloc>: ",
};
static const struct replacement tcmalloc = {
	"tcmalloc", "libtcmalloc", { "tc_malloc", "tc_version", NULL }, "tcmalloc: allocation failed",
};
static const struct replacement mimalloc = {
	"mimalloc", "libmimalloc", { "mi_malloc", "mi_version", NULL }, "mimalloc: warning: ",
};

static int jemalloc_detect(struct strand_host *h) { return detect_replacement(h, &jemalloc); }
static int tcmalloc_detect(struct strand_host *h) { return detect_replacement(h, &tcmalloc); }
static int mimalloc_detect(struct strand_host *h) { return detect_replacement(h, &mimalloc); }

/* ---- sanitizer runtimes ---- */

static int sanitizer_detect(struct strand_host *h)
{
	static const struct {
		const char *init, *name;
	} runtimes[] = {
		{ "__asan_init", "AddressSanitizer" },   { "__hwasan_init", "HWAddressSanitizer" },
		{ "__tsan_init", "ThreadSanitizer" },    { "__msan_init", "MemorySanitizer" },
		{ "__lsan_init", "LeakSanitizer" },
	};
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		const char *names[] = { runtimes[i].init, NULL };
		struct strand_module_info where, mal;
		if (!find_symbol(h, names, &where))
			continue;
		bool bound = malloc_module(h, &mal) && same_module(&mal, &where);
		api->evidence(h, "%s has %s's runtime (%s)%s", base_name(where.path), runtimes[i].name, runtimes[i].init,
			      bound ? " and malloc resolves to it" : ", whose allocator replaces malloc");
		return SERVES_MALLOC;
	}
	return 0;
}

/* ---- glibc linked statically ---- */

static int static_glibc_detect(struct strand_host *h)
{
	static const char *const names[] = { "main_arena", "__libc_malloc", NULL };
	static const char marker[] = "malloc(): corrupted top size";
	struct strand_module_info libc, exe;
	const char *sym;
	if (api->find_module(h, "libc.so.6", &libc) || !executable(h, &exe))
		return 0;
	if ((sym = find_symbol(h, names, &exe)))
		api->evidence(h, "%s has glibc's malloc linked in statically (%s); the glibc walker reads libc.so.6",
			      base_name(exe.path), sym);
	else if (scan_module(h, &exe, marker, sizeof(marker) - 1, 1))
		api->evidence(h, "%s has glibc's malloc linked in statically (its message \"%s\"); the glibc walker "
				 "reads libc.so.6", base_name(exe.path), marker);
	else
		return 0;
	return STATIC_GLIBC;
}

/* ---- Go ---- */

static const char go_magic[] = "\xff Go buildinf:";

/* The Go version the binary was built with, from runtime.buildVersion or
 * the build information's inline string (Go 1.18 and later). */
static void go_version(struct strand_host *h, uint64_t buildinfo, char *out, size_t len)
{
	uint64_t addr, size, str[2] = { 0, 0 };
	unsigned char b[64];
	size_t n = 0;
	snprintf(out, len, "version unknown");
	if (api->lookup_symbol(h, "runtime.buildVersion", NULL, &addr, &size) &&
	    api->read(h, addr, str, sizeof(str)) == sizeof(str) && str[1] && str[1] < len) {
		n = api->read(h, str[0], out, (size_t)str[1]);
		out[n] = '\0';
	} else if (buildinfo && api->read(h, buildinfo, b, sizeof(b)) == sizeof(b) && (b[15] & 2) && b[32] < 31 &&
		   b[32] < len) {
		memcpy(out, b + 33, b[32]);
		out[b[32]] = '\0';
	}
}

static int go_detect(struct strand_host *h)
{
	static const char *const names[] = { "runtime.mallocgc", NULL };
	struct strand_module_info where;
	uint64_t buildinfo = 0;
	if (!find_symbol(h, names, &where)) {
		if (!executable(h, &where) || !(buildinfo = scan_module(h, &where, go_magic, sizeof(go_magic) - 1, 16)))
			return 0;
	}
	char version[32];
	go_version(h, buildinfo, version, sizeof(version));
	api->evidence(h, "%s is a Go program (%s): Go's objects live in its garbage-collected heap",
		      base_name(where.path), version);
	return GO_HEAP;
}

/* ---- CPython ---- */

static int pymalloc_detect(struct strand_host *h)
{
	static const char *const names[] = { "PyObject_Malloc", NULL };
	struct strand_module_info where;
	if (!find_symbol(h, names, &where))
		return 0;
	char version[32] = "CPython", setting[64];
	uint64_t addr, size;
	uint32_t hex;
	if (api->lookup_symbol(h, "Py_Version", NULL, &addr, &size) && api->read(h, addr, &hex, 4) == 4)
		snprintf(version, sizeof(version), "CPython %u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
	bool set = api->environment(h, "PYTHONMALLOC", setting, sizeof(setting));
	if (set && (!strcmp(setting, "malloc") || !strcmp(setting, "malloc_debug"))) {
		api->evidence(h, "%s has %s, but PYTHONMALLOC=%s: its objects are malloc's blocks", base_name(where.path),
			      version, setting);
		return 0;
	}
	api->evidence(h, "%s has %s's object allocator (PyObject_Malloc%s%s): Python's small objects live in "
			 "pymalloc's arenas, not in malloc's blocks", base_name(where.path), version,
		      set ? ", PYTHONMALLOC=" : "", set ? setting : "");
	return PYMALLOC;
}

/* ---- the plugins ---- */

#define DETECTION_ONLY(var, plugin_name, detect_fn, text)                                           \
	static const struct strand_allocator var##_allocator = { plugin_name, detect_fn, NULL };    \
	static const struct strand_plugin var##_plugin = { STRAND_PLUGIN_ABI, plugin_name, text,    \
							    &var##_allocator, NULL }

DETECTION_ONLY(jemalloc, "jemalloc", jemalloc_detect, "jemalloc (detection only)");
DETECTION_ONLY(tcmalloc, "tcmalloc", tcmalloc_detect, "gperftools tcmalloc (detection only)");
DETECTION_ONLY(mimalloc, "mimalloc", mimalloc_detect, "mimalloc (detection only)");
DETECTION_ONLY(sanitizer, "sanitizer-allocator", sanitizer_detect,
	       "a sanitizer runtime's allocator: ASan, HWASan, TSan, MSan, LSan (detection only)");
DETECTION_ONLY(static_glibc, "glibc-malloc-static", static_glibc_detect,
	       "glibc malloc linked into a static executable (detection only)");
DETECTION_ONLY(go, "go-heap", go_detect, "Go's garbage-collected heap, beside malloc's (detection only)");
DETECTION_ONLY(pymalloc, "cpython-pymalloc", pymalloc_detect,
	       "CPython's object arenas (pymalloc), over malloc (detection only)");

static const struct strand_plugin *const detection_plugins[] = {
	&jemalloc_plugin, &tcmalloc_plugin, &mimalloc_plugin, &sanitizer_plugin,
	&static_glibc_plugin, &go_plugin, &pymalloc_plugin, NULL,
};

const struct strand_plugin *const *strand_detection_plugins_init(const struct strand_host_api *host)
{
	static const struct strand_plugin *const none[] = { NULL };
	if (host->abi != STRAND_PLUGIN_ABI)
		return none;
	api = host;
	return detection_plugins;
}
