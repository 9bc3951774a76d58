/* The strand plugin ABI: what a plugin that knows one allocator or one thread
 * runtime sees of strand, and what it offers. The engine knows no allocator
 * and no runtime; plugins/ does. Built-in plugins and external ones (dlopen'd
 * with `plugin load PATH` or --plugin PATH) use exactly this header.
 *
 * An external plugin is a shared object exporting
 *     const struct strand_plugin *strand_plugin_init(const struct strand_host_api *host);
 * which keeps host (valid for the whole session) and returns its description,
 * or NULL when it cannot work with host->abi.
 *
 * Documented in docs/plugins.md. Plain C, no strand headers needed. */
#ifndef STRAND_PLUGIN_H
#define STRAND_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STRAND_PLUGIN_ABI 7

/* The host: opaque to plugins, passed back to every host call. */
struct strand_host;

struct strand_mapping_info {
	uint64_t start, end, offset;
	unsigned perms;       /* 1 read, 2 write, 4 exec, 8 shared */
	const char *path;     /* NULL: anonymous */
};

/* An argument of one of a thread's frames in a runtime library, as its debug
 * information locates it (ABI 5): what libc's functions were called with. */
struct strand_frame_arg {
	const char *function; /* the frame's function, "___pthread_mutex_lock" */
	const char *name;     /* the parameter, "mutex" */
	uint64_t value;       /* its value (the pointer) */
};

struct strand_thread_info {
	int32_t tid;
	uint64_t fs_base;     /* 0 when unknown (thread not stopped) */
	uint64_t sp, pc;      /* 0 when unknown */
	bool regs_known;      /* every general register below is valid */
	uint64_t gp[17];      /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
	long syscall;         /* -1: not in a system call */
	uint64_t syscall_args[6];
	/* The innermost function names of its stack, when the caller unwound it
	 * (decode_wait gets them; thread() leaves them NULL). */
	const char *const *frames;
	size_t nframes;
	/* The arguments of those frames that lie in the runtime's libraries
	 * (libc, libstdc++), where their debug information is there (ABI 5). */
	const struct strand_frame_arg *args;
	size_t nargs;
};

struct strand_module_info {
	const char *path;     /* the file as loaded (live) or as the core names it */
	uint64_t low, high;   /* mapped address range */
	uint64_t bias;        /* load bias: runtime address = file vaddr + bias */
	bool has_debug_info;  /* DWARF (or a full .symtab) is available and allowed */
};

/* What strand offers a plugin. Every call is safe on live processes and cores. */
struct strand_host_api {
	uint32_t abi;
	/* Target memory; returns bytes read (short at an unreadable page). */
	size_t (*read)(struct strand_host *h, uint64_t addr, void *buf, size_t len);
	/* A symbol's address by name, in modules whose path contains module (NULL: any). */
	bool (*lookup_symbol)(struct strand_host *h, const char *name, const char *module, uint64_t *addr,
			      uint64_t *size);
	/* The name of the symbol covering addr (NULL when none) and the offset into it. */
	const char *(*symbolize)(struct strand_host *h, uint64_t addr, uint64_t *offset);
	/* The first module whose path contains name; false if none. */
	bool (*find_module)(struct strand_host *h, const char *name, struct strand_module_info *out);
	size_t (*mapping_count)(struct strand_host *h);
	bool (*mapping)(struct strand_host *h, size_t i, struct strand_mapping_info *out);
	size_t (*thread_count)(struct strand_host *h);
	bool (*thread)(struct strand_host *h, size_t i, struct strand_thread_info *out);
	/* A value of the auxiliary vector; false if absent. */
	bool (*auxv)(struct strand_host *h, uint64_t type, uint64_t *value);
	/* A user option by name ("no-libc-symbols", ...). */
	bool (*option)(struct strand_host *h, const char *name);
	/* One line for the user, attached to the current command's output. */
	void (*warn)(struct strand_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

	/* Added in ABI 3. */
	/* During detect: why the plugin believes its allocator or runtime is in
	 * the target (or why not), one line for `info plugins` and for what the
	 * commands say was not analysed. The last call wins. */
	void (*evidence)(struct strand_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* The module that holds addr; false if none. */
	bool (*module_at)(struct strand_host *h, uint64_t addr, struct strand_module_info *out);
	/* Where the program's calls to the function name go: the address the
	 * executable's GOT holds for it once bound, else the first definition in
	 * the dynamic linker's search order (the executable, LD_PRELOAD, then the
	 * libraries it needs). false when neither is known. */
	bool (*binding)(struct strand_host *h, const char *name, uint64_t *addr);
	/* A variable of the target's environment (libc's environ, or the live
	 * process's initial one): true and its value, NUL-terminated and cut to
	 * len - 1 bytes, when it is set. */
	bool (*environment)(struct strand_host *h, const char *name, char *buf, size_t len);

	/* Added in ABI 4. */
	/* Bytes of static TLS below each thread pointer: every loaded module's
	 * PT_TLS block, aligned (an upper bound when some came in through
	 * dlopen); 0 when unknown. */
	uint64_t (*static_tls_size)(struct strand_host *h);

	/* Added in ABI 6: the target's own debug information, so that a plugin
	 * follows the layout of the runtime it finds instead of hard-coding it. */
	/* The offset and size of a member of a type named in the DWARF
	 * ("runtime.g", "sched.sp": a dotted path into nested members); member
	 * NULL: the type's size (offset 0). false when either is not described. */
	bool (*type_member)(struct strand_host *h, const char *type, const char *member, uint64_t *offset,
			    uint64_t *size);
	/* A DW_TAG_constant's value by name ("runtime._Gwaiting"). */
	bool (*constant)(struct strand_host *h, const char *name, int64_t *value);
	/* A global variable's address and size by its DWARF name ("runtime.allgs"),
	 * else by its symbol; read it with read(). */
	bool (*variable)(struct strand_host *h, const char *name, uint64_t *addr, uint64_t *size);
	/* The clock CLOCK_MONOTONIC of the target's host now (live processes);
	 * false for cores, which record no time. */
	bool (*monotonic_now)(struct strand_host *h, int64_t *ns);
	/* Why the current call fails, one line for the user (the call then
	 * returns its failure value). */
	void (*fail)(struct strand_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

/* ---- Allocators ---- */

/* Where a block is, as the allocator sees it. */
enum strand_block_state {
	STRAND_USED = 0,      /* handed out to the program */
	STRAND_TCACHE,        /* free: in a per-thread cache */
	STRAND_FASTBIN,       /* free: in a fast bin */
	STRAND_UNSORTED,      /* free: in the unsorted bin */
	STRAND_SMALLBIN,      /* free: in a small bin */
	STRAND_LARGEBIN,      /* free: in a large bin */
	STRAND_FREE,          /* free, in no list the walker followed */
	STRAND_TOP,           /* the arena's top chunk (wilderness) */
	STRAND_INTERNAL,      /* used by the allocator itself (e.g. a tcache structure) */
};

/* In strand_block.arena: keep the arena the block already has (list overlays
 * that do not know it). */
#define STRAND_ARENA_KEEP UINT32_MAX

/* One block: the address the program sees (malloc's return value) and the
 * bytes it may use there. */
struct strand_block {
	uint64_t addr;
	uint64_t usable;
	uint32_t arena;       /* index of the arena (strand_arena.index) */
	uint8_t state;        /* enum strand_block_state */
	bool mmapped;         /* a block with its own mapping */
};

struct strand_arena {
	uint32_t index;       /* 0 for the main arena, then in ring order */
	uint64_t address;     /* the allocator's arena structure, 0 if none */
	const char *kind;     /* "main", "thread", "mmap" */
	uint64_t top, top_size;
	uint64_t system_mem;  /* bytes the arena holds from the system, as the allocator counts them */
	uint32_t heaps;       /* separate regions (heap_info segments, sbrk area, mmapped chunks) */
	bool contiguous;
	/* What the walk found beside the allocator's own accounting (ABI 4):
	 * `heap` shows both, and the plugin reports a mismatch as a problem. */
	bool measured;           /* walked_mem is known: */
	uint64_t walked_mem;     /* bytes of the arena's memory the walk went through (compare system_mem) */
	bool counts_blocks;      /* the allocator keeps its own count of the arena's blocks: */
	uint64_t counted_blocks; /* that count (glibc: mp_.n_mmaps for the mmapped chunks) */
	uint32_t caches;         /* per-thread caches whose own structure lies in this arena */
	uint64_t cached_blocks;  /* the blocks those caches' own counts say they hold */
};

/* The walker reports to the host through a sink. Blocks may come in any order
 * and the same address may come again with a more precise state (a tcache
 * overlay after the walk): the last report wins. */
struct strand_heap_sink {
	void *ctx;
	void (*arena)(void *ctx, const struct strand_arena *a);
	void (*block)(void *ctx, const struct strand_block *b);
	/* Corruption found at addr; the walker goes on past it. */
	void (*problem)(void *ctx, uint64_t addr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
	/* How the allocator's state was found ("symbols", "structure"), for the user. */
	void (*discovery)(void *ctx, const char *how);
	/* The allocator's own state lies in [start, end) (an arena structure in
	 * a library's data): its pointers are bookkeeping, so the leak check
	 * never takes them for roots. */
	void (*metadata)(void *ctx, uint64_t start, uint64_t end);
};

struct strand_allocator {
	const char *name;
	/* How sure the plugin is that the target uses this allocator: 0 (not at
	 * all) to 100 (certain). The highest is the allocator in use; a heap kept
	 * beside it (objects of a language runtime over malloc) scores below
	 * glibc's 90. */
	int (*detect)(struct strand_host *h);
	/* Enumerate every block. Returns 0, or -1 when nothing could be walked (the
	 * reason through sink->problem). Must terminate on any memory contents.
	 * NULL (ABI 3): a detection-only plugin. Strand names the allocator but
	 * cannot walk it: when it is the allocator in use nothing is analysed,
	 * and when it is detected beside the one walked its memory is reported
	 * as not analysed. */
	int (*walk)(struct strand_host *h, const struct strand_heap_sink *sink);
};

/* ---- Thread runtimes ---- */

enum strand_wait_kind {
	STRAND_WAIT_UNKNOWN = 0, /* a futex the runtime cannot place */
	STRAND_WAIT_MUTEX,
	STRAND_WAIT_RWLOCK_READ,  /* a reader blocked by a writer */
	STRAND_WAIT_RWLOCK_WRITE, /* a writer blocked by readers or a writer */
	STRAND_WAIT_COND,
	STRAND_WAIT_SEMAPHORE,
	STRAND_WAIT_BARRIER,
	STRAND_WAIT_JOIN,
	STRAND_WAIT_ONCE,
};

/* How the runtime knows the kind of a wait (ABI 5). */
enum strand_wait_decoding {
	STRAND_DECODED_OBJECT = 0,    /* from the object at the futex address and the call's arguments */
	STRAND_DECODED_ARGUMENT,      /* from the object a runtime function's argument names (debug info) */
	STRAND_DECODED_NAME_GUESS,    /* neither decoded: guessed from the frames' names */
};

/* What a thread blocked in a futex waits on, decoded by the runtime. */
struct strand_wait {
	int kind;             /* enum strand_wait_kind */
	uint64_t object;      /* the sync object's address (mutex, cond, sem, ..., the joinee's descriptor) */
	int32_t owner;        /* TID that holds it and can release it; 0 none or unknown */
	uint64_t mutex;       /* a condition variable's waiter: the mutex it gave up, 0 unknown */
	int64_t value;        /* semaphore value, barrier count left, waiters on a cond: -1 unknown */
	int32_t joinee;       /* STRAND_WAIT_JOIN: the TID joined (0 when it has exited) */
	char detail[96];      /* "normal mutex", "rwlock, 2 readers" */
	int decoded_by;       /* enum strand_wait_decoding (ABI 5) */
};

/* A thread as the runtime knows it, alive or exited but not yet joined. */
struct strand_thread_desc {
	uint64_t descriptor;  /* struct pthread * (== fs_base on x86_64) */
	int32_t tid;          /* 0 once the thread has exited */
	uint64_t start_routine;
	bool joinable;        /* false: detached */
	bool exited;          /* returned or called pthread_exit */
	uint64_t stack_size;  /* bytes of stack it holds; 0 for the initial thread (the process stack) */
};

/* ---- Goroutines (ABI 6): a language runtime's own execution contexts,
 * scheduled over the threads. ---- */

enum strand_goroutine_status {
	STRAND_G_IDLE = 0,
	STRAND_G_RUNNABLE,
	STRAND_G_RUNNING,
	STRAND_G_SYSCALL,
	STRAND_G_WAITING,
	STRAND_G_DEAD,
	STRAND_G_COPYSTACK,
	STRAND_G_PREEMPTED,
	STRAND_G_OTHER,
};

struct strand_goroutine {
	uint64_t id;
	uint64_t address;         /* the runtime's descriptor (Go: the runtime.g) */
	int status;               /* enum strand_goroutine_status */
	const char *state;        /* as the runtime's own traceback names it: "chan receive", "running" */
	bool scan;                /* the garbage collector's scan bit was set */
	int64_t wait_since;       /* on the runtime's clock (ns), 0 unknown */
	int64_t wait_minutes;     /* whole minutes of the wait as the runtime prints them, -1 none */
	bool locked_to_thread;
	uint64_t sched_sp, sched_pc, sched_bp; /* where a parked one resumes */
	uint64_t syscall_sp, syscall_pc;       /* where one in a system call left its code */
	uint64_t stack_lo, stack_hi;
	int32_t tid;              /* the OS thread it runs on (running, in a system call), 0 none */
	uint64_t creator_pc;      /* the go statement that started it, 0 none */
	uint64_t start_pc;        /* its function */
	uint64_t parent_id;       /* the goroutine that started it, 0 unknown */
	bool system;              /* the runtime's own: its traceback leaves it out */
};

/* ---- What a goroutine waits on, channels and timers (ABI 7) ---- */

enum strand_goroutine_wait_kind {
	STRAND_GWAIT_NONE = 0,     /* nothing the runtime can name */
	STRAND_GWAIT_CHANNEL,      /* a send or receive on one channel */
	STRAND_GWAIT_SELECT,       /* a select: every case's channel */
	STRAND_GWAIT_SYNC,         /* a sync object's semaphore: Mutex, RWMutex, WaitGroup, ... */
	STRAND_GWAIT_IO,           /* a descriptor, through the runtime's poller: fd, and objects[0].send for a write */
	STRAND_GWAIT_FOREVER,      /* a wait nothing can ever end (a nil channel, an empty select): detail says why */
};

#define STRAND_MAX_WAIT_OBJECTS 16

struct strand_goroutine_wait {
	int kind;                 /* enum strand_goroutine_wait_kind */
	size_t nobjects;          /* all of the select's cases, even beyond the array */
	struct {
		uint64_t address; /* the channel (runtime.hchan), or the sync object */
		bool send;        /* a channel the goroutine sends on */
	} objects[STRAND_MAX_WAIT_OBJECTS];
	const char *type;         /* the sync object's type ("sync.Mutex"), NULL for channels */
	uint64_t semaphore;       /* the address the goroutine sleeps on, 0 none */
	bool held;                /* the sync object is held (a locked Mutex), by whom the runtime does not record */
	int32_t fd;               /* STRAND_GWAIT_IO: the descriptor */
	/* The runtime's own records of the wait (Go: the goroutine's sudogs),
	 * which link it to unrelated waiters: bookkeeping to look through. */
	uint64_t records[STRAND_MAX_WAIT_OBJECTS];
	size_t nrecords;
	char detail[96];          /* "held by goroutine 12", "3 waiters" */
};

#define STRAND_MAX_CHANNEL_WAITERS 32

struct strand_channel {
	uint64_t address;
	char elem_type[96];       /* "int", "main.job"; "" unknown */
	uint64_t elem_size;
	uint64_t len, cap;        /* buffered elements, buffer size */
	bool closed;
	size_t nsenders, nreceivers; /* goroutines queued to send and to receive (all, even beyond the arrays) */
	uint64_t senders[STRAND_MAX_CHANNEL_WAITERS], receivers[STRAND_MAX_CHANNEL_WAITERS]; /* their ids, in queue order */
	bool select_sender[STRAND_MAX_CHANNEL_WAITERS], select_receiver[STRAND_MAX_CHANNEL_WAITERS]; /* in a select */
};

/* One of the runtime's timers: a sleep, a time.Timer or Ticker, an AfterFunc. */
struct strand_timer {
	uint64_t address;         /* the runtime's timer */
	int32_t queue;            /* the processor (Go's P) whose heap holds it */
	int64_t when;             /* next fire, on the runtime's clock (ns) */
	int64_t period;           /* ns between fires, 0 for a one-shot */
	int64_t now;              /* the runtime's clock now (live) or its latest record (cores) */
	uint64_t function;        /* what it calls (pc) */
	uint64_t channel;         /* the channel it sends on (Timer, Ticker), 0 none */
	uint64_t goroutine;       /* the goroutine it wakes (a sleep), 0 none */
	uint64_t owner;           /* the object that embeds it (a time.Ticker's or Timer's address), 0 none */
	uint64_t owner_size;      /* its bytes */
	const char *owner_type;   /* its type's name ("time.Ticker"), NULL when there is no owner */
	const char *kind;         /* "sleep", "ticker", "timer", "func" */
};

/* A span of the runtime's own garbage-collected heap (ABI 7): objects of one
 * size, the allocated ones marked in a bitmap valid during the call. */
struct strand_heap_span {
	uint64_t start;           /* the first object */
	uint64_t object_size;
	uint64_t nobjects;
	const uint8_t *allocated; /* bit i of byte i / 8: object i is allocated */
	bool noscan;              /* its objects hold no pointers */
};

/* How the runtime's own traceback treats a frame of a goroutine (ABI 7). */
#define STRAND_FRAME_BASE 1u            /* every goroutine's stack begins there (Go: runtime.goexit): frames end */
#define STRAND_FRAME_RUNTIME 2u         /* the runtime's own code: a profile leaves its innermost run out */
#define STRAND_FRAME_HIDDEN 4u          /* the runtime's traceback leaves it out */
#define STRAND_FRAME_HIDDEN_INNERMOST 8u /* ... only as the goroutine's innermost frame (Go: runtime.gopanic) */
#define STRAND_FRAME_LIBRARY 16u        /* the runtime's or its standard library's code, not the program's */

struct strand_runtime {
	const char *name;
	int (*detect)(struct strand_host *h); /* 0..100, as allocators */
	/* Decode the futex wait of thread t (its syscall arguments and registers).
	 * false when the wait is not the runtime's. A call the kernel restarted
	 * (restart_syscall after a stop) comes as the futex call it restarts,
	 * whose arguments the registers still hold. */
	bool (*decode_wait)(struct strand_host *h, const struct strand_thread_info *t, struct strand_wait *out);
	/* Every thread descriptor, live or exited-unjoined, through fn. Returns the
	 * count, or -1 when the runtime's thread lists are not found. */
	int (*threads)(struct strand_host *h, void (*fn)(void *ctx, const struct strand_thread_desc *d), void *ctx);
	/* Bytes of the thread descriptor at the thread pointer (the TCB and what
	 * the runtime keeps in it, e.g. pthread_setspecific data); 0 unknown. */
	uint64_t (*descriptor_size)(struct strand_host *h);
	/* The memory of the thread's dynamic-TLS table (DTV) when it lies outside
	 * the heap (the main thread's): [*start, *end). false when unknown. */
	bool (*dtv_range)(struct strand_host *h, uint64_t thread_pointer, uint64_t *start, uint64_t *end);
	/* ABI 6. A runtime that only schedules goroutines over the threads
	 * leaves decode_wait, threads, descriptor_size and dtv_range NULL: it is
	 * never the thread runtime. */
	/* Every goroutine but dead ones through fn (the strings valid during the
	 * call), in the runtime's order. Returns the count, or -1 with fail(). */
	int (*goroutines)(struct strand_host *h, void (*fn)(void *ctx, const struct strand_goroutine *g), void *ctx);
	/* Whether addr lies in memory the runtime manages as its own heap (Go's
	 * arenas), with the region's start and a name for it ("Go heap arena"),
	 * so that analyses do not call it a thread's stack when the runtime runs
	 * threads on stacks inside that heap. NULL: no such heap. */
	bool (*heap_region)(struct strand_host *h, uint64_t addr, uint64_t *start, const char **what);
	/* ABI 7. What goroutine g waits on; frames are the function names of its
	 * stack, innermost first (a semaphore's owner type is known from them).
	 * false when it waits on nothing the runtime can name. */
	bool (*goroutine_wait)(struct strand_host *h, const struct strand_goroutine *g, const char *const *frames,
			       size_t nframes, struct strand_goroutine_wait *out);
	/* The channel at addr (Go: a runtime.hchan). false with fail() when it
	 * cannot be read. */
	bool (*channel)(struct strand_host *h, uint64_t addr, struct strand_channel *out);
	/* Every pending timer through fn, in no particular order. Returns the
	 * count, or -1 with fail(). */
	int (*timers)(struct strand_host *h, void (*fn)(void *ctx, const struct strand_timer *t), void *ctx);
	/* STRAND_FRAME_* for a frame of function (file: its source, NULL
	 * unknown), as the runtime's traceback treats it; NULL: 0 for all. */
	unsigned (*frame_flags)(struct strand_host *h, const char *function, const char *file);
	/* Every span of the runtime's heap in use through fn. Returns the count,
	 * or -1 with fail(). NULL: the runtime keeps no heap of its own. */
	int (*heap_spans)(struct strand_host *h, void (*fn)(void *ctx, const struct strand_heap_span *sp), void *ctx);
};

struct strand_plugin {
	uint32_t abi;                            /* STRAND_PLUGIN_ABI */
	const char *name;                        /* "glibc-malloc", "glibc-nptl", ... */
	const char *description;
	const struct strand_allocator *allocator; /* NULL when the plugin knows no allocator */
	const struct strand_runtime *runtime;     /* NULL when it knows no thread runtime */
};

typedef const struct strand_plugin *(*strand_plugin_init_fn)(const struct strand_host_api *host);

#endif
