/* info proc mappings */
#include "base/util.h"
#include "commands.h"

int cmd_info_proc_mappings(struct session *s, const struct args *a)
{
	(void)a;
	struct out *o = s->out;
	const struct maps *m = &s->target->maps;
	out_text(o, "%s\nMapped address spaces:\n\n", s->target->description);
	out_text(o, "%20s %18s %10s %10s  %-5s  %s\n", "Start Addr", "End Addr", "Size", "Offset", "Perms", "objfile");
	out_list(o, "mappings");
	for (size_t i = 0; i < m->n; i++) {
		const struct mapping *mp = &m->v[i];
		char perms[5], buf[32];
		out_obj(o, NULL);
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mp->start);
		out_text(o, "%20s ", buf);
		out_hide_text(o, true);
		out_hex(o, "start", mp->start);
		out_hex(o, "end", mp->end);
		out_uint(o, "size", mp->end - mp->start);
		out_hex(o, "offset", mp->offset);
		out_hide_text(o, false);
		out_text(o, "%18s ", (snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mp->end), buf));
		out_text(o, "%10s ", (snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)(mp->end - mp->start)), buf));
		out_text(o, "%10s  ", (snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mp->offset), buf));
		out_strw(o, "perms", -5, maps_perms_str(mp->perms, perms));
		out_text(o, "  ");
		out_str(o, "path", mp->path);
		out_text(o, "\n");
		out_obj_end(o);
	}
	out_list_end(o);
	return 0;
}
