/* /proc/PID/maps parsing and lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "target/maps.h"

static const char *sample =
	"55d0c4a00000-55d0c4a01000 r--p 00000000 08:01 1234                       /usr/bin/prog\n"
	"55d0c4a01000-55d0c4a02000 r-xp 00001000 08:01 1234                       /usr/bin/prog\n"
	"55d0c5e6f000-55d0c5e90000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0 \n"
	"7f1c2b200000-7f1c2b222000 r--s 00000000 00:05 99                         /dev/shm/with space (deleted)\n"
	"7ffd1a1e0000-7ffd1a201000 rw-p 00000000 00:00 0                          [stack]\n";

static void parses_every_field(void **state)
{
	(void)state;
	struct maps m = { 0 };
	assert_int_equal(maps_parse(&m, sample), 0);
	assert_int_equal(m.n, 6);
	assert_int_equal(m.v[1].start, 0x55d0c4a01000);
	assert_int_equal(m.v[1].end, 0x55d0c4a02000);
	assert_int_equal(m.v[1].offset, 0x1000);
	assert_int_equal(m.v[1].perms, MAP_R | MAP_X);
	assert_int_equal(m.v[1].dev_major, 8);
	assert_int_equal(m.v[1].inode, 1234);
	assert_string_equal(m.v[1].path, "/usr/bin/prog");
	assert_null(m.v[3].path);
	assert_string_equal(m.v[4].path, "/dev/shm/with space (deleted)");
	assert_true(m.v[4].perms & MAP_SHARED_);
	assert_string_equal(m.v[5].path, "[stack]");
	assert_true(mapping_is_file(&m.v[0]));
	assert_false(mapping_is_file(&m.v[2]));
	maps_free(&m);
}

static void finds_by_address(void **state)
{
	(void)state;
	struct maps m = { 0 };
	assert_int_equal(maps_parse(&m, sample), 0);
	assert_ptr_equal(maps_find(&m, 0x55d0c5e6f000), &m.v[2]);
	assert_ptr_equal(maps_find(&m, 0x55d0c5e8ffff), &m.v[2]);
	assert_null(maps_find(&m, 0x55d0c5e90000));
	assert_null(maps_find(&m, 0x1000));
	assert_ptr_equal(maps_find(&m, 0x7ffd1a200fff), &m.v[5]);
	maps_free(&m);
}

static void rejects_garbage(void **state)
{
	(void)state;
	struct maps m = { 0 };
	assert_int_equal(maps_parse(&m, "not a mapping line\n"), -1);
	maps_free(&m);
	assert_int_equal(maps_parse(&m, "2000-1000 r--p 00000000 00:00 0\n"), -1);
	maps_free(&m);
}

static void perms_round_trip(void **state)
{
	(void)state;
	char buf[5];
	assert_string_equal(maps_perms_str(MAP_R | MAP_W, buf), "rw-p");
	assert_string_equal(maps_perms_str(MAP_R | MAP_X | MAP_SHARED_, buf), "r-xs");
}

struct ranges {
	uint64_t v[8][2];
	size_t n;
};

static void note_range(void *arg, uint64_t start, uint64_t end)
{
	struct ranges *r = arg;
	r->v[r->n][0] = start;
	r->v[r->n++][1] = end;
}

/* A module's data and bss: the read-write mappings within its range, cut at
 * its ends; read-only, executable and shared read-only ones left out. */
static void writable_parts_of_a_range(void **state)
{
	(void)state;
	struct maps m = { 0 };
	struct ranges r = { 0 };
	assert_int_equal(maps_parse(&m, sample), 0);
	maps_each_writable(&m, 0x55d0c4a00000, 0x55d0c5e80000, note_range, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0][0], 0x55d0c5e6f000); /* [heap], cut at the range's end */
	assert_int_equal(r.v[0][1], 0x55d0c5e80000);
	r.n = 0;
	maps_each_writable(&m, 0x7f1c2a010000, 0x7ffd1a1f0000, note_range, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[0][0], 0x7f1c2a010000);
	assert_int_equal(r.v[0][1], 0x7f1c2a021000);
	assert_int_equal(r.v[1][0], 0x7ffd1a1e0000);
	assert_int_equal(r.v[1][1], 0x7ffd1a1f0000);
	r.n = 0;
	maps_each_writable(&m, 0x55d0c4a00000, 0x55d0c4a02000, note_range, &r);
	assert_int_equal(r.n, 0);
	maps_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_every_field),
		cmocka_unit_test(finds_by_address),
		cmocka_unit_test(rejects_garbage),
		cmocka_unit_test(perms_round_trip),
		cmocka_unit_test(writable_parts_of_a_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
