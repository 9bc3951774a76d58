/* bench: heaps for the leak check.
 *   pointer_heap many [N]    N blocks of 32 bytes (default 16 million, ~0.5 GiB), each list
 *                            node pointing to the next; one in ten lists is dropped (lost)
 *   pointer_heap dense [MiB] MiB of 4 KiB blocks (default 2048) full of pointers to
 *                            random other blocks
 *   pointer_heap tree [N]    N blocks of 32 bytes (default 4 million) in one binary tree
 *                            whose nodes lie at random places: no order of the heap
 *                            follows its pointers
 *   pointer_heap anon [MiB]  a million blocks of 32 bytes, and MiB (default 256) of
 *                            anonymous memory full of pointers to them: roots, not heap
 *   pointer_heap maps [N]    two million blocks of 32 bytes held by an array, and N
 *                            (default 4000) small anonymous mappings
 * With a third argument "exit", it exits instead of waiting (for `strand run
 * --leak-check` and valgrind, which check at exit). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct node {
	struct node *next;
	uint64_t payload[2];
};

static struct node **lists;
static void **dense;
void **tree; /* not static: read by no one here, it must still be stored */

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
	} else if (!strcmp(mode, "anon")) {
		long mib = argc > 2 ? atol(argv[2]) : 256, n = 1000000, words = mib << 17;
		void **blocks = malloc((size_t)n * sizeof(*blocks));
		for (long i = 0; i < n; i++)
			blocks[i] = calloc(1, 32);
		void **pool = mmap(NULL, (size_t)mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t seed = 88172645463325252ull;
		for (long i = 0; pool != MAP_FAILED && i < words; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			pool[i] = blocks[seed % (uint64_t)n];
		}
	} else if (!strcmp(mode, "maps")) {
		long maps = argc > 2 ? atol(argv[2]) : 4000, n = 2000000;
		dense = malloc((size_t)n * sizeof(*dense));
		for (long i = 0; i < n; i++)
			dense[i] = calloc(1, 32);
		for (long i = 0; i < maps; i++) {
			char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m != MAP_FAILED)
				mprotect(m + 4096, 4096, PROT_READ); /* two mappings, not merged with the next */
		}
	} else if (!strcmp(mode, "tree")) {
		long n = argc > 2 ? atol(argv[2]) : 4000000;
		void ***v = malloc((size_t)n * sizeof(*v));
		uint64_t seed = 88172645463325252ull;
		for (long i = 0; i < n; i++)
			v[i] = calloc(1, 32);
		for (long i = n - 1; i > 0; i--) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			long j = (long)(seed % (uint64_t)(i + 1));
			void **t = v[i];
			v[i] = v[j];
			v[j] = t;
		}
		for (long i = 0; i < n; i++)
			for (long c = 2 * i + 1; c <= 2 * i + 2 && c < n; c++)
				v[i][c - 2 * i - 1] = v[c];
		tree = (void **)v[0];
		memset(v, 0, (size_t)n * sizeof(*v));
		free(v);
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
