"""The glibc heap walker against the fixture's own record of every malloc and
free: exact used set and usable sizes, the free list each freed block is in,
arenas and mmapped blocks; the same on cores and without libc symbols; heap
check on damaged heaps; C++ types; an external allocator plugin."""
import json
import os
import shutil
import signal
import subprocess
import tempfile

from helpers import ROOT, TARGETS, Fixture, batch, strand, wait_until
from test_core import kernel_core

HEAP = os.path.join(TARGETS, "heap")
TEST_PLUGIN = os.path.join(ROOT, "build", "tests", "plugins", "test_pool.so")


def truth_state(fx):
    """(live blocks {addr: record}, freed blocks {addr: expected place})."""
    live, freed = {}, {}
    for r in fx.truth():
        addr = r.get("addr") and int(r["addr"], 16)
        if r["kind"] == "malloc":
            live[addr] = r
            freed.pop(addr, None)
        elif r["kind"] == "free":
            live.pop(addr, None)
            freed[addr] = r["expect"]
    return live, freed


def blocks_of(result):
    return {int(b["address"], 16): b for b in result.doc("heap blocks")["blocks"]}


def check_against_truth(blocks, live, freed):
    for addr, r in live.items():
        b = blocks.get(addr)
        assert b and b["state"] == "used" and b["usable"] == r["usable"], (hex(addr), r, b)
        assert b["mmapped"] == (r["arena"] == "mmap"), (hex(addr), r, b)
        assert (b["arena_kind"] == "main") == (r["arena"] == "main"), (hex(addr), r, b)
    for addr, expect in freed.items():
        if expect != "any":
            b = blocks.get(addr)
            assert b and b["state"] == expect, (hex(addr), expect, b)
    # Beyond the fixture's own blocks, only libc's few internal ones are in use.
    others = [b for a, b in blocks.items() if b["state"] == "used" and a not in live]
    assert len(others) <= 8, others


def test_heap_matches_the_fixtures_record():
    with Fixture("heap", timeout=30) as fx:
        r = batch(["-p", str(fx.pid)], "heap", "heap blocks --limit 0", "heap check")
        assert r.rc == 0, r.stderr
        live, freed = truth_state(fx)
        assert len(live) > 900 and len(freed) > 140
        check_against_truth(blocks_of(r), live, freed)
        states = {b["state"] for b in blocks_of(r).values()}
        assert {"tcache", "fastbin", "unsorted", "smallbin", "largebin", "top", "allocator"} <= states, states
        heap = r.doc("heap")
        kinds = [a["kind"] for a in heap["arenas"]]
        assert kinds.count("main") == 1 and kinds.count("thread") == 3 and kinds.count("mmap") == 1, kinds
        assert max(a["heaps"] for a in heap["arenas"]) >= 2  # the 70 MiB arena spans several heaps
        assert heap["discovery"].startswith("symbols (structure agrees)")
        assert r.doc("heap check")["problems"] == []


def test_heap_same_on_cores_and_without_libc_symbols():
    work = tempfile.mkdtemp(prefix="strand-heap-")
    try:
        with Fixture("heap", env={"FIXTURE_HEAP_BIG": "0"}, cwd=work, core_dumps=True, timeout=30) as fx:
            own, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            live = batch(["-p", str(fx.pid)], "heap blocks --limit 0", f"gcore {own}")
            bare = batch(["-p", str(fx.pid), "--no-libc-symbols"], "heap", "heap blocks --limit 0")
            # Without stopping, thread pointers (and so the tcaches) come from glibc's thread list.
            unstopped = batch(["-p", str(fx.pid), "--no-stop"], "heap blocks --limit 0")
            subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"], capture_output=True,
                           timeout=120, check=True)
            kernel = kernel_core(fx, work)
            check_against_truth(blocks_of(live), *truth_state(fx))
        assert bare.doc("heap")["discovery"].startswith("structure"), bare.doc("heap")
        assert blocks_of(bare) == blocks_of(live)
        assert blocks_of(unstopped) == blocks_of(live)
        for core in (own, gdbs, kernel):
            for extra in ([], ["--no-libc-symbols"]):
                r = batch([HEAP, core] + extra, "heap blocks --limit 0")
                assert r.rc == 0, r.stderr
                assert blocks_of(r) == blocks_of(live), (core, extra)
    finally:
        shutil.rmtree(work)


def test_noncontiguous_main_arena():
    """sbrk blocked after the first growth: the main arena continues in mmapped
    regions, each ended by a double fencepost; every one is walked."""
    work = tempfile.mkdtemp(prefix="strand-noncontig-")
    try:
        with Fixture("noncontig", timeout=30) as fx:
            core, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            live = batch(["-p", str(fx.pid)], "heap", "heap blocks --limit 0", "heap check", f"gcore {core}")
            bare = batch(["-p", str(fx.pid), "--no-libc-symbols"], "heap blocks --limit 0")
            subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"], capture_output=True,
                           timeout=120, check=True)
            assert fx.truth("blocker")[0]["sbrk_failed"], fx.truth("blocker")
            live_blocks, freed = truth_state(fx)
        main = live.doc("heap")["arenas"][0]
        assert main["kind"] == "main" and not main["contiguous"] and main["heaps"] >= 3, main
        assert live.doc("heap check")["problems"] == [], live.doc("heap check")
        blocks = blocks_of(live)
        check_against_truth(blocks, live_blocks, freed)
        assert all(blocks[a]["arena_kind"] == "main" for a in live_blocks)
        assert blocks_of(bare) == blocks
        for c in (core, gdbs):
            r = batch([os.path.join(TARGETS, "noncontig"), c], "heap blocks --limit 0")
            assert blocks_of(r) == blocks, c
    finally:
        shutil.rmtree(work)


def test_heap_block_and_histogram():
    with Fixture("heap", env={"FIXTURE_HEAP_BIG": "0"}) as fx:
        live, _ = truth_state(fx)
        addr, rec = next((a, r) for a, r in live.items() if r["size"] == 300)
        r = batch(["-p", str(fx.pid)], f"heap block {hex(addr + 17)}", "heap histogram --limit 0",
                  "heap block 0x10")
        doc = r.doc(f"heap block {hex(addr + 17)}")
        assert doc["offset"] == 17 and int(doc["block"]["address"], 16) == addr
        assert doc["block"]["usable"] == rec["usable"] and doc["block"]["state"] == "used"
        assert len(doc["preview_hex"].split()) == 32
        hist = {b["size"]: b["blocks"] for b in r.doc("heap histogram")["buckets"]}
        for usable in {x["usable"] for x in live.values()}:
            assert hist.get(usable, 0) >= sum(1 for x in live.values() if x["usable"] == usable)
        assert "not inside any heap block" in r.doc("heap block 0x10")["error"]


def test_histogram_by_cxx_type():
    with Fixture("objects") as fx:
        want = fx.truth("objects")[0]
        r = batch(["-p", str(fx.pid)], "heap histogram --by type")
        types = {b["type"]: b for b in r.doc("heap histogram")["buckets"] if b["type"]}
        for name in ("shapes::Circle", "shapes::Square"):
            assert types[name]["blocks"] == want[name], types


HEAPCORRUPT = os.path.join(TARGETS, "heapcorrupt")

# Each way tests/targets/heapcorrupt.c damages its heap, and what heap check must
# say of it at the address the fixture records.
DAMAGE = {
    "size": "impossible size", "size-wrap": "impossible size", "top-zero": "top chunk",
    "top-small": "top chunk", "top-huge": "top chunk", "system-mem": "system_mem",
    "arena-next": "is not an arena", "arena-self": "met before", "heap-prev": "its prev",
    "heap-size": "impossible size", "fastbin": "cyclic", "fastbin-link": "is not a free chunk",
    "tcache": "cyclic", "tcache-link": "is not a free chunk", "tcache-count": "count says",
    "unsorted-link": "is not a free chunk", "unsorted-cycle": "never returns",
    "smallbin-link": "is not a free chunk", "largebin-link": "is not a free chunk", "prev-size": "prev_size",
}


def problems_of(result):
    return sorted((int(p["address"], 16), p["message"]) for p in result.doc("heap check")["problems"])


def check_damage_reported(mode, truth, r):
    damage = next(int(t["addr"], 16) for t in truth if t["kind"] == "damage")
    problems = problems_of(r)
    assert any(addr == damage and DAMAGE[mode] in msg for addr, msg in problems), (mode, hex(damage), problems)
    blocks = blocks_of(r)
    for t in truth:
        if t["kind"] in ("before", "after"):
            b = blocks.get(int(t["addr"], 16))
            assert b and b["state"] == "used" and b["usable"] == t["usable"], (mode, t, b)
    leaks = r.doc("leaks")
    assert leaks["complete"] is False and "incomplete" in leaks["warnings"][0], (mode, leaks)


def test_every_damage_is_reported_where_it_is_live_and_on_a_core():
    """Live, then on strand's core of the same state: each damage at its own
    address, the walk past it, leaks saying it is incomplete (exit 1), and the
    target running, untraced and byte for byte as it was."""
    work = tempfile.mkdtemp(prefix="strand-damage-")
    commands = ("heap check", "heap blocks --limit 0", "leaks")
    try:
        for mode in DAMAGE:
            with Fixture("heapcorrupt", mode) as fx:
                core = os.path.join(work, mode + ".core")
                live = batch(["-p", str(fx.pid)], *commands, f"gcore {core}", timeout=30)
                assert live.rc == 1 and live.doc("gcore")["file"] == core, (mode, live.rc, live.stderr)
                check_damage_reported(mode, fx.truth(), live)
                # Detached, it goes back to pause(); under load that can take a moment.
                assert wait_until(lambda: fx.state() == "S", 10), (mode, fx.state())
                assert fx.alive() and fx.tracer() == 0, mode
                fx.proc.send_signal(signal.SIGUSR1)
                assert fx.printed("intact", wait=5), mode
                on_core = batch([HEAPCORRUPT, core], *commands, timeout=30)
                assert on_core.rc == 1, (mode, on_core.stderr)
                check_damage_reported(mode, fx.truth(), on_core)
                assert problems_of(on_core) == problems_of(live), mode
                os.unlink(core)
    finally:
        shutil.rmtree(work)


def test_the_fixture_sees_a_change():
    """The fixture's own check is not blind: a word written by gdb is seen."""
    with Fixture("heapcorrupt", "top-zero") as fx:
        top = next(int(t["addr"], 16) for t in fx.truth() if t["kind"] == "damage")
        subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"set {{long}}{top + 8} = 0x30"],
                       capture_output=True, timeout=60, check=True)
        fx.proc.send_signal(signal.SIGUSR1)
        assert fx.printed("changed", wait=5)


def test_external_allocator_plugin():
    with Fixture("pool") as fx:
        slots = {int(t["addr"], 16): t for t in fx.truth("slot")}
        r = batch(["-p", str(fx.pid), "--plugin", TEST_PLUGIN], "info plugins", "heap", "heap blocks --limit 0")
        assert r.rc == 0, r.stderr
        names = [p["name"] for p in r.doc("info plugins")["plugins"]]
        assert names[:2] == ["glibc-malloc", "glibc-nptl"] and names[-1] == "test-pool", names
        assert r.doc("heap")["allocator"] == "test-pool"
        blocks = blocks_of(r)
        assert set(blocks) == set(slots)
        for addr, t in slots.items():
            assert blocks[addr]["usable"] == t["size"]
            assert (blocks[addr]["state"] == "used") == t["used"]
        # The same plugin loaded from the prompt; a bad path is one clear error.
        r = batch(["-p", str(fx.pid)], "heap", f"plugin load {TEST_PLUGIN}", "heap", "plugin load /nonexistent.so")
        docs = [d for d in r.docs if d["command"] == "heap"]
        assert docs[0]["allocator"] == "glibc-malloc" and docs[1]["allocator"] == "test-pool"
        assert "cannot load plugin /nonexistent.so" in r.doc("plugin load /nonexistent.so")["error"]
