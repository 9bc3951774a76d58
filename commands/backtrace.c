/* backtrace [full] [N|-N]  (bt, where) */
#include <stdlib.h>
#include <string.h>

#include "symbols/dwarf_values.h"
#include "symbols/frames.h"
#include "base/util.h"
#include "commands.h"

int cmd_backtrace(struct session *s, const struct args *a)
{
	struct out *o = s->out;
	unsigned flags = FRAME_ARGS;
	long limit = 0;
	for (int i = 0; i < a->argc; i++) {
		if (!strcmp(a->argv[i], "full") || !strcmp(a->argv[i], "-full"))
			flags |= FRAME_LOCALS;
		else if (!parse_int(a->argv[i], &limit)) {
			out_error(o, "usage: backtrace [full] [N|-N]");
			return -1;
		}
	}
	struct thread *th = session_thread(s);
	if (!th)
		return -1;
	struct stack st;
	if (stack_build(s, th, &st) < 0) {
		out_error(o, "%s", error_get());
		return -1;
	}
	/* N: the innermost N frames; -N: the outermost N. */
	size_t first = 0, last = st.n;
	if (limit > 0 && (size_t)limit < st.n)
		last = (size_t)limit;
	else if (limit < 0 && 0 - (size_t)limit < st.n) /* -limit in size_t: LONG_MIN has no long negation */
		first = st.n - (0 - (size_t)limit);
	out_hide_text(o, true);
	out_int(o, "thread", (long long)s->thread + 1);
	out_int(o, "tid", th->tid);
	out_hide_text(o, false);
	out_list(o, "frames");
	for (size_t i = first; i < last && !session_interrupted(); i++) {
		out_frame(s, &st, i, flags);
	}
	out_list_end(o);
	if (last < st.n)
		out_text(o, "(More stack frames follow...)\n");
	out_hide_text(o, true);
	out_bool(o, "truncated", last < st.n || first > 0);
	out_hide_text(o, false);
	if (st.bt.stop_reason) {
		out_text(o, "Backtrace stopped: ");
		out_str(o, "stop_reason", st.bt.stop_reason);
		out_text(o, "\n");
	}
	stack_free(&st);
	return 0;
}
