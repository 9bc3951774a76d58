/* bench: a process with SIZE MiB (default 1024) of written anonymous memory,
 * for gcore timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
	for (size_t i = 0; i < mib; i++) {
		char *p = malloc(1 << 20);
		if (!p)
			return 1;
		memset(p, (int)i, 1 << 20);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
