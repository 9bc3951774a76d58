/* source FILE: run each line as a command; stop at the first that fails, as gdb does. */
#include <stdio.h>

#include "../debugger/repl.h"
#include "commands.h"

int cmd_source(struct session *s, const struct args *a)
{
	FILE *fp = fopen(a->argv[0], "r");
	if (!fp || s->source_depth >= 16) {
		out_begin(s->out, a->rest);
		if (fp)
			out_error(s->out, "source: nested too deeply (16 levels)");
		else
			out_error(s->out, "%s: No such file or directory.", a->argv[0]);
		out_end(s->out);
		if (fp)
			fclose(fp);
		return -1;
	}
	s->source_depth++;
	int rc = repl_stream(s, fp, 1);
	s->source_depth--;
	fclose(fp);
	return rc;
}
