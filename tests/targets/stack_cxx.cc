// C++ stacks for the comparison with gdb (tests/integration/test_gdb_stacks.py):
// threads started with std::thread park in a namespace's class member, a
// template, a lambda passed to std::condition_variable::wait, a std::mutex
// held by main, and a plain function; main joins the first thread. Optimised
// (-O2) so that library code is inlined and calls end in tail calls, as in
// the programs people debug. Records each parked thread:
//   {"kind":"park","tid":N,"function":"...","file":"...","line":N,"what":"..."}
// and the address of a global std::string:
//   {"kind":"global","name":"g_str","addr":"0x.."}
// fixture-flags: -O2 -std=c++17
#include "fixture.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

std::string g_str = "a global string, longer than the small-string buffer";
static std::mutex g_held;
static std::mutex g_queue_lock;
static std::condition_variable g_queue_cond;
static bool g_queue_ready;

namespace shop {

class Ledger {
public:
	explicit Ledger(int id) : id_(id) {}
	__attribute__((noinline)) void transfer(int amount)
	{
		fixture_arrive();
		FIXTURE_PARK("mutex"); std::lock_guard<std::mutex> hold(g_held);
		balance_ += amount + id_;
	}

private:
	int id_;
	long balance_ = 0;
};

template <typename T> __attribute__((noinline)) T sleep_for_a_while(T seconds)
{
	fixture_arrive();
	FIXTURE_PARK("sleep"); std::this_thread::sleep_for(std::chrono::seconds(seconds));
	return seconds;
}

} // namespace shop

__attribute__((noinline)) static void queue_waiter()
{
	std::unique_lock<std::mutex> lock(g_queue_lock);
	fixture_arrive();
	FIXTURE_PARK("cond"); g_queue_cond.wait(lock, [] { return g_queue_ready; });
}

__attribute__((noinline)) void transfer1()
{
	shop::Ledger ledger(1);
	ledger.transfer(5);
}

int main()
{
	fixture_truth("{\"kind\":\"global\",\"name\":\"g_str\",\"addr\":\"%p\"}", (void *)&g_str);
	g_held.lock();
	std::vector<std::thread> threads;
	threads.emplace_back(shop::sleep_for_a_while<long>, 100000L);
	threads.emplace_back(transfer1);
	threads.emplace_back(queue_waiter);
	fixture_wait_arrivals(3);
	fixture_ready();
	FIXTURE_PARK("join"); threads[0].join();
	return 0;
}
