/* Heaps shaped for the leak check's sweeps
 * (debugger/analysis/reach/sweeps.c): lists linked up and down the address
 * space, which sweeps mark in a pass or two; lists linked in random order,
 * which they leave to the graph; a dense web of big blocks; lost lists and a
 * lost web; a chain reached only through an interior pointer; a block reached
 * both ways. Each structure's blocks have a usable size of their own, so that
 * the loss records (grouped by size) count each one; the truth records, per
 * structure, that size, the class of its blocks and how many there are. */
#include <malloc.h>
#include <stdint.h>

#include "fixture.h"

#define LIST_NODES 3000
#define WEB_BLOCKS 2000
#define LOST_WEB_BLOCKS 500

struct node {
	struct node *next;
	uint64_t payload[];
};

struct node *g_forward, *g_backward, *g_shuffled, *g_packed;
char *g_interior;   /* 24 bytes into the first node of a chain: its only way in */
void **g_web;       /* the dense web's blocks */
size_t g_web_count;

static uint64_t seed = 88172645463325252ull;

static uint64_t next_random(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static void record(const char *name, void *sample, const char *cls, size_t blocks)
{
	fixture_truth("{\"kind\":\"shape\",\"name\":\"%s\",\"usable\":%zu,\"class\":\"%s\",\"blocks\":%zu}", name,
		      malloc_usable_size(sample), cls, blocks);
}

static struct node *new_node(size_t usable)
{
	struct node *n = calloc(1, usable);
	if (!n)
		exit(2);
	return n;
}

/* Each node points to the one allocated after it (higher up): returns the first. */
static struct node *forward_list(size_t usable, size_t n)
{
	struct node *first = new_node(usable), *last = first;
	for (size_t i = 1; i < n; i++)
		last = last->next = new_node(usable);
	return first;
}

/* Each node points to the one allocated before it (lower down): returns the last. */
static struct node *backward_list(size_t usable, size_t n)
{
	struct node *head = NULL;
	for (size_t i = 0; i < n; i++) {
		struct node *x = new_node(usable);
		x->next = head;
		head = x;
	}
	return head;
}

/* Nodes linked in random order (in allocation order with FIXTURE_IN_ORDER,
 * which lets the sweeps finish both phases): returns the first, and the last
 * in *tail. */
static struct node *shuffled_list(size_t usable, size_t n, struct node **tail)
{
	struct node **v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = new_node(usable);
	for (size_t i = n - 1; i > 0 && !getenv("FIXTURE_IN_ORDER"); i--) {
		size_t j = next_random() % (i + 1);
		struct node *t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
	for (size_t i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	struct node *first = v[0];
	*tail = v[n - 1];
	memset(v, 0, n * sizeof(*v)); /* freed memory is not scanned, but leave no copy behind */
	free(v);
	return first;
}

/* n blocks of usable bytes, each full of pointers to random others, and to
 * the next (so that, lost, they form one cycle). */
static void **web(size_t usable, size_t n)
{
	void **v = malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = calloc(1, usable);
	for (size_t i = 0; i < n; i++) {
		void **words = v[i];
		words[0] = v[(i + 1) % n];
		for (size_t w = 1; w < usable / sizeof(void *); w++)
			words[w] = v[next_random() % n];
	}
	return v;
}

/* Everything, built in a frame that then returns (its locals, some pointing
 * into lost blocks, are left far below where main's parked calls reach). */
__attribute__((noinline)) static void build(void)
{
	g_forward = forward_list(200, LIST_NODES);
	record("forward list", g_forward, "still reachable", LIST_NODES);
	g_backward = backward_list(216, LIST_NODES);
	record("backward list", g_backward, "still reachable", LIST_NODES);
	struct node *tail;
	g_shuffled = shuffled_list(232, LIST_NODES, &tail);
	record("shuffled list", g_shuffled, "still reachable", LIST_NODES);

	struct node *lost_tail, *lost = shuffled_list(248, LIST_NODES, &lost_tail);
	record("lost shuffled list head", lost, "definitely lost", 1);
	fixture_truth("{\"kind\":\"shape\",\"name\":\"lost shuffled list\",\"usable\":%zu,\"class\":\"indirectly lost\","
		      "\"blocks\":%d}", malloc_usable_size(lost), LIST_NODES - 1);
	lost = backward_list(264, LIST_NODES);
	record("lost backward list head", lost, "definitely lost", 1);
	fixture_truth("{\"kind\":\"shape\",\"name\":\"lost backward list\",\"usable\":%zu,\"class\":\"indirectly lost\","
		      "\"blocks\":%d}", malloc_usable_size(lost), LIST_NODES - 1);

	struct node *chain = forward_list(280, LIST_NODES);
	g_interior = (char *)chain + 24;
	record("chain behind an interior pointer", chain, "possibly lost", LIST_NODES);

	/* Interior pointers from the first blocks the sweeps scan, a start
	 * pointer from the end of the shuffled list: reachable. */
	struct node *both = new_node(296);
	g_forward->payload[0] = (uint64_t)(uintptr_t)((char *)both + 40);
	g_backward->payload[0] = (uint64_t)(uintptr_t)((char *)both + 40);
	tail->payload[0] = (uint64_t)(uintptr_t)both;
	record("reached both ways", both, "still reachable", 1);
	/* Interior pointers from reachable blocks, a start pointer from a lost
	 * one: possibly lost. */
	struct node *maybe = new_node(312);
	g_forward->next->payload[0] = (uint64_t)(uintptr_t)((char *)maybe + 40);
	lost_tail->payload[0] = (uint64_t)(uintptr_t)maybe;
	record("interior from reachable, start from lost", maybe, "possibly lost", 1);

	/* The only pointer to a block, 3 bytes into a reachable one (a packed
	 * struct): lost, unless the check reads unaligned words too. */
	g_packed = new_node(64);
	struct node *held = new_node(328);
	memcpy((char *)g_packed + 3, &held, sizeof(held));
	record("held at an unaligned offset", held, "definitely lost", 1);
	fixture_truth("{\"kind\":\"unaligned\",\"usable\":%zu,\"class\":\"still reachable\",\"blocks\":1}",
		      malloc_usable_size(held));

	g_web = web(1016, WEB_BLOCKS);
	g_web_count = WEB_BLOCKS;
	record("web", g_web[0], "still reachable", WEB_BLOCKS);
	void **lost_web = web(1032, LOST_WEB_BLOCKS);
	record("lost web", lost_web[0], "definitely lost", 1);
	fixture_truth("{\"kind\":\"shape\",\"name\":\"lost web\",\"usable\":%zu,\"class\":\"indirectly lost\","
		      "\"blocks\":%d}", malloc_usable_size(lost_web[0]), LOST_WEB_BLOCKS - 1);
	/* Pointers in lost blocks, which the check must keep as edges (their
	 * leaders come from them): the lists' links and the lost list's pointer
	 * to the possibly lost block, and the lost web's words but those
	 * pointing back to their own block. */
	size_t lost_pointers = 2 * (LIST_NODES - 1) + 1;
	for (size_t i = 0; i < LOST_WEB_BLOCKS; i++)
		for (size_t w = 0; w < 1032 / sizeof(void *); w++)
			lost_pointers += ((void **)lost_web[i])[w] != lost_web[i];
	fixture_truth("{\"kind\":\"lost_pointers\",\"count\":%zu}", lost_pointers);
	memset(lost_web, 0, LOST_WEB_BLOCKS * sizeof(*lost_web));
	free(lost_web);
}

__attribute__((noinline)) static void deep(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	build();
	pad[1] = pad[0];
}

int main(void)
{
	fixture_truth("{\"kind\":\"start\"}");
	deep();
	fixture_ready();
	for (;;)
		pause();
}
