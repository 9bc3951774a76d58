/* Disassembly of target memory with capstone, call and jump targets
 * symbolized: shared by x/i and disassemble. */
#ifndef STRAND_DISASM_H
#define STRAND_DISASM_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* Print up to count instructions from addr (count 0: until end, exclusive),
 * one JSON object each in the current list. mark is the pc to flag with "=>"
 * (0: none). Returns the address after the last instruction printed, or 0 if
 * nothing could be read. */
uint64_t disasm_print(struct session *s, uint64_t addr, uint64_t end, size_t count, uint64_t mark);

/* "<sym+off>" for addr into buf (the linkage name, as gdb labels code and
 * memory), or "" when no symbol covers it. */
const char *disasm_symbolic(struct session *s, uint64_t addr, char *buf, size_t len);

#endif
