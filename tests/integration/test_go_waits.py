"""What the Go fixture's goroutines wait on (tests/targets/go/goroutines.go, Go 1.19):
print of a channel (element type, buffer, closed, the goroutines queued to send and to
receive) and blocked's goroutine report (each waiting goroutine with its channel, every
channel of its select, or the sync.Mutex / WaitGroup around its semaphore, and the
likely holders of two mutexes two goroutines deadlock on, as a cycle, and the three
goroutines the fixture leaked as the ones that can never run again), live, on
strand's gcore and on gdb's; checked against the goroutines the fixture started for each
role and against Delve reading the same channels on the same cores."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import Fixture, batch
from test_go import EXE, GOROUTINES, HEADER, gdb_gcore

CHANNELS = ["main.unread", "main.unsent", "main.selectA", "main.selectB", "main.selectC", "main.buffered",
            "main.closed"]


def senders_by_stack(truth):
    """The goroutines the fixture started without a role: FIXTURE_SENDERS of them, each
    parked sending in main.chanSend, called by the go statement itself."""
    ids, current = [], None
    for line in truth["text"].splitlines():
        m = HEADER.match(line)
        if m:
            current = (int(m.group(1)), m.group(2))
        elif current and line.startswith("created by main.main"):
            ids.append(current[0])
    return ids


def expected_channels(truth, roles):
    """What each channel's queues hold, from who the fixture set waiting where."""
    by_role = {role: gid for gid, role in roles.items()}
    sel = by_role["select"]
    return {
        "main.unread": dict(elem_type="int", len=0, cap=0, closed=False,
                            sendq=sorted([by_role["chan send"]] + senders_by_stack(truth)), recvq=[]),
        "main.unsent": dict(elem_type="int", len=0, cap=0, closed=False, sendq=[], recvq=[by_role["chan receive"]]),
        "main.selectA": dict(elem_type="int", len=0, cap=0, closed=False, sendq=[], recvq=[sel]),
        "main.selectB": dict(elem_type="string", len=0, cap=0, closed=False, sendq=[], recvq=[sel]),
        "main.selectC": dict(elem_type="struct {}", len=0, cap=0, closed=False, sendq=[sel], recvq=[]),
        "main.buffered": dict(elem_type="string", len=2, cap=4, closed=False, sendq=[], recvq=[]),
        "main.closed": dict(elem_type="int", len=0, cap=0, closed=True, sendq=[], recvq=[]),
    }


def strand_channels(target):
    """{name: (its address, {elem_type, len, cap, closed, sendq, recvq})} from print's JSON,
    with print's text checked to say the same."""
    r = batch(target, *[f"print {name}" for name in CHANNELS])
    text = batch(target, *[f"print {name}" for name in CHANNELS], json_mode=False)
    assert r.rc == 0 and text.rc == 0, r.stderr
    docs = [d for d in r.docs if d.get("command", "").startswith("print")]
    out = {}
    for name, d, line in zip(CHANNELS, docs, text.stdout.splitlines()):
        ch = d["channel"]
        assert ch, (name, d)
        got = dict(elem_type=ch["elem_type"], len=ch["len"], cap=ch["cap"], closed=ch["closed"],
                   sendq=sorted(w["goroutine"] for w in ch["sendq"]), recvq=sorted(w["goroutine"] for w in ch["recvq"]))
        assert ch["senders"] == len(got["sendq"]) and ch["receivers"] == len(got["recvq"]), ch
        assert line.startswith(f"$") and f"elem = {got['elem_type']}, len = {got['len']}, cap = {got['cap']}, " \
            f"closed = {'true' if got['closed'] else 'false'}" in line, line
        for gid in got["sendq"] + got["recvq"]:
            assert f"goroutine {gid}" in line, (gid, line)
        out[name] = (int(d["value"].split()[0], 16), got)
    return out


def check_channels(target, truth, roles):
    ours = strand_channels(target)
    want = expected_channels(truth, roles)
    for name in CHANNELS:
        assert ours[name][1] == want[name], (name, ours[name][1], want[name])
    sel = next(gid for gid, role in roles.items() if role == "select")
    for name in ("main.selectA", "main.selectB", "main.selectC"):
        doc = batch(target, f"print {name}").doc("print")["channel"]
        assert all(w["select"] == (w["goroutine"] == sel) for w in doc["sendq"] + doc["recvq"]), doc
    return ours


def check_blocked(target, roles, channels):
    """blocked's goroutine report: every goroutine the fixture parked on a channel names
    that channel (and the global holding it), the select goroutine all three, the
    semacquire ones the sync.Mutex and WaitGroup they wait for, by their globals, the
    nil-channel and empty-select ones as blocked forever."""
    doc = batch(target, "blocked").doc("blocked")["goroutines"]
    text = batch(target, "blocked", json_mode=False).stdout
    waits = {gid: w for w in doc["goroutines"] for gid in w["goroutines"]}
    by_role = {role: gid for gid, role in roles.items()}
    address = {name: a for name, (a, _) in channels.items()}

    def objects(role):
        return [(o.get("direction"), int(o["address"], 16), o["name"]) for o in waits[by_role[role]]["objects"]]

    assert objects("chan send") == [("send", address["main.unread"], "main.unread")], objects("chan send")
    assert objects("chan receive") == [("receive", address["main.unsent"], "main.unsent")]
    assert sorted(objects("select")) == sorted([("receive", address["main.selectA"], "main.selectA"),
                                                ("receive", address["main.selectB"], "main.selectB"),
                                                ("send", address["main.selectC"], "main.selectC")]), objects("select")
    sync = {role: waits[by_role[role]]["objects"][0] for role in ("semacquire mutex", "semacquire waitgroup")}
    assert (sync["semacquire mutex"]["type"], sync["semacquire mutex"]["name"]) == ("sync.Mutex", "main.held")
    assert sync["semacquire mutex"]["detail"] == "locked, 1 waiting", sync
    assert (sync["semacquire waitgroup"]["type"], sync["semacquire waitgroup"]["name"]) == \
        ("sync.WaitGroup", "main.group")
    assert sync["semacquire waitgroup"]["detail"] == "counter 1, 1 waiting", sync
    cond = waits[by_role["sync.Cond.Wait"]]["objects"][0]
    assert (cond["type"], cond["name"]) == ("sync.Cond", "main.cond"), cond
    for role in ("chan receive (nil chan)", "chan send (nil chan)", "select (no cases)"):
        assert waits[by_role[role]]["forever"], (role, waits[by_role[role]])
    for role in ("chan send", "select", "semacquire mutex", "sleep"):
        assert not waits[by_role[role]]["forever"], role
    assert waits[by_role["semacquire mutex"]]["function"] == "main.mutexWait"
    assert f"send on channel 0x{address['main.unread']:x} (main.unread): chan int, unbuffered, open" in text, text
    assert re.search(r"sync\.Mutex 0x[0-9a-f]+ \(main\.held\), locked, 1 waiting", text), text
    assert "Goroutine deadlock 1 (likely" in text, text
    return doc


def check_io_waits(target, blocked, iowaits, roles, live):
    """The goroutines in IO wait name the descriptor the fixture recorded for them, read
    direction, and live what /proc says the descriptor is; a core says it records none."""
    waits = {gid: w for w in blocked["goroutines"] for gid in w["goroutines"]}
    by_role = {role: gid for gid, role in roles.items()}
    for r in iowaits:
        obj = waits[by_role[r["role"]]]["objects"][0]
        assert (obj["direction"], obj["fd"]) == ("read", r["fd"]), (r, obj)
        if live:
            assert obj["fd_target"] == os.readlink(f"/proc/{target[1]}/fd/{r['fd']}"), obj
        else:
            assert obj["fd_target"] == "(a core records no descriptors)", obj


def check_leaks(blocked, roles):
    """The goroutines that can never run again are exactly the three the fixture leaked:
    one sending on a channel only it refers to, two each waiting for the other."""
    leaked = sorted(gid for w in blocked["goroutines"] if w["leaked"] for gid in w["goroutines"])
    assert blocked["leaks_not_checked"] is None, blocked["leaks_not_checked"]
    assert leaked == sorted(gid for gid, role in roles.items() if role.startswith("leaked")), (leaked, roles)
    return leaked


def check_deadlock(blocked, locks):
    """The two transfers the fixture deadlocked: each waits for the mutex the fixture says
    it waits for, likely held by the goroutine the fixture says holds it, and both form
    one goroutine deadlock."""
    waits = {gid: w for w in blocked["goroutines"] for gid in w["goroutines"]}
    holder_of = {int(l["holds"], 16): l["goroutine"] for l in locks}
    for l in locks:
        w = waits[l["goroutine"]]
        obj = w["objects"][0]
        assert (obj["type"], int(obj["address"], 16)) == ("sync.Mutex", int(l["waits"], 16)), (l, w)
        assert obj["holder"] == holder_of[int(l["waits"], 16)], (l, obj)
        assert w["deadlock"] == 1, w
    assert [sorted(c) for c in blocked["deadlocks"]] == [sorted(l["goroutine"] for l in locks)], blocked["deadlocks"]
    assert all(w["deadlock"] == 0 for w in blocked["goroutines"] if not set(w["goroutines"]) & set(holder_of.values()))


def dlv_print(core, exprs):
    """Delve's value of each expression on the core (None where Delve cannot evaluate it)."""
    r = subprocess.run(["dlv", "core", "--allow-non-terminal-interactive=true", EXE, core],
                       input="".join(f"print {e}\n" for e in exprs) + "exit\n", capture_output=True, text=True,
                       timeout=120)
    answers = re.split(r"\(dlv\) ", r.stdout)[1:len(exprs) + 1]
    assert len(answers) == len(exprs), r.stdout[-500:] + r.stderr[-500:]
    return [None if a.startswith("Command failed") else a.strip() for a in answers]


def dlv_queue(core, name, queue, limit=8):
    """The goroutine ids of a channel's queue as Delve follows its sudogs."""
    chains = [f"{name}.{queue}.first" + ".next" * k + ".g.goid" for k in range(limit)]
    return sorted(int(v) for v in dlv_print(core, chains) if v is not None and v.isdigit())


def check_with_delve(core, channels):
    """Delve, reading the runtime's structures itself, finds the same queues and counts."""
    for name, (_, ch) in channels.items():
        counts = dlv_print(core, [f"{name}.qcount", f"{name}.dataqsiz", f"{name}.closed"])
        assert [int(c) for c in counts] == [ch["len"], ch["cap"], int(ch["closed"])], (name, counts, ch)
        assert dlv_queue(core, name, "sendq") == ch["sendq"], (name, "sendq")
        assert dlv_queue(core, name, "recvq") == ch["recvq"], (name, "recvq")


def check_sync_with_delve(core, blocked, roles):
    """The Mutex and WaitGroup states blocked gives, against Delve's reading of the same
    objects' words on the core (a Mutex: locked bit and waiter count from state; a
    WaitGroup: counter and waiters from state1's halves), and at the addresses Delve gives
    those globals."""
    waits = {gid: w for w in blocked["goroutines"] for gid in w["goroutines"]}
    by_role = {role: gid for gid, role in roles.items()}
    mutex = waits[by_role["semacquire mutex"]]["objects"][0]
    group = waits[by_role["semacquire waitgroup"]]["objects"][0]
    state, state1 = (int(v) for v in dlv_print(core, ["main.held.state", "main.group.state1"]))
    assert mutex["detail"] == f"{'locked' if state & 1 else 'unlocked'}, {state >> 3} waiting", (mutex, state)
    assert group["detail"] == f"counter {state1 >> 32}, {state1 & 0xffffffff} waiting", (group, state1)
    addresses = dlv_print(core, ["uintptr(&main.held)", "uintptr(&main.group)"])
    assert [int(a) for a in addresses] == [int(mutex["address"], 16), int(group["address"], 16)], addresses


def test_channels_and_waits_live_and_on_cores():
    work = tempfile.mkdtemp(prefix="strand-go-waits-")
    try:
        with Fixture(GOROUTINES, env={"FIXTURE_NO_SPIN": "1"}) as fx:
            truth = fx.truth("stack")[0]
            roles = {r["id"]: r["role"] for r in fx.truth("goroutine")}
            live = ["-p", str(fx.pid)]
            channels = check_channels(live, truth, roles)
            live_blocked = check_blocked(live, roles, channels)
            locks, iowaits = fx.truth("deadlock"), fx.truth("iowait")
            assert len(iowaits) == 2, iowaits
            check_deadlock(live_blocked, locks)
            check_io_waits(live, live_blocked, iowaits, roles, True)
            leaked = check_leaks(live_blocked, roles)
            own, theirs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(live, f"gcore {own}").rc == 0
            gdb_gcore(fx.pid, theirs)
        for how, core in (("strand gcore", own), ("gdb gcore", theirs)):
            assert check_channels([EXE, core], truth, roles) == channels, how
            on_core = check_blocked([EXE, core], roles, channels)
            check_deadlock(on_core, locks)
            check_io_waits([EXE, core], on_core, iowaits, roles, False)
            assert check_leaks(on_core, roles) == leaked, how
            assert [w["goroutines"] for w in on_core["goroutines"]] == \
                [w["goroutines"] for w in live_blocked["goroutines"]], how
            check_with_delve(core, channels)
            check_sync_with_delve(core, on_core, roles)
        print(f"{len(channels)} channels as the fixture set them and as Delve reads them, "
              f"{live_blocked['waiting']} waiting goroutines reported alike live and on both cores, "
              f"{len(leaked)} of them leaked as the fixture leaked them")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_print_nil_channel_and_no_runtime():
    """A nil channel prints as nil; a C program has no goroutine report in blocked."""
    with Fixture(GOROUTINES, env={"FIXTURE_NO_SPIN": "1"}) as fx:
        r = batch(["-p", str(fx.pid)], "print main.nilChan", json_mode=False)
        assert r.stdout.strip().endswith("= nil"), r.stdout
    with Fixture("blocked") as fx:
        doc = batch(["-p", str(fx.pid)], "blocked").doc("blocked")
        assert "goroutines" not in doc, doc.keys()


def test_waits_without_dwarf_from_the_table():
    """The -w build: blocked names the same channels (by the globals that hold them), the
    select's three, the sync.Mutex and WaitGroup by their globals and the deadlock's
    likely holders, with the layout from strand's go1.19 table (print cannot show Go
    values without DWARF, so the channels are checked by name)."""
    with Fixture(GOROUTINES + "_nodwarf", env={"FIXTURE_NO_SPIN": "1"}) as fx:
        roles = {r["id"]: r["role"] for r in fx.truth("goroutine")}
        locks = fx.truth("deadlock")
        doc = batch(["-p", str(fx.pid)], "blocked").doc("blocked")["goroutines"]
        check_io_waits(["-p", str(fx.pid)], doc, fx.truth("iowait"), roles, True)
        check_leaks(doc, roles)
    waits = {gid: w for w in doc["goroutines"] for gid in w["goroutines"]}
    by_role = {role: gid for gid, role in roles.items()}

    def named(role):
        return sorted((o.get("direction") or o.get("type"), o["name"]) for o in waits[by_role[role]]["objects"])

    assert named("chan send") == [("send", "main.unread")], named("chan send")
    assert named("chan receive") == [("receive", "main.unsent")]
    assert named("select") == [("receive", "main.selectA"), ("receive", "main.selectB"), ("send", "main.selectC")]
    assert named("semacquire mutex") == [("sync.Mutex", "main.held")], named("semacquire mutex")
    assert named("semacquire waitgroup") == [("sync.WaitGroup", "main.group")]
    assert named("sync.Cond.Wait") == [("sync.Cond", "main.cond")]
    check_deadlock(doc, locks)


def test_leak_check_refuses_what_it_cannot_see():
    """With a goroutine running, attached with --no-stop, its thread's registers are
    unknown: the leak check says so and calls no goroutine leaked (a pointer only those
    registers hold would otherwise go unmarked). Stopped, the same process gives the
    three leaks the fixture made."""
    with Fixture(GOROUTINES) as fx:
        roles = {r["id"]: r["role"] for r in fx.truth("goroutine")}
        moving = batch(["--no-stop", "-p", str(fx.pid)], "blocked").doc("blocked")["goroutines"]
        text = batch(["--no-stop", "-p", str(fx.pid)], "blocked", json_mode=False)
        stopped = batch(["-p", str(fx.pid)], "blocked").doc("blocked")["goroutines"]
    assert "registers" in (moving["leaks_not_checked"] or ""), moving["leaks_not_checked"]
    assert not any(w["leaked"] for w in moving["goroutines"]), moving["goroutines"]
    assert "goroutine leaks not checked: the registers of goroutine" in text.stdout + text.stderr
    check_leaks(stopped, roles)
