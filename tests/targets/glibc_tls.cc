// fixture-flags: -Wl,--no-as-needed -ldw -lelf -lcmocka
// A C++ program whose libc TLS block lies far below every thread pointer:
// its own thread_local data (4 KiB) comes first, then the blocks of the
// libraries loaded before libc (libdw, libelf and libcmocka, linked for their
// TLS and never called, and libstdc++), then libc's: 4.5 KiB down. Each of
// FIXTURE_THREADS threads (default 8) and main churns the heap through
// containers and plain malloc/free, leaving entries in its tcache and in
// fastbins and bins of its arena, and drops half of the small blocks it kept
// (definitely lost), then parks. Records each thread:
//   {"kind":"thread","tid":N}
#include "fixture.h"

#include <map>
#include <string>
#include <vector>

thread_local char t_scratch[4096] = { 1 };
thread_local std::vector<std::string> *t_names;

/* Every tcache size class, fastbin sizes past the tcache's seven, small and
 * large frees, with guards between so that neighbours do not merge. */
static void churn(unsigned seed)
{
	std::vector<void *> freed, kept;
	for (int round = 0; round < 3; round++) {
		for (size_t size = 8; size <= 1100; size += 24 + (seed % 5) * 8) {
			freed.push_back(malloc(size));
			kept.push_back(malloc(24));
		}
		for (int i = 0; i < 12; i++) {
			freed.push_back(malloc(40 + 16 * (seed % 3)));
			kept.push_back(malloc(24));
		}
		freed.push_back(malloc(5000 + 100 * seed));
		kept.push_back(malloc(24));
	}
	for (void *p : freed)
		free(p);
	t_names = new std::vector<std::string>;
	for (unsigned i = 0; i < 200 + seed; i++)
		t_names->push_back(std::string(20 + i % 90, 'a' + i % 26));
	std::map<int, std::string> scratch;
	for (int i = 0; i < 300; i++)
		scratch[i] = std::string(i % 64 + 1, 'x');
	t_scratch[1] = (char)kept.size();
	kept.resize(kept.size() / 2); /* the rest stays allocated, held by nothing: lost */
	static std::vector<std::vector<void *>> *held = new std::vector<std::vector<void *>>;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	held->push_back(kept);
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	churn((unsigned)(long)arg);
	fixture_truth("{\"kind\":\"thread\",\"tid\":%d}", (int)gettid());
	fixture_arrive();
	for (;;)
		pause();
	return NULL;
}

int main()
{
	const char *env = getenv("FIXTURE_THREADS");
	long n = env ? atol(env) : 8;
	std::vector<pthread_t> threads((size_t)n);
	for (long i = 0; i < n; i++)
		pthread_create(&threads[(size_t)i], NULL, worker, (void *)(i + 1));
	churn(0);
	static std::vector<int> big(1 << 20, 7); /* 4 MiB: an mmapped chunk */
	fixture_truth("{\"kind\":\"thread\",\"tid\":%d}", (int)gettid());
	fixture_wait_arrivals((int)n);
	fixture_ready();
	for (;;)
		pause();
}
