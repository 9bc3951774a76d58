/* plugin load PATH, info plugins */
#include "../debugger/plugin.h"
#include "../debugger/reach.h"
#include "../debugger/util.h"
#include "commands.h"

int cmd_plugin_load(struct session *s, const struct args *a)
{
	if (plugin_load(a->rest) < 0) {
		out_error(s->out, "%s", error_get());
		return -1;
	}
	size_t n;
	const struct loaded_plugin *p = plugin_list(&n);
	out_text(s->out, "Loaded plugin ");
	out_str(s->out, "name", p[n - 1].p->name);
	out_text(s->out, " from ");
	out_str(s->out, "path", p[n - 1].path);
	out_text(s->out, "\n");
	/* A new allocator plugin may walk the heap differently. */
	reach_free(s->reach);
	s->reach = NULL;
	heap_free(s->heap);
	s->heap = NULL;
	return 0;
}

int cmd_info_plugins(struct session *s, const struct args *a)
{
	(void)a;
	size_t n;
	const struct loaded_plugin *p = plugin_list(&n);
	struct out *o = s->out;
	out_list(o, "plugins");
	for (size_t i = 0; i < n; i++) {
		out_obj(o, NULL);
		out_strw(o, "name", -16, p[i].p->name);
		out_text(o, " ");
		out_str(o, "path", p[i].path ? p[i].path : "(built in)");
		out_hide_text(o, true);
		out_str(o, "description", p[i].p->description);
		out_bool(o, "allocator", p[i].p->allocator != NULL);
		out_bool(o, "runtime", p[i].p->runtime != NULL);
		out_hide_text(o, false);
		if (p[i].p->allocator && s->target) {
			out_text(o, ", allocator detected with confidence ");
			out_int(o, "confidence", p[i].p->allocator->detect(plugin_host(s)));
		} else if (p[i].p->runtime && s->target) {
			out_text(o, ", thread runtime detected with confidence ");
			out_int(o, "confidence", p[i].p->runtime->detect(plugin_host(s)));
		} else {
			out_null(o, "confidence");
		}
		out_text(o, "\n    %s\n", p[i].p->description);
		out_obj_end(o);
	}
	out_list_end(o);
	return 0;
}
