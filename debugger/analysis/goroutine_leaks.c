#include "goroutine_leaks.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "base/util.h"
#include "target/maps.h"

/* Memory is read in chunks of this many words. */
#define CHUNK_WORDS ((size_t)1 << 17)

struct span {
	uint64_t start, end, size;
	uint8_t *allocated, *marked;
	bool noscan;
};

struct marker {
	struct session *s;
	struct span *spans;
	size_t nspans, spans_cap;
	/* Objects marked, their words not yet scanned (a work list). */
	struct object {
		size_t span;
		uint64_t index;
	} *pending;
	size_t npending, pending_cap;
	/* What could not be seen (memory not readable, registers unknown): the
	 * marking is then incomplete and no goroutine may be called leaked. */
	char *unseen;
	uint64_t *words;
	/* The goroutines' descriptors and the runtime's records of the blocked
	 * ones' waits (sorted): marked when reached, never scanned through. A
	 * descriptor lists what its goroutine waits on; the records (sudogs)
	 * link unrelated waiters (a semaphore treap's nodes). */
	uint64_t *descriptors;
	size_t ndescriptors;
	/* The goroutines by stack (sorted by stack_lo), and whether each one's
	 * stack was scanned as a root: an object on a stack is reached when it is. */
	struct stack_ref {
		uint64_t lo, hi;
		size_t g;
	} *stacks;
	const struct goroutines *gs;
	bool *scanned;
	/* The last global symbol looked up: whether it is the runtime's own. */
	uint64_t sym_start, sym_end;
	bool sym_runtime;
};

static void add_span(void *ctx, const struct strand_heap_span *sp)
{
	struct marker *m = ctx;
	size_t bytes = (size_t)((sp->nobjects + 7) / 8);
	GROW(m->spans, m->spans_cap, m->nspans + 1);
	struct span *out = &m->spans[m->nspans++];
	out->start = sp->start;
	out->size = sp->object_size;
	out->end = sp->start + sp->object_size * sp->nobjects;
	out->allocated = xmalloc(bytes);
	memcpy(out->allocated, sp->allocated, bytes);
	out->marked = xcalloc(bytes, 1);
	out->noscan = sp->noscan;
}

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The span holding addr, or NULL. */
static struct span *span_of(const struct marker *m, uint64_t addr)
{
	size_t i = sorted_upper_bound(m->spans, m->nspans, sizeof(*m->spans), offsetof(struct span, start), addr);
	return i && addr < m->spans[i - 1].end ? &m->spans[i - 1] : NULL;
}

static bool bit(const uint8_t *bits, uint64_t i)
{
	return bits[i / 8] & (1u << (i % 8));
}

static void mark_word(struct marker *m, uint64_t word)
{
	struct span *sp = span_of(m, word);
	if (!sp)
		return;
	uint64_t i = (word - sp->start) / sp->size;
	if (!bit(sp->allocated, i) || bit(sp->marked, i))
		return;
	sp->marked[i / 8] |= (uint8_t)(1u << (i % 8));
	if (sp->noscan)
		return;
	GROW(m->pending, m->pending_cap, m->npending + 1);
	m->pending[m->npending++] = (struct object){ (size_t)(sp - m->spans), i };
}

static void unseen(struct marker *m, char *why)
{
	if (!m->unseen)
		m->unseen = why;
	else
		free(why);
}

static bool runtime_global(struct marker *m, uint64_t addr);

/* Every word of [start, end) marks what it points at; globals: but the
 * words of the runtime's own globals. */
static void scan_words(struct marker *m, uint64_t start, uint64_t end, bool globals)
{
	for (uint64_t at = start & ~7ull; at + 8 <= end; at += CHUNK_WORDS * 8) {
		size_t want = (size_t)((end - at) / 8 < CHUNK_WORDS ? (end - at) / 8 : CHUNK_WORDS);
		size_t got = target_read(m->s->target, at, m->words, want * 8) / 8;
		for (size_t k = 0; k < got; k++)
			if (!globals || (span_of(m, m->words[k]) && !runtime_global(m, at + 8 * k)))
				mark_word(m, m->words[k]);
		if (got < want) {
			unseen(m, xasprintf("memory at 0x%llx is not readable", (unsigned long long)(at + got * 8)));
			return;
		}
	}
}

static void scan_range(struct marker *m, uint64_t start, uint64_t end)
{
	scan_words(m, start, end, false);
}

static void drain(struct marker *m)
{
	while (m->npending && !session_interrupted()) {
		struct object o = m->pending[--m->npending];
		const struct span *sp = &m->spans[o.span];
		uint64_t start = sp->start + o.index * sp->size;
		if (!bsearch(&start, m->descriptors, m->ndescriptors, sizeof(start), compare_u64))
			scan_range(m, start, start + sp->size);
	}
}

static int by_lo(const void *a, const void *b)
{
	const struct stack_ref *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The goroutine (index) whose stack holds addr, SIZE_MAX none. */
static size_t stack_owner(const struct marker *m, uint64_t addr)
{
	size_t i = sorted_upper_bound(m->stacks, m->gs->n, sizeof(*m->stacks), offsetof(struct stack_ref, lo), addr);
	return i && addr < m->stacks[i - 1].hi ? m->stacks[i - 1].g : SIZE_MAX;
}

/* Whether the object at addr was reached: a heap object marked, an object
 * on a goroutine's stack when that stack was scanned (a goroutine blocked on
 * a mutex of its own frame never is); a global counts as reached. */
static bool reached(const struct marker *m, uint64_t addr)
{
	const struct span *sp = span_of(m, addr);
	size_t owner = sp ? SIZE_MAX : stack_owner(m, addr);
	if (owner != SIZE_MAX)
		return m->scanned[owner];
	if (!sp)
		return true;
	uint64_t i = (addr - sp->start) / sp->size;
	return bit(sp->marked, i);
}

/* Whether the global word at addr belongs to the runtime's own bookkeeping
 * (its lists of goroutines, threads, timers, semaphores), which refer to
 * everything and decide nothing. */
static bool runtime_global(struct marker *m, uint64_t addr)
{
	struct sym_info si;
	if (addr >= m->sym_start && addr < m->sym_end)
		return m->sym_runtime;
	if (!symbols_addr_info(m->s->symbols, addr, &si) || !si.name) {
		m->sym_start = m->sym_end = 0;
		return false;
	}
	m->sym_start = si.start;
	m->sym_end = si.start + (si.size ? si.size : 1);
	m->sym_runtime = goroutine_frame_flags(m->s, si.name, NULL) & STRAND_FRAME_RUNTIME;
	return m->sym_runtime;
}

static void root_writable(void *arg, uint64_t start, uint64_t end)
{
	scan_words(arg, start, end, true);
}

static bool root_module_globals(const struct module_info *mi, void *arg)
{
	struct marker *m = arg;
	maps_each_writable(&m->s->target->maps, mi->low, mi->high, root_writable, m);
	return true;
}

/* The registers of the threads that run a goroutine (or left it for a
 * system call). An idle thread runs only the scheduler, its registers
 * still holding words of the goroutine it ran last: they decide nothing. */
static void root_registers(struct marker *m)
{
	for (size_t i = 0; i < m->gs->n; i++) {
		const struct strand_goroutine *g = &m->gs->v[i].g;
		struct thread *th = g->tid ? target_thread_by_tid(m->s->target, g->tid) : NULL;
		if (g->status != STRAND_G_RUNNING && g->status != STRAND_G_SYSCALL)
			continue;
		if (!th || th->regs_state != REGS_FULL) {
			unseen(m, xasprintf("the registers of goroutine %llu's thread are unknown", (unsigned long long)g->id));
			continue;
		}
		const unsigned long long *r = (const unsigned long long *)&th->regs;
		for (size_t k = 0; k < sizeof(th->regs) / sizeof(*r); k++)
			mark_word(m, r[k]);
	}
}

static void root_timer(void *ctx, const struct strand_timer *t)
{
	struct marker *m = ctx;
	mark_word(m, t->channel);
	mark_word(m, t->owner);
}

/* A goroutine that can run: its stack, and its descriptor (a goroutine
 * not started yet keeps its function's closure there). */
static void root_goroutine(struct marker *m, const struct goroutine *g)
{
	const struct span *sp = span_of(m, g->g.address);
	m->scanned[g - m->gs->v] = true;
	if (g->g.stack_lo < g->g.stack_hi)
		scan_range(m, goroutine_live_sp(m->s, &g->g), g->g.stack_hi);
	if (sp) {
		uint64_t start = sp->start + (g->g.address - sp->start) / sp->size * sp->size;
		scan_range(m, start, start + sp->size);
	}
}

/* Whether any object the goroutine waits on was reached (a select's cases
 * beyond those named count as reached). */
static bool waits_on_reached(const struct marker *m, const struct blocked_goroutine *b)
{
	if (b->w->nobjects > STRAND_MAX_WAIT_OBJECTS)
		return true;
	for (size_t k = 0; k < b->w->nobjects; k++)
		if (reached(m, b->w->objects[k].address))
			return true;
	return b->w->nobjects == 0;
}

static void marker_free(struct marker *m)
{
	for (size_t i = 0; i < m->nspans; i++)
		free(m->spans[i].allocated), free(m->spans[i].marked);
	free(m->spans), free(m->pending), free(m->words), free(m->descriptors), free(m->stacks), free(m->scanned);
	free(m->unseen);
}

int goroutine_leaks(struct session *s, const struct goroutines *gs, struct blocked_goroutine *v, size_t n)
{
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	struct marker m = { .s = s, .gs = gs };
	if (!rt || !rt->p->runtime->heap_spans)
		return error_set("the runtime plugin does not walk its heap");
	error_set("the %s plugin could not walk the runtime's heap", rt->p->name);
	if (rt->p->runtime->heap_spans(plugin_host(s), add_span, &m) < 0) {
		marker_free(&m);
		return -1;
	}
	sort_array(m.spans, m.nspans, sizeof(*m.spans), by_start);
	m.words = xmalloc(CHUNK_WORDS * 8);
	m.descriptors = xmalloc((gs->n + n * STRAND_MAX_WAIT_OBJECTS + 1) * sizeof(*m.descriptors));
	for (size_t i = 0; i < gs->n; i++)
		m.descriptors[m.ndescriptors++] = gs->v[i].g.address;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < v[i].w->nrecords && k < STRAND_MAX_WAIT_OBJECTS; k++)
			m.descriptors[m.ndescriptors++] = v[i].w->records[k];
	sort_array(m.descriptors, m.ndescriptors, sizeof(*m.descriptors), compare_u64);
	m.stacks = xmalloc((gs->n + 1) * sizeof(*m.stacks));
	m.scanned = xcalloc(gs->n + 1, sizeof(*m.scanned));
	for (size_t i = 0; i < gs->n; i++)
		m.stacks[i] = (struct stack_ref){ gs->v[i].g.stack_lo, gs->v[i].g.stack_hi, i };
	sort_array(m.stacks, gs->n, sizeof(*m.stacks), by_lo);
	bool *blocked = xcalloc(gs->n + 1, sizeof(*blocked)), *rooted = xcalloc(n + 1, sizeof(*rooted));
	for (size_t i = 0; i < n; i++)
		blocked[v[i].g - gs->v] = true;
	symbols_modules(s->symbols, root_module_globals, &m);
	root_registers(&m);
	if (rt->p->runtime->timers && rt->p->runtime->timers(plugin_host(s), root_timer, &m) < 0)
		unseen(&m, xasprintf("the runtime's timers are not readable (%s)", error_get()));
	/* The runtime's own goroutines (its collector's workers, the sweeper)
	 * run no code of the program: a word left in their frames by the last
	 * object they handled decides nothing. */
	for (size_t i = 0; i < gs->n; i++)
		if (!blocked[i] && !gs->v[i].g.system)
			root_goroutine(&m, &gs->v[i]);
	drain(&m);
	/* A blocked goroutine whose object was reached may be woken: what its
	 * stack refers to is reached too, which may reach more objects. */
	for (bool more = true; more && !session_interrupted();) {
		more = false;
		for (size_t i = 0; i < n; i++)
			if (!rooted[i] && !v[i].never_runs && waits_on_reached(&m, &v[i])) {
				rooted[i] = more = true;
				root_goroutine(&m, v[i].g);
				drain(&m);
			}
	}
	int rc = session_interrupted() ? error_set("interrupted")
		 : m.unseen ? error_set("%s, so what it refers to is unknown", m.unseen) : 0;
	for (size_t i = 0; i < n; i++)
		v[i].leaked = !rc && !rooted[i] && !v[i].never_runs;
	free(blocked), free(rooted);
	marker_free(&m);
	return rc;
}
