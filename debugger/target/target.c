#include "target.h"

#include <elf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void target_init(struct target *t, const struct target_ops *ops, enum target_kind kind)
{
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	t->kind = kind;
}

const char *target_omitted(struct target *t, uint64_t addr, uint64_t len)
{
	return t->ops->omitted ? t->ops->omitted(t, addr, len) : NULL;
}

const char *target_omitted_anywhere(struct target *t)
{
	for (size_t i = 0; i < t->maps.n; i++) {
		const struct mapping *m = &t->maps.v[i];
		const char *path = target_omitted(t, m->start, m->end - m->start);
		if (path && *path)
			return path;
	}
	return NULL;
}

static struct cache_line *cache_fill(struct target *t, uint64_t base)
{
	struct cache_line *l = &t->cache[(base >> CACHE_LINE_SHIFT) % CACHE_LINES];
	if (l->tried && l->base == base)
		return l;
	if (!l->data)
		l->data = xmalloc((size_t)1 << CACHE_LINE_SHIFT);
	l->base = base;
	l->tried = true;
	l->len = t->ops->read(t, base, l->data, (size_t)1 << CACHE_LINE_SHIFT);
	t->stat_syscalls++;
	return l;
}

size_t target_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	const size_t line = (size_t)1 << CACHE_LINE_SHIFT;
	t->stat_reads++;
	/* Large reads go straight to the target: they are already one batch. */
	if (len >= line) {
		t->stat_syscalls++;
		return t->ops->read(t, addr, buf, len);
	}
	size_t done = 0;
	while (done < len) {
		uint64_t a = addr + done;
		uint64_t base = a & ~(uint64_t)(line - 1);
		struct cache_line *l = cache_fill(t, base);
		size_t off = (size_t)(a - base);
		if (off >= l->len) {
			/* The line ends early (unmapped page): retry this page alone, in
			 * case the line started in an unreadable region. */
			size_t n = t->ops->read(t, a, (uint8_t *)buf + done, len - done);
			t->stat_syscalls++;
			return done + n;
		}
		size_t n = l->len - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, l->data + off, n);
		done += n;
	}
	return done;
}

bool target_read_all(struct target *t, uint64_t addr, void *buf, size_t len)
{
	return target_read(t, addr, buf, len) == len;
}

bool target_read_u64(struct target *t, uint64_t addr, uint64_t *out)
{
	return target_read_all(t, addr, out, sizeof(*out));
}

bool target_read_u32(struct target *t, uint64_t addr, uint32_t *out)
{
	return target_read_all(t, addr, out, sizeof(*out));
}

char *target_read_string(struct target *t, uint64_t addr, size_t max)
{
	char *s = xmalloc(max + 1);
	size_t n = 0;
	while (n < max) {
		char chunk[256];
		size_t want = max - n < sizeof(chunk) ? max - n : sizeof(chunk);
		size_t got = target_read(t, addr + n, chunk, want);
		char *nul = memchr(chunk, '\0', got);
		size_t take = nul ? (size_t)(nul - chunk) : got;
		memcpy(s + n, chunk, take);
		n += take;
		if (nul || got < want)
			break;
	}
	if (n == 0 && target_read(t, addr, s, 1) != 1) {
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

void target_invalidate(struct target *t)
{
	for (size_t i = 0; i < CACHE_LINES; i++)
		t->cache[i].tried = false;
}

const struct mapping *target_mapping(const struct target *t, uint64_t addr)
{
	return maps_find(&t->maps, addr);
}

struct thread *target_thread_by_tid(struct target *t, pid_t tid)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	return NULL;
}

uint64_t target_auxv(const struct target *t, uint64_t type, bool *found)
{
	for (size_t i = 0; i < t->auxv_n; i++)
		if (t->auxv[2 * i] == type) {
			if (found)
				*found = true;
			return t->auxv[2 * i + 1];
		}
	if (found)
		*found = false;
	return 0;
}

struct thread *target_add_thread(struct target *t, pid_t tid)
{
	/* Doubling: a core can hold thousands of thread notes (damaged ones too). */
	GROW(t->threads, t->threads_cap, t->nthreads + 1);
	struct thread *th = &t->threads[t->nthreads++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	th->state = '?';
	th->syscall = -1;
	th->idle_seconds = -1;
	return th;
}

static int by_tid(const void *a, const void *b)
{
	const struct thread *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

void target_sort_threads(struct target *t)
{
	pid_t initial = t->nthreads ? t->threads[t->initial_thread].tid : 0;
	qsort(t->threads, t->nthreads, sizeof(*t->threads), by_tid);
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == initial)
			t->initial_thread = i;
}

void target_detach(struct target *t)
{
	if (t && t->ops->detach)
		t->ops->detach(t);
}

void target_free(struct target *t)
{
	if (!t)
		return;
	target_detach(t);
	if (t->ops->destroy)
		t->ops->destroy(t);
	for (size_t i = 0; i < t->nthreads; i++)
		free(t->threads[i].xstate);
	for (size_t i = 0; i < CACHE_LINES; i++)
		free(t->cache[i].data);
	free(t->threads);
	maps_free(&t->maps);
	free(t->auxv);
	free(t->exe);
	free(t->description);
	free(t);
}

#define REG(name) { #name, offsetof(struct user_regs_struct, name) }
static const struct {
	const char *name;
	size_t offset;
} reg_table[] = {
	REG(rax), REG(rbx), REG(rcx), REG(rdx), REG(rsi), REG(rdi), REG(rbp), REG(rsp),
	REG(r8), REG(r9), REG(r10), REG(r11), REG(r12), REG(r13), REG(r14), REG(r15),
	REG(rip), REG(eflags), REG(cs), REG(ss), REG(ds), REG(es), REG(fs), REG(gs),
	REG(fs_base), REG(gs_base), REG(orig_rax),
};

bool regs_get(const struct user_regs_struct *r, const char *name, uint64_t *out)
{
	if (name[0] == '$')
		name++;
	if (!strcmp(name, "pc"))
		name = "rip";
	else if (!strcmp(name, "sp"))
		name = "rsp";
	else if (!strcmp(name, "fp"))
		name = "rbp";
	for (size_t i = 0; i < ARRAY_SIZE(reg_table); i++)
		if (!strcmp(reg_table[i].name, name)) {
			memcpy(out, (const char *)r + reg_table[i].offset, sizeof(*out));
			return true;
		}
	return false;
}

const char *regs_name(size_t i)
{
	return i < ARRAY_SIZE(reg_table) ? reg_table[i].name : NULL;
}

uint64_t regs_pc(const struct thread *th)
{
	return th->regs_state == REGS_NONE ? 0 : th->regs.rip;
}

uint64_t regs_sp(const struct thread *th)
{
	return th->regs_state == REGS_NONE ? 0 : th->regs.rsp;
}
