/* timers: the language runtime's own timers (Go's sleeps, Tickers, Timers,
 * AfterFuncs), by next fire, with those nobody can receive from flagged;
 * then the POSIX timers and timerfds of a live process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/plugin.h"
#include "analysis/timers.h"
#include "base/util.h"
#include "commands.h"

#define SECOND_NS 1000000000LL

/* A duration as Go prints one, to the second: "1h0m0s", "59m58s", "2s";
 * below a second "250ms". */
static void format_duration(int64_t ns, char *out, size_t len)
{
	if (ns < SECOND_NS) {
		snprintf(out, len, "%lldms", (long long)(ns / 1000000));
		return;
	}
	long long s = ns / SECOND_NS, h = s / 3600, m = s / 60 % 60;
	if (h)
		snprintf(out, len, "%lldh%lldm%llds", h, m, s % 60);
	else if (m)
		snprintf(out, len, "%lldm%llds", m, s % 60);
	else
		snprintf(out, len, "%llds", s);
}

/* "in 59m58s" or "overdue 2s", padded for the columns. */
static void out_next_fire(struct out *o, const struct strand_timer *t)
{
	char d[48], text[64];
	int64_t in = t->when - t->now;
	format_duration(in < 0 ? -in : in, d, sizeof(d));
	snprintf(text, sizeof(text), "%s %s", in < 0 ? "overdue" : "in", d);
	out_text(o, "  %-14s", text);
	out_hide_text(o, true);
	out_int(o, "when", t->when);
	out_int(o, "now", t->now);
	out_int(o, "fires_in_ns", in);
	out_hide_text(o, false);
}

static void out_period(struct out *o, const struct strand_timer *t)
{
	char d[48], text[64] = "once";
	if (t->period > 0) {
		format_duration(t->period, d, sizeof(d));
		snprintf(text, sizeof(text), "every %s", d);
	}
	out_text(o, "%-16s", text);
	out_hide_text(o, true);
	out_int(o, "period", t->period);
	out_hide_text(o, false);
}

static void out_hex_or_null(struct out *o, const char *key, uint64_t v)
{
	if (v)
		out_hex(o, key, v);
	else
		out_null(o, key);
}

/* What it wakes: "wakes goroutine 15", "sends on channel 0x... (time.Ticker
 * 0x...)", "calls main.f". */
static void out_wakes(struct session *s, const struct strand_timer *t)
{
	struct out *o = s->out;
	struct sym_info si;
	const char *fn = t->function && symbols_addr_info(s->symbols, t->function, &si) ? si.name : NULL;
	out_hide_text(o, true);
	out_hex_or_null(o, "function_pc", t->function);
	out_str(o, "function", fn);
	out_hex(o, "address", t->address);
	out_int(o, "queue", t->queue);
	out_hide_text(o, false);
	if (t->goroutine) {
		out_text(o, "wakes goroutine ");
		out_uint(o, "goroutine", t->goroutine);
	} else {
		out_hide_text(o, true);
		out_null(o, "goroutine");
		out_hide_text(o, false);
	}
	if (t->channel) {
		out_text(o, "sends on channel ");
		out_hex(o, "channel", t->channel);
	} else {
		out_hide_text(o, true);
		out_null(o, "channel");
		out_hide_text(o, false);
	}
	if (t->owner) {
		out_text(o, " (");
		out_str(o, "owner_type", t->owner_type ? t->owner_type : "?");
		out_text(o, " ");
		out_hex(o, "owner", t->owner);
		out_text(o, ")");
	} else {
		out_hide_text(o, true);
		out_null(o, "owner_type");
		out_null(o, "owner");
		out_hide_text(o, false);
	}
	if (!t->goroutine && !t->channel)
		out_text(o, "calls %s", fn ? fn : t->function ? "an unnamed function" : "nothing known");
}

static void out_runtime_timer(struct session *s, const struct runtime_timer *rt)
{
	struct out *o = s->out;
	const struct strand_timer *t = &rt->t;
	out_obj(o, NULL);
	out_next_fire(o, t);
	out_period(o, t);
	out_strw(o, "kind", -7, t->kind);
	out_text(o, " ");
	out_wakes(s, t);
	out_text(o, "\n");
	out_hide_text(o, true);
	out_bool(o, "unreceivable", rt->unreceivable);
	out_hide_text(o, false);
	if (rt->unreceivable) {
		out_text(o, "      ! ");
		out_str(o, "flag", "nobody can receive from its channel: no goroutine, global or heap object refers to it "
				   "or to its owner");
		out_text(o, "\n");
	} else {
		out_hide_text(o, true);
		out_null(o, "flag");
		out_hide_text(o, false);
	}
	out_obj_end(o);
}

static void out_runtime_timers(struct session *s, const struct runtime_timers *ts)
{
	struct out *o = s->out;
	size_t flagged = 0;
	for (size_t i = 0; i < ts->n; i++)
		flagged += ts->v[i].unreceivable;
	out_text(o, "%zu runtime timer%s, by next fire", ts->n, ts->n == 1 ? "" : "s");
	out_text(o, ts->n ? ":\n" : ".\n");
	out_list(o, "runtime_timers");
	for (size_t i = 0; i < ts->n; i++)
		out_runtime_timer(s, &ts->v[i]);
	out_list_end(o);
	out_hide_text(o, true);
	out_uint(o, "flagged", flagged);
	out_hide_text(o, false);
	if (ts->not_checked)
		out_text(o, "Receivers not checked: ");
	out_hide_text(o, !ts->not_checked);
	out_str(o, "not_checked", ts->not_checked);
	out_hide_text(o, false);
	if (ts->not_checked)
		out_text(o, "\n");
}

int cmd_timers(struct session *s, const struct args *a)
{
	(void)a;
	struct out *o = s->out;
	const struct loaded_plugin *rt = plugin_goroutine_runtime(s);
	bool live = s->target->kind == TARGET_LIVE;
	if (!rt || !rt->p->runtime->timers) {
		if (!live) {
			out_error(o, "a core file records no timers: run this on the live process");
			return -1;
		}
		return out_posix_timers(s);
	}
	struct runtime_timers ts;
	if (runtime_timers_read(s, &ts) < 0) {
		out_error(o, "%s", error_get());
		return -1;
	}
	out_runtime_timers(s, &ts);
	runtime_timers_free(&ts);
	if (live)
		return out_posix_timers(s);
	out_text(o, "(a core file records no POSIX timers and no timerfds)\n");
	out_null(o, "posix_timers");
	out_null(o, "timerfds");
	return 0;
}
