/* Marking while reading, without edges: passes over the heap in address
 * order, each scanning the marked blocks not scanned yet, for as long as
 * they get on; then the heuristics' waiting pointers. What the sweeps leave
 * goes into the graph (graph.c), where classes.c finishes the marking. */
#include "stages.h"

#include "base/progress.h"
#include "base/util.h"
#include "session.h"

/* The second phase starts from the blocks only interior pointers reach:
 * marks them ANY, returns how many. */

size_t mark_interior_targets(uint8_t *mark, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_INTERIOR | MARK_ANY)) == MARK_INTERIOR)
			mark[i] |= MARK_ANY, count++;
	return count;
}

/* One pass over the heap, up or down in address order, scanning each block
 * marked with the phase's bit and not scanned yet: what its pointers reach
 * is marked, and scanned later in the same pass when it lies ahead. Stops
 * early when nothing is left to scan. Returns the blocks scanned. */
static size_t sweep(struct session *s, struct scanner *sc, struct window *w, bool down)
{
	const struct heap *h = sc->r->heap;
	size_t done = 0;
	w->len = 0;
	for (size_t k = 0; k < h->n && sc->frontier && !session_interrupted(); k++) {
		size_t i = down ? h->n - 1 - k : k;
		if ((sc->mark[i] & (sc->bit | MARK_SCANNED)) != sc->bit)
			continue;
		sc->mark[i] |= MARK_SCANNED;
		sc->frontier--;
		scan_block(s, sc, w, i, down);
		if (!(++done & 0xffff))
			progress_update("sweeping the heap", done, sc->used);
	}
	return done;
}

#define MAX_SWEEPS 8

/* Sweeps for one phase, up then down then up, while they get on: a heap of
 * big blocks full of pointers, or lists linked either way, is marked in two
 * or three sweeps, each block read once, in address order, and no edge
 * stored. A sweep that scans and marks few blocks (a long list laid out at
 * random needs a sweep every few nodes), or whose blocks lay so far apart
 * that it read four times what it scanned (on real heaps, the later sweeps
 * that pick up a few blocks here and there), leaves the rest to the graph,
 * which reads them all in one pass. */
static void sweep_phase(struct session *s, struct scanner *sc, struct window *w, uint8_t bit)
{
	sc->bit = bit;
	for (unsigned k = 0; k < MAX_SWEEPS && sc->frontier && !session_interrupted(); k++) {
		size_t marked = sc->newly_marked;
		uint64_t read = w->read, scanned = sc->r->scanned_bytes;
		size_t done = sweep(s, sc, w, k & 1);
		sc->r->sweeps++;
		bool sparse = w->read - read > 4 * (sc->r->scanned_bytes - scanned) + SCAN_CHUNK;
		if (sc->frontier && (sparse || done + (sc->newly_marked - marked) < sc->used / 1024))
			break;
	}
	progress_done();
}

static int by_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* The pointers waiting for the heuristics, from roots and sweeps: each into
 * a block still not marked START is tried, in address order; a block a
 * heuristic accepts is marked START, to be scanned (the frontier). Returns
 * how many. */

size_t resolve_pending(struct session *s, struct scanner *sc)
{
	struct heuristics *hc = &sc->heur;
	size_t accepted = 0;
	sort_array(hc->pending, hc->npending, sizeof(*hc->pending), by_u64);
	for (size_t i = 0; i < hc->npending && !session_interrupted(); i++) {
		uint32_t off, b = block_index_find(&sc->index, hc->pending[i], &off);
		if ((i && hc->pending[i] == hc->pending[i - 1]) || b == BLOCK_NONE || (sc->mark[b] & MARK_START))
			continue;
		int h = heuristic_accepts(s, hc, &sc->r->heap->blocks[b], off);
		if (h >= 0) {
			heuristic_accept(hc, sc->mark, b, h);
			accepted++;
		}
	}
	hc->npending = 0;
	sc->frontier += accepted;
	return accepted;
}

/* Rounds of the start phase that sweeps take after heuristics accepted
 * blocks (each of which may point on to more); then the graph takes over. */
#define HEURISTIC_SWEEP_ROUNDS 2

/* Marks as much as sweeps can: the start phase (with what the heuristics
 * accept after it), then (if it finished) the second. What is left (a
 * phase's unscanned frontier, the lost blocks) goes into the graph, where
 * mark_reachable finishes it. */

void sweep_phases(struct session *s, struct scanner *sc, struct window *w)
{
	const struct heap *h = sc->r->heap;
	for (size_t i = 0; i < h->n; i++)
		sc->used += h->blocks[i].state == STRAND_USED;
	sc->sweeping = true;
	sweep_phase(s, sc, w, MARK_START);
	for (unsigned k = 0; resolve_pending(s, sc) && k < HEURISTIC_SWEEP_ROUNDS; k++)
		sweep_phase(s, sc, w, MARK_START);
	if (!sc->frontier) {
		sc->frontier += mark_interior_targets(sc->mark, h->n);
		sweep_phase(s, sc, w, MARK_ANY);
	}
	sc->sweeping = false;
}
