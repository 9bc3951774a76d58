/* For comparing strand's leak classes with valgrind's, block for block, on
 * the same program: valgrind's memcheck/tests/leak-cases shapes (start and
 * interior pointers, chains through both, from roots and from lost blocks),
 * cycles, and each of valgrind's heuristics for interior pointers with its
 * condition true and false. Built in a frame that returns, then the program
 * exits without freeing anything: run it under valgrind --leak-check=full and
 * under strand run --leak-check.
 *
 * Every block is allocated on a line of its own, so that valgrind's loss
 * record for it (one per allocation stack) names it by that line. The
 * fixture records each block:
 *   {"kind":"block","label":"..","addr":"0x..","line":N,"class":"..","strand":"..","reason":".."}
 * class: what valgrind's rules give; strand: strand's, the same unless it
 * differs by design, and then reason names why (docs/commands.md lists the
 * differences). A lost cycle's lowest block, its leader, is recorded again:
 *   {"kind":"leader","addr":"0x..","class":"definitely lost"}. With
 * $STRAND_COMMANDS set, it also writes "why ADDRESS OPTIONS" for each block
 * there, for strand run -x, with the leak options in $STRAND_WHY_OPTIONS.
 *
 * Also, for `arrays`: a 40-byte block holding a pointer to an 8000-byte
 * buffer and a length of 0 in its last two words, followed by a chunk of
 * 4096 bytes, whose size header (4097) would read as a capacity: no
 * finding; and a 24-byte block holding a real {ptr, len, cap}:
 *   {"kind":"arrays","buffer":"0x..","holder":"0x..","finding":true|false} */
#include "fixture.h"

#include <stdint.h>

static FILE *commands;

static void record(void *p, const char *label, const char *cls, const char *strand, const char *reason, int line)
{
	fixture_truth("{\"kind\":\"block\",\"label\":\"%s\",\"addr\":\"%p\",\"line\":%d,\"class\":\"%s\","
		      "\"strand\":\"%s\",\"reason\":%s%s%s}",
		      label, p, line, cls, strand ? strand : cls, reason ? "\"" : "", reason ? reason : "null",
		      reason ? "\"" : "");
	if (commands)
		fprintf(commands, "why %p %s\n", p, getenv("STRAND_WHY_OPTIONS") ? getenv("STRAND_WHY_OPTIONS") : "");
}

/* The allocation and the record on the caller's line. */
#define BLOCK(var, size, label, cls) var = calloc(1, size), record(var, label, cls, NULL, NULL, __LINE__)
#define BLOCK_DIFFERS(var, size, label, cls, strand, reason) \
	var = calloc(1, size), record(var, label, cls, strand, reason, __LINE__)

/* valgrind's leak-cases: a node is one pointer in a 16-byte block, so that
 * node + 1 (8 bytes in) still points into it. */
typedef struct node {
	struct node *next;
} node;

node *p1, *p2, *p5, *p6, *p7, *p8, *p9;

static void leak_cases(void)
{
	node *a, *b;
	BLOCK(p1, 16, "case 1: root -> A", "still reachable");
	p1->next = NULL;

	BLOCK(a, 16, "case 2: root -> A -> B (A)", "still reachable");
	BLOCK(b, 16, "case 2: root -> A -> B (B)", "still reachable");
	a->next = b, b->next = NULL, p2 = a;

	BLOCK(a, 16, "case 3: A", "definitely lost");
	a->next = NULL;

	BLOCK(a, 16, "case 4: A -> B (A)", "definitely lost");
	BLOCK(b, 16, "case 4: A -> B (B)", "indirectly lost");
	a->next = b, b->next = NULL;

	BLOCK(a, 16, "case 5: root -?-> A", "possibly lost");
	a->next = NULL, p5 = a + 1;

	BLOCK(a, 16, "case 6: root -> A -?-> B (A)", "still reachable");
	BLOCK(b, 16, "case 6: root -> A -?-> B (B)", "possibly lost");
	b->next = NULL, a->next = b + 1, p6 = a;

	BLOCK(a, 16, "case 7: root -?-> A -> B (A)", "possibly lost");
	BLOCK(b, 16, "case 7: root -?-> A -> B (B)", "possibly lost");
	b->next = NULL, a->next = b, p7 = a + 1;

	BLOCK(a, 16, "case 8: root -?-> A -?-> B (A)", "possibly lost");
	BLOCK(b, 16, "case 8: root -?-> A -?-> B (B)", "possibly lost");
	b->next = NULL, a->next = b + 1, p8 = a + 1;

	BLOCK(a, 16, "case 9: A -?-> B (A)", "definitely lost");
	BLOCK(b, 16, "case 9: A -?-> B (B)", "indirectly lost");
	b->next = NULL, a->next = b + 1, p9 = NULL;
}

node *g_cycle, *g_interior_cycle;

static void cycles(void)
{
	node *a, *b, *c;
	BLOCK(a, 32, "lost cycle", "indirectly lost");
	BLOCK(b, 32, "lost cycle", "indirectly lost");
	BLOCK(c, 32, "lost cycle", "indirectly lost");
	a->next = b, b->next = c, c->next = a;
	/* The lowest address leads the cycle: the fixture records it again. */
	node *lowest = a < b ? (a < c ? a : c) : (b < c ? b : c);
	fixture_truth("{\"kind\":\"leader\",\"addr\":\"%p\",\"class\":\"definitely lost\"}", (void *)lowest);

	BLOCK(a, 32, "reachable cycle", "still reachable");
	BLOCK(b, 32, "reachable cycle", "still reachable");
	a->next = b, b->next = a, g_cycle = a;

	BLOCK(a, 32, "cycle behind an interior pointer", "possibly lost");
	BLOCK(b, 32, "cycle behind an interior pointer", "possibly lost");
	a->next = b, b->next = a, g_interior_cycle = a + 2;

	BLOCK(a, 32, "self", "definitely lost");
	a->next = a;
}

/* Function pointers in a read-only table: what valgrind's
 * multipleinheritance heuristic takes for a vtable. */
static void method_a(void) {}
static void method_b(void) {}
static void (*const vtable_a[])(void) = { method_a, method_b, NULL };
static void (*const vtable_b[])(void) = { method_b, method_a, NULL };
static const char not_a_vtable[] = "read-only, but not function pointers";

char *g_string, *g_bad_string, *g_length, *g_bad_length, *g_array, *g_odd_array, *g_bad_array, *g_base,
	*g_bad_base, *g_bad_first, *g_past_request;

/* A copy-on-write std::string's block (the old ABI): {length, capacity,
 * refcount}, capacity bytes and a NUL; the string points at the bytes. */
static char *cow_string(uint64_t *blk, uint64_t length, uint64_t capacity, const char *text)
{
	blk[0] = length, blk[1] = capacity, blk[2] = 0;
	strcpy((char *)(blk + 3), text);
	return (char *)(blk + 3);
}

static void heuristics(void)
{
	uint64_t *b;
	node *n;
	BLOCK(b, 24 + 15 + 1, "stdstring: capacity 15 in a 40-byte block", "still reachable");
	g_string = cow_string(b, 5, 15, "hello");
	BLOCK(b, 24 + 15 + 1, "stdstring: capacity 200 in a 40-byte block", "possibly lost");
	g_bad_string = cow_string(b, 5, 200, "hello");

	BLOCK(b, 48, "length64: 40 before 40 bytes", "still reachable");
	b[0] = 40, g_length = (char *)(b + 1);
	BLOCK(n, 16, "length64: a chain on through the block", "still reachable");
	n->next = NULL, b[1] = (uint64_t)n;
	BLOCK(b, 48, "length64: 1000 before 40 bytes", "possibly lost");
	b[0] = 1000, g_bad_length = (char *)(b + 1);

	BLOCK(b, 8 + 3 * 16, "newarray: 3 elements of 16 bytes", "still reachable");
	b[0] = 3, g_array = (char *)(b + 1);
	BLOCK(b, 8 + 7 * 13, "newarray: 7 elements of 13 bytes", "still reachable");
	b[0] = 7, g_odd_array = (char *)(b + 1);
	/* 100 bytes after the count do not divide by 60, nor do any of the
	 * requests a 120-byte block may have served (a count of 16 or less
	 * always divides one of them: see the docs) */
	BLOCK(b, 8 + 100, "newarray: 60 elements in 100 bytes", "possibly lost");
	b[0] = 60, g_bad_array = (char *)(b + 1);

	BLOCK(b, 32, "multipleinheritance: vtable pointers at 0 and 16", "still reachable");
	b[0] = (uint64_t)vtable_a, b[2] = (uint64_t)vtable_b, g_base = (char *)(b + 2);
	BLOCK(b, 32, "multipleinheritance: read-only data that is no vtable at 16", "possibly lost");
	b[0] = (uint64_t)vtable_a, b[2] = (uint64_t)not_a_vtable, g_bad_base = (char *)(b + 2);
	BLOCK(b, 32, "multipleinheritance: no vtable at 0", "possibly lost");
	b[0] = 0x1000, b[2] = (uint64_t)vtable_b, g_bad_first = (char *)(b + 2);

	/* malloc(20) has 24 usable bytes: 20 bytes in is past valgrind's block */
	BLOCK_DIFFERS(b, 20, "a pointer past the request, within the usable size", "definitely lost",
		      "possibly lost", "usable");
	memset(b, 0, 20);
	g_past_request = (char *)b + 20;
}

void **g_holder_at_end, **g_holder;

static void arrays(void)
{
	void **next;
	char *buffer;
	BLOCK(g_holder_at_end, 40, "arrays: {ptr, len} at a 40-byte block's end", "still reachable");
	BLOCK(next, 4096 - 8, "arrays: the chunk after it", "still reachable");
	BLOCK(buffer, 8000, "arrays: the buffer it points to", "still reachable");
	g_holder_at_end[3] = buffer, g_holder_at_end[4] = 0, g_holder_at_end[0] = next;
	fixture_truth("{\"kind\":\"arrays\",\"buffer\":\"%p\",\"holder\":\"%p\",\"finding\":false}", buffer,
		      (void *)g_holder_at_end);
	BLOCK(g_holder, 24, "arrays: {ptr, len, cap} in a 24-byte block", "still reachable");
	BLOCK(buffer, 16384, "arrays: its buffer, 100 bytes of 16000 used", "still reachable");
	g_holder[0] = buffer, g_holder[1] = (void *)100, g_holder[2] = (void *)16000;
	fixture_truth("{\"kind\":\"arrays\",\"buffer\":\"%p\",\"holder\":\"%p\",\"finding\":true}", buffer,
		      (void *)g_holder);
}

/* Far below where main's frame and exit's reach. */
__attribute__((noinline)) static void build(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	leak_cases();
	cycles();
	heuristics();
	arrays();
	pad[1] = pad[0];
}

int main(void)
{
	const char *path = getenv("STRAND_COMMANDS");
	commands = path ? fopen(path, "w") : NULL;
	build();
	if (commands)
		fclose(commands);
	fixture_truth("{\"kind\":\"done\"}");
	return 0;
}
