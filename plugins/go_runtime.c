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
#include <stdint.h>
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

/* Goroutines asleep on a semaphore (sync.Mutex, WaitGroup, ...) wait in the
 * runtime's semtable: per root a treap of sudogs by address (children prev
 * and next), each with the other waiters on its address through waitlink.
 * Read once per listing of the goroutines, then looked up by g. */
struct sema_waiter {
	uint64_t g, sema, sudog;
};

static struct {
	struct sema_waiter *v;
	size_t n;
	bool read;
} sema_cache;

static void chan_cache_reset(void);

/* A new listing: the target may have changed since the last one. */
static void caches_reset(void)
{
	free(sema_cache.v);
	memset(&sema_cache, 0, sizeof(sema_cache));
	chan_cache_reset();
}

static int go_goroutines(struct strand_host *h, void (*fn)(void *ctx, const struct strand_goroutine *g), void *ctx)
{
	struct layout l;
	uint64_t slice[2];
	caches_reset();
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

/* ---- Channels, and what a goroutine waits on (ABI 7) ---- */

/* The members the channel code reads, by type, from the DWARF. */
enum chan_field {
	C_QCOUNT, C_DATAQSIZ, C_ELEMSIZE, C_CLOSED, C_ELEMTYPE, C_RECVQ, C_SENDQ, /* runtime.hchan */
	C_FIRST,                                                                    /* runtime.waitq */
	C_SG_G, C_SG_NEXT, C_SG_PREV, C_SG_ELEM, C_SG_ISSELECT, C_SG_WAITLINK, C_SG_C, /* runtime.sudog */
	C_G_WAITING, C_G_GOID,                                                      /* runtime.g */
	C_TYPE_STR, C_TYPE_TFLAG, C_MODULE_TYPES,                                   /* runtime._type, moduledata */
	NCHAN_FIELDS
};

static const struct {
	const char *type, *member;
} chan_fields[NCHAN_FIELDS] = {
	[C_QCOUNT] = { "runtime.hchan", "qcount" },     [C_DATAQSIZ] = { "runtime.hchan", "dataqsiz" },
	[C_ELEMSIZE] = { "runtime.hchan", "elemsize" }, [C_CLOSED] = { "runtime.hchan", "closed" },
	[C_ELEMTYPE] = { "runtime.hchan", "elemtype" }, [C_RECVQ] = { "runtime.hchan", "recvq" },
	[C_SENDQ] = { "runtime.hchan", "sendq" },       [C_FIRST] = { "runtime.waitq", "first" },
	[C_SG_G] = { "runtime.sudog", "g" },            [C_SG_NEXT] = { "runtime.sudog", "next" },
	[C_SG_PREV] = { "runtime.sudog", "prev" },      [C_SG_ELEM] = { "runtime.sudog", "elem" },
	[C_SG_ISSELECT] = { "runtime.sudog", "isSelect" }, [C_SG_WAITLINK] = { "runtime.sudog", "waitlink" },
	[C_SG_C] = { "runtime.sudog", "c" },            [C_G_WAITING] = { "runtime.g", "waiting" },
	[C_G_GOID] = { "runtime.g", "goid" },           [C_TYPE_STR] = { "runtime._type", "str" },
	[C_TYPE_TFLAG] = { "runtime._type", "tflag" },  [C_MODULE_TYPES] = { "runtime.moduledata", "types" },
};

/* A sudog list longer than this is taken for a corrupt one. */
#define MAX_QUEUE 1000000

struct chan_layout {
	uint64_t off[NCHAN_FIELDS], size[NCHAN_FIELDS];
};

static bool read_chan_layout(struct strand_host *h, struct chan_layout *l)
{
	for (int i = 0; i < NCHAN_FIELDS; i++)
		if (!go_member(h, chan_fields[i].type, chan_fields[i].member, &l->off[i], &l->size[i]) ||
		    (l->size[i] > 8 && i != C_RECVQ && i != C_SENDQ)) { /* the queues are structs */
			api->fail(h, "the program's DWARF does not describe %s's %s: channels cannot be read",
				  chan_fields[i].type, chan_fields[i].member);
			return false;
		}
	return true;
}

/* The layout, read once per listing of the goroutines (a wait is decoded for
 * each of them); NULL after fail() when the DWARF does not describe it. */
static struct {
	bool read, ok;
	struct chan_layout l;
} chan_cache;

static void chan_cache_reset(void)
{
	chan_cache.read = false;
}

static const struct chan_layout *chan_layout(struct strand_host *h)
{
	if (!chan_cache.read || !chan_cache.ok) /* a failure is read again, for its message */
		chan_cache.ok = read_chan_layout(h, &chan_cache.l);
	chan_cache.read = true;
	return chan_cache.ok ? &chan_cache.l : NULL;
}

/* Member i of the object at addr, zero-extended. */
static bool member(struct strand_host *h, const struct chan_layout *l, uint64_t addr, int i, uint64_t *out)
{
	*out = 0;
	return rd(h, addr + l->off[i], out, (size_t)l->size[i]);
}

/* The name of the Go type whose runtime._type is at type ("main.job"): its
 * name record in the module's types section, a flags byte, a varint length,
 * then the bytes (Go 1.17 on); a leading '*' the linker added dropped. */
static bool go_type_name(struct strand_host *h, const struct chan_layout *l, uint64_t type, char *out, size_t len)
{
	uint64_t module, msize, types, str = 0, tflag = 0, length = 0;
	int64_t extra_star;
	unsigned char rec[1 + 10];
	if (!type || !api->variable(h, "runtime.firstmoduledata", &module, &msize) ||
	    !member(h, l, module, C_MODULE_TYPES, &types) || !member(h, l, type, C_TYPE_STR, &str) ||
	    !member(h, l, type, C_TYPE_TFLAG, &tflag) || !rd(h, types + (uint32_t)str, rec, sizeof(rec)))
		return false;
	size_t i = 1;
	for (int shift = 0; i < sizeof(rec); i++, shift += 7) {
		length |= (uint64_t)(rec[i] & 0x7f) << shift;
		if (!(rec[i] & 0x80))
			break;
	}
	if (i == sizeof(rec) || length == 0 || length >= len || !rd(h, types + (uint32_t)str + i + 1, out, (size_t)length))
		return false;
	out[length] = '\0';
	if (go_constant(h, "runtime.tflagExtraStar", &extra_star) && (tflag & (uint64_t)extra_star) && out[0] == '*')
		memmove(out, out + 1, (size_t)length);
	return true;
}

/* The goroutine ids of a channel's queue (sudogs linked by next), into ids
 * (the first max), whether each waits in a select; the queue's length. */
static size_t queue_ids(struct strand_host *h, const struct chan_layout *l, uint64_t waitq, uint64_t *ids,
			bool *in_select, size_t max)
{
	uint64_t sg, g, goid, sel;
	size_t n = 0;
	if (!member(h, l, waitq, C_FIRST, &sg))
		return 0;
	for (; sg && n < MAX_QUEUE; n++) {
		if (n < max) {
			ids[n] = member(h, l, sg, C_SG_G, &g) && g && member(h, l, g, C_G_GOID, &goid) ? goid : 0;
			in_select[n] = member(h, l, sg, C_SG_ISSELECT, &sel) && sel;
		}
		if (!member(h, l, sg, C_SG_NEXT, &sg))
			break;
	}
	return n;
}

static bool read_channel(struct strand_host *h, const struct chan_layout *l, uint64_t addr, struct strand_channel *out)
{
	uint64_t closed, elemtype;
	memset(out, 0, sizeof(*out));
	out->address = addr;
	if (!member(h, l, addr, C_QCOUNT, &out->len) || !member(h, l, addr, C_DATAQSIZ, &out->cap) ||
	    !member(h, l, addr, C_ELEMSIZE, &out->elem_size) || !member(h, l, addr, C_CLOSED, &closed) ||
	    !member(h, l, addr, C_ELEMTYPE, &elemtype) || out->len > out->cap) {
		api->fail(h, "no channel at 0x%llx (its runtime.hchan is not readable or not consistent)",
			  (unsigned long long)addr);
		return false;
	}
	out->closed = closed != 0;
	if (!go_type_name(h, l, elemtype, out->elem_type, sizeof(out->elem_type)))
		out->elem_type[0] = '\0';
	out->nsenders = queue_ids(h, l, addr + l->off[C_SENDQ], out->senders, out->select_sender,
				  STRAND_MAX_CHANNEL_WAITERS);
	out->nreceivers = queue_ids(h, l, addr + l->off[C_RECVQ], out->receivers, out->select_receiver,
				    STRAND_MAX_CHANNEL_WAITERS);
	return true;
}

static bool go_channel(struct strand_host *h, uint64_t addr, struct strand_channel *out)
{
	const struct chan_layout *l = chan_layout(h);
	return l && read_channel(h, l, addr, out);
}

/* A sudog of the goroutine's wait, for the analyses to look through. */
static void add_record(struct strand_goroutine_wait *out, uint64_t sudog)
{
	if (out->nrecords < STRAND_MAX_WAIT_OBJECTS)
		out->records[out->nrecords++] = sudog;
}

/* Whether the sudog sg is queued on the channel's send queue. */
static bool in_send_queue(struct strand_host *h, const struct chan_layout *l, uint64_t chan, uint64_t sg)
{
	uint64_t q;
	if (!member(h, l, chan + l->off[C_SENDQ], C_FIRST, &q))
		return false;
	for (size_t n = 0; q && n < MAX_QUEUE; n++) {
		if (q == sg)
			return true;
		if (!member(h, l, q, C_SG_NEXT, &q))
			break;
	}
	return false;
}

/* A goroutine parked on channels: g.waiting lists one sudog per channel (a
 * select's cases, in lock order), each naming its channel. */
static bool channel_wait(struct strand_host *h, const struct chan_layout *l, const struct strand_goroutine *g,
			 struct strand_goroutine_wait *out)
{
	uint64_t sg, c;
	bool select = !strncmp(g->state, "select", 6);
	if (!member(h, l, g->address, C_G_WAITING, &sg))
		return false;
	for (size_t n = 0; sg && n < MAX_QUEUE; n++) {
		if (member(h, l, sg, C_SG_C, &c) && c) {
			add_record(out, sg);
			if (out->nobjects < STRAND_MAX_WAIT_OBJECTS) {
				/* A plain wait says its direction ("chan send"); a select's case
				 * is a send when its sudog is on the channel's send queue. */
				out->objects[out->nobjects].address = c;
				out->objects[out->nobjects].send = select ? in_send_queue(h, l, c, sg)
									  : !strncmp(g->state, "chan send", 9);
			}
			out->nobjects++;
		}
		if (!member(h, l, sg, C_SG_WAITLINK, &sg))
			break;
	}
	if (!out->nobjects)
		return false;
	out->kind = select || out->nobjects > 1 ? STRAND_GWAIT_SELECT : STRAND_GWAIT_CHANNEL;
	return true;
}

static void add_sema_waiter(uint64_t g, uint64_t sema, uint64_t sudog)
{
	struct sema_waiter *v = realloc(sema_cache.v, (sema_cache.n + 1) * sizeof(*v));
	if (!v)
		return;
	sema_cache.v = v;
	v[sema_cache.n++] = (struct sema_waiter){ g, sema, sudog };
}

/* Every waiter of the treap under node, depth first with an explicit stack. */
static void walk_treap(struct strand_host *h, const struct chan_layout *l, uint64_t node)
{
	uint64_t stack[64], visited = 0, g, sema, sg, child;
	size_t depth = 0;
	if (node)
		stack[depth++] = node;
	while (depth && visited < MAX_QUEUE) {
		node = stack[--depth];
		member(h, l, node, C_SG_ELEM, &sema);
		for (sg = node; sg && visited < MAX_QUEUE; visited++) {
			if (member(h, l, sg, C_SG_G, &g) && g)
				add_sema_waiter(g, sema, sg);
			if (!member(h, l, sg, C_SG_WAITLINK, &sg))
				break;
		}
		for (int k = C_SG_NEXT; k <= C_SG_PREV; k++)
			if (member(h, l, node, k, &child) && child && depth < sizeof(stack) / sizeof(stack[0]))
				stack[depth++] = child;
	}
}

static int by_g(const void *a, const void *b)
{
	const struct sema_waiter *x = a, *y = b;
	return x->g < y->g ? -1 : x->g > y->g;
}

static void read_sema_waiters(struct strand_host *h, const struct chan_layout *l)
{
	uint64_t table, size, treap, treap_size, root;
	int64_t roots;
	sema_cache.read = true;
	if (!api->variable(h, "runtime.semtable", &table, &size) || !go_constant(h, "runtime.semTabSize", &roots) ||
	    roots <= 0 || !go_member(h, "runtime.semaRoot", "treap", &treap, &treap_size))
		return;
	for (uint64_t i = 0; i < (uint64_t)roots; i++)
		if (rd(h, table + i * (size / (uint64_t)roots) + treap, &root, 8))
			walk_treap(h, l, root);
	if (sema_cache.n) /* v is NULL when there are none, which qsort must not be given */
		qsort(sema_cache.v, sema_cache.n, sizeof(*sema_cache.v), by_g);
}

static const struct sema_waiter *sema_of(struct strand_host *h, const struct chan_layout *l, uint64_t g)
{
	if (!sema_cache.read)
		read_sema_waiters(h, l);
	struct sema_waiter key = { g, 0, 0 };
	return sema_cache.n ? bsearch(&key, sema_cache.v, sema_cache.n, sizeof(key), by_g) : NULL;
}


static bool has_frame(const char *const *frames, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (frames[i] && !strcmp(frames[i], name))
			return true;
	return false;
}

/* The sync object around the semaphore: which one the frames say, at the
 * semaphore's offset in it as the DWARF says (member names newest first). */
static const struct {
	const char *frame, *type, *sema[2];
	const char *with; /* a frame that must be there too */
} sync_objects[] = {
	{ "sync.(*WaitGroup).Wait", "sync.WaitGroup", { "sema", "state2" }, NULL }, /* state2 until Go 1.20 */
	{ "sync.(*RWMutex).RLock", "sync.RWMutex", { "readerSem" }, NULL },
	{ "sync.(*Mutex).lockSlow", "sync.RWMutex", { "w.sema" }, "sync.(*RWMutex).Lock" }, /* its w.Lock */
	{ "sync.(*RWMutex).Lock", "sync.RWMutex", { "writerSem" }, NULL },
	{ "sync.(*Mutex).lockSlow", "sync.Mutex", { "sema" }, NULL }, /* Lock is inlined: no frame without DWARF */
};

/* "locked, 2 waiting" for a Mutex (and whether it is held), "counter 1,
 * 1 waiting" for a WaitGroup, from the constants and members the DWARF names. */
static void sync_detail(struct strand_host *h, const char *type, uint64_t obj, struct strand_goroutine_wait *w)
{
	char *out = w->detail;
	size_t len = sizeof(w->detail);
	uint64_t off, size, state = 0;
	int64_t locked, shift;
	if (!strcmp(type, "sync.Mutex") && go_member(h, type, "state", &off, &size) && size <= 8 &&
	    rd(h, obj + off, &state, (size_t)size) && go_constant(h, "sync.mutexLocked", &locked) &&
	    go_constant(h, "sync.mutexWaiterShift", &shift) && shift > 0 && shift < 32)
	{
		w->held = state & (uint64_t)locked;
		snprintf(out, len, "%s, %llu waiting", w->held ? "locked" : "unlocked",
			 (unsigned long long)((uint32_t)state >> shift));
	}
	else if (!strcmp(type, "sync.WaitGroup") &&
		 ((go_member(h, type, "state.v", &off, &size) && size == 8) ||
		  (go_member(h, type, "state1", &off, &size) && size == 8)) &&
		 rd(h, obj + off, &state, 8))
		snprintf(out, len, "counter %u, %u waiting", (unsigned)(state >> 32), (unsigned)state);
}

static bool sync_wait(struct strand_host *h, const struct chan_layout *l, uint64_t g, const char *const *frames,
		      size_t nframes, struct strand_goroutine_wait *out)
{
	const struct sema_waiter *waiter = sema_of(h, l, g);
	uint64_t sema = waiter ? waiter->sema : 0, off, size;
	if (!sema)
		return false;
	add_record(out, waiter->sudog);
	out->kind = STRAND_GWAIT_SYNC;
	out->semaphore = sema;
	out->type = "semaphore";
	out->nobjects = 1;
	out->objects[0].address = sema;
	for (size_t i = 0; i < sizeof(sync_objects) / sizeof(sync_objects[0]); i++) {
		if (!has_frame(frames, nframes, sync_objects[i].frame) ||
		    (sync_objects[i].with && !has_frame(frames, nframes, sync_objects[i].with)))
			continue;
		for (int k = 0; k < 2 && sync_objects[i].sema[k]; k++)
			if (go_member(h, sync_objects[i].type, sync_objects[i].sema[k], &off, &size)) {
				out->type = sync_objects[i].type;
				out->objects[0].address = sema - off;
				sync_detail(h, out->type, sema - off, out);
				return true;
			}
	}
	return true;
}

/* A goroutine in the netpoller waits on a runtime.pollDesc, which its stack
 * refers to near its top (netpollblock's &pd.rg or &pd.wg, pollWait's pd):
 * a pollDesc is the one whose self is itself and whose rg or wg is the g. */
#define POLL_WORDS 64

/* Whether a word of g's stack may point at a runtime structure elsewhere:
 * aligned, above the first pages, not into g's own stack (its frame
 * pointers and locals), so that the checks' reads go only where they may
 * find one. */
static bool elsewhere(const struct strand_goroutine *g, uint64_t word)
{
	return word % 8 == 0 && word >= 0x10000 && !(word >= g->stack_lo && word < g->stack_hi);
}

static bool io_wait(struct strand_host *h, const struct strand_goroutine *g, struct strand_goroutine_wait *out)
{
	uint64_t fd, rg, wg, self, size, words[POLL_WORDS], pd, v;
	if (!go_member(h, "runtime.pollDesc", "fd", &fd, &size) || !go_member(h, "runtime.pollDesc", "rg", &rg, &size) ||
	    !go_member(h, "runtime.pollDesc", "wg", &wg, &size) || !go_member(h, "runtime.pollDesc", "self", &self, &size))
		return false;
	size_t n = api->read(h, g->sched_sp, words, sizeof(words)) / 8;
	for (size_t i = 0; i < n; i++) {
		const uint64_t candidates[3] = { words[i], words[i] - rg, words[i] - wg };
		if (!elsewhere(g, words[i]))
			continue;
		for (int k = 0; k < 3; k++) {
			pd = candidates[k];
			if (!pd || pd % 8 || !rd(h, pd + self, &v, 8) || v != pd)
				continue;
			uint64_t r = 0, w = 0, number = 0;
			if (!rd(h, pd + rg, &r, 8) || !rd(h, pd + wg, &w, 8) || (r != g->address && w != g->address) ||
			    !rd(h, pd + fd, &number, 8) || number > INT32_MAX)
				continue;
			out->kind = STRAND_GWAIT_IO;
			out->nobjects = 1;
			out->objects[0].address = pd;
			out->objects[0].send = r != g->address;
			out->fd = (int32_t)number;
			return true;
		}
	}
	return false;
}

/* A goroutine in sync.Cond.Wait sleeps on a sudog of the Cond's notifyList
 * (head, linked by next), which its stack refers to near its top
 * (notifyListWait's l): the first word that names a list holding the g. */
#define COND_WAITERS 100000

/* The goroutine's sudog on the notifyList at list, 0 none: a list whose
 * chain from head holds it and ends at its tail (a word 8 bytes off the
 * list, reading tail as head, would hold a lone waiter too). */
static uint64_t on_notify_list(struct strand_host *h, const struct chan_layout *l, uint64_t list, uint64_t head_off,
			       uint64_t tail_off, uint64_t g)
{
	uint64_t sg, next, who, tail, found = 0;
	if (!rd(h, list + head_off, &sg, 8) || !rd(h, list + tail_off, &tail, 8))
		return 0;
	for (size_t n = 0; sg && n < COND_WAITERS; n++, sg = next) {
		if (member(h, l, sg, C_SG_G, &who) && who == g)
			found = sg;
		if (!member(h, l, sg, C_SG_NEXT, &next))
			return 0;
		if (!next)
			return sg == tail ? found : 0;
	}
	return 0;
}

static bool cond_wait(struct strand_host *h, const struct chan_layout *l, const struct strand_goroutine *g,
		      struct strand_goroutine_wait *out)
{
	uint64_t head, tail, notify, size, words[POLL_WORDS];
	if (!go_member(h, "runtime.notifyList", "head", &head, &size) ||
	    !go_member(h, "runtime.notifyList", "tail", &tail, &size) ||
	    !go_member(h, "sync.Cond", "notify", &notify, &size))
		return false;
	size_t n = api->read(h, g->sched_sp, words, sizeof(words)) / 8;
	for (size_t i = 0; i < n; i++) {
		uint64_t sg = elsewhere(g, words[i]) && words[i] > notify
				      ? on_notify_list(h, l, words[i], head, tail, g->address) : 0;
		if (sg) {
			add_record(out, sg);
			out->kind = STRAND_GWAIT_SYNC;
			out->type = "sync.Cond";
			out->nobjects = 1;
			out->objects[0].address = words[i] - notify;
			return true;
		}
	}
	return false;
}

/* The waits Go's traceback names that nothing can end. */
static bool forever_wait(const char *state, struct strand_goroutine_wait *out)
{
	const char *why = !strcmp(state, "chan receive (nil chan)") || !strcmp(state, "chan send (nil chan)")
				  ? "a nil channel is never ready"
			  : !strcmp(state, "select (no cases)") ? "a select with no cases never returns" : NULL;
	if (why) {
		out->kind = STRAND_GWAIT_FOREVER;
		snprintf(out->detail, sizeof(out->detail), "%s", why);
	}
	return why != NULL;
}

static bool go_goroutine_wait(struct strand_host *h, const struct strand_goroutine *g, const char *const *frames,
			      size_t nframes, struct strand_goroutine_wait *out)
{
	const struct chan_layout *l;
	memset(out, 0, sizeof(*out));
	if (g->status != STRAND_G_WAITING)
		return false;
	if (forever_wait(g->state, out))
		return true;
	if (!(l = chan_layout(h)))
		return false;
	if (channel_wait(h, l, g, out))
		return true;
	if (!strcmp(g->state, "IO wait"))
		return io_wait(h, g, out);
	if (!strcmp(g->state, "sync.Cond.Wait"))
		return cond_wait(h, l, g, out);
	return sync_wait(h, l, g->address, frames, nframes, out);
}

/* ---- Timers (ABI 7): each P's heap of runtime.timer (runtime/time.go) ---- */

#define MAX_PROCS 65536
#define MAX_TIMERS_PER_P 100000000

/* The runtime's timer statuses by what the listing does with them. */
static const char *const timer_gone[] = { "runtime.timerNoStatus", "runtime.timerDeleted", "runtime.timerRemoving",
					  "runtime.timerRemoved" };
static const char *const timer_modified[] = { "runtime.timerModifiedEarlier", "runtime.timerModifiedLater" };

struct timer_layout {
	uint64_t allp, p_timers, timer_size, when, period, f, arg, status, status_size, nextwhen;
	uint64_t eface_data, funcval_fn, goid;
	int64_t gone[4], modified[2];
	bool gone_known[4], modified_known[2];
};

static bool timer_member(struct strand_host *h, const char *member, uint64_t *off, uint64_t want_size)
{
	uint64_t size;
	if (go_member(h, "runtime.timer", member, off, &size) && (!want_size || size == want_size))
		return true;
	api->fail(h, "the program's DWARF does not describe runtime.timer's %s as this plugin knows it", member);
	return false;
}

static bool read_timer_layout(struct strand_host *h, struct timer_layout *l)
{
	uint64_t off, size;
	memset(l, 0, sizeof(*l));
	if (!go_member(h, "runtime.timer", NULL, &off, &l->timer_size)) {
		api->fail(h, "the program has no DWARF (built with -ldflags=-w?) or no runtime.timer: the layout of the "
			     "Go runtime's timers is unknown, so they cannot be read");
		return false;
	}
	if (!api->variable(h, "runtime.allp", &l->allp, &size) || size < 16) {
		api->fail(h, "the program has no runtime.allp: the Go runtime's processors (and their timers) are not found");
		return false;
	}
	if (!go_member(h, "runtime.p", "timers", &l->p_timers, &size) || size != 24) {
		api->fail(h, "the program's runtime.p has no timers slice: a Go runtime this plugin does not know "
			     "(Go 1.23 keeps timers elsewhere)");
		return false;
	}
	if (!timer_member(h, "when", &l->when, 8) || !timer_member(h, "period", &l->period, 8) ||
	    !timer_member(h, "f", &l->f, 8) || !timer_member(h, "arg", &l->arg, 16) ||
	    !timer_member(h, "status", &l->status, 0) || !timer_member(h, "nextwhen", &l->nextwhen, 8))
		return false;
	go_member(h, "runtime.timer", "status", &off, &l->status_size);
	if (l->status_size > 8 || !go_member(h, "runtime.eface", "data", &l->eface_data, &size) ||
	    !go_member(h, "runtime.funcval", "fn", &l->funcval_fn, &size) ||
	    !go_member(h, "runtime.g", "goid", &l->goid, &size)) {
		api->fail(h, "the program's DWARF does not describe runtime.eface, runtime.funcval or runtime.g's goid");
		return false;
	}
	for (size_t i = 0; i < 4; i++)
		l->gone_known[i] = go_constant(h, timer_gone[i], &l->gone[i]);
	for (size_t i = 0; i < 2; i++)
		l->modified_known[i] = go_constant(h, timer_modified[i], &l->modified[i]);
	if (!l->gone_known[1]) {
		api->fail(h, "the program's DWARF has no runtime.timerDeleted constant: stopped timers cannot be told "
			     "from pending ones");
		return false;
	}
	return true;
}

static bool status_in(uint64_t status, const int64_t *values, const bool *known, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (known[i] && (uint64_t)values[i] == status)
			return true;
	return false;
}

/* The function a func value calls: its funcval's first word. */
static uint64_t func_pc(struct strand_host *h, const struct timer_layout *l, uint64_t funcval)
{
	uint64_t pc = 0;
	if (funcval && !rd(h, funcval + l->funcval_fn, &pc, 8))
		pc = 0;
	return pc;
}

static bool calls(struct strand_host *h, uint64_t pc, const char *name)
{
	uint64_t offset;
	const char *sym = pc ? api->symbolize(h, pc, &offset) : NULL;
	return sym && offset == 0 && !strcmp(sym, name);
}

/* A time.Ticker or time.Timer embeds the runtime's timer as its member r
 * (time/sleep.go's runtimeTimer has runtime.timer's layout). */
static void timer_owner(struct strand_host *h, uint64_t timer, struct strand_timer *t)
{
	uint64_t r, rsize, size, off;
	t->owner_type = t->period > 0 ? "time.Ticker" : "time.Timer";
	if (go_member(h, t->owner_type, "r", &r, &rsize) && go_member(h, t->owner_type, NULL, &off, &size) &&
	    timer >= r) {
		t->owner = timer - r;
		t->owner_size = size;
	} else {
		t->owner_type = NULL;
	}
}

/* What the timer does when it fires, from the function it calls (f) and
 * its argument: goroutineReady wakes a sleeping goroutine (arg: its g),
 * sendTime sends on a Timer's or Ticker's channel (arg: the channel),
 * goFunc starts an AfterFunc's function (arg: the func). */
static void classify_timer(struct strand_host *h, const struct timer_layout *l, uint64_t addr,
			   const unsigned char *buf, struct strand_timer *t)
{
	uint64_t f, data, goid;
	memcpy(&f, buf + l->f, 8);
	memcpy(&data, buf + l->arg + l->eface_data, 8);
	t->function = func_pc(h, l, f);
	t->kind = "func";
	if (calls(h, t->function, "runtime.goroutineReady")) {
		t->kind = "sleep";
		if (data && rd(h, data + l->goid, &goid, 8))
			t->goroutine = goid;
	} else if (calls(h, t->function, "time.sendTime")) {
		t->kind = t->period > 0 ? "ticker" : "timer";
		t->channel = data;
		timer_owner(h, addr, t);
	} else if (calls(h, t->function, "time.goFunc")) {
		t->function = func_pc(h, l, data);
	}
}

/* One pending timer, or false for a stopped one still in the heap (Go
 * removes those lazily) and one that cannot be read. */
static bool read_timer(struct strand_host *h, const struct timer_layout *l, uint64_t addr, unsigned char *buf,
		       struct strand_timer *t)
{
	uint64_t status = 0;
	if (!rd(h, addr, buf, (size_t)l->timer_size))
		return false;
	memcpy(&status, buf + l->status, (size_t)l->status_size);
	if (status_in(status, l->gone, l->gone_known, 4))
		return false;
	memset(t, 0, sizeof(*t));
	t->address = addr;
	/* A modified timer fires at nextwhen; when is where it still sits in the heap. */
	memcpy(&t->when, buf + (status_in(status, l->modified, l->modified_known, 2) ? l->nextwhen : l->when), 8);
	memcpy(&t->period, buf + l->period, 8);
	classify_timer(h, l, addr, buf, t);
	return true;
}

static void latest_wait(void *ctx, const struct strand_goroutine *g)
{
	int64_t *now = ctx;
	if (g->wait_since > *now)
		*now = g->wait_since;
}

/* The latest time sysmon saw each processor schedule or enter a system
 * call (p.sysmontick): a busy program's record of its clock, some
 * milliseconds old. */
static void latest_sysmon_tick(struct strand_host *h, const uint64_t *ps, size_t n, int64_t *now)
{
	static const char *const ticks[] = { "sysmontick.schedwhen", "sysmontick.syscallwhen" };
	for (size_t k = 0; k < 2; k++) {
		uint64_t off, size;
		int64_t when;
		if (!go_member(h, "runtime.p", ticks[k], &off, &size) || size != 8)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ps[i] && rd(h, ps[i] + off, &when, 8) && when > *now)
				*now = when;
	}
}

/* runtime_now for the timers: a core's latest record also takes the
 * goroutines' wait starts and sysmon's ticks of the processors ps. */
static int64_t timers_now(struct strand_host *h, const uint64_t *ps, size_t n)
{
	int64_t now = 0;
	if (api->monotonic_now(h, &now))
		return now;
	now = runtime_now(h, NULL, 0);
	go_goroutines(h, latest_wait, &now);
	latest_sysmon_tick(h, ps, n, &now);
	return now;
}

/* The timers of processor p's heap (p.timers, a []*timer) through fn. */
static int p_timers(struct strand_host *h, const struct timer_layout *l, int32_t index, uint64_t p, int64_t now,
		    void (*fn)(void *ctx, const struct strand_timer *t), void *ctx)
{
	uint64_t slice[2];
	if (!rd(h, p + l->p_timers, slice, sizeof(slice))) {
		api->fail(h, "processor %d's timers at 0x%llx are not readable", index,
			  (unsigned long long)(p + l->p_timers));
		return -1;
	}
	if (slice[1] > MAX_TIMERS_PER_P) {
		api->fail(h, "processor %d's timer heap says %llu timers: not a timer heap", index,
			  (unsigned long long)slice[1]);
		return -1;
	}
	size_t n = (size_t)slice[1];
	int count = 0;
	uint64_t *timers = malloc(n * 8 + 8);
	unsigned char *buf = malloc((size_t)l->timer_size);
	if (!timers || !buf || (n && !rd(h, slice[0], timers, n * 8))) {
		api->fail(h, timers && buf ? "processor %d's timer heap is not readable" : "out of memory", index);
		free(timers), free(buf);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct strand_timer t;
		if (timers[i] && read_timer(h, l, timers[i], buf, &t)) {
			t.queue = index;
			t.now = now;
			fn(ctx, &t);
			count++;
		}
	}
	free(timers), free(buf);
	return count;
}

static int go_timers(struct strand_host *h, void (*fn)(void *ctx, const struct strand_timer *t), void *ctx)
{
	struct timer_layout l;
	uint64_t allp[2];
	if (!read_timer_layout(h, &l))
		return -1;
	if (!rd(h, l.allp, allp, sizeof(allp)) || allp[1] > MAX_PROCS) {
		api->fail(h, "runtime.allp at 0x%llx is not readable or not a list of processors",
			  (unsigned long long)l.allp);
		return -1;
	}
	size_t n = (size_t)allp[1];
	uint64_t *ps = malloc(n * 8 + 8);
	if (!ps || (n && !rd(h, allp[0], ps, n * 8))) {
		api->fail(h, ps ? "the array of runtime.allp is not readable" : "out of memory");
		free(ps);
		return -1;
	}
	int64_t now = timers_now(h, ps, n);
	int total = 0;
	for (size_t i = 0; i < n && total >= 0; i++) {
		int k = ps[i] ? p_timers(h, &l, (int32_t)i, ps[i], now, fn, ctx) : 0;
		total = k < 0 ? -1 : total + k;
	}
	free(ps);
	return total;
}

/* ---- The heap's spans (runtime/mheap.go mspan), for reachability ---- */

enum span_field { S_START, S_NELEMS, S_ELEMSIZE, S_FREEINDEX, S_ALLOCBITS, S_SPANCLASS, S_STATE, NSPAN_FIELDS };

static const char *const span_fields[NSPAN_FIELDS][2] = {
	[S_START] = { "startAddr" },    [S_NELEMS] = { "nelems" },       [S_ELEMSIZE] = { "elemsize" },
	[S_FREEINDEX] = { "freeindex" }, [S_ALLOCBITS] = { "allocBits" }, [S_SPANCLASS] = { "spanclass" },
	[S_STATE] = { "state.s", "state" },
};

/* A span's objects beyond this are taken for a corrupt span. */
#define MAX_SPAN_OBJECTS (1u << 20)

/* A span's fields from its runtime.mspan, read whole (one read a span). */
static void span_fields_of(const unsigned char *raw, const uint64_t off[], const uint64_t size[], uint64_t *v)
{
	for (int i = 0; i < NSPAN_FIELDS; i++) {
		v[i] = 0;
		memcpy(&v[i], raw + off[i], (size_t)size[i]); /* little endian */
	}
}

/* An object is allocated when it lies below freeindex (handed out since the
 * last sweep) or its bit in allocBits is set (mspan.isFree). */
static bool allocated_bits(struct strand_host *h, const uint64_t *v, uint8_t *bits)
{
	if (!rd(h, v[S_ALLOCBITS], bits, (size_t)((v[S_NELEMS] + 7) / 8)))
		return false;
	for (uint64_t i = 0; i < v[S_FREEINDEX] && i < v[S_NELEMS]; i++)
		bits[i / 8] |= (uint8_t)(1u << (i % 8));
	return true;
}

/* Each span in use through fn; the first one that cannot be read fails the
 * walk: objects left out would look unreachable. */
static int each_span(struct strand_host *h, const uint64_t *spans, uint64_t n, const uint64_t off[],
		     const uint64_t size[], uint64_t span_size, int64_t in_use,
		     void (*fn)(void *ctx, const struct strand_heap_span *sp), void *ctx)
{
	unsigned char *raw = malloc((size_t)span_size);
	uint8_t *bits = malloc(MAX_SPAN_OBJECTS / 8);
	uint64_t v[NSPAN_FIELDS];
	int count = 0;
	for (uint64_t i = 0; raw && bits && i < n && count >= 0; i++) {
		if (!spans[i])
			continue;
		if (!rd(h, spans[i], raw, (size_t)span_size)) {
			api->fail(h, "the heap span at 0x%llx is not readable", (unsigned long long)spans[i]);
			count = -1;
			break;
		}
		span_fields_of(raw, off, size, v);
		if (v[S_STATE] != (uint64_t)in_use)
			continue;
		if (!v[S_NELEMS] || v[S_NELEMS] > MAX_SPAN_OBJECTS || !v[S_ELEMSIZE] || !allocated_bits(h, v, bits)) {
			api->fail(h, "the heap span at 0x%llx is damaged or its allocation bits are not readable",
				  (unsigned long long)spans[i]);
			count = -1;
			break;
		}
		struct strand_heap_span sp = { .start = v[S_START], .object_size = v[S_ELEMSIZE],
					       .nobjects = v[S_NELEMS], .allocated = bits,
					       .noscan = v[S_SPANCLASS] & 1 }; /* spanClass: size class << 1 | noscan */
		fn(ctx, &sp);
		count++;
	}
	if (!raw || !bits) {
		api->fail(h, "out of memory");
		count = -1;
	}
	free(raw), free(bits);
	return count;
}

static int go_heap_spans(struct strand_host *h, void (*fn)(void *ctx, const struct strand_heap_span *sp), void *ctx)
{
	uint64_t off[NSPAN_FIELDS], size[NSPAN_FIELDS], mheap, msize, all_off, all_size, slice[2], span_size, o;
	int64_t in_use;
	for (int i = 0; i < NSPAN_FIELDS; i++) {
		bool found = false;
		for (int k = 0; k < 2 && span_fields[i][k] && !found; k++)
			found = go_member(h, "runtime.mspan", span_fields[i][k], &off[i], &size[i]) && size[i] <= 8;
		if (!found) {
			api->fail(h, "the runtime's mspan.%s is not described: the Go heap cannot be walked",
				  span_fields[i][0]);
			return -1;
		}
	}
	if (!go_member(h, "runtime.mspan", NULL, &o, &span_size) || !span_size || span_size > 4096 ||
	    !api->variable(h, "runtime.mheap_", &mheap, &msize) ||
	    !go_member(h, "runtime.mheap", "allspans", &all_off, &all_size) ||
	    !go_constant(h, "runtime.mSpanInUse", &in_use) || !rd(h, mheap + all_off, slice, sizeof(slice)) ||
	    slice[1] > MAX_GOROUTINES) {
		api->fail(h, "the runtime's list of heap spans (mheap_.allspans) is not readable");
		return -1;
	}
	uint64_t *spans = malloc((size_t)slice[1] * 8 + 8);
	if (!spans || (slice[1] && !rd(h, slice[0], spans, (size_t)slice[1] * 8))) {
		api->fail(h, spans ? "the array of mheap_.allspans is not readable" : "out of memory");
		free(spans);
		return -1;
	}
	int count = each_span(h, spans, slice[1], off, size, span_size, in_use, fn, ctx);
	free(spans);
	return count;
}

/* ---- How Go's traceback shows frames (runtime/traceback.go showfuncinfo) ---- */

/* Whether function's package is the standard library's: its import path's
 * first element has no dot (sync, internal/poll, vendor/golang.org/x/...),
 * unlike a module's (github.com/...), and it is not the program's main. */
static bool standard_library(const char *function)
{
	size_t slash = strcspn(function, "/[("), dot = strcspn(function, ".");
	if (function[slash] == '/') /* a package path: the standard library's first element has no dot */
		return dot > slash;
	return strncmp(function, "main.", 5) != 0;
}

static unsigned go_frame_flags(struct strand_host *h, const char *function, const char *file)
{
	(void)h, (void)file;
	unsigned flags = 0;
	if (!strcmp(function, "runtime.goexit") || !strcmp(function, "runtime.goexit.abi0"))
		flags |= STRAND_FRAME_BASE;
	if (!strncmp(function, "runtime.", 8)) {
		flags |= STRAND_FRAME_RUNTIME;
		/* Exported runtime functions show; gopanic shows below the top. */
		if (!strcmp(function, "runtime.gopanic"))
			flags |= STRAND_FRAME_HIDDEN_INNERMOST;
		else if (!(function[8] >= 'A' && function[8] <= 'Z'))
			flags |= STRAND_FRAME_HIDDEN;
	}
	if (!strchr(function, '.')) /* no Go function: assembly, C */
		flags |= STRAND_FRAME_HIDDEN;
	if (standard_library(function))
		flags |= STRAND_FRAME_LIBRARY;
	return flags;
}

static const struct strand_runtime go_runtime = {
	.name = "go-runtime",
	.detect = go_detect,
	.goroutines = go_goroutines,
	.heap_region = go_heap_region,
	.goroutine_wait = go_goroutine_wait,
	.channel = go_channel,
	.timers = go_timers,
	.frame_flags = go_frame_flags,
	.heap_spans = go_heap_spans,
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
