// The C++ containers of the retained-arrays report: a std::vector and a
// std::string whose capacity dwarfs their length (findings), and one of each
// filled to capacity (not findings), and a stdio stream's buffer, whose FILE
// points into it eight times and is no container (not a finding). Records
// each data buffer:
//   {"kind":"array","addr":"0x..","finding":true|false,"name":"...","container":"std::vector"|"std::string"|"FILE"}
// With the argument "exit" it returns from main instead of parking.
#include "fixture.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static std::vector<int> g_spare_vector, g_full_vector;
static std::string g_spare_string, g_full_string;
static FILE *g_log;

static void expect(const void *addr, bool finding, const char *name, const char *container)
{
	fixture_truth("{\"kind\":\"array\",\"addr\":\"%p\",\"finding\":%s,\"name\":\"%s\",\"container\":\"%s\"}", addr,
		      finding ? "true" : "false", name, container);
}

int main(int argc, char **argv)
{
	fixture_truth("{\"kind\":\"start\"}");
	g_spare_vector.reserve(256 * 1024);
	g_spare_vector.assign(10, 7);
	expect(g_spare_vector.data(), true, "vector len << capacity", "std::vector");
	g_full_vector.assign(64 * 1024, 7);
	g_full_vector.shrink_to_fit();
	expect(g_full_vector.data(), false, "vector len == capacity", "std::vector");
	g_spare_string.reserve(1 << 20);
	g_spare_string = "a short line in a 1 MiB buffer";
	expect(g_spare_string.data(), true, "string len << capacity", "std::string");
	g_full_string.assign(64 * 1024, 'x');
	expect(g_full_string.data(), false, "string len == capacity", "std::string");
	g_log = fopen("/dev/null", "w");
	fputs("a line\n", g_log);
	fflush(g_log); /* now its write pointers read {buffer, buffer, buffer end}: an empty vector's shape */
	expect(g_log->_IO_buf_base, false, "stdio buffer", "FILE");
	if (argc > 1 && !strcmp(argv[1], "exit"))
		_exit(0); /* for strand run: the state at exit, before static destructors free the containers */
	fixture_ready();
	FIXTURE_PARK("pause");
	for (;;)
		pause();
}
