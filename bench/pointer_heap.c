/* bench: heaps for the leak check.
 *   pointer_heap many [N]    N blocks of 32 bytes (default 16 million, ~0.5 GiB), each list
 *                            node pointing to the next; one in ten lists is dropped (lost)
 *   pointer_heap dense [MiB] MiB of 4 KiB blocks (default 2048) full of pointers to
 *                            random other blocks
 * With a third argument "exit", it exits instead of waiting (for `strand run
 * --leak-check` and valgrind, which check at exit). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
	struct node *next;
	uint64_t payload[2];
};

static struct node **lists;
static void **dense;

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "many";
	if (!strcmp(mode, "many")) {
		long n = argc > 2 ? atol(argv[2]) : 16000000, per = 100;
		lists = calloc((size_t)(n / per + 1), sizeof(*lists));
		for (long i = 0; i < n; i++) {
			struct node *x = malloc(sizeof(*x));
			x->next = lists[i / per];
			x->payload[0] = (uint64_t)i;
			lists[i / per] = x;
		}
		for (long l = 0; l < n / per; l += 10)
			lists[l] = NULL; /* lost: one list in ten */
	} else {
		long mib = argc > 2 ? atol(argv[2]) : 2048, n = mib * 256;
		dense = malloc((size_t)n * sizeof(*dense));
		for (long i = 0; i < n; i++)
			dense[i] = malloc(4096 - 8);
		uint64_t seed = 88172645463325252ull;
		for (long i = 0; i < n; i++)
			for (int w = 0; w < 511; w++) {
				seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
				((void **)dense[i])[w] = (char *)dense[seed % (uint64_t)n] + 8 * (seed >> 40 & 7);
			}
	}
	if (argc > 3 && !strcmp(argv[3], "exit"))
		exit(0);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
