#include "repl.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "session.h"
#include "signals.h"
#include "util.h"

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

int repl_stream(struct session *s, FILE *fp, int stop_on_error)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (!s->quit && getline(&line, &cap, fp) >= 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (command_run(s, line) < 0) {
			s->failures++;
			rc = -1;
			if (stop_on_error)
				break;
		}
	}
	free(line);
	return rc;
}
