/* Goroutines: a language runtime's execution contexts beside the threads,
 * listed by the runtime plugin (struct strand_goroutine, ABI 6), each with
 * its stack: a parked one from where it resumes (its saved pc, sp and frame
 * pointer, by a frame-pointer walk: Go keeps frame pointers on amd64), a
 * running one or one in a system call from its thread's registers. */
#ifndef STRAND_GOROUTINES_H
#define STRAND_GOROUTINES_H

#include "../plugins/strand_plugin.h"
#include "symbols/frames.h"
#include "session.h"

struct goroutine {
	struct strand_goroutine g; /* g.state points at state */
	char *state;
};

struct goroutines {
	struct goroutine *v;
	size_t n;
};

/* STRAND_FRAME_* for a frame of function (file: its source, NULL unknown):
 * how the runtime's own traceback treats it; 0 without such a runtime. */
unsigned goroutine_frame_flags(struct session *s, const char *function, const char *file);
/* Whether a runtime plugin that lists goroutines fits the program. */
bool goroutines_known(struct session *s);
/* Every goroutine the runtime lists. Returns 0, or -1 with error_set(): no
 * runtime that knows goroutines, or one that cannot read them (and why). */
int goroutines_read(struct session *s, struct goroutines *out);
void goroutines_free(struct goroutines *gs);
/* The goroutine with that id, NULL if none. */
const struct goroutine *goroutine_find(const struct goroutines *gs, uint64_t id);

/* Its stack, innermost first, down to the runtime's goexit. -1 with
 * error_set() when it has none to show (running on a thread that is not on
 * its stack). */
int goroutine_stack(struct session *s, const struct goroutine *g, struct stack *st);
/* The same, its physical frames only (no symbols): cheap, for grouping. */
int goroutine_unwind(struct session *s, const struct goroutine *g, struct backtrace *bt);

/* What the goroutine waits on as its runtime names it (a channel, a select's
 * channels, a sync object), from its stack st; false when nothing is named. */
bool goroutine_wait(struct session *s, const struct goroutine *g, const struct stack *st,
		    struct strand_goroutine_wait *out);
/* The channel at addr: its element type, buffer and queued goroutines.
 * Returns 0, or -1 with error_set(). */
int goroutine_channel(struct session *s, uint64_t addr, struct strand_channel *out);

/* Where the live part of a goroutine's stack starts: its thread's stack
 * pointer when it runs, where it resumes when parked or left its code for a
 * system call; its whole stack when none lies in it (more words, never fewer). */
uint64_t goroutine_live_sp(struct session *s, const struct strand_goroutine *g);

/* For each object address objs[o], every goroutine gs->v[g] whose stack in
 * use holds that address: fn(ctx, o, g), once per word found. Each stack is
 * read once, in bulk. A conservative scan: a dead word still in a live frame
 * counts too. */
void goroutines_referring(struct session *s, const struct goroutines *gs, const uint64_t *objs, size_t n,
			  void (*fn)(void *ctx, size_t obj, size_t g), void *ctx);

/* The modules' writable memory (their globals), read once at the first
 * question, to find which global holds a pointer to an object (a channel)
 * and name it by it. Zero-initialised: nothing read yet. */
struct global_range {
	uint64_t start;
	uint64_t *v;
	size_t words;
};
struct global_snapshot {
	struct global_range *v;
	size_t n;
	bool taken;
};
/* The address of the first global word equal to value, 0 if none. */
uint64_t globals_holding(struct session *s, struct global_snapshot *g, uint64_t value);
void globals_snapshot_free(struct global_snapshot *g);

#endif
