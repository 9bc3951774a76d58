/* A target is what strand inspects: a live process or a core file, behind one
 * interface. Everything above this layer (symbols, heap, analyses, commands)
 * reads threads, registers, mappings and memory only through it, so live and
 * core give the same answers on the same state. */
#ifndef STRAND_TARGET_H
#define STRAND_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "maps.h"

enum target_kind { TARGET_LIVE, TARGET_CORE };

/* What is known of a thread's registers. */
enum regs_state {
	REGS_NONE,    /* nothing: a running thread seen with --no-stop */
	REGS_SP_PC,   /* only sp and pc (from /proc/PID/task/TID/syscall, --no-stop) */
	REGS_FULL,    /* stopped live thread or core: every general register */
};

struct thread {
	pid_t tid;
	char name[32];
	char state;                /* kernel state letter: R S D T t Z X, '?' unknown */
	enum regs_state regs_state;
	struct user_regs_struct regs;
	bool have_fpregs;
	struct user_fpregs_struct fpregs;
	uint8_t *xstate;           /* NT_X86_XSTATE image, or NULL */
	size_t xstate_size;
	/* The system call it is in: -1 when not in a call (running, or a core thread
	 * outside a syscall); otherwise the number and its six arguments. */
	long syscall;
	uint64_t syscall_args[6];
	int pending_signal;        /* live: signal caught while stopping, re-sent on detach */
	bool stop_failed;          /* live: did not stop in time (e.g. state D) */
	double idle_seconds;       /* live: since it last ran, read before stopping it; -1 unknown */
	/* The thread pointer (fs_base: glibc's struct pthread), from the registers,
	 * or from the thread runtime's list when they are unknown (--no-stop); 0
	 * unknown. Set by plugin_find_thread_pointers(). */
	uint64_t thread_pointer;
};

struct target;

struct target_ops {
	const char *name; /* "live", "core" */
	/* Read up to len bytes at addr, uncached. Returns the bytes read (short at
	 * an unmapped or unreadable page), 0 if none. */
	size_t (*read)(struct target *t, uint64_t addr, void *buf, size_t len);
	/* Cores: the first part of a range that the process had mapped but the
	 * core left out, with no matching file to read it from (see
	 * target_omitted). NULL for live targets. */
	const char *(*omitted)(struct target *t, uint64_t addr, uint64_t len);
	/* Let a live target run again (idempotent); cores do nothing. */
	void (*detach)(struct target *t);
	void (*destroy)(struct target *t);
};

#define CACHE_LINE_SHIFT 16 /* 64 KiB lines: one syscall serves many small reads */
#define CACHE_LINES 64

struct cache_line {
	uint64_t base; /* line-aligned address; valid when len > 0 or tried */
	bool tried;
	size_t len;    /* bytes readable from base */
	uint8_t *data;
};

struct target {
	const struct target_ops *ops;
	enum target_kind kind;
	pid_t pid;
	char *exe;           /* path of the main executable, if known */
	char *description;  /* "process 1234" / "core file x" */
	struct thread *threads; /* sorted by tid */
	size_t nthreads, threads_cap;
	size_t initial_thread;  /* index: the thread gdb would select first */
	struct maps maps;
	uint64_t *auxv;         /* (type, value) pairs, AT_NULL excluded */
	size_t auxv_n;
	bool stopped;           /* every thread holds still (live stopped, or a core) */
	struct cache_line cache[CACHE_LINES];
	uint64_t stat_reads, stat_syscalls; /* for benchmarks */
	void *priv;
	void *priv_elf;          /* cores: the core's Elf handle, for libdwfl */
};

/* Read memory, through the cache. Returns the number of bytes read. */
size_t target_read(struct target *t, uint64_t addr, void *buf, size_t len);
/* All len bytes or failure. */
bool target_read_all(struct target *t, uint64_t addr, void *buf, size_t len);
bool target_read_u64(struct target *t, uint64_t addr, uint64_t *out);
bool target_read_u32(struct target *t, uint64_t addr, uint32_t *out);
/* A NUL-terminated string of at most max bytes (truncated), malloc'd; NULL if unreadable. */
char *target_read_string(struct target *t, uint64_t addr, size_t max);
/* Whether a range is unreadable because the core omits it (gdb's gcore and
 * the kernel leave out file pages they take to be unchanged) and no file
 * whose build-id matches could supply it: then the path of the first such
 * mapped file ("" for memory of no file), else NULL. Analyses that find data
 * missing ask this to say why rather than give another verdict silently. */
const char *target_omitted(struct target *t, uint64_t addr, uint64_t len);
/* The same for every mapping of the target: the first file that cannot be read whole. */
const char *target_omitted_anywhere(struct target *t);
/* Forget cached memory (a live target that runs may have changed it). */
void target_invalidate(struct target *t);

const struct mapping *target_mapping(const struct target *t, uint64_t addr);
struct thread *target_thread_by_tid(struct target *t, pid_t tid);
uint64_t target_auxv(const struct target *t, uint64_t type, bool *found);

void target_detach(struct target *t);
void target_free(struct target *t);

/* Shared by the implementations. */
void target_init(struct target *t, const struct target_ops *ops, enum target_kind kind);
void target_sort_threads(struct target *t);
struct thread *target_add_thread(struct target *t, pid_t tid);

/* Register access by name ("rax", "rip", "fs_base", ...). */
bool regs_get(const struct user_regs_struct *r, const char *name, uint64_t *out);
/* The name of general register i in user_regs_struct order, NULL past the end. */
const char *regs_name(size_t i);
uint64_t regs_pc(const struct thread *th);
uint64_t regs_sp(const struct thread *th);

#endif
