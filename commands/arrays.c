/* arrays [--min-size N]: big blocks kept alive for a small part of them (Go's
 * sub-slice leak): only interior views into a small window, or a container
 * ({ptr, len, cap}, std::vector, std::string) whose capacity dwarfs its length. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "target/live.h"
#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

struct finding {
	uint32_t block;
	uint64_t wasted, used_from, used_to;
	const char *kind;   /* "interior view", "{ptr, len, cap}", "std::vector", "std::string" */
	struct block_ref ref;
	char hint[128];
};

/* A pointer into the first bytes of a block is taken for one to the whole
 * block (a count or a length may come first), not for a view of a part. */
#define ARRAY_HEADER 16

/* The memory that holds the reference: its source block's usable bytes, or
 * its root group's range (a global, a frame's stack, TLS, a mapping); false
 * for a register. */
static bool holder_range(const struct reach *r, const struct block_ref *ref, uint64_t *start, uint64_t *end)
{
	if (ref->root < 0) {
		const struct heap_block *src = &r->heap->blocks[ref->src];
		*start = src->addr;
		*end = src->addr + heap_usable(src);
		return true;
	}
	const struct root_group *g = &r->groups[r->roots[ref->root].group];
	*start = g->start;
	*end = g->end;
	return g->kind != ROOT_REGISTERS;
}

/* What a {ptr, len, cap} triple at the reference word says, if it is one.
 * The triple must lie in its holder: past a block's usable size is the next
 * chunk's header, not a capacity. */
static bool container_at(struct session *s, const struct reach *r, const struct heap_block *b,
			 const struct block_ref *ref, struct finding *f)
{
	uint64_t w[3], from, to;
	if (!holder_range(r, ref, &from, &to) || ref->where < from || to < sizeof(w) ||
	    ref->where > to - sizeof(w))
		return false;
	if (ref->offset != 0 || !target_read_all(s->target, ref->where, w, sizeof(w)))
		return false;
	uint64_t start = b->addr, size = heap_usable(b);
	/* std::vector: three pointers, begin <= end <= end of storage. */
	if (w[1] >= start && w[2] >= w[1] && w[2] <= start + size) {
		uint64_t len = w[1] - start, cap = w[2] - start;
		if (cap && len * 4 <= cap && cap - len >= 4096) {
			*f = (struct finding){ .wasted = cap - len, .used_from = 0, .used_to = len, .kind = "std::vector" };
			snprintf(f->hint, sizeof(f->hint), "shrink_to_fit(), or reserve() only what is needed");
			return true;
		}
		return false;
	}
	/* {ptr, len, cap} in elements of 1 to 16 bytes (std::string is {ptr, size, capacity}). */
	for (uint64_t esize = 1; esize <= 16; esize *= 2) {
		uint64_t len = w[1], cap = w[2];
		if (!cap || len > cap || cap * esize > size || cap * esize + 64 < size / 2)
			continue;
		if (len * 4 <= cap && (cap - len) * esize >= 4096) {
			*f = (struct finding){ .wasted = (cap - len) * esize, .used_to = len * esize,
					       .kind = esize == 1 ? "{ptr, len, cap} of bytes (or std::string)" : "{ptr, len, cap}" };
			if (esize == 1)
				snprintf(f->hint, sizeof(f->hint),
					 "shrink it to its length: shrink_to_fit() for a std::string, realloc(ptr, len) for a buffer");
			else
				snprintf(f->hint, sizeof(f->hint),
					 "shrink the buffer to its length (realloc to len * %" PRIu64 ")", esize);
			return true;
		}
		return false;
	}
	return false;
}

/* Only interior pointers, all into a small window. */
static bool interior_window(const struct heap_block *b, const struct block_ref *refs, size_t n, struct finding *f)
{
	uint64_t lo = UINT64_MAX, hi = 0, size = heap_usable(b);
	for (size_t i = 0; i < n; i++) {
		if (refs[i].offset <= ARRAY_HEADER)
			return false;
		lo = refs[i].offset < lo ? refs[i].offset : lo;
		hi = refs[i].offset > hi ? refs[i].offset : hi;
	}
	if (!n)
		return false;
	/* A view's length usually sits beside its pointer; without it, a page. */
	uint64_t end = hi + 4096 < size ? hi + 4096 : size;
	if ((end - lo) * 4 > size)
		return false;
	*f = (struct finding){ .wasted = size - (end - lo), .used_from = lo, .used_to = end, .kind = "interior view",
			       .ref = refs[0] };
	snprintf(f->hint, sizeof(f->hint), "copy the part in use out, then free the block");
	return true;
}

static bool same_holder(const struct reach *r, const struct block_ref *a, const struct block_ref *b)
{
	if (a->root >= 0 || b->root >= 0)
		return a->root >= 0 && b->root >= 0 && r->roots[a->root].group == r->roots[b->root].group;
	return a->src == b->src;
}

/* A container's pointers into its buffer are its own three words: a holder
 * with more (a FILE's read, write and buffer pointers) is something else. */
static bool only_triple_points_in(const struct reach *r, const struct block_ref *refs, size_t n,
				  const struct block_ref *triple)
{
	for (size_t i = 0; i < n; i++)
		if (same_holder(r, &refs[i], triple) &&
		    (refs[i].where < triple->where || refs[i].where >= triple->where + 24))
			return false;
	return true;
}

static int by_wasted(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;
	return (a->wasted < b->wasted) - (a->wasted > b->wasted);
}

static void out_holder(struct session *s, const struct reach *r, const struct block_ref *ref)
{
	if (ref->root >= 0) {
		out_text(s->out, "held by");
		out_root_edge(s, r, &r->roots[ref->root]);
		return;
	}
	out_text(s->out, "held by heap block ");
	out_obj(s->out, "root");
	out_hex(s->out, "block", r->heap->blocks[ref->src].addr);
	out_text(s->out, " at +%" PRIu64 "\n", ref->where - r->heap->blocks[ref->src].addr);
	out_obj_end(s->out);
}

static void out_finding(struct session *s, const struct reach *r, const struct finding *f)
{
	struct out *o = s->out;
	const struct heap_block *b = &r->heap->blocks[f->block];
	char size[32], waste[32];
	out_obj(o, NULL);
	out_text(o, "  %s block ", format_bytes(heap_usable(b), size, sizeof(size)));
	out_hex(o, "block", b->addr);
	out_text(o, " kept alive by ");
	out_str(o, "kind", f->kind);
	out_text(o, " using [%" PRIu64 ", %" PRIu64 "): %s wasted\n      ", f->used_from, f->used_to,
		 format_bytes(f->wasted, waste, sizeof(waste)));
	out_hide_text(o, true);
	out_uint(o, "usable", heap_usable(b));
	out_uint(o, "used_from", f->used_from);
	out_uint(o, "used_to", f->used_to);
	out_uint(o, "wasted", f->wasted);
	out_hide_text(o, false);
	out_holder(s, r, &f->ref);
	int64_t resident = live_resident_bytes(s->target, b->addr, heap_usable(b));
	if (resident >= 0) {
		out_text(o, "      resident: ");
		out_hide_text(o, true);
		out_int(o, "resident", resident);
		out_hide_text(o, false);
		out_text(o, "%s of it\n", format_bytes((uint64_t)resident, size, sizeof(size)));
	} else {
		out_null(o, "resident");
	}
	out_text(o, "      hint: ");
	out_str(o, "hint", f->hint);
	out_text(o, "\n");
	out_obj_end(o);
}

/* The findings for the session's heap, sorted by bytes wasted. */
static size_t find_retained_arrays(struct session *s, const struct reach *r, uint64_t min_size, struct finding **out)
{
	uint8_t *want = xcalloc(r->heap->n + 1, 1);
	for (size_t i = 0; i < r->heap->n; i++)
		want[i] = heap_usable(&r->heap->blocks[i]) >= min_size &&
			  (r->cls[i] == CLASS_REACHABLE || r->cls[i] == CLASS_POSSIBLE);
	struct block_ref *refs;
	size_t nrefs = reach_refs(s, r, want, &refs);
	free(want);
	struct finding *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t first = 0, end; first < nrefs; first = end) {
		uint32_t i = refs[first].block;
		for (end = first; end < nrefs && refs[end].block == i; end++)
			;
		const struct heap_block *b = &r->heap->blocks[i];
		struct finding f;
		bool found = interior_window(b, refs + first, end - first, &f);
		for (size_t k = first; k < end && !found; k++)
			if (container_at(s, r, b, &refs[k], &f) && only_triple_points_in(r, refs + first, end - first, &refs[k])) {
				f.ref = refs[k];
				found = true;
			}
		if (found) {
			f.block = i;
			GROW(v, cap, n + 1);
			v[n++] = f;
		}
	}
	free(refs);
	sort_array(v, n, sizeof(*v), by_wasted);
	*out = v;
	return n;
}

int cmd_arrays(struct session *s, const struct args *a)
{
	uint64_t min_size = 4096;
	if (!option_size(s, a, "--min-size", &min_size))
		return -1;
	const struct reach *r = reach_or_error(s, &(struct reach_opts){ 0 }, NEED_GRAPH);
	if (!r)
		return -1;
	struct finding *v;
	size_t n = find_retained_arrays(s, r, min_size, &v);
	uint64_t wasted = 0;
	for (size_t i = 0; i < n; i++)
		wasted += v[i].wasted;
	char buf[32];
	out_text(s->out, "%zu block%s of %" PRIu64 " bytes or more kept alive for a small part: %s wasted\n", n,
		 n == 1 ? "" : "s", min_size, format_bytes(wasted, buf, sizeof(buf)));
	out_hide_text(s->out, true);
	out_uint(s->out, "wasted", wasted);
	out_hide_text(s->out, false);
	out_list(s->out, "findings");
	for (size_t i = 0; i < n; i++)
		out_finding(s, r, &v[i]);
	out_list_end(s->out);
	free(v);
	return 0;
}
