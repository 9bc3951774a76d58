/* The command table and dispatch. Each command lives in commands/NAME.c; the
 * table that names them all is commands/table.c. Names may have several words
 * ("info threads"); each word may be abbreviated to a unique prefix, as in gdb. */
#ifndef STRAND_COMMAND_H
#define STRAND_COMMAND_H

#include <stddef.h>

struct session;

struct args {
	int argc;          /* words after the command name */
	char **argv;
	const char *rest;  /* the text after the command name, as typed (trimmed) */
	const char *name;  /* the command's full name */
};

typedef int (*command_fn)(struct session *s, const struct args *a);

enum command_flags {
	CMD_TARGET = 1 << 0,  /* needs a target */
	CMD_STOPPED = 1 << 1, /* wants every thread stopped: notes a moving target under --no-stop */
	CMD_LIVE = 1 << 2,    /* needs a live process */
	CMD_NO_DOC = 1 << 3,  /* emits its own documents (thread apply, source) */
};

struct command {
	const char *name;     /* "info threads" */
	const char *aliases;  /* "bt|where", or NULL */
	command_fn fn;
	unsigned flags;
	int min_args, max_args; /* -1: no maximum */
	const char *usage;
	const char *summary;  /* one line for `help` */
};

extern const struct command command_table[];
extern const size_t command_count;

/* Find the command a line starts with. On success fills a (argv points into
 * *words, which the caller frees) and returns the command; NULL with
 * error_set() when nothing or several commands match. */
const struct command *command_lookup(const char *line, struct args *a, char ***words);

/* Run one command line: one output document. Returns 0, or -1 if it failed. */
int command_run(struct session *s, const char *line);

/* Completion: the candidates for the word being typed, given the words before
 * it. Returns a NULL-terminated malloc'd array of malloc'd strings. */
char **command_complete(const char *line_before_word, const char *word);

#endif
