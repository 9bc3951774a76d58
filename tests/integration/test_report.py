"""Retained arrays, the escape report and `report` against the fixtures'
records: findings and non-findings, live and on a core; the demo service shows
every problem in one report."""
import json
import os
import shutil
import subprocess
import tempfile

from helpers import STRAND, TARGETS, Fixture, batch

RETENTION = os.path.join(TARGETS, "retention")


def check_retention(target, fx):
    r = batch(target, "arrays", "escape")
    assert r.rc == 0, r.stderr
    arrays = {int(f["block"], 16): f for f in r.doc("arrays")["findings"]}
    for want in fx.truth("array"):
        assert (int(want["addr"], 16) in arrays) == want["finding"], (want, list(map(hex, arrays)))
    escapes = {int(b["block"], 16): b for b in r.doc("escape")["blocks"]}
    for want in fx.truth("escape"):
        assert (int(want["addr"], 16) in escapes) == want["finding"], (want, list(map(hex, escapes)))
    one = next(w for w in fx.truth("escape") if w["name"] == "one frame")
    got = escapes[int(one["addr"], 16)]
    assert got["function"] == "one_frame" and got["variable"] == "scratch", got
    view = next(w for w in fx.truth("array") if w["name"] == "view only")
    finding = arrays[int(view["addr"], 16)]
    assert finding["kind"] == "interior view" and finding["root"]["label"].startswith("global g_view_only")
    assert finding["wasted"] > 1000000
    return r


def test_arrays_and_escape_live_and_on_a_core():
    work = tempfile.mkdtemp(prefix="strand-retention-")
    try:
        with Fixture("retention") as fx:
            core = os.path.join(work, "core")
            live = check_retention(["-p", str(fx.pid)], fx)
            assert all(f["resident"] is not None for f in live.doc("arrays")["findings"])
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
            check_retention([RETENTION, core], fx)
    finally:
        shutil.rmtree(work)


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


def test_cxx_containers_and_untouched_memory():
    """std::vector and std::string with spare capacity are findings, full ones
    are not, live and on a core. The spare megabytes were never written:
    strand reports them as not resident and, reading around them, does not
    make them resident (the target's RSS does not grow)."""
    work = tempfile.mkdtemp(prefix="strand-containers-")
    try:
        with Fixture("containers") as fx:
            core = os.path.join(work, "core")
            before = rss_anon_kb(fx.pid)
            live = batch(["-p", str(fx.pid)], "report", "arrays", f"gcore {core}")
            after = rss_anon_kb(fx.pid)
            truth = fx.truth("array")
        assert after == before, (before, after)
        on_core = batch([os.path.join(TARGETS, "containers"), core], "arrays")
        for r in (live, on_core):
            findings = {int(f["block"], 16): f for f in r.doc("arrays")["findings"]}
            for want in truth:
                got = findings.get(int(want["addr"], 16))
                assert (got is not None) == want["finding"], (want, list(map(hex, findings)))
                if got and want["container"] == "std::vector":
                    assert got["kind"] == "std::vector", got
                if got:
                    assert got["wasted"] >= 1000000 and got["root"]["label"].startswith("global g_spare_"), got
        for f in live.doc("arrays")["findings"]:
            assert f["resident"] <= 8192, f  # a page or two written, the rest never touched
    finally:
        shutil.rmtree(work)


def test_report_at_exit_under_strand_run():
    """strand run -ex report: the whole report on the program's final state."""
    truth = tempfile.mktemp(prefix="strand-truth-")
    try:
        r = subprocess.run([STRAND, "--json", "-ex", "report", "run", "--", os.path.join(TARGETS, "containers"), "exit"],
                           capture_output=True, text=True, env=dict(os.environ, STRAND_TRUTH=truth), timeout=120)
        assert r.returncode == 0, r.stderr
        doc = next(json.loads(l) for l in r.stdout.splitlines() if json.loads(l)["command"] == "report")
        sections = {s["section"]: s["result"] for s in doc["sections"]}
        findings = {int(f["block"], 16) for f in sections["Oversized retained arrays"]["findings"]}
        want = [json.loads(l) for l in open(truth) if '"array"' in l]
        assert findings == {int(w["addr"], 16) for w in want if w["finding"]}, (findings, want)
        assert sections["Threads: deadlocks, stuck forever, waits"]["threads"], sections.keys()
    finally:
        if os.path.exists(truth):
            os.unlink(truth)


def test_demo_report_shows_every_problem():
    with Fixture("demo") as fx:
        r = batch(["-p", str(fx.pid)], "report --error-exitcode 3")
        assert r.rc == 3, r.stderr
        assert r.stderr == "", r.stderr  # findings are output, not errors: nothing else on stderr
        doc = r.doc("report")
        sections = {s["section"]: s["result"] for s in doc["sections"]}
        blocked = sections["Threads: deadlocks, stuck forever, waits"]
        assert [len(c) for c in blocked["deadlocks"]] == [2]
        assert sum(t["verdict"] == "stuck forever" for t in blocked["threads"]) == 2
        assert any("periodic sleeper" in (t["reason"] or "") for t in blocked["threads"])
        unjoined = next(d for d in fx.truth("demo") if d["what"] == "unjoined")
        assert [int(u["descriptor"], 16) for u in blocked["unjoined"]] == [int(unjoined["descriptor"], 16)]
        leaks = sections["Leaks"]["summary"]
        assert leaks["definitely_lost"]["blocks"] == 1 and leaks["indirectly_lost"]["blocks"] == 9
        roots = [x["root"] for x in sections["What keeps memory alive"]["roots"]]
        assert roots[0] == "global g_cache (demo)", roots
        arrays = {int(f["block"], 16): f for f in sections["Oversized retained arrays"]["findings"]}
        for what in ("view", "buffer"):
            addr = next(int(d["addr"], 16) for d in fx.truth("demo") if d["what"] == what)
            assert addr in arrays, (what, arrays)
        stack_only = next(int(d["addr"], 16) for d in fx.truth("demo") if d["what"] == "stack_only")
        assert [int(b["block"], 16) for b in sections["Could have lived on the stack"]["blocks"]] == [stack_only]
        fd = next(d["fd"] for d in fx.truth("demo") if d["what"] == "close_wait")
        fds = {f["fd"]: f for f in sections["Descriptors"]["fds"]}
        assert "CLOSE_WAIT" in fds[fd]["flag"]


def test_report_on_a_core_says_what_it_cannot_know():
    work = tempfile.mkdtemp(prefix="strand-report-")
    try:
        with Fixture("demo") as fx:
            core = os.path.join(work, "core")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
        r = batch([os.path.join(TARGETS, "demo"), core], "report", json_mode=False)
        assert r.rc == 0, r.stderr
        assert "Found one deadlock (2 threads):" in r.stdout
        assert "descriptors and timers exist only in a live process" in r.stdout
    finally:
        shutil.rmtree(work)
