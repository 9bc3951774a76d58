/* libFuzzer harness: the command line and the command dispatcher, without a
 * target. The input's NUL-separated words are strand's argv for
 * cmdline_parse (debugger/frontend/cmdline.c); the same words joined by spaces are one
 * REPL line, split, looked up and run by command_run (debugger/frontend/command.c) and
 * completed by command_complete. `source` and `plugin load` are looked up but
 * not run: they would read or dlopen whatever file the input names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cmdline.h"
#include "frontend/command.h"
#include "session.h"
#include "base/util.h"

#define MAX_WORDS 256

static struct session s;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FILE *null = fopen("/dev/null", "w");
	if (!null)
		abort();
	s.out = out_new(OUT_TEXT, null, null);
	return 0;
}

static void parse_argv(char *words, size_t size)
{
	char *argv[MAX_WORDS + 2] = { "strand" };
	int argc = 1;
	for (size_t at = 0; at < size && argc <= MAX_WORDS; at += strlen(words + at) + 1)
		argv[argc++] = words + at;
	argv[argc] = NULL;
	struct cmdline cl;
	if (cmdline_parse(argc, argv, &cl) == 0)
		cmdline_free(&cl);
}

static void run_line(const char *line)
{
	struct args a;
	char **words;
	const struct command *c = command_lookup(line, &a, &words);
	bool runs = !c || (strcmp(c->name, "source") && strcmp(c->name, "plugin load"));
	if (c) {
		free((char *)a.rest);
		free(words);
	}
	if (runs)
		command_run(&s, line);
	s.quit = false;
	out_set_mode(s.out, OUT_TEXT);
	const char *last = strrchr(line, ' ');
	char *before = xstrndup(line, last ? (size_t)(last - line) : 0);
	char **v = command_complete(before, last ? last + 1 : line);
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
	free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words = xmalloc(size + 1);
	memcpy(words, data, size);
	words[size] = '\0';
	parse_argv(words, size);
	for (size_t i = 0; i < size; i++)
		if (!words[i])
			words[i] = ' ';
	run_line(words);
	free(words);
	return 0;
}
