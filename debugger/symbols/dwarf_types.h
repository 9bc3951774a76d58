/* DWARF type helpers on libdw alone, shared by the value printer
 * (dwarf_values.c) and the name index (dwarf_names.c). */
#ifndef STRAND_DWARF_TYPES_H
#define STRAND_DWARF_TYPES_H

#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdint.h>

/* The DIE's DW_AT_type (through DW_AT_abstract_origin and specification). */
bool die_type(Dwarf_Die *die, Dwarf_Die *type);
/* Through typedefs and qualifiers to the type that decides the format. */
bool strip_type(Dwarf_Die *type, Dwarf_Die *out);
/* A type's size in bytes; 0 when unknown. */
uint64_t type_size(Dwarf_Die *type);

#endif
