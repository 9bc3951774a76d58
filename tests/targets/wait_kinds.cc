// One thread in every kind of glibc wait (robust and priority-inheritance
// mutexes too), inside functions whose names point
// at another kind (a condition wait in wait_on_mutex_guarded_queue, a mutex
// wait in cond_check_then_lock, ...), so that only the object the thread
// waits on can tell the kind. Each records it:
//   {"kind":"wait","tid":N,"wait":"condition variable","object":"0x..","owner":TID|0,"timed":false,"by":"object"}
// owner is the thread that holds the object, 0 when nobody is recorded as
// holding it. The timed waits (1000 s deadlines) come back as restart_syscall
// once strand has stopped them. Two threads deadlock through std::lock_guard:
//   {"kind":"deadlock","tid":N,"function":"transfer1"}
// A futex wait on a word of no glibc type, in a function named like a
// condition wait, can only be guessed from that name:
//   {"kind":"guess","tid":N,"object":"0x.."}
// and a ticker sleeps to absolute deadlines one second apart:
//   {"kind":"ticker","tid":N,"clock":"CLOCK_MONOTONIC","period":1}
#include "fixture.h"

#include <condition_variable>
#include <mutex>
#include <linux/futex.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>

static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER, g_rw_read_held = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_queue_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_timed_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t g_timed_cond_lock = PTHREAD_MUTEX_INITIALIZER;
static std::mutex g_cxx_mutex, g_account1, g_account2;
static std::condition_variable g_cxx_cv;
static sem_t g_sem, g_timed_sem;
static pthread_barrier_t g_barrier, g_transfer_start;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static volatile int g_stop, g_once_running;
static pthread_t g_holder;
static int g_holder_tid;

// by: what tells the kind, "object" (the futex word and its surroundings) or
// "argument" (libc's argument, with libc's debug info only).
static void record(const char *wait, const void *object, int owner, bool timed, const char *by = "object")
{
	fixture_truth("{\"kind\":\"wait\",\"tid\":%d,\"wait\":\"%s\",\"object\":\"%p\",\"owner\":%d,\"timed\":%s,"
		      "\"by\":\"%s\"}",
		      (int)gettid(), wait, object, owner, timed ? "true" : "false", by);
}

static struct timespec in_1000_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 1000;
	return t;
}

static void sleep_forever(void)
{
	while (!g_stop)
		sleep(1000);
}

static pthread_mutex_t g_robust, g_pi;
static pthread_rwlock_t g_prefer_writers; // read-held by the holder, a writer waiting
static volatile int g_writer_waits;

static void init_special_mutexes(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&g_robust, &a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_STALLED);
	pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&g_pi, &a);
	pthread_mutexattr_destroy(&a);
	pthread_rwlockattr_t rw;
	pthread_rwlockattr_init(&rw);
	pthread_rwlockattr_setkind_np(&rw, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g_prefer_writers, &rw);
	pthread_rwlockattr_destroy(&rw);
}

// Holds g_held, g_robust, g_pi, stdout's lock, g_rw for writing and
// g_rw_read_held for reading, and sleeps.
static void *holder(void *)
{
	pthread_mutex_lock(&g_held);
	pthread_mutex_lock(&g_robust);
	pthread_mutex_lock(&g_pi);
	flockfile(stdout);
	pthread_rwlock_rdlock(&g_prefer_writers);
	pthread_rwlock_wrlock(&g_rw);
	pthread_rwlock_rdlock(&g_rw_read_held);
	g_holder_tid = (int)gettid();
	sleep_forever();
	return NULL;
}

static void *robust_cond_wait(void *)
{
	record("mutex", &g_robust, g_holder_tid, false);
	fixture_arrive();
	pthread_mutex_lock(&g_robust);
	return NULL;
}

static void *pi_sem_wait(void *)
{
	record("mutex", &g_pi, g_holder_tid, false);
	fixture_arrive();
	pthread_mutex_lock(&g_pi);
	return NULL;
}

// A writer waits for the holder's read lock on g_prefer_writers; a reader
// behind it, which that lock's kind makes wait, waits on another word.
static void *cond_prefer_writer(void *)
{
	record("rwlock (write)", &g_prefer_writers, 0, false);
	g_writer_waits = 1;
	fixture_arrive();
	pthread_rwlock_wrlock(&g_prefer_writers);
	return NULL;
}

static void *mutex_behind_writer(void *)
{
	while (!g_writer_waits)
		usleep(1000);
	usleep(50 * 1000); // for the writer to be blocked first
	record("rwlock (read)", &g_prefer_writers, 0, false);
	fixture_arrive();
	pthread_rwlock_rdlock(&g_prefer_writers);
	return NULL;
}

// stdio's FILE lock is a libc lock of no pthread type: only libc's argument
// (with libc's debug info) says what it is.
static void *stdio_cond_wait(void *)
{
	record("mutex", stdout->_lock, 0, false, "argument");
	fixture_arrive();
	flockfile(stdout);
	return NULL;
}

static void *wait_on_mutex_guarded_queue(void *)
{
	pthread_mutex_lock(&g_queue_lock);
	record("condition variable", &g_queue_nonempty, 0, false);
	fixture_arrive();
	while (!g_stop)
		pthread_cond_wait(&g_queue_nonempty, &g_queue_lock);
	return NULL;
}

static void *cond_check_then_lock(void *)
{
	record("mutex", &g_held, g_holder_tid, false);
	fixture_arrive();
	pthread_mutex_lock(&g_held);
	return NULL;
}

static void *queue_waiter(void *)
{
	std::unique_lock<std::mutex> lock(g_cxx_mutex);
	record("condition variable", g_cxx_cv.native_handle(), 0, false);
	fixture_arrive();
	g_cxx_cv.wait(lock, [] { return g_stop != 0; });
	return NULL;
}

static void *rwlock_free_counter_wait(void *)
{
	record("semaphore", &g_sem, 0, false);
	fixture_arrive();
	sem_wait(&g_sem);
	return NULL;
}

static void *join_barrier_phase(void *)
{
	record("barrier", &g_barrier, 0, false);
	fixture_arrive();
	pthread_barrier_wait(&g_barrier);
	return NULL;
}

static void init_that_never_ends(void)
{
	g_once_running = 1;
	sleep_forever();
}

static void *once_runner(void *)
{
	pthread_once(&g_once, init_that_never_ends);
	return NULL;
}

static void *sem_once_gate(void *)
{
	while (!g_once_running)
		usleep(1000);
	record("once", &g_once, 0, false);
	fixture_arrive();
	pthread_once(&g_once, init_that_never_ends);
	return NULL;
}

static void *cond_reader(void *)
{
	record("rwlock (read)", &g_rw, g_holder_tid, false);
	fixture_arrive();
	pthread_rwlock_rdlock(&g_rw);
	return NULL;
}

static void *mutex_writer(void *)
{
	record("rwlock (write)", &g_rw, g_holder_tid, false);
	fixture_arrive();
	pthread_rwlock_wrlock(&g_rw);
	return NULL;
}

// Blocked by a reader: the lock records no reader's identity.
static void *writer_behind_reader(void *)
{
	record("rwlock (write)", &g_rw_read_held, 0, false);
	fixture_arrive();
	pthread_rwlock_wrlock(&g_rw_read_held);
	return NULL;
}

static void *mutex_join(void *)
{
	record("join", (void *)g_holder, g_holder_tid, false);
	fixture_arrive();
	pthread_join(g_holder, NULL);
	return NULL;
}

static void *timed_cond(void *)
{
	struct timespec deadline = in_1000_seconds();
	pthread_mutex_lock(&g_timed_cond_lock);
	record("condition variable", &g_timed_cond, 0, true);
	fixture_arrive();
	while (!g_stop)
		pthread_cond_timedwait(&g_timed_cond, &g_timed_cond_lock, &deadline);
	return NULL;
}

static void *timed_mutex(void *)
{
	struct timespec deadline = in_1000_seconds();
	record("mutex", &g_held, g_holder_tid, true);
	fixture_arrive();
	pthread_mutex_timedlock(&g_held, &deadline);
	return NULL;
}

static void *timed_sem(void *)
{
	struct timespec deadline = in_1000_seconds();
	record("semaphore", &g_timed_sem, 0, true);
	fixture_arrive();
	sem_timedwait(&g_timed_sem, &deadline);
	return NULL;
}

static void *timed_reader(void *)
{
	struct timespec deadline = in_1000_seconds();
	record("rwlock (read)", &g_rw, g_holder_tid, true);
	fixture_arrive();
	pthread_rwlock_timedrdlock(&g_rw, &deadline);
	return NULL;
}

// Both hold one account and wait at the barrier before taking the other.
static void meet(const char *function)
{
	pthread_barrier_wait(&g_transfer_start);
	fixture_truth("{\"kind\":\"deadlock\",\"tid\":%d,\"function\":\"%s\"}", (int)gettid(), function);
	fixture_arrive();
}

static void transfer1()
{
	std::lock_guard<std::mutex> from(g_account1);
	meet("transfer1");
	std::lock_guard<std::mutex> to(g_account2);
}

static void transfer2()
{
	std::lock_guard<std::mutex> from(g_account2);
	meet("transfer2");
	std::lock_guard<std::mutex> to(g_account1);
}

static void *transfer1_thread(void *) { transfer1(); return NULL; }
static void *transfer2_thread(void *) { transfer2(); return NULL; }

static struct {
	unsigned word, zeros[7];
} g_own_futex;

static void *custom_cond_wait(void *)
{
	fixture_truth("{\"kind\":\"guess\",\"tid\":%d,\"object\":\"%p\"}", (int)gettid(), (void *)&g_own_futex);
	fixture_arrive();
	while (!g_stop)
		syscall(SYS_futex, &g_own_futex.word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

// Each second on the second, as a timer loop without drift does.
static void *ticker(void *)
{
	fixture_truth("{\"kind\":\"ticker\",\"tid\":%d,\"clock\":\"CLOCK_MONOTONIC\",\"period\":1}", (int)gettid());
	fixture_arrive();
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!g_stop) {
		next.tv_sec++;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

static pthread_t start(void *(*fn)(void *))
{
	pthread_t t;
	pthread_create(&t, NULL, fn, NULL);
	return t;
}

int main()
{
	fixture_truth("{\"kind\":\"start\"}");
	sem_init(&g_sem, 0, 0);
	sem_init(&g_timed_sem, 0, 0);
	init_special_mutexes();
	pthread_barrier_init(&g_barrier, NULL, 3);
	pthread_barrier_init(&g_transfer_start, NULL, 2);
	g_holder = start(holder);
	while (!__atomic_load_n(&g_holder_tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	void *(*waiters[])(void *) = { wait_on_mutex_guarded_queue, cond_check_then_lock, queue_waiter,
				      rwlock_free_counter_wait, join_barrier_phase, join_barrier_phase, once_runner,
				      sem_once_gate, cond_reader, mutex_writer, writer_behind_reader, mutex_join,
				      timed_cond, timed_mutex, timed_sem, timed_reader, transfer1_thread,
				      transfer2_thread, ticker, custom_cond_wait, robust_cond_wait, pi_sem_wait,
				      stdio_cond_wait, cond_prefer_writer, mutex_behind_writer };
	for (auto fn : waiters)
		start(fn);
	fixture_wait_arrivals(sizeof(waiters) / sizeof(waiters[0]) - 1); // the once runner does not arrive
	usleep(200 * 1000);
	fixture_ready();
	for (;;)
		pause();
}
