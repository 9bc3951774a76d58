/* top [N] [--by root|block|type]: what keeps the most memory alive, from the
 * dominator tree: a root or block retains what would be freed without it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

struct entry {
	uint32_t node;
	uint64_t retained;
	uint32_t blocks;
	char *type; /* --by type */
};

static int by_retained(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	return (a->retained < b->retained) - (a->retained > b->retained);
}

static void out_amount(struct out *o, uint64_t bytes, uint64_t blocks)
{
	char buf[32];
	out_text(o, " retains %s in %" PRIu64 " block%s\n", format_bytes(bytes, buf, sizeof(buf)), blocks,
		 blocks == 1 ? "" : "s");
	out_hide_text(o, true);
	out_uint(o, "retained", bytes);
	out_uint(o, "blocks", blocks);
	out_hide_text(o, false);
}

/* Keep the cap entries that retain most, best first: millions of blocks
 * are offered, a handful are shown, so nothing is sorted whole. */
struct best {
	struct entry *v;
	size_t n, cap;
};

/* Room for the n best of at most offers entries (a huge N costs nothing). */
static struct best best_new(long n, size_t offers)
{
	size_t cap = (size_t)n < offers ? (size_t)n : offers;
	return (struct best){ xcalloc(cap + 1, sizeof(struct entry)), 0, cap };
}

static void best_offer(struct best *b, struct entry e)
{
	if (!b->cap || (b->n == b->cap && e.retained <= b->v[b->n - 1].retained))
		return;
	size_t i = b->n < b->cap ? b->n++ : b->n - 1;
	for (; i > 0 && b->v[i - 1].retained < e.retained; i--)
		b->v[i] = b->v[i - 1];
	b->v[i] = e;
}

/* Where several roots hold the same memory, none of them retains it alone
 * (the dominator tree hangs it under the virtual root). Such a block is shown
 * with the roots whose words point straight into it. */
static void out_shared(struct session *s, const struct reach *r, uint32_t b)
{
	struct out *o = s->out;
	uint32_t seen[8];
	size_t nseen = 0;
	out_text(o, "  shared by ");
	out_null(o, "root");
	out_hide_text(o, true);
	out_str(o, "kind", "shared");
	out_hide_text(o, false);
	out_list(o, "shared_by");
	for (size_t i = 0; i < r->nroots && nseen < ARRAY_SIZE(seen); i++) {
		uint32_t g = r->roots[i].group;
		bool again = false;
		for (size_t k = 0; k < nseen; k++)
			again |= seen[k] == g;
		if (r->roots[i].block != b || again)
			continue;
		out_text(o, "%s", nseen ? " and " : "");
		out_str(o, NULL, r->groups[g].label);
		seen[nseen++] = g;
	}
	out_list_end(o);
	if (!nseen)
		out_text(o, "several roots, through other blocks");
	out_text(o, ": block ");
	out_hex(o, "block", r->heap->blocks[b].addr);
}

/* The roots that retain most, and the blocks that several roots share. */
static void top_roots(struct session *s, const struct reach *r, long n)
{
	uint32_t vroot = reach_virtual_root(r);
	struct best best = best_new(n, vroot);
	for (uint32_t node = 0; node < vroot; node++)
		if (node >= r->heap->n || r->idom[node] == vroot)
			best_offer(&best, (struct entry){ node, r->retained[node], r->retained_blocks[node], NULL });
	out_list(s->out, "roots");
	for (size_t i = 0; i < best.n && best.v[i].retained; i++) {
		uint32_t node = best.v[i].node;
		out_obj(s->out, NULL);
		if (node < r->heap->n) {
			out_shared(s, r, node);
		} else {
			const struct root_group *g = &r->groups[node - r->heap->n];
			out_text(s->out, "  ");
			out_str(s->out, "root", g->label);
			out_hide_text(s->out, true);
			out_str(s->out, "kind", root_kind_name(g->kind));
			out_hide_text(s->out, false);
		}
		out_amount(s->out, best.v[i].retained, best.v[i].blocks);
		out_obj_end(s->out);
	}
	out_list_end(s->out);
	free(best.v);
}

static void top_blocks(struct session *s, const struct reach *r, long n)
{
	const struct heap *h = r->heap;
	struct best best = best_new(n, h->n);
	for (size_t i = 0; i < h->n; i++)
		if (r->cls[i] == CLASS_REACHABLE || r->cls[i] == CLASS_POSSIBLE)
			best_offer(&best, (struct entry){ (uint32_t)i, r->retained[i], r->retained_blocks[i], NULL });
	const struct entry *v = best.v;
	out_list(s->out, "blocks");
	for (size_t i = 0; i < best.n; i++) {
		const struct heap_block *b = &h->blocks[v[i].node];
		char *type = heap_block_type(s, b);
		out_obj(s->out, NULL);
		out_text(s->out, "  block ");
		out_hex(s->out, "block", b->addr);
		out_text(s->out, " (");
		if (type)
			out_str(s->out, "type", type);
		else
			out_text(s->out, "%" PRIu64 " B", heap_usable(b));
		out_text(s->out, ")");
		out_hide_text(s->out, true);
		out_uint(s->out, "usable", heap_usable(b));
		if (!type)
			out_null(s->out, "type");
		out_hide_text(s->out, false);
		out_amount(s->out, v[i].retained, v[i].blocks);
		out_obj_end(s->out);
		free(type);
	}
	out_list_end(s->out);
	free(best.v);
}

/* By type: every reachable block of a type, counted once: a block's
 * retained size counts unless a block of the same type dominates it. */
static void top_types(struct session *s, const struct reach *r, long n)
{
	const struct heap *h = r->heap;
	struct entry *v = NULL;
	size_t k = 0, cap = 0;
	char **types = xcalloc(h->n + 1, sizeof(*types));
	for (size_t i = 0; i < h->n; i++)
		if (r->cls[i] == CLASS_REACHABLE || r->cls[i] == CLASS_POSSIBLE) {
			types[i] = heap_block_type(s, &h->blocks[i]);
			if (!types[i])
				types[i] = xasprintf("%" PRIu64 "-byte blocks", heap_usable(&h->blocks[i]));
		}
	for (size_t i = 0; i < h->n; i++) {
		if (!types[i])
			continue;
		uint32_t d = r->idom[i];
		bool nested = false;
		for (int hops = 0; d < h->n && hops < 64 && !nested; d = r->idom[d], hops++)
			nested = types[d] && !strcmp(types[d], types[i]);
		struct entry *e = NULL;
		for (size_t j = 0; j < k && !e; j++)
			if (!strcmp(v[j].type, types[i]))
				e = &v[j];
		if (!e) {
			GROW(v, cap, k + 1);
			e = &v[k++];
			*e = (struct entry){ 0, 0, 0, xstrdup(types[i]) };
		}
		if (!nested) {
			e->retained += r->retained[i];
			e->blocks += r->retained_blocks[i];
		}
	}
	sort_array(v, k, sizeof(*v), by_retained);
	out_list(s->out, "types");
	for (size_t i = 0; i < k; i++) {
		if ((long)i < n) {
			out_obj(s->out, NULL);
			out_text(s->out, "  ");
			out_str(s->out, "type", v[i].type);
			out_amount(s->out, v[i].retained, v[i].blocks);
			out_obj_end(s->out);
		}
		free(v[i].type);
	}
	out_list_end(s->out);
	for (size_t i = 0; i < h->n; i++)
		free(types[i]);
	free(types);
	free(v);
}

int cmd_top(struct session *s, const struct args *a)
{
	struct reach_opts opts;
	int argc;
	char **argv = take_reach_opts(s, a, &opts, &argc);
	if (!argv)
		return -1;
	long n = 10;
	const char *by = NULL;
	bool ok = true;
	for (int i = 0; i < argc && ok; i++) {
		if (!strcmp(argv[i], "--by") && i + 1 < argc &&
		    (!strcmp(argv[i + 1], "root") || !strcmp(argv[i + 1], "block") || !strcmp(argv[i + 1], "type")))
			by = argv[++i];
		else
			ok = parse_int(argv[i], &n) && n > 0;
	}
	free(argv);
	if (!ok) {
		out_error(s->out, "usage: top [N] [--by root|block|type]");
		return -1;
	}
	const struct reach *r = reach_or_error(s, &opts, NEED_RETAINED);
	if (!r)
		return -1;
	/* What an allocator left out holds is in no figure below (the warnings say which). */
	out_hide_text(s->out, true);
	out_bool(s->out, "complete", heap_complete(r->heap));
	out_hide_text(s->out, false);
	if (!by || !strcmp(by, "root")) {
		out_text(s->out, "Roots that keep the most memory alive:\n");
		top_roots(s, r, n);
	}
	if (!by || !strcmp(by, "block")) {
		out_text(s->out, "Blocks that keep the most memory alive:\n");
		top_blocks(s, r, n);
	}
	if (by && !strcmp(by, "type")) {
		out_text(s->out, "Types that keep the most memory alive:\n");
		top_types(s, r, n);
	}
	return 0;
}
