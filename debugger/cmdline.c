#include "cmdline.h"

#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

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
	       "Exit status: 0 success, 1 a command failed, 2 usage, attach or load error.\n";
}

static int usage_error(const char *fmt, const char *arg)
{
	return error_set(fmt, arg);
}

/* ELF core (ET_CORE), other ELF, or not an ELF file / not readable. */
enum file_kind { FILE_NONE, FILE_CORE, FILE_ELF, FILE_OTHER };

static enum file_kind classify(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FILE_NONE;
	Elf64_Ehdr eh;
	ssize_t n = read(fd, &eh, sizeof(eh));
	close(fd);
	if (n < (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return FILE_OTHER;
	return eh.e_type == ET_CORE ? FILE_CORE : FILE_ELF;
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

/* A positional word: a PID, a program, a core, or the start of a command.
 * Returns 1 if it began a command. */
static int positional(struct cmdline *cl, const char *arg)
{
	if (all_digits(arg) && !cl->pid && !cl->core) {
		cl->pid = strtol(arg, NULL, 10);
		return 0;
	}
	switch (classify(arg)) {
	case FILE_CORE:
		if (!cl->core && !cl->pid) {
			cl->core = arg;
			return 0;
		}
		break;
	case FILE_ELF:
	case FILE_OTHER:
		if (!cl->program && !cl->command) {
			cl->program = arg;
			return 0;
		}
		break;
	case FILE_NONE:
		break;
	}
	return 1;
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

int cmdline_parse(int argc, char **argv, struct cmdline *cl)
{
	memset(cl, 0, sizeof(*cl));
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
			if (!val)
				return -1;
			if (!all_digits(val) || (cl->pid = strtol(val, NULL, 10)) <= 0)
				return usage_error("invalid process id: %s", val);
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
		} else if (positional(cl, a)) {
			return join_command(cl, argc, argv, i);
		}
	}
	if (cl->pid && cl->core)
		return usage_error("%s", "give a process (-p) or a core (--core), not both");
	if (cl->run && cl->no_stop)
		return usage_error("%s", "--no-stop does not apply to run: the program is stopped only as it exits");
	return 0;
}

void cmdline_free(struct cmdline *cl)
{
	free(cl->items);
	free(cl->plugins);
	free(cl->command);
	memset(cl, 0, sizeof(*cl));
}
