/* Reading the heap's blocks: a block's words, read through a window of
 * memory read ahead, each looked up in the block index (a batch at a time).
 * While sweeping, what they point to is marked; else they become the
 * block's edges in the graph. */
#include "stages.h"

#include "base/util.h"
#include "session.h"

/* What a swept block's words v reach (mark_with's rule; the second phase
 * does not tell interior pointers apart). An interior pointer into a block
 * not marked START waits for the heuristics: rare, so a branch that is
 * seldom taken, whatever order the pointers' kinds come in. */
static void mark_found(struct scanner *sc, uint32_t src, const uint64_t *v, const uint32_t *found, size_t k)
{
	/* In locals: the byte stores to mark would make the compiler reload them. */
	uint8_t *mark = sc->mark, bit = sc->bit;
	uint32_t interior_mask = bit == MARK_START ? sc->interior_mask : 0, wait = sc->heur.on != 0;
	size_t fresh = 0, hits = 0;
	for (size_t j = 0; j < k; j++) {
		uint32_t b = edge_block(found[j]), interior = (found[j] & interior_mask) >> 31;
		if (found[j] == BLOCK_NONE || b == src)
			continue;
		uint8_t m = mark[b];
		if (__builtin_expect(interior & !(m & MARK_START) & wait, 0))
			note_interior(sc, v[j]);
		fresh += mark_with(mark, b, m, interior, bit);
		hits++;
	}
	sc->frontier += fresh;
	sc->newly_marked += fresh;
	sc->r->npointers += hits;
}

/* The queued words' look-ups: each pointer into another used block becomes
 * an edge, counted in its source's row (rows_to_offsets turns the counts
 * into the CSR's offsets). A block pointing to itself keeps nothing alive. */

void flush_queue(struct scanner *sc)
{
	_Static_assert(EDGE_INTERIOR == BLOCK_INDEX_INTERIOR, "edges are batched answers");
	struct reach *r = sc->r;
	uint32_t found[BLOCK_INDEX_BATCH];
	size_t n = r->nedges;
	block_index_find_batch(&sc->index, sc->queued, sc->nqueued, found);
	for (size_t j = 0; j < sc->nqueued; j++)
		if (found[j] != BLOCK_NONE && edge_block(found[j]) != sc->queued_src[j]) {
			r->edges[n++] = found[j] & (sc->interior_mask | ~EDGE_INTERIOR);
			r->row[sc->queued_row[j]]++;
		}
	r->npointers += n - r->nedges;
	r->nedges = n;
	sc->nqueued = 0;
}

/* Building the graph, words are looked up a batch at a time across blocks:
 * most blocks of a real heap hold a few words, which alone would wait on
 * their cache misses one or two at a time. (Sweeps cannot wait: the next
 * block they look at may be the one a word just read points to.) */
static void queue_word(struct scanner *sc, uint32_t src, uint64_t v)
{
	sc->queued[sc->nqueued] = v;
	sc->queued_src[sc->nqueued] = src;
	sc->queued_row[sc->nqueued] = sc->row;
	if (++sc->nqueued == BLOCK_INDEX_BATCH)
		flush_queue(sc);
}

/* A batch of block src's words into the graph: its edges appended, counted
 * in its row. */
static void add_edges(struct scanner *sc, uint32_t src, const uint32_t *found, size_t k)
{
	struct reach *r = sc->r;
	size_t n = r->nedges;
	uint32_t keep = sc->interior_mask | ~EDGE_INTERIOR;
	for (size_t j = 0; j < k; j++)
		if (found[j] != BLOCK_NONE && edge_block(found[j]) != src)
			r->edges[n++] = found[j] & keep;
	r->row[sc->row] += (uint32_t)(n - r->nedges);
	r->npointers += n - r->nedges;
	r->nedges = n;
}

/* The words of block src (len bytes of it in buf) that point into other
 * used blocks: marked while sweeping, else edges of the graph. A block of a
 * batch of words or more is looked up a batch at a time (after the words
 * queued before it); a smaller one waits in the queue. */
static void scan_block_words(struct scanner *sc, uint32_t src, const uint8_t *buf, size_t len)
{
	size_t step = sc->r->opts.unaligned ? 1 : 8;
	sc->r->scanned_bytes += len;
	if (!sc->sweeping && len < 8 + (BLOCK_INDEX_BATCH - 1) * step) {
		for (size_t i = 0; i + 8 <= len; i += step) {
			uint64_t v;
			memcpy(&v, buf + i, 8);
			queue_word(sc, src, v);
		}
		return;
	}
	if (!sc->sweeping && sc->nqueued)
		flush_queue(sc);
	uint64_t v[BLOCK_INDEX_BATCH];
	uint32_t found[BLOCK_INDEX_BATCH];
	for (size_t i = 0; i + 8 <= len;) {
		size_t k = gather_words(buf, len, step, &i, v);
		block_index_find_batch(&sc->index, v, k, found);
		if (sc->sweeping)
			mark_found(sc, src, v, found, k);
		else
			add_edges(sc, src, found, k);
	}
}

#define WINDOW_MIN 4096

static void window_read(struct session *s, struct window *w, const struct heap_block *b, bool down)
{
	if (w->len && w->used * 8 < w->len)
		w->size = w->size / 4 > WINDOW_MIN ? w->size / 4 : WINDOW_MIN;
	else if (w->len && w->used * 2 >= w->len)
		w->size = w->size * 2 < SCAN_CHUNK ? w->size * 2 : SCAN_CHUNK;
	uint64_t len = heap_usable(b), want = len > w->size ? len : w->size, start = b->addr;
	if (down) { /* ending with the block, but not below its mapping */
		const struct mapping *m = target_mapping(s->target, b->addr);
		uint64_t low = m ? m->start : b->addr, end = b->addr + len;
		start = end - low > want ? end - want : low;
	}
	w->base = start;
	w->len = target_read(s->target, start, w->buf, (size_t)want);
	w->used = 0;
	w->read += w->len;
}

/* Block i's words: from the window, read anew when it does not hold them;
 * a big block (or one the window cannot hold) piece by piece. */

void scan_block(struct session *s, struct scanner *sc, struct window *w, size_t i, bool down)
{
	const struct heap_block *b = &sc->r->heap->blocks[i];
	uint64_t len = heap_usable(b);
	if (len <= SCAN_CHUNK && (b->addr < w->base || b->addr + len > w->base + w->len))
		window_read(s, w, b, down);
	if (len <= SCAN_CHUNK && b->addr >= w->base && b->addr + len <= w->base + w->len) {
		scan_block_words(sc, (uint32_t)i, w->buf + (b->addr - w->base), (size_t)len);
		w->used += len;
		return;
	}
	for (uint64_t off = 0; off < len; off += piece_step(sc)) {
		size_t want = len - off < SCAN_CHUNK ? (size_t)(len - off) : SCAN_CHUNK;
		size_t got = target_read(s->target, b->addr + off, w->buf, want);
		w->read += got;
		scan_block_words(sc, (uint32_t)i, w->buf, got);
		if (want < SCAN_CHUNK)
			break;
	}
	w->len = 0;
}
