#include "heap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/output.h"
#include "plugin.h"
#include "session.h"
#include "symbols/frames.h"
#include "base/util.h"

_Static_assert(sizeof(struct heap_block) == 16, "the block table keeps 16 bytes a block");

static const char *const state_names[] = {
	[STRAND_USED] = "used",          [STRAND_TCACHE] = "tcache",       [STRAND_FASTBIN] = "fastbin",
	[STRAND_UNSORTED] = "unsorted",  [STRAND_SMALLBIN] = "smallbin",   [STRAND_LARGEBIN] = "largebin",
	[STRAND_FREE] = "free",          [STRAND_TOP] = "top",             [STRAND_INTERNAL] = "allocator",
};

const char *heap_state_name(unsigned state)
{
	return state < ARRAY_SIZE(state_names) && state_names[state] ? state_names[state] : "?";
}

bool heap_state_is_free(unsigned state)
{
	return state != STRAND_USED && state != STRAND_INTERNAL;
}

static bool is_list_state(unsigned state)
{
	return state >= STRAND_TCACHE && state <= STRAND_LARGEBIN;
}

/* What the walk collects before the table is final. */
struct builder {
	struct heap *h;
	struct heap_block *walk, *overlay;
	size_t nwalk, walk_cap, noverlay, overlay_cap, arena_cap, problem_cap, metadata_cap;
	bool unsorted; /* the walk came out of address order: overlays wait for the sort */
	uint64_t writable; /* bytes of the target's writable mappings */
};

static void apply_overlay(struct builder *b, const struct heap_block *o);

/* Room for as many blocks as an arena's memory can hold (32 bytes each, the
 * smallest chunk), so that the table seldom moves while it fills: untouched
 * capacity costs address space, not RAM. The arena's claim is bounded by the
 * writable memory the process has, and one that no allocation can meet
 * (damaged metadata) leaves the table to grow as blocks come. */
static void reserve_blocks(struct builder *b, uint64_t bytes)
{
	if (bytes > b->writable)
		bytes = b->writable;
	size_t need = b->nwalk + bytes / 32 + 16;
	void *p = need > b->walk_cap ? realloc(b->walk, need * sizeof(*b->walk)) : NULL;
	if (p) {
		b->walk = p;
		b->walk_cap = need;
		advise_huge_pages(p, need * sizeof(*b->walk));
	}
}

static void sink_arena(void *ctx, const struct strand_arena *a)
{
	struct builder *b = ctx;
	struct heap *h = b->h;
	GROW(h->arenas, b->arena_cap, h->narenas + 1);
	struct heap_arena *ha = &h->arenas[h->narenas++];
	ha->a = *a;
	snprintf(ha->kind, sizeof(ha->kind), "%s", a->kind ? a->kind : "?");
	ha->a.kind = ha->kind;
	reserve_blocks(b, a->system_mem);
}

static void sink_block(void *ctx, const struct strand_block *blk)
{
	struct builder *b = ctx;
	struct heap_block e = { blk->addr, (uint32_t)(blk->usable / 8), (uint16_t)blk->arena, blk->state,
				blk->mmapped ? HEAP_MMAPPED : 0 };
	if (blk->arena == STRAND_ARENA_KEEP)
		e.arena = UINT16_MAX;
	if (blk->state == STRAND_USED || blk->state == STRAND_FREE || blk->state == STRAND_TOP) {
		if (b->nwalk == b->walk_cap)
			GROW(b->walk, b->walk_cap, b->nwalk + 1);
		if (b->nwalk && b->walk[b->nwalk - 1].addr >= e.addr)
			b->unsorted = true;
		b->walk[b->nwalk++] = e;
	} else if (!b->unsorted) {
		apply_overlay(b, &e); /* the table is in order so far: no need to keep it */
	} else {
		GROW(b->overlay, b->overlay_cap, b->noverlay + 1);
		b->overlay[b->noverlay++] = e;
	}
}

static void add_problem(struct builder *b, uint64_t addr, const char *msg)
{
	struct heap *h = b->h;
	GROW(h->problems, b->problem_cap, h->nproblems + 1);
	h->problems[h->nproblems++] = (struct heap_problem){ addr, xstrdup(msg) };
}

static void sink_problem(void *ctx, uint64_t addr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	add_problem(ctx, addr, msg);
	free(msg);
}

static void sink_discovery(void *ctx, const char *how)
{
	struct builder *b = ctx;
	free(b->h->discovery);
	b->h->discovery = xstrdup(how);
}

static void sink_metadata(void *ctx, uint64_t start, uint64_t end)
{
	struct builder *b = ctx;
	struct heap *h = b->h;
	GROW(h->metadata, b->metadata_cap, h->nmetadata + 1);
	h->metadata[h->nmetadata++] = (struct heap_range){ start, end };
}

int heap_range_by_start(const void *x, const void *y)
{
	const struct heap_range *a = x, *b = y;
	return (a->start > b->start) - (a->start < b->start);
}

static int by_addr(const void *x, const void *y)
{
	const struct heap_block *a = x, *b = y;
	return (a->addr > b->addr) - (a->addr < b->addr);
}

static struct heap_block *find_exact(struct heap_block *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].addr == addr ? &v[lo] : NULL;
}

/* A free-list entry changes the state of a walked block; what contradicts the
 * walk is corruption (a double free, a chunk in two lists). */
static void apply_overlay(struct builder *b, const struct heap_block *o)
{
	char msg[200];
	struct heap_block *blk = find_exact(b->walk, b->nwalk, o->addr);
	if (!blk) {
		snprintf(msg, sizeof(msg), "%s entry 0x%llx lies outside every heap walked", heap_state_name(o->state),
			 (unsigned long long)o->addr);
		add_problem(b, o->addr, msg);
		return;
	}
	if (blk->state == o->state)
		return; /* met again on a cyclic list: the plugin reports the cycle */
	if (is_list_state(blk->state) || (is_list_state(o->state) && blk->state == STRAND_TOP)) {
		snprintf(msg, sizeof(msg), "chunk 0x%llx is in two free lists (%s and %s)", (unsigned long long)o->addr,
			 heap_state_name(blk->state), heap_state_name(o->state));
		add_problem(b, o->addr, msg);
	} else if ((o->state == STRAND_TCACHE || o->state == STRAND_FASTBIN) && blk->state == STRAND_FREE) {
		snprintf(msg, sizeof(msg), "chunk 0x%llx is in a %s but the heap marks it free (a double free?)",
			 (unsigned long long)o->addr, heap_state_name(o->state));
		add_problem(b, o->addr, msg);
	} else if (is_list_state(o->state) && o->state > STRAND_FASTBIN && blk->state == STRAND_USED) {
		snprintf(msg, sizeof(msg), "chunk 0x%llx is in the %s bin but the heap marks it in use",
			 (unsigned long long)o->addr, heap_state_name(o->state));
		add_problem(b, o->addr, msg);
	}
	blk->state = o->state;
}

static void finish(struct builder *b)
{
	struct heap *h = b->h;
	if (b->unsorted)
		qsort(b->walk, b->nwalk, sizeof(*b->walk), by_addr);
	/* A region reported twice keeps its first report. */
	size_t n = 0;
	for (size_t i = 0; i < b->nwalk; i++)
		if (!n || b->walk[n - 1].addr != b->walk[i].addr)
			b->walk[n++] = b->walk[i];
	b->nwalk = n;
	for (size_t i = 0; i < b->noverlay; i++)
		apply_overlay(b, &b->overlay[i]);
	free(b->overlay);
	h->blocks = b->walk;
	h->n = b->nwalk;
}

struct heap *heap_build(const struct strand_allocator *a, struct strand_host *host, uint64_t writable)
{
	struct heap *h = xcalloc(1, sizeof(*h));
	struct builder b = { .h = h, .writable = writable };
	struct strand_heap_sink sink = { &b, sink_arena, sink_block, sink_problem, sink_discovery, sink_metadata };
	double start = now_seconds();
	h->walked = a->walk(host, &sink) == 0;
	finish(&b);
	if (h->nmetadata) /* qsort wants an array, even of none */
		qsort(h->metadata, h->nmetadata, sizeof(*h->metadata), heap_range_by_start);
	h->seconds = now_seconds() - start;
	return h;
}

/* The allocators in use beside the one walked: their memory is not in the
 * table. */
static void add_gaps(struct heap *h, struct session *s, const struct plugin_detection *walked)
{
	size_t n, cap = 0;
	const struct plugin_detection *d = plugin_detections(s, &n);
	for (size_t i = 0; i < n; i++) {
		if (!plugin_left_out(&d[i], walked))
			continue;
		GROW(h->gaps, cap, h->ngaps + 1);
		h->gaps[h->ngaps++] = (struct heap_gap){ d[i].p->name, d[i].evidence ? xstrdup(d[i].evidence) : NULL };
	}
}

static struct heap *heap_walk(struct session *s)
{
	const struct plugin_detection *d = plugin_allocator(s);
	if (!d) {
		error_set("no allocator plugin recognises this target (glibc malloc not found; see `info plugins`)");
		return NULL;
	}
	if (!d->p->allocator->walk) {
		if (d->evidence)
			error_set("the allocator in use is %s (%s), and strand has no walker for it: no heap block was "
				  "analysed (see `info plugins`)", d->p->name, d->evidence);
		else
			error_set("the allocator in use is %s (detected with confidence %d), and strand has no walker for "
				  "it: no heap block was analysed (see `info plugins`)", d->p->name, d->confidence);
		return NULL;
	}
	uint64_t writable = 0;
	for (size_t i = 0; i < s->target->maps.n; i++)
		if (s->target->maps.v[i].perms & MAP_W)
			writable += s->target->maps.v[i].end - s->target->maps.v[i].start;
	struct heap *h = heap_build(d->p->allocator, plugin_host(s), writable);
	h->allocator = d->p->name;
	h->confidence = d->confidence;
	add_gaps(h, s, d);
	return h;
}

const struct heap *heap_get(struct session *s)
{
	if (s->heap && !s->target->stopped)
		session_forget_heap(s);
	if (!s->heap)
		s->heap = heap_walk(s);
	return s->heap;
}

const struct heap *heap_get_walked(struct session *s)
{
	const struct heap *h = heap_get(s);
	if (h && !h->walked) {
		error_set("the heap could not be walked (%s)",
			  h->nproblems ? h->problems[0].message : "its allocator's state was not found");
		return NULL;
	}
	return h;
}

char *heap_block_type(struct session *s, const struct heap_block *blk)
{
	uint64_t vptr;
	struct sym_info si;
	if (heap_usable(blk) < 8 || !target_read_u64(s->target, blk->addr, &vptr) || !vptr)
		return NULL;
	/* A vtable lives in a loaded file: most first words (heap and stack
	 * pointers, numbers) are ruled out without a symbol lookup. */
	const struct mapping *m = target_mapping(s->target, vptr);
	if (!m || !mapping_is_file(m) || !symbols_addr_info(s->symbols, vptr, &si) || !si.name ||
	    strncmp(si.name, "_ZTV", 4))
		return NULL;
	char *d = demangle(si.name); /* "vtable for Foo" */
	const char *prefix = "vtable for ";
	if (!strncmp(d, prefix, strlen(prefix)))
		memmove(d, d + strlen(prefix), strlen(d) - strlen(prefix) + 1);
	return d;
}

void heap_free(struct heap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nproblems; i++)
		free(h->problems[i].message);
	free(h->problems);
	for (size_t i = 0; i < h->ngaps; i++)
		free(h->gaps[i].evidence);
	free(h->gaps);
	free(h->blocks);
	free(h->arenas);
	free(h->metadata);
	free(h->discovery);
	free(h);
}

bool heap_complete(const struct heap *h)
{
	return h->walked && !h->nproblems && !h->ngaps;
}

static const char *gap_evidence(const struct heap_gap *g)
{
	return g->evidence ? g->evidence : "detected in use, and strand has no walker for it";
}

char *heap_not_analysed(const struct heap *h)
{
	if (heap_complete(h))
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "not analysed: ");
	if (!h->walked)
		sb_addf(&sb, "%s's heap, whose walk failed (see `heap check`)", h->allocator);
	else if (h->nproblems)
		sb_addf(&sb, "the damaged parts of %s's heap (%zu problem%s, see `heap check`)", h->allocator,
			h->nproblems, h->nproblems == 1 ? "" : "s");
	for (size_t i = 0; i < h->ngaps; i++)
		sb_addf(&sb, "%s%s (%s)", !h->walked || h->nproblems || i ? "; " : "", h->gaps[i].allocator,
			gap_evidence(&h->gaps[i]));
	return sb_detach(&sb);
}

void heap_warn_gaps(struct out *o, const struct heap *h)
{
	for (size_t i = 0; i < h->ngaps; i++)
		out_warn(o, "%s was not analysed (no walker): %s", h->gaps[i].allocator, gap_evidence(&h->gaps[i]));
}

void heap_out_coverage(struct out *o, const struct heap *h)
{
	uint64_t blocks = 0, bytes = 0, mmapped = 0, arenas = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->blocks[i].state == STRAND_USED) {
			blocks++;
			bytes += heap_usable(&h->blocks[i]);
			mmapped += (h->blocks[i].flags & HEAP_MMAPPED) != 0;
		}
	for (size_t i = 0; i < h->narenas; i++)
		arenas += strcmp(h->arenas[i].kind, "mmap") != 0; /* mmapped chunks are counted as blocks */
	char buf[32];
	out_obj(o, "coverage");
	out_text(o, "Covered: ");
	out_str(o, "allocator", h->allocator);
	out_text(o, "'s heap, ");
	out_uint(o, "blocks", blocks);
	out_text(o, " block%s in use (%s) in ", blocks == 1 ? "" : "s", format_bytes(bytes, buf, sizeof(buf)));
	out_hide_text(o, true);
	out_uint(o, "bytes", bytes);
	out_hide_text(o, false);
	out_uint(o, "arenas", arenas);
	out_text(o, " arena%s and ", arenas == 1 ? "" : "s");
	out_uint(o, "mmapped_blocks", mmapped);
	out_text(o, " mmapped block%s.\n", mmapped == 1 ? "" : "s");
	if (h->nproblems)
		out_text(o, "Not covered: the damaged parts of the heap (%zu problem%s, see `heap check`).\n",
			 h->nproblems, h->nproblems == 1 ? "" : "s");
	out_hide_text(o, true);
	out_uint(o, "problems", h->nproblems);
	out_hide_text(o, false);
	out_list(o, "not_covered");
	for (size_t i = 0; i < h->ngaps; i++) {
		out_obj(o, NULL);
		out_text(o, "Not covered: ");
		out_str(o, "allocator", h->gaps[i].allocator);
		out_text(o, ", no walker: ");
		out_str(o, "evidence", h->gaps[i].evidence);
		out_text(o, "%s\n", h->gaps[i].evidence ? "" : "detected in use");
		out_obj_end(o);
	}
	out_list_end(o);
	out_obj_end(o);
}

size_t heap_first_after(const struct heap *h, uint64_t addr)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->blocks[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct heap_block *heap_find(const struct heap *h, uint64_t addr)
{
	size_t lo = heap_first_after(h, addr);
	if (!lo)
		return NULL;
	const struct heap_block *b = &h->blocks[lo - 1];
	return addr < b->addr + heap_usable(b) ? b : NULL;
}
