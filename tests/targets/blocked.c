/* Threads parked in every kind of wait, with known objects and owners. Each
 * records what it waits on and the verdict strand must reach:
 *   {"kind":"wait","tid":N,"wait":"mutex","object":"0x..","owner":TID|0,"verdict":"deadlocked"}
 * and threads that exited without being joined: {"kind":"unjoined","descriptor":"0x.."}. */
#include "fixture.h"

#include <poll.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/syscall.h>

static pthread_mutex_t g_a = PTHREAD_MUTEX_INITIALIZER, g_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_c1 = PTHREAD_MUTEX_INITIALIZER, g_c2 = PTHREAD_MUTEX_INITIALIZER,
		       g_c3 = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_dead = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t g_sem;
static pthread_barrier_t g_barrier;
static pthread_t g_sleeper;
static volatile int g_stop;

static void record(const char *wait, const void *object, int owner, const char *verdict)
{
	fixture_truth("{\"kind\":\"wait\",\"tid\":%d,\"wait\":\"%s\",\"object\":\"%p\",\"owner\":%d,\"verdict\":\"%s\"}",
		      (int)gettid(), wait, object, owner, verdict);
}

static int tid_of_lock_holder[8];
static pthread_barrier_t g_start;

/* Lock first, wait for everyone to hold their first lock, then take second. */
static void lock_pair(pthread_mutex_t *first, pthread_mutex_t *second, int *holder_slot, int *second_holder)
{
	pthread_mutex_lock(first);
	*holder_slot = (int)gettid();
	pthread_barrier_wait(&g_start);
	record("mutex", second, 0, "deadlocked");
	(void)second_holder;
	fixture_arrive();
	pthread_mutex_lock(second);
}

static void *dl_a(void *arg) { (void)arg; lock_pair(&g_a, &g_b, &tid_of_lock_holder[0], NULL); return NULL; }
static void *dl_b(void *arg) { (void)arg; lock_pair(&g_b, &g_a, &tid_of_lock_holder[1], NULL); return NULL; }
static void *cy_1(void *arg) { (void)arg; lock_pair(&g_c1, &g_c2, &tid_of_lock_holder[2], NULL); return NULL; }
static void *cy_2(void *arg) { (void)arg; lock_pair(&g_c2, &g_c3, &tid_of_lock_holder[3], NULL); return NULL; }
static void *cy_3(void *arg) { (void)arg; lock_pair(&g_c3, &g_c1, &tid_of_lock_holder[4], NULL); return NULL; }

static int g_dead_owner;
static void *takes_and_exits(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_dead);
	g_dead_owner = (int)gettid();
	return NULL; /* exits holding g_dead */
}

static void *waits_dead(void *arg)
{
	(void)arg;
	record("mutex", &g_dead, g_dead_owner, "stuck forever");
	fixture_arrive();
	pthread_mutex_lock(&g_dead);
	return NULL;
}

static int g_writer;
static void *writer(void *arg)
{
	(void)arg;
	pthread_rwlock_wrlock(&g_rw);
	g_writer = (int)gettid();
	record("sleep", NULL, 0, "parked");
	fixture_arrive();
	while (!g_stop)
		sleep(1000);
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	record("rwlock (read)", &g_rw, g_writer, "waiting on a live owner");
	fixture_arrive();
	pthread_rwlock_rdlock(&g_rw);
	return NULL;
}

static void *local_cond(void *arg)
{
	(void)arg;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	pthread_mutex_lock(&m);
	record("condition variable", &c, 0, "stuck forever");
	fixture_arrive();
	while (!g_stop)
		pthread_cond_wait(&c, &m);
	return NULL;
}

static void *heap_cond(void *arg)
{
	(void)arg;
	pthread_mutex_t *m = malloc(sizeof(*m));
	pthread_cond_t *c = malloc(sizeof(*c));
	pthread_mutex_init(m, NULL);
	pthread_cond_init(c, NULL);
	pthread_mutex_lock(m);
	record("condition variable", c, 0, "stuck forever");
	fixture_arrive();
	while (!g_stop)
		pthread_cond_wait(c, m);
	return NULL;
}

static void *sem_waiter(void *arg)
{
	(void)arg;
	record("semaphore", &g_sem, 0, "parked");
	fixture_arrive();
	sem_wait(&g_sem);
	return NULL;
}

static void *barrier_waiter(void *arg)
{
	(void)arg;
	record("barrier", &g_barrier, 0, "parked");
	fixture_arrive();
	pthread_barrier_wait(&g_barrier);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	record("sleep", NULL, 0, "parked");
	fixture_arrive();
	while (!g_stop)
		sleep(1000);
	return NULL;
}

static void *joiner(void *arg)
{
	(void)arg;
	record("join", NULL, 0, "waiting on a live owner");
	fixture_arrive();
	pthread_join(g_sleeper, NULL);
	return NULL;
}

static void *ticker(void *arg)
{
	(void)arg;
	record("sleep", NULL, 0, "parked");
	fixture_arrive();
	while (!g_stop)
		usleep(50 * 1000);
	return NULL;
}

/* A periodic waker no wait decoding can see: a timed condition wait that times
 * out every 20 ms. Only watching it (blocked --sample) tells. */
static pthread_mutex_t g_poll_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_poll_c = PTHREAD_COND_INITIALIZER;
static void *poller(void *arg)
{
	(void)arg;
	record("condition variable", &g_poll_c, 0, "parked");
	fixture_truth("{\"kind\":\"periodic\",\"tid\":%d}", (int)gettid());
	fixture_arrive();
	pthread_mutex_lock(&g_poll_m);
	while (!g_stop) {
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 20 * 1000 * 1000;
		if (deadline.tv_nsec >= 1000000000)
			deadline.tv_sec++, deadline.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&g_poll_c, &g_poll_m, &deadline);
	}
	return NULL;
}

/* An I/O wait with a timeout: poll for ten minutes on nothing. */
static void *poll_waiter(void *arg)
{
	(void)arg;
	record("poll", NULL, 0, "parked");
	fixture_truth("{\"kind\":\"timeout\",\"tid\":%d,\"seconds\":600}", (int)gettid());
	fixture_arrive();
	while (!g_stop)
		poll(NULL, 0, 600 * 1000);
	return NULL;
}

static void *quitter(void *arg)
{
	(void)arg;
	return NULL;
}

static pthread_t start(void *(*fn)(void *))
{
	pthread_t t;
	pthread_create(&t, NULL, fn, NULL);
	return t;
}

int main(void)
{
	fixture_truth("{\"kind\":\"start\"}");
	sem_init(&g_sem, 0, 0);
	pthread_barrier_init(&g_barrier, NULL, 3);
	pthread_barrier_init(&g_start, NULL, 5);
	start(dl_a), start(dl_b), start(cy_1), start(cy_2), start(cy_3);
	pthread_join(start(takes_and_exits), NULL);
	start(waits_dead);
	start(waits_dead);
	start(writer);
	while (!g_writer)
		usleep(1000);
	start(reader);
	start(local_cond);
	start(heap_cond);
	start(sem_waiter);
	start(barrier_waiter);
	start(barrier_waiter);
	g_sleeper = start(sleeper);
	start(joiner);
	start(ticker);
	start(poller);
	start(poll_waiter);
	for (int i = 0; i < 2; i++) {
		pthread_t q = start(quitter);
		fixture_truth("{\"kind\":\"unjoined\",\"descriptor\":\"0x%lx\"}", (unsigned long)q);
	}
	fixture_wait_arrivals(5 + 2 + 1 + 1 + 2 + 1 + 2 + 1 + 1 + 1 + 1 + 1);
	usleep(100 * 1000);
	fixture_ready();
	FIXTURE_PARK("pause"); for (;;) pause();
}
