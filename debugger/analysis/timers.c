#include "timers.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "goroutines.h"
#include "plugin.h"
#include "base/util.h"

#define SCAN_CHUNK ((size_t)1 << 20)
#define PAGE 4096ull

static void add_timer(void *ctx, const struct strand_timer *t)
{
	struct runtime_timers *ts = ctx;
	ts->v = xrealloc(ts->v, (ts->n + 1) * sizeof(*ts->v));
	struct runtime_timer *out = &ts->v[ts->n++];
	memset(out, 0, sizeof(*out));
	out->t = *t;
	out->kind = xstrdup(t->kind ? t->kind : "?");
	out->owner_type = t->owner_type ? xstrdup(t->owner_type) : NULL;
}

static int by_when(const void *a, const void *b)
{
	const struct runtime_timer *x = a, *y = b;
	if (x->t.when != y->t.when)
		return x->t.when < y->t.when ? -1 : 1;
	return x->t.address < y->t.address ? -1 : x->t.address > y->t.address;
}

/* ---- Who could still receive: a scan of the memory the program reaches
 * for the words equal to a timer's channel or owner ---- */

struct range {
	uint64_t start, end;
};

struct scan {
	struct session *s;
	uint64_t *words;        /* sorted: the channels and owners looked for */
	bool *found;
	size_t nwords;
	struct range *skip;     /* sorted by start: memory the bulk scan leaves out */
	size_t nskip, skip_cap;
	uint64_t *buf;
	uint64_t unreadable;    /* the first address that could not be read, 0 none */
	bool registers_unknown; /* a thread's registers were not read */
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void match_words(struct scan *sc, const uint64_t *w, size_t n)
{
	uint64_t lo = sc->words[0], hi = sc->words[sc->nwords - 1];
	for (size_t i = 0; i < n; i++) {
		if (w[i] < lo || w[i] > hi)
			continue;
		uint64_t *hit = bsearch(&w[i], sc->words, sc->nwords, sizeof(*sc->words), compare_u64);
		if (hit)
			sc->found[hit - sc->words] = true;
	}
}

/* [start, end) read in big chunks, word by word (pointers are aligned). */
static void scan_plain(struct scan *sc, uint64_t start, uint64_t end)
{
	start = (start + 7) & ~7ull;
	while (start + 8 <= end) {
		size_t want = end - start < SCAN_CHUNK ? (size_t)(end - start) : SCAN_CHUNK;
		size_t got = target_read(sc->s->target, start, sc->buf, want);
		match_words(sc, sc->buf, got / 8);
		if (got < want) {
			if (!sc->unreadable)
				sc->unreadable = start + got;
			got = (got & ~(PAGE - 1)) + PAGE; /* past the unreadable page */
		}
		start += got;
	}
}

/* [start, end) without the ranges to skip. */
static void scan_skipping(struct scan *sc, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < sc->nskip && start < end; i++) {
		const struct range *r = &sc->skip[i];
		if (r->end <= start || r->start >= end)
			continue;
		if (r->start > start)
			scan_plain(sc, start, r->start);
		start = r->end > start ? r->end : start;
	}
	if (start < end)
		scan_plain(sc, start, end);
}

static void add_skip(struct scan *sc, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	GROW(sc->skip, sc->skip_cap, sc->nskip + 1);
	sc->skip[sc->nskip++] = (struct range){ start, end };
}

static void scan_registers(struct scan *sc)
{
	struct target *t = sc->s->target;
	for (size_t i = 0; i < t->nthreads; i++) {
		if (t->threads[i].regs_state != REGS_FULL) {
			sc->registers_unknown = true;
			continue;
		}
		match_words(sc, (const uint64_t *)&t->threads[i].regs, sizeof(t->threads[i].regs) / 8);
	}
}

/* Each goroutine's live stack; the rest of its stack (dead frames below
 * sp) is left out of the heap scan. */
static void scan_goroutine_stacks(struct scan *sc, const struct goroutines *gs)
{
	for (size_t i = 0; i < gs->n; i++) {
		const struct strand_goroutine *g = &gs->v[i].g;
		if (g->stack_lo >= g->stack_hi)
			continue;
		scan_plain(sc, goroutine_live_sp(sc->s, g), g->stack_hi);
		add_skip(sc, g->stack_lo, g->stack_hi);
	}
}

struct exe_globals {
	struct scan *sc;
	uint64_t entry;
};

static void scan_writable(void *arg, uint64_t start, uint64_t end)
{
	scan_plain(arg, start, end);
}

/* The executable's writable mappings: its data and bss. */
static bool scan_exe_module(const struct module_info *m, void *arg)
{
	struct exe_globals *eg = arg;
	if (eg->entry < m->low || eg->entry >= m->high)
		return true;
	maps_each_writable(&eg->sc->s->target->maps, m->low, m->high, scan_writable, eg->sc);
	return false;
}

/* How much of [start, end) lies in the runtime's heap regions: all, none,
 * or some (a region's edge inside). Regions (Go's 64 MiB arenas) are
 * assumed longer than a chunk: none lies strictly inside one. */
enum heap_share { HEAP_NONE, HEAP_ALL, HEAP_SOME };

static enum heap_share heap_share(struct session *s, uint64_t start, uint64_t end)
{
	uint64_t a, b;
	const char *what;
	bool first = plugin_heap_region(s, start, &a, &what), last = plugin_heap_region(s, end - 1, &b, &what);
	if (first && last && a == b)
		return HEAP_ALL;
	return first || last ? HEAP_SOME : HEAP_NONE;
}

/* The runtime's heap: the writable anonymous mappings, where the runtime
 * says they are its heap, a chunk at a time (page by page across a
 * region's edge). */
static void scan_runtime_heap(struct scan *sc)
{
	const struct maps *maps = &sc->s->target->maps;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mapping *mp = &maps->v[i];
		if (!(mp->perms & MAP_W) || mp->path)
			continue;
		for (uint64_t a = mp->start; a < mp->end && !session_interrupted();) {
			uint64_t end = a + SCAN_CHUNK < mp->end ? a + SCAN_CHUNK : mp->end;
			enum heap_share share = heap_share(sc->s, a, end);
			if (share == HEAP_SOME) {
				end = a + PAGE < mp->end ? a + PAGE : mp->end;
				share = heap_share(sc->s, a, end);
			}
			if (share == HEAP_ALL)
				scan_skipping(sc, a, end);
			a = end;
		}
	}
}

static size_t unique_u64(uint64_t *v, size_t n)
{
	size_t k = 0;
	sort_array(v, n, sizeof(*v), compare_u64);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

static bool was_found(const struct scan *sc, uint64_t word)
{
	uint64_t *hit = bsearch(&word, sc->words, sc->nwords, sizeof(*sc->words), compare_u64);
	return hit && sc->found[hit - sc->words];
}

/* A timer that sends on a channel (a Ticker's, a Timer's) wakes a goroutine
 * only through that channel. Nobody can receive from it any more when no
 * goroutine's live stack, no thread's registers, no global of the
 * executable and no heap memory holds its address or its owner's (the
 * object the program was handed, which holds the channel), except the
 * owner's own bytes. The runtime's timer heaps point at the timer inside
 * its owner (for Go, owner + the offset of r, not the owner itself, as long
 * as r is not the first member), so they keep nothing.
 *
 * The scan errs on the safe side: every word of the heap counts, dead
 * objects the collector has not reused too, so a stale word keeps a timer
 * unflagged; a timer is flagged only when no such word exists at all. */
static void check_receivers(struct session *s, struct runtime_timers *ts)
{
	struct scan sc = { .s = s };
	sc.words = xmalloc((2 * ts->n + 1) * sizeof(*sc.words));
	for (size_t i = 0; i < ts->n; i++) {
		const struct strand_timer *t = &ts->v[i].t;
		if (!t->channel)
			continue;
		sc.words[sc.nwords++] = t->channel;
		if (t->owner) {
			sc.words[sc.nwords++] = t->owner;
			add_skip(&sc, t->owner, t->owner + t->owner_size);
		}
	}
	if (!sc.nwords || !s->target->stopped) {
		if (sc.nwords)
			ts->not_checked = xstrdup("the process runs (--no-stop): its memory changes under a scan");
		free(sc.words);
		free(sc.skip);
		return;
	}
	struct goroutines gs;
	if (goroutines_read(s, &gs) < 0) {
		ts->not_checked = xasprintf("the goroutines' stacks are unknown: %s", error_get());
		free(sc.words);
		free(sc.skip);
		return;
	}
	sc.nwords = unique_u64(sc.words, sc.nwords);
	sc.found = xcalloc(sc.nwords, sizeof(*sc.found));
	sc.buf = xmalloc(SCAN_CHUNK);
	scan_registers(&sc);
	scan_goroutine_stacks(&sc, &gs);
	sort_array(sc.skip, sc.nskip, sizeof(*sc.skip), cmp_range);
	bool found_entry;
	struct exe_globals eg = { &sc, target_auxv(s->target, AT_ENTRY, &found_entry) };
	if (found_entry)
		symbols_modules(s->symbols, scan_exe_module, &eg);
	scan_runtime_heap(&sc);
	if (session_interrupted())
		ts->not_checked = xstrdup("interrupted");
	else if (!found_entry)
		ts->not_checked = xstrdup("the executable's globals are not found (no entry point in the auxiliary vector)");
	else if (sc.registers_unknown)
		ts->not_checked = xstrdup("a thread's registers are unknown");
	else if (sc.unreadable)
		ts->not_checked = xasprintf("memory at 0x%llx could not be read", (unsigned long long)sc.unreadable);
	for (size_t i = 0; i < ts->n && !ts->not_checked; i++) {
		const struct strand_timer *t = &ts->v[i].t;
		ts->v[i].unreceivable = t->channel && !was_found(&sc, t->channel) && !(t->owner && was_found(&sc, t->owner));
	}
	goroutines_free(&gs);
	free(sc.words);
	free(sc.found);
	free(sc.skip);
	free(sc.buf);
}

int runtime_timers_read(struct session *s, struct runtime_timers *out)
{
	memset(out, 0, sizeof(*out));
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	if (!rt || !rt->p->runtime->timers)
		return error_set("no runtime plugin that knows timers fits this program (not a Go program?)");
	error_set("the %s plugin could not list its timers", rt->p->name);
	if (rt->p->runtime->timers(plugin_host(s), add_timer, out) < 0) {
		runtime_timers_free(out);
		return -1;
	}
	sort_array(out->v, out->n, sizeof(*out->v), by_when);
	for (size_t i = 0; i < out->n; i++) {
		out->v[i].t.kind = out->v[i].kind;
		out->v[i].t.owner_type = out->v[i].owner_type;
	}
	check_receivers(s, out);
	return 0;
}

void runtime_timers_free(struct runtime_timers *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->v[i].kind);
		free(ts->v[i].owner_type);
	}
	free(ts->v);
	free(ts->not_checked);
	memset(ts, 0, sizeof(*ts));
}
