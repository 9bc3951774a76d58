#include "maps.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void maps_add(struct maps *m, const struct mapping *mp)
{
	GROW(m->v, m->cap, m->n + 1);
	m->v[m->n] = *mp;
	m->v[m->n].path = mp->path ? xstrdup(mp->path) : NULL;
	m->n++;
}

void maps_mark_written(struct maps *m, const char *text)
{
	struct mapping *cur = NULL;
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		uint64_t start, end, kb;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2 && strchr(line, ' ') > strchr(line, '-')) {
			struct mapping *mp = (struct mapping *)maps_find(m, start);
			cur = mp && mp->start == start ? mp : NULL;
		} else if (cur && sscanf(line, "Anonymous: %" SCNu64 " kB", &kb) == 1) {
			cur->written = kb > 0;
		}
	}
}

static unsigned parse_perms(const char *p)
{
	unsigned perms = 0;
	if (p[0] == 'r')
		perms |= MAP_R;
	if (p[1] == 'w')
		perms |= MAP_W;
	if (p[2] == 'x')
		perms |= MAP_X;
	if (p[3] == 's')
		perms |= MAP_SHARED_;
	return perms;
}

static int parse_line(struct maps *m, const char *line)
{
	struct mapping mp = { 0 };
	char perms[5];
	int path_at = 0;
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &mp.start, &mp.end,
		   perms, &mp.offset, &mp.dev_major, &mp.dev_minor, &mp.inode, &path_at) < 7 ||
	    mp.end < mp.start || strlen(perms) != 4)
		return error_set("malformed mapping line: %.80s", line);
	mp.perms = parse_perms(perms);
	const char *path = line + path_at;
	if (*path)
		mp.path = (char *)path;
	maps_add(m, &mp);
	return 0;
}

int maps_parse(struct maps *m, const char *text)
{
	char *copy = xstrdup(text);
	int rc = 0;
	for (char *line = copy, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line && (rc = parse_line(m, line)) < 0)
			break;
	}
	free(copy);
	if (rc == 0)
		maps_sort(m);
	return rc;
}

static int by_start(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

void maps_sort(struct maps *m)
{
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), by_start);
}

void maps_free(struct maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

const struct mapping *maps_find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

const char *maps_perms_str(unsigned perms, char buf[5])
{
	buf[0] = perms & MAP_R ? 'r' : '-';
	buf[1] = perms & MAP_W ? 'w' : '-';
	buf[2] = perms & MAP_X ? 'x' : '-';
	buf[3] = perms & MAP_SHARED_ ? 's' : 'p';
	buf[4] = '\0';
	return buf;
}

bool mapping_is_file(const struct mapping *mp)
{
	return mp->path && mp->path[0] == '/';
}

void maps_each_writable(const struct maps *m, uint64_t low, uint64_t high,
			void (*fn)(void *arg, uint64_t start, uint64_t end), void *arg)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct mapping *mp = &m->v[i];
		uint64_t start = mp->start > low ? mp->start : low, end = mp->end < high ? mp->end : high;
		if ((mp->perms & (MAP_R | MAP_W)) == (MAP_R | MAP_W) && start < end)
			fn(arg, start, end);
	}
}
