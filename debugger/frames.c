#include "frames.h"

#include <dwarf.h>
#include <inttypes.h>
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

char *symbol_for_people(const char *name)
{
	char *d = demangle(name);
	size_t len = strcspn(d, "@");
	char *dot = memchr(d, '.', len);
	if (dot && dot > d && dot[1] && strspn(dot + 1, "0123456789") == len - (size_t)(dot + 1 - d))
		len = (size_t)(dot - d);
	d[len] = '\0';
	return d;
}

char *symbol_offset_for_people(struct symbols *s, uint64_t addr)
{
	struct sym_info si;
	if (!symbols_addr_info(s, addr, &si) || !si.name)
		return NULL;
	char *name = symbol_for_people(si.name);
	if (!si.offset)
		return name;
	char *with = xasprintf("%s+%" PRIu64, name, si.offset);
	free(name);
	return with;
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
		lf->module_offset = si.module_offset;
		if (si.name) {
			lf->function = symbol_for_people(si.name);
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

static bool is_function_scope(Dwarf_Die *d)
{
	int tag = dwarf_tag(d);
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

static char *inlined_name(Dwarf_Die *d)
{
	const char *name = dwarf_diename(d);
	Dwarf_Attribute attr;
	const char *linkage = dwarf_formstring(dwarf_attr_integrate(d, DW_AT_linkage_name, &attr));
	return demangle(linkage ? linkage : name);
}

/* The scopes around pc innermost first, through every inlined body into the
 * concrete caller, ending with the subprogram (dwarf_getscopes alone jumps from
 * an inlined body straight to the CU). Returns the count, 0 if none. */
static int concrete_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out)
{
	Dwarf_Die *part;
	int n = dwarf_getscopes(cu, pc, &part);
	Dwarf_Die *all = NULL;
	size_t len = 0, cap = 0;
	for (int guard = 0; n > 0 && guard < 64; guard++) {
		int k = 0;
		while (k < n && !is_function_scope(&part[k]))
			k++;
		if (k == n) {
			free(part);
			break;
		}
		GROW(all, cap, len + (size_t)k + 1);
		memcpy(all + len, part, ((size_t)k + 1) * sizeof(Dwarf_Die));
		len += (size_t)k + 1;
		Dwarf_Die inlined = part[k];
		free(part);
		if (dwarf_tag(&inlined) == DW_TAG_subprogram) {
			*out = all;
			return (int)len;
		}
		/* The inlined body's own position in the concrete tree: itself first. */
		n = dwarf_getscopes_die(&inlined, &part);
		if (n > 1) {
			memmove(part, part + 1, (size_t)(n - 1) * sizeof(Dwarf_Die));
			n--;
		} else {
			if (n > 0)
				free(part);
			n = 0;
		}
	}
	*out = all;
	return (int)len;
}

/* Where the inlined body d was called from: file and line in its caller. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *d, char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word call_file = 0, call_line = 0;
	Dwarf_Files *files;
	dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &attr), &call_file);
	dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &attr), &call_line);
	const char *f = dwarf_getsrcfiles(cu, &files, NULL) == 0 ? dwarf_filesrc(files, call_file, NULL, NULL) : NULL;
	*file = f ? xstrdup(f) : NULL;
	*line = (int)call_line;
}

/* Split a physical frame into its inlined calls, as gdb does: the innermost
 * inlined function first (at the pc's own line), then each caller at the line
 * of the call, the physical function last. Only the first shows the pc. */
static void expand_inlined(struct session *s, const struct frame *fr, size_t phys, struct stack *st, size_t *cap)
{
	struct logical_frame base;
	describe_physical(s, fr, phys, &base);
	Dwarf_Addr bias = 0;
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), fr->lookup_pc);
	Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, fr->lookup_pc, &bias) : NULL;
	Dwarf_Die *scopes = NULL;
	int n = cu ? concrete_scopes(cu, fr->lookup_pc - bias, &scopes) : 0;
	int outer = n > 0 && dwarf_tag(&scopes[n - 1]) == DW_TAG_subprogram ? n - 1 : -1;
	if (outer < 0) {
		GROW(st->f, *cap, st->n + 1);
		st->f[st->n++] = base;
		free(scopes);
		return;
	}
	int first = 0;
	for (int k = 0; k <= outer; k++) {
		if (!is_function_scope(&scopes[k]))
			continue;
		GROW(st->f, *cap, st->n + 1);
		struct logical_frame *lf = &st->f[st->n++];
		*lf = base;
		lf->nscopes = k - first + 1;
		lf->scopes = xmalloc((size_t)lf->nscopes * sizeof(Dwarf_Die));
		memcpy(lf->scopes, &scopes[first], (size_t)lf->nscopes * sizeof(Dwarf_Die));
		lf->subprogram = scopes[outer];
		lf->bias = bias;
		if (first > 0) { /* a caller of inlined code: at its call site */
			lf->show_address = false;
			call_site(cu, &scopes[first - 1], &lf->file, &lf->line);
		}
		lf->inlined = k < outer;
		lf->function = lf->inlined ? inlined_name(&scopes[k]) : base.function;
		first = k + 1;
	}
	free(scopes);
}

int stack_build(struct session *s, const struct thread *th, struct stack *st)
{
	memset(st, 0, sizeof(*st));
	if (symbols_unwind(s->symbols, th, 0, &st->bt) < 0)
		return -1;
	size_t cap = 0;
	for (size_t i = 0; i < st->bt.n; i++)
		expand_inlined(s, &st->bt.frames[i], i, st, &cap);
	return 0;
}

void stack_free(struct stack *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->f[i].function);
		free(st->f[i].file);
		free(st->f[i].scopes);
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
		out_intw(o, "level", -2, (long long)i);
		out_text(o, " ");
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
	if (lf->module)
		out_hex(o, "module_offset", lf->module_offset);
	else
		out_null(o, "module_offset");
	out_bool(o, "inlined", lf->inlined);
	out_hide_text(o, false);
	out_text(o, "\n");
	if (flags & FRAME_LOCALS)
		out_frame_locals(s, st, i);
	out_obj_end(o);
}
