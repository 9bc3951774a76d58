/* valgrind's heuristics for interior pointers (memcheck's
 * --leak-check-heuristics): when an interior pointer counts as a start
 * pointer, from what the block holds. */
#include "stages.h"

#include <stdlib.h>

#include "base/util.h"
#include "session.h"

static const char *const heuristic_names[HEURISTICS] = { "stdstring", "length64", "newarray",
							 "multipleinheritance" };

const char *reach_heuristic_name(enum reach_heuristic h)
{
	return heuristic_names[h];
}

#define ALL_HEURISTICS ((1u << HEURISTICS) - 1)

#define VTABLE_WORDS 21  /* valgrind looks this far for two function pointers */


unsigned heuristics_on(const struct reach_opts *opts)
{
	return opts->interior_reachable ? 0 : ~opts->heuristics_off & ALL_HEURISTICS;
}


void heuristics_free(struct heuristics *hc)
{
	free(hc->pending);
	free(hc->pending_edges);
	free(hc->accepted);
}

/* The requests block b may have served. valgrind's size tests compare with
 * the size asked for, which strand does not know, only the usable size:
 * allocators round a request up by less than 16 bytes (glibc's chunks), a
 * mapped block's by less than a page and a header. And a pointer off bytes
 * in points inside the request (valgrind's block ends where it does).
 * False when no request fits. */
static bool request_range(const struct heap_block *b, uint32_t off, uint64_t *lo, uint64_t *hi)
{
	uint64_t usable = heap_usable(b), rounding = b->flags & HEAP_MMAPPED ? 4096 + 16 : 16;
	*hi = usable;
	*lo = usable >= rounding ? usable - rounding + 1 : 0;
	if (*lo <= off)
		*lo = (uint64_t)off + 1;
	return *lo <= *hi;
}

/* valgrind's test for a vtable's address: it lies in a readable mapping of
 * a file, where the next 21 words (as many as the mapping holds) show two
 * function pointers (into an executable mapping of a file) before any
 * other word but 0. A program has few vtables, each met again and again:
 * the verdicts are kept. */
static bool vtable_like(struct session *s, struct heuristics *hc, uint64_t addr)
{
	size_t slot = (size_t)((addr >> 3) * 0x9e3779b97f4a7c15ull >> 56) % VTABLE_CACHE;
	if (hc->vtables[slot].addr == addr)
		return hc->vtables[slot].vtable;
	bool vtable = false;
	const struct mapping *m = target_mapping(s->target, addr);
	if (m && mapping_is_file(m) && (m->perms & MAP_R)) {
		uint64_t w[VTABLE_WORDS];
		size_t n = (m->end - addr) / 8 < VTABLE_WORDS ? (size_t)((m->end - addr) / 8) : VTABLE_WORDS;
		n = target_read(s->target, addr, w, n * 8) / 8;
		for (size_t i = 0, functions = 0; i < n && !vtable; i++) {
			if (!w[i])
				continue;
			const struct mapping *f = target_mapping(s->target, w[i]);
			if (!f || !mapping_is_file(f) || !(f->perms & MAP_X))
				break;
			vtable = ++functions == 2;
		}
	}
	hc->vtables[slot].addr = addr;
	hc->vtables[slot].vtable = vtable;
	return vtable;
}

static bool aligned_above_page_zero(uint64_t v)
{
	return !(v & 7) && v >= 4096;
}

/* The first heuristic, in valgrind's order, that makes a pointer off bytes
 * into block b a start pointer (memcheck's heuristic_reachedness in
 * valgrind 3.19, with sizes as request_range allows them); -1 if none. */

int heuristic_accepts(struct session *s, struct heuristics *hc, const struct heap_block *b, uint32_t off)
{
	uint64_t lo, hi, w[2], inner;
	if (!hc->on || !off || !request_range(b, off, &lo, &hi) || !target_read_all(s->target, b->addr, w, sizeof(w)))
		return -1;
	/* {length, capacity, refcount}, then capacity bytes and a NUL */
	if ((hc->on & 1u << HEURISTIC_STDSTRING) && off == 24 && w[1] <= hi && w[1] + 25 >= lo && w[1] + 25 <= hi &&
	    w[0] <= w[1])
		return HEURISTIC_STDSTRING;
	/* the length of the rest, then the rest (sqlite's blocks) */
	if ((hc->on & 1u << HEURISTIC_LENGTH64) && off == 8 && w[0] && w[0] <= hi - 8 && w[0] + 8 >= lo)
		return HEURISTIC_LENGTH64;
	/* new[]'s count of elements, then the elements: a multiple of it */
	if ((hc->on & 1u << HEURISTIC_NEWARRAY) && off == 8 && w[0] && w[0] <= hi - 8 &&
	    (lo - 8 + w[0] - 1) / w[0] * w[0] <= hi - 8)
		return HEURISTIC_NEWARRAY;
	/* a base class's part of an object: it and the object start with vtable pointers */
	if ((hc->on & 1u << HEURISTIC_MULTIPLE_INHERITANCE) && !(off & 7) && aligned_above_page_zero(w[0]) &&
	    target_read_u64(s->target, b->addr + off, &inner) && aligned_above_page_zero(inner) &&
	    vtable_like(s, hc, inner) && vtable_like(s, hc, w[0]))
		return HEURISTIC_MULTIPLE_INHERITANCE;
	return -1;
}

int reach_heuristic(struct session *s, const struct reach *r, uint32_t b, uint32_t offset)
{
	struct heuristics *hc = xcalloc(1, sizeof(*hc));
	hc->on = heuristics_on(&r->opts);
	int h = heuristic_accepts(s, hc, &r->heap->blocks[b], offset);
	free(hc);
	return h;
}

/* A pointer that a heuristic may turn into a start pointer waits for it
 * (see struct heuristics) when it is an interior one into a block no start
 * pointer reached yet. */

void note_interior(struct scanner *sc, uint64_t value)
{
	struct heuristics *hc = &sc->heur;
	GROW(hc->pending, hc->pending_cap, hc->npending + 1);
	hc->pending[hc->npending++] = value;
}

/* An interior edge into a block not marked START waits for the heuristics. */

void note_interior_edge(struct heuristics *hc, uint32_t e)
{
	GROW(hc->pending_edges, hc->pending_edges_cap, hc->npending_edges + 1);
	hc->pending_edges[hc->npending_edges++] = e;
}

/* A block a heuristic accepted: marked as a start pointer marks it, but for
 * DIRECT, and remembered with the heuristic. */

void heuristic_accept(struct heuristics *hc, uint8_t *mark, uint32_t b, int h)
{
	mark[b] |= MARK_START | MARK_ANY;
	GROW(hc->accepted, hc->accepted_cap, hc->naccepted + 1);
	hc->accepted[hc->naccepted++] = (struct accepted){ b, (uint32_t)h };
}
