/* heap histogram [--by size|type]: used blocks grouped by usable size, or by
 * C++ type, read from the vtable pointer at offset 0 ("vtable for Foo"). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/frames.h"
#include "analysis/heap.h"
#include "base/util.h"
#include "commands.h"

struct bucket {
	char *key;      /* "Foo" or NULL for a size bucket */
	uint64_t size;  /* the usable size (size buckets) */
	uint64_t blocks, bytes;
	uint64_t sample;
};

struct buckets {
	struct bucket *v;
	size_t n, cap;
};

static struct bucket *bucket_for(struct buckets *bs, const char *key, uint64_t size)
{
	/* Few distinct keys in practice; a linear scan keeps this simple. */
	for (size_t i = bs->n; i-- > 0;)
		if (key ? bs->v[i].key && !strcmp(bs->v[i].key, key) : !bs->v[i].key && bs->v[i].size == size)
			return &bs->v[i];
	GROW(bs->v, bs->cap, bs->n + 1);
	struct bucket *b = &bs->v[bs->n++];
	*b = (struct bucket){ key ? xstrdup(key) : NULL, size, 0, 0, 0 };
	return b;
}

static int by_bytes(const void *x, const void *y)
{
	const struct bucket *a = x, *b = y;
	return (a->bytes < b->bytes) - (a->bytes > b->bytes);
}

static void out_bucket(struct out *o, const struct bucket *b)
{
	char buf[32];
	out_obj(o, NULL);
	out_intw(o, "blocks", 10, (long long)b->blocks);
	out_text(o, "  ");
	out_hide_text(o, true);
	out_uint(o, "bytes", b->bytes);
	out_hide_text(o, false);
	out_text(o, "%10s  ", format_bytes(b->bytes, buf, sizeof(buf)));
	if (b->key) {
		out_str(o, "type", b->key);
		out_null(o, "size");
	} else {
		out_null(o, "type");
		out_text(o, "size ");
		out_uint(o, "size", b->size);
	}
	out_text(o, "  e.g. ");
	out_hex(o, "sample", b->sample);
	out_text(o, "\n");
	out_obj_end(o);
}

int cmd_heap_histogram(struct session *s, const struct args *a)
{
	bool by_type = false;
	long limit = 50;
	for (int i = 0; i < a->argc; i++) {
		if (!strcmp(a->argv[i], "--by") && i + 1 < a->argc && !strcmp(a->argv[i + 1], "type"))
			by_type = true, i++;
		else if (!strcmp(a->argv[i], "--by") && i + 1 < a->argc && !strcmp(a->argv[i + 1], "size"))
			i++;
		else if (!strcmp(a->argv[i], "--limit") && i + 1 < a->argc && parse_int(a->argv[i + 1], &limit))
			i++;
		else {
			out_error(s->out, "usage: heap histogram [--by size|type] [--limit N]");
			return -1;
		}
	}
	const struct heap *h = heap_get_walked(s);
	if (!h) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	struct buckets bs = { 0 };
	for (size_t i = 0; i < h->n && !session_interrupted(); i++) {
		const struct heap_block *blk = &h->blocks[i];
		if (blk->state != STRAND_USED)
			continue;
		char *type = by_type ? heap_block_type(s, blk) : NULL;
		struct bucket *b = bucket_for(&bs, type, type ? 0 : heap_usable(blk));
		free(type);
		b->blocks++;
		b->bytes += heap_usable(blk);
		if (!b->sample)
			b->sample = blk->addr;
	}
	sort_array(bs.v, bs.n, sizeof(*bs.v), by_bytes);
	out_text(s->out, "%10s  %10s  %s\n", "blocks", "bytes", by_type ? "type (or usable size)" : "usable size");
	out_list(s->out, "buckets");
	for (size_t i = 0; i < bs.n; i++) {
		if (!limit || (long)i < limit)
			out_bucket(s->out, &bs.v[i]);
		free(bs.v[i].key);
	}
	out_list_end(s->out);
	if (limit && bs.n > (size_t)limit)
		out_text(s->out, "... %zu more buckets (--limit 0 shows all)\n", bs.n - (size_t)limit);
	free(bs.v);
	return 0;
}
