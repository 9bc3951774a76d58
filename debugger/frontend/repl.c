#include "repl.h"

#include <errno.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "session.h"
#include "signals.h"
#include "base/util.h"

enum { MAX_SOURCE_DEPTH = 16 };

static char *history_path(void)
{
	const char *home = getenv("HOME");
	return home ? xasprintf("%s/.strand_history", home) : NULL;
}

static char *completion_generator(const char *text, int state)
{
	static char **candidates;
	static size_t next;
	if (state == 0) {
		if (candidates) {
			for (size_t i = 0; candidates[i]; i++)
				free(candidates[i]);
			free(candidates);
		}
		char *before = xstrdup(rl_line_buffer);
		before[rl_point - (int)strlen(text) >= 0 ? rl_point - (int)strlen(text) : 0] = '\0';
		candidates = command_complete(before, text);
		free(before);
		next = 0;
	}
	return candidates[next] ? xstrdup(candidates[next++]) : NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)start;
	(void)end;
	rl_attempted_completion_over = 1; /* no file-name completion for commands */
	return rl_completion_matches(text, completion_generator);
}

/* One line from readline; Ctrl-C at the prompt abandons the line and asks again. */
static char *read_line(void)
{
	if (sigsetjmp(prompt_jump, 1)) {
		rl_free_line_state();
		rl_cleanup_after_signal();
		fputs("\n", stdout);
	}
	at_prompt = 1;
	char *line = readline("(strand) ");
	at_prompt = 0;
	return line;
}

void repl_interactive(struct session *s)
{
	char *hist = history_path();
	rl_readline_name = "strand";
	rl_attempted_completion_function = complete;
	rl_catch_signals = 0; /* strand's SIGINT handler abandons the line itself */
	using_history();
	if (hist)
		read_history(hist);
	char *last = NULL;
	while (!s->quit) {
		char *line = read_line();
		if (!line) {
			fputs("quit\n", stdout);
			break;
		}
		/* An empty line repeats the previous command, as in gdb. */
		const char *run = *line ? line : last;
		if (*line) {
			add_history(line);
			free(last);
			last = xstrdup(line);
		}
		if (run && command_run(s, run) < 0)
			s->failures++;
		free(line);
	}
	free(last);
	if (hist) {
		write_history(hist);
		history_truncate_file(hist, 1000);
	}
	free(hist);
}

/* A line longer than this is an error for that line, not a buffer that grows
 * with whatever the input holds. */
enum { MAX_LINE = 64 * 1024 };

enum line_status { LINE_OK, LINE_END, LINE_TOO_LONG, LINE_BINARY, LINE_ERROR };

/* The next line of fp, without its newline, into buf (MAX_LINE + 1 bytes). A
 * longer line keeps its first MAX_LINE bytes; skip_line reads the rest. */
static enum line_status next_line(FILE *fp, char *buf)
{
	size_t n = 0;
	int c;
	while ((c = getc(fp)) != EOF && c != '\n') {
		if (c == '\0')
			return LINE_BINARY;
		if (n == MAX_LINE) {
			buf[n] = '\0';
			return LINE_TOO_LONG;
		}
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (c == EOF && ferror(fp))
		return LINE_ERROR; /* stdin a directory: EISDIR */
	return c == EOF && n == 0 ? LINE_END : LINE_OK;
}

/* The rest of an overlong line, read and dropped. A NUL stops it too: the next
 * line then finds binary data. */
static void skip_line(FILE *fp)
{
	int c;
	while ((c = getc(fp)) != EOF && c != '\n' && c != '\0')
		;
	if (c == '\0')
		ungetc(c, fp);
}

/* A line that is not run: one document, the error in it. */
static void line_error(struct session *s, const char *command, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line_error(struct session *s, const char *command, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	out_begin(s->out, command);
	out_error(s->out, "%s", msg);
	out_end(s->out);
	free(msg);
}

/* One line as next_line read it: a command, or an error when it was too long. */
static int run_line(struct session *s, const char *name, size_t number, char *line, enum line_status st)
{
	if (st == LINE_TOO_LONG) {
		char *head = xasprintf("%.40s...", line);
		line_error(s, head, "%s:%zu: line longer than %d bytes, not run", name, number, MAX_LINE);
		free(head);
		return -1;
	}
	line[strcspn(line, "\r")] = '\0';
	return command_run(s, line);
}

int repl_stream(struct session *s, FILE *fp, const char *name, int stop_on_error)
{
	char *line = xmalloc(MAX_LINE + 1);
	int rc = 0;
	enum line_status st;
	for (size_t number = 1; !s->quit && (st = next_line(fp, line)) != LINE_END; number++) {
		if (st == LINE_BINARY || st == LINE_ERROR) {
			if (st == LINE_BINARY)
				line_error(s, "", "%s:%zu: a NUL byte: binary data, not commands; stopped reading", name,
					   number);
			else
				line_error(s, "", "%s: %s", name, strerror(errno));
			s->failures++;
			rc = -1;
			break;
		}
		if (run_line(s, name, number, line, st) < 0) {
			s->failures++;
			rc = -1;
			if (stop_on_error)
				break;
		}
		if (st == LINE_TOO_LONG)
			skip_line(fp);
	}
	free(line);
	return rc;
}

int repl_file(struct session *s, const char *path)
{
	char *label = xasprintf("source %s", path);
	FILE *fp = s->source_depth < MAX_SOURCE_DEPTH ? fopen_user_file(path, "a command file") : NULL;
	if (!fp) {
		if (s->source_depth >= MAX_SOURCE_DEPTH)
			line_error(s, label, "source: nested too deeply (%d levels)", MAX_SOURCE_DEPTH);
		else
			line_error(s, label, "%s.", error_get());
		free(label);
		s->failures++;
		return -1;
	}
	free(label);
	s->source_depth++;
	int rc = repl_stream(s, fp, path, 1);
	s->source_depth--;
	fclose(fp);
	return rc;
}
