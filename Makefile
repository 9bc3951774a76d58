# strand: make, make test, make demo, make deps, make install, make bench
CC := gcc
PREFIX ?= /usr/local
DESTDIR ?=
PKGS := libdw libelf readline capstone
CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Ibuild/gen \
          $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -ldl -lpthread
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Debian packages for building, testing and cross-checking (gdb, valgrind, eu-stack), and the
# other allocators the tests run strand on (redis-server's jemalloc, tcmalloc, mimalloc, Go,
# clang's sanitizer runtimes).
DEBIAN_PACKAGES := gcc g++ make pkg-config libdw-dev libelf-dev libreadline-dev libcapstone-dev \
                   libcmocka-dev libc6-dbg elfutils debuginfod gdb valgrind python3 procps iproute2 bc \
                   redis-server libjemalloc2 libjemalloc-dev libtcmalloc-minimal4 libmimalloc2.0 golang-go \
                   clang libclang-rt-14-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

SRC := $(wildcard debugger/*.c commands/*.c plugins/*.c)
OBJ := $(SRC:%.c=build/%.o)
LIB_OBJ := $(filter-out build/debugger/main.o,$(OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=build/%)
TARGET_SRC := $(wildcard tests/targets/*.c tests/targets/*.cc)
TARGET_BIN := $(patsubst %.c,build/%,$(patsubst %.cc,build/%,$(TARGET_SRC)))
TARGET_LIB_SRC := $(wildcard tests/targets/lib/*.c)
TARGET_LIB_BIN := $(patsubst tests/targets/lib/%.c,build/tests/targets/lib%.so,$(TARGET_LIB_SRC))
TEST_PLUGIN_SRC := $(wildcard tests/plugins/*.c)
TEST_PLUGIN_BIN := $(TEST_PLUGIN_SRC:%.c=build/%.so)

.PHONY: all test check-deps deps demo install bench clean unit fixtures

all: strand

strand: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/%.o: %.c | build/gen/syscall_table.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# System call names from the kernel headers, indexed by number.
build/gen/syscall_table.h:
	@mkdir -p $(dir $@)
	echo '#include <asm/unistd_64.h>' | $(CC) -E -dM - | \
	  awk '/^#define __NR_/ { sub("__NR_", "", $$2); printf "[%s] = \"%s\",\n", $$3, $$2 }' > $@

build/libstrand.a: $(LIB_OBJ)
	ar rcs $@ $^

build/tests/unit/%: tests/unit/%.c build/libstrand.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< build/libstrand.a $(LDLIBS) $(CMOCKA_LIBS)

# Fixtures: debug info, no optimisation unless a fixture asks (see fixture_flags).
FIXTURE_CFLAGS := -g -O0 -pthread -fno-omit-frame-pointer -Wall
build/tests/targets/%: tests/targets/%.c tests/targets/fixture.h tests/targets/fixture_net.h
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) $(shell sed -n 's|^// fixture-flags: ||p' $<) -o $@ $< -ldl
build/tests/targets/%: tests/targets/%.cc tests/targets/fixture.h
	@mkdir -p $(dir $@)
	g++ $(FIXTURE_CFLAGS) $(shell sed -n 's|^// fixture-flags: ||p' $<) -o $@ $< -ldl

# External plugins for the tests: built against plugins/strand_plugin.h alone.
build/tests/plugins/%.so: tests/plugins/%.c plugins/strand_plugin.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -g -fPIC -shared -Iplugins -o $@ $<

# Libraries the fixtures dlopen.
build/tests/targets/lib%.so: tests/targets/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) -fPIC -shared -o $@ $<

unit: $(UNIT_BIN)
fixtures: $(TARGET_BIN) $(TARGET_LIB_BIN) $(TEST_PLUGIN_BIN)

# Install what is missing, then build and run every test with the final tally.
test: check-deps
	$(MAKE) strand unit fixtures
	python3 tests/run.py

check-deps:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || $(MAKE) deps

deps:
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES)

demo: check-deps
	$(MAKE) strand fixtures
	sh tests/demo.sh

bench: check-deps
	$(MAKE) strand fixtures
	sh bench/run.sh

install: strand
	install -D -m 755 strand $(DESTDIR)$(PREFIX)/bin/strand
	install -D -m 644 docs/strand.1 $(DESTDIR)$(PREFIX)/share/man/man1/strand.1

clean:
	rm -rf build strand

-include $(OBJ:.o=.d)
