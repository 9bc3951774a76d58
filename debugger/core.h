/* The core-file target: an ELF core (from the kernel, gdb's gcore or strand's
 * own), read with libelf. Memory comes from the PT_LOAD segments; pages the
 * core left out (read-only file-backed text) come from the files its NT_FILE
 * note names, when their build-id matches. */
#ifndef STRAND_CORE_H
#define STRAND_CORE_H

#include "target.h"

struct core_opts {
	const char *sysroot; /* look for mapped files under this directory first */
	/* Called once per warning (truncated core, unverifiable file, ...). */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

/* Open a core. NULL with error_set() when it is not a usable x86_64 core. */
struct target *core_open(const char *path, const struct core_opts *opts);

/* Whether program is the one the core was made from (build-ids). Returns 0,
 * or -1 with error_set() when they differ. */
int core_check_program(struct target *t, const char *program);

/* Write the state of a stopped target as an ELF core to path, in the kernel's
 * format (notes per thread, NT_FILE, NT_AUXV). Anonymous and writable memory is
 * dumped whole; of read-only file mappings only the page holding the ELF header,
 * as the kernel does by default. Returns 0, or -1 with error_set(). */
int core_write(struct target *t, const char *path, uint64_t *bytes_written);

#endif
