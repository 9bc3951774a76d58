/* frame [N], up [N], down [N] */
#include <limits.h>
#include <stdlib.h>

#include "symbols/dwarf_values.h"
#include "symbols/frames.h"
#include "base/util.h"
#include "commands.h"

static int select_frame(struct session *s, long level)
{
	struct thread *th = session_thread(s);
	if (!th)
		return -1;
	struct stack st;
	if (stack_build(s, th, &st) < 0) {
		out_error(s->out, "No stack.");
		return -1;
	}
	int rc = 0;
	if (level < 0 || (size_t)level >= st.n) {
		out_error(s->out, level < 0 ? "Bottom (innermost) frame selected; you cannot go down."
					   : "No frame at level %ld.", level);
		rc = -1;
	} else {
		s->frame = (size_t)level;
		out_frame(s, &st, s->frame, FRAME_ARGS);
	}
	stack_free(&st);
	return rc;
}

/* The selected frame's level plus n, or LONG_MAX past the range of long:
 * `up 9223372036854775807` is no frame, not an overflow. */
static long level_plus(const struct session *s, long n)
{
	long level = (long)s->frame;
	return n > LONG_MAX - level ? LONG_MAX : level + n;
}

static bool parse_count(struct session *s, const struct args *a, long *n)
{
	*n = 1;
	if (a->argc && !parse_int(a->argv[0], n)) {
		out_error(s->out, "Invalid number \"%s\".", a->argv[0]);
		return false;
	}
	return true;
}

int cmd_frame(struct session *s, const struct args *a)
{
	long level = (long)s->frame;
	if (a->argc && !parse_int(a->argv[0], &level)) {
		out_error(s->out, "Invalid frame level \"%s\".", a->argv[0]);
		return -1;
	}
	return select_frame(s, level);
}

int cmd_up(struct session *s, const struct args *a)
{
	long n;
	return parse_count(s, a, &n) ? select_frame(s, level_plus(s, n)) : -1;
}

int cmd_down(struct session *s, const struct args *a)
{
	long n;
	return parse_count(s, a, &n) ? select_frame(s, n == LONG_MIN ? LONG_MAX : level_plus(s, -n)) : -1;
}
