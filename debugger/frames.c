#include "frames.h"

#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "util.h"

/* From the C++ runtime (libstdc++), which strand links for this alone. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

char *demangle(const char *name)
{
	if (name && name[0] == '_' && name[1] == 'Z') {
		int status;
		char *d = __cxa_demangle(name, NULL, NULL, &status);
		if (d && status == 0)
			return d;
		free(d);
	}
	return xstrdup(name ? name : "??");
}

static void describe_physical(struct session *s, const struct frame *fr, size_t phys, struct logical_frame *lf)
{
	struct sym_info si;
	memset(lf, 0, sizeof(*lf));
	lf->phys = phys;
	lf->pc = fr->pc;
	lf->show_address = true;
	if (symbols_addr_info(s->symbols, fr->lookup_pc, &si)) {
		lf->module = si.module;
		if (si.name) {
			lf->function = demangle(si.name);
			/* "clock_nanosleep@GLIBC_2.2.5": the version is noise in a stack. */
			char *at = strchr(lf->function, '@');
			if (at && at != lf->function)
				*at = '\0';
			lf->func_offset = fr->pc - si.start;
		}
	}
	const char *file;
	int line;
	uint64_t line_addr;
	if (symbols_source_line(s->symbols, fr->lookup_pc, &file, &line, &line_addr)) {
		lf->file = xstrdup(file);
		lf->line = line;
		/* gdb omits the pc when it is exactly the start of a line (only
		 * possible in the innermost frame). */
		lf->show_address = !(phys == 0 && line_addr == fr->pc);
	}
}

int stack_build(struct session *s, const struct thread *th, struct stack *st)
{
	memset(st, 0, sizeof(*st));
	if (symbols_unwind(s->symbols, th, 0, &st->bt) < 0)
		return -1;
	st->f = xcalloc(st->bt.n, sizeof(*st->f));
	for (size_t i = 0; i < st->bt.n; i++)
		describe_physical(s, &st->bt.frames[i], i, &st->f[st->n++]);
	return 0;
}

void stack_free(struct stack *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->f[i].function);
		free(st->f[i].file);
	}
	free(st->f);
	backtrace_free(&st->bt);
	memset(st, 0, sizeof(*st));
}

void out_frame(struct session *s, const struct stack *st, size_t i, unsigned flags)
{
	struct out *o = s->out;
	const struct logical_frame *lf = &st->f[i];
	out_obj(o, "frame");
	if (!(flags & FRAME_NO_LEVEL)) {
		out_text(o, "#");
		out_intw(o, "level", -3, (long long)i);
	} else {
		out_hide_text(o, true);
		out_int(o, "level", (long long)i);
		out_hide_text(o, false);
	}
	if (lf->show_address) {
		out_addr(o, "pc", lf->pc);
		out_text(o, " in ");
	} else {
		out_hide_text(o, true);
		out_addr(o, "pc", lf->pc);
		out_hide_text(o, false);
	}
	out_str(o, "function", lf->function ? lf->function : "??");
	out_hide_text(o, true);
	if (lf->function && !lf->inlined)
		out_uint(o, "offset", lf->func_offset);
	else
		out_null(o, "offset");
	out_hide_text(o, false);
	out_text(o, " (");
	if (flags & FRAME_ARGS)
		out_frame_args(s, st, i);
	out_text(o, ")");
	if (lf->file) {
		out_text(o, " at ");
		out_str(o, "file", lf->file);
		out_text(o, ":");
		out_int(o, "line", lf->line);
	} else {
		out_hide_text(o, true);
		out_null(o, "file");
		out_null(o, "line");
		out_hide_text(o, false);
		if (lf->module)
			out_text(o, " from %s", lf->module);
	}
	out_hide_text(o, true);
	out_str(o, "module", lf->module);
	out_bool(o, "inlined", lf->inlined);
	out_hide_text(o, false);
	out_text(o, "\n");
	if (flags & FRAME_LOCALS)
		out_frame_locals(s, st, i);
	out_obj_end(o);
}
