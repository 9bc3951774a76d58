/* The roots: every word of the target's registers, stacks, TLS, globals and
 * other anonymous memory that points into a used block, in groups with
 * names ("registers of thread 2", "global g_cache (values)"). Each marks its
 * block; with the graph, each is kept as a root edge. */
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "analysis/plugin.h"
#include "base/util.h"
#include "session.h"
#include "symbols/frames.h"

#define RED_ZONE 128         /* bytes below sp a leaf function may still use */

static const char *const kind_names[] = { "registers", "stack", "tls", "globals", "anon" };

const char *root_kind_name(enum root_kind k)
{
	return kind_names[k];
}

static void cover(struct scanner *sc, uint64_t start, uint64_t end)
{
	GROW(sc->covered, sc->covered_cap, sc->ncovered + 1);
	sc->covered[sc->ncovered++] = (struct heap_range){ start, end };
}

/* The word at where (of group) holds value, which points into a block (a
 * batched answer: the block, EDGE_INTERIOR for an interior pointer): it is
 * marked, and kept when the graph is built (why, top and the others name
 * roots); leaks only counts it, which on a process with much pointer-rich
 * anonymous memory spares tens of bytes and a cache miss a word. */
static void add_root(struct scanner *sc, uint64_t where, uint32_t group, uint32_t found, uint64_t value)
{
	struct reach *r = sc->r;
	uint32_t block = edge_block(found), interior = (found & sc->interior_mask) >> 31;
	uint8_t m = sc->mark[block];
	if (interior && !(m & MARK_START) && sc->heur.on)
		note_interior(sc, value);
	sc->frontier += mark_with(sc->mark, block, m, interior, MARK_START);
	if (r->graph) {
		GROW(r->roots, sc->root_cap, r->nroots + 1);
		r->roots[r->nroots] = (struct root_edge){ where, group, block,
							  (uint32_t)(value - r->heap->blocks[block].addr) };
	}
	r->nroots++;
}

static uint32_t add_group(struct scanner *sc, enum root_kind kind, int thread, uint64_t start, uint64_t end,
			  char *label)
{
	struct reach *r = sc->r;
	GROW(r->groups, sc->group_cap, r->ngroups + 1);
	r->groups[r->ngroups] = (struct root_group){ kind, thread, start, end, label };
	return (uint32_t)r->ngroups++;
}

/* Every word of [start, end) that points into a used block is a root of
 * group; the words are looked up a batch at a time, as the heap's are. */
static void scan_words(struct session *s, struct scanner *sc, uint32_t group, uint64_t start, uint64_t end)
{
	uint8_t *buf = sc->buf;
	size_t step = sc->r->opts.unaligned ? 1 : 8;
	start &= ~7ull;
	for (uint64_t a = start; a < end && !session_interrupted(); a += piece_step(sc)) {
		size_t want = end - a < SCAN_CHUNK ? (size_t)(end - a) : SCAN_CHUNK;
		size_t got = target_read(s->target, a, buf, want);
		sc->r->scanned_bytes += got;
		for (size_t i = 0; i + 8 <= got;) {
			uint64_t v[BLOCK_INDEX_BATCH];
			uint32_t found[BLOCK_INDEX_BATCH];
			size_t first = i, k = gather_words(buf, got, step, &i, v);
			block_index_find_batch(&sc->index, v, k, found);
			for (size_t j = 0; j < k; j++)
				if (found[j] != BLOCK_NONE)
					add_root(sc, a + first + j * step, group, found[j], v[j]);
		}
		/* The end, or memory that cannot be read: past a hole in a mapping
		 * (a core's missing bytes, a file mapping's end) nothing is, and a
		 * damaged core's absurd segment would otherwise be read for ever. */
		if (got < SCAN_CHUNK)
			break;
	}
}

/* scan_words over [start, end) except the holes (sorted by start). */
static void scan_except(struct session *s, struct scanner *sc, uint32_t g, uint64_t start, uint64_t end,
			const struct heap_range *holes, size_t nholes)
{
	uint64_t pos = start;
	for (size_t i = 0; i < nholes && pos < end; i++) {
		if (holes[i].end <= pos || holes[i].start >= end)
			continue;
		if (holes[i].start > pos)
			scan_words(s, sc, g, pos, holes[i].start);
		if (holes[i].end > pos)
			pos = holes[i].end;
	}
	if (pos < end)
		scan_words(s, sc, g, pos, end);
}

/* Root memory, except the allocator's own state. */
static void scan_region(struct session *s, struct scanner *sc, uint32_t group, uint64_t start, uint64_t end)
{
	scan_except(s, sc, group, start, end, sc->r->heap->metadata, sc->r->heap->nmetadata);
}

/* A thread inside exit_group never runs its code again. Come there through
 * exit() (the usual way, and where `strand run` inspects a program), the
 * stack below exit's frame is dead: the atexit handlers and destructors
 * that ran, and what main called just before, left their locals there, and
 * the registers hold what the last of them left. As LeakSanitizer does at
 * exit, only the stack above the stack pointer at exit's entry counts, and
 * the registers are those of exit's caller as the unwinder recovers them:
 * the callee-saved ones (the others do not survive a call). exit's frame is
 * the outermost of libc's exit functions: a handler that calls exit again,
 * or a program that calls _exit itself, is covered too, and exit and _exit
 * are named in every libc's dynamic symbols. */
static const char *const exit_functions[] = { "exit", "quick_exit", "__run_exit_handlers", "_exit", "_Exit" };

static bool is_exit_function(const char *name)
{
	size_t len = strcspn(name, "@"); /* exit@@GLIBC_2.2.5 */
	for (size_t i = 0; i < ARRAY_SIZE(exit_functions); i++)
		if (strlen(exit_functions[i]) == len && !strncmp(name, exit_functions[i], len))
			return true;
	return false;
}

#define EXIT_FRAMES 256 /* deeper than any exit path: handlers are called from exit */

/* The frame that called exit, for a thread inside exit_group; false when
 * the thread is elsewhere or no exit function is on its stack. */
static bool find_exit_caller(struct session *s, const struct thread *th, struct frame *caller)
{
	if (th->regs_state != REGS_FULL || (int64_t)th->regs.orig_rax != SYS_exit_group)
		return false;
	struct backtrace bt;
	if (symbols_unwind(s->symbols, th, EXIT_FRAMES, &bt) < 0)
		return false;
	size_t exit_frame = bt.n;
	for (size_t i = 0; i + 1 < bt.n; i++) {
		struct sym_info si;
		if (symbols_addr_info(s->symbols, bt.frames[i].lookup_pc, &si) && si.name && is_exit_function(si.name))
			exit_frame = i;
	}
	bool found = exit_frame < bt.n && (bt.frames[exit_frame + 1].regs_valid & 1u << 7); /* its sp */
	if (found)
		*caller = bt.frames[exit_frame + 1];
	backtrace_free(&bt);
	return found;
}

static void find_exiting_threads(struct session *s, struct scanner *sc)
{
	size_t n = s->target->nthreads;
	sc->exiting = xcalloc(n + 1, sizeof(*sc->exiting));
	sc->exit_caller = xcalloc(n + 1, sizeof(*sc->exit_caller));
	for (size_t t = 0; t < n; t++)
		sc->exiting[t] = find_exit_caller(s, &s->target->threads[t], &sc->exit_caller[t]);
}

/* The registers a call preserves, as the unwinder found them in frame f;
 * the others 0. (DWARF numbers: rbx 3, rbp 6, r12-r15 12-15.) */
static struct user_regs_struct callee_saved(const struct frame *f)
{
	static const struct {
		unsigned dwarf;
		size_t at;
	} saved[] = { { 3, offsetof(struct user_regs_struct, rbx) }, { 6, offsetof(struct user_regs_struct, rbp) },
		      { 12, offsetof(struct user_regs_struct, r12) }, { 13, offsetof(struct user_regs_struct, r13) },
		      { 14, offsetof(struct user_regs_struct, r14) }, { 15, offsetof(struct user_regs_struct, r15) } };
	struct user_regs_struct regs;
	memset(&regs, 0, sizeof(regs));
	for (size_t i = 0; i < ARRAY_SIZE(saved); i++)
		if (f->regs_valid & 1u << saved[i].dwarf)
			memcpy((uint8_t *)&regs + saved[i].at, &f->regs[saved[i].dwarf], 8);
	return regs;
}

static void root_register(struct scanner *sc, uint32_t group, uint64_t index, uint64_t value)
{
	uint32_t off, b = block_index_find(&sc->index, value, &off);
	if (b != BLOCK_NONE)
		add_root(sc, index, group, b | (off ? EDGE_INTERIOR : 0), value);
}

/* Each thread's general registers (rax ... r15, rip), xmm0-15 from the FP
 * state and the upper halves of ymm0-15 from xstate, 8 bytes at a time, at
 * the fixed indices reach.h names; of a thread in exit, those exit's caller
 * had that survive the call (see find_exit_caller). */
static void root_registers(struct session *s, struct scanner *sc)
{
	for (size_t t = 0; t < s->target->nthreads; t++) {
		const struct thread *th = &s->target->threads[t];
		if (th->regs_state != REGS_FULL)
			continue;
		uint32_t g = add_group(sc, ROOT_REGISTERS, (int)t, 0, 0,
				       xasprintf("registers of thread %zu (LWP %d)", t + 1, (int)th->tid));
		struct user_regs_struct regs = sc->exiting[t] ? callee_saved(&sc->exit_caller[t]) : th->regs;
		for (size_t i = 0; i < ROOT_REG_XMM; i++) {
			uint64_t v;
			if (regs_get(&regs, regs_name(i), &v))
				root_register(sc, g, i, v);
		}
		if (sc->exiting[t])
			continue;
		for (size_t i = 0; th->have_fpregs && i < 32; i++) {
			uint64_t v;
			memcpy(&v, (const uint8_t *)th->fpregs.xmm_space + 8 * i, 8);
			root_register(sc, g, ROOT_REG_XMM + i, v);
		}
		for (size_t i = 0; th->xstate && th->xstate_size >= 576 + 256 && i < 32; i++) {
			uint64_t v;
			memcpy(&v, th->xstate + 576 + 8 * i, 8);
			root_register(sc, g, ROOT_REG_YMM_HI + i, v);
		}
	}
}

/* Static TLS sits just below the thread pointer (x86_64: variant II). */
static uint64_t tls_low(const struct scanner *sc, const struct thread *th)
{
	return th->thread_pointer ? th->thread_pointer - sc->static_tls : 0;
}

static void root_stacks(struct session *s, struct scanner *sc)
{
	for (size_t t = 0; t < s->target->nthreads; t++) {
		const struct thread *th = &s->target->threads[t];
		uint64_t sp = regs_sp(th);
		const struct mapping *m = sp ? target_mapping(s->target, sp) : NULL;
		if (!m)
			continue;
		/* Never below the red zone: dead frames keep stale pointers. Of a
		 * thread in exit, from the stack pointer at exit's entry (where its
		 * return address lies) up. */
		uint64_t low = sc->exiting[t] ? sc->exit_caller[t].regs[7] - 8 : sp - RED_ZONE;
		uint64_t start = low > m->start ? low : m->start, end = m->end;
		uint64_t tls = tls_low(sc, th);
		if (tls > sp && tls < end)
			end = tls; /* the thread's TLS and TCB sit at the top of its stack */
		uint32_t g = add_group(sc, ROOT_STACK, (int)t, start, end,
				       xasprintf("stack of thread %zu (LWP %d)", t + 1, (int)th->tid));
		scan_region(s, sc, g, start, end);
	}
}

/* The thread's DTV, the table of its dlopen'd modules' TLS blocks, as the
 * runtime plugin locates it. A DTV on the heap (every thread's but the
 * first, and one grown by dlopen) is a block the thread's descriptor points
 * a slot into (glibc: dtv + 1), which valgrind takes for an interior pointer
 * and calls possibly lost; the runtime knows better: a start pointer, held
 * by the thread's TLS (the descriptor's address stands for where). */
static void root_dtv(struct session *s, struct scanner *sc, uint32_t group, uint64_t thread_pointer, bool scan)
{
	const struct strand_runtime *rt = sc->runtime;
	uint64_t start, end;
	if (!rt || !rt->dtv_range || !rt->dtv_range(plugin_host(s), thread_pointer, &start, &end))
		return;
	const struct heap_block *b = heap_find(sc->r->heap, start);
	if (b) {
		if (scan && b->addr == start && b->state == STRAND_USED)
			add_root(sc, thread_pointer, group, (uint32_t)(b - sc->r->heap->blocks), start);
		return;
	}
	cover(sc, start, end);
	if (scan)
		scan_region(s, sc, group, start, end);
}

#define THREAD_STACK_MIN 16384 /* PTHREAD_STACK_MIN */

/* A thread stack no live thread uses (an exited thread's, or one the
 * runtime keeps for the next thread) still has the descriptor at its top,
 * the static TLS below it (x86_64's TLS variant II, as root_stacks
 * assumes), and the descriptor's DTV on the heap, which a live thread's
 * root_dtv would have found: offered to the runtime at each place the
 * descriptor can start, its size below the top and aligned to 64 bytes to
 * a page. Only a used block the runtime names, holding the whole table,
 * counts. */
static void root_dtv_at_stack_top(struct session *s, struct scanner *sc, uint32_t group, const struct mapping *m)
{
	const struct strand_runtime *rt = sc->runtime;
	if (!rt || !rt->dtv_range || m->end - m->start < THREAD_STACK_MIN)
		return;
	for (uint64_t align = 64, last = 0; align <= 4096; align *= 2) {
		uint64_t tp = (m->end - sc->tcb_size) & ~(align - 1), start, end;
		if (tp == last || !rt->dtv_range(plugin_host(s), tp, &start, &end))
			continue;
		last = tp;
		const struct heap_block *b = heap_find(sc->r->heap, start);
		if (b && b->addr == start && b->state == STRAND_USED && end <= b->addr + heap_usable(b))
			add_root(sc, tp, group, (uint32_t)(b - sc->r->heap->blocks), start);
	}
}

static void root_tls(struct session *s, struct scanner *sc, bool scan)
{
	for (size_t t = 0; t < s->target->nthreads; t++) {
		const struct thread *th = &s->target->threads[t];
		uint64_t low = tls_low(sc, th);
		if (!low)
			continue;
		uint64_t high = th->thread_pointer + sc->tcb_size;
		const struct mapping *m = target_mapping(s->target, th->thread_pointer);
		if (m && low < m->start)
			low = m->start;
		if (m && high > m->end)
			high = m->end;
		cover(sc, low, high);
		uint32_t g = scan ? add_group(sc, ROOT_TLS, (int)t, low, high,
					      xasprintf("TLS of thread %zu (LWP %d)", t + 1, (int)th->tid))
				  : 0;
		if (scan)
			scan_region(s, sc, g, low, high);
		root_dtv(s, sc, g, th->thread_pointer, scan);
	}
}

struct globals_walk {
	struct session *s;
	struct scanner *sc;
	bool scan;
	const char *module; /* the module being walked */
};

/* Each module's writable memory: .data, and .bss (the anonymous mapping that
 * continues it, still inside the module's address range). */
static void module_writable(void *arg, uint64_t start, uint64_t end)
{
	struct globals_walk *gw = arg;
	cover(gw->sc, start, end);
	if (!gw->scan)
		return;
	const char *base = strrchr(gw->module, '/') ? strrchr(gw->module, '/') + 1 : gw->module;
	uint32_t g = add_group(gw->sc, ROOT_GLOBALS, -1, start, end, xasprintf("globals of %s", base));
	scan_region(gw->s, gw->sc, g, start, end);
}

static bool module_globals(const struct module_info *mi, void *arg)
{
	struct globals_walk *gw = arg;
	gw->module = mi->name;
	maps_each_writable(&gw->s->target->maps, mi->low, mi->high, module_writable, gw);
	return true;
}

static bool is_covered(const struct scanner *sc, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < sc->ncovered; i++)
		if (sc->covered[i].start < end && start < sc->covered[i].end)
			return true;
	return false;
}

static bool mapped_executable(const struct maps *maps, const struct mapping *m)
{
	for (size_t i = 0; i < maps->n; i++)
		if ((maps->v[i].perms & MAP_X) && maps->v[i].inode == m->inode && mapping_is_file(&maps->v[i]) &&
		    !strcmp(maps->v[i].path, m->path))
			return true;
	return false;
}

/* The writable mappings of a file that is also mapped executable, which no
 * module claims: an object's .data whose ELF image neither the core (written
 * without ELF header pages) nor this machine (the file gone) has. Its words
 * are globals all the same; unscanned, every block they hold would be lost. */
static void root_unclaimed_globals(struct session *s, struct scanner *sc)
{
	const struct maps *maps = &s->target->maps;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mapping *m = &maps->v[i];
		if ((m->perms & (MAP_R | MAP_W)) != (MAP_R | MAP_W) || !mapping_is_file(m) ||
		    is_covered(sc, m->start, m->end) || !mapped_executable(maps, m))
			continue;
		cover(sc, m->start, m->end);
		const char *base = strrchr(m->path, '/') + 1;
		uint32_t g = add_group(sc, ROOT_GLOBALS, -1, m->start, m->end,
				       xasprintf("globals of %s (its ELF image is not here)", base));
		scan_region(s, sc, g, m->start, m->end);
	}
}

static bool holds_stack(const struct target *t, const struct mapping *m)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		uint64_t sp = regs_sp(&t->threads[i]);
		if (sp >= m->start && sp < m->end)
			return true;
	}
	return false;
}

/* Other writable anonymous memory, as valgrind scans it: not the heap, not a
 * stack (its dead part must stay unscanned), not TLS or globals. */
static void root_anon(struct session *s, struct scanner *sc)
{
	const struct heap *h = sc->r->heap;
	const struct maps *maps = &s->target->maps;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mapping *m = &maps->v[i];
		if ((m->perms & (MAP_R | MAP_W)) != (MAP_R | MAP_W) || mapping_is_file(m) ||
		    (m->path && strcmp(m->path, "[heap]") && m->path[0] == '[') || holds_stack(s->target, m))
			continue;
		struct heap_range *holes = NULL;
		size_t nholes = 0, cap = 0;
		bool arena_memory = false;
		/* The blocks starting in the mapping (found by a search: walking from
		 * the first block went through the whole heap for every mapping). */
		for (size_t k = heap_first_after(h, m->start - 1); k < h->n && h->blocks[k].addr < m->end; k++) {
			const struct heap_block *b = &h->blocks[k];
			if (!(b->flags & HEAP_MMAPPED)) {
				arena_memory = true;
				break;
			}
			GROW(holes, cap, nholes + 1);
			holes[nholes++] = (struct heap_range){ b->addr - 16, b->addr + heap_usable(b) };
		}
		if (!arena_memory) { /* nor what other roots cover, nor the allocator's state */
			GROW(holes, cap, nholes + sc->ncovered + h->nmetadata); /* NULL while empty: no memcpy, no qsort */
			if (sc->ncovered)
				memcpy(holes + nholes, sc->covered, sc->ncovered * sizeof(*holes));
			nholes += sc->ncovered;
			if (h->nmetadata)
				memcpy(holes + nholes, h->metadata, h->nmetadata * sizeof(*holes));
			nholes += h->nmetadata;
			if (nholes)
				qsort(holes, nholes, sizeof(*holes), heap_range_by_start);
			uint32_t g = add_group(sc, ROOT_ANON, -1, m->start, m->end,
					       xasprintf("anonymous mapping 0x%llx-0x%llx", (unsigned long long)m->start,
							 (unsigned long long)m->end));
			scan_except(s, sc, g, m->start, m->end, holes, nholes);
			root_dtv_at_stack_top(s, sc, g, m);
		}
		free(holes);
	}
}

static int by_group(const void *x, const void *y)
{
	const struct root_edge *a = x, *b = y;
	if (a->group != b->group)
		return (a->group > b->group) - (a->group < b->group);
	return (a->where > b->where) - (a->where < b->where);
}

/* The roots by group, and by address within a group. They come grouped and
 * in order but for the globals split off their module's group: a counting
 * sort on the group, then a sort of any group out of address order (a qsort
 * of all of them took seconds with tens of millions of anonymous roots). */
static void sort_roots(struct reach *r)
{
	size_t *at = xcalloc(r->ngroups + 1, sizeof(*at));
	for (size_t i = 0; i < r->nroots; i++)
		at[r->roots[i].group + 1]++;
	for (size_t g = 0; g < r->ngroups; g++)
		at[g + 1] += at[g];
	struct root_edge *sorted = xmalloc_big(r->nroots, sizeof(*sorted));
	for (size_t i = 0; i < r->nroots; i++)
		sorted[at[r->roots[i].group]++] = r->roots[i];
	free(r->roots);
	r->roots = sorted;
	for (size_t g = 0, first = 0; g < r->ngroups; first = at[g++]) {
		size_t k = first + 1;
		while (k < at[g] && sorted[k - 1].where <= sorted[k].where)
			k++;
		if (k < at[g])
			qsort(sorted + first, at[g] - first, sizeof(*sorted), by_group);
	}
	free(at);
}

/* Globals are named by symbol, not by module: "global g_cache (values)".
 * Each symbol holding a root word becomes its own group. */

void split_globals_by_symbol(struct session *s, struct scanner *sc)
{
	struct reach *r = sc->r;
	size_t before = r->ngroups;
	for (size_t i = 0; i < r->nroots; i++) {
		struct root_edge *e = &r->roots[i];
		if (e->group >= before || r->groups[e->group].kind != ROOT_GLOBALS)
			continue;
		struct sym_info si;
		if (!symbols_addr_info(s->symbols, e->where, &si) || !si.name)
			continue;
		uint64_t start = si.start, end = si.start + (si.size ? si.size : 8);
		uint32_t g = UNDEF;
		for (size_t k = before; k < r->ngroups && g == UNDEF; k++)
			if (r->groups[k].start == start && r->groups[k].kind == ROOT_GLOBALS)
				g = (uint32_t)k;
		if (g == UNDEF) {
			const char *mod = si.module && strrchr(si.module, '/') ? strrchr(si.module, '/') + 1 : si.module;
			char *name = symbol_for_people(si.name);
			g = add_group(sc, ROOT_GLOBALS, -1, start, end, xasprintf("global %s (%s)", name, mod ? mod : "?"));
			free(name);
		}
		e->group = g;
	}
	sort_roots(r);
}


/* Every root of the target the options ask for. TLS and globals are never
 * scanned again as anonymous memory, even when their own kind is switched
 * off (stack mappings never are). */
void reach_roots(struct session *s, struct scanner *sc)
{
	const struct reach_opts *opts = &sc->r->opts;
	sc->buf = xmalloc(SCAN_CHUNK);
	find_exiting_threads(s, sc);
	if (!opts->skip[ROOT_REGISTERS])
		root_registers(s, sc);
	if (!opts->skip[ROOT_STACK])
		root_stacks(s, sc);
	root_tls(s, sc, !opts->skip[ROOT_TLS]);
	struct globals_walk gw = { s, sc, !opts->skip[ROOT_GLOBALS], NULL };
	symbols_modules(s->symbols, module_globals, &gw);
	if (gw.scan)
		root_unclaimed_globals(s, sc);
	if (!opts->skip[ROOT_ANON])
		root_anon(s, sc);
	free(sc->covered);
	free(sc->buf);
	free(sc->exiting);
	free(sc->exit_caller);
}
