"""Goroutines that can never run again (tests/targets/go/leaks.go): every kind of leak
Go 1.26's goroutine leak profile reports in its own runtime tests (nil channels, an empty
select, channels and selects nothing else refers to, a WaitGroup, Mutexes on a stack and
on the heap, RWMutex read and write locks, a Cond, two goroutines waiting on each other)
is reported by blocked (all but at most MAY_HIDE, below), and none of the goroutines just
as blocked that something can still wake (a global channel, a global mutex, a channel a
sleeping goroutine holds); live, the same on strand's gcore and gdb's, and on the build
without DWARF."""
import os
import shutil
import tempfile

from helpers import TARGETS, Fixture, batch
from test_go import gdb_gcore

LEAKS = "go/leaks"
# No collection while the fixture starts its goroutines: a collection's
# workers and moved stacks leave words behind that a conservative scan takes
# for references (they hide a leak, never invent one).
QUIET = {"GOGC": "off"}


def reported(target):
    """{goroutine id: "leaked" | "forever" | None} from blocked's JSON, and its text."""
    r = batch(target, "blocked")
    doc = r.doc("blocked")["goroutines"]
    assert doc["leaks_not_checked"] is None, doc["leaks_not_checked"]
    out = {}
    for w in doc["goroutines"]:
        for gid in w["goroutines"]:
            out[gid] = "forever" if w["forever"] else "leaked" if w["leaked"] else None
    return out, batch(target, "blocked", json_mode=False).stdout


# A conservative scan may find a stale word that still points at what a leaked
# goroutine waits on (a dead slot of a live frame, a stack's previous user):
# that hides the leak, it never invents one. So every goroutine reported must
# be one the program leaked, and all but this many of those must be reported.
MAY_HIDE = 2


def check(target, truth):
    ours, text = reported(target)
    for r in truth:
        assert r["id"] in ours, (r, sorted(ours))
        line = next((line for line in text.splitlines() if f" {r['id']} [" in line), None)
        assert r["leaked"] or ours[r["id"]] is None, ("reported, not leaked", r, line)
    leaked = [r for r in truth if r["leaked"]]
    missed = [r["case"] for r in leaked if ours[r["id"]] is None]
    assert len(missed) <= MAY_HIDE, ("leaks not reported", missed)
    for r in leaked:
        if r["case"] in ("nil receive", "nil send", "empty select"):
            assert ours[r["id"]] == "forever", r
    assert "Goroutines that can never run again (leaked" in text, text
    return {gid: how for gid, how in ours.items() if how}, missed


def test_leaked_goroutines_as_the_program_leaked_them():
    work = tempfile.mkdtemp(prefix="strand-go-leaks-")
    try:
        with Fixture(LEAKS, env=QUIET) as fx:
            truth = fx.truth("goroutine")
            assert len(truth) == 18 and sum(r["leaked"] for r in truth) == 14, truth
            live, missed = check(["-p", str(fx.pid)], truth)
            own, theirs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(["-p", str(fx.pid)], f"gcore {own}").rc == 0
            gdb_gcore(fx.pid, theirs)
        for how, core in (("strand gcore", own), ("gdb gcore", theirs)):
            assert check([os.path.join(TARGETS, LEAKS), core], truth)[0] == live, how
        with Fixture(LEAKS + "_nodwarf", env=QUIET) as fx:
            check(["-p", str(fx.pid)], fx.truth("goroutine"))
        print(f"{len(live)} of the {sum(r['leaked'] for r in truth)} goroutines the program leaked reported as never "
              f"running again (hidden by stale words: {missed or 'none'}), none it did not leak; the same on both "
              f"cores; without DWARF too")
    finally:
        shutil.rmtree(work, ignore_errors=True)
