/* info sharedlibrary: every module libdwfl found, with its symbol and debug info state. */
#include "base/util.h"
#include "commands.h"

static bool out_module(const struct module_info *m, void *arg)
{
	struct out *o = arg;
	out_obj(o, NULL);
	out_addr(o, "from", m->low);
	out_text(o, "  ");
	out_addr(o, "to", m->high);
	out_text(o, "  ");
	out_text(o, "%-5s%-7s", m->has_symtab ? "Yes" : "No", m->has_debug_info ? "Yes" : "No");
	out_hide_text(o, true);
	out_bool(o, "symbols", m->has_symtab);
	out_bool(o, "debug_info", m->has_debug_info);
	out_str(o, "debug_file", m->debug_file);
	struct strbuf id = STRBUF_INIT;
	for (int i = 0; i < m->build_id_len; i++)
		sb_addf(&id, "%02x", m->build_id[i]);
	out_str(o, "build_id", m->build_id_len > 0 ? sb_str(&id) : NULL);
	sb_release(&id);
	out_hide_text(o, false);
	out_str(o, "path", m->path);
	out_text(o, "\n");
	out_obj_end(o);
	return true;
}

int cmd_info_sharedlibrary(struct session *s, const struct args *a)
{
	(void)a;
	out_text(s->out, "From                To                  Syms Debug  Shared Object Library\n");
	out_list(s->out, "modules");
	symbols_modules(s->symbols, out_module, s->out);
	out_list_end(s->out);
	return 0;
}
