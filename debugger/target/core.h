/* The core-file target: an ELF core (from the kernel, gdb's gcore or strand's
 * own), read with libelf. Memory comes from the PT_LOAD segments; pages the
 * core left out (read-only file-backed text and data: the kernel writes
 * segments without their bytes, gdb writes no segment at all) come from the
 * files its NT_FILE note names, found at the recorded path, under --sysroot,
 * as the program named on the command line or by build-id, and used only when
 * their build-id matches the one in the core's memory, or their bytes match
 * the core's where the core records none (see core_file_matches). */
#ifndef STRAND_CORE_H
#define STRAND_CORE_H

#include "target.h"

struct core_opts {
	const char *sysroot; /* look for mapped files under this directory first */
	const char *program; /* the program named on the command line: a copy of the core's */
	/* Called once per warning (truncated core, unverifiable file, ...). */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

/* Open a core. NULL with error_set() when it is not a usable x86_64 core. */
struct target *core_open(const char *path, const struct core_opts *opts);

/* Whether program is the one the core was made from (build-ids). Returns 0,
 * or -1 with error_set() when they differ. */
int core_check_program(struct target *t, const char *program);

/* The GNU build-id of the ELF image whose header lies at base in t's memory
 * (the kernel and gdb dump that first page of every mapped ELF file), read
 * from its PT_NOTE segments. Returns its length, 0 when there is none. */
size_t core_image_build_id(struct target *t, uint64_t base, uint8_t *id, size_t max);

enum core_match {
	CORE_FILE_MATCHES,    /* same build-id */
	CORE_FILE_SAME_BYTES, /* t records no build-id at header; the pages t holds of it are the file's */
	CORE_FILE_DIFFERS,    /* another build, no build-id where one is recorded, bytes other than t's, nothing
				 to compare, or a separate debug file */
};

/* Whether the ELF file open at fd is the one core t maps with its ELF header
 * at header (0: unknown), so that its bytes may stand for pages t lacks and
 * its symbols name t's addresses. *why says why not (a static string) when
 * it differs. */
enum core_match core_file_matches(struct target *t, uint64_t header, int fd, const char **why);

/* The file that stands for the core's mapped file path (as its notes or the
 * dynamic linker name it), whose ELF header t maps at header (where its
 * notes do not say): looked for and
 * checked as for omitted pages, one warning when none matches. A new
 * descriptor on it and *found (malloc'd), or -1. */
int core_file_for(struct target *t, const char *path, uint64_t header, char **found);

/* Write the state of a stopped target as an ELF core to path, in the kernel's
 * format (notes per thread, NT_FILE, NT_AUXV). Anonymous and writable memory is
 * dumped whole; of read-only file mappings only the page holding the ELF header,
 * as the kernel does by default. Returns 0, or -1 with error_set(). */
int core_write(struct target *t, const char *path, uint64_t *bytes_written);

#endif
