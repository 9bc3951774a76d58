/* Locals, arguments and globals of many DWARF types, for bt full, info
 * locals, print and frame-variable naming. One thread parks in hold_values()
 * with every local initialised; main records the ground truth (addresses and
 * plain values) and waits. */
#include "fixture.h"

#include <stdbool.h>
#include <stdint.h>

enum color { RED, GREEN = 5, BLUE };

struct point {
	int x, y;
};

struct node {
	struct point at;
	const char *label;
	struct node *next;
	unsigned char tag[4];
};

struct node g_node = { { 3, 4 }, "global", NULL, { 1, 2, 3, 4 } };
long g_counter = 12345;
int g_array[5] = { 10, 20, 30, 40, 50 };
char g_name[16] = "strand";
static double g_ratio = 0.25;
enum color g_color = BLUE;

__attribute__((noinline)) static void hold_values(int depth, const char *who, struct node *head)
{
	int i = -42;
	unsigned u = 4000000000u;
	char c = 'A';
	bool flag = true;
	double d = 3.14;
	float f = 2.5f;
	int64_t big = -1234567890123LL;
	char buf[16] = "abc";
	int nums[3] = { 7, 8, 9 };
	struct point p = { -1, 2 };
	struct node local = { { 5, 6 }, "local", head, { 9, 8, 7, 6 } };
	enum color col = GREEN;
	void *nothing = NULL;
	fixture_truth("{\"kind\":\"locals\",\"tid\":%d,\"i_addr\":\"%p\",\"local_addr\":\"%p\",\"head\":\"%p\"}",
		      (int)gettid(), (void *)&i, (void *)&local, (void *)head);
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (depth >= 0) sleep(1000);
	(void)i, (void)u, (void)c, (void)flag, (void)d, (void)f, (void)big, (void)buf, (void)nums, (void)p;
	(void)local, (void)col, (void)nothing, (void)who;
}

static void *holder(void *arg)
{
	hold_values(3, "holder", arg);
	return NULL;
}

int main(void)
{
	static struct node second = { { 7, 8 }, "second", &g_node, { 0 } };
	pthread_t t;
	pthread_create(&t, NULL, holder, &second);
	fixture_wait_arrivals(1);
	(void)g_ratio;
	fixture_truth("{\"kind\":\"globals\",\"g_node\":\"%p\",\"second\":\"%p\"}", (void *)&g_node, (void *)&second);
	fixture_ready();
	pthread_join(t, NULL);
	return 0;
}
