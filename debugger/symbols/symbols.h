/* Symbols, source lines and unwinding for a target, through elfutils' libdwfl.
 * Modules come from /proc/PID/maps (live) or the core's notes; unwinding reads
 * registers and memory from the target itself, so live processes and cores
 * take the same path. */
#ifndef STRAND_SYMBOLS_H
#define STRAND_SYMBOLS_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

struct symbols_opts {
	const char *exe;         /* cores: the program, when given */
	/* Module name substrings whose debug info and .symtab are ignored, as if
	 * absent (e.g. "libc.so" for --no-libc-symbols). NULL-terminated. */
	const char *const *hide_debug;
};

struct symbols;

struct symbols *symbols_open(struct target *t, const struct symbols_opts *opts);
void symbols_free(struct symbols *s);
Dwfl *symbols_dwfl(struct symbols *s);
struct target *symbols_target(struct symbols *s);

struct sym_info {
	const char *name;     /* NULL when no symbol covers the address */
	uint64_t start;       /* symbol value */
	uint64_t size;
	uint64_t offset;      /* addr - start */
	const char *module;   /* module path or name, NULL outside every module */
	uint64_t module_base; /* load bias of the module */
	uint64_t module_offset; /* addr - module start */
	bool in_program;      /* the module is the program, not a shared library */
	bool sizeless_data;   /* a data label without a size (data_start): gdb's info symbol names
				 addresses after it, its <symbol> annotations do not */
};
bool symbols_addr_info(struct symbols *s, uint64_t addr, struct sym_info *out);

/* The name of the ELF section holding addr (".text", ".bss"), NULL if none. */
const char *symbols_section(struct symbols *s, uint64_t addr);

/* Source file and line for pc; *line_addr is the first address of that line. */
bool symbols_source_line(struct symbols *s, uint64_t pc, const char **file, int *line, uint64_t *line_addr);

/* The address of a symbol by name, in any module (module != NULL: only in
 * modules whose name contains it). Data and functions. */
bool symbols_lookup(struct symbols *s, const char *name, const char *module, uint64_t *addr, uint64_t *size);

/* The name the dynamic linker gave the library around addr
 * ("/lib/x86_64-linux-gnu/libc.so.6", where the mapping says /usr/lib/...),
 * as gdb names libraries; NULL if the target's link map does not list it. */
const char *symbols_loaded_name(struct symbols *s, uint64_t addr);

/* The address of the program's main function (looked up once), false if none. */
bool symbols_main(struct symbols *s, uint64_t *addr);

/* Resolve "sym", "sym+off", "0x1234", "1234" or "$reg" (from the thread regs
 * when given). Returns false with error_set(). */
bool symbols_resolve_address(struct symbols *s, const char *expr, const struct thread *th, uint64_t *out);

/* DWARF register numbers 0..16: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#define FRAME_NREGS 17

struct frame {
	uint64_t pc;           /* as unwound: a return address for caller frames */
	uint64_t lookup_pc;    /* pc to symbolize: pc - 1 for caller frames */
	uint64_t regs[FRAME_NREGS];
	uint32_t regs_valid;   /* bit i: regs[i] is known */
	uint64_t cfa;          /* the caller's sp at the call, 0 if unknown */
	bool tailcall;         /* put back from DWARF call sites: no registers (frames.c) */
};

struct backtrace {
	struct frame *frames;
	size_t n;
	char *stop_reason;     /* why unwinding stopped early, or NULL */
};

/* Unwind a thread (at most max frames). Returns 0, or -1 when nothing could be
 * unwound (the reason in error_get()). */
int symbols_unwind(struct symbols *s, const struct thread *th, size_t max, struct backtrace *bt);
void backtrace_free(struct backtrace *bt);

/* The bytes of static TLS below the thread pointer: every loaded module's
 * PT_TLS, aligned (an upper bound when some came in through dlopen). */
uint64_t symbols_static_tls_size(struct symbols *s);

/* Each loaded module: name, path and address range; callback returns false to stop. */
struct module_info {
	const char *name;
	const char *path;
	uint64_t low, high, bias;
	bool has_symtab;
	bool has_debug_info;
	const char *debug_file;
	const unsigned char *build_id;
	int build_id_len;
};
void symbols_modules(struct symbols *s, bool (*fn)(const struct module_info *m, void *arg), void *arg);
size_t symbols_module_count(struct symbols *s);

/* A C++ or Rust symbol demangled, or a copy of name. */
char *demangle(const char *name);

/* A demangled C++ name as gdb shows it in a frame: no parameter list, no
 * qualifiers after it, and no return type (which only template functions
 * carry): "void ns::f<int>(int) const" is "ns::f<int>". In place; returns d. */
char *cxx_function_column(char *d);

#endif
