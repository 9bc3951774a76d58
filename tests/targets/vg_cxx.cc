// fixture-flags: -D_GLIBCXX_USE_CXX11_ABI=0
// For comparing strand's leak classes with valgrind's on what C++ makes of
// valgrind's heuristics: copy-on-write std::strings of the old ABI (the
// string points 24 bytes into its block, past {length, capacity, refcount}),
// an object with two bases held through its second, a new[] array of
// objects with a destructor (held 8 bytes in, past the count). Records each
// block as vg_shapes does ({"kind":"block",...}, "why ADDRESS" lines to
// $STRAND_COMMANDS), then exits without freeing anything.
#include "fixture.h"

#include <new>
#include <string>

static FILE *commands;

static void record(const void *p, const char *label, const char *cls, int line)
{
	fixture_truth("{\"kind\":\"block\",\"label\":\"%s\",\"addr\":\"%p\",\"line\":%d,\"class\":\"%s\","
		      "\"strand\":\"%s\",\"reason\":null}",
		      label, p, line, cls, cls);
	if (commands)
		fprintf(commands, "why %p %s\n", p, getenv("STRAND_WHY_OPTIONS") ? getenv("STRAND_WHY_OPTIONS") : "");
}

struct A {
	virtual ~A() {}
	virtual void f() {}
	long a = 1;
};

struct B {
	virtual ~B() {}
	virtual void g() {}
	long b = 2;
};

struct C : A, B {
	long c = 3;
};

struct D {
	~D() { x = 0; }
	long x = 4;
};

// Strings whose destructors never run (exit would free them first).
alignas(std::string) static unsigned char g_string[sizeof(std::string)];
std::string **g_string_holder;
B *g_base;
long *g_member;
D *g_array;

static const void *string_block(const std::string &s)
{
	return s.data() - 24;
}

// Far below where main's frame and exit's reach.
__attribute__((noinline)) static void build()
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	std::string *s = new (g_string) std::string(30, 'x'); record(string_block(*s), "copy-on-write string held by a global", "still reachable", __LINE__);
	g_string_holder = new std::string *; record(g_string_holder, "a block holding a string", "still reachable", __LINE__);
	*g_string_holder = new std::string; record(*g_string_holder, "the string object", "still reachable", __LINE__);
	**g_string_holder = std::string(100, 'y'); record(string_block(**g_string_holder), "copy-on-write string held by a block", "still reachable", __LINE__);

	C *c = new C; record(c, "an object held through its second base", "still reachable", __LINE__);
	g_base = c;
	C *c2 = new C; record(c2, "an object held by a pointer to a member", "possibly lost", __LINE__);
	g_member = &c2->c;
	C *c3 = new C; record(c3, "an object nothing holds", "definitely lost", __LINE__);
	c3 = nullptr;

	g_array = new D[5]; record(reinterpret_cast<char *>(g_array) - 8, "new[] of 5 objects with a destructor", "still reachable", __LINE__);
	pad[1] = pad[0];
}

int main()
{
	const char *path = getenv("STRAND_COMMANDS");
	commands = path ? fopen(path, "w") : NULL;
	build();
	if (commands)
		fclose(commands);
	fixture_truth("{\"kind\":\"done\"}");
	return 0;
}
