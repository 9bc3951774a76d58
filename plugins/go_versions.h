/* The Go runtime's layout by release, for programs without DWARF.
 *
 * The Go plugin reads every offset and constant from the program's DWARF; a
 * program built with -ldflags=-w has none. This table holds, for the releases
 * it knows, what that DWARF would have said about the members and constants
 * the plugin asks, generated from a program built with DWARF by
 * tests/go/layout_table.py. It includes nothing but the C library's headers. */
#ifndef STRAND_GO_VERSIONS_H
#define STRAND_GO_VERSIONS_H

#include <stdbool.h>
#include <stdint.h>

struct go_layout_member {
	const char *type, *member; /* member NULL: the type's size */
	uint64_t offset, size;
};

struct go_layout_constant {
	const char *name;
	int64_t value;
};

struct go_release_layout {
	const char *release; /* "go1.19": matches go1.19, go1.19.8, go1.19rc1 but not go1.190 */
	const struct go_layout_member *members;
	size_t nmembers;
	const struct go_layout_constant *constants;
	size_t nconstants;
};

/* The table's layout for a runtime.buildVersion ("go1.19.13"); NULL when the
 * table does not know its release. */
const struct go_release_layout *go_release_layout(const char *build_version);
/* As the host's type_member and constant, from the table. */
bool go_layout_member(const struct go_release_layout *r, const char *type, const char *member, uint64_t *offset,
		      uint64_t *size);
bool go_layout_constant(const struct go_release_layout *r, const char *name, int64_t *value);
/* The releases the table knows, for messages: "go1.19". */
const char *go_known_releases(void);

#endif
