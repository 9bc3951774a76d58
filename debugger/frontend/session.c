/* The session's state that outlives a command: the selected thread, and the
 * caches of the analyses (the block table, the reachability over it), which
 * the session owns and drops together. */
#include "session.h"

#include "analysis/heap.h"
#include "analysis/reach.h"

struct thread *session_thread(struct session *s)
{
	if (!s->target || !s->target->nthreads) {
		out_error(s->out, "No threads.");
		return NULL;
	}
	return &s->target->threads[s->thread];
}

void session_note_moving(struct session *s)
{
	out_warn(s->out, "the process was not stopped (--no-stop): this ran on a moving target and may be "
		 "inconsistent");
}

void session_forget_heap(struct session *s)
{
	reach_free(s->reach); /* stands on the table */
	s->reach = NULL;
	heap_free(s->heap);
	s->heap = NULL;
}
