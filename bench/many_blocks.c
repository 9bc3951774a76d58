/* bench: N heap blocks (default 10 million) of 16..64 bytes, every tenth
 * freed, for the heap walk. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000;
	void **keep = malloc((size_t)n * sizeof(void *));
	if (!keep)
		return 1;
	for (long i = 0; i < n; i++)
		keep[i] = malloc(16 + (size_t)(i % 4) * 16);
	for (long i = 0; i < n; i += 10)
		free(keep[i]);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
