#include "syscalls.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"

static const char *const names[] = {
#include "syscall_table.h"
};

const char *syscall_name(long nr)
{
	static char buf[32];
	if (nr >= 0 && (size_t)nr < ARRAY_SIZE(names) && names[nr])
		return names[nr];
	snprintf(buf, sizeof(buf), "syscall_%ld", nr);
	return buf;
}

long syscall_number(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i] && !strcmp(names[i], name))
			return (long)i;
	return -1;
}
