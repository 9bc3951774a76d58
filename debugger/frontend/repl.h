/* Front ends: the interactive readline prompt and batch input (files, stdin). */
#ifndef STRAND_REPL_H
#define STRAND_REPL_H

#include <stdio.h>

struct session;

/* Read commands at a prompt until quit or end of input. */
void repl_interactive(struct session *s);
/* Run each line of fp; name names it in errors ("stdin", a file). A line
 * longer than 64 KiB is an error and is not run; binary data (a NUL byte) stops
 * the reading. stop_on_error: stop at the first failure (gdb's -x and `source`).
 * Returns -1 if a line failed. */
int repl_stream(struct session *s, FILE *fp, const char *name, int stop_on_error);
/* source FILE and -x FILE: run the commands in the file at path, stopping at
 * the first that fails. A path that cannot be opened, or is not a regular
 * file, is one error document. Returns -1 if anything failed. */
int repl_file(struct session *s, const char *path);

#endif
