"""Go programs (tests/targets/go/goroutines.go, Go 1.19): its threads' stacks as gdb
shows them, and its goroutines as its own runtime.Stack(all) dump lists them, live, on
strand's gcore and on gdb's."""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time

from helpers import TARGETS, Fixture, batch, wait_until, write_core_memory
from test_gdb_stacks import GDB_ARGS, ENV, compare, gdb_stacks, strand_stacks, tracer

GOROUTINES = "go/goroutines"
EXE = os.path.join(TARGETS, GOROUTINES)
HEADER = re.compile(r"^goroutine (\d+) \[(.*)\]:$")


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


def eu_stack(core):
    """eu-stack's stacks of a core's threads (its stdout: it complains on stderr where Go's
    stacks end without CFI, on any core)."""
    return subprocess.run(["eu-stack", "--core", core, "-e", EXE], capture_output=True, text=True, timeout=120).stdout


def test_threads_stacks_as_gdb():
    """Every frame of every thread of the Go program has gdb's function and file:line:
    Go writes no .debug_aranges (the compilation units are found by their ranges), and
    inlines across packages (an inlined body's abstract origin in another unit).
    No goroutine runs, so that the two debuggers attached one after the other see the
    same stacks; the cores are read by both, and eu-stack reads strand's as gdb's."""
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
        on_own, on_gdbs = eu_stack(own), eu_stack(theirs)
        assert on_own == on_gdbs and on_own.count("\nTID ") == len(ours), (on_own, on_gdbs)
        figures.append(f"eu-stack: {len(ours)} threads, {on_own.count(chr(10) + '#')} frames on strand's core as on gdb's")
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


def go_blocks(text):
    """{id: (state, [lines])} from a goroutine dump as Go prints it (or strand's info
    goroutines): each function line's arguments as "()" or "(...)" (Go prints the
    argument words, strand does not)."""
    blocks, current = {}, None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            current = blocks[int(m.group(1))] = (m.group(2), [])
        elif current is not None and line and not line.startswith("("):
            if not line.startswith("\t") and not line.startswith("created by "):
                f = re.match(r"^(.*)\(([^()]*)\)$", line)
                line = f"{f.group(1)}({'...' if f.group(2) else ''})"
            current[1].append(line)
    return blocks


def functions(lines):
    return [line for line in lines if not line.startswith("\t")]


def check_goroutines(target, truth, roles):
    """strand's info goroutines (text and JSON) against the program's own dump: every
    goroutine it lists, with its id, state and frames line for line (function, file:line
    +offset, created by); the dumping goroutine (running then, asleep now) by id, the
    running one by its functions. Returns strand's JSON document."""
    dump = go_blocks(truth["text"])
    text = batch(target, "info goroutines", json_mode=False)
    assert text.rc == 0, text.stderr
    ours = go_blocks(text.stdout)
    doc = batch(target, "info goroutines").doc("info goroutines")
    assert [g["id"] for g in doc["goroutines"]] == list(ours), "text and JSON list other goroutines"
    for g in doc["goroutines"]:
        assert g["state"] == ours[g["id"]][0], g
        assert len(g["frames"]) + (g["created_by"] is not None) == len(functions(ours[g["id"]][1])), g
    assert sorted(ours) == sorted(dump), ("goroutines differ", sorted(ours), sorted(dump))
    for gid, (state, lines) in dump.items():
        if gid == truth["dumper"]:
            assert ours[gid][0] == "sleep", ours[gid]
        elif roles.get(gid) == "running":
            assert state == "runnable" and ours[gid][0] in ("running", "runnable"), (state, ours[gid])
            assert functions(ours[gid][1]) == functions(lines), (gid, ours[gid], lines)
        else:
            assert ours[gid] == (state, lines), (gid, roles.get(gid), ours[gid], (state, lines))
    return doc


def system_ids(target):
    """The runtime's own goroutines and every goroutine (info goroutines -a), by id."""
    doc = batch(target, "info goroutines -a").doc("info goroutines")
    return [g["id"] for g in doc["goroutines"] if g["system"]], [g["id"] for g in doc["goroutines"]]


def dlv_goroutines(core):
    """The goroutines Delve lists on a core: {id: its line (location, state)}; fails
    with Delve's own words when Delve cannot read the core."""
    r = subprocess.run(["dlv", "core", "--allow-non-terminal-interactive=true", EXE, core], input="goroutines\nexit\n",
                       capture_output=True, text=True, timeout=120)
    lines = {int(m.group(1)): m.group(0) for m in re.finditer(r"Goroutine (\d+) - .*", r.stdout)}
    m = re.search(r"\[(\d+) goroutines\]", r.stdout)
    assert m and int(m.group(1)) == len(lines), ("Delve on " + core, r.stdout[-300:] + r.stderr[-300:])
    return lines


def test_goroutines_as_go_dumps_them():
    """Every goroutine of the fixture's own runtime.Stack(all) dump (chan send and receive,
    nil channels, select, select{}, Mutex and WaitGroup semacquire, Cond, sleep, a ticker,
    accept and read in IO wait, a system call, a running one), with its id, state and
    frames, live, on strand's gcore and on gdb's; the runtime's own goroutines marked as
    system ones and listed by -a; Delve lists the same goroutines on strand's core and on
    gdb's, each (but the running one) at the same place and in the same state."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Fixture(GOROUTINES) as fx:
            truth = fx.truth("stack")[0]
            roles = {r["id"]: r["role"] for r in fx.truth("goroutine")}
            live = ["-p", str(fx.pid)]
            started = time.time()
            doc = check_goroutines(live, truth, roles)
            print(f"live: {len(doc['goroutines'])} goroutines as the program's dump, "
                  f"{time.time() - started:.2f} s for text and JSON")
            system, ids = system_ids(live)
            assert system and not set(system) & set(go_blocks(truth["text"])), system
            own, theirs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(live, f"gcore {own}").rc == 0
            gdb_gcore(fx.pid, theirs)
        for how, core in (("strand gcore", own), ("gdb gcore", theirs)):
            doc = check_goroutines([EXE, core], truth, roles)
            assert system_ids([EXE, core]) == (system, ids), how
            print(f"{how}: {len(doc['goroutines'])} goroutines as the program's dump, {len(ids)} with the runtime's")
        on_gdbs, on_own = dlv_goroutines(theirs), dlv_goroutines(own)
        assert sorted(on_gdbs) == sorted(ids), ("Delve on gdb's core", sorted(on_gdbs), ids)
        assert sorted(on_own) == sorted(ids), ("Delve on strand's core", sorted(on_own), ids)
        running = {gid for gid, role in roles.items() if role == "running"}
        differ = [(on_own[g], on_gdbs[g]) for g in ids if g not in running and on_own[g] != on_gdbs[g]]
        assert not differ, differ
        print(f"Delve: {len(on_own)} goroutines on strand's core and on gdb's, "
              f"{len(ids) - len(running)} at the same place and state")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_goroutine_bt_and_groups():
    """goroutine N bt shows every frame of a parked goroutine as bt does, from
    runtime.gopark down to runtime.goexit, the dump's frames among them in order;
    goroutine apply all bt does so for each; -g counts the three senders blocked at one
    place as one group of 3, first, and every goroutine of the dump once."""
    with Fixture(GOROUTINES) as fx:
        truth = fx.truth("stack")[0]
        dump = go_blocks(truth["text"])
        target = ["-p", str(fx.pid)]
        roles = {r["role"]: r["id"] for r in fx.truth("goroutine")}
        gid = roles["semacquire mutex"]
        r = batch(target, f"goroutine {gid} bt", "goroutine apply all bt", "info goroutines -g",
                  f"goroutine {gid + 1000} bt")
        bt = r.doc(f"goroutine {gid} bt")["goroutines"][0]
        names = [f["function"] for f in bt["frames"]]
        assert names[0] == "runtime.gopark" and names[-1] == "runtime.goexit", names
        wanted = [line.split("(")[0] if not line.startswith("sync.(") else line[:line.rindex("(")]
                  for line in functions(dump[gid][1]) if not line.startswith("created by ")]
        it = iter(names)
        assert all(w in it for w in wanted), (wanted, names)
        every = r.doc("goroutine apply all bt")["goroutines"]
        assert sorted(g["id"] for g in every) == sorted(system_ids(target)[0] + list(dump)), every
        groups = r.doc("info goroutines -g")
        senders = sorted(g for g, (state, lines) in dump.items() if lines[0] == "main.chanSend()" and
                         "created by main.main" in lines)
        assert len(senders) == 3 and groups["groups"][0]["count"] == 3, groups["groups"][0]
        assert sorted(groups["groups"][0]["goroutines"]) == senders
        assert groups["total"] == len(dump) == sum(g["count"] for g in groups["groups"])
        assert sorted(i for g in groups["groups"] for i in g["goroutines"]) == sorted(dump)
        text = batch(target, "info goroutines -g", json_mode=False).stdout
        assert text.startswith(f"goroutine profile: total {len(dump)}\n3 @ 0x"), text[:200]
        assert r.doc(f"goroutine {gid + 1000} bt")["error"] == f"No goroutine {gid + 1000}"


def test_without_dwarf_one_line_says_what_is_missing():
    """-s -w (no symbols, no DWARF): info goroutines fails with one line that says what is
    missing; goroutine apply too. (-ldflags=-w alone: test_go_fallback.py.)"""
    for name, says in (("go/goroutines_stripped", "a Go program without symbols or DWARF"),):
        with Fixture(name) as fx:
            for cmd in ("info goroutines", "goroutine apply all bt"):
                r = batch(["-p", str(fx.pid)], cmd, json_mode=False)
                errors = [line for line in r.stderr.splitlines() if not line.startswith("warning: stopping")]
                assert r.rc != 0 and len(errors) == 1 and says in errors[0], (name, r.stderr)
                assert r.stdout.strip() == "", r.stdout


def gdb_print(expr):
    """A number gdb prints for expr on the fixture's binary (C syntax): the test's own
    reading of the DWARF, apart from strand's."""
    r = subprocess.run(GDB_ARGS + ["-ex", "set language c", "-ex", f"print/d {expr}", EXE], capture_output=True,
                       text=True, timeout=120, env=ENV)
    return int(r.stdout.strip().splitlines()[-1].split("=")[1])


def test_wait_minutes_from_waitsince():
    """", N minutes" as Go's goroutineheader prints it: whole minutes of the runtime's clock
    since g.waitsince, only from one minute on. On a core the clock is the latest time the
    runtime recorded (sched.lastpoll, the waits' starts): a core of the fixture whose
    lastpoll is set to T, one goroutine's waitsince to T - 150 s (2 minutes) and another's
    to T - 59 s (none)."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Fixture(GOROUTINES, env={"FIXTURE_NO_SPIN": "1"}) as fx:
            roles = {r["role"]: r["id"] for r in fx.truth("goroutine")}
            core = os.path.join(work, "core")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
        before = {g["id"]: g for g in batch([EXE, core], "info goroutines").doc("info goroutines")["goroutines"]}
        assert all(g["wait_minutes"] is None for g in before.values())
        waitsince = gdb_print("(long)&((struct 'runtime.g' *)0)->waitsince")
        lastpoll = gdb_print("(long)&'runtime.sched'.lastpoll")
        now = 10 ** 15
        write_core_memory(core, lastpoll, struct.pack("<q", now))
        long_wait, short_wait = roles["chan receive"], roles["sleep"]
        write_core_memory(core, int(before[long_wait]["address"], 16) + waitsince, struct.pack("<q", now - 150 * 10 ** 9))
        write_core_memory(core, int(before[short_wait]["address"], 16) + waitsince, struct.pack("<q", now - 59 * 10 ** 9))
        text = batch([EXE, core], "info goroutines", json_mode=False).stdout
        assert f"goroutine {long_wait} [chan receive, 2 minutes]:\n" in text, text
        assert f"goroutine {short_wait} [sleep]:\n" in text, text
        after = {g["id"]: g for g in batch([EXE, core], "info goroutines").doc("info goroutines")["goroutines"]}
        assert after[long_wait]["wait_minutes"] == 2 and after[long_wait]["wait_since"] == now - 150 * 10 ** 9
        assert after[short_wait]["wait_minutes"] is None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def netpoll_break_fds(pid):
    """The netpoller's wake-up pipe as the runtime holds it: runtime.netpollBreakRd and
    netpollBreakWr (Go 1.19), read from the process's memory at the symbols' addresses."""
    out = subprocess.run(["readelf", "-sW", EXE], capture_output=True, text=True, check=True).stdout
    names = ("runtime.netpollBreakRd", "runtime.netpollBreakWr")
    addresses = {f[7]: int(f[1], 16) for f in map(str.split, out.splitlines()) if len(f) == 8 and f[7] in names}
    assert sorted(addresses) == sorted(names), ("the fixture's runtime has no netpoll pipe", addresses)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        fds = []
        for name in names:
            mem.seek(addresses[name])
            fds.append(struct.unpack("<Q", mem.read(8))[0])
    return fds


def test_netpoller_pipe_is_not_flagged():
    """The netpoller's wake-up pipe (both ends in the program, the read end non-blocking
    in the runtime's epoll set) is no reader that may wait forever, stopped and with
    --no-stop; the fixture's own pipe, which a goroutine reads in a blocking system call
    and nothing writes, is, and its thread is stuck forever while no goroutine runs. On a
    core, which records no descriptors, no thread is said to be stuck forever."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Fixture(GOROUTINES, env={"FIXTURE_NO_SPIN": "1"}) as fx:
            rd, wr = netpoll_break_fds(fx.pid)
            core = os.path.join(work, "core")
            for args in (["-p", str(fx.pid)], ["-p", str(fx.pid), "--no-stop"]):
                r = batch(args, "fds", "blocked", *([f"gcore {core}"] if len(args) == 2 else []))
                assert r.rc == 0, r.stderr
                fds = {f["fd"]: f for f in r.doc("fds")["fds"]}
                poll = fds[rd]
                assert poll["type"] == "pipe" and poll["flag"] is None, poll
                assert poll["detail"] == "read end, non-blocking", poll
                assert [(p["pid"], p["fd"]) for p in poll["peers"]] == [(fx.pid, wr)], poll
                epoll = [f for f in fds.values() if f["type"] == "[eventpoll]"]
                assert len(epoll) == 1 and f"fd {rd}," in epoll[0]["detail"] + ",", epoll
                flagged = [f["fd"] for f in fds.values() if f["flag"] and "may wait forever" in f["flag"]]
                threads = r.doc("blocked")["threads"]
                assert not [t for t in threads if t.get("fd") == rd], threads
                if len(args) == 2:
                    stuck = [t for t in threads if t["verdict"] == "stuck forever"]
                    assert [t["kind"] for t in stuck] == ["read"] and flagged == [stuck[0]["fd"]], (stuck, flagged)
                    print(f"netpoll pipe fds {rd}/{wr}: not flagged; fd {flagged[0]}, read by LWP "
                          f"{stuck[0]['tid']}, flagged and stuck forever")
                else:
                    assert len(flagged) == 1 and flagged[0] != rd, flagged
        threads = batch([EXE, core], "blocked").doc("blocked")["threads"]
        assert threads and not [t for t in threads if t["verdict"] == "stuck forever"], threads
        # The descriptor once, and what a core cannot say about it.
        text = batch([EXE, core], "blocked", json_mode=False).stdout
        reads = [t for t in threads if t["kind"] == "read"]
        assert reads and f"on fd {reads[0]['fd']} (a core records no descriptors)" in text, text
        assert [t["verdict"] for t in threads if t["kind"] == "epoll_wait"] == ["parked"], threads
    finally:
        shutil.rmtree(work, ignore_errors=True)
