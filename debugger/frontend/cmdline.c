#include "cmdline.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "base/util.h"

const char *cmdline_usage(void)
{
	return "Usage: strand [options] -p PID [COMMAND...]\n"
	       "       strand [options] PROGRAM CORE [COMMAND...]\n"
	       "       strand [options] --core CORE [--exe PROGRAM] [--sysroot DIR] [COMMAND...]\n"
	       "       strand [options] run [--leak-check] [--follow-fork] [--] PROGRAM [ARGS...]\n"
	       "\n"
	       "Find what is stranded in a process or a core dump: blocked threads, leaked memory.\n"
	       "\n"
	       "Options:\n"
	       "  -p, --pid PID        attach to a running process (stops it briefly; see --no-stop)\n"
	       "  -c, --core CORE      open a core dump\n"
	       "  -e, --exe PROGRAM    the program that produced the core\n"
	       "  --sysroot DIR        look for the core's libraries under DIR\n"
	       "  --no-stop            inspect a live process without stopping any thread\n"
	       "  -batch               run -ex/-x commands, then exit\n"
	       "  -ex CMD              run CMD (repeatable, in order)\n"
	       "  -x FILE              run the commands in FILE\n"
	       "  --json               one JSON document per command (JSON Lines)\n"
	       "  --plugin PATH        load an allocator or runtime plugin\n"
	       "  --no-libc-symbols    ignore libc's debug info (as on a machine without it)\n"
	       "  -q, -quiet           no banner\n"
	       "  --version, --help\n"
	       "\n"
	       "Words after the options: PROGRAM, then CORE or PID, then a command. After the program, a\n"
	       "word naming a file that exists is the core, a number the PID, a word that starts a command\n"
	       "(or an abbreviation of one) the command; any other word is a core, missing. Once -p or a core\n"
	       "is given, a command comes first: strand -p PID heap runs heap even where a file named heap is.\n"
	       "\n"
	       "Exit status: 0 success, 1 a command failed, 2 usage, attach or load error.\n";
}

static int usage_error(const char *fmt, const char *arg)
{
	return error_set(fmt, arg);
}

/* Whether path is a regular file that starts as an ELF core (ET_CORE). */
static bool is_core_file(const char *path)
{
	int fd = open_user_file(path, "a core");
	if (fd < 0)
		return false;
	Elf64_Ehdr eh;
	ssize_t n = read(fd, &eh, sizeof(eh));
	close(fd);
	return n == (ssize_t)sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_type == ET_CORE;
}

/* Whether anything, of any kind, exists at path. */
static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Whether word starts a command: the first word of a command's name or an
 * abbreviation of it (`info`, `i`, `bt`, `x/4xg`), or an alias. */
static bool starts_command(const char *word)
{
	size_t len = strcspn(word, "/");
	if (!len)
		return false; /* a path */
	char *name = xstrndup(word, len);
	char **candidates = command_complete("", name);
	bool found = candidates[0] != NULL;
	for (size_t i = 0; candidates[i]; i++)
		free(candidates[i]);
	free(candidates);
	free(name);
	return found;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A process id: decimal digits, 1 to the largest pid_t. Returns 0, or -1 with
 * error_set() (-p 99999999999999999999 once went on to attach to "process -1"). */
static int parse_pid(const char *text, long *pid)
{
	errno = 0;
	long v = all_digits(text) ? strtol(text, NULL, 10) : 0;
	if (errno || v <= 0 || v > INT_MAX)
		return usage_error("invalid process id: %s", text);
	*pid = v;
	return 0;
}

/* Match "-name", "--name" and "--name=value". *value is set for the = form. */
static bool is_opt(const char *arg, const char *name, const char **value)
{
	*value = NULL;
	if (arg[0] != '-')
		return false;
	const char *a = arg + 1 + (arg[1] == '-');
	size_t n = strlen(name);
	if (strncmp(a, name, n))
		return false;
	if (a[n] == '=') {
		*value = a + n + 1;
		return true;
	}
	return a[n] == '\0';
}

static void add_item(struct cmdline *cl, enum item_kind kind, const char *value)
{
	cl->items = xrealloc(cl->items, (cl->nitems + 1) * sizeof(*cl->items));
	cl->items[cl->nitems++] = (struct cmd_item){ kind, value };
}

static void add_plugin(struct cmdline *cl, const char *path)
{
	cl->plugins = xrealloc(cl->plugins, (cl->nplugins + 1) * sizeof(*cl->plugins));
	cl->plugins[cl->nplugins++] = path;
}

/* A positional word: a program, a core, a PID, or the first word of a
 * command. Returns 1 if it begins a command, 0 if not, -1 on a usage error.
 *
 * Once the target is given (a PID or a core), a word is a command when it
 * starts one (`strand -p PID heap` runs heap even where a file named heap
 * exists), else the program when it names a file. Before that, a word that
 * names anything that exists is the program, or the core (after a program, or
 * an ELF core in first place): opening it then says what is wrong with it, a
 * directory, a FIFO, not an ELF file, an executable. A number is a PID; a word
 * that starts a command begins one; any other word is the program or the core,
 * missing, and loading it says so. */
static int positional(struct cmdline *cl, const char *arg)
{
	if (cl->pid || cl->core) {
		if (cl->program || starts_command(arg) || !exists(arg))
			return 1;
		cl->program = arg;
		return 0;
	}
	if (!exists(arg)) {
		if (all_digits(arg))
			return parse_pid(arg, &cl->pid);
		if (starts_command(arg))
			return 1;
	}
	if (cl->program)
		cl->core = arg;
	else if (is_core_file(arg))
		cl->core = arg;
	else
		cl->program = arg;
	return 0;
}

static const char *take_value(int argc, char **argv, int *i, const char *inline_value, const char *opt)
{
	if (inline_value)
		return inline_value;
	if (*i + 1 >= argc) {
		usage_error("option %s needs a value", opt);
		return NULL;
	}
	return argv[++*i];
}

static int join_command(struct cmdline *cl, int argc, char **argv, int from)
{
	struct strbuf sb = STRBUF_INIT;
	for (int k = from; k < argc; k++) {
		if (k > from)
			sb_addc(&sb, ' ');
		sb_adds(&sb, argv[k]);
	}
	cl->command = sb_detach(&sb);
	return 0;
}

/* strand run [--leak-check] [--follow-fork] [--] PROGRAM [ARGS...] */
static int parse_run(struct cmdline *cl, int argc, char **argv, int i)
{
	cl->run = true;
	for (; i < argc; i++) {
		const char *v;
		if (is_opt(argv[i], "leak-check", &v))
			cl->leak_check = true;
		else if (is_opt(argv[i], "follow-fork", &v))
			cl->follow_fork = true;
		else if (!strcmp(argv[i], "--"))
			break;
		else if (argv[i][0] == '-')
			return usage_error("unknown option of run: %s", argv[i]);
		else
			break;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc)
		return usage_error("%s", "run needs a program: strand run [--leak-check] -- PROGRAM [ARGS...]");
	cl->run_argv = argv + i;
	return 0;
}

static int parse_words(int argc, char **argv, struct cmdline *cl)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "run") && !cl->pid && !cl->core && !cl->program) {
			if (parse_run(cl, argc, argv, i + 1) < 0)
				return -1;
			break;
		} else if (!strcmp(a, "--")) {
			return i + 1 < argc ? join_command(cl, argc, argv, i + 1) : 0;
		} else if (is_opt(a, "p", &v) || is_opt(a, "pid", &v)) {
			const char *val = take_value(argc, argv, &i, v, a);
			if (!val || parse_pid(val, &cl->pid) < 0)
				return -1;
		} else if (is_opt(a, "c", &v) || is_opt(a, "core", &v)) {
			if (!(cl->core = take_value(argc, argv, &i, v, a)))
				return -1;
		} else if (is_opt(a, "e", &v) || is_opt(a, "exe", &v) || is_opt(a, "se", &v)) {
			if (!(cl->program = take_value(argc, argv, &i, v, a)))
				return -1;
		} else if (is_opt(a, "sysroot", &v)) {
			if (!(cl->sysroot = take_value(argc, argv, &i, v, a)))
				return -1;
		} else if (is_opt(a, "ex", &v) || is_opt(a, "eval-command", &v)) {
			const char *val = take_value(argc, argv, &i, v, a);
			if (!val)
				return -1;
			add_item(cl, ITEM_EX, val);
		} else if (is_opt(a, "x", &v) || is_opt(a, "command", &v)) {
			const char *val = take_value(argc, argv, &i, v, a);
			if (!val)
				return -1;
			add_item(cl, ITEM_FILE, val);
		} else if (is_opt(a, "plugin", &v)) {
			const char *val = take_value(argc, argv, &i, v, a);
			if (!val)
				return -1;
			add_plugin(cl, val);
		} else if (is_opt(a, "batch", &v)) {
			cl->batch = true;
		} else if (is_opt(a, "q", &v) || is_opt(a, "quiet", &v) || is_opt(a, "silent", &v)) {
			cl->quiet = true;
		} else if (is_opt(a, "nx", &v) || is_opt(a, "n", &v)) {
			/* gdb's "no init file": strand reads none anyway */
		} else if (is_opt(a, "json", &v)) {
			cl->json = true;
		} else if (is_opt(a, "no-stop", &v)) {
			cl->no_stop = true;
		} else if (is_opt(a, "no-libc-symbols", &v)) {
			cl->no_libc_symbols = true;
		} else if (is_opt(a, "h", &v) || is_opt(a, "help", &v)) {
			cl->help = true;
		} else if (is_opt(a, "version", &v) || is_opt(a, "v", &v)) {
			cl->version = true;
		} else if (a[0] == '-' && a[1]) {
			return usage_error("unknown option: %s", a);
		} else {
			int rc = positional(cl, a);
			if (rc < 0)
				return -1;
			if (rc > 0)
				return join_command(cl, argc, argv, i);
		}
	}
	if (cl->pid && cl->core)
		return usage_error("%s", "give a process (-p) or a core (--core), not both");
	if (cl->run && cl->no_stop)
		return usage_error("%s", "--no-stop does not apply to run: the program is stopped only as it exits");
	return 0;
}

int cmdline_parse(int argc, char **argv, struct cmdline *cl)
{
	memset(cl, 0, sizeof(*cl));
	if (parse_words(argc, argv, cl) == 0)
		return 0;
	cmdline_free(cl); /* nothing is kept of a refused command line */
	return -1;
}

void cmdline_free(struct cmdline *cl)
{
	free(cl->items);
	free(cl->plugins);
	free(cl->command);
	memset(cl, 0, sizeof(*cl));
}
