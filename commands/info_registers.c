/* info registers [NAME...]: the selected frame's registers, as gdb prints them. */
#include <inttypes.h>
#include <string.h>

#include "symbols/frames.h"
#include "base/util.h"
#include "commands.h"

/* DWARF numbering of the registers an unwound frame knows. */
static int dwarf_regno(const char *name)
{
	static const char *const names[FRAME_NREGS] = { "rax", "rdx", "rcx", "rbx", "rsi", "rdi",
							"rbp", "rsp", "r8",  "r9",  "r10", "r11",
							"r12", "r13", "r14", "r15", "rip" };
	for (int i = 0; i < FRAME_NREGS; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

static void eflags_text(uint64_t v, char *buf, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} flags[] = { { 0, "CF" }, { 2, "PF" }, { 4, "AF" }, { 6, "ZF" }, { 7, "SF" },
		      { 8, "TF" }, { 9, "IF" }, { 10, "DF" }, { 11, "OF" } };
	size_t n = (size_t)snprintf(buf, len, "[ ");
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		if (v & (1ull << flags[i].bit) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s ", flags[i].name);
	if (n < len)
		snprintf(buf + n, len - n, "]");
}

static void out_register(struct session *s, const char *name, bool known, uint64_t v)
{
	struct out *o = s->out;
	out_obj(o, NULL);
	out_strw(o, "name", -15, name);
	if (!known) {
		out_null(o, "value");
		out_text(o, "<not saved>\n");
		out_obj_end(o);
		return;
	}
	char hex[32], natural[128];
	snprintf(hex, sizeof(hex), "0x%" PRIx64, v);
	out_text(o, "%-19s", hex);
	out_hide_text(o, true);
	out_hex(o, "value", v);
	out_hide_text(o, false);
	if (!strcmp(name, "rip")) {
		struct sym_info si;
		if (symbols_addr_info(s->symbols, v, &si) && si.name)
			snprintf(natural, sizeof(natural), "0x%" PRIx64 " <%s+%" PRIu64 ">", v, si.name, si.offset);
		else
			snprintf(natural, sizeof(natural), "0x%" PRIx64, v);
	} else if (!strcmp(name, "eflags")) {
		eflags_text(v, natural, sizeof(natural));
	} else if (!strcmp(name, "rsp") || !strcmp(name, "rbp") || !strcmp(name, "fs_base") ||
		   !strcmp(name, "gs_base")) {
		snprintf(natural, sizeof(natural), "0x%" PRIx64, v);
	} else {
		snprintf(natural, sizeof(natural), "%" PRId64, (int64_t)v);
	}
	out_str(o, "natural", natural);
	out_text(o, "\n");
	out_obj_end(o);
}

/* Frame 0 has every register; an outer frame only those the unwinder recovered. */
static bool frame_register(struct session *s, const struct thread *th, const struct stack *st, const char *name,
			   uint64_t *v)
{
	if (s->frame == 0 || !st)
		return regs_get(&th->regs, name, v);
	const struct frame *f = &st->bt.frames[st->f[s->frame].phys];
	int r = dwarf_regno(name);
	if (r < 0 || !(f->regs_valid & (1u << r)))
		return false;
	*v = f->regs[r];
	return true;
}

int cmd_info_registers(struct session *s, const struct args *a)
{
	struct thread *th = session_thread(s);
	if (!th)
		return -1;
	if (th->regs_state != REGS_FULL) {
		out_error(s->out, "The registers of thread %d are unknown: it %s.", (int)th->tid,
			  th->regs_state == REGS_NONE ? "is running (--no-stop)" : "was not stopped (--no-stop)");
		return -1;
	}
	struct stack st;
	bool have_stack = s->frame > 0 && stack_build(s, th, &st) == 0 && s->frame < st.n;
	out_list(s->out, "registers");
	int rc = 0;
	if (a->argc == 0) {
		for (size_t i = 0; regs_name(i); i++) {
			uint64_t v = 0;
			if (!strcmp(regs_name(i), "orig_rax"))
				continue;
			bool known = frame_register(s, th, have_stack ? &st : NULL, regs_name(i), &v);
			out_register(s, regs_name(i), known, v);
		}
	}
	for (int k = 0; k < a->argc; k++) {
		const char *name = a->argv[k][0] == '$' ? a->argv[k] + 1 : a->argv[k];
		uint64_t v;
		if (!regs_get(&th->regs, name, &v)) {
			out_error(s->out, "Invalid register `%s'", name);
			rc = -1;
			break;
		}
		out_register(s, name, frame_register(s, th, have_stack ? &st : NULL, name, &v), v);
	}
	out_list_end(s->out);
	if (have_stack)
		stack_free(&st);
	return rc;
}
