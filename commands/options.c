/* The one option some commands take: "--min-size N", "--error-exitcode N". */
#include <string.h>

#include "base/util.h"
#include "commands.h"

/* Nothing, or exactly "OPT VALUE" with a value parse accepts. */
static bool only_option(struct session *s, const struct args *a, const char *opt, const char *what,
			bool (*parse)(const char *text, void *out), void *out)
{
	if (!a->argc || (a->argc == 2 && !strcmp(a->argv[0], opt) && parse(a->argv[1], out)))
		return true;
	out_error(s->out, "usage: %s [%s %s]", a->name, opt, what);
	return false;
}

static bool parse_size_value(const char *text, void *out)
{
	return parse_size(text, out);
}

static bool parse_exitcode(const char *text, void *out)
{
	long *code = out;
	return parse_int(text, code) && *code > 0;
}

bool option_size(struct session *s, const struct args *a, const char *opt, uint64_t *size)
{
	return only_option(s, a, opt, "N", parse_size_value, size);
}

bool option_exitcode(struct session *s, const struct args *a, long *code)
{
	return only_option(s, a, "--error-exitcode", "N", parse_exitcode, code);
}
