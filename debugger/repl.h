/* Front ends: the interactive readline prompt and batch input (files, stdin). */
#ifndef STRAND_REPL_H
#define STRAND_REPL_H

#include <stdio.h>

struct session;

/* Read commands at a prompt until quit or end of input. */
void repl_interactive(struct session *s);
/* Run each line of fp. stop_on_error: stop at the first failure (gdb's -x and
 * `source`). Returns -1 if a command failed. */
int repl_stream(struct session *s, FILE *fp, int stop_on_error);

#endif
