/* set output text|json, set backtrace past-main [on|off] */
#include <string.h>

#include "commands.h"

int cmd_set_output(struct session *s, const struct args *a)
{
	const char *mode = a->argv[0];
	if (strcmp(mode, "text") && strcmp(mode, "json")) {
		out_error(s->out, "Undefined output format \"%s\": use text or json.", mode);
		return -1;
	}
	/* The document of this command is already open: the new mode starts with the next one. */
	s->next_output = !strcmp(mode, "json") ? OUT_JSON : OUT_TEXT;
	s->change_output = true;
	out_str(s->out, "output", mode);
	out_text(s->out, "\n");
	return 0;
}

/* gdb's setting and words: "set backtrace past-main" alone is on. */
int cmd_set_backtrace_past_main(struct session *s, const struct args *a)
{
	const char *value = a->argc ? a->argv[0] : "on";
	if (strcmp(value, "on") && strcmp(value, "off")) {
		out_error(s->out, "\"on\" or \"off\" expected.");
		return -1;
	}
	s->backtrace_past_main = !strcmp(value, "on");
	out_bool(s->out, "past_main", s->backtrace_past_main);
	return 0;
}
