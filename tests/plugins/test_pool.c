/* An external allocator plugin for the tests, built against
 * plugins/strand_plugin.h alone: it knows the toy pool allocator of
 * tests/targets/pool.c, whose state is the global `strand_test_pool`. */
#include <stdint.h>
#include <string.h>

#include "strand_plugin.h"

#define POOL_MAGIC 0x4c4f4f5054534554ull /* "TESTPOOL" */
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

static const struct strand_host_api *api;

static bool find_pool(struct strand_host *h, struct pool *p)
{
	uint64_t addr, size;
	return api->lookup_symbol(h, "strand_test_pool", NULL, &addr, &size) &&
	       api->read(h, addr, p, sizeof(*p)) == sizeof(*p) && p->magic == POOL_MAGIC && p->nslots <= POOL_SLOTS;
}

static int pool_detect(struct strand_host *h)
{
	struct pool p;
	return find_pool(h, &p) ? 100 : 0;
}

static int pool_walk(struct strand_host *h, const struct strand_heap_sink *sink)
{
	struct pool p;
	if (!find_pool(h, &p)) {
		sink->problem(sink->ctx, 0, "strand_test_pool not found");
		return -1;
	}
	sink->discovery(sink->ctx, "the strand_test_pool symbol");
	struct strand_arena a = { .index = 0, .kind = "pool" };
	for (uint64_t i = 0; i < p.nslots; i++)
		a.system_mem += p.slots[i].size;
	sink->arena(sink->ctx, &a);
	for (uint64_t i = 0; i < p.nslots; i++) {
		struct strand_block b = { p.slots[i].addr, p.slots[i].size, 0,
					  p.slots[i].used ? STRAND_USED : STRAND_FREE, false };
		sink->block(sink->ctx, &b);
	}
	return 0;
}

static const struct strand_allocator pool_allocator = { "test-pool", pool_detect, pool_walk };

static const struct strand_plugin pool_plugin = {
	.abi = STRAND_PLUGIN_ABI,
	.name = "test-pool",
	.description = "the toy pool allocator of strand's tests",
	.allocator = &pool_allocator,
};

const struct strand_plugin *strand_plugin_init(const struct strand_host_api *host);
const struct strand_plugin *strand_plugin_init(const struct strand_host_api *host)
{
	if (host->abi != STRAND_PLUGIN_ABI)
		return NULL;
	api = host;
	return &pool_plugin;
}
