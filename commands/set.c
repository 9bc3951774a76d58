/* set output text|json */
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
