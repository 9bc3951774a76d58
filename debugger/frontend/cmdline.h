/* strand's command line, in gdb's conventions:
 *   strand [options] [PROGRAM [CORE|PID]] [COMMAND WORDS...]
 *   strand -p PID | --core CORE [--exe PROGRAM] [--sysroot DIR]
 *   strand [options] run [--leak-check] [--follow-fork] [--] PROGRAM [ARGS...]
 * Options take one or two dashes (-batch, --batch) and --opt=value. The first
 * word that is not an option, a PID, a program or a core starts a command that
 * runs in batch mode; everything after it belongs to that command. Which word
 * is which: see positional() in cmdline.c and the usage text. */
#ifndef STRAND_CMDLINE_H
#define STRAND_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

enum item_kind { ITEM_EX, ITEM_FILE };

struct cmd_item {
	enum item_kind kind; /* -ex CMD or -x FILE, in the order given */
	const char *value;
};

struct cmdline {
	long pid;
	const char *program;
	const char *core;
	const char *sysroot;
	bool batch, quiet, json, no_stop, no_libc_symbols, help, version;
	struct cmd_item *items;
	size_t nitems;
	const char **plugins;
	size_t nplugins;
	char *command;   /* trailing command words, joined; NULL if none */
	bool run;        /* strand run: start a program, inspect it at exit */
	bool leak_check, follow_fork;
	char **run_argv; /* the program and its arguments (points into argv) */
};

/* Returns 0, or -1 with error_set() on a usage error (cl then holds nothing to free). */
int cmdline_parse(int argc, char **argv, struct cmdline *cl);
void cmdline_free(struct cmdline *cl);
const char *cmdline_usage(void);

#endif
