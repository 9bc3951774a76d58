/* quit [EXIT-CODE], detach */
#include <stdlib.h>

#include "base/util.h"
#include "commands.h"

int cmd_quit(struct session *s, const struct args *a)
{
	long code = 0;
	if (a->argc && !parse_int(a->argv[0], &code)) {
		out_error(s->out, "Invalid exit code \"%s\".", a->argv[0]);
		return -1;
	}
	s->quit = true;
	if (a->argc)
		s->exit_code = (int)code;
	return 0;
}

int cmd_detach(struct session *s, const struct args *a)
{
	(void)a;
	struct target *t = s->target;
	out_text(s->out, "[Inferior 1 (");
	out_str(s->out, "target", t->description);
	out_text(s->out, ") detached]\n");
	symbols_free(s->symbols);
	target_free(t);
	s->symbols = NULL;
	s->target = NULL;
	s->thread = s->frame = 0;
	return 0;
}
