"""The Go runtime's timers (tests/targets/go/goroutines.go, Go 1.19): `timers` lists the
fixture's two tickers (their channels and periods as the program recorded them), the
sleeps of its sleeping goroutines, and flags the ticker the program dropped unstopped,
live, on strand's gcore and on gdb's; Delve, reading each P's timer heap on the core,
finds the same timers."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import Fixture, batch
from test_go import EXE, GOROUTINES, gdb_gcore

FLAG = "nobody can receive from its channel: no goroutine, global or heap object refers to it or to its owner"
# runtime/time.go's timer statuses (iota order): stopped timers Go has not yet taken out of
# its heap, and modified ones, whose next fire is nextwhen.
GONE = {0, 3, 4, 5}
MODIFIED = {7, 8}


def strand_timers(target):
    """The timers' JSON and text."""
    doc = batch(target, "timers").doc("timers")
    text = batch(target, "timers", json_mode=False).stdout
    return doc, text


def check_timers(target, tickers, sleepers):
    """The tickers {channel: (period, leaked)} and a sleep for each of the sleepers, in
    JSON and in text. Returns the timers' JSON."""
    doc, text = strand_timers(target)
    assert doc["not_checked"] is None, doc
    timers = doc["runtime_timers"]
    assert [t["when"] for t in timers] == sorted(t["when"] for t in timers), "not by next fire"
    by_channel = {t["channel"]: t for t in timers if t["kind"] == "ticker"}
    assert set(by_channel) == set(tickers), (by_channel, tickers)
    for channel, (period, leaked) in tickers.items():
        t = by_channel[channel]
        assert t["period"] == period and t["function"] == "time.sendTime", t
        assert t["owner_type"] == "time.Ticker" and t["owner"], t
        assert t["unreceivable"] is leaked and (t["flag"] == FLAG) is leaked, t
        every = "every 2h0m0s" if period == 2 * 3600 * 10 ** 9 else "every 1h0m0s"
        line = next(line for line in text.splitlines() if f"sends on channel {channel} " in line)
        assert every in line and f"(time.Ticker {t['owner']})" in line and "ticker" in line, line
        assert re.match(r"^  in (1h)?59m\d+s ", line), line
        flagged = text.split(line + "\n", 1)[1].startswith(f"      ! {FLAG}\n")
        assert flagged is leaked, text
    sleeps = {t["goroutine"]: t for t in timers if t["kind"] == "sleep"}
    assert set(sleeps) == set(sleepers), (sleeps, sleepers)
    for gid, t in sleeps.items():
        assert t["period"] == 0 and t["function"] == "runtime.goroutineReady" and not t["unreceivable"], t
        assert f"wakes goroutine {gid}\n" in text, text
    assert doc["flagged"] == sum(leaked for _, leaked in tickers.values())
    return doc


def dlv_timers(core):
    """The pending timers of each P's heap as Delve prints them on the core: [(when,
    period, function)]."""
    out = subprocess.run(["dlv", "core", "--allow-non-terminal-interactive=true", EXE, core],
                         input="print len(runtime.allp)\nexit\n", capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"^\(dlv\) (\d+)$", out, re.M)
    assert m, out[-500:]
    commands = "".join(f"print runtime.allp[{i}].timers\n" for i in range(int(m.group(1))))
    out = subprocess.run(["dlv", "core", "--allow-non-terminal-interactive=true", EXE, core],
                         input=commands + "exit\n", capture_output=True, text=True, timeout=120).stdout
    timers = []
    for t in re.finditer(r"when: (-?\d+),\s*period: (-?\d+),\s*f: ([\w.]+),.*?nextwhen: (-?\d+),\s*status: (\d+)",
                         out, re.S):
        when, period, function, nextwhen, status = t.groups()
        if int(status) not in GONE:
            timers.append((int(nextwhen if int(status) in MODIFIED else when), int(period), function))
    assert timers, out[-500:]
    return sorted(timers)


def test_timers_list_tickers_sleeps_and_the_leaked_ticker():
    """Both tickers with their channel and period as the program recorded them, tickerLoop's
    not flagged, the dropped one flagged; a sleep for each goroutine in time.Sleep (the
    "sleep" role and main); the same timers live and on both cores; Delve's view of
    runtime.allp[i].timers on each core has the same (when, period, function); report on a
    core has them in its Timers section (a C program's core has none to show)."""
    work = tempfile.mkdtemp(prefix="strand-go-timers-")
    try:
        with Fixture(GOROUTINES) as fx:
            tickers = {t["channel"]: (t["period_ns"], t["leaked"]) for t in fx.truth("ticker")}
            assert sorted(leaked for _, leaked in tickers.values()) == [False, True], tickers
            sleepers = {r["id"] for r in fx.truth("goroutine") if r["role"] == "sleep"} | {1}
            live = check_timers(["-p", str(fx.pid)], tickers, sleepers)
            own, theirs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(["-p", str(fx.pid)], f"gcore {own}").rc == 0
            gdb_gcore(fx.pid, theirs)
        key = ("when", "period", "kind", "channel", "goroutine", "owner", "unreceivable")
        same = sorted(tuple(t[k] for k in key) for t in live["runtime_timers"])
        for how, core in (("strand gcore", own), ("gdb gcore", theirs)):
            doc = check_timers([EXE, core], tickers, sleepers)
            assert sorted(tuple(t[k] for k in key) for t in doc["runtime_timers"]) == same, how
            report = batch([EXE, core], "report").doc("report")
            sections = {sec["section"]: sec["result"] for sec in report["sections"]}
            assert [t["address"] for t in sections["Timers"]["runtime_timers"]] == \
                [t["address"] for t in doc["runtime_timers"]], (how, "report's Timers section")
            ours = sorted((t["when"], t["period"], t["function"]) for t in doc["runtime_timers"])
            assert dlv_timers(core) == ours, (how, ours)
            print(f"{how}: {len(ours)} timers as live and as Delve reads them")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_timers_without_dwarf_from_the_table():
    """Without DWARF (-ldflags=-w) the timers' layout comes from strand's table for the
    program's Go release: the same tickers, flag and sleeps as the program recorded, and
    the warning that says what the table cannot give."""
    with Fixture(GOROUTINES + "_nodwarf") as fx:
        tickers = {t["channel"]: (t["period_ns"], t["leaked"]) for t in fx.truth("ticker")}
        sleepers = {r["id"] for r in fx.truth("goroutine") if r["role"] == "sleep"} | {1}
        doc = check_timers(["-p", str(fx.pid)], tickers, sleepers)
    assert any("comes from strand's table for go1.19" in w for w in doc["warnings"]), doc["warnings"]
