#include "reach.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "block_index.h"
#include "frames.h"
#include "plugin.h"
#include "progress.h"
#include "session.h"
#include "symbols.h"
#include "util.h"

#define UNDEF UINT32_MAX
#define RED_ZONE 128         /* bytes below sp a leaf function may still use */
#define TCB_GUESS 4096       /* the thread descriptor's size when no runtime plugin knows it */
#define SCAN_CHUNK (1u << 20)

static const char *const class_names[] = { "definitely lost", "indirectly lost", "possibly lost", "still reachable",
					    "none" };
static const char *const kind_names[] = { "registers", "stack", "tls", "globals", "anon" };

const char *leak_class_name(enum leak_class c)
{
	return class_names[c];
}

const char *root_kind_name(enum root_kind k)
{
	return kind_names[k];
}

/* ---- valgrind's heuristics for interior pointers ---- */

static const char *const heuristic_names[HEURISTICS] = { "stdstring", "length64", "newarray",
							 "multipleinheritance" };

const char *reach_heuristic_name(enum reach_heuristic h)
{
	return heuristic_names[h];
}

#define ALL_HEURISTICS ((1u << HEURISTICS) - 1)
#define VTABLE_CACHE 256 /* verdicts kept, direct-mapped */
#define VTABLE_WORDS 21  /* valgrind looks this far for two function pointers */

/* The heuristics while marking: which are on, the interior pointers waiting
 * for them, and the blocks they made reachable. A heuristic is tried only
 * for a pointer from a root or from a block reached by start pointers, into
 * a block not (yet) so reached: rare, and cheaper in address order, so such
 * pointers wait (their values while scanning roots and sweeping, their edge
 * numbers while marking over the graph) until nothing else is left to mark. */
struct heuristics {
	unsigned on;               /* bit per enum reach_heuristic */
	uint64_t *pending;         /* pointer values */
	size_t npending, pending_cap;
	uint32_t *pending_edges;   /* edge numbers */
	size_t npending_edges, pending_edges_cap;
	struct accepted {
		uint32_t block, heuristic;
	} *accepted;
	size_t naccepted, accepted_cap;
	struct {
		uint64_t addr; /* 0: empty */
		bool vtable;
	} vtables[VTABLE_CACHE];
};

static unsigned heuristics_on(const struct reach_opts *opts)
{
	return opts->interior_reachable ? 0 : ~opts->heuristics_off & ALL_HEURISTICS;
}

static void heuristics_free(struct heuristics *hc)
{
	free(hc->pending);
	free(hc->pending_edges);
	free(hc->accepted);
}

/* The requests block b may have served. valgrind's size tests compare with
 * the size asked for, which strand does not know, only the usable size:
 * allocators round a request up by less than 16 bytes (glibc's chunks), a
 * mapped block's by less than a page and a header. And a pointer off bytes
 * in points inside the request (valgrind's block ends where it does).
 * False when no request fits. */
static bool request_range(const struct heap_block *b, uint32_t off, uint64_t *lo, uint64_t *hi)
{
	uint64_t usable = heap_usable(b), rounding = b->flags & HEAP_MMAPPED ? 4096 + 16 : 16;
	*hi = usable;
	*lo = usable >= rounding ? usable - rounding + 1 : 0;
	if (*lo <= off)
		*lo = (uint64_t)off + 1;
	return *lo <= *hi;
}

/* valgrind's test for a vtable's address: it lies in a readable mapping of
 * a file, where the next 21 words (as many as the mapping holds) show two
 * function pointers (into an executable mapping of a file) before any
 * other word but 0. A program has few vtables, each met again and again:
 * the verdicts are kept. */
static bool vtable_like(struct session *s, struct heuristics *hc, uint64_t addr)
{
	size_t slot = (size_t)((addr >> 3) * 0x9e3779b97f4a7c15ull >> 56) % VTABLE_CACHE;
	if (hc->vtables[slot].addr == addr)
		return hc->vtables[slot].vtable;
	bool vtable = false;
	const struct mapping *m = target_mapping(s->target, addr);
	if (m && mapping_is_file(m) && (m->perms & MAP_R)) {
		uint64_t w[VTABLE_WORDS];
		size_t n = (m->end - addr) / 8 < VTABLE_WORDS ? (size_t)((m->end - addr) / 8) : VTABLE_WORDS;
		n = target_read(s->target, addr, w, n * 8) / 8;
		for (size_t i = 0, functions = 0; i < n && !vtable; i++) {
			if (!w[i])
				continue;
			const struct mapping *f = target_mapping(s->target, w[i]);
			if (!f || !mapping_is_file(f) || !(f->perms & MAP_X))
				break;
			vtable = ++functions == 2;
		}
	}
	hc->vtables[slot].addr = addr;
	hc->vtables[slot].vtable = vtable;
	return vtable;
}

static bool aligned_above_page_zero(uint64_t v)
{
	return !(v & 7) && v >= 4096;
}

/* The first heuristic, in valgrind's order, that makes a pointer off bytes
 * into block b a start pointer (memcheck's heuristic_reachedness in
 * valgrind 3.19, with sizes as request_range allows them); -1 if none. */
static int heuristic_accepts(struct session *s, struct heuristics *hc, const struct heap_block *b, uint32_t off)
{
	uint64_t lo, hi, w[2], inner;
	if (!hc->on || !off || !request_range(b, off, &lo, &hi) || !target_read_all(s->target, b->addr, w, sizeof(w)))
		return -1;
	/* {length, capacity, refcount}, then capacity bytes and a NUL */
	if ((hc->on & 1u << HEURISTIC_STDSTRING) && off == 24 && w[1] <= hi && w[1] + 25 >= lo && w[1] + 25 <= hi &&
	    w[0] <= w[1])
		return HEURISTIC_STDSTRING;
	/* the length of the rest, then the rest (sqlite's blocks) */
	if ((hc->on & 1u << HEURISTIC_LENGTH64) && off == 8 && w[0] && w[0] <= hi - 8 && w[0] + 8 >= lo)
		return HEURISTIC_LENGTH64;
	/* new[]'s count of elements, then the elements: a multiple of it */
	if ((hc->on & 1u << HEURISTIC_NEWARRAY) && off == 8 && w[0] && w[0] <= hi - 8 &&
	    (lo - 8 + w[0] - 1) / w[0] * w[0] <= hi - 8)
		return HEURISTIC_NEWARRAY;
	/* a base class's part of an object: it and the object start with vtable pointers */
	if ((hc->on & 1u << HEURISTIC_MULTIPLE_INHERITANCE) && !(off & 7) && aligned_above_page_zero(w[0]) &&
	    target_read_u64(s->target, b->addr + off, &inner) && aligned_above_page_zero(inner) &&
	    vtable_like(s, hc, inner) && vtable_like(s, hc, w[0]))
		return HEURISTIC_MULTIPLE_INHERITANCE;
	return -1;
}

int reach_heuristic(struct session *s, const struct reach *r, uint32_t b, uint32_t offset)
{
	struct heuristics *hc = xcalloc(1, sizeof(*hc));
	hc->on = heuristics_on(&r->opts);
	int h = heuristic_accepts(s, hc, &r->heap->blocks[b], offset);
	free(hc);
	return h;
}

/* ---- pointers into blocks ---- */

struct scanner {
	struct reach *r;
	struct block_index index;
	uint32_t interior_mask; /* EDGE_INTERIOR; 0 with --interior=reachable */
	struct heuristics heur;
	/* Per thread: when it is inside exit_group, its caller of exit's frame
	 * (see exit_caller); exiting[t] false otherwise. */
	bool *exiting;
	struct frame *exit_caller;
	size_t root_cap, group_cap;
	uint64_t static_tls; /* bytes of static TLS below each thread pointer */
	uint64_t tcb_size;   /* bytes of thread descriptor above it */
	const struct strand_runtime *runtime; /* the thread-runtime plugin, NULL if none */
	struct heap_range *covered; /* stacks, TLS and globals: never anonymous roots */
	uint8_t *buf;               /* SCAN_CHUNK bytes of root memory (one for all: a core may list thousands of stacks) */
	size_t ncovered, covered_cap;
	/* While sweeping (see sweep_phase): the marks (r->cls), the phase's bit,
	 * how many blocks are marked with it and not yet scanned, and how many
	 * got it in all. When not sweeping, pointers are stored as edges. */
	bool sweeping;
	uint8_t *mark, bit;
	size_t frontier, newly_marked, used;
	/* Building the graph: words waiting for their look-up, with their
	 * block and its row (see queue_word), and the row being scanned. */
	uint64_t queued[BLOCK_INDEX_BATCH];
	uint32_t queued_src[BLOCK_INDEX_BATCH], queued_row[BLOCK_INDEX_BATCH];
	size_t nqueued;
	uint32_t row;
};

/* Marks in cls while classes are worked out: START for blocks reached through
 * start pointers alone, ANY for blocks reached at all, INTERIOR for the
 * targets of interior pointers, which the second phase starts from; SCANNED
 * for blocks whose pointers a sweep has followed already (they have no
 * edges in the graph); DIRECT for blocks a pointer to their first byte
 * marked START (not a heuristic: see heuristic_reachable). */
enum { MARK_START = 1, MARK_ANY = 2, MARK_INTERIOR = 4, MARK_SCANNED = 8, MARK_DIRECT = 16 };

static void cover(struct scanner *sc, uint64_t start, uint64_t end)
{
	GROW(sc->covered, sc->covered_cap, sc->ncovered + 1);
	sc->covered[sc->ncovered++] = (struct heap_range){ start, end };
}

/* The marking rule, for a pointer from a root or a block whose mark was m:
 * in the start phase (bit START) a start pointer marks its block START, ANY
 * and DIRECT, an interior one (interior is 1) marks it INTERIOR, which the
 * second phase starts from; there (bit ANY) every pointer marks ANY.
 * Returns 1 when the block got bit now, hence is to be scanned. Without a
 * branch on the pointer's kind: kinds come in no predictable order. */
static inline uint32_t mark_with(uint8_t *mark, uint32_t block, uint8_t m, uint32_t interior, uint8_t bit)
{
	uint8_t start_marks = (uint8_t)(bit | MARK_ANY | (bit & MARK_START) << 4);
	_Static_assert(MARK_START << 4 == MARK_DIRECT, "a start pointer in the start phase marks DIRECT");
	mark[block] = m | (uint8_t)(interior * MARK_INTERIOR + (1 - interior) * start_marks);
	return !interior & !(m & bit);
}

/* A pointer that a heuristic may turn into a start pointer waits for it
 * (see struct heuristics) when it is an interior one into a block no start
 * pointer reached yet. */
static void note_interior(struct scanner *sc, uint64_t value)
{
	struct heuristics *hc = &sc->heur;
	GROW(hc->pending, hc->pending_cap, hc->npending + 1);
	hc->pending[hc->npending++] = value;
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

/* Up to a batch of the words of buf[*at .. len) into v, every step bytes;
 * returns how many, *at moved past them. */
static size_t gather_words(const uint8_t *buf, size_t len, size_t step, size_t *at, uint64_t *v)
{
	size_t k = 0;
	for (; k < BLOCK_INDEX_BATCH && *at + 8 <= len; k++, *at += step)
		memcpy(&v[k], buf + *at, 8);
	return k;
}

/* Where the next piece of a long read starts: unaligned words may straddle
 * pieces, so those overlap by 7 bytes. */
static uint64_t piece_step(const struct scanner *sc)
{
	return sc->r->opts.unaligned ? SCAN_CHUNK - 7 : SCAN_CHUNK;
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

/* ---- roots ---- */

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
};

/* Each module's writable memory: .data, and .bss (the anonymous mapping that
 * continues it, still inside the module's address range). */
static bool module_globals(const struct module_info *mi, void *arg)
{
	struct globals_walk *gw = arg;
	const struct maps *maps = &gw->s->target->maps;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mapping *m = &maps->v[i];
		if ((m->perms & (MAP_R | MAP_W)) != (MAP_R | MAP_W) || m->end <= mi->low || m->start >= mi->high)
			continue;
		uint64_t start = m->start > mi->low ? m->start : mi->low, end = m->end < mi->high ? m->end : mi->high;
		cover(gw->sc, start, end);
		if (!gw->scan)
			continue;
		const char *base = strrchr(mi->name, '/') ? strrchr(mi->name, '/') + 1 : mi->name;
		uint32_t g = add_group(gw->sc, ROOT_GLOBALS, -1, start, end, xasprintf("globals of %s", base));
		scan_region(gw->s, gw->sc, g, start, end);
	}
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

/* ---- the graph between blocks ---- */

/* What a swept block's words v reach (mark_with's rule; the second phase
 * does not tell interior pointers apart). An interior pointer into a block
 * not marked START waits for the heuristics: rare, so a branch that is
 * seldom taken, whatever order the pointers' kinds come in. */
static void mark_found(struct scanner *sc, uint32_t src, const uint64_t *v, const uint32_t *found, size_t k)
{
	/* In locals: the byte stores to mark would make the compiler reload them. */
	uint8_t *mark = sc->mark, bit = sc->bit;
	uint32_t interior_mask = bit == MARK_START ? sc->interior_mask : 0, wait = sc->heur.on != 0;
	size_t fresh = 0, hits = 0;
	for (size_t j = 0; j < k; j++) {
		uint32_t b = edge_block(found[j]), interior = (found[j] & interior_mask) >> 31;
		if (found[j] == BLOCK_NONE || b == src)
			continue;
		uint8_t m = mark[b];
		if (__builtin_expect(interior & !(m & MARK_START) & wait, 0))
			note_interior(sc, v[j]);
		fresh += mark_with(mark, b, m, interior, bit);
		hits++;
	}
	sc->frontier += fresh;
	sc->newly_marked += fresh;
	sc->r->npointers += hits;
}

/* The queued words' look-ups: each pointer into another used block becomes
 * an edge, counted in its source's row (rows_to_offsets turns the counts
 * into the CSR's offsets). A block pointing to itself keeps nothing alive. */
static void flush_queue(struct scanner *sc)
{
	_Static_assert(EDGE_INTERIOR == BLOCK_INDEX_INTERIOR, "edges are batched answers");
	struct reach *r = sc->r;
	uint32_t found[BLOCK_INDEX_BATCH];
	size_t n = r->nedges;
	block_index_find_batch(&sc->index, sc->queued, sc->nqueued, found);
	for (size_t j = 0; j < sc->nqueued; j++)
		if (found[j] != BLOCK_NONE && edge_block(found[j]) != sc->queued_src[j]) {
			r->edges[n++] = found[j] & (sc->interior_mask | ~EDGE_INTERIOR);
			r->row[sc->queued_row[j]]++;
		}
	r->npointers += n - r->nedges;
	r->nedges = n;
	sc->nqueued = 0;
}

/* Building the graph, words are looked up a batch at a time across blocks:
 * most blocks of a real heap hold a few words, which alone would wait on
 * their cache misses one or two at a time. (Sweeps cannot wait: the next
 * block they look at may be the one a word just read points to.) */
static void queue_word(struct scanner *sc, uint32_t src, uint64_t v)
{
	sc->queued[sc->nqueued] = v;
	sc->queued_src[sc->nqueued] = src;
	sc->queued_row[sc->nqueued] = sc->row;
	if (++sc->nqueued == BLOCK_INDEX_BATCH)
		flush_queue(sc);
}

/* A batch of block src's words into the graph: its edges appended, counted
 * in its row. */
static void add_edges(struct scanner *sc, uint32_t src, const uint32_t *found, size_t k)
{
	struct reach *r = sc->r;
	size_t n = r->nedges;
	uint32_t keep = sc->interior_mask | ~EDGE_INTERIOR;
	for (size_t j = 0; j < k; j++)
		if (found[j] != BLOCK_NONE && edge_block(found[j]) != src)
			r->edges[n++] = found[j] & keep;
	r->row[sc->row] += (uint32_t)(n - r->nedges);
	r->npointers += n - r->nedges;
	r->nedges = n;
}

/* The words of block src (len bytes of it in buf) that point into other
 * used blocks: marked while sweeping, else edges of the graph. A block of a
 * batch of words or more is looked up a batch at a time (after the words
 * queued before it); a smaller one waits in the queue. */
static void scan_block_words(struct scanner *sc, uint32_t src, const uint8_t *buf, size_t len)
{
	size_t step = sc->r->opts.unaligned ? 1 : 8;
	sc->r->scanned_bytes += len;
	if (!sc->sweeping && len < 8 + (BLOCK_INDEX_BATCH - 1) * step) {
		for (size_t i = 0; i + 8 <= len; i += step) {
			uint64_t v;
			memcpy(&v, buf + i, 8);
			queue_word(sc, src, v);
		}
		return;
	}
	if (!sc->sweeping && sc->nqueued)
		flush_queue(sc);
	uint64_t v[BLOCK_INDEX_BATCH];
	uint32_t found[BLOCK_INDEX_BATCH];
	for (size_t i = 0; i + 8 <= len;) {
		size_t k = gather_words(buf, len, step, &i, v);
		block_index_find_batch(&sc->index, v, k, found);
		if (sc->sweeping)
			mark_found(sc, src, v, found, k);
		else
			add_edges(sc, src, found, k);
	}
}

/* Room for every word of every used block: the edges can never outgrow it. */
static size_t max_edges(const struct reach *r)
{
	size_t words = 0;
	for (size_t i = 0; i < r->heap->n; i++) {
		uint64_t len = heap_usable(&r->heap->blocks[i]);
		if (r->heap->blocks[i].state == STRAND_USED && len >= 8)
			words += r->opts.unaligned ? len - 7 : len / 8;
	}
	return words;
}

/* Heap memory read ahead of the scan. Reads are a megabyte while the blocks
 * scanned fill them, and shrink to 4 KiB while they are sparse (a sweep
 * that needs one block in a thousand), so little is read for nothing. */
struct window {
	uint8_t *buf;
	uint64_t base, len;  /* bytes of buf read from base */
	uint64_t used;       /* bytes of them scanned */
	size_t size;         /* what the next read asks for */
	uint64_t read;       /* bytes read in all */
};

#define WINDOW_MIN 4096

static void window_read(struct session *s, struct window *w, const struct heap_block *b, bool down)
{
	if (w->len && w->used * 8 < w->len)
		w->size = w->size / 4 > WINDOW_MIN ? w->size / 4 : WINDOW_MIN;
	else if (w->len && w->used * 2 >= w->len)
		w->size = w->size * 2 < SCAN_CHUNK ? w->size * 2 : SCAN_CHUNK;
	uint64_t len = heap_usable(b), want = len > w->size ? len : w->size, start = b->addr;
	if (down) { /* ending with the block, but not below its mapping */
		const struct mapping *m = target_mapping(s->target, b->addr);
		uint64_t low = m ? m->start : b->addr, end = b->addr + len;
		start = end - low > want ? end - want : low;
	}
	w->base = start;
	w->len = target_read(s->target, start, w->buf, (size_t)want);
	w->used = 0;
	w->read += w->len;
}

/* Block i's words: from the window, read anew when it does not hold them;
 * a big block (or one the window cannot hold) piece by piece. */
static void scan_block(struct session *s, struct scanner *sc, struct window *w, size_t i, bool down)
{
	const struct heap_block *b = &sc->r->heap->blocks[i];
	uint64_t len = heap_usable(b);
	if (len <= SCAN_CHUNK && (b->addr < w->base || b->addr + len > w->base + w->len))
		window_read(s, w, b, down);
	if (len <= SCAN_CHUNK && b->addr >= w->base && b->addr + len <= w->base + w->len) {
		scan_block_words(sc, (uint32_t)i, w->buf + (b->addr - w->base), (size_t)len);
		w->used += len;
		return;
	}
	for (uint64_t off = 0; off < len; off += piece_step(sc)) {
		size_t want = len - off < SCAN_CHUNK ? (size_t)(len - off) : SCAN_CHUNK;
		size_t got = target_read(s->target, b->addr + off, w->buf, want);
		w->read += got;
		scan_block_words(sc, (uint32_t)i, w->buf, got);
		if (want < SCAN_CHUNK)
			break;
	}
	w->len = 0;
}

/* Edge counts of rows 0..n-1 into offsets: row k's edges start at row[k],
 * and row[n] is the total. */
static void rows_to_offsets(uint32_t *row, size_t n)
{
	uint32_t sum = 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t count = row[k];
		row[k] = sum;
		sum += count;
	}
	row[n] = sum;
}

/* The edges of every used block no sweep has scanned, in address order.
 * Every block has a row, unless the sweeps left few (one in eight): then
 * only those do (row_block), which saves memory on a big heap, while the
 * binary search to find a row costs little. */
static void scan_blocks(struct session *s, struct scanner *sc, struct window *w)
{
	struct reach *r = sc->r;
	const struct heap *h = r->heap;
	size_t nrows = 0;
	for (size_t i = 0; i < h->n; i++)
		nrows += h->blocks[i].state == STRAND_USED && !(sc->mark[i] & MARK_SCANNED);
	if (nrows < h->n / 8)
		r->row_block = xmalloc_big(nrows, sizeof(*r->row_block));
	else
		nrows = h->n;
	r->nrows = nrows;
	r->row = xcalloc_big(nrows + 1, sizeof(*r->row));
	r->edges = xreserve(r->edge_cap, sizeof(*r->edges));
	for (size_t i = 0, k = 0; i < h->n; i++) {
		if (!(i & 0xffff))
			progress_update("scanning the heap", i, h->n);
		bool unscanned = h->blocks[i].state == STRAND_USED && !(sc->mark[i] & MARK_SCANNED);
		if (r->row_block && !unscanned)
			continue;
		if (r->row_block)
			r->row_block[k] = (uint32_t)i;
		sc->row = (uint32_t)k++;
		if (unscanned && !session_interrupted())
			scan_block(s, sc, w, i, false);
	}
	flush_queue(sc);
	rows_to_offsets(r->row, nrows);
	progress_done();
}

/* ---- sweeps: marking while reading, without edges ---- */

/* The second phase starts from the blocks only interior pointers reach:
 * marks them ANY, returns how many. */
static size_t mark_interior_targets(uint8_t *mark, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_INTERIOR | MARK_ANY)) == MARK_INTERIOR)
			mark[i] |= MARK_ANY, count++;
	return count;
}

/* One pass over the heap, up or down in address order, scanning each block
 * marked with the phase's bit and not scanned yet: what its pointers reach
 * is marked, and scanned later in the same pass when it lies ahead. Stops
 * early when nothing is left to scan. Returns the blocks scanned. */
static size_t sweep(struct session *s, struct scanner *sc, struct window *w, bool down)
{
	const struct heap *h = sc->r->heap;
	size_t done = 0;
	w->len = 0;
	for (size_t k = 0; k < h->n && sc->frontier && !session_interrupted(); k++) {
		size_t i = down ? h->n - 1 - k : k;
		if ((sc->mark[i] & (sc->bit | MARK_SCANNED)) != sc->bit)
			continue;
		sc->mark[i] |= MARK_SCANNED;
		sc->frontier--;
		scan_block(s, sc, w, i, down);
		if (!(++done & 0xffff))
			progress_update("sweeping the heap", done, sc->used);
	}
	return done;
}

#define MAX_SWEEPS 8

/* Sweeps for one phase, up then down then up, while they get on: a heap of
 * big blocks full of pointers, or lists linked either way, is marked in two
 * or three sweeps, each block read once, in address order, and no edge
 * stored. A sweep that scans and marks few blocks (a long list laid out at
 * random needs a sweep every few nodes), or whose blocks lay so far apart
 * that it read four times what it scanned (on real heaps, the later sweeps
 * that pick up a few blocks here and there), leaves the rest to the graph,
 * which reads them all in one pass. */
static void sweep_phase(struct session *s, struct scanner *sc, struct window *w, uint8_t bit)
{
	sc->bit = bit;
	for (unsigned k = 0; k < MAX_SWEEPS && sc->frontier && !session_interrupted(); k++) {
		size_t marked = sc->newly_marked;
		uint64_t read = w->read, scanned = sc->r->scanned_bytes;
		size_t done = sweep(s, sc, w, k & 1);
		sc->r->sweeps++;
		bool sparse = w->read - read > 4 * (sc->r->scanned_bytes - scanned) + SCAN_CHUNK;
		if (sc->frontier && (sparse || done + (sc->newly_marked - marked) < sc->used / 1024))
			break;
	}
	progress_done();
}

/* A block a heuristic accepted: marked as a start pointer marks it, but for
 * DIRECT, and remembered with the heuristic. */
static void heuristic_accept(struct heuristics *hc, uint8_t *mark, uint32_t b, int h)
{
	mark[b] |= MARK_START | MARK_ANY;
	GROW(hc->accepted, hc->accepted_cap, hc->naccepted + 1);
	hc->accepted[hc->naccepted++] = (struct accepted){ b, (uint32_t)h };
}

static int by_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* The pointers waiting for the heuristics, from roots and sweeps: each into
 * a block still not marked START is tried, in address order; a block a
 * heuristic accepts is marked START, to be scanned (the frontier). Returns
 * how many. */
static size_t resolve_pending(struct session *s, struct scanner *sc)
{
	struct heuristics *hc = &sc->heur;
	size_t accepted = 0;
	sort_array(hc->pending, hc->npending, sizeof(*hc->pending), by_u64);
	for (size_t i = 0; i < hc->npending && !session_interrupted(); i++) {
		uint32_t off, b = block_index_find(&sc->index, hc->pending[i], &off);
		if ((i && hc->pending[i] == hc->pending[i - 1]) || b == BLOCK_NONE || (sc->mark[b] & MARK_START))
			continue;
		int h = heuristic_accepts(s, hc, &sc->r->heap->blocks[b], off);
		if (h >= 0) {
			heuristic_accept(hc, sc->mark, b, h);
			accepted++;
		}
	}
	hc->npending = 0;
	sc->frontier += accepted;
	return accepted;
}

/* Rounds of the start phase that sweeps take after heuristics accepted
 * blocks (each of which may point on to more); then the graph takes over. */
#define HEURISTIC_SWEEP_ROUNDS 2

/* Marks as much as sweeps can: the start phase (with what the heuristics
 * accept after it), then (if it finished) the second. What is left (a
 * phase's unscanned frontier, the lost blocks) goes into the graph, where
 * mark_reachable finishes it. */
static void sweep_phases(struct session *s, struct scanner *sc, struct window *w)
{
	const struct heap *h = sc->r->heap;
	for (size_t i = 0; i < h->n; i++)
		sc->used += h->blocks[i].state == STRAND_USED;
	sc->sweeping = true;
	sweep_phase(s, sc, w, MARK_START);
	for (unsigned k = 0; resolve_pending(s, sc) && k < HEURISTIC_SWEEP_ROUNDS; k++)
		sweep_phase(s, sc, w, MARK_START);
	if (!sc->frontier) {
		sc->frontier += mark_interior_targets(sc->mark, h->n);
		sweep_phase(s, sc, w, MARK_ANY);
	}
	sc->sweeping = false;
}

/* ---- classes ---- */

#define MARK_BATCH 16

/* Block b's edges: [*first, *end) in r->edges, empty for a block the sweeps
 * scanned (its row, if any, found among row_block by binary search). */
static inline void edges_of(const struct reach *r, uint32_t b, uint32_t *first, uint32_t *end)
{
	size_t k = b;
	if (r->row_block) {
		size_t lo = 0, hi = r->nrows;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (r->row_block[mid] < b)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == r->nrows || r->row_block[lo] != b) {
			*first = *end = 0;
			return;
		}
		k = lo;
	}
	*first = r->row[k];
	*end = r->row[k + 1];
}

/* An interior edge into a block not marked START waits for the heuristics. */
static void note_interior_edge(struct heuristics *hc, uint32_t e)
{
	GROW(hc->pending_edges, hc->pending_edges_cap, hc->npending_edges + 1);
	hc->pending_edges[hc->npending_edges++] = e;
}

/* Marks bit in every block reachable from the blocks on the stack (marked
 * already), depth first: a list is followed node after node, which keeps
 * the walk in nearby memory. start_only follows start pointers alone and
 * marks the targets of interior ones MARK_INTERIOR; with hc, those into
 * blocks not marked START wait there for the heuristics (rare: a branch
 * seldom taken, whatever order the edges' kinds come in). */
static void mark_from(const struct reach *r, uint8_t *mark, uint8_t bit, uint32_t *stack, size_t sp, bool start_only,
		      struct heuristics *hc)
{
	/* With the arrays in locals: the byte stores to mark would otherwise
	 * make the compiler reload them. */
	const uint32_t *edges = r->edges;
	uint32_t interior_mask = start_only ? EDGE_INTERIOR : 0, wait = hc != NULL;
	while (sp) {
		/* The last few blocks pushed, together: their rows, edges and
		 * targets' marks lie at random places, and fetching them for all
		 * at once overlaps the misses. */
		uint32_t first[MARK_BATCH], end[MARK_BATCH];
		size_t k = sp < MARK_BATCH ? sp : MARK_BATCH;
		sp -= k;
		for (size_t j = 0; j < k; j++)
			edges_of(r, stack[sp + j], &first[j], &end[j]);
		for (size_t j = 0; j < k; j++)
			__builtin_prefetch(&edges[first[j]]);
		for (size_t j = 0; j < k; j++)
			for (uint32_t e = first[j]; e < end[j] && e < first[j] + 8; e++)
				__builtin_prefetch(&mark[edge_block(edges[e])]);
		for (size_t j = 0; j < k; j++)
			for (uint32_t e = first[j]; e < end[j]; e++) {
				uint32_t v = edge_block(edges[e]), interior = (edges[e] & interior_mask) >> 31;
				uint8_t m = mark[v];
				if (__builtin_expect(interior & !(m & MARK_START) & wait, 0))
					note_interior_edge(hc, e);
				stack[sp] = v; /* room: each block is pushed once, and the batch has left */
				sp += mark_with(mark, v, m, interior, bit);
			}
	}
}

/* The row holding edge e: the last whose edges start at or before it. */
static size_t row_of_edge(const struct reach *r, uint32_t e)
{
	size_t lo = 0, hi = r->nrows;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->row[mid] <= e)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static bool edge_words(struct session *s, const struct reach *r, size_t k, uint32_t u, uint8_t **buf,
		       size_t *buf_cap, uint64_t *where, uint32_t *offset);

static int by_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

/* The edges waiting for the heuristics, marking over the graph: their
 * offsets are found again in their source blocks' words (read once each,
 * in address order), and each into a block still not marked START is
 * tried. A block a heuristic accepts is marked START and pushed. Returns
 * the stack's size. */
static size_t resolve_pending_edges(struct session *s, const struct reach *r, struct heuristics *hc, uint8_t *mark,
				    uint32_t *stack)
{
	uint32_t *pending = hc->pending_edges;
	uint8_t *buf = NULL;
	uint64_t *where = NULL;
	uint32_t *offset = NULL;
	size_t sp = 0, buf_cap = 0, where_cap = 0, offset_cap = 0;
	sort_array(pending, hc->npending_edges, sizeof(*pending), by_u32);
	for (size_t i = 0; i < hc->npending_edges && !session_interrupted();) {
		size_t k = row_of_edge(r, pending[i]);
		uint32_t u = r->row_block ? r->row_block[k] : (uint32_t)k, first = r->row[k], end = r->row[k + 1];
		GROW(where, where_cap, end - first);
		GROW(offset, offset_cap, end - first);
		edge_words(s, r, k, u, &buf, &buf_cap, where, offset);
		for (; i < hc->npending_edges && pending[i] < end; i++) {
			uint32_t e = pending[i], v = edge_block(r->edges[e]);
			if ((mark[v] & MARK_START) || !where[e - first])
				continue;
			int h = heuristic_accepts(s, hc, &r->heap->blocks[v], offset[e - first]);
			if (h >= 0) {
				heuristic_accept(hc, mark, v, h);
				stack[sp++] = v;
			}
		}
	}
	hc->npending_edges = 0;
	free(buf);
	free(where);
	free(offset);
	return sp;
}

/* Reachable through start pointers (START), then from whatever an interior
 * pointer of a reached block or a root hits (ANY), over the graph, from the
 * marks the roots and the sweeps left: the blocks marked and not scanned.
 * A block is pushed only when first marked, so the stack never holds more
 * than every block. */
static void mark_reachable(struct session *s, const struct reach *r, struct heuristics *hc, uint8_t *mark,
			   uint32_t *stack)
{
	size_t n = r->heap->n, sp = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_START | MARK_SCANNED)) == MARK_START)
			stack[sp++] = (uint32_t)i;
	do { /* until the heuristics accept nothing more */
		mark_from(r, mark, MARK_START, stack, sp, true, hc->on ? hc : NULL);
		sp = hc->npending_edges ? resolve_pending_edges(s, r, hc, mark, stack) : 0;
	} while (sp);
	mark_interior_targets(mark, n);
	sp = 0;
	for (size_t i = 0; i < n; i++)
		if ((mark[i] & (MARK_ANY | MARK_START | MARK_SCANNED)) == MARK_ANY)
			stack[sp++] = (uint32_t)i;
	mark_from(r, mark, MARK_ANY, stack, sp, false, NULL);
}

/* The lost blocks, numbered 0..nlost-1 in address order, and their graph. */
struct lost_graph {
	const struct reach *r;
	const uint32_t *block; /* lost number -> block */
	const uint32_t *id;    /* block -> lost number (lost blocks' entries only) */
	const uint32_t *first, *end; /* lost number -> its edges in r->edges */
};

/* Tarjan's strongly connected components over the lost blocks, without
 * recursion: comp[k] gets a component id; returns the number of components.
 * index[] holds visit order + 1 so that zero means "not visited". */
static uint32_t lost_components(const struct lost_graph *g, size_t nlost, uint32_t *comp)
{
	const struct reach *r = g->r;
	uint32_t *index = xcalloc_big(nlost, sizeof(*index)), *low = xcalloc_big(nlost, sizeof(*low));
	uint32_t *edge_at = xcalloc_big(nlost, sizeof(*edge_at));
	uint32_t *stack = xcalloc_big(nlost, sizeof(*stack)), *call = xcalloc_big(nlost, sizeof(*call));
	uint8_t *on_stack = xcalloc_big(nlost, 1);
	uint32_t counter = 1, ncomp = 0;
	size_t sp = 0, cp = 0;
	for (uint32_t root = 0; root < nlost; root++) {
		if (index[root])
			continue;
		call[cp++] = root;
		index[root] = low[root] = counter++;
		edge_at[root] = g->first[root];
		stack[sp++] = root;
		on_stack[root] = 1;
		while (cp) {
			uint32_t u = call[cp - 1];
			if (edge_at[u] < g->end[u]) {
				uint32_t vb = edge_block(r->edges[edge_at[u]++]);
				if (r->cls[vb] != CLASS_DEFINITE)
					continue;
				uint32_t v = g->id[vb];
				if (!index[v]) {
					index[v] = low[v] = counter++;
					edge_at[v] = g->first[v];
					stack[sp++] = v;
					on_stack[v] = 1;
					call[cp++] = v;
				} else if (on_stack[v] && index[v] < low[u]) {
					low[u] = index[v];
				}
				continue;
			}
			cp--;
			if (cp && low[u] < low[call[cp - 1]])
				low[call[cp - 1]] = low[u];
			if (low[u] == index[u]) {
				uint32_t v;
				do {
					v = stack[--sp];
					on_stack[v] = 0;
					comp[v] = ncomp;
				} while (v != u);
				ncomp++;
			}
		}
	}
	free(index);
	free(low);
	free(edge_at);
	free(stack);
	free(call);
	free(on_stack);
	return ncomp;
}

/* The leaders: a lost component no other lost block points to is led by its
 * lowest block (blocks are numbered in address order: the first seen). */
static void find_leaders(const struct lost_graph *g, size_t nlost, const uint32_t *comp, uint32_t ncomp,
			 uint32_t *leader)
{
	const struct reach *r = g->r;
	uint8_t *entered = xcalloc(ncomp ? ncomp : 1, 1);
	uint32_t *first = xmalloc((ncomp ? ncomp : 1) * sizeof(*first));
	for (size_t k = 0; k < nlost; k++)
		for (uint32_t e = g->first[k]; e < g->end[k]; e++) {
			uint32_t vb = edge_block(r->edges[e]);
			if (r->cls[vb] == CLASS_DEFINITE && comp[g->id[vb]] != comp[k])
				entered[comp[g->id[vb]]] = 1;
		}
	for (uint32_t c = 0; c < ncomp; c++)
		first[c] = UNDEF;
	for (size_t k = 0; k < nlost; k++) {
		if (first[comp[k]] == UNDEF)
			first[comp[k]] = (uint32_t)k;
		leader[k] = !entered[comp[k]] && first[comp[k]] == k ? (uint32_t)k : UNDEF;
	}
	free(entered);
	free(first);
}

/* valgrind's rule for lost blocks: those no other lost block points to are
 * definitely lost; a lost cycle nothing else points to gets its lowest address
 * as leader; everything the leaders reach is indirectly lost, and counted
 * under the leader that reaches it first. id is scratch for every block. */
static void classify_lost(struct reach *r, size_t nlost, uint32_t *id)
{
	uint32_t *block = xmalloc((nlost ? nlost : 1) * sizeof(*block));
	for (size_t i = 0, k = 0; i < r->heap->n; i++)
		if (r->cls[i] == CLASS_DEFINITE)
			id[i] = (uint32_t)k, block[k++] = (uint32_t)i;
	uint32_t *first = xmalloc((nlost ? nlost : 1) * sizeof(*first));
	uint32_t *end = xmalloc((nlost ? nlost : 1) * sizeof(*end));
	for (size_t k = 0; k < nlost; k++)
		edges_of(r, block[k], &first[k], &end[k]);
	struct lost_graph g = { r, block, id, first, end };
	uint32_t *comp = xmalloc((nlost ? nlost : 1) * sizeof(*comp));
	uint32_t ncomp = lost_components(&g, nlost, comp);
	uint32_t *leader = xmalloc((nlost ? nlost : 1) * sizeof(*leader));
	find_leaders(&g, nlost, comp, ncomp, leader);
	uint32_t *queue = comp; /* done with the components */
	size_t qn = 0;
	for (size_t k = 0; k < nlost; k++)
		if (leader[k] == k)
			queue[qn++] = (uint32_t)k;
	for (size_t qi = 0; qi < qn; qi++) {
		uint32_t u = queue[qi];
		for (uint32_t e = first[u]; e < end[u]; e++) {
			uint32_t vb = edge_block(r->edges[e]);
			if (r->cls[vb] == CLASS_DEFINITE && leader[id[vb]] == UNDEF) {
				leader[id[vb]] = leader[u];
				queue[qn++] = id[vb];
			}
		}
	}
	for (size_t k = 0; k < nlost; k++)
		if (leader[k] != k)
			r->cls[block[k]] = CLASS_INDIRECT;
	free(comp);
	free(first);
	free(end);
	r->lost = block;
	r->lost_leader = leader;
	r->nlost = nlost;
}

/* valgrind's "of which reachable via heuristic": the blocks a heuristic
 * accepted that no pointer to their start reached (valgrind forgets the
 * heuristic of a block when such a pointer comes). */
static void count_heuristic_reachable(struct reach *r, const struct heuristics *hc)
{
	for (size_t i = 0; i < hc->naccepted; i++) {
		uint32_t b = hc->accepted[i].block;
		if (!(r->cls[b] & MARK_DIRECT)) {
			r->heuristic_bytes[hc->accepted[i].heuristic] += heap_usable(&r->heap->blocks[b]);
			r->heuristic_blocks[hc->accepted[i].heuristic]++;
		}
	}
}

static void classify(struct session *s, struct reach *r, struct heuristics *hc)
{
	size_t n = r->heap->n;
	uint8_t *cls = r->cls;
	uint32_t *scratch = xcalloc_big(n, sizeof(*scratch));
	mark_reachable(s, r, hc, cls, scratch);
	count_heuristic_reachable(r, hc);
	size_t nlost = 0;
	for (size_t i = 0; i < n; i++) {
		if (r->heap->blocks[i].state != STRAND_USED)
			cls[i] = CLASS_NONE;
		else if (cls[i] & MARK_START)
			cls[i] = CLASS_REACHABLE;
		else if (cls[i] & MARK_ANY)
			cls[i] = CLASS_POSSIBLE;
		else
			cls[i] = CLASS_DEFINITE, nlost++; /* lost, until classify_lost splits it */
	}
	classify_lost(r, nlost, scratch);
	free(scratch);
}

uint32_t reach_leader(const struct reach *r, uint32_t b)
{
	const uint32_t *k = r->nlost ? bsearch(&b, r->lost, r->nlost, sizeof(*r->lost), by_u32) : NULL;
	return k ? r->lost[r->lost_leader[k - r->lost]] : UNDEF;
}

/* ---- dominators ---- */

/* The successors of a node: the virtual root has the groups, a group its root
 * edges' blocks, a block its edges. Root edges are stored group by group. */
struct dom_graph {
	const struct reach *r;
	uint32_t *group_first; /* ngroups + 1 */
	uint32_t vroot;
};

static inline uint32_t succ_count(const struct dom_graph *g, uint32_t u)
{
	const struct reach *r = g->r;
	if (u == g->vroot)
		return (uint32_t)r->ngroups;
	if (u >= r->heap->n)
		return g->group_first[u - r->heap->n + 1] - g->group_first[u - r->heap->n];
	return r->row[u + 1] - r->row[u];
}

static inline uint32_t succ(const struct dom_graph *g, uint32_t u, uint32_t i)
{
	const struct reach *r = g->r;
	if (u == g->vroot)
		return (uint32_t)r->heap->n + i;
	if (u >= r->heap->n)
		return r->roots[g->group_first[u - r->heap->n] + i].block;
	return edge_block(r->edges[r->row[u] + i]);
}

struct dfs_frame {
	uint32_t node, next, end; /* successors next..end-1 still to visit (edge indices for a block) */
};

static struct dfs_frame dfs_enter(const struct dom_graph *g, uint32_t u)
{
	const struct reach *r = g->r;
	if (u < r->heap->n)
		return (struct dfs_frame){ u, r->row[u], r->row[u + 1] };
	return (struct dfs_frame){ u, 0, succ_count(g, u) };
}

/* Reverse postorder from the virtual root, depth first without recursion:
 * every node after all of its predecessors but those closing a cycle. The
 * postorder fills order from its end, so the reverse postorder is its last
 * nodes, from *first on; rpo_num[node] = position - *first + 1 (rpo_num must
 * come zeroed: 0 is "not reached"). Returns the count. */
static size_t reverse_postorder(const struct dom_graph *g, uint32_t nnodes, uint32_t *order, uint32_t *rpo_num,
				size_t *first)
{
	const struct reach *r = g->r;
	struct dfs_frame *stack = NULL;
	size_t cap = 0, sp = 0, at = nnodes;
	GROW(stack, cap, 1);
	stack[sp++] = dfs_enter(g, g->vroot);
	rpo_num[g->vroot] = UNDEF; /* seen */
	while (sp) {
		struct dfs_frame *f = &stack[sp - 1];
		if (f->next < f->end) {
			uint32_t v = f->node < r->heap->n ? edge_block(r->edges[f->next]) : succ(g, f->node, f->next);
			f->next++;
			if (!rpo_num[v]) {
				rpo_num[v] = UNDEF;
				GROW(stack, cap, sp + 1);
				stack[sp++] = dfs_enter(g, v);
			}
			continue;
		}
		order[--at] = f->node;
		sp--;
	}
	for (size_t i = at; i < nnodes; i++)
		rpo_num[order[i]] = (uint32_t)(i - at + 1);
	free(stack);
	*first = at;
	return nnodes - at;
}

static uint32_t intersect(const uint32_t *idom, const uint32_t *rpo_num, uint32_t a, uint32_t b)
{
	while (a != b) {
		while (rpo_num[a] > rpo_num[b])
			a = idom[a];
		while (rpo_num[b] > rpo_num[a])
			b = idom[b];
	}
	return a;
}

/* Cooper, Harvey and Kennedy's iterative dominators, driven by edges so that
 * no predecessor lists are needed, in reverse postorder: without a cycle one
 * round is final; a cycle takes rounds until nothing changes. Then retained
 * sizes bottom-up. */
static void dominators(struct reach *r)
{
	size_t n = r->heap->n;
	struct dom_graph g = { r, xcalloc(r->ngroups + 1, sizeof(uint32_t)), reach_virtual_root(r) };
	for (size_t i = 0; i < r->nroots; i++)
		g.group_first[r->roots[i].group + 1]++;
	for (size_t i = 0; i < r->ngroups; i++)
		g.group_first[i + 1] += g.group_first[i];
	uint32_t nnodes = g.vroot + 1;
	uint32_t *order_mem = xmalloc_big(nnodes, sizeof(*order_mem)), *rpo_num = xcalloc_big(nnodes, sizeof(*rpo_num));
	size_t first, reached = reverse_postorder(&g, nnodes, order_mem, rpo_num, &first);
	const uint32_t *order = order_mem + first;
	r->idom = xmalloc_big(nnodes, sizeof(*r->idom));
	memset(r->idom, 0xff, nnodes * sizeof(*r->idom)); /* UNDEF */
	r->idom[g.vroot] = g.vroot;
	bool changed = true, cyclic = true;
	for (int round = 0; changed && cyclic && round < 1000; round++) {
		changed = cyclic = false;
		for (size_t k = 0; k < reached; k++) {
			uint32_t u = order[k];
			if (r->idom[u] == UNDEF)
				continue;
			for (uint32_t i = 0, m = succ_count(&g, u); i < m; i++) {
				uint32_t v = succ(&g, u, i);
				if (v == g.vroot)
					continue;
				cyclic |= rpo_num[v] <= rpo_num[u];
				uint32_t d = r->idom[v] == UNDEF ? u : intersect(r->idom, rpo_num, u, r->idom[v]);
				if (d != r->idom[v]) {
					r->idom[v] = d;
					changed = true;
				}
			}
		}
	}
	r->retained = xcalloc_big(nnodes, sizeof(*r->retained));
	r->retained_blocks = rpo_num; /* done with the numbers: their pages are already ours */
	memset(r->retained_blocks, 0, nnodes * sizeof(*r->retained_blocks));
	for (size_t i = 0; i < n; i++)
		if (r->idom[i] != UNDEF) {
			r->retained[i] = heap_usable(&r->heap->blocks[i]);
			r->retained_blocks[i] = 1;
		}
	for (size_t k = reached; k-- > 1;) {
		uint32_t v = order[k];
		r->retained[r->idom[v]] += r->retained[v];
		r->retained_blocks[r->idom[v]] += r->retained_blocks[v];
	}
	free(order_mem);
	free(g.group_first);
}

/* ---- naming roots ---- */

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
static void split_globals_by_symbol(struct session *s, struct scanner *sc)
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

/* ---- building ---- */

static void warn_partial_registers(struct session *s, struct reach *r)
{
	size_t missing = 0;
	for (size_t i = 0; i < s->target->nthreads; i++)
		missing += s->target->threads[i].regs_state != REGS_FULL;
	if (missing)
		r->warning = xasprintf("%zu thread%s ran with unknown registers (--no-stop): pointers held only in "
				       "registers are not seen, and the heap moved while it was read",
				       missing, missing == 1 ? "" : "s");
}

/* The marks and the graph, from the roots' marks: with graph, every
 * block's edges; without, the sweeps mark what they can and only the rest
 * is stored. */
static void mark_and_scan(struct session *s, struct scanner *sc)
{
	struct window w = { .buf = xmalloc(SCAN_CHUNK), .size = SCAN_CHUNK };
	if (!sc->r->graph)
		sweep_phases(s, sc, &w);
	scan_blocks(s, sc, &w);
	free(w.buf);
}

struct reach *reach_build(struct session *s, const struct reach_opts *opts, bool graph)
{
	const struct heap *h = heap_get(s);
	if (!h)
		return NULL;
	if (!h->walked) {
		error_set("the heap could not be walked (%s): there is no leak check without it",
			  h->nproblems ? h->problems[0].message : "its allocator's state was not found");
		return NULL;
	}
	double start = now_seconds();
	struct reach *r = xcalloc(1, sizeof(*r));
	r->heap = h;
	r->opts = *opts;
	r->edge_cap = max_edges(r);
	if (h->n >= EDGE_INTERIOR || r->edge_cap > UINT32_MAX) { /* block and edge numbers are 32 bits */
		error_set("the heap is too big for the leak check: %zu blocks, %zu words", h->n, r->edge_cap);
		free(r);
		return NULL;
	}
	r->graph = graph;
	r->cls = xcalloc_big(h->n, 1); /* the marks, then the classes */
	struct scanner sc = { .r = r, .mark = r->cls, .buf = xmalloc(SCAN_CHUNK),
			      .interior_mask = opts->interior_reachable ? 0 : EDGE_INTERIOR };
	sc.heur.on = heuristics_on(opts);
	sc.static_tls = (symbols_static_tls_size(s->symbols) + 63) & ~63ull;
	const struct loaded_plugin *rt = plugin_runtime(s);
	sc.runtime = rt ? rt->p->runtime : NULL;
	sc.tcb_size = rt ? rt->p->runtime->descriptor_size(plugin_host(s)) : 0;
	if (!sc.tcb_size)
		sc.tcb_size = TCB_GUESS;
	block_index_build(&sc.index, h);
	find_exiting_threads(s, &sc);
	if (!opts->skip[ROOT_REGISTERS])
		root_registers(s, &sc);
	if (!opts->skip[ROOT_STACK])
		root_stacks(s, &sc);
	/* TLS and globals are never scanned again as anonymous memory, even when
	 * their own kind is switched off (stack mappings never are). */
	root_tls(s, &sc, !opts->skip[ROOT_TLS]);
	struct globals_walk gw = { s, &sc, !opts->skip[ROOT_GLOBALS] };
	symbols_modules(s->symbols, module_globals, &gw);
	if (gw.scan)
		root_unclaimed_globals(s, &sc);
	if (!opts->skip[ROOT_ANON])
		root_anon(s, &sc);
	free(sc.covered);
	free(sc.buf);
	free(sc.exiting);
	free(sc.exit_caller);
	resolve_pending(s, &sc);
	if (graph) /* only the graph keeps roots, to name them */
		split_globals_by_symbol(s, &sc);
	mark_and_scan(s, &sc);
	block_index_free(&sc.index);
	classify(s, r, &sc.heur);
	heuristics_free(&sc.heur);
	warn_partial_registers(s, r);
	r->seconds = now_seconds() - start;
	return r;
}

void reach_free(struct reach *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i].label);
	free(r->groups);
	free(r->roots);
	free(r->row);
	free(r->row_block);
	xunreserve(r->edges, r->edge_cap, sizeof(*r->edges));
	free(r->cls);
	free(r->lost);
	free(r->lost_leader);
	free(r->idom);
	free(r->retained);
	free(r->retained_blocks);
	free(r->indeg);
	free(r->warning);
	free(r);
}

size_t reach_path(const struct reach *r, uint32_t b, size_t *root_edge, uint32_t **path)
{
	size_t n = r->heap->n;
	if (r->cls[b] != CLASS_REACHABLE && r->cls[b] != CLASS_POSSIBLE)
		return 0;
	uint32_t *parent = xmalloc(n * sizeof(*parent)), *queue = xmalloc(n * sizeof(*queue));
	uint32_t *via_root = xmalloc(n * sizeof(*via_root));
	for (size_t i = 0; i < n; i++)
		parent[i] = via_root[i] = UNDEF;
	size_t qn = 0;
	/* Start pointers first, so the path shown is the one that keeps it reachable. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->nroots; i++) {
			uint32_t t = r->roots[i].block;
			bool start = !r->roots[i].offset || r->opts.interior_reachable;
			if (via_root[t] == UNDEF && parent[t] == UNDEF && start == (pass == 0)) {
				via_root[t] = (uint32_t)i;
				queue[qn++] = t;
			}
		}
	for (size_t qi = 0; qi < qn && via_root[b] == UNDEF && parent[b] == UNDEF; qi++) {
		uint32_t u = queue[qi];
		for (uint32_t e = r->row[u]; e < r->row[u + 1]; e++) {
			uint32_t v = edge_block(r->edges[e]);
			if (via_root[v] == UNDEF && parent[v] == UNDEF) {
				parent[v] = u;
				queue[qn++] = v;
			}
		}
	}
	size_t len = 0;
	*path = NULL;
	if (via_root[b] != UNDEF || parent[b] != UNDEF) {
		for (uint32_t v = b;; v = parent[v]) {
			len++;
			if (via_root[v] != UNDEF)
				break;
		}
		*path = xmalloc(len * sizeof(**path));
		uint32_t v = b;
		for (size_t i = len; i-- > 0; v = parent[v]) {
			(*path)[i] = v;
			if (via_root[v] != UNDEF) {
				*root_edge = via_root[v];
				break;
			}
		}
	}
	free(parent);
	free(queue);
	free(via_root);
	return len;
}

/* The session's reachability for these options, rebuilt when the target
 * may have moved, the options differ, or the graph is wanted and missing. */
static const struct reach *reach_get_built(struct session *s, const struct reach_opts *opts, bool graph)
{
	if (s->reach && (!s->target->stopped || memcmp(&s->reach->opts, opts, sizeof(*opts)) ||
			 (graph && !s->reach->graph))) {
		reach_free(s->reach);
		s->reach = NULL;
	}
	if (!s->reach)
		s->reach = reach_build(s, opts, graph);
	return s->reach;
}

const struct reach *reach_get(struct session *s, const struct reach_opts *opts)
{
	return reach_get_built(s, opts, false);
}

const struct reach *reach_get_graph(struct session *s, const struct reach_opts *opts)
{
	return reach_get_built(s, opts, true);
}

const struct reach *reach_get_retained(struct session *s, const struct reach_opts *opts)
{
	reach_get_graph(s, opts);
	if (s->reach && !s->reach->idom)
		dominators(s->reach);
	return s->reach;
}

const uint32_t *reach_indegree(struct reach *r)
{
	if (!r->indeg) {
		r->indeg = xcalloc_big(r->heap->n + 1, sizeof(*r->indeg));
		for (size_t e = 0; e < r->nedges; e++)
			r->indeg[edge_block(r->edges[e])]++;
	}
	return r->indeg;
}

static int by_target(const void *x, const void *y)
{
	const struct block_ref *a = x, *b = y;
	return (a->block > b->block) - (a->block < b->block);
}

/* Block u's edges (row k's: the block's own number with the whole graph)
 * are its words that point into other used blocks, in the order the scan
 * read them: reading the words again in that order pairs each edge with its
 * word (the target is stopped, or a core). buf is scratch. */
static bool edge_words(struct session *s, const struct reach *r, size_t k, uint32_t u, uint8_t **buf,
		       size_t *buf_cap, uint64_t *where, uint32_t *offset)
{
	const struct heap_block *src = &r->heap->blocks[u];
	size_t len = (size_t)heap_usable(src), first = r->row[k], end = r->row[k + 1], e = first;
	memset(where, 0, (end - first) * sizeof(*where));
	memset(offset, 0, (end - first) * sizeof(*offset));
	GROW(*buf, *buf_cap, len + 1);
	len = target_read(s->target, src->addr, *buf, len);
	for (size_t off = 0; off + 8 <= len && e < end; off += r->opts.unaligned ? 1 : 8) {
		uint64_t word;
		memcpy(&word, *buf + off, 8);
		const struct heap_block *dst = &r->heap->blocks[edge_block(r->edges[e])];
		if (word - dst->addr < heap_usable(dst)) {
			where[e - first] = src->addr + off;
			offset[e - first] = (uint32_t)(word - dst->addr);
			e++;
		}
	}
	return e == end;
}

bool reach_edge_offsets(struct session *s, const struct reach *r, uint32_t u, uint64_t *where, uint32_t *offset)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	bool ok = edge_words(s, r, u, u, &buf, &cap, where, offset);
	free(buf);
	return ok;
}

static bool points_to_wanted(const struct reach *r, uint32_t u, const uint8_t *want)
{
	for (uint32_t e = r->row[u]; e < r->row[u + 1]; e++)
		if (want[edge_block(r->edges[e])])
			return true;
	return false;
}

size_t reach_refs(struct session *s, const struct reach *r, const uint8_t *want, struct block_ref **out)
{
	struct block_ref *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < r->nroots; i++)
		if (want[r->roots[i].block]) {
			GROW(v, cap, n + 1);
			v[n++] = (struct block_ref){ r->roots[i].block, r->roots[i].where, r->roots[i].offset, (int64_t)i, 0 };
		}
	uint8_t *bytes = NULL;
	uint64_t *where = NULL;
	uint32_t *offset = NULL;
	size_t bytes_cap = 0, where_cap = 0, offset_cap = 0;
	for (uint32_t u = 0; u < r->heap->n; u++) {
		if (!points_to_wanted(r, u, want))
			continue;
		size_t first = r->row[u], k = r->row[u + 1] - first;
		GROW(where, where_cap, k);
		GROW(offset, offset_cap, k);
		edge_words(s, r, u, u, &bytes, &bytes_cap, where, offset);
		for (size_t i = 0; i < k; i++) {
			uint32_t dst = edge_block(r->edges[first + i]);
			if (want[dst] && where[i]) {
				GROW(v, cap, n + 1);
				v[n++] = (struct block_ref){ dst, where[i], offset[i], -1, u };
			}
		}
	}
	free(bytes);
	free(where);
	free(offset);
	if (n)
		qsort(v, n, sizeof(*v), by_target);
	*out = v;
	return n;
}
