// fixture-flags: -rdynamic
/* Blocks in every leak class and a block whose only pointer hides in each
 * root kind. The fixture records, for each block, the class valgrind's rules
 * give it and, for root blocks, the kind of root that holds it:
 *   {"kind":"expect","addr":"0x..","class":"definitely lost","root":"stack"|null,"name":"..."}
 * Lost blocks are made in a deep frame that has returned (its stale words lie
 * far below every live stack pointer), then the registers are clobbered.
 * With the argument "exit" it builds only the lost and reachable structures
 * and exits: for valgrind and `strand run --leak-check`. FIXTURE_NODE_BYTES
 * makes every node that big, and adds a thousand reachable ones: a heap of
 * big blocks, whose look-ups go through slot shapes (the ballast makes the
 * top chunk too small a part of the arena to change its slot size). */
#include "fixture.h"

#include <dlfcn.h>
#include <stdint.h>
#include <sys/mman.h>

#define KEY 0x5a5a5a5a5a5a5a5aull

struct node {
	struct node *next, *left, *right;
	char payload[24];
};

void *g_data_root = (void *)1; /* .data */
void *g_bss_root;               /* .bss */
__thread void *t_root;          /* static TLS of the main thread */
struct node *g_reachable;       /* a reachable list */
struct node *g_shared_a, *g_shared_b; /* one list held by two globals: neither retains it alone */
char *g_interior;               /* an interior pointer: possibly lost */
struct node *g_ballast;         /* with FIXTURE_NODE_BYTES: still reachable */
struct node *g_holder;          /* holds a pointer just past the start pointers' slack: possibly lost */
void **g_mmap;                  /* an anonymous mapping holding a pointer */

static void expect(void *p, const char *cls, const char *root, const char *name)
{
	fixture_truth("{\"kind\":\"expect\",\"addr\":\"%p\",\"class\":\"%s\",\"root\":%s%s%s,\"name\":\"%s\"}", p,
		      cls, root ? "\"" : "", root ? root : "null", root ? "\"" : "", name);
}

static size_t node_bytes = sizeof(struct node);

static struct node *node(const char *label)
{
	struct node *n = calloc(1, node_bytes);
	snprintf(n->payload, sizeof(n->payload), "%s", label);
	return n;
}

/* Lost structures, built in a frame that then returns. */
__attribute__((noinline)) static void make_lost(void)
{
	struct node *single = node("single");
	expect(single, "definitely lost", NULL, "single");

	struct node *head = node("list"), *n = head;
	expect(head, "definitely lost", NULL, "list head");
	for (int i = 0; i < 3; i++) {
		n = n->next = node("list");
		expect(n, "indirectly lost", NULL, "list node");
	}

	struct node *root = node("tree"), *kids[2];
	expect(root, "definitely lost", NULL, "tree root");
	for (int i = 0; i < 2; i++) {
		kids[i] = node("tree");
		expect(kids[i], "indirectly lost", NULL, "tree node");
		kids[i]->left = node("leaf");
		kids[i]->right = node("leaf");
		expect(kids[i]->left, "indirectly lost", NULL, "tree leaf");
		expect(kids[i]->right, "indirectly lost", NULL, "tree leaf");
	}
	root->left = kids[0];
	root->right = kids[1];

	struct node *a = node("cycle"), *b = node("cycle"), *c = node("cycle");
	a->next = b, b->next = c, c->next = a;
	struct node *lowest = a < b ? (a < c ? a : c) : (b < c ? b : c);
	expect(a, a == lowest ? "definitely lost" : "indirectly lost", NULL, "cycle");
	expect(b, b == lowest ? "definitely lost" : "indirectly lost", NULL, "cycle");
	expect(c, c == lowest ? "definitely lost" : "indirectly lost", NULL, "cycle");

	struct node *self = node("self");
	self->next = self;
	expect(self, "definitely lost", NULL, "self");

	struct node *dead = node("dead frame"); /* only this frame's local points to it */
	expect(dead, "definitely lost", NULL, "dead frame");
}

/* Far below where the live frames of main's parked call chain will reach. */
__attribute__((noinline)) static void deep(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	make_lost();
	pad[1] = pad[0];
}

static void make_reachable(void)
{
	g_reachable = node("reachable");
	g_reachable->next = node("reachable");
	expect(g_reachable, "still reachable", NULL, "reachable head");
	expect(g_reachable->next, "still reachable", NULL, "reachable node");
	g_shared_a = g_shared_b = node("shared");
	g_shared_a->next = node("shared");
	expect(g_shared_a, "still reachable", NULL, "shared head");
	expect(g_shared_a->next, "still reachable", NULL, "shared node");
	char *blk = malloc(200);
	g_interior = blk + 40; /* beyond the block's header words */
	struct node *child = node("interior");
	memcpy(blk + 64, &child, sizeof(child)); /* a start pointer, but from a possibly lost block */
	expect(blk, "possibly lost", NULL, "interior");
	expect(child, "possibly lost", NULL, "interior child");
	g_holder = node("holder");
	expect(g_holder, "still reachable", NULL, "holder");
	char *just_inside = (char *)node("just inside");
	g_holder->left = (struct node *)(just_inside + 24);
	expect(just_inside, "possibly lost", NULL, "just inside");
	struct node *child2 = node("interior");
	char *into = (char *)child2 + 8; /* a start pointer a word in, as new[] returns; why shows +8 */
	memcpy(blk + 80, &into, sizeof(into));
	expect(child2, "possibly lost", NULL, "interior child 2");
}

static pthread_key_t keys[40];

static void make_roots(void)
{
	g_data_root = node("data");
	expect(g_data_root, "still reachable", "globals", "g_data_root");
	g_bss_root = node("bss");
	expect(g_bss_root, "still reachable", "globals", "g_bss_root");
	t_root = node("tls");
	expect(t_root, "still reachable", "tls", "t_root");
	for (int i = 0; i < 40; i++)
		pthread_key_create(&keys[i], NULL);
	void *low = node("key 3"), *high = node("key 35");
	pthread_setspecific(keys[3], low);
	pthread_setspecific(keys[35], high);
	expect(low, "still reachable", "tls", "pthread key 3");
	expect(high, "still reachable", "tls", "pthread key 35");
	g_mmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_mmap[0] = node("anon");
	expect(g_mmap[0], "still reachable", "anon", "mmap");
	void *lib = dlopen(getenv("FIXTURE_TLS_LIB"), RTLD_NOW);
	void (*set)(void *) = lib ? (void (*)(void *))dlsym(lib, "tlsroot_set") : NULL;
	if (set) {
		void *p = node("dynamic tls");
		set(p);
		expect(p, "still reachable", "tls", "dynamic TLS");
	}
}

/* Root blocks are made in a deep frame too: no stale copy of their pointers
 * may survive in a live frame of main, or they would seem held by the stack. */
__attribute__((noinline)) static void deep_roots(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	make_roots();
	pad[1] = pad[0];
}

/* Holds its block in a local: the only pointer is on this thread's stack. */
__attribute__((noinline)) static void hold_on_stack(void)
{
	struct node *volatile held = node("stack");
	expect(held, "still reachable", "stack", "held");
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (held) sleep(1000);
}

static void *stack_holder(void *arg)
{
	(void)arg;
	hold_on_stack();
	return NULL;
}

/* Keeps two blocks only in registers, r12 and xmm5, while it spins. The
 * stack only ever holds them xor KEY. */
static void *register_holder(void *arg)
{
	(void)arg;
	volatile uintptr_t gp = (uintptr_t)node("register") ^ KEY, xmm = (uintptr_t)node("xmm") ^ KEY;
	expect((void *)(gp ^ KEY), "still reachable", "registers", "r12");
	expect((void *)(xmm ^ KEY), "still reachable", "registers", "xmm5");
	fixture_arrive();
	uintptr_t g = gp, x = xmm;
	__asm__ volatile("mov %0, %%r12\n\t"
			 "xor %2, %%r12\n\t"
			 "movq %1, %%xmm5\n\t"
			 "movq %2, %%xmm6\n\t"
			 "pxor %%xmm6, %%xmm5\n\t"
			 "xor %%eax, %%eax\n\t"
			 "xor %%ecx, %%ecx\n\t"
			 "xor %%edx, %%edx\n\t"
			 "1: pause\n\t"
			 "mov $100000, %%ecx\n\t"
			 "2: dec %%ecx\n\t"
			 "jnz 2b\n\t"
			 "jmp 1b"
			 :
			 : "r"(g), "r"(x), "r"((uintptr_t)KEY)
			 : "r12", "xmm5", "xmm6", "rax", "rcx", "rdx", "memory");
	return NULL;
}

int main(int argc, char **argv)
{
	fixture_truth("{\"kind\":\"start\"}");
	const char *big = getenv("FIXTURE_NODE_BYTES");
	if (big && (size_t)atol(big) > node_bytes)
		node_bytes = (size_t)atol(big);
	for (int i = 0; node_bytes > sizeof(struct node) && i < 1000; i++) {
		struct node *n = node("ballast");
		n->next = g_ballast;
		g_ballast = n;
	}
	deep();
	make_reachable();
	if (argc > 1 && !strcmp(argv[1], "exit"))
		exit(0);
	deep_roots();
	pthread_t t1, t2;
	pthread_create(&t1, NULL, stack_holder, NULL);
	pthread_create(&t2, NULL, register_holder, NULL);
	fixture_wait_arrivals(2);
	fixture_ready();
	FIXTURE_PARK("join"); pthread_join(t1, NULL);
	return 0;
}
