# strand: make, make test, make test-sanitize, make fuzz, make demo, make deps, make install, make bench
CC := gcc
PREFIX ?= /usr/local
DESTDIR ?=
PKGS := libdw libelf readline capstone
CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Ibuild/gen \
          $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -ldl -lpthread
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Debian packages for building, testing and cross-checking (gdb, valgrind, eu-stack).
DEBIAN_PACKAGES := gcc g++ make pkg-config libdw-dev libelf-dev libreadline-dev libcapstone-dev \
                   libcmocka-dev libc6-dbg elfutils debuginfod gdb valgrind python3 procps iproute2 bc \
                   clang libclang-rt-14-dev llvm-14
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

.PHONY: all test test-sanitize check-deps deps demo install bench clean unit fixtures

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

# The same suite against strand, libstrand and the unit tests built with ASan and
# UBSan (clang) in build-san/; the fixtures stay as they are. Every sanitizer
# report goes to build-san/reports/ and fails the target, even one from a run
# whose exit status a test does not look at; exit status 86 tells them apart.
SAN_CC := clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g
SAN_CFLAGS := $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS)
SAN_OBJ := $(SRC:%.c=build-san/%.o)
SAN_LIB_OBJ := $(filter-out build-san/debugger/main.o,$(SAN_OBJ))
SAN_UNIT_BIN := $(UNIT_SRC:%.c=build-san/%)
SAN_REPORTS := build-san/reports
SAN_ENV := ASAN_OPTIONS=exitcode=86:detect_leaks=1:log_path=$(CURDIR)/$(SAN_REPORTS)/report \
           UBSAN_OPTIONS=exitcode=86:print_stacktrace=1:log_path=$(CURDIR)/$(SAN_REPORTS)/report \
           STRAND_BIN=$(CURDIR)/build-san/strand STRAND_BUILD=build-san

build-san/strand: $(SAN_OBJ)
	$(SAN_CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

build-san/%.o: %.c | build/gen/syscall_table.h
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

build-san/libstrand.a: $(SAN_LIB_OBJ)
	ar rcs $@ $^

build-san/tests/unit/%: tests/unit/%.c build-san/libstrand.a
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< build-san/libstrand.a $(LDLIBS) $(CMOCKA_LIBS)

test-sanitize: check-deps
	$(MAKE) strand unit fixtures build-san/strand $(SAN_UNIT_BIN)
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	$(SAN_ENV) python3 tests/run.py; rc=$$?; \
	for f in $(SAN_REPORTS)/*; do [ -e "$$f" ] || continue; echo "== $$f"; cat "$$f"; rc=1; done; \
	exit $$rc

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
	rm -rf build build-san strand

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d)
