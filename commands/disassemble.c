/* disassemble [ADDRESS|FUNCTION]: the whole function around an address. */
#include <inttypes.h>
#include <stdlib.h>

#include "symbols/disasm.h"
#include "symbols/frames.h"
#include "base/util.h"
#include "commands.h"

/* The selected frame's pc (the pc shown, not the lookup pc). */
static bool selected_pc(struct session *s, uint64_t *pc)
{
	struct thread *th = session_thread(s);
	struct stack st;
	if (!th || stack_build(s, th, &st) < 0)
		return false;
	bool ok = s->frame < st.n;
	if (ok)
		*pc = st.f[s->frame].pc;
	stack_free(&st);
	return ok;
}

int cmd_disassemble(struct session *s, const struct args *a)
{
	uint64_t addr, pc = 0;
	bool have_pc = selected_pc(s, &pc);
	if (a->argc) {
		if (!symbols_resolve_address(s->symbols, a->rest, session_thread(s), &addr)) {
			out_error(s->out, "%s", error_get());
			return -1;
		}
	} else if (have_pc) {
		addr = pc;
	} else {
		out_error(s->out, "No frame selected.");
		return -1;
	}
	struct sym_info si;
	if (!symbols_addr_info(s->symbols, addr, &si) || !si.name || !si.size) {
		out_error(s->out, "No function contains specified address.");
		return -1;
	}
	char *name = demangle(si.name);
	out_text(s->out, "Dump of assembler code for function ");
	out_str(s->out, "function", name);
	out_text(s->out, ":\n");
	free(name);
	out_list(s->out, "instructions");
	uint64_t end = disasm_print(s, si.start, si.start + si.size, 0, have_pc ? pc : 0);
	out_list_end(s->out);
	if (!end) {
		out_error(s->out, "Cannot access memory at address 0x%" PRIx64, si.start);
		return -1;
	}
	out_text(s->out, "End of assembler dump.\n");
	return 0;
}
