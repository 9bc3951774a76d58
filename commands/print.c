/* print[/x] EXPR, info locals, info args: values from DWARF in the selected frame. */
#include <inttypes.h>
#include <string.h>

#include "analysis/goroutines.h"
#include "symbols/dwarf_values.h"
#include "base/util.h"
#include "commands.h"

/* The selected frame of the selected thread, if it unwinds. */
static bool selected_frame(struct session *s, struct stack *st)
{
	struct thread *th = s->target ? session_thread(s) : NULL;
	if (!th || stack_build(s, th, st) < 0)
		return false;
	if (s->frame < st->n)
		return true;
	stack_free(st);
	return false;
}

/* gdb's types for registers: pointers for sp/fp/pc, long for the rest. */
static void format_register(struct session *s, const struct value *v, struct strbuf *sb, bool hex)
{
	const char *r = v->register_name;
	if (!strcmp(r, "pc") || !strcmp(r, "rip")) {
		sb_addf(sb, "(void (*)()) 0x%" PRIx64, v->bits);
		value_symbol(s, v->bits, sb);
	} else if (!strcmp(r, "sp") || !strcmp(r, "rsp") || !strcmp(r, "fp") || !strcmp(r, "rbp")) {
		sb_addf(sb, "(void *) 0x%" PRIx64, v->bits);
	} else {
		sb_addf(sb, hex ? "0x%" PRIx64 : "%" PRId64, v->bits);
	}
}

static void queue_text(const char *name, size_t n, const uint64_t *ids, struct strbuf *sb)
{
	sb_addf(sb, ", %s = [", name);
	for (size_t i = 0; i < n && i < STRAND_MAX_CHANNEL_WAITERS; i++)
		sb_addf(sb, "%sgoroutine %" PRIu64, i ? ", " : "", ids[i]);
	if (n > STRAND_MAX_CHANNEL_WAITERS)
		sb_addf(sb, ", ... (%zu in all)", n);
	sb_adds(sb, "]");
}

/* "0xc000074000 {elem = int, len = 0, cap = 0, closed = false, sendq =
 * [goroutine 6], recvq = []}": a channel as its runtime knows it; nil for a
 * nil channel; its bare pointer when the runtime cannot be read. */
static void format_channel(struct session *s, uint64_t addr, struct strand_channel *ch, struct strbuf *sb)
{
	if (!addr) {
		sb_adds(sb, "nil");
		return;
	}
	sb_addf(sb, "0x%" PRIx64, addr);
	if (goroutine_channel(s, addr, ch) < 0) {
		sb_addf(sb, " <%s>", error_get());
		ch->address = 0;
		return;
	}
	sb_addf(sb, " {elem = %s, len = %" PRIu64 ", cap = %" PRIu64 ", closed = %s",
		ch->elem_type[0] ? ch->elem_type : "?", ch->len, ch->cap, ch->closed ? "true" : "false");
	queue_text("sendq", ch->nsenders, ch->senders, sb);
	queue_text("recvq", ch->nreceivers, ch->receivers, sb);
	sb_adds(sb, "}");
}

static void out_queue(struct out *o, const char *name, size_t n, const uint64_t *ids, const bool *in_select)
{
	out_list(o, name);
	for (size_t i = 0; i < n && i < STRAND_MAX_CHANNEL_WAITERS; i++) {
		out_obj(o, NULL);
		out_uint(o, "goroutine", ids[i]);
		out_bool(o, "select", in_select[i]);
		out_obj_end(o);
	}
	out_list_end(o);
}

/* The channel's state in JSON beside its text (null when none was read). */
static void out_channel(struct out *o, const struct strand_channel *ch)
{
	if (!ch->address) {
		out_null(o, "channel");
		return;
	}
	out_obj(o, "channel");
	out_str(o, "elem_type", ch->elem_type);
	out_uint(o, "elem_size", ch->elem_size);
	out_uint(o, "len", ch->len);
	out_uint(o, "cap", ch->cap);
	out_bool(o, "closed", ch->closed);
	out_uint(o, "senders", ch->nsenders);
	out_uint(o, "receivers", ch->nreceivers);
	out_queue(o, "sendq", ch->nsenders, ch->senders, ch->select_sender);
	out_queue(o, "recvq", ch->nreceivers, ch->receivers, ch->select_receiver);
	out_obj_end(o);
}

static void print_value(struct session *s, const struct value *v, bool hex)
{
	struct strand_channel ch = { 0 };
	uint64_t chan;
	struct strbuf val = STRBUF_INIT, type = STRBUF_INIT;
	if (v->no_debug)
		sb_addf(&type, "<%s variable, no debug info>", v->no_debug_text ? "text" : "data");
	else
		type_name((Dwarf_Die *)&v->type, v->have_type, &type);
	if (v->address_of) {
		sb_addf(&val, "(%s *) 0x%" PRIx64, type.buf, v->addr);
		value_symbol(s, v->addr, &val);
		sb_adds(&type, " *");
	} else if (v->register_name) {
		format_register(s, v, &val, hex);
	} else if (hex && v->kind != VAL_NONE && type_size((Dwarf_Die *)&v->type) <= 8) {
		uint64_t u = v->bits;
		size_t size = v->have_type ? (size_t)type_size((Dwarf_Die *)&v->type) : 8;
		if (v->kind == VAL_MEMORY && !target_read_all(s->target, v->addr, &u, size ? size : 8))
			sb_addf(&val, "<error: Cannot access memory at address 0x%" PRIx64 ">", v->addr);
		else
			sb_addf(&val, "0x%" PRIx64, size && size < 8 ? u & (((uint64_t)1 << (8 * size)) - 1) : u);
	} else if (!v->have_type && v->kind == VAL_CONSTANT) {
		/* A literal: long when it fits, else unsigned long, as gdb types it. */
		if (v->bits > INT64_MAX)
			sb_addf(&val, "%" PRIu64, v->bits);
		else
			sb_addf(&val, "%" PRId64, (int64_t)v->bits);
	} else if (value_go_channel(s, v, &chan)) {
		format_channel(s, chan, &ch, &val);
	} else {
		value_format(s, v, &val);
	}
	s->value_history++;
	out_text(s->out, "$%d = ", s->value_history);
	out_str(s->out, "value", val.buf ? val.buf : "");
	out_text(s->out, "\n");
	out_hide_text(s->out, true);
	out_int(s->out, "history", s->value_history);
	out_str(s->out, "type", type.buf);
	if (v->kind == VAL_MEMORY && !v->address_of)
		out_hex(s->out, "address", v->addr);
	else
		out_null(s->out, "address");
	out_channel(s->out, &ch);
	out_hide_text(s->out, false);
	sb_release(&val);
	sb_release(&type);
}

int cmd_print(struct session *s, const struct args *a)
{
	const char *expr = a->rest;
	bool hex = false;
	if (expr[0] == '/') {
		hex = expr[1] == 'x';
		if (!expr[1] || !strchr("xd", expr[1]) || (expr[2] && expr[2] != ' ')) {
			out_error(s->out, "Undefined output format \"%c\".", expr[1]);
			return -1;
		}
		expr += 2;
	}
	struct stack st;
	bool have_frame = selected_frame(s, &st);
	struct value_frame vf = { s, have_frame ? &st.bt.frames[st.f[s->frame].phys] : NULL,
				  have_frame ? &st.f[s->frame] : NULL };
	struct value v;
	bool ok = value_eval(s, &vf, expr, &v);
	if (ok)
		print_value(s, &v, hex);
	else
		out_error(s->out, "%s", error_get());
	if (have_frame)
		stack_free(&st);
	return ok ? 0 : -1;
}

static int frame_variables(struct session *s, bool args)
{
	struct stack st;
	if (!selected_frame(s, &st)) {
		out_error(s->out, "No frame selected.");
		return -1;
	}
	out_frame_variables(s, &st, s->frame, args, "");
	stack_free(&st);
	return 0;
}

int cmd_info_locals(struct session *s, const struct args *a)
{
	(void)a;
	return frame_variables(s, false);
}

int cmd_info_args(struct session *s, const struct args *a)
{
	(void)a;
	return frame_variables(s, true);
}
