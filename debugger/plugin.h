/* Plugins: the host side of plugins/strand_plugin.h. Built-in plugins are
 * registered at start; external ones are dlopen'd (`plugin load PATH`,
 * --plugin PATH). The engine asks for "the allocator" and gets the plugin
 * that detects its allocator in the target with the highest confidence. */
#ifndef STRAND_PLUGIN_HOST_H
#define STRAND_PLUGIN_HOST_H

#include "../plugins/strand_plugin.h"
#include "session.h"

struct loaded_plugin {
	const struct strand_plugin *p;
	char *path; /* NULL for built-in */
	void *handle;
};

/* Load an external plugin. Returns 0, or -1 with error_set(). */
int plugin_load(const char *path);
/* Every plugin, built-in first. */
const struct loaded_plugin *plugin_list(size_t *n);
/* The host handle for a session (valid until the next call). */
struct strand_host *plugin_host(struct session *s);
/* The allocator plugin that fits the target best, and its confidence. NULL if none. */
const struct loaded_plugin *plugin_allocator(struct session *s, int *confidence);
/* The thread-runtime plugin that fits the target best, or NULL. */
const struct loaded_plugin *plugin_runtime(struct session *s);
/* Thread i as plugins see it (frames left NULL). */
void plugin_thread_info(struct session *s, size_t i, struct strand_thread_info *out);
/* Set every thread's thread_pointer: from fs_base, else from the thread
 * runtime's descriptors (tid -> descriptor). Once the symbols are open. */
void plugin_find_thread_pointers(struct session *s);
void plugins_unload(void);

#endif
