#include "disasm.h"

#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "base/util.h"

const char *disasm_symbolic(struct session *s, uint64_t addr, char *buf, size_t len)
{
	char *name = symbol_offset_as_linkage(s->symbols, addr);
	buf[0] = '\0';
	if (name)
		snprintf(buf, len, "<%s>", name);
	free(name);
	return buf;
}

/* An operand that is a direct call or jump target: its symbol, gdb-style. */
static void out_operands(struct session *s, const cs_insn *in)
{
	out_str(s->out, "operands", in->op_str);
	const cs_x86 *x = &in->detail->x86;
	bool branch = false;
	for (uint8_t g = 0; g < in->detail->groups_count; g++)
		if (in->detail->groups[g] == CS_GRP_CALL || in->detail->groups[g] == CS_GRP_JUMP)
			branch = true;
	if (!branch || x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return;
	char sym[256];
	if (*disasm_symbolic(s, (uint64_t)x->operands[0].imm, sym, sizeof(sym))) {
		out_text(s->out, " ");
		out_str(s->out, "target", sym);
	}
}

static void out_insn(struct session *s, const cs_insn *in, uint64_t mark)
{
	struct out *o = s->out;
	char sym[256];
	out_obj(o, NULL);
	out_text(o, in->address == mark ? "=> " : "   ");
	out_hide_text(o, true);
	out_bool(o, "current", in->address == mark);
	out_hide_text(o, false);
	out_addr(o, "address", in->address);
	out_text(o, " ");
	disasm_symbolic(s, in->address, sym, sizeof(sym));
	if (sym[0])
		out_str(o, "symbol", sym);
	out_text(o, ":\t");
	out_hide_text(o, true);
	char hex[48] = "";
	for (size_t i = 0; i < in->size && i < 15; i++)
		snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02x", in->bytes[i]);
	out_str(o, "bytes", hex);
	out_hide_text(o, false);
	out_strw(o, "mnemonic", -6, in->mnemonic);
	out_text(o, " ");
	out_operands(s, in);
	out_text(o, "\n");
	out_obj_end(o);
}

uint64_t disasm_print(struct session *s, uint64_t addr, uint64_t end, size_t count, uint64_t mark)
{
	csh cs;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return 0;
	cs_option(cs, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *in = cs_malloc(cs);
	uint8_t buf[4096];
	uint64_t pc = addr;
	size_t done = 0;
	while ((!count || done < count) && (!end || pc < end) && !session_interrupted()) {
		size_t n = target_read(s->target, pc, buf, sizeof(buf));
		if (end && n > end - pc)
			n = (size_t)(end - pc);
		const uint8_t *code = buf;
		uint64_t at = pc;
		size_t before = done;
		while ((!count || done < count) && cs_disasm_iter(cs, &code, &n, &at, in)) {
			out_insn(s, in, mark);
			done++;
		}
		if (done == before)
			break; /* unreadable or undecodable */
		pc = at;
	}
	cs_free(in, 1);
	cs_close(&cs);
	return done ? pc : 0;
}
