/* info threads, thread [ID], thread apply all|ID... COMMAND */
#include <stdlib.h>
#include <string.h>

#include "symbols/dwarf_values.h"
#include "symbols/frames.h"
#include "analysis/plugin.h"
#include "target/syscalls.h"
#include "base/util.h"
#include "analysis/waits.h"
#include "commands.h"

bool parse_thread_number(struct session *s, const char *word, size_t *index)
{
	long id;
	if (!parse_int(word, &id) || id < 1 || (size_t)id > s->target->nthreads) {
		out_error(s->out, "Invalid thread ID: %s", word);
		return false;
	}
	*index = (size_t)id - 1;
	return true;
}

void out_thread_id(struct session *s, size_t index)
{
	struct out *o = s->out;
	const struct thread *th = &s->target->threads[index];
	out_text(o, "Thread ");
	/* On x86_64 glibc, the thread pointer is the thread's pthread_t. */
	if (th->thread_pointer)
		out_hex(o, "pthread", th->thread_pointer);
	else
		out_null(o, "pthread");
	out_text(o, " (LWP ");
	out_int(o, "tid", th->tid);
	out_text(o, ")");
	/* Kernel cores do not record thread names: show none rather than "". */
	if (th->name[0]) {
		out_text(o, " \"");
		out_str(o, "name", th->name);
		out_text(o, "\"");
	} else {
		out_null(o, "name");
	}
}

static void out_syscall(struct out *o, const struct thread *th)
{
	out_hide_text(o, true);
	if (th->syscall < 0) {
		out_null(o, "syscall");
	} else {
		out_obj(o, "syscall");
		out_int(o, "nr", th->syscall);
		out_str(o, "name", syscall_name(th->syscall));
		out_list(o, "args");
		for (int i = 0; i < 6; i++)
			out_hex(o, NULL, th->syscall_args[i]);
		out_list_end(o);
		out_obj_end(o);
	}
	out_hide_text(o, false);
}

/* The wait column, then the innermost frame. */
static void out_wait_and_frame(struct session *s, size_t i)
{
	const struct thread *th = &s->target->threads[i];
	struct stack st;
	bool have_stack = stack_build(s, th, &st) == 0;
	struct thread_wait w;
	waits_describe(s, i, have_stack ? &st : NULL, &w);
	out_obj(s->out, "wait");
	out_wait_brief(s, &w);
	out_hide_text(s->out, true);
	if (w.object)
		out_hex(s->out, "object", w.object);
	else
		out_null(s->out, "object");
	out_str(s->out, "object_name", w.object_name[0] ? w.object_name : NULL);
	if (w.owner)
		out_int(s->out, "owner", w.owner);
	else
		out_null(s->out, "owner");
	out_hide_text(s->out, false);
	out_obj_end(s->out);
	out_text(s->out, " ");
	if (!have_stack) {
		out_text(s->out, "(%s)\n", th->regs_state == REGS_NONE ? "running" : "no stack");
		out_null(s->out, "frame");
		return;
	}
	out_frame(s, &st, 0, FRAME_NO_LEVEL | FRAME_ARGS);
	stack_free(&st);
}

static void out_thread_row(struct session *s, size_t i)
{
	struct out *o = s->out;
	const struct thread *th = &s->target->threads[i];
	out_obj(o, NULL);
	out_text(o, "%c ", i == s->thread ? '*' : ' ');
	out_intw(o, "id", -4, (long long)i + 1);
	out_text(o, " ");
	out_hide_text(o, true);
	out_bool(o, "current", i == s->thread);
	out_strf(o, "state", "%c", th->state);
	out_hide_text(o, false);
	out_thread_id(s, i);
	out_text(o, " ");
	out_syscall(o, th);
	out_wait_and_frame(s, i);
	out_obj_end(o);
}

int cmd_info_threads(struct session *s, const struct args *a)
{
	struct out *o = s->out;
	const char *omitted = plugin_runtime(s) ? NULL : target_omitted_anywhere(s->target);
	if (omitted)
		out_warn(o, "the core omits pages of %s and no file matching it supplies them: waits are not decoded",
			 omitted);
	out_text(o, "  Id   Target Id                                   Wait                  Frame \n");
	out_list(o, "threads");
	for (size_t i = 0; i < s->target->nthreads && !session_interrupted(); i++) {
		bool wanted = a->argc == 0;
		for (int k = 0; k < a->argc && !wanted; k++) {
			long id;
			wanted = parse_int(a->argv[k], &id) && id == (long)i + 1;
		}
		if (wanted)
			out_thread_row(s, i);
	}
	out_list_end(o);
	return 0;
}

int cmd_thread(struct session *s, const struct args *a)
{
	struct out *o = s->out;
	if (a->argc == 0) {
		out_text(o, "[Current thread is ");
		out_int(o, "id", (long long)s->thread + 1);
		out_text(o, " (");
		out_thread_id(s, s->thread);
		out_text(o, ")]\n");
		return 0;
	}
	size_t index;
	if (!parse_thread_number(s, a->argv[0], &index))
		return -1;
	s->thread = index;
	s->frame = 0;
	out_text(o, "[Switching to thread ");
	out_int(o, "id", (long long)index + 1);
	out_text(o, " (");
	out_thread_id(s, index);
	out_text(o, ")]\n");
	struct stack st;
	if (stack_build(s, &s->target->threads[index], &st) == 0) {
		out_frame(s, &st, 0, FRAME_ARGS);
		stack_free(&st);
	}
	return 0;
}

/* thread apply inside thread apply is a recursion over the user's line, and
 * multiplies the runs by the threads at each level: a few levels are plenty. */
enum { MAX_APPLY_NESTING = 8 };

/* "thread apply all bt": gdb's order, highest thread number first. */
int cmd_thread_apply(struct session *s, const struct args *a)
{
	static int nesting;
	static bool too_deep;
	struct out *o = s->out;
	if (nesting == MAX_APPLY_NESTING) {
		out_error(o, "thread apply: nested too deeply (more than %d levels)", MAX_APPLY_NESTING);
		too_deep = true;
		return -1;
	}
	size_t n = s->target->nthreads, saved = s->thread, saved_frame = s->frame;
	size_t *order = NULL, count = 0, cap = 0;
	int first_cmd = 1;
	if (!strcmp(a->argv[0], "all")) {
		GROW(order, cap, n);
		for (size_t i = n; i-- > 0;)
			order[count++] = i;
	} else {
		for (first_cmd = 0; first_cmd < a->argc; first_cmd++) {
			size_t index;
			long id;
			if (!parse_int(a->argv[first_cmd], &id))
				break;
			if (!parse_thread_number(s, a->argv[first_cmd], &index)) {
				free(order);
				return -1;
			}
			GROW(order, cap, count + 1); /* an ID may come more than once */
			order[count++] = index;
		}
	}
	if (first_cmd >= a->argc || count == 0) {
		free(order);
		out_error(o, "Please specify a command following the thread ID list");
		return -1;
	}
	struct strbuf cmd = STRBUF_INIT;
	for (int k = first_cmd; k < a->argc; k++)
		sb_addf(&cmd, "%s%s", k > first_cmd ? " " : "", a->argv[k]);
	out_list(o, "threads");
	int rc = 0;
	nesting++;
	for (size_t k = 0; k < count && !session_interrupted() && !too_deep; k++) {
		s->thread = order[k];
		s->frame = 0;
		out_obj(o, NULL);
		out_text(o, "\nThread ");
		out_int(o, "id", (long long)order[k] + 1);
		out_text(o, " (");
		out_thread_id(s, order[k]);
		out_text(o, "):\n");
		if (command_run(s, sb_str(&cmd)) < 0)
			rc = -1;
		out_obj_end(o);
	}
	out_list_end(o);
	nesting--;
	sb_release(&cmd);
	free(order);
	s->thread = saved;
	s->frame = saved_frame;
	(void)rc; /* a failure in one thread is reported in its result; the others still ran */
	if (!too_deep)
		return 0;
	too_deep = nesting > 0; /* reported once, innermost; every level stops on its way out */
	return -1;
}
