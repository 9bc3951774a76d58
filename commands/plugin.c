/* plugin load PATH, info plugins */
#include <stdlib.h>

#include "analysis/plugin.h"
#include "base/util.h"
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
	session_forget_heap(s);
	return 0;
}

/* The detection of an allocator plugin. */
static const struct plugin_detection *detection_of(struct session *s, const struct strand_plugin *p)
{
	size_t n;
	const struct plugin_detection *d = plugin_detections(s, &n);
	for (size_t i = 0; i < n; i++)
		if (d[i].p == p)
			return &d[i];
	return NULL;
}

/* Where the program's malloc resolves, and how that was found. */
static void out_malloc_binding(struct session *s)
{
	struct out *o = s->out;
	uint64_t addr;
	const char *how;
	struct sym_info si;
	if (!plugin_binding(s, "malloc", &addr, &how)) {
		out_text(o, "Where malloc resolves is not known (no GOT entry for it and no dynamic linker's list).\n");
		out_null(o, "malloc");
		return;
	}
	bool known = symbols_addr_info(s->symbols, addr, &si);
	out_obj(o, "malloc");
	out_text(o, "malloc resolves to ");
	out_hex(o, "address", addr);
	out_text(o, " in ");
	out_str(o, "module", known ? si.module : NULL);
	out_text(o, "%s, by ", known && si.module ? "" : "no module");
	out_str(o, "how", how);
	out_text(o, "\n");
	out_obj_end(o);
}

/* The allocator in use and what strand can do with it; then the allocators
 * detected beside it that the walk leaves out. */
static void out_in_use(struct session *s)
{
	struct out *o = s->out;
	const struct plugin_detection *use = plugin_allocator(s);
	if (!use) {
		out_text(o, "Allocator in use: none recognised: the heap cannot be analysed.\n");
		out_null(o, "in_use");
		out_list(o, "not_walked");
		out_list_end(o);
		return;
	}
	bool walker = use->p->allocator->walk != NULL;
	out_obj(o, "in_use");
	out_text(o, "Allocator in use: ");
	out_str(o, "name", use->p->name);
	out_hide_text(o, true);
	out_bool(o, "walker", walker);
	out_str(o, "evidence", use->evidence);
	out_hide_text(o, false);
	out_text(o, walker ? ", with a walker\n"
			   : ", no walker: heap, leaks, top, arrays, escape, why and report fail on this target\n");
	out_obj_end(o);
	size_t n;
	const struct plugin_detection *d = plugin_detections(s, &n);
	out_list(o, "not_walked");
	for (size_t i = 0; walker && i < n; i++) {
		if (!plugin_left_out(&d[i], use))
			continue;
		out_obj(o, NULL);
		out_text(o, "Also in use, not walked: ");
		out_str(o, "name", d[i].p->name);
		out_text(o, ": its memory is not analysed\n");
		out_obj_end(o);
	}
	out_list_end(o);
}

int cmd_info_plugins(struct session *s, const struct args *a)
{
	(void)a;
	size_t n;
	const struct loaded_plugin *p = plugin_list(&n);
	struct out *o = s->out;
	out_list(o, "plugins");
	for (size_t i = 0; i < n; i++) {
		const struct strand_plugin *pl = p[i].p;
		char *runtime_evidence = NULL;
		const char *evidence = NULL;
		out_obj(o, NULL);
		out_strw(o, "name", -16, pl->name);
		out_text(o, " ");
		out_str(o, "path", p[i].path ? p[i].path : "(built in)");
		out_hide_text(o, true);
		out_str(o, "description", pl->description);
		out_bool(o, "allocator", pl->allocator != NULL);
		out_bool(o, "runtime", pl->runtime != NULL);
		out_bool(o, "walker", pl->allocator && pl->allocator->walk);
		out_hide_text(o, false);
		if (pl->allocator && s->target) {
			const struct plugin_detection *d = detection_of(s, pl);
			out_text(o, ", allocator detected with confidence ");
			out_int(o, "confidence", d->confidence);
			out_text(o, pl->allocator->walk ? ", walker" : ", no walker");
			evidence = d->evidence;
		} else if (pl->runtime && s->target) {
			out_text(o, ", %s runtime detected with confidence ", pl->runtime->goroutines ? "goroutine" : "thread");
			out_int(o, "confidence", plugin_detect_runtime(s, pl, &runtime_evidence));
			evidence = runtime_evidence;
		} else {
			out_null(o, "confidence");
		}
		out_text(o, "\n    %s\n", pl->description);
		if (evidence)
			out_text(o, "    evidence: ");
		out_str(o, "evidence", evidence);
		if (evidence)
			out_text(o, "\n");
		free(runtime_evidence);
		out_obj_end(o);
	}
	out_list_end(o);
	if (!s->target)
		return 0;
	out_malloc_binding(s);
	out_in_use(s);
	return 0;
}
