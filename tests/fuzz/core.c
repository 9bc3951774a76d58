/* libFuzzer harness: the core reader (debugger/target/core.c) on arbitrary bytes, then
 * what every command on a core touches first: each thread's registers and
 * name, the auxiliary vector, reads at the start, middle and end of every
 * mapping (small ones through the cache, big ones straight through), and,
 * unless STRAND_FUZZ_SYMBOLS=0, libdwfl's view (symbols_open, each thread's pc
 * symbolized and its stack unwound). The input reaches core_open as a memfd. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/core.h"
#include "symbols/symbols.h"
#include "base/util.h"

static int memfd = -1;
static char path[64];
static bool with_symbols = true;
static volatile uint64_t observed; /* what was read, so that no read is optimised away */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz-core", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	const char *sym = getenv("STRAND_FUZZ_SYMBOLS");
	with_symbols = !sym || strcmp(sym, "0");
	return 0;
}

static void ignore_warning(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void read_threads(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		const struct thread *th = &t->threads[i];
		uint64_t v;
		for (size_t r = 0; regs_name(r); r++)
			if (regs_get(&th->regs, regs_name(r), &v))
				observed += v;
		observed += regs_pc(th) + regs_sp(th) + strlen(th->name);
		observed += target_thread_by_tid(t, th->tid) != NULL;
		if (th->xstate && th->xstate_size)
			observed += th->xstate[th->xstate_size - 1];
	}
	for (size_t i = 0; i < t->auxv_n; i++)
		observed += target_auxv(t, t->auxv[2 * i], NULL);
}

static void read_memory(struct target *t)
{
	static uint8_t big[256 << 10];
	uint8_t small[4096];
	for (size_t i = 0; i < t->maps.n && i < 4096; i++) {
		const struct mapping *m = &t->maps.v[i];
		uint64_t len = m->end - m->start;
		const uint64_t at[] = { m->start, m->start + len / 2, m->end - sizeof(small) / 2 };
		for (size_t k = 0; k < ARRAY_SIZE(at); k++)
			target_read(t, at[k], small, sizeof(small));
		if (i < 16)
			target_read(t, m->start, big, sizeof(big));
		(void)target_mapping(t, m->start);
	}
}

static void use_symbols(struct target *t)
{
	struct symbols_opts opts = { 0 };
	struct symbols *s = symbols_open(t, &opts);
	if (!s)
		return;
	for (size_t i = 0; i < t->nthreads && i < 64; i++) {
		struct sym_info si;
		symbols_addr_info(s, regs_pc(&t->threads[i]), &si);
		struct backtrace bt;
		symbols_unwind(s, &t->threads[i], 16, &bt);
		backtrace_free(&bt);
	}
	symbols_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	struct core_opts opts = { .warn = ignore_warning };
	struct target *t = core_open(path, &opts);
	if (!t)
		return 0;
	read_threads(t);
	read_memory(t);
	if (with_symbols)
		use_symbols(t);
	target_free(t);
	return 0;
}
