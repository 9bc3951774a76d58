/* heap, heap blocks, heap block ADDR, heap histogram, heap check: the block
 * table that the allocator plugin walked. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/frames.h"
#include "analysis/heap.h"
#include "base/util.h"
#include "commands.h"

/* The heap (walked, unless any is asked for: heap check shows why a walk
 * failed), or NULL after reporting why not. */
static const struct heap *heap_or_error(struct session *s, bool walked)
{
	const struct heap *h = walked ? heap_get_walked(s) : heap_get(s);
	if (!h)
		out_error(s->out, "%s", error_get());
	else
		heap_warn_gaps(s->out, h); /* an allocator beside the walked one: its objects are not here */
	return h;
}

struct tally {
	uint64_t blocks, bytes;
};

struct arena_stats {
	struct tally used, free, by_state[STRAND_INTERNAL + 1], mmapped;
};

static void count(struct tally *t, const struct heap_block *b)
{
	t->blocks++;
	t->bytes += heap_usable(b);
}

static void tally_block(struct arena_stats *st, const struct heap_block *b)
{
	if (b->state <= STRAND_INTERNAL)
		count(&st->by_state[b->state], b);
	if (b->flags & HEAP_MMAPPED)
		count(&st->mmapped, b);
	if (b->state == STRAND_USED)
		count(&st->used, b);
	else if (heap_state_is_free(b->state) && b->state != STRAND_TOP)
		count(&st->free, b);
}

static void out_tally(struct out *o, const char *key, const struct tally *t)
{
	char buf[32];
	out_obj(o, key);
	out_uint(o, "blocks", t->blocks);
	out_text(o, " block%s, ", t->blocks == 1 ? "" : "s");
	out_hide_text(o, true);
	out_uint(o, "bytes", t->bytes);
	out_hide_text(o, false);
	out_text(o, "%s", format_bytes(t->bytes, buf, sizeof(buf)));
	out_obj_end(o);
}

/* Free bytes scattered in holes, as a share of all free bytes (holes + top):
 * 0% when everything free is in top, near 100% when it is all in holes. */
static double fragmentation(const struct arena_stats *st)
{
	uint64_t holes = st->free.bytes, top = st->by_state[STRAND_TOP].bytes;
	return holes + top ? 100.0 * (double)holes / (double)(holes + top) : 0.0;
}

static void out_free_lists(struct out *o, const struct arena_stats *st)
{
	static const unsigned lists[] = { STRAND_TCACHE, STRAND_FASTBIN, STRAND_UNSORTED, STRAND_SMALLBIN,
					  STRAND_LARGEBIN, STRAND_FREE };
	out_obj(o, "free_lists");
	out_text(o, "      free lists:");
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		const struct tally *t = &st->by_state[lists[i]];
		char buf[32];
		out_obj(o, heap_state_name(lists[i]));
		out_text(o, " %s ", heap_state_name(lists[i]));
		out_uint(o, "blocks", t->blocks);
		out_hide_text(o, true);
		out_uint(o, "bytes", t->bytes);
		out_hide_text(o, false);
		out_text(o, " (%s)%s", format_bytes(t->bytes, buf, sizeof(buf)), i + 1 < ARRAY_SIZE(lists) ? "," : "\n");
		out_obj_end(o);
	}
	out_obj_end(o);
}

/* Per-thread caches (glibc's tcaches) and the blocks their own counts say
 * they hold, to set beside the tcache blocks the walk found in their lists;
 * a line of text only when there are caches. */
static void out_thread_caches(struct out *o, const char *indent, const char *where, uint64_t caches, uint64_t blocks)
{
	out_obj(o, "thread_caches");
	out_hide_text(o, true);
	out_uint(o, "caches", caches);
	out_uint(o, "blocks", blocks);
	out_hide_text(o, false);
	if (caches)
		out_text(o, "%sthread caches: %" PRIu64 "%s, their counts say %" PRIu64 " block%s\n", indent, caches, where,
			 blocks, blocks == 1 ? "" : "s");
	out_obj_end(o);
}

/* What the walk found beside the allocator's own accounting: the memory it
 * went through, to compare with system_mem (exact bytes when they differ),
 * and the allocator's own count of the arena's blocks; null when the plugin
 * does not say. */
static void out_allocator_counts(struct out *o, const struct strand_arena *a)
{
	char buf[32];
	if (a->measured) {
		out_text(o, ", walked %s", format_bytes(a->walked_mem, buf, sizeof(buf)));
		if (a->walked_mem != a->system_mem)
			out_text(o, " (%" PRIu64 " bytes, system_mem %" PRIu64 ")", a->walked_mem, a->system_mem);
		out_hide_text(o, true);
		out_uint(o, "walked_mem", a->walked_mem);
		out_hide_text(o, false);
	} else {
		out_null(o, "walked_mem");
	}
	if (a->counts_blocks) {
		out_text(o, "; the allocator counts ");
		out_uint(o, "counted_blocks", a->counted_blocks);
		out_text(o, " block%s", a->counted_blocks == 1 ? "" : "s");
	} else {
		out_null(o, "counted_blocks");
	}
	out_text(o, "\n");
}

static void out_arena(struct session *s, const struct heap_arena *ha, const struct arena_stats *st)
{
	struct out *o = s->out;
	char buf[32];
	out_obj(o, NULL);
	out_text(o, "arena ");
	out_uint(o, "index", ha->a.index);
	out_text(o, " (");
	out_str(o, "kind", ha->kind);
	out_text(o, ")");
	if (ha->a.address) {
		out_text(o, " at ");
		out_hex(o, "address", ha->a.address);
	} else {
		out_null(o, "address");
	}
	out_text(o, ": ");
	out_hide_text(o, true);
	out_uint(o, "system_mem", ha->a.system_mem);
	out_uint(o, "heaps", ha->a.heaps);
	out_bool(o, "contiguous", ha->a.contiguous);
	out_hide_text(o, false);
	out_text(o, "%s from the system in %u region%s", format_bytes(ha->a.system_mem, buf, sizeof(buf)), ha->a.heaps,
		 ha->a.heaps == 1 ? "" : "s");
	out_allocator_counts(o, &ha->a);
	out_text(o, "      used ");
	out_tally(o, "used", &st->used);
	out_text(o, "; free ");
	out_tally(o, "free", &st->free);
	if (ha->a.top) {
		out_text(o, "; top ");
		out_obj(o, "top");
		out_hex(o, "address", ha->a.top);
		out_text(o, " ");
		out_hide_text(o, true);
		out_uint(o, "size", ha->a.top_size);
		out_hide_text(o, false);
		out_text(o, "(%s)", format_bytes(ha->a.top_size, buf, sizeof(buf)));
		out_obj_end(o);
	} else {
		out_null(o, "top");
	}
	out_text(o, "; fragmentation ");
	out_double(o, "fragmentation_percent", "%.1f%%", fragmentation(st));
	out_text(o, "\n");
	if (strcmp(ha->kind, "mmap") != 0)
		out_free_lists(o, st);
	out_thread_caches(o, "      ", " here", ha->a.caches, ha->a.cached_blocks);
	out_obj_end(o);
}

int cmd_heap(struct session *s, const struct args *a)
{
	(void)a;
	const struct heap *h = heap_or_error(s, true);
	if (!h)
		return -1;
	struct out *o = s->out;
	struct arena_stats *per = xcalloc(h->narenas + 1, sizeof(*per)), total = { 0 };
	uint64_t caches = 0, cached = 0;
	for (size_t i = 0; i < h->narenas; i++) {
		caches += h->arenas[i].a.caches;
		cached += h->arenas[i].a.cached_blocks;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct heap_block *b = &h->blocks[i];
		tally_block(b->arena < h->narenas ? &per[b->arena] : &per[h->narenas], b);
		tally_block(&total, b);
	}
	out_text(o, "Heap of %s: ", s->target->description);
	out_str(o, "allocator", h->allocator);
	out_text(o, ", state found by ");
	out_str(o, "discovery", h->discovery ? h->discovery : "nothing");
	out_text(o, ", walked in ");
	out_double(o, "seconds", "%.3f s", h->seconds);
	out_text(o, "\n");
	out_list(o, "arenas");
	for (size_t i = 0; i < h->narenas; i++)
		out_arena(s, &h->arenas[i], &per[i]);
	out_list_end(o);
	out_text(o, "total: used ");
	out_obj(o, "total");
	out_tally(o, "used", &total.used);
	out_text(o, "; free ");
	out_tally(o, "free", &total.free);
	out_text(o, " (tcache ");
	out_tally(o, "tcache", &total.by_state[STRAND_TCACHE]);
	out_text(o, ", fastbins ");
	out_tally(o, "fastbin", &total.by_state[STRAND_FASTBIN]);
	out_text(o, "); mmapped ");
	out_tally(o, "mmapped", &total.mmapped);
	out_text(o, "\n");
	out_thread_caches(o, "", "", caches, cached);
	out_obj_end(o);
	out_text(o, "Sizes are usable bytes (what malloc_usable_size returns).\n");
	if (h->nproblems)
		out_text(o, "%zu problem%s in the heap's metadata: see `heap check`.\n", h->nproblems,
			 h->nproblems == 1 ? "" : "s");
	out_hide_text(o, true);
	out_uint(o, "problems", h->nproblems);
	out_hide_text(o, false);
	free(per);
	return h->walked ? 0 : -1;
}

/* Options shared by heap blocks and heap histogram. */
struct block_filter {
	bool used, free;
	uint64_t min_size, max_size;
	long arena;
	uint64_t limit;
	const char *by;
};

static bool parse_size_arg(struct session *s, const char *opt, const char *v, uint64_t *out)
{
	if (!v || !parse_size(v, out)) {
		out_error(s->out, "%s needs a size (bytes, or with K, M, G)", opt);
		return false;
	}
	return true;
}

static bool parse_filter(struct session *s, const struct args *a, struct block_filter *f)
{
	*f = (struct block_filter){ .max_size = UINT64_MAX, .arena = -1, .limit = 1000, .by = "size" };
	for (int i = 0; i < a->argc; i++) {
		const char *opt = a->argv[i], *v = i + 1 < a->argc ? a->argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(opt, "--used")) {
			f->used = true;
		} else if (!strcmp(opt, "--free")) {
			f->free = true;
		} else if (!strcmp(opt, "--min-size") || !strcmp(opt, "--max-size") || !strcmp(opt, "--limit") ||
			   !strcmp(opt, "--arena")) {
			if (!parse_size_arg(s, opt, v, &n))
				return false;
			i++;
			if (opt[2] == 'm' && opt[3] == 'i')
				f->min_size = n;
			else if (opt[2] == 'm')
				f->max_size = n;
			else if (opt[2] == 'l')
				f->limit = n;
			else
				f->arena = (long)n;
		} else if (!strcmp(opt, "--by") && v && (!strcmp(v, "size") || !strcmp(v, "type"))) {
			f->by = v;
			i++;
		} else {
			out_error(s->out, "unknown option %s", opt);
			return false;
		}
	}
	return true;
}

static bool filter_match(const struct block_filter *f, const struct heap_block *b)
{
	bool is_free = heap_state_is_free(b->state);
	if ((f->used && !f->free && b->state != STRAND_USED) || (f->free && !f->used && !is_free))
		return false;
	if (heap_usable(b) < f->min_size || heap_usable(b) > f->max_size)
		return false;
	return f->arena < 0 || b->arena == f->arena;
}

static void out_block_fields(struct session *s, const struct heap *h, const struct heap_block *b)
{
	struct out *o = s->out;
	out_addr(o, "address", b->addr);
	out_text(o, " ");
	out_intw(o, "usable", 10, (long long)heap_usable(b));
	out_text(o, "  ");
	out_strw(o, "state", -9, heap_state_name(b->state));
	out_text(o, "  arena ");
	out_uint(o, "arena", b->arena);
	out_hide_text(o, true);
	out_str(o, "arena_kind", b->arena < h->narenas ? h->arenas[b->arena].kind : NULL);
	out_hide_text(o, false);
	out_text(o, "%s", b->flags & HEAP_MMAPPED ? " (mmapped)" : "");
	out_hide_text(o, true);
	out_bool(o, "mmapped", b->flags & HEAP_MMAPPED);
	out_hide_text(o, false);
}

int cmd_heap_blocks(struct session *s, const struct args *a)
{
	struct block_filter f;
	if (!parse_filter(s, a, &f))
		return -1;
	const struct heap *h = heap_or_error(s, true);
	if (!h)
		return -1;
	struct out *o = s->out;
	uint64_t shown = 0, matched = 0;
	out_text(o, "%18s %10s  %-9s  %s\n", "address", "usable", "state", "arena");
	out_list(o, "blocks");
	for (size_t i = 0; i < h->n && !session_interrupted(); i++) {
		const struct heap_block *b = &h->blocks[i];
		if (!filter_match(&f, b))
			continue;
		matched++;
		if (f.limit && shown >= f.limit)
			continue;
		out_obj(o, NULL);
		out_block_fields(s, h, b);
		out_text(o, "\n");
		out_obj_end(o);
		shown++;
	}
	out_list_end(o);
	out_hide_text(o, true);
	out_uint(o, "matched", matched);
	out_hide_text(o, false);
	if (shown < matched)
		out_text(o, "... %" PRIu64 " more (--limit 0 shows all)\n", matched - shown);
	return 0;
}

/* A few bytes of a block, as hex and printable ASCII. */
static void out_preview(struct session *s, uint64_t addr, uint64_t len)
{
	uint8_t bytes[32];
	size_t n = (size_t)(len < sizeof(bytes) ? len : sizeof(bytes));
	n = target_read(s->target, addr, bytes, n);
	char hex[3 * sizeof(bytes) + 1] = "", ascii[sizeof(bytes) + 1] = "";
	for (size_t i = 0; i < n; i++) {
		snprintf(hex + 3 * i, 4, "%02x ", bytes[i]);
		ascii[i] = bytes[i] >= 32 && bytes[i] < 127 ? (char)bytes[i] : '.';
	}
	out_text(s->out, "  ");
	out_str(s->out, "preview_hex", hex);
	out_text(s->out, " |");
	out_str(s->out, "preview_ascii", ascii);
	out_text(s->out, "|\n");
}

int cmd_heap_block(struct session *s, const struct args *a)
{
	uint64_t addr;
	if (!symbols_resolve_address(s->symbols, a->rest, session_thread(s), &addr)) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	const struct heap *h = heap_or_error(s, true);
	if (!h)
		return -1;
	const struct heap_block *b = heap_find(h, addr);
	if (!b) {
		out_error(s->out, "0x%" PRIx64 " is not inside any heap block", addr);
		return -1;
	}
	struct out *o = s->out;
	out_text(o, "0x%" PRIx64 " is at offset ", addr);
	out_uint(o, "offset", addr - b->addr);
	out_text(o, " of the block\n");
	out_obj(o, "block");
	out_block_fields(s, h, b);
	out_text(o, "\n");
	out_obj_end(o);
	out_preview(s, b->addr, heap_usable(b));
	return 0;
}

int cmd_heap_check(struct session *s, const struct args *a)
{
	(void)a;
	const struct heap *h = heap_or_error(s, false);
	if (!h)
		return -1;
	struct out *o = s->out;
	out_list(o, "problems");
	for (size_t i = 0; i < h->nproblems; i++) {
		out_obj(o, NULL);
		out_hide_text(o, true);
		out_hex(o, "address", h->problems[i].addr);
		out_hide_text(o, false);
		out_str(o, "message", h->problems[i].message);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	out_hide_text(o, true);
	out_uint(o, "blocks", h->n);
	out_bool(o, "walked", h->walked);
	out_hide_text(o, false);
	if (!h->walked)
		out_text(o, "The walk failed: no block was walked.\n");
	else if (!h->nproblems)
		out_text(o, "No problems found in %zu blocks.\n", h->n);
	else
		out_text(o, "%zu problem%s; %zu blocks walked around them.\n", h->nproblems,
			 h->nproblems == 1 ? "" : "s", h->n);
	return h->walked ? 0 : -1;
}
