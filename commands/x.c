/* x/FMT ADDRESS: examine memory, with gdb's formats (x d u o t c a s i) and
 * unit sizes (b h w g). A negative count reads backwards, as gdb does: x/-5xg
 * ADDR prints the 5 giant words that end at ADDR. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/disasm.h"
#include "base/util.h"
#include "commands.h"

/* More units than anyone reads on a screen, and a bound on the output. */
enum { MAX_COUNT = 1 << 20 };

struct xfmt {
	size_t count;
	bool backwards; /* x/-COUNT */
	char format;    /* x d u o t c a s i */
	size_t size;    /* 1 2 4 8 */
};

/* [-][COUNT][FORMAT][SIZE]. Returns 0, or -1 with error_set(). */
static int parse_xfmt(const char *spec, struct xfmt *f)
{
	*f = (struct xfmt){ .count = 1, .format = 'x', .size = 4 };
	bool size_given = false;
	const char *p = spec;
	f->backwards = *p == '-';
	p += f->backwards;
	if (isdigit((unsigned char)*p)) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(p, &end, 10);
		if (errno == ERANGE || n > MAX_COUNT)
			return error_set("Count too large: /%.*s (x reads at most %d units at a time).", (int)(end - spec),
					 spec, MAX_COUNT);
		f->count = (size_t)n;
		p = end;
	}
	for (; *p; p++) {
		if (strchr("xduotcasi", *p)) {
			f->format = *p;
		} else if (strchr("bhwg", *p)) {
			f->size = *p == 'b' ? 1 : *p == 'h' ? 2 : *p == 'w' ? 4 : 8;
			size_given = true;
		} else {
			return error_set("Invalid format: /%s", spec);
		}
	}
	if (f->format == 'a')
		f->size = 8;
	else if (f->format == 'c' && !size_given)
		f->size = 1;
	if (f->backwards && (f->format == 's' || f->format == 'i'))
		return error_set("x/-COUNT reads units of memory backwards, not strings (s) or instructions (i).");
	return 0;
}

static void out_unit(struct session *s, const struct xfmt *f, const uint8_t *p)
{
	uint64_t u = 0;
	memcpy(&u, p, f->size);
	int64_t v = f->size == 8 ? (int64_t)u : (int64_t)(u << (64 - 8 * f->size)) >> (64 - 8 * f->size);
	struct out *o = s->out;
	char sym[256];
	switch (f->format) {
	case 'd':
		out_int(o, NULL, v);
		break;
	case 'u':
		out_uint(o, NULL, u);
		break;
	case 'o':
		out_text(o, "0%" PRIo64, u);
		out_hide_text(o, true);
		out_uint(o, NULL, u);
		out_hide_text(o, false);
		break;
	case 't':
		for (int bit = (int)(8 * f->size) - 1; bit >= 0; bit--)
			out_text(o, "%c", (u >> bit) & 1 ? '1' : '0');
		out_hide_text(o, true);
		out_uint(o, NULL, u);
		out_hide_text(o, false);
		break;
	case 'c':
		out_text(o, "%" PRId64 " '%s%c'", v, isprint((int)(u & 0xff)) ? "" : "\\", isprint((int)(u & 0xff)) ? (int)u : '?');
		out_hide_text(o, true);
		out_int(o, NULL, v);
		out_hide_text(o, false);
		break;
	case 'a':
		out_hex(o, NULL, u);
		if (*disasm_symbolic(s, u, sym, sizeof(sym)))
			out_text(o, " %s", sym);
		break;
	default:
		out_text(o, "0x%0*" PRIx64, (int)(2 * f->size), u);
		out_hide_text(o, true);
		out_uint(o, NULL, u);
		out_hide_text(o, false);
	}
}

static void out_line_start(struct session *s, uint64_t addr)
{
	char sym[256];
	out_text(s->out, "0x%" PRIx64, addr);
	if (*disasm_symbolic(s, addr, sym, sizeof(sym)))
		out_text(s->out, " %s", sym);
	out_text(s->out, ":");
}

static int examine_units(struct session *s, const struct xfmt *f, uint64_t addr)
{
	size_t per_line = f->size == 8 ? 2 : f->size == 4 ? 4 : 8;
	out_list(s->out, "values");
	for (size_t i = 0; i < f->count; i++) {
		uint8_t unit[8];
		uint64_t a = addr + i * f->size;
		if (!target_read_all(s->target, a, unit, f->size)) {
			out_list_end(s->out);
			out_text(s->out, i % per_line ? "\n" : "");
			out_error(s->out, "Cannot access memory at address 0x%" PRIx64, a);
			return -1;
		}
		if (i % per_line == 0)
			out_line_start(s, a);
		out_text(s->out, "\t");
		out_unit(s, f, unit);
		if (i % per_line == per_line - 1 || i + 1 == f->count)
			out_text(s->out, "\n");
	}
	out_list_end(s->out);
	return 0;
}

static int examine_strings(struct session *s, const struct xfmt *f, uint64_t addr)
{
	out_list(s->out, "strings");
	for (size_t i = 0; i < f->count; i++) {
		char *str = target_read_string(s->target, addr, 4096);
		if (!str) {
			out_list_end(s->out);
			out_error(s->out, "Cannot access memory at address 0x%" PRIx64, addr);
			return -1;
		}
		out_obj(s->out, NULL);
		out_line_start(s, addr);
		out_hide_text(s->out, true);
		out_hex(s->out, "address", addr);
		out_hide_text(s->out, false);
		out_text(s->out, "\t\"");
		out_str(s->out, "value", str);
		out_text(s->out, "\"\n");
		out_obj_end(s->out);
		addr += strlen(str) + 1;
		free(str);
	}
	out_list_end(s->out);
	return 0;
}

int cmd_x(struct session *s, const struct args *a)
{
	struct xfmt f;
	const char *spec = a->argc && a->argv[0][0] == '/' ? a->argv[0] + 1 : NULL;
	if (parse_xfmt(spec ? spec : "", &f) < 0) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	const char *expr = a->rest;
	if (spec)
		expr += strcspn(expr, " \t");
	expr += strspn(expr, " \t");
	if (!*expr) {
		out_error(s->out, "Argument required (starting display address).");
		return -1;
	}
	uint64_t addr;
	struct thread *th = session_thread(s);
	if (!symbols_resolve_address(s->symbols, expr, th, &addr)) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	if (f.backwards)
		addr -= f.count * f.size; /* modulo 2^64, as gdb: x/-1xg 0 reads 0xfffffffffffffff8 */
	out_hide_text(s->out, true);
	out_hex(s->out, "address", addr);
	out_strf(s->out, "format", "%c", f.format);
	out_uint(s->out, "size", f.size);
	out_hide_text(s->out, false);
	if (f.format == 's')
		return examine_strings(s, &f, addr);
	if (f.format == 'i') {
		out_list(s->out, "instructions");
		/* x/0i prints nothing, as gdb; to disasm_print a count of 0 means no limit. */
		uint64_t next = f.count ? disasm_print(s, addr, 0, f.count, th ? regs_pc(th) : 0) : addr;
		out_list_end(s->out);
		if (!next) {
			out_error(s->out, "Cannot access memory at address 0x%" PRIx64, addr);
			return -1;
		}
		return 0;
	}
	return examine_units(s, &f, addr);
}
