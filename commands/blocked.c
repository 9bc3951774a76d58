/* blocked: every thread's wait and verdict, deadlocks first as jstack prints
 * them; locks: every sync object with an owner or waiters. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbols/frames.h"
#include "base/util.h"
#include "analysis/waits.h"
#include "commands.h"

static void out_thread_name(struct session *s, size_t i)
{
	const struct thread *th = &s->target->threads[i];
	out_text(s->out, "Thread %zu", i + 1);
	if (th->name[0])
		out_text(s->out, " \"%s\"", th->name);
	out_text(s->out, " (LWP %d)", (int)th->tid);
}

/* "; started in worker, joinable, 8.0 MiB of stack", from the runtime's descriptors. */
static void out_thread_desc(struct session *s, const struct waits *ws, int32_t tid)
{
	struct out *o = s->out;
	const struct strand_thread_desc *d = NULL;
	for (long i = 0; i < ws->ndescs && !d; i++)
		if (ws->descs[i].tid == tid)
			d = &ws->descs[i];
	if (!d) {
		out_null(o, "thread");
		return;
	}
	char *start = d->start_routine ? symbol_offset_for_people(s->symbols, d->start_routine) : NULL;
	char buf[32];
	out_obj(o, "thread");
	out_text(o, "\n      ");
	if (d->start_routine) {
		out_text(o, "started in ");
		out_str(o, "start_routine", start ? start : "??");
		out_text(o, ", ");
	} else {
		out_text(o, "the initial thread, ");
		out_null(o, "start_routine");
	}
	out_hide_text(o, true);
	out_bool(o, "joinable", d->joinable);
	out_uint(o, "stack_size", d->stack_size);
	out_hide_text(o, false);
	out_text(o, "%s", d->joinable ? "joinable" : "detached");
	if (d->stack_size)
		out_text(o, ", %s of stack", format_bytes(d->stack_size, buf, sizeof(buf)));
	out_obj_end(o);
	free(start);
}

/* ", until CLOCK_MONOTONIC 5012.250 s, 0.467 s left", ", timeout 600 s": an
 * absolute deadline is shown as one, never as a period. */
static void out_deadline(struct out *o, const struct thread_wait *w)
{
	if (w->deadline < 0) {
		out_null(o, "deadline");
		out_null(o, "deadline_clock");
		if (w->timeout_seconds >= 0) {
			out_text(o, ", timeout ");
			out_double(o, "timeout_seconds", "%.4g s", w->timeout_seconds);
		}
		return;
	}
	char when[64] = "";
	time_t t = (time_t)w->deadline;
	struct tm tm;
	bool realtime = !strcmp(w->deadline_clock, "CLOCK_REALTIME") && gmtime_r(&t, &tm);
	if (realtime)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	out_text(o, ", until %s", realtime ? when : w->deadline_clock);
	out_text(o, realtime ? "" : " ");
	out_hide_text(o, realtime);
	out_double(o, "deadline", "%.3f s", w->deadline);
	out_hide_text(o, true);
	out_str(o, "deadline_clock", w->deadline_clock);
	out_hide_text(o, false);
	if (w->timeout_seconds >= 0) {
		out_text(o, ", ");
		out_double(o, "timeout_seconds", "%.4g s", w->timeout_seconds);
		out_text(o, " left");
	}
}

/* One thread: "Thread 3 "locker" (LWP 12) [mutex, 5 seconds]: mutex g_m1 held by ..." */
static void out_wait(struct session *s, const struct waits *ws, const struct thread_wait *w)
{
	struct out *o = s->out;
	const struct thread *th = &s->target->threads[w->thread];
	out_obj(o, NULL);
	out_hide_text(o, true);
	out_int(o, "id", (long long)w->thread + 1);
	out_int(o, "tid", th->tid);
	out_str(o, "name", th->name[0] ? th->name : NULL);
	out_hide_text(o, false);
	out_text(o, "  ");
	out_thread_name(s, w->thread);
	out_text(o, " ");
	out_wait_brief(s, w);
	if (w->object) {
		out_text(o, ": ");
		out_hex(o, "object", w->object);
		out_text(o, " <");
		out_str(o, "object_name", w->object_name);
		out_text(o, ">");
	} else {
		out_null(o, "object");
	}
	if (w->detail[0])
		out_text(o, " (%s)", w->detail);
	if (w->mutex) {
		out_text(o, ", gave up mutex ");
		out_hex(o, "mutex", w->mutex);
		out_text(o, " <");
		out_str(o, "mutex_name", w->mutex_name);
		out_text(o, ">");
	}
	if (w->fd >= 0) {
		out_text(o, " on fd ");
		out_int(o, "fd", w->fd);
		out_text(o, " ");
		out_str(o, "fd_target", w->fd_target);
	}
	if (w->sleep_seconds >= 0) {
		out_text(o, " for ");
		out_double(o, "sleep_seconds", "%.4g s", w->sleep_seconds);
	}
	out_deadline(o, w);
	if (w->restarted)
		out_text(o, ", restarted by the kernel after an earlier stop");
	out_hide_text(o, true);
	if (w->timeout_seconds < 0)
		out_null(o, "timeout_seconds");
	out_bool(o, "timeout_deadline", w->timeout_deadline);
	out_bool(o, "restarted", w->restarted);
	out_str(o, "detail", w->detail[0] ? w->detail : NULL);
	if (w->owner)
		out_int(o, "owner", w->owner);
	else
		out_null(o, "owner");
	out_bool(o, "timed", w->timed);
	if (w->wakeups >= 0)
		out_int(o, "wakeups", w->wakeups);
	else
		out_null(o, "wakeups");
	if (w->period_seconds > 0)
		out_double(o, "period_seconds", "%g", w->period_seconds);
	else
		out_null(o, "period_seconds");
	out_str(o, "verdict", verdict_name(w->verdict));
	out_int(o, "cycle", w->cycle);
	out_hide_text(o, false);
	if (w->reason[0]) {
		out_text(o, "\n      ");
		out_str(o, "reason", w->reason);
	} else {
		out_null(o, "reason");
	}
	if (w->where[0]) {
		out_text(o, "\n      at ");
		out_str(o, "where", w->where);
	}
	out_thread_desc(s, ws, th->tid);
	out_text(o, "\n");
	out_obj_end(o);
}

static void out_deadlocks(struct session *s, const struct waits *ws)
{
	struct out *o = s->out;
	out_list(o, "deadlocks");
	for (int c = 1; c <= ws->ncycles; c++) {
		size_t n = 0;
		for (size_t i = 0; i < ws->n; i++)
			n += ws->v[i].cycle == c;
		out_text(o, "Found one deadlock (%zu threads):\n", n);
		out_list(o, NULL);
		for (size_t i = 0; i < ws->n; i++) {
			const struct thread_wait *w = &ws->v[i];
			if (w->cycle != c)
				continue;
			out_text(o, "  ");
			out_thread_name(s, i);
			out_text(o, " waits for %s %s", w->kind, w->object_name);
			out_hide_text(o, true);
			out_int(o, NULL, s->target->threads[i].tid);
			out_hide_text(o, false);
			out_text(o, ",\n      held by ");
			out_thread_name(s, w->owner_index);
			out_text(o, "%s%s\n", w->where[0] ? "; waiting in " : "", w->where);
		}
		out_list_end(o);
	}
	out_list_end(o);
}

/* Go's "all goroutines are asleep - deadlock!", with the waits that record
 * no owner named: no cycle can be drawn through them. */
static void out_asleep(struct session *s, const struct waits *ws)
{
	struct out *o = s->out;
	out_hide_text(o, true);
	out_bool(o, "asleep", ws->asleep);
	out_str(o, "why_awake", ws->asleep ? NULL : ws->why_awake);
	out_hide_text(o, false);
	if (ws->asleep)
		out_text(o, "\nThe whole process is asleep: no thread runs or has a timeout, and none waits for anything "
			 "from outside the process (I/O, a signal, a child, shared memory). Nothing can wake it.\n");
	size_t n = 0;
	for (size_t i = 0; i < ws->n && ws->asleep; i++)
		n += !ws->v[i].owner && ws->v[i].object;
	if (n)
		out_text(o, "%zu wait%s record%s no owner, so no deadlock cycle runs through %s:", n, n == 1 ? "" : "s",
			 n == 1 ? "s" : "", n == 1 ? "it" : "them");
	out_list(o, "no_owner");
	for (size_t i = 0, k = 0; i < ws->n && ws->asleep; i++)
		if (!ws->v[i].owner && ws->v[i].object) {
			out_text(o, "%s thread %zu (%s %s)", k++ ? "," : "", i + 1, ws->v[i].kind, ws->v[i].object_name);
			out_hide_text(o, true);
			out_int(o, NULL, s->target->threads[i].tid);
			out_hide_text(o, false);
		}
	out_list_end(o);
	if (n)
		out_text(o, "\n");
}

static void out_section(struct session *s, const struct waits *ws, enum verdict v, const char *title)
{
	size_t n = 0;
	for (size_t i = 0; i < ws->n; i++)
		n += ws->v[i].verdict == v;
	if (!n)
		return;
	out_text(s->out, "\n%s (%zu thread%s):\n", title, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < ws->n; i++)
		if (ws->v[i].verdict == v)
			out_wait(s, ws, &ws->v[i]);
}

/* Parked threads with the same stack come as one line, like Go's goroutine dump. */
static void out_parked_groups(struct session *s, const struct waits *ws)
{
	bool *done = xcalloc(ws->n + 1, 1);
	for (size_t i = 0; i < ws->n; i++) {
		if (ws->v[i].verdict != VERDICT_PARKED || done[i])
			continue;
		size_t same = 0;
		for (size_t j = i; j < ws->n; j++)
			if (ws->v[j].verdict == VERDICT_PARKED && !done[j] && !strcmp(ws->v[j].stack_key, ws->v[i].stack_key))
				same++;
		if (same > 1)
			out_text(s->out, "  %zu threads with this stack:\n", same);
		for (size_t j = i; j < ws->n; j++)
			if (ws->v[j].verdict == VERDICT_PARKED && !done[j] && !strcmp(ws->v[j].stack_key, ws->v[i].stack_key)) {
				done[j] = true;
				out_wait(s, ws, &ws->v[j]);
			}
	}
	free(done);
}

static void out_unjoined(struct session *s, const struct waits *ws)
{
	struct out *o = s->out;
	if (ws->ndescs < 0 && target_omitted_anywhere(s->target)) {
		out_text(o, "\nThread descriptors: unreadable in this core (see the warning above).\n");
		out_null(o, "unjoined");
		return;
	}
	if (ws->ndescs < 0) {
		out_text(o, "\nThread descriptors: not found (no thread runtime plugin fits).\n");
		out_null(o, "unjoined");
		return;
	}
	uint64_t bytes = 0;
	size_t n = 0;
	for (long i = 0; i < ws->ndescs; i++)
		if (ws->descs[i].exited && ws->descs[i].joinable)
			n++, bytes += ws->descs[i].stack_size;
	char buf[32];
	if (n)
		out_text(o, "\nThreads that exited and were never joined: %zu, holding %s of stack (a thread leak):\n", n,
			 format_bytes(bytes, buf, sizeof(buf)));
	out_list(o, "unjoined");
	for (long i = 0; i < ws->ndescs; i++) {
		const struct strand_thread_desc *d = &ws->descs[i];
		if (!d->exited || !d->joinable)
			continue;
		char *start = symbol_offset_for_people(s->symbols, d->start_routine);
		out_obj(o, NULL);
		out_text(o, "  descriptor ");
		out_hex(o, "descriptor", d->descriptor);
		out_text(o, ", started in ");
		out_str(o, "start_routine", start ? start : "??");
		free(start);
		out_text(o, ", stack ");
		out_hide_text(o, true);
		out_uint(o, "stack_size", d->stack_size);
		out_hide_text(o, false);
		out_text(o, "%s\n", format_bytes(d->stack_size, buf, sizeof(buf)));
		out_obj_end(o);
	}
	out_list_end(o);
}

/* [--error-exitcode N] [--sample SECONDS] */
static bool blocked_options(struct session *s, const struct args *a, long *exitcode, double *sample)
{
	for (int i = 0; i < a->argc; i += 2) {
		char *end = NULL;
		bool known = i + 1 < a->argc;
		if (known && !strcmp(a->argv[i], "--error-exitcode"))
			known = parse_int(a->argv[i + 1], exitcode) && *exitcode > 0;
		else if (known && !strcmp(a->argv[i], "--sample"))
			known = (*sample = strtod(a->argv[i + 1], &end)) > 0 && !*end && *sample <= 3600;
		else
			known = false;
		if (!known) {
			out_error(s->out, "usage: blocked [--error-exitcode N] [--sample SECONDS]");
			return false;
		}
	}
	if (*sample <= 0)
		return true;
	if (s->target->kind != TARGET_LIVE) {
		out_error(s->out, "--sample watches threads run: a core cannot, use it on a live process");
		return false;
	}
	if (s->target->stopped) {
		out_error(s->out, "--sample watches threads run, but strand holds them stopped: attach with --no-stop");
		return false;
	}
	return true;
}

/* As the EINTR warning at attach: a stop is not free. A timed wait that was
 * stopped (by strand, a debugger) is resumed by the kernel through
 * restart_syscall, which /proc and other tools show instead of the call. */
static void warn_restarted(struct session *s, const struct waits *ws)
{
	size_t n = 0;
	for (size_t i = 0; i < ws->n; i++)
		n += ws->v[i].restarted;
	if (n)
		out_warn(s->out,
			 "%zu thread%s had %s timed wait%s stopped before (by strand or a debugger): the kernel restarted "
			 "%s as restart_syscall, shown here as the call%s resumed; each stop restarts timed waits, "
			 "--no-stop does not",
			 n, n == 1 ? "" : "s", n == 1 ? "its" : "their", n == 1 ? "" : "s", n == 1 ? "it" : "them",
			 n == 1 ? "" : "s");
}

int cmd_blocked(struct session *s, const struct args *a)
{
	long exitcode = 0;
	double sample = 0;
	if (!blocked_options(s, a, &exitcode, &sample))
		return -1;
	struct waits ws;
	waits_build(s, &ws, sample);
	struct out *o = s->out;
	size_t count[VERDICT_RUNNING + 1] = { 0 };
	for (size_t i = 0; i < ws.n; i++)
		count[ws.v[i].verdict]++;
	out_text(o, "%zu threads: %d deadlock%s, %zu stuck forever, %zu waiting on a live owner, %zu parked, %zu running\n",
		 ws.n, ws.ncycles, ws.ncycles == 1 ? "" : "s", count[VERDICT_STUCK], count[VERDICT_WAITING],
		 count[VERDICT_PARKED], count[VERDICT_RUNNING]);
	if (!ws.runtime_found)
		out_warn(o, "no thread runtime plugin fits this target: futex waits are not decoded");
	const char *omitted = !ws.runtime_found || ws.ndescs < 0 ? target_omitted_anywhere(s->target) : NULL;
	if (omitted)
		out_warn(o, "the core omits pages of %s and no file matching it supplies them: thread descriptors are "
			    "unreadable, so waits, joins and exited threads are not all decoded", omitted);
	warn_restarted(s, &ws);
	out_asleep(s, &ws);
	out_deadlocks(s, &ws);
	out_list(o, "threads");
	out_section(s, &ws, VERDICT_DEADLOCKED, "Deadlocked");
	out_section(s, &ws, VERDICT_STUCK, "Stuck forever");
	out_section(s, &ws, VERDICT_WAITING, "Waiting on a live owner");
	if (count[VERDICT_PARKED])
		out_text(o, "\nParked, could be woken (%zu):\n", count[VERDICT_PARKED]);
	out_parked_groups(s, &ws);
	out_section(s, &ws, VERDICT_RUNNING, "Running");
	out_list_end(o);
	out_unjoined(s, &ws);
	int goroutines_stuck = out_goroutine_waits(s);
	if (exitcode && (ws.ncycles || count[VERDICT_STUCK] || ws.asleep || goroutines_stuck))
		s->exit_code = (int)exitcode;
	waits_free(&ws);
	return 0;
}

int cmd_locks(struct session *s, const struct args *a)
{
	(void)a;
	struct waits ws;
	waits_build(s, &ws, 0);
	struct out *o = s->out;
	out_list(o, "objects");
	for (size_t i = 0; i < ws.n; i++) {
		const struct thread_wait *w = &ws.v[i];
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = ws.v[j].object != w->object;
		if (!w->object || !first || w->verdict == VERDICT_RUNNING)
			continue;
		out_obj(o, NULL);
		out_str(o, "kind", w->kind);
		out_text(o, " ");
		out_hex(o, "object", w->object);
		out_text(o, " <");
		out_str(o, "name", w->object_name);
		out_text(o, ">");
		if (w->owner) {
			out_text(o, " held by LWP ");
			out_int(o, "owner", w->owner);
			out_text(o, "%s", w->owner_index == NO_THREAD ? " (exited)" : "");
		} else {
			out_null(o, "owner");
		}
		out_text(o, "; waiters:");
		out_list(o, "waiters");
		for (size_t j = i; j < ws.n; j++)
			if (ws.v[j].object == w->object) {
				out_text(o, " LWP ");
				out_int(o, NULL, s->target->threads[j].tid);
			}
		out_list_end(o);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	waits_free(&ws);
	return 0;
}
