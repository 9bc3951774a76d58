/* report: every analysis in one go, each section under its own heading:
 * threads and deadlocks, leaks, top retainers, retained arrays, escape
 * candidates, descriptors and timers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/goroutines.h"
#include "analysis/reach.h"
#include "base/util.h"
#include "commands.h"

struct section {
	const char *title, *command;
	bool live_only;
	bool takes_exitcode;
	bool runtime_on_cores; /* live only, but for a runtime that keeps its own (Go's timers) */
};

static const struct section sections[] = {
	{ "Threads: deadlocks, stuck forever, waits", "blocked", false, true, false },
	{ "Leaks", "leaks", false, true, false },
	{ "What keeps memory alive", "top 5", false, false, false },
	{ "Oversized retained arrays", "arrays", false, false, false },
	{ "Could have lived on the stack", "escape", false, false, false },
	{ "Descriptors", "fds", true, false, false },
	{ "Timers", "timers", true, false, true },
};

/* What the heap sections could not analyse, for the report's error
 * (malloc'd); NULL when the heap was walked whole. */
static char *heap_left_out(struct session *s)
{
	const struct heap *h = heap_get(s);
	return h ? heap_not_analysed(h) : xstrdup(error_get());
}

int cmd_report(struct session *s, const struct args *a)
{
	long exitcode = 0;
	if (!option_exitcode(s, a, &exitcode))
		return -1;
	int earlier_exit_code = s->exit_code;
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
		if (sec->live_only && s->target->kind != TARGET_LIVE && !(sec->runtime_on_cores && goroutines_known(s))) {
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
	/* Its leak section gave no verdict: the report fails, with exit status 1
	 * whatever --error-exitcode asked of its sections (set here too, or
	 * `strand run` would end with the program's own status). */
	char *left_out = session_interrupted() ? NULL : heap_left_out(s);
	if (!left_out)
		return 0;
	s->exit_code = earlier_exit_code ? earlier_exit_code : exitcode ? 1 : 0;
	out_error(o, "the report does not cover the whole heap: %s", left_out);
	free(left_out);
	return -1;
}
