# strand: make, make test, make check-layers, make test-sanitize, make fuzz, make demo, make deps, make install, make bench
CC := gcc
PREFIX ?= /usr/local
DESTDIR ?=
PKGS := libdw libelf readline capstone
CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Idebugger -Ibuild/gen \
          $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -ldl -lpthread
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Debian packages for building, testing and cross-checking (gdb, valgrind, eu-stack), and the
# other allocators the tests run strand on (redis-server's jemalloc, tcmalloc, mimalloc, Go,
# clang's sanitizer runtimes, which the sanitized build uses too).
DEBIAN_PACKAGES := gcc g++ make pkg-config libdw-dev libelf-dev libreadline-dev libcapstone-dev \
                   libcmocka-dev libc6-dbg elfutils debuginfod gdb valgrind python3 procps iproute2 bc \
                   clang libclang-rt-14-dev llvm-14 redis-server libjemalloc2 libjemalloc-dev \
                   libtcmalloc-minimal4 libmimalloc2.0 golang-go delve
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The engine's layers, bottom up (debugger/README.md), then the commands and the built-in plugins:
# every .c file of these folders is part of strand. Includes are spelled from debugger/ (-Idebugger).
SRC_DIRS := debugger/base debugger/target debugger/symbols debugger/analysis debugger/analysis/reach \
            debugger/frontend commands plugins
SRC := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c))
OBJ := $(SRC:%.c=build/%.o)
LIB_OBJ := $(filter-out %/main.o,$(OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=build/%)
TARGET_SRC := $(wildcard tests/targets/*.c tests/targets/*.cc)
TARGET_BIN := $(patsubst %.c,build/%,$(patsubst %.cc,build/%,$(TARGET_SRC)))
TARGET_LIB_SRC := $(wildcard tests/targets/lib/*.c)
TARGET_LIB_BIN := $(patsubst tests/targets/lib/%.c,build/tests/targets/lib%.so,$(TARGET_LIB_SRC))
TEST_PLUGIN_SRC := $(wildcard tests/plugins/*.c)
TEST_PLUGIN_BIN := $(TEST_PLUGIN_SRC:%.c=build/%.so)

.PHONY: all test check-layers test-sanitize fuzz fuzz-regressions check-deps deps demo install bench clean unit fixtures

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

# Made anew: ar would keep the members of sources that have since moved or gone.
build/libstrand.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

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

# Go fixtures (tests/targets/go, one module, no dependency outside the standard
# library): each as built, without DWARF (-w) and stripped (-s -w).
GO_TARGET_SRC := $(wildcard tests/targets/go/*.go)
GO_TARGET_BIN := $(foreach v,.go _nodwarf.go _stripped.go,$(GO_TARGET_SRC:tests/targets/go/%.go=build/tests/targets/go/%$(v:.go=)))
GO_BUILD := cd tests/targets/go && GOFLAGS=-mod=mod GOPROXY=off go build
build/tests/targets/go/%: tests/targets/go/%.go tests/targets/go/go.mod
	@mkdir -p $(dir $@)
	$(GO_BUILD) -o $(CURDIR)/$@ $*.go
build/tests/targets/go/%_nodwarf: tests/targets/go/%.go tests/targets/go/go.mod
	@mkdir -p $(dir $@)
	$(GO_BUILD) -ldflags=-w -o $(CURDIR)/$@ $*.go
build/tests/targets/go/%_stripped: tests/targets/go/%.go tests/targets/go/go.mod
	@mkdir -p $(dir $@)
	$(GO_BUILD) -ldflags='-s -w' -o $(CURDIR)/$@ $*.go

unit: $(UNIT_BIN)
fixtures: $(TARGET_BIN) $(TARGET_LIB_BIN) $(TEST_PLUGIN_BIN) $(GO_TARGET_BIN)

# Install what is missing, then build and run every test with the final tally.
test: check-deps check-layers
	$(MAKE) strand unit fixtures
	python3 tests/run.py

# Includes run down debugger/'s layers, plugins see only their ABI, and no
# includes make a circle (debugger/README.md): read from the #include lines.
check-layers:
	python3 tests/check_layers.py

# The same suite against strand, libstrand and the unit tests built with ASan and
# UBSan (clang) in build-san/; the fixtures stay as they are. Every sanitizer
# report goes to build-san/reports/ and fails the target, even one from a run
# whose exit status a test does not look at; exit status 86 tells them apart.
SAN_CC := clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g
SAN_CFLAGS := $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS)
SAN_OBJ := $(SRC:%.c=build-san/%.o)
SAN_LIB_OBJ := $(filter-out %/main.o,$(SAN_OBJ))
SAN_UNIT_BIN := $(UNIT_SRC:%.c=build-san/%)
SAN_REPORTS := build-san/reports
# An allocation of more than 16 GiB fails as malloc does on this machine, instead
# of ASan's report: strand gives up on an oversized table gracefully.
SAN_ALLOC := allocator_may_return_null=1:max_allocation_size_mb=16384
SAN_ENV := ASAN_OPTIONS=$(SAN_ALLOC):exitcode=86:detect_leaks=1:log_path=$(CURDIR)/$(SAN_REPORTS)/report \
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
	$(MAKE) strand unit fixtures build-san/strand $(SAN_UNIT_BIN) $(FUZZ_BIN)
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	$(SAN_ENV) python3 tests/run.py; rc=$$?; \
	for f in $(SAN_REPORTS)/*; do [ -e "$$f" ] || continue; echo "== $$f"; cat "$$f"; rc=1; done; \
	$(MAKE) --no-print-directory fuzz-regressions || rc=1; \
	exit $$rc

# libFuzzer harnesses (tests/fuzz/NAME.c) linked against the engine built with
# the sanitized build's flags and libFuzzer's coverage, in build/fuzz/. `make fuzz` runs each for
# FUZZ_SECONDS on build/fuzz/corpus/NAME (the committed seeds, tests/fuzz/seeds/NAME,
# and seeds made from the fixtures' cores); crashes land in build/fuzz/crashes/NAME.
FUZZERS := core heap expr cmdline
FUZZ_SECONDS ?= 60
FUZZ_OBJ := $(LIB_OBJ:build/%=build/fuzz/obj/%)
FUZZ_BIN := $(FUZZERS:%=build/fuzz/%)
# Per input: 10 s at most (a loop is a finding) and 2 GiB of memory. An
# allocation past 2 GiB fails as on a small machine (ASan's shadow makes a
# granted one slow): room strand only hopes for is then refused, and an xmalloc
# that must have it aborts, which is a finding.
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048
FUZZ_ENV := ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=2048 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp

build/fuzz/obj/%.o: %.c | build/gen/syscall_table.h
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/libstrand.a: $(FUZZ_OBJ)
	ar rcs $@ $^

build/fuzz/%: tests/fuzz/%.c build/fuzz/libstrand.a
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libstrand.a $(LDLIBS)

# The core the expr harness evaluates in.
build/fuzz/values.core: strand build/tests/targets/values
	python3 tests/fuzz/make_seeds.py build/fuzz --values-only

# Forked: a crash, leak, timeout or out-of-memory is saved and the run goes on.
fuzz: check-deps
	$(MAKE) strand fixtures $(FUZZ_BIN)
	python3 tests/fuzz/make_seeds.py build/fuzz
	@for n in $(FUZZERS); do \
	  mkdir -p build/fuzz/corpus/$$n build/fuzz/crashes/$$n && \
	  { [ ! -d tests/fuzz/seeds/$$n ] || cp -n tests/fuzz/seeds/$$n/* build/fuzz/corpus/$$n/; } && \
	  { [ ! -d build/fuzz/generated/$$n ] || cp -n build/fuzz/generated/$$n/* build/fuzz/corpus/$$n/; } && \
	  echo "fuzzing $$n for $(FUZZ_SECONDS) s (log: build/fuzz/$$n.log)" && \
	  $(FUZZ_ENV) build/fuzz/$$n $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) -fork=1 -ignore_crashes=1 \
	    -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix=build/fuzz/crashes/$$n/ \
	    build/fuzz/corpus/$$n </dev/null >build/fuzz/$$n.log 2>&1; \
	  grep -E "^#[0-9]+: cov" build/fuzz/$$n.log | tail -1; \
	done; rc=0; for n in $(FUZZERS); do \
	  k=$$(ls build/fuzz/crashes/$$n | wc -l); echo "$$n: $$k inputs in build/fuzz/crashes/$$n"; \
	  [ $$k = 0 ] || rc=1; \
	done; exit $$rc

# Every input that once crashed a harness, run through it again.
fuzz-regressions: $(FUZZ_BIN) build/fuzz/values.core
	@rc=0; for n in $(FUZZERS); do \
	  set -- tests/fuzz/regressions/$$n/*; [ -e "$$1" ] || continue; \
	  $(FUZZ_ENV) build/fuzz/$$n $(FUZZ_RUN_FLAGS) "$$@" </dev/null >build/fuzz/regressions-$$n.log 2>&1 && \
	    echo "PASS fuzz regressions $$n: $$# inputs" || \
	    { rc=1; echo "FAIL fuzz regressions $$n (build/fuzz/regressions-$$n.log):"; \
	      grep -E "^Running:|ERROR|SUMMARY|runtime error|==[0-9]+==" build/fuzz/regressions-$$n.log | tail -20; }; \
	done; exit $$rc

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

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
