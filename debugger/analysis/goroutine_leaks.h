/* Goroutines that can never run again: those blocked on objects (channels,
 * sync objects) that nothing able to run still refers to. Found as a garbage
 * collector would, over the runtime's own heap (struct strand_heap_span,
 * ABI 7): marked from the roots that can act (globals outside the runtime's
 * own bookkeeping, the registers of the threads that run goroutines, the
 * timers' channels, the stacks of the program's goroutines that can run),
 * then from the stacks of the blocked ones whose objects were reached, until
 * nothing more is. Conservative: any word that looks like a pointer keeps
 * what it points at, so a stale word hides a leak rather than invents one;
 * and memory it cannot read or a running thread's unknown registers fail the
 * check rather than leave what they refer to unmarked. */
#ifndef STRAND_GOROUTINE_LEAKS_H
#define STRAND_GOROUTINE_LEAKS_H

#include "goroutines.h"

struct blocked_goroutine {
	const struct goroutine *g;
	const struct strand_goroutine_wait *w; /* what it waits on (kind NONE: nothing named) */
	bool never_runs;                       /* blocked forever whatever happens (a nil channel) */
	bool leaked;                           /* out: nothing that can run reaches its objects */
};

/* Decide leaked for each of v (the goroutines of gs that wait on objects or
 * never run; every other goroutine of gs can run). Returns 0, or -1 with
 * error_set() (and none leaked) when the runtime's heap cannot be walked or
 * part of what can run cannot be seen. */
int goroutine_leaks(struct session *s, const struct goroutines *gs, struct blocked_goroutine *v, size_t n);

#endif
