/* info symbol ADDRESS: which symbol, section and module an address is in. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/frames.h"
#include "base/util.h"
#include "commands.h"

int cmd_info_symbol(struct session *s, const struct args *a)
{
	uint64_t addr;
	if (!symbols_resolve_address(s->symbols, a->rest, session_thread(s), &addr)) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	struct out *o = s->out;
	out_hide_text(o, true);
	out_hex(o, "address", addr);
	out_hide_text(o, false);
	struct sym_info si;
	if (!symbols_addr_info(s->symbols, addr, &si) || !si.name) {
		out_text(o, "No symbol matches %s.\n", a->rest);
		out_null(o, "symbol");
		return 0;
	}
	char *name = demangle(si.name);
	out_str(o, "symbol", name);
	free(name);
	if (si.offset)
		out_text(o, " + ");
	out_hide_text(o, !si.offset);
	out_uint(o, "offset", si.offset);
	out_hide_text(o, false);
	const char *section = symbols_section(s->symbols, addr);
	out_text(o, " in section ");
	out_str(o, "section", section ? section : "?");
	bool named = symbols_module_count(s->symbols) > 1; /* gdb: whenever there are several, the program too */
	if (named)
		out_text(o, " of ");
	out_hide_text(o, !named);
	out_str(o, "module", si.module);
	out_hide_text(o, false);
	out_text(o, "\n");
	return 0;
}
