/* A debugging session: the target, its symbols, the output layer, what the
 * user has selected (thread, frame) and the analyses' caches. Commands
 * receive it, and so does every layer from symbols up: this header names
 * the analyses' state without including it, so that it stands on target,
 * symbols and base alone (debugger/README.md). The front end creates the
 * session and owns its caches (frontend/session.c). */
#ifndef STRAND_SESSION_H
#define STRAND_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/output.h"
#include "symbols/symbols.h"
#include "target/target.h"

struct heap;
struct reach;

struct session {
	struct target *target;    /* NULL before attach / load */
	struct symbols *symbols;
	struct symbols_opts symbols_opts;
	struct heap *heap;        /* the block table, walked on first use (analysis/heap.h) */
	struct reach *reach;      /* reachability over it (analysis/reach.h) */
	struct out *out;
	size_t thread;            /* index of the selected thread in target->threads */
	size_t frame;             /* selected frame number */
	bool no_stop;             /* --no-stop: nothing was stopped */
	bool backtrace_past_main; /* set backtrace past-main: stacks go on past main, as gdb's setting */
	bool interactive;         /* a person at a terminal */
	bool quit;                /* set by `quit` */
	int source_depth;         /* nesting of `source` */
	int failures;             /* commands that failed so far */
	int value_history;        /* print's $N */
	int exit_code;            /* requested by --error-exitcode findings; 0 if none */
	bool change_output;       /* `set output` takes effect after its own document */
	enum out_mode next_output;
};

/* Set by SIGINT in an interactive session: long commands check it and stop. */
extern volatile sig_atomic_t strand_interrupted;
static inline bool session_interrupted(void) { return strand_interrupted != 0; }

/* The selected thread, or NULL (with an error already reported through
 * s->out) when there is no target. */
struct thread *session_thread(struct session *s);

/* Drop the heap and what stands on it (the reachability built over it):
 * the target moved, or another allocator plugin may walk it differently. */
void session_forget_heap(struct session *s);

/* Say that a command that wants a consistent snapshot ran on a moving target. */
void session_note_moving(struct session *s);

#endif
