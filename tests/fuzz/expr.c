/* libFuzzer harness: print's expression parser and evaluator
 * (debugger/symbols/dwarf_values.c, commands/print.c) on arbitrary text, in a session
 * over a core of the values fixture (names need its DWARF): STRAND_FUZZ_CORE
 * and STRAND_FUZZ_PROGRAM, by default build/fuzz/values.core (make fuzz makes
 * it) and build/tests/targets/values. The first byte selects the thread (low
 * 4 bits), the frame (next 3) and JSON output (top bit); the rest is the
 * expression, run as "print EXPR" through the command dispatcher. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/command.h"
#include "target/core.h"
#include "analysis/plugin.h"
#include "session.h"
#include "base/util.h"

static struct session s;

static void ignore_warning(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *core = getenv("STRAND_FUZZ_CORE"), *program = getenv("STRAND_FUZZ_PROGRAM");
	core = core ? core : "build/fuzz/values.core";
	program = program ? program : "build/tests/targets/values";
	FILE *null = fopen("/dev/null", "w");
	if (!null)
		abort();
	s.out = out_new(OUT_TEXT, null, null);
	s.symbols_opts.exe = program;
	struct core_opts co = { .warn = ignore_warning };
	s.target = core_open(core, &co);
	s.symbols = s.target ? symbols_open(s.target, &s.symbols_opts) : NULL;
	if (!s.symbols) {
		fprintf(stderr, "expr harness: cannot open %s with %s: %s\n", core, program, error_get());
		exit(1);
	}
	plugin_find_thread_pointers(&s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	s.thread = (data[0] & 15) % s.target->nthreads;
	s.frame = (data[0] >> 4) & 7;
	out_set_mode(s.out, (data[0] & 128) ? OUT_JSON : OUT_TEXT);
	char *line = xasprintf("print %.*s", (int)(size - 1), (const char *)data + 1);
	command_run(&s, line);
	free(line);
	return 0;
}
