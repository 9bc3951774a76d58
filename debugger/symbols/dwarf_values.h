/* Values of variables from DWARF: locations (registers, frame base, memory,
 * location lists) evaluated against a frame's unwound registers, and values
 * formatted as gdb formats them. Used by bt full, info locals/args, print and
 * by the analyses that name a stack slot ("local 'buf' in f()"). */
#ifndef STRAND_DWARF_VALUES_H
#define STRAND_DWARF_VALUES_H

#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdint.h>

#include "dwarf_types.h"
#include "frames.h"
#include "base/util.h"
#include "session.h"

enum value_kind { VAL_NONE, VAL_MEMORY, VAL_REGISTER, VAL_CONSTANT };

/* Where a value lives, with its type. */
struct value {
	enum value_kind kind;
	uint64_t addr;     /* VAL_MEMORY */
	uint64_t bits;     /* VAL_REGISTER, VAL_CONSTANT: the value itself */
	Dwarf_Die type;
	bool have_type;
	const char *why_none; /* VAL_NONE: "optimized out", ... */
	bool address_of;      /* print's &x: the value is addr, of type "pointer to type" */
	const char *register_name; /* print's $reg: bits holds it */
	const char *no_debug;      /* a symbol without DWARF: its name; only &name has a value */
	bool no_debug_text;        /* ... and it is code (gdb: "text variable") */
};

/* A frame's context for evaluating locations. */
struct value_frame {
	struct session *s;
	const struct frame *fr;          /* registers, cfa */
	const struct logical_frame *lf;  /* scopes, subprogram, bias */
};

/* The location of variable or parameter die in frame vf. */
struct value variable_value(const struct value_frame *vf, Dwarf_Die *var);
/* Format a value as gdb prints it into sb ("{a = 1, b = 0x0}"). */
void value_format(struct session *s, const struct value *v, struct strbuf *sb);
/* Whether v is a Go channel, and its pointer (the runtime's hchan, 0: nil). */
bool value_go_channel(struct session *s, const struct value *v, uint64_t *addr);
/* " <symbol+off>" for an address a symbol covers, as gdb annotates pointers. */
void value_symbol(struct session *s, uint64_t addr, struct strbuf *sb);
/* A frame's parameters or locals, one per line ("        name = value"). */
void out_frame_variables(struct session *s, const struct stack *st, size_t i, bool params, const char *indent);
/* "int *", "struct node", "char [16]". */
void type_name(Dwarf_Die *type, bool have_type, struct strbuf *sb);

enum frame_print_flags {
	FRAME_ARGS = 1 << 0,    /* "(a=1, b=2)" after the function name */
	FRAME_LOCALS = 1 << 1,  /* bt full: locals on the following lines */
	FRAME_NO_LEVEL = 1 << 2,/* no "#N  " (info threads) */
};

/* Print frame i of st as gdb does, with its arguments (and its locals for bt
 * full): "#1  0x... in f (a=1) at f.c:3". In JSON one object with level, pc,
 * function, file, line, module, inlined, args. */
void out_frame(struct session *s, const struct stack *st, size_t i, unsigned flags);

/* print EXPR: evaluate in the selected frame (locals, args) or globally.
 * Supports names, *, &, ., ->, [N], $registers and numbers. Returns false
 * with error_set(). */
bool value_eval(struct session *s, const struct value_frame *vf, const char *expr, struct value *out);

/* The stack slot or register of frame vf that holds the variable covering
 * address [addr, addr+8) of the stack: its name, or NULL. For naming roots. */
const char *frame_variable_at(const struct value_frame *vf, uint64_t addr, bool *is_param);

/* Where the global or file-static variable name, which lives at addr, is
 * declared (DW_AT_decl_file, DW_AT_decl_line), from its module's DWARF. */
bool global_declared_at(struct session *s, uint64_t addr, const char *name, const char **file, int *line);

/* The frame of st whose stack ([sp, cfa) of its physical frame) holds addr,
 * the innermost of its inlined calls; st->n if none. *var gets the variable
 * there (NULL when DWARF does not say). */
size_t stack_frame_holding(struct session *s, const struct stack *st, uint64_t addr, const char **var,
			   bool *is_param);

#endif
