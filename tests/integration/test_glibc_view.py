"""strand's heap against glibc's own view of it, taken by gdb (tests/gdb/glibc_heap.py:
libc6-dbg's DWARF, gdb's TLS support, glibc's own sizes and lists), chunk by chunk,
on programs nobody on the team wrote (python3, gdb 13) and on fixtures; and the
mmapped shapes the walker used to miss (a chunk after another anonymous mapping
that merged with it, chunks split by mprotect, memalign'd chunks), each checked
against the fixture's record, live and on cores, with its leak class."""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

from helpers import ROOT, TARGETS, Fixture, batch
from test_core import kernel_core

GLIBC_HEAP = os.path.join(ROOT, "tests", "gdb", "glibc_heap.py")
PYTHON = "/usr/bin/python3"  # Debian's (DEBIAN_PACKAGES): pymalloc and libc6-dbg's glibc
BIN_STATE = {1: "unsorted", **{i: "smallbin" for i in range(2, 64)}, **{i: "largebin" for i in range(64, 128)}}
COMMANDS = ("heap", "heap blocks --limit 0", "heap check", "leaks --show all --limit 0")
PYMALLOC = ("cpython-pymalloc",)


def glibc_view(*target):
    """gdb's dump of glibc's heap: target is ("-p", pid) or (program, core)."""
    fd, path = tempfile.mkstemp(prefix="glibc-view-", suffix=".json")
    os.close(fd)
    try:
        r = subprocess.run(["gdb", "-q", "-batch", "-nx", *target, "-x", GLIBC_HEAP], capture_output=True, text=True,
                           timeout=300, env=dict(os.environ, GLIBC_HEAP_JSON=path))
        assert os.path.getsize(path), (r.returncode, r.stderr[-2000:])
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def expected_blocks(view):
    """{user address: (state, usable or None)} as glibc's structures say: each
    chunk walked by its size (used, free or top), then each entry of a fastbin,
    a bin or a tcache in its list, each tcache structure as the allocator's."""
    want = {}
    for a in view["arenas"]:
        for chunk, size, in_use in a["chunks"]:
            want[chunk + 16] = ("top" if chunk == a["top"] else "used" if in_use else "free", size - 8)
    for a in view["arenas"]:
        for chain in a["fastbins"]:
            for c in chain:
                want[c + 16] = ("fastbin", want.get(c + 16, (None, None))[1])
        for i, chain in a["bins"].items():
            for c in chain:
                want[c + 16] = (BIN_STATE[int(i)], want.get(c + 16, (None, None))[1])
    for t in view["tcaches"]:
        if t["tcache"]:
            want[t["tcache"]] = ("allocator", want.get(t["tcache"], (None, None))[1])
        for chain in t["entries"]:
            for e in chain:
                want[e] = ("tcache", want.get(e, (None, None))[1])
    return want


def compare(view, r, beside=()):
    """strand's heap, heap blocks, heap check and leaks (one result) against
    glibc's view: every chunk glibc walks with its size and state, every free
    list entry in its list, the mmapped chunks as glibc counts them, each
    arena's system_mem, each thread cache, no problem, no free chunk lost.
    beside: the allocators leaks must say it left out (CPython's pymalloc,
    which keeps Python's small objects in arenas of its own). Returns figures
    for the report."""
    assert not [d["error"] for d in r.docs if "error" in d], r.stdout
    blocks = {int(b["address"], 16): b for b in r.doc("heap blocks")["blocks"]}
    want = expected_blocks(view)
    wrong = [(hex(a), s, u, blocks.get(a)) for a, (s, u) in want.items()
             if a not in blocks or blocks[a]["state"] != s or (u is not None and blocks[a]["usable"] != u)]
    assert not wrong, (len(wrong), wrong[:10])
    heap = r.doc("heap")
    arenas = [a for a in heap["arenas"] if a["kind"] != "mmap"]
    complete = {a["address"] for a in view["arenas"] if a["complete"]}
    assert [int(a["address"], 16) for a in arenas] == [a["address"] for a in view["arenas"]]
    for mine, theirs in zip(arenas, view["arenas"]):
        assert mine["system_mem"] == theirs["system_mem"], (mine, theirs["system_mem"])
        if theirs["complete"] and theirs["chunks"]:
            assert mine["walked_mem"] == theirs["system_mem"], (mine, theirs["system_mem"])
            assert int(mine["top"]["address"], 16) == theirs["top"]
    # Every block strand has in an arena glibc could walk is a chunk of glibc's.
    index = {a["index"]: int(a["address"], 16) for a in arenas}
    extra = [b for a, b in blocks.items() if not b["mmapped"] and index.get(b["arena"]) in complete and a not in want]
    assert not extra, extra[:10]
    mp = view["mp"]
    mmapped = [b for b in blocks.values() if b["mmapped"]]
    mmap_arena = next(a for a in heap["arenas"] if a["kind"] == "mmap")
    assert len(mmapped) == mp["n_mmaps"] == mmap_arena["counted_blocks"], (len(mmapped), mp["n_mmaps"], mmap_arena)
    assert mmap_arena["walked_mem"] == mp["mmapped_mem"] == mmap_arena["system_mem"], (mmap_arena, mp)
    assert all(b["state"] == "used" for b in mmapped)
    caches = [t for t in view["tcaches"] if t["tcache"]]
    assert sum(a["thread_caches"]["caches"] for a in arenas) == len({t["tcache"] for t in caches})
    assert sum(a["thread_caches"]["blocks"] for a in arenas) == sum(sum(t["counts"]) for t in caches)
    assert heap["total"]["tcache"]["blocks"] == sum(sum(t["counts"]) for t in caches)
    assert r.doc("heap check")["problems"] == [], r.doc("heap check")["problems"]
    leaks = r.doc("leaks")
    coverage = leaks["coverage"]
    assert coverage["allocator"] == "glibc-malloc" and coverage["problems"] == 0, coverage
    assert [c["allocator"] for c in coverage["not_covered"]] == list(beside), coverage
    assert leaks["complete"] == (not beside) and r.rc == (1 if beside else 0), (leaks["complete"], r.rc)
    free = {a for a, (s, _) in want.items() if s not in ("used", "allocator")}
    lost = [s for rec in leaks["records"] if rec["class"] != "still reachable" for s in rec["samples"]]
    assert not free & {int(s, 16) for s in lost}
    return {"chunks": sum(len(a["chunks"]) for a in view["arenas"]), "free": len(free), "mmapped": len(mmapped),
            "tcache": heap["total"]["tcache"]["blocks"], "caches": len(caches),
            "definitely_lost": leaks["summary"]["definitely_lost"]["blocks"]}


def check_both_ways(target, view, beside=()):
    """strand with libc's symbols and with --no-libc-symbols, each against the view."""
    figures = []
    for extra in ([], ["--no-libc-symbols"]):
        r = batch(list(target) + extra, *COMMANDS, timeout=120)
        figures.append(compare(view, r, beside))
        how = r.doc("heap")["discovery"]
        assert how.startswith("structure") == bool(extra), how
    assert figures[0] == figures[1], figures
    return figures[0]


def libc_tls_depths(view):
    """How far below each thread pointer its tcache variable lies."""
    return [t["fs_base"] - t["slot"] for t in view["tcaches"]]


# A Python program with big dicts and lists (their tables are mmapped chunks),
# then enough small objects for pymalloc to map new arenas below them: the
# kernel merges those with the chunks' mappings, so chunks sit inside mappings
# that start with a pymalloc arena. It records the user pointers of its big
# tables (PyDictObject.ma_keys, PyListObject.ob_item in 3.11) as malloc
# returned them.
PYTHON_SCRIPT = r"""
import ctypes, json, os, sys, time
ptr = lambda obj, off: ctypes.c_void_p.from_address(id(obj) + off).value
tables = []
keep = []
for i in range(4):
    d = {j: j for j in range(60000 + 30000 * i)}
    l = [None] * (150000 + 50000 * i)
    tables += [ptr(d, 32), ptr(l, 24)]
    keep += [d, l]
    keep.append([object() for _ in range(30000)])
with open(os.environ["STRAND_TRUTH"], "w") as f:
    for t in tables:
        f.write(json.dumps({"kind": "table", "addr": hex(t)}) + "\n")
print("ready", flush=True)
time.sleep(3600)
"""


def wait_for_output(proc, text, timeout):
    """Whether proc printed text within timeout seconds (read unbuffered)."""
    deadline, seen, fd = time.time() + timeout, b"", proc.stdout.fileno()
    while text.encode() not in seen:
        if not select.select([fd], [], [], max(0, deadline - time.time()))[0]:
            return False
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        seen += chunk
    return True


def mapping_starts(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {int(line.split("-")[0], 16) for line in f}


class Python:
    """PYTHON_SCRIPT running, ready, its record read back, killed at the end."""

    def __init__(self):
        fd, self.truth_path = tempfile.mkstemp(prefix="truth-python-")
        os.close(fd)
        self.proc = subprocess.Popen([PYTHON, "-c", PYTHON_SCRIPT], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, env=dict(os.environ, STRAND_TRUTH=self.truth_path))
        if not wait_for_output(self.proc, "ready\n", 60):
            self.__exit__()
            raise AssertionError("python3 did not print ready within 60 s")

    @property
    def pid(self):
        return self.proc.pid

    def truth(self, kind):
        with open(self.truth_path) as f:
            return [r for r in map(json.loads, f) if r["kind"] == kind]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        os.unlink(self.truth_path)


def test_python_heap_as_glibc_counts_it():
    with Python() as fx:
        tables = {int(t["addr"], 16) for t in fx.truth("table")}
        view = glibc_view("-p", str(fx.pid))
        # Tables in no arena's heap are mmapped; the shape: some do not start their mapping.
        in_arenas = {c + 16 for a in view["arenas"] for c, _, _ in a["chunks"]}
        inside = {t for t in tables - in_arenas if t - 16 not in mapping_starts(fx.pid)}
        assert inside, "no mmapped table after another mapping: the shape did not happen"
        figures = check_both_ways(["-p", str(fx.pid)], view, PYMALLOC)
        r = batch(["-p", str(fx.pid)], "heap blocks --limit 0")
        blocks = {int(b["address"], 16): b for b in r.doc("heap blocks")["blocks"]}
        assert all(blocks[t]["state"] == "used" and blocks[t]["mmapped"] == (t not in in_arenas) for t in tables)
        # Held by their dicts and lists in pymalloc's arenas: reachable, wherever the index's regions fall.
        r = batch(["-p", str(fx.pid)], *(f"why {hex(t)}" for t in sorted(tables)))
        classes = [d["class"] for d in r.docs if d["command"].startswith("why")]
        assert classes == ["still reachable"] * len(tables), classes
        print("python3:", figures, f"{len(inside)} of {len(tables)} tables mmapped inside mappings")


def start_gdb(pid):
    """gdb 13 attached to pid, reading commands from a pipe, idle once its echo came back."""
    gdb = subprocess.Popen(["gdb", "-q", "-nx", "-p", str(pid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    gdb.stdin.write("echo strand-test-ready\\n\n")
    gdb.stdin.flush()
    if not wait_for_output(gdb, "strand-test-ready", 120):
        gdb.kill()
        gdb.wait()
        raise AssertionError("gdb did not answer within 120 s")
    return gdb


def test_gdb_heap_as_glibc_counts_it():
    """gdb 13 attached to a fixture with many threads: gdb has worker threads
    with tcaches in thread arenas, and libc's TLS block lies below gdb's own
    and a dozen libraries' (libmpfr, libp11-kit, libstdc++, ...)."""
    with Fixture("many", env={"FIXTURE_THREADS": "40"}, timeout=30) as fx:
        gdb = start_gdb(fx.pid)
        work = tempfile.mkdtemp(prefix="strand-gdb-view-")
        try:
            core = os.path.join(work, "gdb.core")
            view = glibc_view("-p", str(gdb.pid))
            assert min(libc_tls_depths(view)) > 1024, libc_tls_depths(view)
            assert len([t for t in view["tcaches"] if t["tcache"]]) >= 2
            figures = check_both_ways(["-p", str(gdb.pid)], view, PYMALLOC)  # gdb embeds Python
            assert batch(["-p", str(gdb.pid)], f"gcore {core}").rc == 0
            for extra in ([], ["--no-libc-symbols"]):
                compare(view, batch([shutil.which("gdb"), core] + extra, *COMMANDS, timeout=120), PYMALLOC)
            print("gdb:", figures)
        finally:
            gdb.kill()
            gdb.wait()
            shutil.rmtree(work)


def test_cxx_program_whose_libc_tls_lies_far_below():
    """A C++ fixture linking libraries with TLS (and 4 KiB of its own): libc's
    tcache variable lies 4.5 KiB below every thread pointer."""
    with Fixture("glibc_tls", timeout=30) as fx:
        view = glibc_view("-p", str(fx.pid))
        assert min(libc_tls_depths(view)) > 4096, libc_tls_depths(view)
        tids = {t["tid"] for t in fx.truth("thread")}
        caches = {t["tid"] for t in view["tcaches"] if t["tcache"]}
        assert tids == caches == {t["tid"] for t in view["tcaches"]}, (tids, caches)
        figures = check_both_ways(["-p", str(fx.pid)], view)
        assert figures["tcache"] > 9 * 7
        print("C++:", figures)


def test_fixtures_as_glibc_counts_them():
    """The heap and many-threads fixtures, live and on strand's core."""
    work = tempfile.mkdtemp(prefix="strand-fixture-view-")
    try:
        for name, env in (("heap", {"FIXTURE_HEAP_BIG": "0"}), ("many", {"FIXTURE_THREADS": "30"})):
            with Fixture(name, env=env, timeout=30) as fx:
                core = os.path.join(work, name + ".core")
                view = glibc_view("-p", str(fx.pid))
                check_both_ways(["-p", str(fx.pid)], view)
                assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
            check_both_ways([os.path.join(TARGETS, name), core], view)
    finally:
        shutil.rmtree(work)


def leak_classes(r):
    """{sample address: class} from `leaks --show all --limit 0` (one block per record here)."""
    return {int(s, 16): rec["class"] for rec in r.doc("leaks")["records"] for s in rec["samples"]}


def check_mmapped_shapes(fx, r, where):
    assert r.rc == 0, (where, r.stderr)
    blocks = {int(b["address"], 16): b for b in r.doc("heap blocks")["blocks"]}
    classes = leak_classes(r)
    for t in fx.truth("block"):
        addr = int(t["addr"], 16)
        b = blocks.get(addr)
        assert b and b["mmapped"] and b["state"] == "used" and b["usable"] == t["usable"], (where, t, b)
        assert classes.get(addr, "still reachable") == t["class"], (where, t, classes.get(addr))
    counted = fx.truth("mmapped")[0]
    mmap_arena = next(a for a in r.doc("heap")["arenas"] if a["kind"] == "mmap")
    assert mmap_arena["counted_blocks"] == counted["chunks"] == len([b for b in blocks.values() if b["mmapped"]])
    assert mmap_arena["walked_mem"] == mmap_arena["system_mem"] == counted["bytes"], (where, mmap_arena, counted)
    assert r.doc("heap check")["problems"] == [], (where, r.doc("heap check"))
    lost = r.doc("leaks")["summary"]["definitely_lost"]
    want = [t for t in fx.truth("block") if t["class"] == "definitely lost"]
    assert lost == {"blocks": len(want), "bytes": sum(t["usable"] for t in want)}, (where, lost)


def test_mmapped_shapes_live_and_on_cores():
    """Each shape found where it is, with its usable size and leak class, live
    and on strand's and the kernel's cores; what strand found equals glibc's
    own count (mallinfo2 in the fixture)."""
    work = tempfile.mkdtemp(prefix="strand-mmap-shapes-")
    try:
        with Fixture("glibc_mmap", cwd=work, core_dumps=True, timeout=30) as fx:
            own = os.path.join(work, "strand.core")
            for extra in ([], ["--no-libc-symbols"]):
                r = batch(["-p", str(fx.pid)] + extra, *COMMANDS, timeout=60)
                check_mmapped_shapes(fx, r, ["live"] + extra)
            assert batch(["-p", str(fx.pid)], f"gcore {own}").rc == 0
            kernel = kernel_core(fx, work)
            for core in (own, kernel):
                for extra in ([], ["--no-libc-symbols"]):
                    r = batch([os.path.join(TARGETS, "glibc_mmap"), core] + extra, *COMMANDS, timeout=60)
                    check_mmapped_shapes(fx, r, [core] + extra)
    finally:
        shutil.rmtree(work)


def test_an_mmapped_chunk_glibc_counts_and_the_walk_cannot_read_is_a_problem():
    """A block whose header page is PROT_NONE: mp_ counts it, no walk reads it.
    heap check names mp_ with both counts, heap shows both, leaks warns and fails."""
    with Fixture("glibc_mmap", "hidden", timeout=30) as fx:
        view = glibc_view("-p", str(fx.pid))
        n, size = view["mp"]["n_mmaps"], view["mp"]["mmapped_mem"]
        assert n == fx.truth("mmapped")[0]["chunks"]
        for extra in ([], ["--no-libc-symbols"]):
            r = batch(["-p", str(fx.pid)] + extra, *COMMANDS, timeout=60)
            mmap_arena = next(a for a in r.doc("heap")["arenas"] if a["kind"] == "mmap")
            assert mmap_arena["counted_blocks"] == n and mmap_arena["heaps"] == n - 1, mmap_arena
            assert mmap_arena["system_mem"] == size > mmap_arena["walked_mem"], mmap_arena
            problems = r.doc("heap check")["problems"]
            assert [int(p["address"], 16) for p in problems] == [view["mp_address"]], problems
            assert f"counts {n} mmapped chunks of {size:#x} bytes" in problems[0]["message"], problems
            assert f"found {n - 1} chunks" in problems[0]["message"], problems
            assert r.doc("heap")["problems"] == 1
            leaks = r.doc("leaks")
            assert r.rc != 0 and leaks["complete"] is False, (r.rc, leaks.get("warnings"))
