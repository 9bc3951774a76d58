#include "output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_DEPTH 64

struct level {
	bool is_list;
	int count;
};

/* A document begun inside another (thread apply's per-thread results). */
struct nested_doc {
	int depth;    /* container depth where it began */
	bool failed;  /* the enclosing document's state */
	char *error;
};

struct out {
	enum out_mode mode;
	FILE *fp, *err;
	bool in_doc, failed, interrupted, hide_text;
	/* Text: a line is begun on fp. Lines for err wait in held until it
	 * ends: a file a command's printing reads lazily must not split it. */
	bool mid_line;
	struct strbuf held;
	struct nested_doc nested[8];
	int nesting;
	struct strbuf doc, warnings, error;
	struct level stack[MAX_DEPTH];
	int depth;
};

struct out *out_new(enum out_mode mode, FILE *fp, FILE *err)
{
	struct out *o = xcalloc(1, sizeof(*o));
	o->mode = mode;
	o->fp = fp;
	o->err = err;
	return o;
}

void out_free(struct out *o)
{
	if (!o)
		return;
	sb_release(&o->doc);
	sb_release(&o->warnings);
	sb_release(&o->held);
	sb_release(&o->error);
	free(o);
}

/* A line for err (with its newline): now, or when the text line begun on fp ends. */
static void err_line(struct out *o, const char *line)
{
	if (o->mode == OUT_TEXT && o->mid_line) {
		sb_adds(&o->held, line);
		return;
	}
	fflush(o->fp);
	fputs(line, o->err);
	fflush(o->err);
}

static void release_held(struct out *o)
{
	if (!o->held.len)
		return;
	fflush(o->fp);
	fputs(sb_str(&o->held), o->err);
	fflush(o->err);
	sb_reset(&o->held);
}

/* Text for fp: held lines go out where its first line ends. */
static void put_text(struct out *o, const char *text)
{
	const char *nl = strchr(text, '\n');
	if (nl && o->held.len) {
		fwrite(text, 1, (size_t)(nl + 1 - text), o->fp);
		release_held(o);
		text = nl + 1;
	}
	size_t len = strlen(text);
	if (len) {
		fputs(text, o->fp);
		o->mid_line = text[len - 1] != '\n';
	} else if (nl) {
		o->mid_line = false;
	}
}

void out_stderr_warning(struct out *o, const char *msg)
{
	char *line = xasprintf("warning: %s\n", msg);
	err_line(o, line);
	free(line);
}

void out_set_mode(struct out *o, enum out_mode mode)
{
	o->mode = mode;
}

bool out_json(const struct out *o)
{
	return o->mode == OUT_JSON;
}

static void put_utf8_or_escape(struct strbuf *sb, const unsigned char **pp)
{
	const unsigned char *p = *pp;
	int n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	bool valid = n > 0;
	for (int i = 1; valid && i < n; i++)
		valid = (p[i] & 0xc0) == 0x80;
	if (valid) {
		sb_add(sb, (const char *)p, (size_t)n);
		*pp = p + n;
	} else {
		sb_addf(sb, "\\u%04x", p[0]);
		*pp = p + 1;
	}
}

void json_quote(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			sb_addc(sb, '\\');
			sb_addc(sb, (char)c);
		} else if (c == '\n') {
			sb_adds(sb, "\\n");
		} else if (c == '\t') {
			sb_adds(sb, "\\t");
		} else if (c == '\r') {
			sb_adds(sb, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			sb_addf(sb, "\\u%04x", c);
		} else if (c >= 0x80) {
			put_utf8_or_escape(sb, &p);
			continue;
		} else {
			sb_addc(sb, (char)c);
		}
		p++;
	}
	sb_addc(sb, '"');
}

static void json_member(struct out *o, const char *key);

static void begin_nested(struct out *o, const char *command)
{
	struct nested_doc *n = &o->nested[o->nesting++];
	n->depth = o->depth;
	n->failed = o->failed;
	n->error = o->failed ? xstrdup(sb_str(&o->error)) : NULL;
	o->failed = false;
	if (o->mode != OUT_JSON)
		return;
	json_member(o, "result");
	sb_adds(&o->doc, "{\"command\":");
	json_quote(&o->doc, command ? command : "");
	if (o->depth + 1 < MAX_DEPTH)
		o->stack[++o->depth] = (struct level){ false, 1 };
}

static int end_nested(struct out *o)
{
	struct nested_doc *n = &o->nested[--o->nesting];
	bool failed = o->failed;
	if (o->mode == OUT_JSON) {
		while (o->depth > n->depth + 1)
			sb_adds(&o->doc, o->stack[o->depth--].is_list ? "]" : "}");
		if (failed) {
			sb_adds(&o->doc, ",\"error\":");
			json_quote(&o->doc, sb_str(&o->error));
		}
		sb_addc(&o->doc, '}');
		o->depth = n->depth;
	}
	o->failed = n->failed;
	sb_reset(&o->error);
	if (n->error)
		sb_adds(&o->error, n->error);
	free(n->error);
	return failed ? -1 : 0;
}

void out_begin(struct out *o, const char *command)
{
	if (o->in_doc && o->nesting < (int)ARRAY_SIZE(o->nested)) {
		begin_nested(o, command);
		return;
	}
	sb_reset(&o->doc);
	sb_reset(&o->warnings);
	sb_reset(&o->error);
	o->in_doc = true;
	o->failed = o->interrupted = o->hide_text = false;
	o->depth = 0;
	o->stack[0] = (struct level){ false, 0 };
	if (o->mode == OUT_JSON) {
		sb_adds(&o->doc, "{\"command\":");
		json_quote(&o->doc, command ? command : "");
		o->stack[0].count = 1;
	}
}

int out_end(struct out *o)
{
	if (!o->in_doc)
		return 0;
	if (o->nesting)
		return end_nested(o);
	if (o->mode == OUT_JSON) {
		while (o->depth > 0)
			sb_adds(&o->doc, o->stack[o->depth--].is_list ? "]" : "}");
		if (o->warnings.len)
			sb_addf(&o->doc, ",\"warnings\":[%s]", sb_str(&o->warnings));
		sb_reset(&o->warnings);
		if (o->interrupted)
			sb_adds(&o->doc, ",\"interrupted\":true");
		if (o->failed) {
			sb_adds(&o->doc, ",\"error\":");
			json_quote(&o->doc, sb_str(&o->error));
		}
		sb_adds(&o->doc, "}\n");
		fputs(sb_str(&o->doc), o->fp);
	}
	o->mid_line = false;
	release_held(o);
	fflush(o->fp);
	o->in_doc = false;
	return o->failed ? -1 : 0;
}

bool out_failed(const struct out *o)
{
	return o->failed;
}

void out_interrupted(struct out *o)
{
	o->interrupted = true;
	if (o->mode == OUT_TEXT) {
		fflush(o->fp);
		fputs("Quit\n", o->err);
	}
}

void out_error(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	o->failed = true;
	sb_reset(&o->error);
	sb_vaddf(&o->error, fmt, ap);
	va_end(ap);
	if (o->mode == OUT_TEXT || !o->in_doc) {
		char *line = xasprintf("%s\n", sb_str(&o->error));
		err_line(o, line);
		free(line);
	}
}

void out_warn(struct out *o, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&msg, fmt, ap);
	va_end(ap);
	struct strbuf quoted = STRBUF_INIT;
	json_quote(&quoted, sb_str(&msg));
	/* Once per document: thread apply would repeat a note per thread. */
	bool repeated = o->in_doc && strstr(sb_str(&o->warnings), sb_str(&quoted));
	if (o->in_doc && !repeated) {
		if (o->warnings.len)
			sb_addc(&o->warnings, ',');
		sb_adds(&o->warnings, sb_str(&quoted));
	}
	sb_release(&quoted);
	/* JSON documents carry their warnings; text prints each one once. */
	if (!repeated && !(o->mode == OUT_JSON && o->in_doc))
		out_stderr_warning(o, sb_str(&msg));
	sb_release(&msg);
}

/* JSON: write the separator and key for a new member of the current container. */
static void json_member(struct out *o, const char *key)
{
	struct level *l = &o->stack[o->depth];
	if (l->count++)
		sb_addc(&o->doc, ',');
	if (!l->is_list) {
		json_quote(&o->doc, key ? key : "");
		sb_addc(&o->doc, ':');
	}
}

static void push(struct out *o, const char *key, bool is_list)
{
	if (o->mode != OUT_JSON)
		return;
	json_member(o, key);
	sb_addc(&o->doc, is_list ? '[' : '{');
	if (o->depth + 1 < MAX_DEPTH)
		o->stack[++o->depth] = (struct level){ is_list, 0 };
}

static void pop(struct out *o)
{
	if (o->mode != OUT_JSON || o->depth == 0)
		return;
	sb_addc(&o->doc, o->stack[o->depth--].is_list ? ']' : '}');
}

void out_obj(struct out *o, const char *key) { push(o, key, false); }
void out_obj_end(struct out *o) { pop(o); }
void out_list(struct out *o, const char *key) { push(o, key, true); }
void out_list_end(struct out *o) { pop(o); }

static bool text_visible(const struct out *o)
{
	return o->mode == OUT_TEXT && !o->hide_text;
}

/* Emit a value: raw JSON text for the document, and its text rendering. */
static void emit(struct out *o, const char *key, const char *json, const char *text)
{
	if (o->mode == OUT_JSON) {
		json_member(o, key);
		sb_adds(&o->doc, json);
	} else if (text_visible(o) && text) {
		put_text(o, text);
	}
}

void out_strw(struct out *o, const char *key, int width, const char *val)
{
	if (o->mode == OUT_JSON) {
		json_member(o, key);
		if (val)
			json_quote(&o->doc, val);
		else
			sb_adds(&o->doc, "null");
	} else if (text_visible(o)) {
		char *text = xasprintf("%*s", width, val ? val : "");
		put_text(o, text);
		free(text);
	}
}

void out_str(struct out *o, const char *key, const char *val)
{
	out_strw(o, key, 0, val);
}

void out_strf(struct out *o, const char *key, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	out_str(o, key, sb_str(&sb));
	sb_release(&sb);
}

void out_intw(struct out *o, const char *key, int width, long long v)
{
	char json[32], text[64];
	snprintf(json, sizeof(json), "%lld", v);
	snprintf(text, sizeof(text), "%*lld", width, v);
	emit(o, key, json, text);
}

void out_int(struct out *o, const char *key, long long v)
{
	out_intw(o, key, 0, v);
}

void out_uint(struct out *o, const char *key, unsigned long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", v);
	emit(o, key, buf, buf);
}

void out_double(struct out *o, const char *key, const char *text_fmt, double v)
{
	char json[64], text[64];
	snprintf(json, sizeof(json), "%.6g", v);
	snprintf(text, sizeof(text), text_fmt ? text_fmt : "%g", v);
	emit(o, key, json, text);
}

void out_bool(struct out *o, const char *key, bool v)
{
	emit(o, key, v ? "true" : "false", v ? "yes" : "no");
}

void out_null(struct out *o, const char *key)
{
	emit(o, key, "null", NULL);
}

void out_addr(struct out *o, const char *key, uint64_t v)
{
	char json[32], text[32];
	snprintf(text, sizeof(text), "0x%016llx", (unsigned long long)v);
	snprintf(json, sizeof(json), "\"0x%llx\"", (unsigned long long)v);
	emit(o, key, json, text);
}

void out_hex(struct out *o, const char *key, uint64_t v)
{
	char json[40], text[32];
	snprintf(text, sizeof(text), "0x%llx", (unsigned long long)v);
	snprintf(json, sizeof(json), "\"%s\"", text);
	emit(o, key, json, text);
}

void out_text(struct out *o, const char *fmt, ...)
{
	if (o->mode != OUT_TEXT)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	put_text(o, text);
	free(text);
}

void out_hide_text(struct out *o, bool hide)
{
	o->hide_text = hide;
}
