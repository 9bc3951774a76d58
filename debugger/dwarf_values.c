/* Frame arguments and locals from DWARF. This first version prints none:
 * frames show "()" and bt full says so; the DWARF value printer replaces it. */
#include "frames.h"
#include "session.h"

void out_frame_args(struct session *s, const struct stack *st, size_t i)
{
	(void)s;
	(void)st;
	(void)i;
}

void out_frame_locals(struct session *s, const struct stack *st, size_t i)
{
	(void)st;
	(void)i;
	out_text(s->out, "No locals.\n");
}
