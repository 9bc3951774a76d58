#include "progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

static double last_draw;
static bool drawn;

void progress_update(const char *what, uint64_t done, uint64_t total)
{
	if (!total || !isatty(2))
		return;
	double now = now_seconds();
	if (now - last_draw < 0.1)
		return;
	last_draw = now;
	drawn = true;
	fprintf(stderr, "\r%s: %3d%%\033[K", what, (int)(done * 100 / total));
	fflush(stderr);
}

void progress_done(void)
{
	if (!drawn)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	drawn = false;
	last_draw = 0;
}
