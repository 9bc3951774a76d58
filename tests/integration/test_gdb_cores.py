"""Cores written by gdb's gcore. gdb writes no segment at all for the file
mappings it takes to be unchanged (program text, libc's read-only data, where
the _thread_db_* descriptors libthread_db needs lie). strand reads those pages
from the mapped files when their build-id matches the core's, gives the same
text and verdicts as live and on its own core, refuses a file of another build
with one warning, and says when an analysis lacks data because of it."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from helpers import ROOT, TARGETS, Fixture, batch
from test_blocked import check

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import corefile  # noqa: E402

BLOCKED = os.path.join(TARGETS, "blocked")
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def gdb_gcore(pid, path):
    subprocess.run(["gdb", "-q", "-batch", "-p", str(pid), "-ex", f"gcore {path}"], capture_output=True,
                   timeout=120, check=True)


def segments(core):
    """[(start, end)] of the core's PT_LOAD segments."""
    out = subprocess.run(["readelf", "-lW", core], capture_output=True, text=True, check=True).stdout
    loads = [line.split() for line in out.splitlines() if line.strip().startswith("LOAD")]
    return [(int(f[2], 16), int(f[2], 16) + int(f[5], 16)) for f in loads]


def covered(core, addr):
    return any(start <= addr < end for start, end in segments(core))


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    return next(line.split()[-1] for line in out.splitlines() if "Build ID" in line)


def verdicts(doc, tids=None):
    """What blocked decides, without the times that differ from one look to the next."""
    keep = ("kind", "verdict", "object", "owner", "cycle", "reason", "thread", "detail")
    threads = {t["tid"]: {k: t[k] for k in keep} for t in doc["threads"] if tids is None or t["tid"] in tids}
    return threads, sorted(map(sorted, doc["deadlocks"])), doc["unjoined"]


def settled(doc):
    """The threads live blocked did not see running. The fixture's poller
    wakes every few milliseconds from a timed wait; caught on its way out,
    live reads it as running from /proc while the registers of the same stop
    (and so the cores) still show it in the wait."""
    return {t["tid"] for t in doc["threads"] if t["verdict"] != "running"}


def first_address(x_doc):
    return int(x_doc["instructions"][0]["address"], 16)


def test_gdb_core_reads_text_and_descriptors_as_live():
    work = tempfile.mkdtemp(prefix="strand-gdbcore-")
    try:
        with Fixture("blocked") as fx:
            own, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            live = batch(["-p", str(fx.pid)], "x/2i main", "blocked", f"gcore {own}")
            assert live.rc == 0, live.stderr
            gdb_gcore(fx.pid, gdbs)
            # The case at hand: gdb's core has no segment for main's page nor for
            # libc's _thread_db_* descriptors.
            assert not covered(gdbs, first_address(live.doc("x/2i"))), segments(gdbs)
            tids = settled(live.doc("blocked"))
            want = verdicts(live.doc("blocked"), tids)
            assert want[2], "the fixture leaves unjoined threads"
            for core in (own, gdbs):
                r = batch([BLOCKED, core], "x/2i main", "blocked")
                assert r.rc == 0 and r.stderr == "", (core, r.stderr)
                assert r.doc("x/2i")["instructions"] == live.doc("x/2i")["instructions"], core
                assert verdicts(r.doc("blocked"), tids) == want, core
                check(r.doc("blocked"), fx)
    finally:
        shutil.rmtree(work)


def rebuild_blocked(out, flags):
    subprocess.run(["gcc", "-g", *flags, "-pthread", "-fno-omit-frame-pointer", "-o", out,
                    os.path.join(ROOT, "tests", "targets", "blocked.c"), "-ldl"], check=True, capture_output=True)


def file_offset(pid, addr):
    """The offset in its file of a mapped address, from /proc/PID/maps."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= addr < end:
                return int(fields[2], 16) + addr - start
    raise AssertionError(f"{addr:#x} is not mapped")


def test_program_of_another_build_is_refused_with_one_warning():
    work = tempfile.mkdtemp(prefix="strand-gdbcore-")
    try:
        program, kept = os.path.join(work, "bin", "blocked"), os.path.join(work, "kept", "blocked")
        for d in (os.path.dirname(program), os.path.dirname(kept)):
            os.makedirs(d)
        shutil.copy(BLOCKED, program)
        shutil.copy(BLOCKED, kept)
        core = os.path.join(work, "gdb.core")
        with Fixture(program) as fx:
            live = batch(["-p", str(fx.pid)], "x/2i main", "x/16xb main")
            assert live.rc == 0, live.stderr
            gdb_gcore(fx.pid, core)
            main = first_address(live.doc("x/2i"))
            main_offset = file_offset(fx.pid, main)
        assert not covered(core, main)
        # The program named on the command line stands for the missing pages.
        moved = batch([kept, core], "x/16xb main")
        assert moved.rc == 0 and moved.stderr == "", moved.stderr
        assert moved.doc("x/16xb")["values"] == live.doc("x/16xb")["values"]
        # The file at the recorded path is now another build, whose bytes at
        # main's offset differ: nothing of it is read, one line says why.
        before = build_id(program)
        rebuild_blocked(program, ["-O2"])
        assert build_id(program) != before
        with open(program, "rb") as f:
            f.seek(main_offset)
            assert list(f.read(16)) != live.doc("x/16xb")["values"]
        # A copy found by build-id (here in a debuginfod cache) stands for it.
        cache = os.path.join(work, "debuginfod")
        os.makedirs(os.path.join(cache, before))
        shutil.copy(kept, os.path.join(cache, before, "executable"))
        cached = batch(["--core", core], f"x/16xb {main:#x}", env={"DEBUGINFOD_CACHE_PATH": cache})
        assert cached.rc == 0 and cached.stderr == "", cached.stderr
        assert cached.doc("x/16xb")["values"] == live.doc("x/16xb")["values"]
        r = batch(["--core", core], f"x/16xb {main:#x}", f"x/2i {main:#x}", f"x/4xb {main + 64:#x}")
        for command in ("x/16xb", "x/2i", "x/4xb"):
            doc = r.doc(command)
            assert "Cannot access memory" in doc.get("error", ""), doc
            assert not doc.get("values") and not doc.get("instructions"), doc
        warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1, r.stderr
        assert program in warnings[0] and "build-id differs" in warnings[0], warnings
    finally:
        shutil.rmtree(work)


def without_thread_pointers(core):
    """A copy of the core whose threads' fs_base reads 0 (a dumper that did not record it)."""
    c = corefile.Core(open(core, "rb").read())
    for n in c.notes:
        if n.type == corefile.NT_PRSTATUS:
            desc = bytearray(n.desc)
            struct.pack_into("<Q", desc, corefile.PRSTATUS_REGS + 8 * corefile.REG_FS_BASE, 0)
            n.desc = bytes(desc)
    with open(core + ".no-tp", "wb") as f:
        f.write(c.pack())
    return core + ".no-tp"


def test_unreadable_descriptors_are_said_not_hidden():
    """libc replaced after the core was made: its _thread_db_* descriptors
    are gone, and the thread descriptors are found by structure at the
    thread pointers; without those as well, blocked says it cannot tell
    exited and unjoined threads."""
    work = tempfile.mkdtemp(prefix="strand-gdbcore-")
    try:
        lib = os.path.join(work, "lib")
        os.makedirs(lib)
        private = os.path.join(lib, "libc.so.6")
        shutil.copy(LIBC, private)
        core = os.path.join(work, "gdb.core")
        with Fixture("blocked", env={"LD_LIBRARY_PATH": lib}) as fx:
            with open(f"/proc/{fx.pid}/maps") as f:
                assert private in f.read()
            gdb_gcore(fx.pid, core)
            good = batch([BLOCKED, core], "blocked")
            assert good.rc == 0 and good.stderr == "", good.stderr
            assert good.doc("blocked")["unjoined"] and "warnings" not in good.doc("blocked")
            shutil.copy("/usr/lib/x86_64-linux-gnu/libm.so.6", private)
            r = batch([BLOCKED, core], "blocked", "info plugins")
            assert r.rc == 0, r.stderr
            nptl = [p for p in r.doc("info plugins")["plugins"] if p["name"] == "glibc-nptl"][0]
            assert "by structure" in nptl["evidence"], nptl
            assert r.doc("blocked")["unjoined"] == good.doc("blocked")["unjoined"], r.doc("blocked")["unjoined"]
            refused = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
            assert len(refused) == 1 and private in refused[0] and "build-id differs" in refused[0], r.stderr
            r = batch([BLOCKED, without_thread_pointers(core)], "blocked", "info threads")
            assert r.rc == 0, r.stderr
            threads = r.doc("info threads").get("warnings", [])
            assert len(threads) == 1 and private in threads[0] and "waits are not decoded" in threads[0], threads
            doc = r.doc("blocked")
            assert doc["unjoined"] is None, doc["unjoined"]
            said = [w for w in doc.get("warnings", []) if "thread descriptors are unreadable" in w]
            assert len(said) == 1 and private in said[0], doc.get("warnings")
            refused = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
            assert len(refused) == 1 and private in refused[0] and "build-id differs" in refused[0], r.stderr
    finally:
        shutil.rmtree(work)
