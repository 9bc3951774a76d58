/* why ADDRESS: the shortest chain of pointers from a root to the block, hop
 * by hop, the root named as a person reads it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

static void out_hop(struct session *s, const struct reach *r, uint32_t b, uint32_t offset, bool last)
{
	struct out *o = s->out;
	const struct heap_block *blk = &r->heap->blocks[b];
	int heuristic = reach_heuristic(s, r, b, offset);
	char buf[32];
	out_obj(o, NULL);
	out_text(o, "  -> ");
	out_hex(o, "block", blk->addr);
	out_text(o, "+%u (block of ", offset);
	out_hide_text(o, true);
	out_uint(o, "offset", offset);
	out_uint(o, "usable", heap_usable(blk));
	if (heuristic >= 0)
		out_str(o, "heuristic", reach_heuristic_name((enum reach_heuristic)heuristic));
	else
		out_null(o, "heuristic");
	out_hide_text(o, false);
	out_text(o, "%s, %s", format_bytes(heap_usable(blk), buf, sizeof(buf)),
		 leak_class_name((enum leak_class)r->cls[b]));
	if (heuristic >= 0)
		out_text(o, ", a start pointer by the %s heuristic", reach_heuristic_name((enum reach_heuristic)heuristic));
	out_text(o, ")%s\n", last ? "" : ", which points");
	out_obj_end(o);
}

/* The offset at which block u points into v (its first such pointer). */
static uint32_t edge_offset(struct session *s, const struct reach *r, uint32_t u, uint32_t v)
{
	size_t first = r->row[u], k = r->row[u + 1] - first;
	uint64_t *where = xmalloc((k + 1) * sizeof(*where));
	uint32_t *offset = xmalloc((k + 1) * sizeof(*offset)), off = 0;
	reach_edge_offsets(s, r, u, where, offset);
	for (size_t i = 0; i < k; i++)
		if (edge_block(r->edges[first + i]) == v) {
			off = offset[i];
			break;
		}
	free(where);
	free(offset);
	return off;
}

int cmd_why(struct session *s, const struct args *a)
{
	struct reach_opts opts;
	int argc;
	char **argv = take_reach_opts(s, a, &opts, &argc);
	if (!argv)
		return -1;
	uint64_t addr;
	bool ok = argc == 1 && symbols_resolve_address(s->symbols, argv[0], session_thread(s), &addr);
	if (!ok)
		out_error(s->out, "%s", argc == 1 ? error_get() : "usage: why ADDRESS [leak options]");
	free(argv);
	if (!ok)
		return -1;
	const struct reach *r = reach_or_error(s, &opts, NEED_RETAINED);
	if (!r)
		return -1;
	const struct heap_block *blk = heap_find(r->heap, addr);
	if (!blk) {
		/* It may lie in memory of an allocator that was not walked. */
		char *left_out = heap_not_analysed(r->heap);
		out_error(s->out, "0x%" PRIx64 " is not inside any heap block%s%s", addr,
			  left_out ? " strand walked; " : "", left_out ? left_out : "");
		free(left_out);
		return -1;
	}
	uint32_t b = (uint32_t)(blk - r->heap->blocks);
	struct out *o = s->out;
	char buf[32];
	out_hex(o, "block", blk->addr);
	out_text(o, " (%s usable) is ", format_bytes(heap_usable(blk), buf, sizeof(buf)));
	out_str(o, "class", r->cls[b] == CLASS_NONE ? heap_state_name(blk->state) : leak_class_name(r->cls[b]));
	out_hide_text(o, true);
	out_uint(o, "usable", heap_usable(blk));
	out_uint(o, "retained", r->retained[b]);
	out_bool(o, "complete", heap_complete(r->heap));
	out_hide_text(o, false);
	if (r->cls[b] == CLASS_REACHABLE || r->cls[b] == CLASS_POSSIBLE)
		out_text(o, "; it keeps %s alive in %u blocks\n", format_bytes(r->retained[b], buf, sizeof(buf)),
			 r->retained_blocks[b]);
	else
		out_text(o, "\n");
	uint32_t *path = NULL;
	size_t root_edge = 0, n = reach_path(r, b, &root_edge, &path);
	if (!n) {
		if (r->cls[b] == CLASS_INDIRECT)
			out_text(o, "No root reaches it; the definitely lost block 0x%" PRIx64 " reaches it.\n",
				 r->heap->blocks[reach_leader(r, b)].addr);
		else if (r->cls[b] != CLASS_NONE)
			out_text(o, "No root and no other block points to it.\n");
		out_null(o, "root");
		out_list(o, "path");
		out_list_end(o);
		return 0;
	}
	out_text(o, "held by");
	out_root_edge(s, r, &r->roots[root_edge]);
	out_list(o, "path");
	for (size_t i = 0; i < n; i++) {
		uint32_t off = i ? edge_offset(s, r, path[i - 1], path[i]) : r->roots[root_edge].offset;
		out_hop(s, r, path[i], off, i + 1 == n);
	}
	out_list_end(o);
	free(path);
	return 0;
}
