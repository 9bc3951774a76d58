/* A module's named top-level DWARF entries (types, constants, global
 * variables), indexed by name once per module and session: what a runtime
 * plugin asks for to follow the layout of the runtime it finds (runtime.g's
 * members, runtime._Gwaiting, runtime.allgs) instead of hard-coding it. */
#ifndef STRAND_DWARF_NAMES_H
#define STRAND_DWARF_NAMES_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdint.h>

/* Each looks in first (when not NULL), then in every module of dwfl. */

/* The offset and size of member (a dotted path: "sched.sp") of the type
 * name; member NULL: the type's size, offset 0. */
bool dwarf_names_member(Dwfl *dwfl, Dwfl_Module *first, const char *name, const char *member, uint64_t *offset,
			uint64_t *size);
/* A DW_TAG_constant's value. */
bool dwarf_names_constant(Dwfl *dwfl, Dwfl_Module *first, const char *name, int64_t *value);
/* A global variable's run-time address (DW_OP_addr) and its type's size. */
bool dwarf_names_variable(Dwfl *dwfl, Dwfl_Module *first, const char *name, uint64_t *addr, uint64_t *size);

/* The name of the Go type ("*main.node") whose runtime._type lies offset
 * bytes past the symbol runtime.types (DWARF's DW_AT_go_runtime_type), NULL
 * if no type has it. */
const char *dwarf_names_go_type(Dwfl *dwfl, uint64_t offset);

/* Forget every index (the session's modules are gone). */
void dwarf_names_reset(void);

#endif
