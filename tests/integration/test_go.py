"""Go programs (tests/targets/go/goroutines.go, Go 1.19): its threads' stacks as gdb
shows them, and its goroutines as its own runtime.Stack(all) dump lists them, live, on
strand's gcore and on gdb's."""
import os
import shutil
import subprocess
import tempfile

from helpers import TARGETS, Fixture, batch, wait_until
from test_gdb_stacks import GDB_ARGS, ENV, compare, gdb_stacks, strand_stacks, tracer

GOROUTINES = "go/goroutines"
EXE = os.path.join(TARGETS, GOROUTINES)


def gdb_gcore(pid, path):
    subprocess.run(GDB_ARGS + ["-p", str(pid), "-ex", f"gcore {path}"], capture_output=True, timeout=300,
                   check=True, env=ENV)
    assert wait_until(lambda: tracer(pid) == 0, 10), "gdb did not detach"


def text_range(exe):
    out = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    fields = next(line.split("]", 1)[1].split() for line in out.splitlines() if " .text " in line)
    return int(fields[2], 16), int(fields[2], 16) + int(fields[4], 16)


def past_the_end(gdbs, ours):
    """gdb unwinds on past the end of Go's stacks (runtime.goexit, mstart from clone or
    from cgo's threadentry) through words that are no return addresses, `??` frames
    first: those are cut where strand's stack ends. The main thread's g0 stack ends in
    rt0_go, which has no CFI: both go on to a word of the program's data (gdb names
    the data symbol runtime.scavenger "runtime[scavenger]"); both are cut there. The
    count of frames cut."""
    cut = 0
    low, high = text_range(EXE)
    for tid, g in gdbs.items():
        s = ours.get(tid, [])
        for i, frame in enumerate(g):
            pc = int(frame[3], 16) if frame[3] else None
            if pc is not None and pc < 0x7f0000000000 and not low <= pc < high:
                cut += len(g) - i + max(0, len(s) - i)
                del g[i:], s[i:]
                break
        n = len(s)
        if len(g) > n and g[n][0] == "??":
            cut += len(g) - n
            del g[n:]
    return cut


def test_threads_stacks_as_gdb():
    """Every frame of every thread of the Go program has gdb's function and file:line:
    Go writes no .debug_aranges (the compilation units are found by their ranges), and
    inlines across packages (an inlined body's abstract origin in another unit).
    No goroutine runs, so that the two debuggers attached one after the other see the
    same stacks; the cores are read by both."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    failures, figures = [], []
    try:
        with Fixture(GOROUTINES, env={"FIXTURE_NO_SPIN": "1"}) as fx:
            targets = [("live", ["-p", str(fx.pid)])]
            gdbs = gdb_stacks(targets[0][1])
            ours = strand_stacks(targets[0][1])
            checks = [("live", gdbs, ours)]
            own, theirs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(["-p", str(fx.pid)], f"gcore {own}").rc == 0
            gdb_gcore(fx.pid, theirs)
        for how, core in (("strand gcore", own), ("gdb gcore", theirs)):
            checks.append((how, gdb_stacks([EXE, core]), strand_stacks([EXE, core])))
        for how, gdbs, ours in checks:
            cut = past_the_end(gdbs, ours)
            equal, total, diffs, _ = compare("goroutines", how, gdbs, ours)
            figures.append(f"{how}: {equal}/{total} frames equal, {cut} frames of gdb's past the end cut")
            if diffs:
                failures.append(f"{how}:\n" + "\n".join(diffs[:40]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(figures))
    assert not failures, "\n".join(failures)
