#include "command.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "base/util.h"

volatile sig_atomic_t strand_interrupted;

static bool alias_matches(const struct command *c, const char *w)
{
	if (!c->aliases)
		return false;
	size_t wl = strlen(w);
	for (const char *p = c->aliases; *p;) {
		size_t n = strcspn(p, "|");
		if (n == wl && !strncmp(p, w, n))
			return true;
		p += n + (p[n] == '|');
	}
	return false;
}

/* How many words of `words` command c consumes (0: no match); *exact counts
 * the words typed in full rather than abbreviated. */
static int match_command(const struct command *c, char **words, int nwords, int *exact)
{
	*exact = 0;
	if (nwords > 0 && alias_matches(c, words[0])) {
		*exact = 100; /* an alias is a full name */
		return 1;
	}
	int i = 0;
	for (const char *p = c->name; *p; i++) {
		size_t len = strcspn(p, " ");
		if (i >= nwords)
			return 0;
		size_t wl = strlen(words[i]);
		if (wl > len || strncmp(p, words[i], wl))
			return 0;
		*exact += wl == len;
		p += len;
		while (*p == ' ')
			p++;
	}
	return i;
}

/* gdb writes x/4xg and print/x: "x/4xg" becomes "x /4xg". */
static char *normalize(const char *line)
{
	while (isspace((unsigned char)*line))
		line++;
	size_t head = strcspn(line, " \t/");
	if (line[head] != '/' || head == 0)
		return xstrdup(line);
	return xasprintf("%.*s %s", (int)head, line, line + head);
}

static const char *skip_words(const char *p, int n)
{
	for (int i = 0; i < n; i++) {
		while (isspace((unsigned char)*p))
			p++;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

const struct command *command_lookup(const char *line, struct args *a, char ***words_out)
{
	char *text = normalize(line);
	char **words;
	int n = split_words(text, &words);
	const struct command *best = NULL;
	int best_words = 0, best_exact = -1, ties = 0;
	for (size_t i = 0; i < command_count; i++) {
		int exact, k = match_command(&command_table[i], words, n, &exact);
		if (!k)
			continue;
		if (k > best_words || (k == best_words && exact > best_exact)) {
			best = &command_table[i];
			best_words = k;
			best_exact = exact;
			ties = 0;
		} else if (k == best_words && exact == best_exact) {
			ties++;
		}
	}
	if (!best || ties) {
		if (n == 0)
			error_set("empty command");
		else if (!best)
			error_set("Undefined command: \"%s\".  Try \"help\".", words[0]);
		else
			error_set("Ambiguous command \"%s\".", line);
		free(text);
		free(words);
		*words_out = NULL;
		return NULL;
	}
	a->name = best->name;
	a->argc = n - best_words;
	a->argv = words + best_words;
	a->rest = xstrdup(skip_words(text, best_words));
	free(text);
	*words_out = words;
	return best;
}

static int usage_error(struct session *s, const struct command *c)
{
	out_error(s->out, "usage: %s", c->usage ? c->usage : c->name);
	return -1;
}

static int check_target(struct session *s, const struct command *c)
{
	if ((c->flags & (CMD_TARGET | CMD_LIVE)) && !s->target) {
		out_error(s->out, "No process or core file: start strand with -p PID or PROGRAM CORE.");
		return -1;
	}
	if ((c->flags & CMD_LIVE) && s->target->kind != TARGET_LIVE) {
		out_error(s->out, "\"%s\" needs a live process; this is %s.", c->name, s->target->description);
		return -1;
	}
	return 0;
}

int command_run(struct session *s, const char *line)
{
	static int depth; /* thread apply runs commands inside a command */
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == '#')
		return 0;
	if (depth == 0)
		strand_interrupted = 0;
	struct args a;
	char **words;
	const struct command *c = command_lookup(p, &a, &words);
	if (!c) {
		out_begin(s->out, p);
		out_error(s->out, "%s", error_get());
		out_end(s->out);
		return -1;
	}
	if (s->target && s->target->kind == TARGET_LIVE && !s->target->stopped)
		target_invalidate(s->target); /* it runs: yesterday's bytes are stale */
	int rc;
	depth++;
	if (c->flags & CMD_NO_DOC) {
		rc = c->fn(s, &a);
	} else {
		out_begin(s->out, p);
		if (a.argc < c->min_args || (c->max_args >= 0 && a.argc > c->max_args))
			rc = usage_error(s, c);
		else if ((rc = check_target(s, c)) == 0) {
			if ((c->flags & CMD_STOPPED) && s->target && !s->target->stopped)
				session_note_moving(s);
			rc = c->fn(s, &a);
		}
		if (strand_interrupted)
			out_interrupted(s->out);
		if (out_end(s->out) < 0)
			rc = -1;
		if (s->change_output) {
			out_set_mode(s->out, s->next_output);
			s->change_output = false;
		}
	}
	depth--;
	free((char *)a.rest);
	free(words);
	return rc < 0 ? -1 : 0;
}

static void add_candidate(char ***v, size_t *n, size_t *cap, const char *word, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*v)[i]) == len && !strncmp((*v)[i], word, len))
			return;
	GROW(*v, *cap, *n + 2);
	(*v)[*n] = xmalloc(len + 1);
	memcpy((*v)[*n], word, len);
	(*v)[*n][len] = '\0';
	(*n)++;
	(*v)[*n] = NULL;
}

char **command_complete(const char *line_before_word, const char *word)
{
	char **typed;
	int ntyped = split_words(line_before_word, &typed);
	char **v = NULL;
	size_t n = 0, cap = 0;
	size_t wl = strlen(word);
	for (size_t i = 0; i < command_count; i++) {
		const char *p = command_table[i].name;
		bool ok = true;
		for (int k = 0; k < ntyped && ok; k++) {
			size_t len = strcspn(p, " ");
			ok = len && strlen(typed[k]) == len && !strncmp(p, typed[k], len);
			p += len;
			while (*p == ' ')
				p++;
		}
		size_t len = strcspn(p, " ");
		if (ok && len && !strncmp(p, word, wl))
			add_candidate(&v, &n, &cap, p, len);
		if (ntyped == 0 && command_table[i].aliases) {
			for (const char *al = command_table[i].aliases; *al;) {
				size_t al_len = strcspn(al, "|");
				if (al_len >= wl && !strncmp(al, word, wl))
					add_candidate(&v, &n, &cap, al, al_len);
				al += al_len + (al[al_len] == '|');
			}
		}
	}
	free(typed);
	if (!v) {
		v = xcalloc(1, sizeof(char *));
	}
	return v;
}
