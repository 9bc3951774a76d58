/* Memory mappings, as /proc/PID/maps lists them (and as a core's NT_FILE and
 * program headers describe them). */
#ifndef STRAND_MAPS_H
#define STRAND_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MAP_R = 1,
	MAP_W = 2,
	MAP_X = 4,
	MAP_SHARED_ = 8, /* 's' in /proc maps; the trailing _ avoids <sys/mman.h> */
};

struct mapping {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	uint64_t inode;
	unsigned dev_major, dev_minor;
	unsigned perms;      /* MAP_* bits */
	char *path;          /* NULL for anonymous; "[heap]", "[stack]", ... kept as is */
	bool written;        /* private file mapping with copy-on-write pages (smaps Anonymous > 0) */
};

struct maps {
	struct mapping *v;
	size_t n, cap;
};

/* Parse the text of /proc/PID/maps. Returns 0, or -1 with error_set() on a malformed line. */
int maps_parse(struct maps *m, const char *text);
/* Mark the mappings that /proc/PID/smaps shows with anonymous (written) pages. */
void maps_mark_written(struct maps *m, const char *smaps_text);
void maps_add(struct maps *m, const struct mapping *mp); /* copies mp->path */
void maps_sort(struct maps *m);
void maps_free(struct maps *m);
/* The mapping containing addr, or NULL. maps must be sorted. */
const struct mapping *maps_find(const struct maps *m, uint64_t addr);
/* "r-xp" for a mapping's permissions. */
const char *maps_perms_str(unsigned perms, char buf[5]);
/* A mapping whose path names a file (not [heap], [stack], ..., not anonymous). */
bool mapping_is_file(const struct mapping *mp);
/* fn for each readable and writable part of [low, high) (a module's data and
 * bss, the anonymous mapping that continues it included), in address order. */
void maps_each_writable(const struct maps *m, uint64_t low, uint64_t high,
			void (*fn)(void *arg, uint64_t start, uint64_t end), void *arg);

#endif
