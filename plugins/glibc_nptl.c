/* glibc's pthreads (nptl, 2.36 first) as a strand runtime plugin: what a
 * thread blocked in a futex waits on (mutex, rwlock, condition variable,
 * semaphore, barrier, join, once) and who holds it, and every thread
 * descriptor, including threads that exited and were never joined.
 *
 * Facts: ../shared/reference/nptl-2.36.md. Struct pthread offsets come from
 * the _thread_db_* layout descriptors libc exports for libthread_db (present
 * without debug info), not from a per-build table. */
#include <stdio.h>
#include <string.h>

#include "strand_plugin.h"

#define FUTEX_NR 202
#define FUTEX_LOCK_PI 6
#define CANCEL_EXITING 0x10
#define MAX_THREADS 100000

static const struct strand_host_api *api;

struct layout {
	uint32_t tid, list, start_routine, cancelhandling;
	uint32_t stack_used, stack_user; /* offsets in _rtld_global */
	uint64_t rtld_global;
};

static bool rd(struct strand_host *h, uint64_t addr, void *buf, size_t len)
{
	return api->read(h, addr, buf, len) == len;
}

static uint64_t rd64(struct strand_host *h, uint64_t addr)
{
	uint64_t v = 0;
	rd(h, addr, &v, 8);
	return v;
}

static uint32_t rd32(struct strand_host *h, uint64_t addr)
{
	uint32_t v = 0;
	rd(h, addr, &v, 4);
	return v;
}

/* A libthread_db field descriptor: { bit size, count, byte offset }. */
static bool db_offset(struct strand_host *h, const char *name, uint32_t *offset)
{
	uint64_t addr, size;
	uint32_t desc[3];
	if (!api->lookup_symbol(h, name, "libc.so", &addr, &size) || !rd(h, addr, desc, sizeof(desc)))
		return false;
	*offset = desc[2];
	return true;
}

static bool load_layout(struct strand_host *h, struct layout *l)
{
	uint64_t size;
	return db_offset(h, "_thread_db_pthread_tid", &l->tid) && db_offset(h, "_thread_db_pthread_list", &l->list) &&
	       db_offset(h, "_thread_db_pthread_start_routine", &l->start_routine) &&
	       db_offset(h, "_thread_db_pthread_cancelhandling", &l->cancelhandling) &&
	       db_offset(h, "_thread_db_rtld_global__dl_stack_used", &l->stack_used) &&
	       db_offset(h, "_thread_db_rtld_global__dl_stack_user", &l->stack_user) &&
	       api->lookup_symbol(h, "_rtld_global", "ld-linux", &l->rtld_global, &size);
}

/* ---- waits ---- */

static bool frames_mention(const struct strand_thread_info *t, const char *what)
{
	for (size_t i = 0; i < t->nframes; i++)
		if (t->frames[i] && strstr(t->frames[i], what))
			return true;
	return false;
}

/* A TID is plausible if it is one of the process's threads. */
static bool is_thread(struct strand_host *h, int32_t tid)
{
	size_t n = api->thread_count(h);
	for (size_t i = 0; i < n; i++) {
		struct strand_thread_info t;
		if (api->thread(h, i, &t) && t.tid == tid)
			return true;
	}
	return false;
}

static void decode_mutex(struct strand_host *h, uint64_t addr, int op, struct strand_wait *w)
{
	static const char *const kinds[] = { "normal", "recursive", "error-checking", "adaptive" };
	uint32_t lock = rd32(h, addr), owner = rd32(h, addr + 8), kind = rd32(h, addr + 16);
	w->kind = STRAND_WAIT_MUTEX;
	w->object = addr;
	if (op == FUTEX_LOCK_PI)
		w->owner = (int32_t)(lock & 0x3fffffff);
	else if (kind & 0x10) /* robust: the owner's TID is in the lock word itself */
		w->owner = (int32_t)(lock & 0x3fffffff);
	else
		w->owner = (int32_t)owner;
	snprintf(w->detail, sizeof(w->detail), "%s%s%s mutex", kinds[kind & 3], kind & 0x10 ? " robust" : "",
		 kind & 0x20 ? " priority-inheritance" : "");
}

/* The cleanup buffer pthread_cond_wait pushes names its cond and its mutex. */
static bool cond_from_cleanup(struct strand_host *h, const struct strand_thread_info *t, uint64_t futex,
			      struct strand_wait *w)
{
	uint64_t cleanup = rd64(h, t->fs_base + 760), arg = cleanup ? rd64(h, cleanup + 8) : 0;
	uint64_t cond = arg ? rd64(h, arg + 8) : 0, mutex = arg ? rd64(h, arg + 16) : 0;
	if (!cond || futex < cond || futex >= cond + 48)
		return false;
	w->kind = STRAND_WAIT_COND;
	w->object = cond;
	w->mutex = mutex;
	w->value = rd32(h, cond + 36) >> 3; /* __wrefs: waiters */
	snprintf(w->detail, sizeof(w->detail), "condition variable, %lld waiter%s", (long long)w->value,
		 w->value == 1 ? "" : "s");
	return true;
}

static bool decode_join(struct strand_host *h, uint64_t futex, uint32_t expected, struct strand_wait *w)
{
	struct layout l;
	if (!load_layout(h, &l))
		return false;
	uint64_t pd = futex - l.tid;
	if (rd64(h, pd + 16) != pd) /* header.self: it is a thread descriptor */
		return false;
	w->kind = STRAND_WAIT_JOIN;
	w->object = pd;
	w->joinee = (int32_t)rd32(h, futex);
	w->owner = w->joinee;
	snprintf(w->detail, sizeof(w->detail), "join of thread LWP %u", expected);
	return true;
}

static bool glibc_decode_wait(struct strand_host *h, const struct strand_thread_info *t, struct strand_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->value = -1;
	if (t->syscall != FUTEX_NR)
		return false;
	uint64_t futex = t->syscall_args[0];
	int op = (int)(t->syscall_args[1] & 0x7f);
	uint32_t expected = (uint32_t)t->syscall_args[2];
	if (frames_mention(t, "join") && decode_join(h, futex, expected, w))
		return true;
	if (frames_mention(t, "cond") && !frames_mention(t, "mutex") && cond_from_cleanup(h, t, futex, w))
		return true;
	if (frames_mention(t, "rwlock")) {
		bool reader = frames_mention(t, "rdlock");
		uint64_t base = futex - (reader ? 8 : 12);
		w->kind = reader ? STRAND_WAIT_RWLOCK_READ : STRAND_WAIT_RWLOCK_WRITE;
		w->object = base;
		w->owner = (int32_t)rd32(h, base + 24); /* __cur_writer */
		w->value = rd32(h, base) >> 3;          /* readers */
		snprintf(w->detail, sizeof(w->detail), "rwlock, %lld reader%s inside", (long long)w->value,
			 w->value == 1 ? "" : "s");
		return true;
	}
	if (frames_mention(t, "sem_")) {
		w->kind = STRAND_WAIT_SEMAPHORE;
		w->object = futex;
		w->value = rd32(h, futex);
		snprintf(w->detail, sizeof(w->detail), "semaphore, value %lld", (long long)w->value);
		return true;
	}
	if (frames_mention(t, "barrier")) {
		uint64_t base = futex - 4;
		uint32_t in = rd32(h, base), count = rd32(h, base + 8);
		w->kind = STRAND_WAIT_BARRIER;
		w->object = base;
		w->value = count > in ? count - in : 0;
		snprintf(w->detail, sizeof(w->detail), "barrier of %u, %lld more to arrive", count, (long long)w->value);
		return true;
	}
	if (frames_mention(t, "once")) {
		w->kind = STRAND_WAIT_ONCE;
		w->object = futex;
		snprintf(w->detail, sizeof(w->detail), "pthread_once");
		return true;
	}
	if (frames_mention(t, "mutex") || frames_mention(t, "lll_lock")) {
		decode_mutex(h, futex, op, w);
		return true;
	}
	/* No frames to go by (stripped libc, --no-stop): the data decides. */
	if (decode_join(h, futex, expected, w) || cond_from_cleanup(h, t, futex, w))
		return true;
	uint32_t owner = rd32(h, futex + 8), kind = rd32(h, futex + 16);
	if (kind < 0x80 && owner && is_thread(h, (int32_t)owner)) {
		decode_mutex(h, futex, op, w);
		return true;
	}
	w->kind = STRAND_WAIT_UNKNOWN;
	w->object = futex;
	snprintf(w->detail, sizeof(w->detail), "futex, expecting %u", expected);
	return true;
}

/* ---- thread descriptors ---- */

/* Walk one of ld.so's circular lists of struct pthread (linked through
 * their `list` member). A damaged list that loops without coming back to
 * its head ends at the first repeat (Brent's cycle detection). */
static int walk_list(struct strand_host *h, const struct layout *l, uint64_t head,
		     void (*fn)(void *ctx, const struct strand_thread_desc *d), void *ctx)
{
	int n = 0;
	uint64_t tortoise = 0, power = 1, lambda = 0;
	for (uint64_t p = rd64(h, head); p && p != head && p != tortoise && n < MAX_THREADS; p = rd64(h, p), n++) {
		if (++lambda == power) {
			tortoise = p;
			power *= 2;
			lambda = 0;
		}
		uint64_t pd = p - l->list;
		struct strand_thread_desc d = { .descriptor = pd };
		d.tid = (int32_t)rd32(h, pd + l->tid);
		d.start_routine = rd64(h, pd + l->start_routine);
		uint32_t cancel = rd32(h, pd + l->cancelhandling);
		/* joinid and stackblock_size are not described for libthread_db;
		 * in glibc's struct pthread they sit at fixed distances from
		 * start_routine (joinid, result, schedparam+policy, start_routine;
		 * ... stackblock, stackblock_size 96 bytes after it). */
		uint64_t joinid = rd64(h, pd + l->start_routine - 24);
		d.joinable = joinid != pd;
		d.exited = d.tid == 0 || (cancel & CANCEL_EXITING);
		/* The initial thread runs on the process stack, which nptl did not allocate. */
		d.stack_size = d.start_routine ? rd64(h, pd + l->start_routine + 96) : 0;
		fn(ctx, &d);
	}
	return n;
}

static int glibc_threads(struct strand_host *h, void (*fn)(void *ctx, const struct strand_thread_desc *d), void *ctx)
{
	struct layout l;
	if (!load_layout(h, &l))
		return -1;
	return walk_list(h, &l, l.rtld_global + l.stack_user, fn, ctx) +
	       walk_list(h, &l, l.rtld_global + l.stack_used, fn, ctx);
}

static uint64_t glibc_descriptor_size(struct strand_host *h)
{
	uint64_t addr, size;
	uint32_t bytes = 0;
	if (api->lookup_symbol(h, "_thread_db_sizeof_pthread", "libc.so", &addr, &size))
		rd(h, addr, &bytes, sizeof(bytes));
	return bytes;
}

/* tcbhead_t keeps &dtv[1] at +8; dtv[0] holds the number of entries. */
static bool glibc_dtv_range(struct strand_host *h, uint64_t tp, uint64_t *start, uint64_t *end)
{
	uint64_t dtv = rd64(h, tp + 8), len = dtv ? rd64(h, dtv - 16) : 0;
	if (!dtv || !len || len > 4096)
		return false;
	*start = dtv - 16;
	*end = dtv + 16 * len;
	return true;
}

static int glibc_nptl_detect(struct strand_host *h)
{
	uint64_t addr, size;
	return api->lookup_symbol(h, "_thread_db_pthread_tid", "libc.so", &addr, &size) ? 90 : 0;
}

static const struct strand_runtime nptl_runtime = {
	.name = "glibc-nptl",
	.detect = glibc_nptl_detect,
	.decode_wait = glibc_decode_wait,
	.threads = glibc_threads,
	.descriptor_size = glibc_descriptor_size,
	.dtv_range = glibc_dtv_range,
};

static const struct strand_plugin nptl_plugin = {
	.abi = STRAND_PLUGIN_ABI,
	.name = "glibc-nptl",
	.description = "glibc pthreads: futex waits (mutex, rwlock, cond, semaphore, barrier, join), thread descriptors",
	.runtime = &nptl_runtime,
};

const struct strand_plugin *strand_glibc_nptl_init(const struct strand_host_api *host)
{
	if (host->abi != STRAND_PLUGIN_ABI)
		return NULL;
	api = host;
	return &nptl_plugin;
}
