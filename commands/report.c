/* report: every analysis in one go, each section under its own heading:
 * threads and deadlocks, leaks, top retainers, retained arrays, escape
 * candidates, descriptors and timers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../debugger/reach.h"
#include "../debugger/util.h"
#include "commands.h"

struct section {
	const char *title, *command;
	bool live_only;
	bool takes_exitcode;
};

static const struct section sections[] = {
	{ "Threads: deadlocks, stuck forever, waits", "blocked", false, true },
	{ "Leaks", "leaks", false, true },
	{ "What keeps memory alive", "top 5", false, false },
	{ "Oversized retained arrays", "arrays", false, false },
	{ "Could have lived on the stack", "escape", false, false },
	{ "Descriptors", "fds", true, false },
	{ "Timers", "timers", true, false },
};

int cmd_report(struct session *s, const struct args *a)
{
	long exitcode = 0;
	if (!option_exitcode(s, a, &exitcode))
		return -1;
	struct out *o = s->out;
	out_text(o, "strand report on %s\n", s->target->description);
	/* top, arrays and escape need every edge: with the graph built first,
	 * leaks reads its classes off it instead of sweeping the heap as well
	 * (a target that runs gets everything read anew by each section). */
	if (s->target->stopped)
		reach_get_graph(s, &(struct reach_opts){ 0 });
	out_list(o, "sections");
	for (size_t i = 0; i < ARRAY_SIZE(sections) && !session_interrupted(); i++) {
		const struct section *sec = &sections[i];
		out_obj(o, NULL);
		out_text(o, "\n== ");
		out_str(o, "section", sec->title);
		out_text(o, " ==\n");
		if (sec->live_only && s->target->kind != TARGET_LIVE) {
			out_text(o, "(not in a core file: descriptors and timers exist only in a live process)\n");
			out_null(o, "result");
		} else {
			char *line = exitcode && sec->takes_exitcode ? xasprintf("%s --error-exitcode %ld", sec->command, exitcode)
								      : xstrdup(sec->command);
			command_run(s, line);
			free(line);
		}
		out_obj_end(o);
	}
	out_list_end(o);
	return 0;
}
