"""Allocators strand cannot walk. On real programs (Debian's redis-server and
its jemalloc, a leaking fixture preloaded with jemalloc, tcmalloc or mimalloc
or linked with a static jemalloc, python3 and its pymalloc arenas, Go programs
with and without C, sanitizer builds, a static binary, a core whose libc is
gone) strand names the allocator in use, live and on a core, and no heap
command passes a heap it did not walk off as clean: leaks, report and
--error-exitcode exit 1 and never say "No leaks". Where another allocator sits
beside glibc's (pymalloc, Go's heap with cgo), glibc's part is still analysed
and the summary says what was not. The same fixture under glibc alone still
gets its verdict."""
import os
import shutil
import subprocess
import tempfile
import time

from helpers import (ROOT, STRAND, TARGETS, Fixture, Program, batch, free_port, redis_command, redis_up,
                     wait_until, write_core_memory)

SOURCES = os.path.join(ROOT, "tests", "targets")
ALLOC_LEAKS = os.path.join(TARGETS, "alloc_leaks")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PRELOADED = {
    "jemalloc": os.path.join(LIBDIR, "libjemalloc.so.2"),
    "tcmalloc": os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"),
    "mimalloc": os.path.join(LIBDIR, "libmimalloc.so.2"),
}
# Every analysis that stands on the heap.
HEAP_COMMANDS = ("heap", "heap blocks", "leaks", "top", "arrays", "escape", "why 0x1000", "report")
PYTHON = "/usr/bin/python3"
PYTHON_SCRIPT = """
import signal
kept = [str(i) * 3 for i in range(20000)] + [bytearray(2000) for i in range(50)]
print("ready", flush=True)
signal.pause()
"""


def info(target):
    r = batch(target, "info plugins")
    assert r.rc == 0, r.stderr
    doc = r.doc("info plugins")
    return doc, {p["name"]: p for p in doc["plugins"]}


def check_named(target, allocator, evidence):
    """info plugins: the allocator in use, with no walker, its evidence, and
    the highest confidence of all."""
    doc, plugins = info(target)
    use = doc["in_use"]
    assert use["name"] == allocator and use["walker"] is False, doc
    assert evidence in use["evidence"], use
    assert plugins[allocator]["confidence"] == max(p["confidence"] or 0 for p in plugins.values() if p["allocator"]), plugins
    assert not plugins[allocator]["walker"]
    return doc


def no_verdict(r):
    """Nothing says there are no leaks, in text or JSON."""
    assert "No leaks" not in r.stdout and "No leaks" not in r.stderr, r.stdout


def check_unwalkable(target, allocator, evidence):
    """The allocator in use has no walker: every heap command fails (exit 1)
    and names it, whatever --error-exitcode asks; nothing says "No leaks"."""
    check_named(target, allocator, evidence)
    r = batch(target, *HEAP_COMMANDS, timeout=60)
    assert r.rc == 1, r.stderr
    for command in HEAP_COMMANDS:
        doc = r.doc(command)
        assert allocator in doc.get("error", ""), (command, doc)
    leaks = {s["section"]: s["result"] for s in r.doc("report")["sections"]}["Leaks"]
    assert allocator in leaks["error"] and "summary" not in leaks, leaks
    for command in ("leaks --error-exitcode 7", "report --error-exitcode 7"):
        one = batch(target, command, timeout=60)
        assert one.rc == 1, (command, one.rc, one.stderr)
    text = batch(target, "leaks", "report --error-exitcode 7", json_mode=False, timeout=60)
    assert text.rc == 1 and allocator in text.stderr and "no walker" in text.stderr, text.stderr
    no_verdict(text)


def check_beside(target, allocator, evidence, lost=None):
    """An allocator beside glibc's: glibc's heap is walked and analysed (the
    lost blocks the target recorded are found), but leaks gives no verdict and
    fails, report fails, and the other analyses say what was not analysed."""
    doc, plugins = info(target)
    assert doc["in_use"]["name"] == "glibc-malloc" and doc["in_use"]["walker"], doc["in_use"]
    assert [n["name"] for n in doc["not_walked"]] == [allocator], doc["not_walked"]
    assert evidence in plugins[allocator]["evidence"], plugins[allocator]
    r = batch(target, "leaks --show all --limit 0", "top", "escape", "report", timeout=60)
    assert r.rc == 1, r.stderr
    leaks = r.doc("leaks")
    assert leaks["complete"] is False and "error" not in leaks, leaks
    coverage = leaks["coverage"]
    assert coverage["allocator"] == "glibc-malloc" and coverage["blocks"] > 0, coverage
    assert [g["allocator"] for g in coverage["not_covered"]] == [allocator], coverage
    assert any(allocator in w for w in leaks["warnings"]), leaks["warnings"]
    if lost is not None:
        found = {int(a, 16) for x in leaks["records"] if x["class"] == "definitely lost" for a in x["samples"]}
        assert {int(t["addr"], 16) for t in lost} <= found, (lost, found)
    for command in ("top", "escape"):
        assert r.doc(command)["complete"] is False and any(allocator in w for w in r.doc(command)["warnings"])
    assert allocator in r.doc("report")["error"], r.doc("report")
    for command in ("leaks --error-exitcode 7", "report --error-exitcode 7"):
        one = batch(target, command, timeout=60)
        assert one.rc == 1, (command, one.rc, one.stderr)
    text = batch(target, "leaks", json_mode=False, timeout=60)
    assert text.rc == 1, text.stderr
    assert f"Not covered: {allocator}" in text.stdout and "No verdict" in text.stdout, text.stdout
    no_verdict(text)


def gcore(pid, work, name):
    core = os.path.join(work, name + ".core")
    r = batch(["-p", str(pid)], f"gcore {core}", timeout=120)
    assert r.rc == 0, r.stderr
    return core


def compile_fixture(work, name, compiler, *flags, source="alloc_leaks.c"):
    out = os.path.join(work, name)
    subprocess.run([compiler, "-g", "-O0", "-pthread", "-o", out, os.path.join(SOURCES, source), *flags],
                   check=True, capture_output=True, timeout=120)
    return out


def test_glibc_alone_still_gets_a_verdict():
    """The fixture the other allocators run: under glibc alone its lost blocks
    are found (exit 7 asked, 7 given) and, when it loses none, "No leaks"."""
    with Fixture("alloc_leaks", "leak") as fx:
        target = ["-p", str(fx.pid)]
        doc, _ = info(target)
        release = subprocess.run(["getconf", "GNU_LIBC_VERSION"], capture_output=True, text=True).stdout.split()[1]
        assert doc["in_use"]["name"] == "glibc-malloc" and doc["in_use"]["walker"], doc["in_use"]
        assert f"glibc {release} by libc's version string" in doc["in_use"]["evidence"], doc["in_use"]
        assert doc["not_walked"] == [] and "libc.so.6" in doc["malloc"]["module"], doc
        r = batch(target, "leaks --error-exitcode 7")
        assert r.rc == 7, r.stderr
        leaks = r.doc("leaks")
        lost = {int(t["addr"], 16) for t in fx.truth("lost")}
        found = {int(a, 16) for x in leaks["records"] if x["class"] == "definitely lost" for a in x["samples"]}
        assert leaks["complete"] is True and found == lost, (found, lost)
        assert leaks["coverage"]["not_covered"] == [] and leaks["coverage"]["blocks"] >= len(lost) + 8
    with Fixture("alloc_leaks") as fx:
        r = batch(["-p", str(fx.pid)], "leaks --error-exitcode 7", json_mode=False)
        assert r.rc == 0 and "No leaks: every block is reachable." in r.stdout, r.stdout
        assert "Covered: glibc-malloc's heap, " in r.stdout and "Not covered" not in r.stdout, r.stdout


def test_preloaded_allocators_live_and_on_a_core():
    """LD_PRELOAD of jemalloc, tcmalloc and mimalloc on the leaking fixture:
    malloc resolves through the executable's GOT into the preloaded library."""
    work = tempfile.mkdtemp(prefix="strand-alloc-")
    try:
        for allocator, library in PRELOADED.items():
            with Fixture("alloc_leaks", "leak", env={"LD_PRELOAD": library}) as fx:
                live = ["-p", str(fx.pid)]
                doc = check_named(live, allocator, "(LD_PRELOAD) and malloc resolves to it")
                assert os.path.realpath(doc["malloc"]["module"]) == os.path.realpath(library), doc["malloc"]
                assert doc["malloc"]["how"] == "the executable's GOT", doc["malloc"]
                check_unwalkable(live, allocator, "malloc resolves to it")
                core = gcore(fx.pid, work, allocator)
            check_unwalkable([ALLOC_LEAKS, core], allocator, "(LD_PRELOAD) and malloc resolves to it")
    finally:
        shutil.rmtree(work)


def test_strand_run_with_error_exitcode():
    """strand run ends with the program's own status unless --error-exitcode
    sets one: on a heap it cannot walk, leaks and report with --error-exitcode
    end it with 1, not with the program's 0; under glibc the leaks give 7."""
    for command in ("leaks --error-exitcode 7", "report --error-exitcode 7"):
        for preload, status in ((None, 7), (PRELOADED["jemalloc"], 1)):
            # env(1) preloads the program only, not strand (a sanitized strand refuses it), and execs it.
            program = ["env", f"LD_PRELOAD={preload}"] if preload else []
            r = subprocess.run([STRAND, "-ex", command, "run", "--", *program, ALLOC_LEAKS, "leak", "exit"],
                               env=dict(os.environ, STRAND_TRUTH=os.devnull), capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == status, (command, preload, r.returncode, r.stderr)
            assert "exited normally" in r.stdout, r.stdout
            assert ("jemalloc" in r.stderr) == bool(preload), r.stderr
            no_verdict(r)


def test_static_jemalloc():
    """jemalloc linked into the executable: found by its symbols, or by its
    message once the binary is stripped; malloc is the executable's own."""
    work = tempfile.mkdtemp(prefix="strand-alloc-")
    try:
        binary = compile_fixture(work, "alloc_leaks_jemalloc", "gcc", "-l:libjemalloc.a", "-lm", "-ldl")
        stripped = binary + "_stripped"
        subprocess.run(["strip", "-o", stripped, binary], check=True, timeout=60)
        for program, evidence in ((binary, "is linked into alloc_leaks_jemalloc (mallctl)"),
                                  (stripped, 'is linked into alloc_leaks_jemalloc_stripped (its message')):
            with Program(program, "leak") as fx:
                check_unwalkable(["-p", str(fx.pid)], "jemalloc", evidence)
    finally:
        shutil.rmtree(work)


def test_redis_server_live_and_on_a_core():
    """Debian's redis-server, on a free loopback port, holding 500 keys: its
    memory is jemalloc's (libjemalloc.so.2, which it needs)."""
    work = tempfile.mkdtemp(prefix="strand-redis-")
    port = free_port()
    try:
        with Program("/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", work, ready=False) as fx:
            assert wait_until(lambda: redis_up(port), 10), "redis-server did not answer PING"
            keys = b"".join(b"SET key%d value-%d\r\n" % (i, i) for i in range(500))
            assert redis_command(port, keys, replies=500) == b"+OK"
            live = ["-p", str(fx.pid)]
            check_unwalkable(live, "jemalloc", "libjemalloc.so.2 is loaded and malloc resolves to it")
            core = gcore(fx.pid, work, "redis")
            assert redis_up(port), "redis-server stopped answering after strand"
        check_unwalkable(["/usr/bin/redis-server", core], "jemalloc", "malloc resolves to it")
    finally:
        shutil.rmtree(work)


def test_python_pymalloc_beside_glibc():
    """python3: glibc's heap is analysed, pymalloc's arenas are named as not
    analysed, live and on a core; with PYTHONMALLOC=malloc there is no
    pymalloc to leave out."""
    work = tempfile.mkdtemp(prefix="strand-python-")
    try:
        with Program(PYTHON, "-c", PYTHON_SCRIPT) as fx:
            check_beside(["-p", str(fx.pid)], "cpython-pymalloc", "object allocator (PyObject_Malloc)")
            core = gcore(fx.pid, work, "python")
        check_beside([PYTHON, core], "cpython-pymalloc", "pymalloc's arenas")
        with Program(PYTHON, "-c", PYTHON_SCRIPT, env={"PYTHONMALLOC": "malloc"}) as fx:
            doc, plugins = info(["-p", str(fx.pid)])
            assert doc["not_walked"] == [] and plugins["cpython-pymalloc"]["confidence"] == 0, doc
            assert "PYTHONMALLOC=malloc" in plugins["cpython-pymalloc"]["evidence"]
            leaks = batch(["-p", str(fx.pid)], "leaks").doc("leaks")
            assert leaks["complete"] is True and leaks["coverage"]["not_covered"] == [], leaks["coverage"]
    finally:
        shutil.rmtree(work)


def go_build(work, source, cgo):
    out = os.path.join(work, source[:-3])
    env = dict(os.environ, GOCACHE=os.path.join(work, "gocache"), GOPATH=os.path.join(work, "gopath"),
               CGO_ENABLED="1" if cgo else "0", GOFLAGS="")
    subprocess.run(["go", "build", "-o", out, os.path.join(SOURCES, source)], check=True, capture_output=True,
                   env=env, timeout=300)
    return out


def test_go_heap_beside_c_and_alone():
    """Go with C (cgo): the C side's lost blocks are found in glibc's heap and
    Go's heap is named as not analysed; Go alone (a static binary): Go's heap
    is the allocator in use and nothing can be walked."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Program(go_build(work, "alloc_cgo.go", cgo=True)) as fx:
            check_beside(["-p", str(fx.pid)], "go-heap", "alloc_cgo is a Go program (go1.", lost=fx.truth("lost"))
        with Program(go_build(work, "alloc_go.go", cgo=False)) as fx:
            check_unwalkable(["-p", str(fx.pid)], "go-heap", "alloc_go is a Go program (go1.")
            core = gcore(fx.pid, work, "go")
        check_unwalkable([os.path.join(work, "alloc_go"), core], "go-heap", "Go's objects live in its")
    finally:
        shutil.rmtree(work)


def test_sanitizer_builds():
    """The fixture built with clang -fsanitize=leak and =address (the runtime
    linked in) and gcc -fsanitize=address (libasan.so): the sanitizer's
    allocator serves malloc. The shadow memory of ASan is terabytes: strand
    comes back at once instead of scanning it."""
    work = tempfile.mkdtemp(prefix="strand-san-")
    try:
        builds = (("clang", "leak", "LeakSanitizer's runtime (__lsan_init)"),
                  ("clang", "address", "AddressSanitizer's runtime (__asan_init)"),
                  ("gcc", "address", "libasan.so"))
        for compiler, sanitizer, evidence in builds:
            binary = compile_fixture(work, f"alloc_leaks_{compiler}_{sanitizer}", compiler, f"-fsanitize={sanitizer}")
            with Program(binary, "leak") as fx:
                start = time.time()
                check_unwalkable(["-p", str(fx.pid)], "sanitizer-allocator", evidence)
                assert time.time() - start < 60
    finally:
        shutil.rmtree(work)


def test_cores_whose_heap_cannot_be_walked():
    """A core of a static binary (glibc's malloc inside the executable) and a
    core whose libc.so.6 is gone and whose main arena's bins are wiped, read
    with --no-libc-symbols (main_arena found neither by symbols nor by the
    search of memory): failures, never "No leaks". The same core before the
    wipe is walked from its own memory, its lost blocks found."""
    work = tempfile.mkdtemp(prefix="strand-unwalkable-")
    try:
        static = compile_fixture(work, "alloc_leaks_static", "gcc", "-static")
        with Program(static) as fx:
            core = gcore(fx.pid, work, "static")
        check_unwalkable([static, core], "glibc-malloc-static", "glibc's malloc linked in statically (main_arena)")

        private = os.path.join(work, "lib")
        os.mkdir(private)
        shutil.copy(os.path.join(LIBDIR, "libc.so.6"), private)
        with Fixture("alloc_leaks", "leak", env={"LD_LIBRARY_PATH": private}) as fx:
            with open(f"/proc/{fx.pid}/maps") as f:
                assert os.path.join(private, "libc.so.6") in f.read()
            core = gcore(fx.pid, work, "private-libc")
            lost = {int(t["addr"], 16) for t in fx.truth("lost")}
        shutil.rmtree(private)
        target = ["--no-libc-symbols", ALLOC_LEAKS, core]
        found = batch(target, "heap", "leaks --error-exitcode 7", timeout=60)
        assert found.rc == 7 and "a search of memory" in found.doc("heap")["discovery"], found.doc("heap")
        leaks = found.doc("leaks")
        assert leaks["complete"] and {int(a, 16) for x in leaks["records"] if x["class"] == "definitely lost"
                                      for a in x["samples"]} == lost, leaks
        arena = found.doc("heap")["arenas"][0]["address"]
        write_core_memory(core, int(arena, 16) + 0x70, bytes(127 * 16))
        for command in ("heap", "heap blocks", "heap histogram", "heap check", "top"):
            one = batch(target, command, timeout=60)
            doc = one.doc(command)
            problems = doc.get("problems") if command == "heap check" else []
            said = doc.get("error", "") + "".join(p["message"] for p in problems)
            assert one.rc == 1 and "main_arena not found" in said, (command, one.rc, doc)
        r = batch(target, "leaks", "report", timeout=60)
        assert r.rc == 1, r.stderr
        assert "main_arena not found" in r.doc("leaks")["error"], r.doc("leaks")
        assert "glibc-malloc's heap, whose walk failed" in r.doc("report")["error"], r.doc("report")
        for command in ("leaks --error-exitcode 7", "report --error-exitcode 7"):
            one = batch(target, command, json_mode=False, timeout=60)
            assert one.rc == 1, (command, one.rc, one.stderr)
            no_verdict(one)
    finally:
        shutil.rmtree(work)
