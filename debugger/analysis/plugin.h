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

/* What an allocator plugin detects in the target. */
struct plugin_detection {
	const struct strand_plugin *p;
	int confidence;  /* 0..100 */
	char *evidence;  /* what the plugin said of it, NULL if nothing */
};
/* Every allocator plugin's detection, in load order; asked once per target
 * and set of plugins, valid until the next load or target. */
const struct plugin_detection *plugin_detections(struct session *s, size_t *n);
/* The allocator in use: the detection with the highest confidence (ties go
 * to the plugin loaded last). NULL if none fits. It may have no walker. */
const struct plugin_detection *plugin_allocator(struct session *s);
/* A detection-only plugin that detects its allocator beside the allocator
 * in use: the walk leaves its memory out. A walker named like it (a user's
 * plugin for that allocator) replaces it. */
bool plugin_left_out(const struct plugin_detection *d, const struct plugin_detection *use);
/* The thread-runtime plugin that fits the target best, or NULL. */
const struct loaded_plugin *plugin_runtime(struct session *s);
/* The runtime plugin that lists the target's goroutines (ABI 6), or NULL. */
const struct loaded_plugin *plugin_goroutine_runtime(struct session *s);
/* Whether addr lies in a heap the goroutine runtime manages itself (Go's
 * arenas): *start gets the region's start, *what its name. False for any other
 * address, and when no such runtime fits the target. */
bool plugin_heap_region(struct session *s, uint64_t addr, uint64_t *start, const char **what);
/* A runtime plugin's confidence, with what it says as evidence (malloc'd or NULL). */
int plugin_detect_runtime(struct session *s, const struct strand_plugin *p, char **evidence);
/* Where the program's calls to the function name go (the host's `binding`),
 * and how that was found: "the executable's GOT" or "the dynamic linker's
 * search order". */
bool plugin_binding(struct session *s, const char *name, uint64_t *addr, const char **how);
/* Thread i as plugins see it (frames left NULL). */
void plugin_thread_info(struct session *s, size_t i, struct strand_thread_info *out);
/* Set every thread's thread_pointer: from fs_base, else from the thread
 * runtime's descriptors (tid -> descriptor). Once the symbols are open. */
void plugin_find_thread_pointers(struct session *s);
void plugins_unload(void);

#endif
