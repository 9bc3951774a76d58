/* leaks: valgrind's LEAK SUMMARY and loss records, from outside the process. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

struct record {
	enum leak_class cls;
	char *type;           /* NULL: grouped by size */
	uint64_t size;        /* usable size of each block (size groups) */
	uint64_t blocks, bytes, indirect_bytes;
	uint32_t first;       /* a sample block */
	uint32_t samples[4];
	size_t nsamples;
};

struct records {
	struct record *v;
	size_t n, cap;
};

static struct record *record_for(struct records *rs, enum leak_class c, const char *type, uint64_t size)
{
	for (size_t i = rs->n; i-- > 0;) {
		struct record *r = &rs->v[i];
		if (r->cls == c && (type ? r->type && !strcmp(r->type, type) : !r->type && r->size == size))
			return r;
	}
	GROW(rs->v, rs->cap, rs->n + 1);
	struct record *r = &rs->v[rs->n++];
	*r = (struct record){ .cls = c, .type = type ? xstrdup(type) : NULL, .size = size };
	return r;
}

static int by_bytes_ascending(const void *x, const void *y)
{
	const struct record *a = x, *b = y;
	uint64_t ta = a->bytes + a->indirect_bytes, tb = b->bytes + b->indirect_bytes;
	if (ta != tb)
		return (ta > tb) - (ta < tb);
	return (a->cls < b->cls) - (a->cls > b->cls);
}

static bool wanted(enum leak_class c, const char *show)
{
	if (!strcmp(show, "all"))
		return true;
	if (c == CLASS_REACHABLE)
		return !strcmp(show, "reachable");
	return c == CLASS_DEFINITE || c == CLASS_POSSIBLE;
}

/* The loss records of the classes shown; a definitely lost block brings the
 * bytes of the indirectly lost blocks it leads. */
static void build_records(struct session *s, const struct reach *r, const char *show, struct records *rs)
{
	const struct heap *h = r->heap;
	bool shown[CLASS_NONE + 1] = { false };
	for (int c = 0; c < CLASS_NONE; c++)
		shown[c] = wanted((enum leak_class)c, show);
	uint64_t *indirect_of = xcalloc(r->nlost ? r->nlost : 1, sizeof(*indirect_of));
	for (size_t k = 0; k < r->nlost; k++)
		if (r->lost_leader[k] != k)
			indirect_of[r->lost_leader[k]] += heap_usable(&h->blocks[r->lost[k]]);
	for (size_t i = 0, k = 0; i < h->n && !session_interrupted(); i++) {
		while (k < r->nlost && r->lost[k] < i)
			k++;
		if (!shown[r->cls[i]])
			continue;
		const struct heap_block *b = &h->blocks[i];
		char *type = heap_block_type(s, b);
		struct record *rec = record_for(rs, (enum leak_class)r->cls[i], type, heap_usable(b));
		free(type);
		rec->blocks++;
		rec->bytes += heap_usable(b);
		if (k < r->nlost && r->lost[k] == i)
			rec->indirect_bytes += indirect_of[k];
		if (rec->nsamples < 4)
			rec->samples[rec->nsamples++] = (uint32_t)i;
	}
	free(indirect_of);
	sort_array(rs->v, rs->n, sizeof(*rs->v), by_bytes_ascending);
}

/* valgrind's "of which reachable via heuristic" under the summary (in text
 * only when a heuristic made some block reachable), and which rules ran. */
static void out_heuristics(struct out *o, const struct reach *r)
{
	bool any = false;
	for (int h = 0; h < HEURISTICS; h++)
		any |= r->heuristic_blocks[h] > 0;
	if (any)
		out_text(o, "                      of which reachable via heuristic:\n");
	out_obj(o, "reachable_via_heuristic");
	for (int h = 0; h < HEURISTICS; h++) {
		const char *name = reach_heuristic_name((enum reach_heuristic)h);
		bool shown = r->heuristic_blocks[h] > 0;
		out_obj(o, name);
		out_hide_text(o, !shown);
		if (shown)
			out_text(o, "                        %-19s: ", name);
		out_uint(o, "bytes", r->heuristic_bytes[h]);
		if (shown)
			out_text(o, " bytes in ");
		out_uint(o, "blocks", r->heuristic_blocks[h]);
		if (shown)
			out_text(o, " blocks\n");
		out_hide_text(o, false);
		out_obj_end(o);
	}
	out_obj_end(o);
	out_hide_text(o, true);
	out_list(o, "heuristics");
	for (int h = 0; h < HEURISTICS; h++)
		if (!r->opts.interior_reachable && !(r->opts.heuristics_off & 1u << h))
			out_str(o, NULL, reach_heuristic_name((enum reach_heuristic)h));
	out_list_end(o);
	out_str(o, "interior", r->opts.interior_reachable ? "reachable" : "possible");
	out_hide_text(o, false);
}

static void out_summary_line(struct out *o, const char *key, const char *label, uint64_t bytes, uint64_t blocks)
{
	out_obj(o, key);
	out_text(o, "   %17s: ", label);
	out_uint(o, "bytes", bytes);
	out_text(o, " bytes in ");
	out_uint(o, "blocks", blocks);
	out_text(o, " blocks\n");
	out_obj_end(o);
}

/* The first bytes of a block: a string when they read as one, else hex words. */
static void out_preview(struct session *s, uint64_t addr, uint64_t len)
{
	uint8_t buf[24];
	size_t n = target_read(s->target, addr, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf));
	size_t printable = 0;
	while (printable < n && buf[printable] >= 32 && buf[printable] < 127)
		printable++;
	struct strbuf sb = STRBUF_INIT;
	if (printable >= 4) {
		sb_addc(&sb, '"');
		sb_add(&sb, buf, printable);
		sb_adds(&sb, printable < n && buf[printable] == 0 ? "\"" : "\"...");
	} else {
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t w;
			memcpy(&w, buf + i, 8);
			sb_addf(&sb, "%s0x%" PRIx64, i ? " " : "", w);
		}
	}
	out_text(s->out, "      first bytes: ");
	out_str(s->out, "preview", sb.buf ? sb.buf : "");
	out_text(s->out, "\n");
	sb_release(&sb);
}

static void out_record(struct session *s, const struct reach *r, const struct record *rec, size_t number,
		       size_t total)
{
	struct out *o = s->out;
	out_obj(o, NULL);
	out_uint(o, "total_bytes", rec->bytes + rec->indirect_bytes);
	if (rec->cls == CLASS_DEFINITE) {
		out_text(o, " (");
		out_uint(o, "direct_bytes", rec->bytes);
		out_text(o, " direct, ");
		out_uint(o, "indirect_bytes", rec->indirect_bytes);
		out_text(o, " indirect)");
	}
	out_text(o, " bytes in ");
	out_uint(o, "blocks", rec->blocks);
	out_text(o, " blocks are ");
	out_str(o, "class", leak_class_name(rec->cls));
	out_text(o, " in loss record ");
	out_uint(o, "record", number);
	out_text(o, " of %zu\n      ", total);
	if (rec->type) {
		out_text(o, "type ");
		out_str(o, "type", rec->type);
		out_null(o, "size");
	} else {
		out_null(o, "type");
		out_text(o, "usable size ");
		out_uint(o, "size", rec->size);
	}
	out_text(o, ", e.g.");
	out_list(o, "samples");
	for (size_t i = 0; i < rec->nsamples; i++) {
		out_text(o, " ");
		out_hex(o, NULL, r->heap->blocks[rec->samples[i]].addr);
	}
	out_list_end(o);
	out_text(o, "\n");
	const struct heap_block *b = &r->heap->blocks[rec->samples[0]];
	out_preview(s, b->addr, heap_usable(b));
	out_obj_end(o);
}

/* A check that could not cover the heap fails. Under --error-exitcode it also
 * sets the exit status to 1, a failed command's, which `strand run` would
 * otherwise replace with the program's own. */
static int no_verdict(struct session *s, long exitcode)
{
	if (exitcode && !s->exit_code)
		s->exit_code = 1;
	return -1;
}

int cmd_leaks(struct session *s, const struct args *a)
{
	struct reach_opts opts;
	int argc;
	char **argv = take_reach_opts(s, a, &opts, &argc);
	if (!argv)
		return -1;
	const char *show = "possible";
	long limit = 0, exitcode = 0;
	int rc = 0;
	for (int i = 0; i < argc && rc == 0; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--show") && v && (!strcmp(v, "reachable") || !strcmp(v, "possible") ||
							 !strcmp(v, "all")))
			show = argv[++i];
		else if (!strcmp(argv[i], "--limit") && v && parse_int(v, &limit) && limit >= 0)
			i++;
		else if (!strcmp(argv[i], "--error-exitcode") && v && parse_int(v, &exitcode) && exitcode > 0)
			i++;
		else {
			out_error(s->out, "usage: leaks [--show reachable|possible|all] [--limit N] [--error-exitcode N] "
					  "[--no-registers] [--no-stacks] [--no-tls] [--no-globals] [--no-anon] [--unaligned] "
					  "[--heuristics=all|none|LIST] [--interior=possible|reachable]");
			rc = -1;
		}
	}
	free(argv);
	if (rc)
		return rc;
	const struct reach *r = reach_or_error(s, &opts, NEED_CLASSES);
	if (!r)
		return no_verdict(s, exitcode);
	if (r->warning)
		out_warn(s->out, "%s", r->warning);
	struct out *o = s->out;
	const struct heap *h = r->heap;
	uint64_t bytes[CLASS_NONE] = { 0 }, blocks[CLASS_NONE] = { 0 };
	for (size_t i = 0; i < h->n; i++)
		if (r->cls[i] != CLASS_NONE) {
			bytes[r->cls[i]] += heap_usable(&h->blocks[i]);
			blocks[r->cls[i]]++;
		}
	char scanned[32];
	out_text(o, "Checked %s of roots and heap in %.3f s (%zu root pointers, %zu heap pointers).\n",
		 format_bytes(r->scanned_bytes, scanned, sizeof(scanned)), r->seconds, r->nroots, (size_t)r->npointers);
	out_hide_text(o, true);
	out_uint(o, "scanned_bytes", r->scanned_bytes);
	out_double(o, "seconds", "%.3f", r->seconds);
	out_uint(o, "root_pointers", r->nroots);
	out_uint(o, "heap_pointers", r->npointers);
	out_uint(o, "stored_pointers", r->nedges);
	out_uint(o, "sweeps", r->sweeps);
	out_hide_text(o, false);
	out_text(o, "LEAK SUMMARY (usable bytes):\n");
	out_obj(o, "summary");
	static const char *const keys[] = { "definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable" };
	for (int c = 0; c < CLASS_NONE; c++)
		out_summary_line(o, keys[c], leak_class_name((enum leak_class)c), bytes[c], blocks[c]);
	out_obj_end(o);
	out_heuristics(o, r);

	struct records rs = { 0 };
	build_records(s, r, show, &rs);
	size_t shown = 0, total = rs.n;
	out_list(o, "records");
	for (size_t i = 0; i < rs.n; i++)
		if (!limit || i + 1 + (size_t)limit > total) {
			out_text(o, "\n");
			out_record(s, r, &rs.v[i], i + 1, total);
			shown++;
		}
	out_list_end(o);
	for (size_t i = 0; i < rs.n; i++)
		free(rs.v[i].type);
	free(rs.v);
	if (shown < total)
		out_text(o, "\n(%zu smaller loss records not shown; --limit 0 shows all)\n", total - shown);
	out_text(o, "\n");
	heap_out_coverage(o, h);
	out_hide_text(o, true);
	out_bool(o, "complete", heap_complete(h));
	out_hide_text(o, false);
	/* Never "No leaks" on a heap not wholly seen, and a failure (exit 1)
	 * whatever --error-exitcode asks: the classes above leave out what
	 * was not walked. */
	if (!heap_complete(h)) {
		out_text(o, "No verdict: the leak check did not cover the whole heap.\n");
		return no_verdict(s, exitcode);
	}
	if (exitcode && (blocks[CLASS_DEFINITE] || blocks[CLASS_POSSIBLE]))
		s->exit_code = (int)exitcode;
	if (!blocks[CLASS_DEFINITE] && !blocks[CLASS_POSSIBLE])
		out_text(o, "\nNo leaks: every block is reachable%s.\n", blocks[CLASS_INDIRECT] ? " or indirect" : "");
	return 0;
}
