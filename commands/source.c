/* source FILE: run each line as a command; stop at the first that fails, as gdb does. */
#include "frontend/repl.h"
#include "commands.h"

int cmd_source(struct session *s, const struct args *a)
{
	return repl_file(s, a->argv[0]);
}
