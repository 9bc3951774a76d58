/* Timers: a language runtime's own timers from its plugin (struct
 * strand_timer, ABI 7), sorted by when they fire next, each one that sends
 * on a channel checked for a receiver that could still exist. */
#ifndef STRAND_TIMERS_H
#define STRAND_TIMERS_H

#include "../plugins/strand_plugin.h"
#include "session.h"

struct runtime_timer {
	struct strand_timer t;    /* t.kind and t.owner_type point at the strings below */
	char *kind, *owner_type;
	/* Nothing outside the timer's owner and the runtime's timer heaps refers
	 * to its channel or to its owner: no goroutine can receive what it
	 * sends any more. */
	bool unreceivable;
};

struct runtime_timers {
	struct runtime_timer *v;  /* by next fire */
	size_t n;
	char *not_checked;        /* why the channels were not checked (NULL: they were) */
};

/* Every pending timer the runtime lists, with the check above. Returns 0,
 * or -1 with error_set(): no runtime that knows timers, or one that cannot
 * read them (and why). */
int runtime_timers_read(struct session *s, struct runtime_timers *out);
void runtime_timers_free(struct runtime_timers *ts);

#endif
