#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmdline.h"
#include "command.h"
#include "target/core.h"
#include "target/live.h"
#include "analysis/plugin.h"
#include "repl.h"
#include "target/run.h"
#include "session.h"
#include "signals.h"
#include "base/util.h"

#define STRAND_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_COMMAND_FAILED = 1, EXIT_USAGE = 2 };

static void warn_stderr(void *arg, const char *msg)
{
	out_stderr_warning(arg, msg);
}

/* A load error: one line, and in JSON mode also one document. */
static int load_error(struct session *s, const char *what)
{
	if (out_json(s->out)) {
		out_begin(s->out, what);
		out_error(s->out, "%s", error_get());
		out_end(s->out);
	}
	fflush(stdout);
	fprintf(stderr, "strand: %s\n", error_get());
	return -1;
}

static int open_target(struct session *s, const struct cmdline *cl)
{
	/* libdwfl opens the program itself, and would wait forever on a FIFO. */
	if (cl->program && check_user_file(cl->program, "a program") < 0)
		return load_error(s, "program");
	if (cl->pid) {
		struct attach_opts ao = { .no_stop = cl->no_stop, .warn = warn_stderr, .warn_arg = s->out };
		s->target = live_attach((pid_t)cl->pid, &ao);
		if (!s->target)
			return load_error(s, "attach");
	} else if (cl->core) {
		struct core_opts co = { .sysroot = cl->sysroot, .program = cl->program, .warn = warn_stderr,
					 .warn_arg = s->out };
		s->target = core_open(cl->core, &co);
		if (!s->target)
			return load_error(s, "core");
		if (cl->program && core_check_program(s->target, cl->program) < 0)
			return load_error(s, "core");
	} else {
		return 0;
	}
	s->thread = s->target->initial_thread;
	s->symbols = symbols_open(s->target, &s->symbols_opts);
	if (!s->symbols)
		return load_error(s, "symbols");
	plugin_find_thread_pointers(s);
	return 0;
}

static void banner(struct session *s)
{
	struct target *t = s->target;
	if (!t) {
		printf("strand %s: no target. Start with -p PID or PROGRAM CORE; \"help\" lists commands.\n",
		       STRAND_VERSION);
		return;
	}
	printf("%s %s (%s): %zu thread%s%s.\n", t->kind == TARGET_LIVE ? "Attached to" : "Core of",
	       t->description, t->exe ? t->exe : "?", t->nthreads, t->nthreads == 1 ? "" : "s",
	       t->kind != TARGET_LIVE ? "" : t->stopped ? ", stopped" : ", not stopped (--no-stop)");
}

static int run_items(struct session *s, const struct cmdline *cl)
{
	int rc = 0;
	for (size_t i = 0; i < cl->nitems && !s->quit; i++) {
		const struct cmd_item *it = &cl->items[i];
		if (it->kind == ITEM_EX) {
			if (command_run(s, it->value) < 0) {
				s->failures++;
				rc = -1;
			}
			continue;
		}
		if (repl_file(s, it->value) < 0)
			rc = -1;
	}
	return rc;
}

struct run_ctx {
	struct session *s;
	const struct cmdline *cl;
};

/* strand run: the program is exiting; every thread is held. Run the commands. */
static void inspect_at_exit(struct target *t, void *arg)
{
	struct run_ctx *c = arg;
	struct session *s = c->s;
	s->target = t;
	s->thread = t->initial_thread;
	s->frame = 0;
	s->symbols = symbols_open(t, &s->symbols_opts);
	if (!s->symbols) {
		load_error(s, "symbols");
		s->failures++;
	} else {
		plugin_find_thread_pointers(s);
		run_items(s, c->cl);
		if (c->cl->leak_check && command_run(s, "leaks") < 0)
			s->failures++;
		if (c->cl->command && command_run(s, c->cl->command) < 0)
			s->failures++;
	}
	session_forget_heap(s);
	symbols_free(s->symbols);
	s->symbols = NULL;
	s->target = NULL;
}

/* gdb's words for how the program ended; strand exits the same way. */
static int report_exit(struct session *s, pid_t pid, int status)
{
	struct out *o = s->out;
	out_begin(o, "run");
	out_text(o, "[Inferior 1 (process ");
	out_int(o, "pid", pid);
	if (WIFSIGNALED(status)) {
		out_text(o, ") terminated with signal ");
		out_str(o, "signal", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
		out_null(o, "exit_code");
	} else {
		out_hide_text(o, true);
		out_null(o, "signal");
		out_int(o, "exit_code", WEXITSTATUS(status));
		out_hide_text(o, false);
		if (WEXITSTATUS(status))
			out_text(o, ") exited with code %02o", WEXITSTATUS(status));
		else
			out_text(o, ") exited normally");
	}
	out_text(o, "]\n");
	out_end(o);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int run_mode(struct session *s, const struct cmdline *cl)
{
	struct run_ctx ctx = { s, cl };
	struct run_opts o = { .argv = cl->run_argv, .follow_fork = cl->follow_fork, .at_exit = inspect_at_exit,
			      .arg = &ctx };
	pid_t pid = 0;
	o.started = &pid;
	int status = run_program(&o);
	if (status < 0) {
		load_error(s, "run");
		return EXIT_USAGE;
	}
	int code = report_exit(s, pid, status);
	return s->exit_code ? s->exit_code : code;
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	if (cmdline_parse(argc, argv, &cl) < 0) {
		fprintf(stderr, "strand: %s\nTry 'strand --help'.\n", error_get());
		return EXIT_USAGE;
	}
	if (cl.help || cl.version) {
		fputs(cl.help ? cmdline_usage() : "strand " STRAND_VERSION "\n", stdout);
		cmdline_free(&cl);
		return EXIT_OK;
	}
	static const char *const libc_names[] = { "libc.so", "libc-", NULL };
	struct session s = { 0 };
	s.out = out_new(cl.json ? OUT_JSON : OUT_TEXT, stdout, stderr);
	s.no_stop = cl.no_stop;
	s.symbols_opts.exe = cl.program;
	s.symbols_opts.hide_debug = cl.no_libc_symbols ? libc_names : NULL;
	for (size_t i = 0; i < cl.nplugins; i++)
		if (plugin_load(cl.plugins[i]) < 0) {
			fprintf(stderr, "strand: %s\n", error_get());
			out_free(s.out);
			cmdline_free(&cl);
			return EXIT_USAGE;
		}
	bool batch = cl.batch || cl.command || cl.run;
	s.interactive = !batch && isatty(STDIN_FILENO);
	signals_install(s.interactive);
	int status = EXIT_OK;
	if (cl.run) {
		status = run_mode(&s, &cl);
	} else if (open_target(&s, &cl) < 0) {
		status = EXIT_USAGE;
	} else {
		if (s.interactive && !cl.quiet && !cl.json)
			banner(&s);
		run_items(&s, &cl);
		if (cl.command && !s.quit && command_run(&s, cl.command) < 0)
			s.failures++;
		if (!batch && !s.quit) {
			if (s.interactive)
				repl_interactive(&s);
			else
				repl_stream(&s, stdin, "stdin", 0);
		}
		status = s.exit_code ? s.exit_code : s.failures ? EXIT_COMMAND_FAILED : EXIT_OK;
	}
	session_forget_heap(&s);
	symbols_free(s.symbols);
	target_free(s.target);
	out_free(s.out);
	plugins_unload();
	cmdline_free(&cl);
	return status;
}
