/* The demo service for `make demo`: a small process with one of each problem
 * strand finds. Records where each is ({"kind":"demo","what":...,"addr":...}).
 *   - a global cache that keeps growing (g_cache: 64 entries of 16 KiB)
 *   - a 1 MiB buffer kept alive by a 100-byte view into it (g_view)
 *   - a {ptr, len, cap} buffer with 64 KiB of capacity and 1 KiB in use (g_buffer)
 *   - a list nobody points to any more (lost)
 *   - two threads in a lock-order deadlock
 *   - a lock whose owner exited, with a thread waiting on it
 *   - a pipe reader whose only writer is the process itself
 *   - a thread that exited and was never joined
 *   - a ticker thread waking every 100 ms
 *   - a block only one stack frame refers to (could have been a local)
 *   - a TCP connection the peer closed and this process did not (CLOSE_WAIT) */
#include "fixture.h"

#include "fixture_net.h"

#include <stdint.h>

struct entry {
	struct entry *next;
	char key[32];
	char *value;
};

struct buffer {
	char *data;
	size_t len, cap;
};

struct entry *g_cache;
char *g_view;
struct buffer g_buffer;
static pthread_mutex_t g_orders = PTHREAD_MUTEX_INITIALIZER, g_payments = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_config = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_both;
static int g_pipe[2];
static int g_close_wait_fd;

static void demo(const char *what, const void *addr)
{
	fixture_truth("{\"kind\":\"demo\",\"what\":\"%s\",\"addr\":\"%p\"}", what, addr);
}

static void grow_cache(void)
{
	for (int i = 0; i < 64; i++) {
		struct entry *e = calloc(1, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "user:%d", i);
		e->value = malloc(16 * 1024);
		memset(e->value, 'v', 16 * 1024);
		e->next = g_cache;
		g_cache = e;
	}
	demo("cache", g_cache);
}

static void keep_a_view(void)
{
	char *big = malloc(1 << 20);
	memset(big, 'x', 1 << 20);
	g_view = big + 4096; /* the caller keeps 100 bytes of it, at +4096 */
	demo("view", big);
}

static void over_reserve(void)
{
	g_buffer.cap = 64 * 1024;
	g_buffer.data = malloc(g_buffer.cap);
	g_buffer.len = 1024;
	memset(g_buffer.data, 'b', g_buffer.len);
	demo("buffer", g_buffer.data);
}

__attribute__((noinline)) static void lose_a_list(void)
{
	struct entry *head = NULL;
	for (int i = 0; i < 10; i++) {
		struct entry *e = calloc(1, sizeof(*e));
		e->next = head;
		head = e;
	}
	demo("lost", head);
}

__attribute__((noinline)) static void bury(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	lose_a_list();
	pad[1] = pad[0];
}

static void *take(pthread_mutex_t *first, pthread_mutex_t *second)
{
	pthread_mutex_lock(first);
	pthread_barrier_wait(&g_both);
	fixture_arrive();
	pthread_mutex_lock(second);
	return NULL;
}

static void *order_worker(void *arg) { (void)arg; return take(&g_orders, &g_payments); }
static void *payment_worker(void *arg) { (void)arg; return take(&g_payments, &g_orders); }

static void *config_loader(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_config); /* and exits without unlocking */
	return NULL;
}

static void *config_reader(void *arg)
{
	(void)arg;
	fixture_arrive();
	pthread_mutex_lock(&g_config);
	return NULL;
}

static void *pipe_reader(void *arg)
{
	(void)arg;
	char buf[64];
	fixture_arrive();
	while (read(g_pipe[0], buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void *ticker(void *arg)
{
	(void)arg;
	fixture_arrive();
	for (;;)
		usleep(100 * 1000);
	return NULL;
}

static void *finished(void *arg)
{
	return arg;
}

__attribute__((noinline)) static void handle_request(void)
{
	char *scratch = malloc(96);
	snprintf(scratch, 96, "request scratch space");
	demo("stack_only", scratch);
	fixture_arrive();
	FIXTURE_PARK("sleep"); while (scratch[0]) sleep(1000);
}

static void *request_worker(void *arg)
{
	(void)arg;
	handle_request();
	return NULL;
}

static void make_close_wait(void)
{
	g_close_wait_fd = fixture_close_wait_socket();
	fixture_truth("{\"kind\":\"demo\",\"what\":\"close_wait\",\"fd\":%d}", g_close_wait_fd);
}

int main(void)
{
	pthread_t t;
	fixture_truth("{\"kind\":\"start\"}");
	grow_cache();
	keep_a_view();
	over_reserve();
	bury();
	make_close_wait();
	if (pipe(g_pipe) != 0)
		return 1;
	pthread_barrier_init(&g_both, NULL, 2);
	pthread_create(&t, NULL, order_worker, NULL);
	pthread_create(&t, NULL, payment_worker, NULL);
	pthread_create(&t, NULL, config_loader, NULL);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, config_reader, NULL);
	pthread_create(&t, NULL, pipe_reader, NULL);
	pthread_create(&t, NULL, ticker, NULL);
	pthread_create(&t, NULL, finished, NULL);
	fixture_truth("{\"kind\":\"demo\",\"what\":\"unjoined\",\"descriptor\":\"0x%lx\"}", (unsigned long)t);
	pthread_create(&t, NULL, request_worker, NULL);
	fixture_wait_arrivals(6);
	fixture_ready();
	FIXTURE_PARK("pause"); for (;;) pause();
}
