/* glibc's pthreads (nptl, 2.36 first) as a strand runtime plugin: what a
 * thread blocked in a futex waits on (mutex, rwlock, condition variable,
 * semaphore, barrier, join, once) and who holds it, and every thread
 * descriptor, including threads that exited and were never joined.
 *
 * Facts: ../shared/reference/nptl-2.36.md, and glibc's nptl/descr.h of each
 * release from 2.17 to 2.41. Struct pthread offsets come from the
 * _thread_db_* layout descriptors that libthread_db reads (in libc from
 * 2.34, in libpthread before), not from a per-build table; without them (a
 * core without its libraries' files), from the thread pointers by structure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strand_plugin.h"

#define FUTEX_NR 202
#define FUTEX_LOCK_PI 6
#define CANCEL_EXITING 0x10
#define MAX_THREADS 100000

static const struct strand_host_api *api;

struct layout {
	uint32_t tid, list, start_routine, cancelhandling;
	uint64_t heads[2];  /* the lists of descriptors: the initial thread's, the created threads' */
	bool by_symbols;
	bool lists_known;   /* both heads: else exited threads may be missing */
	char why[400];      /* how it was found, for info plugins */
};

/* nptl's home: libc from 2.34, libpthread before. */
static const char *const nptl_libraries[] = { "libc.so", "libpthread" };

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

/* A libthread_db descriptor of nptl's: { bit size, count, byte offset }. */
static bool db_descriptor(struct strand_host *h, const char *name, uint32_t desc[3], const char **library)
{
	uint64_t addr, size;
	for (size_t i = 0; i < sizeof(nptl_libraries) / sizeof(nptl_libraries[0]); i++)
		if (api->lookup_symbol(h, name, nptl_libraries[i], &addr, &size) && rd(h, addr, desc, 12)) {
			if (library)
				*library = nptl_libraries[i];
			return true;
		}
	return false;
}

static bool db_offset(struct strand_host *h, const char *name, uint32_t *offset)
{
	uint32_t desc[3];
	if (!db_descriptor(h, name, desc, NULL))
		return false;
	*offset = desc[2];
	return true;
}

/* The layout is libc's own when a thread whose registers are known holds its
 * TID in the tid field at its thread pointer. A debugger such as gdb maps
 * libc.so.6 a second time to read it: descriptors found in that copy are
 * file bytes, not the ones libc uses. */
static bool layout_fits(struct strand_host *h, const struct layout *l)
{
	size_t n = api->thread_count(h);
	for (size_t i = 0; i < n; i++) {
		struct strand_thread_info t;
		if (api->thread(h, i, &t) && t.regs_known && t.fs_base)
			return rd32(h, t.fs_base + l->tid) == (uint32_t)t.tid;
	}
	return true;
}

/* The lists' heads: in ld.so's _rtld_global from 2.34, libpthread's own
 * __stack_user and stack_used before. */
static bool heads_by_symbols(struct strand_host *h, struct layout *l)
{
	uint64_t rtld, size;
	uint32_t used, user;
	if (db_offset(h, "_thread_db_rtld_global__dl_stack_used", &used) &&
	    db_offset(h, "_thread_db_rtld_global__dl_stack_user", &user) &&
	    api->lookup_symbol(h, "_rtld_global", "ld-linux", &rtld, &size)) {
		l->heads[0] = rtld + user;
		l->heads[1] = rtld + used;
		return true;
	}
	return api->lookup_symbol(h, "__stack_user", "libpthread", &l->heads[0], &size) &&
	       api->lookup_symbol(h, "stack_used", "libpthread", &l->heads[1], &size);
}

static bool layout_by_symbols(struct strand_host *h, struct layout *l)
{
	const char *library;
	uint32_t desc[3];
	if (!db_descriptor(h, "_thread_db_pthread_tid", desc, &library))
		return false;
	l->tid = desc[2];
	if (!db_offset(h, "_thread_db_pthread_list", &l->list) ||
	    !db_offset(h, "_thread_db_pthread_start_routine", &l->start_routine) ||
	    !db_offset(h, "_thread_db_pthread_cancelhandling", &l->cancelhandling) || !heads_by_symbols(h, l) ||
	    !layout_fits(h, l))
		return false;
	l->by_symbols = true;
	l->lists_known = true;
	bool in_libc = !strcmp(library, "libc.so");
	snprintf(l->why, sizeof(l->why), "struct pthread from libthread_db's descriptors in %s (tid at +%u, "
		 "start_routine at +%u), its thread lists %s", in_libc ? "libc (glibc 2.34 and later)" :
		 "libpthread (glibc before 2.34)", l->tid, l->start_routine,
		 in_libc ? "in ld.so's _rtld_global" : "__stack_user and stack_used");
	return true;
}

/* ---- the layout by structure ----
 *
 * Without libthread_db's descriptors (a core read without its libraries'
 * files), glibc's struct pthread is recognised at each thread pointer:
 * header.self (+16) is the descriptor itself, `tid` holds the thread's LWP
 * and the circular `list` 16 bytes before it links the descriptors and the
 * heads of their lists. `tid` is found by its value (+720 in 2.31 and
 * 2.36); from 2.17 to 2.41 cancelhandling is 56 bytes after it, and
 * start_routine 880 bytes up to 2.35 (an hp_timing_t field before joinid)
 * and 872 from 2.36. */

#define TID_SEARCH_START 0x200
#define TID_SEARCH_END 0x400
#define CANCELHANDLING_AFTER_TID 56

static bool is_descriptor(struct strand_host *h, uint64_t pd)
{
	return pd && rd64(h, pd + 16) == pd;
}

/* A member of a circular doubly-linked list_t: its neighbours point back. */
static bool list_node(struct strand_host *h, uint64_t node)
{
	uint64_t next = rd64(h, node), prev = rd64(h, node + 8);
	return next && prev && rd64(h, next + 8) == node && rd64(h, prev) == node;
}

/* The offset of `tid` in the descriptor at pd of thread tid, 0 if none fits. */
static uint32_t tid_offset(struct strand_host *h, uint64_t pd, int32_t tid)
{
	for (uint32_t off = TID_SEARCH_START; off < TID_SEARCH_END; off += 4)
		if (rd32(h, pd + off) == (uint32_t)tid && list_node(h, pd + off - 16))
			return off;
	return 0;
}

static bool executable_at(struct strand_host *h, uint64_t addr)
{
	size_t n = api->mapping_count(h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		if (api->mapping(h, i, &m) && addr >= m.start && addr < m.end)
			return m.perms & 4;
	}
	return false;
}

/* Whether glibc's libraries are mapped (musl's descriptors also point to themselves). */
static bool glibc_mapped(struct strand_host *h)
{
	size_t n = api->mapping_count(h);
	for (size_t i = 0; i < n; i++) {
		struct strand_mapping_info m;
		const char *base = api->mapping(h, i, &m) && m.path ? strrchr(m.path, '/') : NULL;
		if (base && (!strcmp(base, "/libc.so.6") || !strcmp(base, "/libpthread.so.0") ||
			     !strncmp(base, "/libc-2.", 8) || !strncmp(base, "/libpthread-2.", 14)))
			return true;
	}
	return false;
}

/* Add the heads of the list through the descriptor at pd: its members that
 * are not descriptors. */
static void find_heads(struct strand_host *h, struct layout *l, uint64_t pd, size_t *nheads)
{
	uint64_t start = pd + l->list, node = rd64(h, start);
	for (int n = 0; node && node != start && n < MAX_THREADS; node = rd64(h, node), n++) {
		if (is_descriptor(h, node - l->list))
			continue;
		bool known = false;
		for (size_t i = 0; i < *nheads; i++)
			known |= l->heads[i] == node;
		if (!known && *nheads < 2)
			l->heads[(*nheads)++] = node;
	}
}

/* Whether the list at head holds only descriptors (or nothing). */
static bool descriptor_list(struct strand_host *h, const struct layout *l, uint64_t head)
{
	if (!list_node(h, head))
		return false;
	int n = 0;
	uint64_t node = rd64(h, head);
	for (; node != head && n < MAX_THREADS; node = rd64(h, node), n++)
		if (!is_descriptor(h, node - l->list))
			return false;
	return node == head;
}

/* With one list found (no created thread alive to lead to the other): from
 * 2.34 ld.so keeps _dl_stack_used right before _dl_stack_user, the initial
 * thread's list; before 2.34 libpthread's stack_used is elsewhere. */
static void find_other_head(struct strand_host *h, struct layout *l)
{
	uint64_t used = l->heads[0] - 16;
	if (descriptor_list(h, l, used)) {
		l->heads[1] = used;
		l->lists_known = true;
	}
}

/* start_routine at +880 or +872 from `tid`: the one that holds code
 * addresses in the created threads' descriptors (the initial thread's is 0). */
static const char *pick_start_routine(struct strand_host *h, struct layout *l, const uint64_t *pds, size_t n)
{
	static const uint32_t after_tid[] = { 880, 872 };
	static const char *const releases[] = { "glibc 2.17-2.35", "glibc 2.36 and later" };
	for (size_t k = 0; k < 2; k++) {
		size_t code = 0, other = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = rd64(h, pds[i] + l->tid + after_tid[k]);
			if (v)
				executable_at(h, v) ? code++ : other++;
		}
		if (code && !other) {
			l->start_routine = l->tid + after_tid[k];
			return releases[k];
		}
	}
	l->start_routine = l->tid + after_tid[1];
	return "not confirmed (no created thread's start routine seen), glibc 2.36 and later assumed";
}

static bool layout_by_structure(struct strand_host *h, struct layout *l)
{
	if (!glibc_mapped(h))
		return false;
	size_t n = api->thread_count(h), npds = 0, nheads = 0;
	uint64_t *pds = calloc(n ? n : 1, sizeof(*pds));
	if (!pds)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct strand_thread_info t;
		if (!api->thread(h, i, &t) || !is_descriptor(h, t.fs_base))
			continue;
		uint32_t off = tid_offset(h, t.fs_base, t.tid);
		if (!off || (l->tid && off != l->tid))
			continue;
		l->tid = off;
		pds[npds++] = t.fs_base;
	}
	l->list = l->tid - 16;
	l->cancelhandling = l->tid + CANCELHANDLING_AFTER_TID;
	for (size_t i = 0; i < npds && nheads < 2; i++)
		find_heads(h, l, pds[i], &nheads);
	const char *release = npds ? pick_start_routine(h, l, pds, npds) : NULL;
	free(pds);
	if (!npds || !nheads)
		return false;
	l->lists_known = nheads == 2;
	if (nheads == 1)
		find_other_head(h, l);
	snprintf(l->why, sizeof(l->why),
		 "struct pthread found by structure at the thread pointers (no libthread_db descriptors in libc or "
		 "libpthread): tid at +%u, the thread list at +%u; start_routine at +%u, the layout of %s%s",
		 l->tid, l->list, l->start_routine, release,
		 l->lists_known ? "" : "; the created threads' list not found: threads that exited unjoined are missed");
	return true;
}

/* By structure the layout costs walks of the thread lists, and every wait
 * decoded asks for it: it is kept for the process, which its first
 * thread's descriptor and TID name. */
static struct {
	uint64_t tp;
	int32_t tid;
	bool found;
	struct layout l;
} by_structure;

static bool load_layout(struct strand_host *h, struct layout *l)
{
	memset(l, 0, sizeof(*l));
	if (layout_by_symbols(h, l))
		return true;
	struct strand_thread_info first;
	if (!api->thread_count(h) || !api->thread(h, 0, &first) || !first.fs_base) {
		memset(l, 0, sizeof(*l));
		return layout_by_structure(h, l);
	}
	if (by_structure.tp != first.fs_base || by_structure.tid != first.tid) {
		memset(&by_structure, 0, sizeof(by_structure));
		by_structure.tp = first.fs_base;
		by_structure.tid = first.tid;
		by_structure.found = layout_by_structure(h, &by_structure.l);
	}
	*l = by_structure.l;
	return by_structure.found;
}

/* ---- waits ----
 *
 * A futex wait is decoded from the object around the futex word: which field
 * of which glibc type the word is, checked against the call's arguments (the
 * operation, the value expected) and the fields around it, as glibc 2.36 lays
 * them out and uses them. Where that fits no type, the object libc's own
 * functions were called with (their arguments, from libc's debug info) may
 * say (STRAND_DECODED_ARGUMENT). The frames' names are only a last hint, and
 * a wait decoded from them says so (STRAND_DECODED_NAME_GUESS). */

#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE 128
/* What glibc keeps in a barrier's or semaphore's private field: LLL_PRIVATE
 * is 0 and LLL_SHARED 128 (the futex flag is flipped by it). */
#define LLL_FLAG(c) ((c)->private_op ? 0u : 128u)
#define PID_MAX 4194304 /* the kernel's limit on pid_max: a TID is below it */

/* The call as the thread made it. */
struct futex_call {
	uint64_t word;    /* the futex address */
	int cmd;          /* FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, ... */
	bool private_op;  /* FUTEX_PRIVATE_FLAG: the object is not process-shared */
	uint32_t expected;
};

static bool plausible_tid(uint32_t tid)
{
	return tid > 0 && tid < PID_MAX;
}

static bool frames_mention(const struct strand_thread_info *t, const char *what)
{
	for (size_t i = 0; i < t->nframes; i++)
		if (t->frames[i] && strstr(t->frames[i], what))
			return true;
	return false;
}

/* detail from a format with a count and its plural ending. */
static void set_detail(struct strand_wait *w, const char *fmt, long long n)
{
	snprintf(w->detail, sizeof(w->detail), fmt, n, n == 1 ? "" : "s");
}

static void decode_mutex(struct strand_host *h, uint64_t addr, int cmd, struct strand_wait *w)
{
	static const char *const kinds[] = { "normal", "recursive", "error-checking", "adaptive" };
	uint32_t lock = rd32(h, addr), owner = rd32(h, addr + 8), kind = rd32(h, addr + 16);
	w->kind = STRAND_WAIT_MUTEX;
	w->object = addr;
	if (cmd == FUTEX_LOCK_PI || (kind & 0x10)) /* PI, robust: the owner's TID is in the lock word itself */
		w->owner = (int32_t)(lock & 0x3fffffff);
	else
		w->owner = (int32_t)owner;
	snprintf(w->detail, sizeof(w->detail), "%s%s%s mutex", kinds[kind & 3], kind & 0x10 ? " robust" : "",
		 kind & 0x20 ? " priority-inheritance" : "");
}

/* pthread_mutex_t: the word is __lock. lll_lock_wait expects 2 (locked, with
 * waiters), a robust mutex the owner's TID with FUTEX_WAITERS; __owner holds
 * a TID and __kind only type bits (with 128, process-shared, exactly when
 * the call is not private). */
static bool is_mutex(struct strand_host *h, const struct futex_call *c)
{
	uint32_t owner = rd32(h, c->word + 8), kind = rd32(h, c->word + 16);
	if ((kind & ~0x3ffu) || (c->cmd != FUTEX_WAIT && c->cmd != FUTEX_WAIT_BITSET))
		return false;
	if (kind & 0x10) /* robust: waits on the word holding the owner's TID */
		return plausible_tid(c->expected & 0x3fffffff) && rd32(h, c->word) == c->expected;
	return c->expected == 2 && plausible_tid(owner) && c->private_op == !(kind & 128);
}

/* struct pthread_barrier {in, current_round, count, shared, out}: waiters
 * wait on current_round for it to move on; rounds advance by count, shared
 * says whether the futex is private. */
static bool is_barrier(struct strand_host *h, const struct futex_call *c)
{
	uint64_t base = c->word - 4;
	uint32_t in = rd32(h, base), round = rd32(h, c->word), count = rd32(h, base + 8), shared = rd32(h, base + 12);
	return c->cmd == FUTEX_WAIT && c->expected == round && count >= 2 && round % count == 0 && in - round >= 1 &&
	       in - round < count && shared == LLL_FLAG(c);
}

/* struct new_sem {u64 data (the value, then the waiters in the high half),
 * int private}: sem_wait waits on the value word for it to leave 0. */
static bool is_semaphore(struct strand_host *h, const struct futex_call *c)
{
	uint32_t waiters = rd32(h, c->word + 4), private_flag = rd32(h, c->word + 8);
	return c->cmd == FUTEX_WAIT_BITSET && c->expected == 0 && waiters >= 1 &&
	       private_flag == LLL_FLAG(c);
}

/* pthread_rwlock_t: a reader blocked by a writer waits on __wrphase_futex
 * (+8) expecting 3 (write phase, futex used); a writer waits there expecting 2
 * for the readers to leave, or on __writers_futex (+12) expecting 3 behind
 * another writer. __pad3 and __pad4 stay 0, __shared is 0 or 1 and decides
 * the futex's privacy, __flags is a preference (0..2). */
static bool rwlock_at(struct strand_host *h, uint64_t base, const struct futex_call *c)
{
	uint32_t shared = rd32(h, base + 28);
	return rd32(h, base + 16) == 0 && rd32(h, base + 20) == 0 && shared <= 1 && rd32(h, base + 48) <= 2 &&
	       c->private_op == (shared == 0) && rd32(h, c->word) == c->expected;
}

static bool decode_rwlock(struct strand_host *h, const struct futex_call *c, struct strand_wait *w)
{
	if (c->cmd != FUTEX_WAIT_BITSET)
		return false;
	uint64_t base;
	bool reader;
	if ((c->expected == 2 || c->expected == 3) && rwlock_at(h, c->word - 8, c) &&
	    (c->expected == 2 || (rd32(h, c->word - 8) & 1))) {
		base = c->word - 8;
		reader = c->expected == 3; /* expecting 2: a writer waiting for the readers to leave */
	} else if (c->expected == 3 && rwlock_at(h, c->word - 12, c)) {
		base = c->word - 12;
		reader = false;
	} else if ((c->expected & 6) == 6 && rwlock_at(h, c->word, c) && rd32(h, c->word + 48) == 2) {
		/* PREFER_WRITER_NONRECURSIVE: a reader behind a waiting writer waits
		 * on __readers itself, with WRLOCKED and RWAITING set */
		base = c->word;
		reader = true;
	} else {
		return false;
	}
	w->kind = reader ? STRAND_WAIT_RWLOCK_READ : STRAND_WAIT_RWLOCK_WRITE;
	w->object = base;
	w->owner = (int32_t)rd32(h, base + 24); /* __cur_writer; readers are only counted */
	w->value = rd32(h, base) >> 3; /* readers in it or registered to wait for it */
	if (w->owner)
		set_detail(w, "rwlock held for writing, %lld reader%s waiting", w->value);
	else
		set_detail(w, "rwlock held by %lld reader%s", w->value);
	return true;
}

/* pthread_once_t: the waiter expects the word it read, the fork generation
 * with __PTHREAD_ONCE_INPROGRESS (bit 0) set and DONE (bit 1) clear. */
static bool is_once(struct strand_host *h, const struct futex_call *c)
{
	return c->cmd == FUTEX_WAIT && c->private_op && (c->expected & 3) == 1 && rd32(h, c->word) == c->expected;
}

/* futex: the word of cond the waiter sleeps on, one of its __g_signals.
 * __wrefs (waiters from bit 3) lies right before them: at +36 before
 * __g_signals at +40, or at +28 before them at +32 where the g_refs removal
 * (2.41, backported to the 2.38-2.40 branches) moved them up; the release
 * does not tell which, the word does (+32 and +36 hold no waiter's word in
 * the older layout: g1_orig_size, and __wrefs, which only
 * pthread_cond_destroy waits on). */
static void set_cond(struct strand_host *h, uint64_t cond, uint64_t futex, uint64_t mutex, struct strand_wait *w)
{
	w->kind = STRAND_WAIT_COND;
	w->object = cond;
	w->mutex = mutex;
	w->value = rd32(h, futex < cond + 40 ? cond + 28 : cond + 36) >> 3;
	set_detail(w, "condition variable, %lld waiter%s", w->value);
}

/* pthread_cond_t before glibc 2.25 {lock, futex, u64 total_seq, wakeup_seq,
 * woken_seq, mutex, u32 nwaiters, broadcast_seq}: the waiter sleeps on
 * __futex with FUTEX_WAIT on the value it read, __mutex is the mutex it
 * released (~0 when shared), __nwaiters counts waiters from bit 1, and a
 * waiter not yet woken leaves woken_seq below total_seq. x86_64's
 * pthread_cond_wait was assembly then: no cleanup buffer names the cond. */
static bool cond_before_2_25(struct strand_host *h, const struct futex_call *c, struct strand_wait *w)
{
	uint64_t cond = c->word - 4, mutex = rd64(h, cond + 32);
	uint64_t total = rd64(h, cond + 8), wakeup = rd64(h, cond + 16), woken = rd64(h, cond + 24);
	uint32_t waiters = rd32(h, cond + 40) >> 1;
	if (c->cmd != FUTEX_WAIT || rd32(h, c->word) != c->expected || !mutex || !waiters || total < wakeup ||
	    wakeup < woken || total == woken)
		return false;
	w->kind = STRAND_WAIT_COND;
	w->object = cond;
	w->mutex = mutex == ~0ull ? 0 : mutex;
	w->value = waiters;
	set_detail(w, "condition variable, %lld waiter%s", w->value);
	return true;
}

/* The cleanup buffer pthread_cond_wait pushes names its cond and its mutex:
 * struct pthread's `cleanup` (40 bytes after `tid`: pid, robust_prev and the
 * 24-byte robust_head lie between) points to {routine, arg, ...}, and arg to
 * {wseq, cond, mutex, private}. The buffer is popped before the mutex is
 * taken again, so a waiter back on the mutex is not taken for this. */
static bool cond_from_cleanup(struct strand_host *h, const struct strand_thread_info *t, const struct layout *l,
			      uint64_t futex, struct strand_wait *w)
{
	if (!t->fs_base)
		return false;
	uint64_t cleanup = rd64(h, t->fs_base + l->tid + 40), arg = cleanup ? rd64(h, cleanup + 8) : 0;
	uint64_t cond = arg ? rd64(h, arg + 8) : 0, mutex = arg ? rd64(h, arg + 16) : 0;
	/* __g_signals is at +40 on 2.36 (+32 from 2.41 and its backports) */
	if (!cond || futex < cond + 32 || futex >= cond + 48)
		return false;
	set_cond(h, cond, futex, mutex, w);
	return true;
}

/* Without the cleanup buffer (no thread pointer): the word is __g_signals[g]
 * of a condvar whose __g_refs[g] counts this waiter (2 a waiter) and whose
 * __wrefs counts waiters (from bit 3) and says whether it is shared (bit 0). */
static bool cond_from_layout(struct strand_host *h, const struct futex_call *c, struct strand_wait *w)
{
	if (c->cmd != FUTEX_WAIT_BITSET || c->expected != 0)
		return false;
	for (uint64_t g = 0; g < 2; g++) {
		uint64_t cond = c->word - 40 - 4 * g;
		uint32_t wrefs = rd32(h, cond + 36), grefs = rd32(h, cond + 16 + 4 * g);
		if (wrefs >> 3 && grefs >= 2 && !(grefs & 1) && c->private_op == !(wrefs & 1)) {
			set_cond(h, cond, c->word, 0, w);
			return true;
		}
	}
	return false;
}

/* pthread_join waits on the joinee's tid word inside its descriptor. */
static bool decode_join(struct strand_host *h, const struct layout *l, const struct futex_call *c,
			struct strand_wait *w)
{
	uint64_t pd = c->word - l->tid;
	if (rd64(h, pd + 16) != pd) /* header.self: it is a thread descriptor */
		return false;
	w->kind = STRAND_WAIT_JOIN;
	w->object = pd;
	w->joinee = (int32_t)rd32(h, c->word);
	w->owner = w->joinee;
	snprintf(w->detail, sizeof(w->detail), "join of thread LWP %u", c->expected);
	return true;
}

static bool decode_by_object(struct strand_host *h, const struct strand_thread_info *t, const struct futex_call *c,
			     struct strand_wait *w)
{
	struct layout l;
	if (load_layout(h, &l) && (decode_join(h, &l, c, w) || cond_from_cleanup(h, t, &l, c->word, w)))
		return true;
	if (c->cmd == FUTEX_LOCK_PI || is_mutex(h, c)) {
		decode_mutex(h, c->word, c->cmd, w);
		return true;
	}
	if (is_barrier(h, c)) {
		uint64_t base = c->word - 4;
		uint32_t in = rd32(h, base), count = rd32(h, base + 8);
		w->kind = STRAND_WAIT_BARRIER;
		w->object = base;
		w->value = count - (in - rd32(h, c->word));
		snprintf(w->detail, sizeof(w->detail), "barrier of %u, %lld more to arrive", count, (long long)w->value);
		return true;
	}
	if (is_semaphore(h, c)) {
		w->kind = STRAND_WAIT_SEMAPHORE;
		w->object = c->word;
		w->value = rd32(h, c->word);
		snprintf(w->detail, sizeof(w->detail), "semaphore, value %lld", (long long)w->value);
		return true;
	}
	if (decode_rwlock(h, c, w))
		return true;
	if (cond_before_2_25(h, c, w))
		return true;
	if (is_once(h, c)) {
		w->kind = STRAND_WAIT_ONCE;
		w->object = c->word;
		snprintf(w->detail, sizeof(w->detail), "pthread_once, its initializer still running");
		return true;
	}
	return cond_from_layout(h, c, w);
}

/* The value of libc's parameter name in the innermost frame that has it. */
static bool arg_of(const struct strand_thread_info *t, const char *name, uint64_t *value)
{
	for (size_t i = 0; i < t->nargs; i++)
		if (t->args[i].name && !strcmp(t->args[i].name, name)) {
			*value = t->args[i].value;
			return true;
		}
	return false;
}

/* When the word's surroundings do not decode: the object that libc's own
 * functions were called with, where debug info gives their arguments, if
 * the futex word lies in it where glibc waits. libc's internal locks
 * (stdio's FILE lock, malloc's arena lock) are a `futex` argument of
 * __lll_lock_wait with no pthread_mutex_t around it. */
static bool decode_by_argument(struct strand_host *h, const struct strand_thread_info *t,
			       const struct futex_call *c, struct strand_wait *w)
{
	uint64_t v, mutex = 0;
	if (arg_of(t, "cond", &v) && c->word >= v + 32 && c->word < v + 48) {
		arg_of(t, "mutex", &mutex);
		set_cond(h, v, c->word, mutex, w);
	} else if (arg_of(t, "mutex", &v) && v == c->word) {
		decode_mutex(h, v, c->cmd, w);
	} else if (arg_of(t, "sem", &v) && v == c->word) {
		w->kind = STRAND_WAIT_SEMAPHORE;
		w->object = v;
		w->value = rd32(h, v);
		snprintf(w->detail, sizeof(w->detail), "semaphore, value %lld", (long long)w->value);
	} else if (arg_of(t, "rwlock", &v) && (c->word == v || c->word == v + 8 || c->word == v + 12)) {
		bool reader = c->word == v || (c->word == v + 8 && c->expected == 3);
		w->kind = reader ? STRAND_WAIT_RWLOCK_READ : STRAND_WAIT_RWLOCK_WRITE;
		w->object = v;
		w->owner = (int32_t)rd32(h, v + 24);
		snprintf(w->detail, sizeof(w->detail), "rwlock");
	} else if (arg_of(t, "barrier", &v) && c->word == v + 4) {
		w->kind = STRAND_WAIT_BARRIER;
		w->object = v;
		snprintf(w->detail, sizeof(w->detail), "barrier of %u", rd32(h, v + 8));
	} else if (arg_of(t, "once_control", &v) && v == c->word) {
		w->kind = STRAND_WAIT_ONCE;
		w->object = v;
		snprintf(w->detail, sizeof(w->detail), "pthread_once, its initializer still running");
	} else if (arg_of(t, "futex", &v) && v == c->word && (c->expected == 2 || c->expected == 1)) {
		w->kind = STRAND_WAIT_MUTEX;
		w->object = v;
		snprintf(w->detail, sizeof(w->detail), "libc internal lock (no owner recorded)");
	} else {
		return false;
	}
	w->decoded_by = STRAND_DECODED_ARGUMENT;
	return true;
}

/* The last hint: what the frames are called. A guess, and marked as one. */
static bool decode_by_name(struct strand_host *h, const struct strand_thread_info *t, const struct futex_call *c,
			   struct strand_wait *w)
{
	static const struct {
		const char *name;
		int kind;
	} hints[] = {
		{ "cond", STRAND_WAIT_COND },       { "rdlock", STRAND_WAIT_RWLOCK_READ },
		{ "rwlock", STRAND_WAIT_RWLOCK_WRITE }, { "sem_", STRAND_WAIT_SEMAPHORE },
		{ "barrier", STRAND_WAIT_BARRIER }, { "once", STRAND_WAIT_ONCE },
		{ "lll_lock", STRAND_WAIT_MUTEX },
	};
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (frames_mention(t, hints[i].name)) {
			if (hints[i].kind == STRAND_WAIT_MUTEX)
				decode_mutex(h, c->word, c->cmd, w);
			w->kind = hints[i].kind;
			w->object = c->word;
			w->decoded_by = STRAND_DECODED_NAME_GUESS;
			snprintf(w->detail, sizeof(w->detail), "a guess from the frames' names: the object does not decode");
			return true;
		}
	return false;
}

static bool glibc_decode_wait(struct strand_host *h, const struct strand_thread_info *t, struct strand_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->value = -1;
	if (t->syscall != FUTEX_NR)
		return false;
	struct futex_call c = {
		.word = t->syscall_args[0],
		.cmd = (int)(t->syscall_args[1] & 0x7f),
		.private_op = t->syscall_args[1] & FUTEX_PRIVATE,
		.expected = (uint32_t)t->syscall_args[2],
	};
	if (decode_by_object(h, t, &c, w) || decode_by_argument(h, t, &c, w) || decode_by_name(h, t, &c, w))
		return true;
	w->kind = STRAND_WAIT_UNKNOWN;
	w->object = c.word;
	snprintf(w->detail, sizeof(w->detail), "futex, expecting %u", c.expected);
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
		 * in glibc's struct pthread (2.17 to 2.41) they sit at fixed
		 * distances from start_routine: joinid, result, schedparam+policy,
		 * start_routine, arg, eventbuf (24 bytes), nextevent, then exc
		 * (a 16-aligned struct _Unwind_Exception of 32 bytes), stackblock,
		 * stackblock_size. */
		uint64_t joinid = rd64(h, pd + l->start_routine - 24);
		uint64_t exc = (l->start_routine + 48 + 15) & ~15ull;
		d.joinable = joinid != pd;
		d.exited = d.tid == 0 || (cancel & CANCEL_EXITING);
		/* The initial thread runs on the process stack, which nptl did not allocate. */
		d.stack_size = d.start_routine ? rd64(h, pd + exc + 40) : 0;
		fn(ctx, &d);
	}
	return n;
}

static int glibc_threads(struct strand_host *h, void (*fn)(void *ctx, const struct strand_thread_desc *d), void *ctx)
{
	struct layout l;
	if (!load_layout(h, &l))
		return -1;
	if (!l.lists_known)
		api->warn(h, "glibc-nptl: the list of created threads was not found (no libthread_db descriptors, and "
			  "no created thread alive leads to it): threads that exited and were never joined are not listed");
	int n = 0;
	for (size_t i = 0; i < 2; i++)
		if (l.heads[i])
			n += walk_list(h, &l, l.heads[i], fn, ctx);
	return n;
}

static uint64_t glibc_descriptor_size(struct strand_host *h)
{
	uint32_t desc[3];
	return db_descriptor(h, "_thread_db_sizeof_pthread", desc, NULL) ? desc[0] : 0;
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
	struct layout l;
	if (!load_layout(h, &l))
		return 0;
	api->evidence(h, "%s", l.why);
	return l.by_symbols ? 90 : 80;
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
