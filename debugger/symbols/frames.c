#include "frames.h"

#include <dwarf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cu_index.h"
#include "session.h"
#include "base/util.h"

/* Without its version ("@GLIBC_2.2.5") or gcc's numbering of a static ("second.0"). In place. */
static char *trim_symbol(char *d)
{
	size_t len = strcspn(d, "@");
	char *dot = memchr(d, '.', len);
	if (dot && dot > d && dot[1] && strspn(dot + 1, "0123456789") == len - (size_t)(dot + 1 - d))
		len = (size_t)(dot - d);
	d[len] = '\0';
	return d;
}

char *symbol_for_people(const char *name)
{
	return trim_symbol(demangle(name));
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
		lf->in_program = si.in_program;
		lf->loaded_as = si.in_program ? NULL : symbols_loaded_name(s->symbols, fr->lookup_pc);
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

/* The DIE that names a function: through its abstract origin (an inlined or
 * out-of-line copy) and its specification (a definition outside its class). */
static Dwarf_Die naming_die(Dwarf_Die *d)
{
	Dwarf_Die cur = *d;
	for (int guard = 0; guard < 8; guard++) {
		Dwarf_Attribute attr;
		Dwarf_Die next;
		if (!dwarf_attr(&cur, DW_AT_abstract_origin, &attr) && !dwarf_attr(&cur, DW_AT_specification, &attr))
			break;
		if (!dwarf_formref_die(&attr, &next))
			break;
		cur = next;
	}
	return cur;
}

/* "ns::Class::name": the DWARF name with its namespaces and classes, as gdb
 * builds it when there is no linkage name (lambdas then show as "<lambda()>"). */
static char *qualified_name(Dwarf_Die *d)
{
	Dwarf_Die named = naming_die(d);
	const char *name = dwarf_diename(&named);
	if (!name)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	Dwarf_Die *scopes;
	int n = dwarf_getscopes_die(&named, &scopes);
	for (int k = n - 1; k >= 1; k--) {
		int tag = dwarf_tag(&scopes[k]);
		const char *scope = dwarf_diename(&scopes[k]);
		if (tag == DW_TAG_namespace)
			sb_addf(&sb, "%s::", scope ? scope : "(anonymous namespace)");
		else if ((tag == DW_TAG_class_type || tag == DW_TAG_structure_type || tag == DW_TAG_union_type) && scope)
			sb_addf(&sb, "%s::", scope);
	}
	if (n > 0)
		free(scopes);
	sb_adds(&sb, name);
	return sb_detach(&sb);
}

static bool is_cxx(Dwarf_Die *d)
{
	Dwarf_Die cu;
	if (!dwarf_diecu(d, &cu, NULL, NULL))
		return false;
	int lang = dwarf_srclang(&cu);
	return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 || lang == DW_LANG_C_plus_plus_11 ||
	       lang == DW_LANG_C_plus_plus_14;
}

static bool is_c(Dwarf_Die *d)
{
	Dwarf_Die cu;
	if (!dwarf_diecu(d, &cu, NULL, NULL))
		return false;
	int lang = dwarf_srclang(&cu);
	return lang == DW_LANG_C89 || lang == DW_LANG_C || lang == DW_LANG_C99 || lang == DW_LANG_C11;
}

/* A function's name from its DWARF, as gdb shows it in a frame: for C the
 * linkage name when there is one ("__GI___clock_nanosleep": glibc's internal
 * alias of the symbol the program called), else the name; for C++ the
 * demangled linkage name without parameters or return type, else the
 * qualified DWARF name; other languages as they demangle. */
static char *function_name(Dwarf_Die *d)
{
	Dwarf_Attribute attr;
	const char *linkage = dwarf_formstring(dwarf_attr_integrate(d, DW_AT_linkage_name, &attr));
	if (is_cxx(d)) {
		if (linkage && linkage[0] == '_' && linkage[1] == 'Z')
			return cxx_function_column(demangle(linkage));
		char *q = qualified_name(d);
		return q || !linkage ? q : demangle(linkage);
	}
	if (is_c(d) && linkage)
		return xstrdup(linkage);
	const char *name = dwarf_diename(d);
	if (!name) {
		Dwarf_Die named = naming_die(d);
		name = dwarf_diename(&named);
	}
	return linkage || name ? demangle(linkage ? linkage : name) : NULL;
}

/* The assembler describes each name of a routine as a subprogram of the same
 * code (__kill, __GI___kill, kill, __GI_kill); gdb names the code after the
 * last of them. */
static void last_alias(Dwarf_Die *fn, Dwarf_Addr pc)
{
	Dwarf_Die next = *fn;
	while (dwarf_siblingof(&next, &next) == 0 && dwarf_tag(&next) == DW_TAG_subprogram && dwarf_haspc(&next, pc) > 0)
		*fn = next;
}

/* The DIEs whose code holds pc, innermost first, down to the CU, walking the
 * CU's own tree (no imported units). Returns the count, 0 if none. */
static int walk_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out)
{
	Dwarf_Die *path = NULL;
	size_t len = 0, cap = 0;
	GROW(path, cap, 1);
	path[len++] = *cu;
	Dwarf_Die child;
	for (int more = dwarf_child(cu, &child) == 0; more && len < 64;) {
		int tag = dwarf_tag(&child);
		bool holds = (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
			      tag == DW_TAG_lexical_block) && dwarf_haspc(&child, pc) > 0;
		if (holds) {
			GROW(path, cap, len + 1);
			path[len++] = child;
			more = dwarf_child(&path[len - 1], &child) == 0;
		} else {
			more = dwarf_siblingof(&child, &child) == 0;
		}
	}
	if (len == 1) {
		free(path);
		return 0;
	}
	for (size_t i = 0; i < len / 2; i++) { /* innermost first */
		Dwarf_Die t = path[i];
		path[i] = path[len - 1 - i];
		path[len - 1 - i] = t;
	}
	*out = path;
	return (int)len;
}

/* Whether the innermost function scope of path is an inlined body whose
 * abstract origin lies in another unit than cu. */
static bool origin_elsewhere(Dwarf_Die *path, int n, Dwarf_Die *cu)
{
	int k = 0;
	while (k < n && !is_function_scope(&path[k]))
		k++;
	Dwarf_Attribute attr;
	Dwarf_Die origin, origin_cu;
	return k < n && dwarf_tag(&path[k]) == DW_TAG_inlined_subroutine &&
	       dwarf_formref_die(dwarf_attr(&path[k], DW_AT_abstract_origin, &attr), &origin) &&
	       dwarf_diecu(&origin, &origin_cu, NULL, NULL) && dwarf_dieoffset(&origin_cu) != dwarf_dieoffset(cu);
}

/* The DIEs whose code holds pc, innermost first, down to the CU, as
 * dwarf_getscopes gives them. For an inlined body whose abstract origin lies
 * in another unit (Go inlines across packages) dwarf_getscopes fails, and
 * leaks what it found: the CU's own tree is walked instead then. Returns the
 * count, 0 or -1 if none. */
static int scopes_at(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out)
{
	Dwarf_Die *path;
	int n = walk_scopes(cu, pc, &path);
	if (n > 0 && origin_elsewhere(path, n, cu)) {
		*out = path;
		return n;
	}
	if (n > 0)
		free(path);
	return dwarf_getscopes(cu, pc, out);
}

/* The scopes around pc innermost first, through every inlined body into the
 * concrete caller, ending with the subprogram (dwarf_getscopes alone jumps from
 * an inlined body straight to the CU). Returns the count, 0 if none. */
static int concrete_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **out)
{
	Dwarf_Die *part;
	int n = scopes_at(cu, pc, &part);
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
			if (len == 1)
				last_alias(&all[0], pc);
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
	f = unit_file_name(cu, f);
	*file = f ? xstrdup(f) : NULL;
	*line = (int)call_line;
}

/* Split a physical frame into its inlined calls, as gdb does: the innermost
 * inlined function first (at the pc's own line), then each caller at the line
 * of the call, the physical function last. Only the first shows the pc. */
/* The kernel's return path from a signal handler: glibc's __restore_rt,
 * "mov $15, %rax; syscall" (rt_sigreturn), recognised by its code as gdb does. */
static bool is_sigtramp(struct session *s, const struct frame *fr)
{
	static const unsigned char rt_sigreturn[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	unsigned char code[sizeof(rt_sigreturn)];
	return target_read_all(s->target, fr->pc, code, sizeof(code)) && !memcmp(code, rt_sigreturn, sizeof(code));
}

static void expand_inlined(struct session *s, const struct frame *fr, size_t phys, struct stack *st, size_t *cap)
{
	struct logical_frame base;
	describe_physical(s, fr, phys, &base);
	if (phys > 0 && is_sigtramp(s, fr)) {
		free(base.function);
		free(base.file);
		base.function = xstrdup("<signal handler called>");
		base.file = NULL;
		base.signal = true;
		base.show_address = false;
		GROW(st->f, *cap, st->n + 1);
		st->f[st->n++] = base;
		return;
	}
	Dwarf_Addr bias = 0;
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), fr->lookup_pc);
	Dwarf_Die *cu = mod ? module_addrdie(mod, fr->lookup_pc, &bias) : NULL;
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
		lf->function = function_name(&scopes[k]);
		if (!lf->function && !lf->inlined && base.function)
			lf->function = xstrdup(base.function);
		lf->func_offset = lf->inlined ? 0 : base.func_offset;
		first = k + 1;
		if (fr->tailcall) {
			/* gdb does not split a tail call frame into its inlined
			 * calls: one frame, named after the innermost function
			 * around the jump, at the jump's line. */
			lf->inlined = false;
			lf->func_offset = base.func_offset;
			break;
		}
	}
	free(base.function);
	free(scopes);
}

/* Tail calls. A function that ends in a jump to another leaves no frame: the
 * unwinder goes from the callee straight to the caller of the function that
 * jumped. gdb puts those functions back ("tail call frames") from the call
 * sites that DWARF records (DW_TAG_call_site): from the caller's call, the
 * chains of tail calls that lead to the callee; the frames every chain shares
 * are shown. glibc's waits go through them: __pthread_cond_wait_common calls
 * __futex_abstimed_wait_cancelable64, which jumps to the waiting function. */

/* The subprogram around pc (module-relative pc in cu), false if none. */
static bool subprogram_at(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *out)
{
	Dwarf_Die *scopes;
	int n = concrete_scopes(cu, pc, &scopes);
	bool found = n > 0 && dwarf_tag(&scopes[n - 1]) == DW_TAG_subprogram;
	if (found)
		*out = scopes[n - 1];
	free(scopes);
	return found;
}

/* Where a function's code starts, as gdb counts it: its entry pc. */
static bool function_entry(Dwarf_Die *fn, Dwarf_Addr *entry)
{
	if (dwarf_entrypc(fn, entry) == 0)
		return true;
	Dwarf_Addr base, end;
	ptrdiff_t off = dwarf_ranges(fn, 0, &base, entry, &end);
	return off > 0;
}

static bool is_call_site(Dwarf_Die *d)
{
	int tag = dwarf_tag(d);
	return tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site;
}

/* The address the call returns to (a tail call: the address after its jump). */
static bool call_site_pc(Dwarf_Die *site, Dwarf_Addr *pc)
{
	Dwarf_Attribute attr;
	if (dwarf_attr(site, DW_AT_call_return_pc, &attr) || dwarf_attr(site, DW_AT_low_pc, &attr))
		return dwarf_formaddr(&attr, pc) == 0;
	return false;
}

static bool is_tail_call(Dwarf_Die *site)
{
	return dwarf_hasattr(site, DW_AT_call_tail_call) || dwarf_hasattr(site, DW_AT_GNU_tail_call);
}

struct call_site_walk {
	Dwarf_Die *found;   /* call sites collected */
	size_t n, cap;
	bool tail_only;     /* only tail calls; else only the one returning to pc */
	Dwarf_Addr pc;
};

/* The call sites of a function, inside its blocks and inlined bodies but not
 * in nested functions. */
static void collect_call_sites(Dwarf_Die *parent, struct call_site_walk *w, int depth)
{
	Dwarf_Die child;
	if (depth > 64 || dwarf_child(parent, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		Dwarf_Addr pc;
		if (is_call_site(&child)) {
			if (w->tail_only ? is_tail_call(&child) : call_site_pc(&child, &pc) && pc == w->pc) {
				GROW(w->found, w->cap, w->n + 1);
				w->found[w->n++] = child;
			}
		} else if (tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine) {
			collect_call_sites(&child, w, depth + 1);
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

/* The function a call site calls (absolute address): its DW_AT_call_origin's
 * code, or for a declaration the symbol of that name. Calls through a pointer
 * are unknown here (gdb needs the caller's registers, which a tail-called
 * frame does not have). */
static bool call_site_target(struct session *s, Dwarf_Die *site, Dwarf_Addr bias, uint64_t *target)
{
	Dwarf_Attribute attr;
	Dwarf_Die origin;
	if (!dwarf_attr(site, DW_AT_call_origin, &attr) && !dwarf_attr(site, DW_AT_abstract_origin, &attr))
		return false;
	if (!dwarf_formref_die(&attr, &origin))
		return false;
	Dwarf_Addr entry;
	if (!dwarf_hasattr(&origin, DW_AT_declaration) && function_entry(&origin, &entry)) {
		*target = entry + bias;
		return true;
	}
	const char *name = dwarf_formstring(dwarf_attr_integrate(&origin, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_diename(&origin);
	return name && symbols_lookup(s->symbols, name, NULL, target, NULL);
}

/* The DWARF function whose code starts at addr: its CU, bias and DIE. */
static bool function_at_entry(struct session *s, uint64_t addr, Dwarf_Die *fn, Dwarf_Addr *bias)
{
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), addr);
	Dwarf_Die *cu = mod ? module_addrdie(mod, addr, bias) : NULL;
	Dwarf_Addr entry;
	return cu && subprogram_at(cu, addr - *bias, fn) && function_entry(fn, &entry) && entry + *bias == addr;
}

enum { TAILCALL_MAX_DEPTH = 16, TAILCALL_MAX_VISITS = 4096 };

struct tailcall_search {
	struct session *s;
	uint64_t callee;            /* entry of the function the unwinder found */
	uint64_t path[TAILCALL_MAX_DEPTH]; /* pcs of the tail calls taken so far */
	size_t depth;
	uint64_t *result;           /* gdb's intersection of every chain found */
	size_t result_len, callers, callees;
	bool found, failed;
	int visits;
};

/* gdb keeps of all the chains the calls they agree on: those at the
 * caller's end (callers) and those at the callee's end (callees). */
static void chain_found(struct tailcall_search *q)
{
	if (!q->found) {
		q->result = xmalloc((q->depth ? q->depth : 1) * sizeof(uint64_t));
		memcpy(q->result, q->path, q->depth * sizeof(uint64_t));
		q->result_len = q->callers = q->callees = q->depth;
		q->found = true;
		return;
	}
	size_t k = 0;
	while (k < q->callers && k < q->depth && q->result[k] == q->path[k])
		k++;
	q->callers = k;
	k = 0;
	while (k < q->callees && k < q->depth && q->result[q->result_len - 1 - k] == q->path[q->depth - 1 - k])
		k++;
	q->callees = k;
	if (q->callers == 0 && q->callees == 0)
		q->failed = true; /* nothing certain: gdb shows no tail call frame */
}

static bool on_path(const struct tailcall_search *q, uint64_t pc)
{
	for (size_t i = 0; i < q->depth; i++)
		if (q->path[i] == pc)
			return true;
	return false;
}

/* From a function entered at target: every chain of its tail calls that
 * reaches the callee. Any call gdb could not follow ends the search with no
 * chain, as gdb's error does. */
static void follow_tail_calls(struct tailcall_search *q, uint64_t target)
{
	if (q->failed)
		return;
	if (target == q->callee) {
		chain_found(q);
		return;
	}
	Dwarf_Die fn;
	Dwarf_Addr bias;
	if (++q->visits > TAILCALL_MAX_VISITS || !function_at_entry(q->s, target, &fn, &bias)) {
		q->failed = true;
		return;
	}
	struct call_site_walk w = { .tail_only = true };
	collect_call_sites(&fn, &w, 0);
	for (size_t i = 0; i < w.n && !q->failed; i++) {
		Dwarf_Addr pc;
		uint64_t next;
		if (!call_site_pc(&w.found[i], &pc) || !call_site_target(q->s, &w.found[i], bias, &next)) {
			q->failed = true;
			break;
		}
		if (on_path(q, pc + bias) || q->depth == TAILCALL_MAX_DEPTH)
			continue;
		q->path[q->depth++] = pc + bias;
		follow_tail_calls(q, next);
		q->depth--;
	}
	free(w.found);
}

/* The pcs of the tail call frames between a frame (in the function that
 * starts at callee) and its caller (returning to caller_pc), innermost first.
 * Returns their count. */
static size_t tail_calls(struct session *s, uint64_t caller_pc, uint64_t callee, uint64_t **pcs)
{
	Dwarf_Addr bias;
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), caller_pc - 1);
	Dwarf_Die *cu = mod ? module_addrdie(mod, caller_pc - 1, &bias) : NULL;
	Dwarf_Die fn;
	if (!cu || !subprogram_at(cu, caller_pc - 1 - bias, &fn))
		return 0;
	struct call_site_walk w = { .pc = caller_pc - bias };
	collect_call_sites(&fn, &w, 0);
	uint64_t target;
	struct tailcall_search q = { .s = s, .callee = callee };
	if (w.n == 1 && call_site_target(s, &w.found[0], bias, &target))
		follow_tail_calls(&q, target);
	free(w.found);
	size_t n = 0;
	if (q.found && !q.failed) {
		/* The chain runs from the caller's side; frames go innermost first. */
		size_t keep = q.callers + q.callees < q.result_len ? q.callers + q.callees : q.result_len;
		*pcs = xmalloc((keep ? keep : 1) * sizeof(uint64_t));
		for (size_t k = q.result_len; k-- > q.result_len - q.callees && n < keep;)
			(*pcs)[n++] = q.result[k];
		for (size_t k = q.callers; k-- > 0 && n < keep;)
			(*pcs)[n++] = q.result[k];
	}
	free(q.result);
	return n;
}

/* The entry of the function around a frame's pc, 0 if unknown. */
static uint64_t frame_function_entry(struct session *s, const struct frame *fr)
{
	Dwarf_Addr bias, entry;
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), fr->lookup_pc);
	Dwarf_Die *cu = mod ? module_addrdie(mod, fr->lookup_pc, &bias) : NULL;
	Dwarf_Die fn;
	if (cu && subprogram_at(cu, fr->lookup_pc - bias, &fn) && function_entry(&fn, &entry))
		return entry + bias;
	struct sym_info si;
	return symbols_addr_info(s->symbols, fr->lookup_pc, &si) && si.name ? si.start : 0;
}

/* The unwound frames with the tail call frames put in. A tail call frame has
 * its pc (after the jump) and no registers: its variables are unknown. */
static void add_tail_call_frames(struct session *s, struct backtrace *bt)
{
	struct frame *all = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < bt->n; i++) {
		GROW(all, cap, n + 1);
		all[n++] = bt->frames[i];
		uint64_t *pcs = NULL, callee;
		size_t k = i + 1 < bt->n && (callee = frame_function_entry(s, &bt->frames[i])) != 0
				   ? tail_calls(s, bt->frames[i + 1].pc, callee, &pcs)
				   : 0;
		for (size_t j = 0; j < k; j++) {
			GROW(all, cap, n + 1);
			all[n++] = (struct frame){ .pc = pcs[j], .lookup_pc = pcs[j] - 1, .tailcall = true };
		}
		free(pcs);
	}
	free(bt->frames);
	bt->frames = all;
	bt->n = n;
}

/* Whether a physical frame is in the program's main (gdb: inside_main_func). */
static bool in_main(struct session *s, const struct frame *fr)
{
	uint64_t main_addr;
	struct sym_info si;
	return symbols_main(s->symbols, &main_addr) && symbols_addr_info(s->symbols, fr->lookup_pc, &si) && si.name &&
	       si.start == main_addr;
}

int stack_build(struct session *s, const struct thread *th, struct stack *st)
{
	struct backtrace bt;
	if (symbols_unwind(s->symbols, th, 0, &bt) < 0) {
		memset(st, 0, sizeof(*st));
		return -1;
	}
	stack_build_from(s, &bt, st);
	return 0;
}

void stack_build_from(struct session *s, struct backtrace *bt, struct stack *st)
{
	memset(st, 0, sizeof(*st));
	st->bt = *bt;
	memset(bt, 0, sizeof(*bt));
	add_tail_call_frames(s, &st->bt);
	size_t cap = 0;
	for (size_t i = 0; i < st->bt.n; i++) {
		expand_inlined(s, &st->bt.frames[i], i, st, &cap);
		if (!s->backtrace_past_main && i + 1 < st->bt.n && in_main(s, &st->bt.frames[i])) {
			/* gdb's default (set backtrace past-main off): main is the
			 * outermost frame; the C runtime that called it is not shown. */
			st->bt.n = i + 1;
			free(st->bt.stop_reason); /* whatever stopped the unwinder past main */
			st->bt.stop_reason = NULL;
			break;
		}
	}
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

/* In code, gdb labels an address after the DWARF function around it (its
 * linkage name: "__GI___pthread_disable_asynccancel"), unless a symbol starts
 * nearer. */
static char *code_label(struct symbols *s, uint64_t addr, const struct sym_info *si)
{
	Dwarf_Addr bias, entry;
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s), addr);
	Dwarf_Die *cu = mod ? module_addrdie(mod, addr, &bias) : NULL;
	Dwarf_Die *scopes = NULL, fn;
	int n = cu ? concrete_scopes(cu, addr - bias, &scopes) : 0;
	bool found = n > 0 && dwarf_tag(&scopes[n - 1]) == DW_TAG_subprogram;
	if (found)
		fn = scopes[n - 1];
	free(scopes);
	if (!found || !function_entry(&fn, &entry) || (si->name && si->start > entry + bias))
		return NULL;
	Dwarf_Attribute attr;
	const char *name = dwarf_formstring(dwarf_attr_integrate(&fn, DW_AT_linkage_name, &attr));
	if (!name) {
		Dwarf_Die named = naming_die(&fn);
		name = dwarf_diename(&named);
	}
	if (!name)
		return NULL;
	uint64_t off = addr - (entry + bias);
	return off ? xasprintf("%s+%" PRIu64, name, off) : xstrdup(name);
}

static char *symbol_offset(struct symbols *s, uint64_t addr, bool demangled)
{
	struct sym_info si;
	if (!symbols_addr_info(s, addr, &si) || !si.name || si.sizeless_data)
		return NULL;
	char *name = demangled ? symbol_for_people(si.name) : trim_symbol(xstrdup(si.name));
	if (!si.offset)
		return name;
	char *with = xasprintf("%s+%" PRIu64, name, si.offset);
	free(name);
	return with;
}

char *symbol_offset_for_people(struct symbols *s, uint64_t addr)
{
	return symbol_offset(s, addr, true);
}

char *symbol_offset_as_linkage(struct symbols *s, uint64_t addr)
{
	struct sym_info si;
	bool known = symbols_addr_info(s, addr, &si);
	const char *section = known ? symbols_section(s, addr) : NULL;
	char *label = section && !strcmp(section, ".text") ? code_label(s, addr, &si) : NULL;
	return label ? label : symbol_offset(s, addr, false);
}
