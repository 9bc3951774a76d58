/* gcore [FILE]: write a core of the live process, as gdb's gcore does. */
#include <stdlib.h>

#include "target/core.h"
#include "base/util.h"
#include "commands.h"

int cmd_gcore(struct session *s, const struct args *a)
{
	struct target *t = s->target;
	if (!t->stopped) {
		out_error(s->out, "gcore needs every thread stopped for a consistent core; attach without --no-stop");
		return -1;
	}
	char *path = a->argc ? xstrdup(a->argv[0]) : xasprintf("core.%d", (int)t->pid);
	uint64_t bytes = 0;
	double start = now_seconds();
	int rc = core_write(t, path, &bytes);
	if (rc < 0) {
		out_error(s->out, "%s", error_get());
	} else {
		out_text(s->out, "Saved corefile ");
		out_str(s->out, "file", path);
		out_text(s->out, "\n");
		out_hide_text(s->out, true);
		out_uint(s->out, "bytes", bytes);
		out_uint(s->out, "threads", t->nthreads);
		out_double(s->out, "seconds", "%.3f", now_seconds() - start);
		out_hide_text(s->out, false);
	}
	free(path);
	return rc;
}
