/* A thread's stack as the user sees it: physical frames from the unwinder,
 * each expanded into its inlined calls (innermost first), numbered as gdb
 * numbers them, with function, source line and module. */
#ifndef STRAND_FRAMES_H
#define STRAND_FRAMES_H

#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

struct session;

struct logical_frame {
	size_t phys;            /* index into stack.bt.frames */
	uint64_t pc;            /* the pc shown */
	char *function;         /* demangled; NULL when unknown */
	uint64_t func_offset;   /* pc - function start, when known from the symbol table */
	char *file;             /* source file, NULL when unknown */
	int line;
	const char *module;     /* path of the module, NULL outside every module */
	bool in_program;        /* the module is the program: gdb names only libraries ("from LIB") */
	const char *loaded_as;  /* the library's name in the dynamic linker's list, NULL if unknown */
	uint64_t module_offset; /* pc - the module's start */
	bool show_address;      /* gdb shows the pc unless it is the first of a line */
	bool inlined;           /* an inlined call within the physical frame */
	bool signal;            /* the signal trampoline: "<signal handler called>" */
	/* DWARF scopes for arguments and locals, innermost first: lexical blocks
	 * around the pc, then the function (subprogram or inlined_subroutine) last.
	 * nscopes == 0 when there is no debug info. */
	Dwarf_Die *scopes;
	int nscopes;
	Dwarf_Die subprogram;   /* the physical frame's function: its frame base */
	Dwarf_Addr bias;        /* module load bias */
};

struct stack {
	struct backtrace bt;
	struct logical_frame *f;
	size_t n;
};

/* Unwind and expand a thread's stack. Returns -1 (error_get()) if nothing unwinds. */
int stack_build(struct session *s, const struct thread *th, struct stack *st);
/* The same from frames already unwound (a goroutine's, from its saved
 * registers): takes bt's frames over. */
void stack_build_from(struct session *s, struct backtrace *bt, struct stack *st);
void stack_free(struct stack *st);

/* A symbol as people read it (malloc'd): demangled, without its version
 * ("clock_nanosleep@GLIBC_2.2.5") or gcc's numbering of a function's static
 * ("second.0"), as gdb shows it. */
char *symbol_for_people(const char *name);
/* "name" or "name+off" for an address a symbol covers (malloc'd), NULL if none:
 * gdb's <symbol> annotation, which a sizeless data label never gives. */
char *symbol_offset_for_people(struct symbols *s, uint64_t addr);
/* The same with the symbol's linkage name, as gdb labels addresses in x and
 * disassembly (its asm-demangle is off): "<_Z5g_strB5cxx11>". */
char *symbol_offset_as_linkage(struct symbols *s, uint64_t addr);

#endif
