/* The command line (gdb conventions) and command lookup (abbreviations, aliases, x/FMT). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/cmdline.h"
#include "frontend/command.h"
#include "base/util.h"

static int parse(struct cmdline *cl, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	return cmdline_parse(argc, argv, cl);
}

/* The argument vector is a compound literal: it lives to the end of the block
 * PARSE is written in, as long as the pointers into it (run_argv) are used. */
#define PARSE(cl, ...) parse(cl, (char *[]){ "strand", __VA_ARGS__, NULL })

static void pid_batch_and_ordered_commands(void **state)
{
	(void)state;
	struct cmdline cl;
	assert_int_equal(PARSE(&cl, "-p", "1234", "-batch", "-ex", "info threads", "-x", "f.gdb", "--ex=bt",
			       "--json"), 0);
	assert_int_equal(cl.pid, 1234);
	assert_true(cl.batch);
	assert_true(cl.json);
	assert_int_equal(cl.nitems, 3);
	assert_int_equal(cl.items[0].kind, ITEM_EX);
	assert_string_equal(cl.items[0].value, "info threads");
	assert_int_equal(cl.items[1].kind, ITEM_FILE);
	assert_string_equal(cl.items[2].value, "bt");
	assert_null(cl.command);
	cmdline_free(&cl);
}

static void trailing_words_are_a_command(void **state)
{
	(void)state;
	struct cmdline cl;
	assert_int_equal(PARSE(&cl, "--pid=42", "--no-stop", "report", "--error-exitcode", "3"), 0);
	assert_int_equal(cl.pid, 42);
	assert_true(cl.no_stop);
	assert_string_equal(cl.command, "report --error-exitcode 3");
	cmdline_free(&cl);
}

static void program_and_pid_positionals(void **state)
{
	(void)state;
	struct cmdline cl;
	/* /proc/self/exe is an ELF program; a number after it is a PID, as in gdb. */
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "77", "bt"), 0);
	assert_string_equal(cl.program, "/proc/self/exe");
	assert_int_equal(cl.pid, 77);
	assert_string_equal(cl.command, "bt");
	cmdline_free(&cl);
}

static void run_mode(void **state)
{
	(void)state;
	struct cmdline cl;
	assert_int_equal(PARSE(&cl, "--json", "-ex", "leaks", "run", "--leak-check", "--", "prog", "-x", "1"), 0);
	assert_true(cl.run);
	assert_true(cl.leak_check);
	assert_false(cl.follow_fork);
	assert_string_equal(cl.run_argv[0], "prog");
	assert_string_equal(cl.run_argv[1], "-x");
	assert_int_equal(cl.nitems, 1);
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "run", "--follow-fork", "prog"), 0);
	assert_true(cl.follow_fork);
	assert_string_equal(cl.run_argv[0], "prog");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "run", "--"), -1);
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "run", "--bogus", "prog"), -1);
	assert_string_equal(error_get(), "unknown option of run: --bogus");
	cmdline_free(&cl);
}

static void usage_errors(void **state)
{
	(void)state;
	struct cmdline cl;
	assert_int_equal(PARSE(&cl, "-p"), -1);
	assert_string_equal(error_get(), "option -p needs a value");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "-p", "12x"), -1);
	assert_string_equal(error_get(), "invalid process id: 12x");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "--frobnicate"), -1);
	assert_string_equal(error_get(), "unknown option: --frobnicate");
	cmdline_free(&cl);
	/* A missing core is not a usage error: loading it says why (exit 2, one line). */
	assert_int_equal(PARSE(&cl, "--core", "/nonexistent/core"), 0);
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "-p", "1", "--core", "/proc/self/exe"), -1);
	cmdline_free(&cl);
}

static void write_core_header(const char *path)
{
	Elf64_Ehdr eh = { .e_type = ET_CORE };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(&eh, sizeof(eh), 1, f), 1);
	fclose(f);
}

struct scratch_dir {
	char path[32];
	char *cwd;
};

/* An empty directory to run in, with a file named heap, a FIFO and an ELF core header. */
static int enter_scratch_dir(void **state)
{
	struct scratch_dir *d = calloc(1, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/strand-cmdline-XXXXXX");
	d->cwd = getcwd(NULL, 0);
	if (!mkdtemp(d->path) || chdir(d->path) < 0)
		return -1;
	fclose(fopen("heap", "w"));
	write_core_header("core");
	*state = d;
	return mkfifo("fifo", 0600);
}

static int leave_scratch_dir(void **state)
{
	struct scratch_dir *d = *state;
	unlink("heap");
	unlink("fifo");
	unlink("core");
	int rc = chdir(d->cwd) | rmdir(d->path);
	free(d->cwd);
	free(d);
	return rc;
}

static void positional_words(void **state)
{
	(void)state;
	struct cmdline cl;
	/* After a program, anything that exists is the core, whatever it is: opening it says what is wrong. */
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "heap"), 0);
	assert_string_equal(cl.core, "heap");
	assert_null(cl.command);
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "fifo", "bt"), 0); /* not opened: no wait for a writer */
	assert_string_equal(cl.core, "fifo");
	assert_string_equal(cl.command, "bt");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "/tmp"), 0);
	assert_string_equal(cl.core, "/tmp");
	cmdline_free(&cl);
	/* Neither a file nor a command: a core that is missing, which loading says. */
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "core.12345"), 0);
	assert_string_equal(cl.core, "core.12345");
	assert_null(cl.command);
	cmdline_free(&cl);
	/* A command, abbreviated, aliased, with a format. */
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "i", "thr"), 0);
	assert_null(cl.core);
	assert_string_equal(cl.command, "i thr");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "where"), 0);
	assert_string_equal(cl.command, "where");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "x/4xg", "$sp"), 0);
	assert_null(cl.core);
	assert_string_equal(cl.command, "x/4xg $sp");
	cmdline_free(&cl);
	/* Once a PID or a core is given, a command comes first, then the program. */
	assert_int_equal(PARSE(&cl, "-p", "12", "heap"), 0);
	assert_null(cl.program);
	assert_string_equal(cl.command, "heap");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "core", "heap"), 0);
	assert_string_equal(cl.core, "core");
	assert_string_equal(cl.command, "heap");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "--core", "core", "/proc/self/exe", "bt"), 0);
	assert_string_equal(cl.program, "/proc/self/exe");
	assert_string_equal(cl.command, "bt");
	cmdline_free(&cl);
	/* First: an ELF core is the core, another file the program; a missing word that is no command, the program. */
	assert_int_equal(PARSE(&cl, "core", "/proc/self/exe"), 0);
	assert_string_equal(cl.core, "core");
	assert_string_equal(cl.program, "/proc/self/exe");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "frobnicate"), 0);
	assert_string_equal(cl.program, "frobnicate");
	cmdline_free(&cl);
	assert_int_equal(PARSE(&cl, "help", "x"), 0);
	assert_null(cl.program);
	assert_string_equal(cl.command, "help x");
	cmdline_free(&cl);
}

static void process_ids(void **state)
{
	(void)state;
	struct cmdline cl;
	const char *bad[] = { "99999999999999999999", "2147483648", "0", "-5", "12x", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char message[64];
		snprintf(message, sizeof(message), "invalid process id: %s", bad[i]);
		assert_int_equal(PARSE(&cl, "-p", (char *)bad[i]), -1);
		assert_string_equal(error_get(), message);
		cmdline_free(&cl);
	}
	assert_int_equal(PARSE(&cl, "--pid=2147483647"), 0);
	assert_int_equal(cl.pid, 2147483647);
	cmdline_free(&cl);
	/* A number after the program, when no such file exists. */
	assert_int_equal(PARSE(&cl, "/proc/self/exe", "99999999999999999999"), -1);
	assert_string_equal(error_get(), "invalid process id: 99999999999999999999");
	cmdline_free(&cl);
}

static const char *lookup(const char *line, struct args *a)
{
	char **words;
	const struct command *c = command_lookup(line, a, &words);
	static char name[64];
	if (!c)
		return NULL;
	snprintf(name, sizeof(name), "%s", c->name);
	free(words);
	free((char *)a->rest);
	return name;
}

static void command_names_prefixes_and_aliases(void **state)
{
	(void)state;
	struct args a;
	assert_string_equal(lookup("info threads", &a), "info threads");
	assert_string_equal(lookup("i thr", &a), "info threads");
	assert_string_equal(lookup("bt full 3", &a), "backtrace");
	assert_int_equal(a.argc, 2);
	assert_string_equal(lookup("where", &a), "backtrace");
	assert_string_equal(lookup("thread apply all bt", &a), "thread apply");
	assert_string_equal(lookup("thread 2", &a), "thread");
	assert_string_equal(lookup("t a all bt", &a), "thread apply");
	assert_null(lookup("frobnicate", &a));
	assert_string_equal(error_get(), "Undefined command: \"frobnicate\".  Try \"help\".");
}

static void completion_offers_next_words(void **state)
{
	(void)state;
	char **c = command_complete("info ", "th");
	assert_non_null(c[0]);
	assert_string_equal(c[0], "threads");
	assert_null(c[1]);
	for (size_t i = 0; c[i]; i++)
		free(c[i]);
	free(c);
	c = command_complete("", "thr");
	assert_string_equal(c[0], "thread");
	for (size_t i = 0; c[i]; i++)
		free(c[i]);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pid_batch_and_ordered_commands),
		cmocka_unit_test(trailing_words_are_a_command),
		cmocka_unit_test(program_and_pid_positionals),
		cmocka_unit_test(run_mode),
		cmocka_unit_test(usage_errors),
		cmocka_unit_test_setup_teardown(positional_words, enter_scratch_dir, leave_scratch_dir),
		cmocka_unit_test(process_ids),
		cmocka_unit_test(command_names_prefixes_and_aliases),
		cmocka_unit_test(completion_offers_next_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
