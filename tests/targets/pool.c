/* A toy pool allocator whose state strand can only know through the external
 * plugin tests/plugins/test_pool.c: 16 slots carved from one static arena,
 * some used, some free. Records each slot. */
#include "fixture.h"

#include <stdint.h>

#define POOL_SLOTS 16

struct pool_slot {
	uint64_t addr, size;
	uint32_t used, pad;
};

struct pool {
	uint64_t magic;
	uint64_t nslots;
	struct pool_slot slots[POOL_SLOTS];
};

struct pool strand_test_pool;
static char pool_memory[64 * 1024] __attribute__((aligned(16)));

int main(void)
{
	uint64_t off = 0;
	strand_test_pool.nslots = 10;
	for (int i = 0; i < 10; i++) {
		uint64_t size = 64u << (i % 5);
		struct pool_slot *s = &strand_test_pool.slots[i];
		s->addr = (uint64_t)(uintptr_t)(pool_memory + off);
		s->size = size;
		s->used = i % 3 != 0;
		off += size;
		fixture_truth("{\"kind\":\"slot\",\"addr\":\"0x%llx\",\"size\":%llu,\"used\":%s}",
			      (unsigned long long)s->addr, (unsigned long long)size, s->used ? "true" : "false");
	}
	strand_test_pool.magic = 0x4c4f4f5054534554ull;
	fixture_ready();
	for (;;)
		pause();
}
