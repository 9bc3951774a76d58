/* The output layer: one API for commands, two renderers.
 *
 * A command describes its result as named fields inside objects and lists,
 * interleaved with text-only decoration (out_text). The text renderer prints
 * field values and decoration where they occur, ignoring names; the JSON
 * renderer builds one document per command (JSON Lines) from the named fields
 * and ignores decoration. This is gdb's ui-out design (CLI vs MI).
 *
 * JSON document: {"command": "...", <fields>..., "warnings": [...], "error": "..."}
 * Addresses are strings "0x..." (64-bit values do not fit a JSON double). */
#ifndef STRAND_OUTPUT_H
#define STRAND_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum out_mode { OUT_TEXT, OUT_JSON };

struct out;

struct out *out_new(enum out_mode mode, FILE *fp, FILE *err);
void out_free(struct out *o);
void out_set_mode(struct out *o, enum out_mode mode);
bool out_json(const struct out *o);

/* One document per command. out_end returns -1 when the command reported an error. */
void out_begin(struct out *o, const char *command);
int out_end(struct out *o);
bool out_failed(const struct out *o);
/* Mark the document as cut short by Ctrl-C. */
void out_interrupted(struct out *o);

/* The command failed: the message is one line, without a trailing newline. */
void out_error(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_warn(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning of the layers below the commands (a core's file not found while a
 * command reads it): on err only, never inside a line of text on fp, which
 * it follows when one is begun. */
void out_stderr_warning(struct out *o, const char *msg);

/* Structure. key is ignored inside lists and required inside objects. */
void out_obj(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_list(struct out *o, const char *key);
void out_list_end(struct out *o);

/* Values. */
void out_str(struct out *o, const char *key, const char *val); /* NULL: JSON null */
void out_strw(struct out *o, const char *key, int width, const char *val); /* printf width */
void out_strf(struct out *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void out_int(struct out *o, const char *key, long long v);
void out_intw(struct out *o, const char *key, int width, long long v);
void out_uint(struct out *o, const char *key, unsigned long long v);
void out_double(struct out *o, const char *key, const char *text_fmt, double v);
void out_bool(struct out *o, const char *key, bool v);
void out_null(struct out *o, const char *key); /* JSON null; nothing in text */
void out_addr(struct out *o, const char *key, uint64_t v); /* text 0x%016lx */
void out_hex(struct out *o, const char *key, uint64_t v);  /* text 0x%lx */

/* Text-only decoration. */
void out_text(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* While hidden, fields still go to JSON but print nothing in text. */
void out_hide_text(struct out *o, bool hide);

/* Escape s as a JSON string (with quotes) into sb. */
struct strbuf;
void json_quote(struct strbuf *sb, const char *s);

#endif
