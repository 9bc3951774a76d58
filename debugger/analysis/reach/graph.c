/* The pointer graph between used blocks, in CSR form: the edges of every
 * block the sweeps did not scan (of every block with --graph's callers),
 * and what is asked of it: in-degrees, the words behind a block's edges,
 * every pointer into chosen blocks. */
#include "stages.h"

#include <stdlib.h>

#include "base/progress.h"
#include "base/util.h"
#include "session.h"

/* Room for every word of every used block: the edges can never outgrow it. */

size_t max_edges(const struct reach *r)
{
	size_t words = 0;
	for (size_t i = 0; i < r->heap->n; i++) {
		uint64_t len = heap_usable(&r->heap->blocks[i]);
		if (r->heap->blocks[i].state == STRAND_USED && len >= 8)
			words += r->opts.unaligned ? len - 7 : len / 8;
	}
	return words;
}

/* Edge counts of rows 0..n-1 into offsets: row k's edges start at row[k],
 * and row[n] is the total. */
static void rows_to_offsets(uint32_t *row, size_t n)
{
	uint32_t sum = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t count = row[k];
		row[k] = sum;
		sum += count;
	}
	row[n] = sum;
}

/* The edges of every used block no sweep has scanned, in address order.
 * Every block has a row, unless the sweeps left few (one in eight): then
 * only those do (row_block), which saves memory on a big heap, while the
 * binary search to find a row costs little. */

void scan_blocks(struct session *s, struct scanner *sc, struct window *w)
{
	struct reach *r = sc->r;
	const struct heap *h = r->heap;
	size_t nrows = 0;
	for (size_t i = 0; i < h->n; i++)
		nrows += h->blocks[i].state == STRAND_USED && !(sc->mark[i] & MARK_SCANNED);
	if (nrows < h->n / 8)
		r->row_block = xmalloc_big(nrows, sizeof(*r->row_block));
	else
		nrows = h->n;
	r->nrows = nrows;
	r->row = xcalloc_big(nrows + 1, sizeof(*r->row));
	r->edges = xreserve(r->edge_cap, sizeof(*r->edges));
	for (size_t i = 0, k = 0; i < h->n; i++) {
		if (!(i & 0xffff))
			progress_update("scanning the heap", i, h->n);
		bool unscanned = h->blocks[i].state == STRAND_USED && !(sc->mark[i] & MARK_SCANNED);
		if (r->row_block && !unscanned)
			continue;
		if (r->row_block)
			r->row_block[k] = (uint32_t)i;
		sc->row = (uint32_t)k++;
		if (unscanned && !session_interrupted())
			scan_block(s, sc, w, i, false);
	}
	flush_queue(sc);
	rows_to_offsets(r->row, nrows);
	progress_done();
}

const uint32_t *reach_indegree(struct reach *r)
{
	if (!r->indeg) {
		r->indeg = xcalloc_big(r->heap->n + 1, sizeof(*r->indeg));
		for (size_t e = 0; e < r->nedges; e++)
			r->indeg[edge_block(r->edges[e])]++;
	}
	return r->indeg;
}

static int by_target(const void *x, const void *y)
{
	const struct block_ref *a = x, *b = y;
	return (a->block > b->block) - (a->block < b->block);
}

/* Block u's edges (row k's: the block's own number with the whole graph)
 * are its words that point into other used blocks, in the order the scan
 * read them: reading the words again in that order pairs each edge with its
 * word (the target is stopped, or a core). buf is scratch. */

bool edge_words(struct session *s, const struct reach *r, size_t k, uint32_t u, uint8_t **buf, size_t *buf_cap,
		 uint64_t *where, uint32_t *offset)
{
	const struct heap_block *src = &r->heap->blocks[u];
	size_t len = (size_t)heap_usable(src), first = r->row[k], end = r->row[k + 1], e = first;
	memset(where, 0, (end - first) * sizeof(*where));
	memset(offset, 0, (end - first) * sizeof(*offset));
	GROW(*buf, *buf_cap, len + 1);
	len = target_read(s->target, src->addr, *buf, len);
	for (size_t off = 0; off + 8 <= len && e < end; off += r->opts.unaligned ? 1 : 8) {
		uint64_t word;
		memcpy(&word, *buf + off, 8);
		const struct heap_block *dst = &r->heap->blocks[edge_block(r->edges[e])];
		if (word - dst->addr < heap_usable(dst)) {
			where[e - first] = src->addr + off;
			offset[e - first] = (uint32_t)(word - dst->addr);
			e++;
		}
	}
	return e == end;
}

bool reach_edge_offsets(struct session *s, const struct reach *r, uint32_t u, uint64_t *where, uint32_t *offset)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	bool ok = edge_words(s, r, u, u, &buf, &cap, where, offset);
	free(buf);
	return ok;
}

static bool points_to_wanted(const struct reach *r, uint32_t u, const uint8_t *want)
{
	for (uint32_t e = r->row[u]; e < r->row[u + 1]; e++)
		if (want[edge_block(r->edges[e])])
			return true;
	return false;
}

size_t reach_refs(struct session *s, const struct reach *r, const uint8_t *want, struct block_ref **out)
{
	struct block_ref *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < r->nroots; i++)
		if (want[r->roots[i].block]) {
			GROW(v, cap, n + 1);
			v[n++] = (struct block_ref){ r->roots[i].block, r->roots[i].where, r->roots[i].offset, (int64_t)i, 0 };
		}
	uint8_t *bytes = NULL;
	uint64_t *where = NULL;
	uint32_t *offset = NULL;
	size_t bytes_cap = 0, where_cap = 0, offset_cap = 0;
	for (uint32_t u = 0; u < r->heap->n; u++) {
		if (!points_to_wanted(r, u, want))
			continue;
		size_t first = r->row[u], k = r->row[u + 1] - first;
		GROW(where, where_cap, k);
		GROW(offset, offset_cap, k);
		edge_words(s, r, u, u, &bytes, &bytes_cap, where, offset);
		for (size_t i = 0; i < k; i++) {
			uint32_t dst = edge_block(r->edges[first + i]);
			if (want[dst] && where[i]) {
				GROW(v, cap, n + 1);
				v[n++] = (struct block_ref){ dst, where[i], offset[i], -1, u };
			}
		}
	}
	free(bytes);
	free(where);
	free(offset);
	if (n)
		qsort(v, n, sizeof(*v), by_target);
	*out = v;
	return n;
}
