/* The Go runtime as a strand runtime plugin: the goroutines of a Go program
 * (live or in a core), from the runtime's own list (runtime.allgs), with the
 * state and wait reason its traceback prints, where each parked one resumes
 * (g.sched), the OS thread of a running one, and what started it.
 *
 * Every offset, constant and string comes from the target's DWARF through the
 * host (type_member, constant, variable): runtime.g's layout, the _G* status
 * values and the waitReasonStrings table differ between Go releases, and the
 * program carries its own. A program without DWARF (-ldflags=-w) has them from
 * strand's table for its release (go_versions.c), with a warning of what that
 * cannot give; a release the table does not know is refused with what is
 * missing. Facts: ../shared/reference/go-runtime.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "go_versions.h"
#include "strand_plugin.h"

#define MAX_GOROUTINES 10000000
#define MINUTE_NS 60000000000LL

static const struct strand_host_api *api;

/* runtime.g's members the plugin reads, and runtime.m's procid. */
enum g_field {
	F_STACK_LO, F_STACK_HI, F_M, F_SCHED_SP, F_SCHED_PC, F_SCHED_BP, F_SYSCALL_SP, F_SYSCALL_PC,
	F_STATUS, F_GOID, F_WAITSINCE, F_WAITREASON, F_LOCKEDM, F_GOPC, F_STARTPC, F_PARENT, NFIELDS
};

static const struct {
	const char *path[2]; /* the member's names, newest layout first */
	bool optional;
} g_fields[NFIELDS] = {
	[F_STACK_LO] = { .path = { "stack.lo" } },
	[F_STACK_HI] = { .path = { "stack.hi" } },
	[F_M] = { .path = { "m" } },
	[F_SCHED_SP] = { .path = { "sched.sp" } },
	[F_SCHED_PC] = { .path = { "sched.pc" } },
	[F_SCHED_BP] = { .path = { "sched.bp" } },
	[F_SYSCALL_SP] = { .path = { "syscallsp" } },
	[F_SYSCALL_PC] = { .path = { "syscallpc" } },
	[F_STATUS] = { .path = { "atomicstatus.value", "atomicstatus" } }, /* atomic.Uint32 from Go 1.20 */
	[F_GOID] = { .path = { "goid" } },
	[F_WAITSINCE] = { .path = { "waitsince" } },
	[F_WAITREASON] = { .path = { "waitreason" } },
	[F_LOCKEDM] = { .path = { "lockedm" } },
	[F_GOPC] = { .path = { "gopc" } },
	[F_STARTPC] = { .path = { "startpc" } },
	[F_PARENT] = { .path = { "parentGoid" }, .optional = true }, /* Go 1.21 */
};

/* The runtime's status values by the enum strand shows. */
static const char *const status_names[] = {
	[STRAND_G_IDLE] = "runtime._Gidle",         [STRAND_G_RUNNABLE] = "runtime._Grunnable",
	[STRAND_G_RUNNING] = "runtime._Grunning",   [STRAND_G_SYSCALL] = "runtime._Gsyscall",
	[STRAND_G_WAITING] = "runtime._Gwaiting",   [STRAND_G_DEAD] = "runtime._Gdead",
	[STRAND_G_COPYSTACK] = "runtime._Gcopystack", [STRAND_G_PREEMPTED] = "runtime._Gpreempted",
};
#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))

struct layout {
	struct {
		uint64_t offset, size;
		bool present;
	} f[NFIELDS];
	uint64_t g_size, procid;
	int64_t status_value[NSTATUS];
	bool status_known[NSTATUS];
	int64_t scan_bit;
	uint64_t allgs, reasons, reasons_size, status_strings, status_strings_size;
};

struct go_state {
	struct strand_goroutine g;
	char state[64];
};

static bool rd(struct strand_host *h, uint64_t addr, void *buf, size_t len)
{
	return api->read(h, addr, buf, len) == len;
}

static uint64_t field(const struct layout *l, const unsigned char *g, int i)
{
	uint64_t v = 0;
	if (l->f[i].present && l->f[i].size <= 8)
		memcpy(&v, g + l->f[i].offset, l->f[i].size); /* little endian */
	return v;
}

/* runtime.buildVersion ("go1.19.13", "version unknown" when unreadable). */
static void build_version(struct strand_host *h, char *out, size_t len)
{
	uint64_t addr, size, str[2];
	snprintf(out, len, "version unknown");
	if (api->variable(h, "runtime.buildVersion", &addr, &size) && rd(h, addr, str, sizeof(str)) && str[1] &&
	    str[1] < len && rd(h, str[0], out, (size_t)str[1]))
		out[str[1]] = '\0';
}

static bool has_dwarf(struct strand_host *h)
{
	uint64_t off, size;
	return api->type_member(h, "runtime.g", NULL, &off, &size);
}

/* Where the program has no DWARF: strand's table for its release, NULL when
 * it has DWARF or the table does not know the release. */
static const struct go_release_layout *table_layout(struct strand_host *h)
{
	char version[32];
	if (has_dwarf(h))
		return NULL;
	build_version(h, version, sizeof(version));
	return go_release_layout(version);
}

/* Every layout fact the plugin reads goes through these two: the program's
 * DWARF, else strand's table for its release. */
static bool go_member(struct strand_host *h, const char *type, const char *path, uint64_t *offset, uint64_t *size)
{
	const struct go_release_layout *r;
	return api->type_member(h, type, path, offset, size) ||
	       ((r = table_layout(h)) && go_layout_member(r, type, path, offset, size));
}

static bool go_constant(struct strand_host *h, const char *name, int64_t *value)
{
	const struct go_release_layout *r;
	return api->constant(h, name, value) || ((r = table_layout(h)) && go_layout_constant(r, name, value));
}

/* What the table cannot give: strand reads line tables, inlining and Go's
 * types only from DWARF (Go's own pclntab, which has lines and inlining for
 * its tracebacks, is not read). */
static const char table_limits[] =
	"frames have no file:line and no inlined calls, and Go variables cannot be printed (x reads their memory)";

static bool read_layout(struct strand_host *h, struct layout *l)
{
	uint64_t off, size;
	memset(l, 0, sizeof(*l));
	if (!go_member(h, "runtime.g", NULL, &off, &l->g_size)) {
		char version[32];
		build_version(h, version, sizeof(version));
		api->fail(h, "the program (%s) has no DWARF (built with -ldflags=-w?) and strand's table of the Go "
			     "runtime's layout knows only %s, so its goroutines cannot be read",
			  version, go_known_releases());
		return false;
	}
	for (int i = 0; i < NFIELDS; i++) {
		for (int k = 0; k < 2 && g_fields[i].path[k] && !l->f[i].present; k++)
			l->f[i].present = go_member(h, "runtime.g", g_fields[i].path[k], &l->f[i].offset, &l->f[i].size);
		if (!l->f[i].present && !g_fields[i].optional) {
			api->fail(h, "the program's runtime.g has no member %s: a Go runtime this plugin does not know",
				  g_fields[i].path[0]);
			return false;
		}
	}
	if (!go_member(h, "runtime.m", "procid", &l->procid, &size)) {
		api->fail(h, "the program's DWARF does not describe runtime.m's procid");
		return false;
	}
	for (size_t i = 0; i < NSTATUS; i++)
		l->status_known[i] = go_constant(h, status_names[i], &l->status_value[i]);
	if (!go_constant(h, "runtime._Gscan", &l->scan_bit) || !l->status_known[STRAND_G_DEAD]) {
		api->fail(h, "the program's DWARF has no runtime._Gscan or runtime._Gdead constant");
		return false;
	}
	if (!api->variable(h, "runtime.allgs", &l->allgs, &size)) {
		api->fail(h, "the program has no runtime.allgs: the Go runtime's list of goroutines is not found");
		return false;
	}
	if (!api->variable(h, "runtime.waitReasonStrings", &l->reasons, &l->reasons_size))
		l->reasons_size = 0;
	if (!api->variable(h, "runtime.gStatusStrings", &l->status_strings, &l->status_strings_size))
		l->status_strings_size = 0;
	return true;
}

/* Element i of a [N]string global, into out. */
static bool string_at(struct strand_host *h, uint64_t array, uint64_t array_size, uint64_t i, char *out, size_t len)
{
	uint64_t s[2];
	if (16 * (i + 1) > array_size || !rd(h, array + 16 * i, s, sizeof(s)) || s[1] == 0 || s[1] >= len ||
	    !rd(h, s[0], out, (size_t)s[1]))
		return false;
	out[s[1]] = '\0';
	return true;
}

/* The state as goroutineheader prints it: the wait reason of a waiting
 * goroutine that has one, else the status's name ("???" unknown). */
static void state_text(struct strand_host *h, const struct layout *l, uint64_t status, int kind, uint64_t reason,
		       char *out, size_t len)
{
	if (kind == STRAND_G_WAITING && reason != 0 && string_at(h, l->reasons, l->reasons_size, reason, out, len))
		return;
	if (!string_at(h, l->status_strings, l->status_strings_size, status, out, len))
		snprintf(out, len, "???");
}

static int status_kind(const struct layout *l, uint64_t status)
{
	for (size_t i = 0; i < NSTATUS; i++)
		if (l->status_known[i] && (uint64_t)l->status_value[i] == status)
			return (int)i;
	return STRAND_G_OTHER;
}

/* isSystemGoroutine (traceback.go): started in a runtime.* function other
 * than runtime.main, or the finalizer goroutine while it is not running a
 * finalizer. */
static bool is_system(struct strand_host *h, uint64_t start_pc)
{
	uint64_t offset, addr, size;
	const char *name = api->symbolize(h, start_pc, &offset);
	if (!name || strncmp(name, "runtime.", 8) != 0 || !strcmp(name, "runtime.main"))
		return false;
	if (!strcmp(name, "runtime.runfinq")) {
		unsigned char running = 0;
		return !(api->variable(h, "runtime.fingRunning", &addr, &size) && rd(h, addr, &running, 1) && running);
	}
	return true;
}

/* The runtime's clock now: the host's (live), else the latest time the
 * runtime recorded (a core keeps no clock): the last network poll and the
 * waits' starts. */
static int64_t runtime_now(struct strand_host *h, const struct go_state *v, size_t n)
{
	int64_t now = 0;
	if (api->monotonic_now(h, &now))
		return now;
	uint64_t sched, size, off, fsize;
	int64_t lastpoll;
	if (api->variable(h, "runtime.sched", &sched, &size) &&
	    go_member(h, "runtime.schedt", "lastpoll", &off, &fsize) && fsize == 8 &&
	    rd(h, sched + off, &lastpoll, 8))
		now = lastpoll;
	for (size_t i = 0; i < n; i++)
		if (v[i].g.wait_since > now)
			now = v[i].g.wait_since;
	return now;
}

static bool read_goroutine(struct strand_host *h, const struct layout *l, uint64_t addr, unsigned char *buf,
			   struct go_state *out)
{
	if (!rd(h, addr, buf, (size_t)l->g_size))
		return false;
	uint64_t raw = field(l, buf, F_STATUS), status = raw & ~(uint64_t)l->scan_bit;
	int kind = status_kind(l, status);
	if (kind == STRAND_G_DEAD)
		return false;
	struct strand_goroutine *g = &out->g;
	memset(out, 0, sizeof(*out));
	g->id = field(l, buf, F_GOID);
	g->address = addr;
	g->status = kind;
	g->scan = raw & (uint64_t)l->scan_bit;
	state_text(h, l, status, kind, field(l, buf, F_WAITREASON), out->state, sizeof(out->state));
	g->state = out->state;
	if (kind == STRAND_G_WAITING || kind == STRAND_G_SYSCALL)
		g->wait_since = (int64_t)field(l, buf, F_WAITSINCE);
	g->wait_minutes = -1;
	g->locked_to_thread = field(l, buf, F_LOCKEDM) != 0;
	g->sched_sp = field(l, buf, F_SCHED_SP);
	g->sched_pc = field(l, buf, F_SCHED_PC);
	g->sched_bp = field(l, buf, F_SCHED_BP);
	g->syscall_sp = field(l, buf, F_SYSCALL_SP);
	g->syscall_pc = field(l, buf, F_SYSCALL_PC);
	g->stack_lo = field(l, buf, F_STACK_LO);
	g->stack_hi = field(l, buf, F_STACK_HI);
	uint64_t m = field(l, buf, F_M), procid = 0;
	if (m && (kind == STRAND_G_RUNNING || kind == STRAND_G_SYSCALL) && rd(h, m + l->procid, &procid, 8))
		g->tid = (int32_t)procid;
	g->creator_pc = field(l, buf, F_GOPC);
	g->start_pc = field(l, buf, F_STARTPC);
	g->parent_id = field(l, buf, F_PARENT);
	g->system = is_system(h, g->start_pc);
	return true;
}

static int go_goroutines(struct strand_host *h, void (*fn)(void *ctx, const struct strand_goroutine *g), void *ctx)
{
	struct layout l;
	uint64_t slice[2];
	if (!read_layout(h, &l))
		return -1;
	const struct go_release_layout *table = table_layout(h);
	if (table)
		api->warn(h, "no DWARF: the Go runtime's layout comes from strand's table for %s; %s", table->release,
			  table_limits);
	if (!rd(h, l.allgs, slice, sizeof(slice))) {
		api->fail(h, "runtime.allgs at 0x%llx is not readable", (unsigned long long)l.allgs);
		return -1;
	}
	if (slice[1] > MAX_GOROUTINES) {
		api->fail(h, "runtime.allgs says %llu goroutines: not a goroutine list", (unsigned long long)slice[1]);
		return -1;
	}
	size_t n = (size_t)slice[1], count = 0;
	uint64_t *gs = malloc(n * 8 + 8);
	struct go_state *v = malloc(n * sizeof(*v) + 1);
	unsigned char *buf = malloc((size_t)l.g_size);
	if (!gs || !v || !buf || (n && !rd(h, slice[0], gs, n * 8))) {
		api->fail(h, gs && v && buf ? "the array of runtime.allgs is not readable" : "out of memory");
		free(gs), free(v), free(buf);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (gs[i] && read_goroutine(h, &l, gs[i], buf, &v[count]))
			count++;
	int64_t now = runtime_now(h, v, count);
	for (size_t i = 0; i < count; i++) {
		struct strand_goroutine *g = &v[i].g;
		g->state = v[i].state;
		if (g->wait_since != 0 && now - g->wait_since >= MINUTE_NS)
			g->wait_minutes = (now - g->wait_since) / MINUTE_NS;
		fn(ctx, g);
	}
	free(gs), free(v), free(buf);
	return (int)count;
}

static int go_detect(struct strand_host *h)
{
	uint64_t addr, size;
	char version[32];
	if (!api->lookup_symbol(h, "runtime.allgs", NULL, &addr, &size))
		return 0;
	build_version(h, version, sizeof(version));
	if (!has_dwarf(h)) {
		const struct go_release_layout *r = go_release_layout(version);
		if (r)
			api->evidence(h, "a Go program (%s) without DWARF: goroutines from runtime.allgs, laid out as "
					 "strand's table for %s says; %s", version, r->release, table_limits);
		else
			api->evidence(h, "a Go program (%s) without DWARF: strand's table of the Go runtime's layout "
					 "knows only %s, so its goroutines cannot be read", version, go_known_releases());
		return 50;
	}
	api->evidence(h, "a Go program (%s): goroutines from runtime.allgs, laid out as its DWARF says", version);
	return 95;
}

/* Where arena indexes start on amd64 (runtime/malloc.go arenaBaseOffset: the
 * 48-bit address space's bottom half is indexed from 1<<47 on); Go writes no
 * DWARF constant for it. */
#define GO_ARENA_BASE_OFFSET 0xffff800000000000ull

/* An address of one of the heap's arenas: mheap_.arenas[L1][L2] names a
 * heapArena for it (runtime/mheap.go). */
static bool go_heap_region(struct strand_host *h, uint64_t addr, uint64_t *start, const char **what)
{
	uint64_t mheap, mheap_size, off, size, l2, ha;
	int64_t log_bytes, l1_bits, l2_bits;
	if (!api->lookup_symbol(h, "runtime.mheap_", NULL, &mheap, &mheap_size) ||
	    !go_member(h, "runtime.mheap", "arenas", &off, &size) ||
	    !go_constant(h, "runtime.logHeapArenaBytes", &log_bytes) ||
	    !go_constant(h, "runtime.arenaL1Bits", &l1_bits) || !go_constant(h, "runtime.arenaL2Bits", &l2_bits) ||
	    log_bytes <= 0 || l1_bits < 0 || l2_bits <= 0 || log_bytes + l1_bits + l2_bits > 64)
		return false;
	uint64_t index = (addr - GO_ARENA_BASE_OFFSET) >> log_bytes;
	uint64_t i1 = l1_bits ? index >> l2_bits : 0, i2 = index & ((1ull << l2_bits) - 1);
	if (log_bytes + l1_bits + l2_bits < 64 && index >> (l1_bits + l2_bits))
		return false;
	if ((i1 + 1) * 8 > size || !rd(h, mheap + off + i1 * 8, &l2, 8) || !l2 || !rd(h, l2 + i2 * 8, &ha, 8) || !ha)
		return false;
	*start = (index << log_bytes) + GO_ARENA_BASE_OFFSET;
	*what = "Go heap arena";
	return true;
}

static const struct strand_runtime go_runtime = {
	.name = "go-runtime",
	.detect = go_detect,
	.goroutines = go_goroutines,
	.heap_region = go_heap_region,
};

static const struct strand_plugin go_plugin = {
	.abi = STRAND_PLUGIN_ABI,
	.name = "go-runtime",
	.description = "the Go runtime's goroutines: state, wait reason, where each resumes, from the program's DWARF "
		       "(else strand's table for its Go release)",
	.runtime = &go_runtime,
};

const struct strand_plugin *strand_go_runtime_init(const struct strand_host_api *host)
{
	api = host;
	return &go_plugin;
}
