"""What each thread waits on, decoded from the object and the futex call, not
from the names of the functions around it: every glibc wait kind inside
functions named after another kind, the same after strand stopped the timed
waits once (restart_syscall), live, without stopping and on a core. Absolute
deadlines shown as deadlines. The whole-process verdict on Python's locks."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from helpers import TARGETS, Fixture, batch, wait_until

WAIT_KINDS = os.path.join(TARGETS, "wait_kinds")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def waits_of(doc):
    return {t["tid"]: t for t in doc["threads"]}


def decoded(doc):
    """What strand decoded of each thread's wait, to compare two looks."""
    return {t["tid"]: (t["kind"], t["object"], t["owner"], t["decoded_by"]) for t in doc["threads"]}


def check_kinds(doc, fx, unwound=True):
    threads = waits_of(doc)
    for want in fx.truth("wait"):
        got = threads[want["tid"]]
        assert int(got["object"], 16) == int(want["object"], 16), (want, got)
        if want["by"] == "argument" and not unwound:  # no frames, no arguments
            continue
        assert got["kind"] == want["wait"], (want, got)
        assert got["decoded_by"] == want["by"], (want, got)
        assert got["owner"] == (want["owner"] or None), (want, got)
        assert got["timed"] == want["timed"], (want, got)
    for want in fx.truth("deadlock"):  # the program's own frame, not std::mutex::lock or __gthread_mutex_lock
        got = threads[want["tid"]]
        assert got["verdict"] == "deadlocked", got
        assert not unwound or re.fullmatch(want["function"] + r" \(tests/targets/wait_kinds\.cc:\d+\)", got["where"]), got
    for want in fx.truth("guess"):  # no object to decode: the frame's name, marked as a guess
        got = threads[want["tid"]]
        assert int(got["object"], 16) == int(want["object"], 16), got
        assert got["kind"] == "condition variable" and got["decoded_by"] == "name-guess", got
        assert "guess" in got["detail"], got


def test_every_kind_is_decoded_from_the_object_and_again_after_a_restart():
    """The second look finds the timed waits in restart_syscall (the first
    stop restarted them) and must decode them as before; so must --no-stop,
    which sees restart_syscall in /proc, and a core of the restarted state."""
    work = tempfile.mkdtemp(prefix="strand-waits-")
    try:
        with Fixture("wait_kinds") as fx:
            first = batch(["-p", str(fx.pid)], "blocked")
            core = os.path.join(work, "core")
            second = batch(["-p", str(fx.pid)], "blocked", f"gcore {core}")
            unstopped = batch(["-p", str(fx.pid), "--no-stop"], "blocked")
            on_core = batch([WAIT_KINDS, core], "blocked")
            timed = {w["tid"] for w in fx.truth("wait") if w["timed"]}
            for r in (first, second, unstopped, on_core):
                assert r.rc == 0, r.stderr
                check_kinds(r.doc("blocked"), fx, unwound=r is not unstopped)  # --no-stop: sp and pc only
            assert decoded(first.doc("blocked")) == decoded(second.doc("blocked")) == decoded(on_core.doc("blocked"))
            by_object = {w["tid"] for w in fx.truth("wait") if w["by"] == "object"}
            assert {t: d for t, d in decoded(first.doc("blocked")).items() if t in by_object} == \
                {t: d for t, d in decoded(unstopped.doc("blocked")).items() if t in by_object}
            for r in (second, unstopped, on_core):
                threads = waits_of(r.doc("blocked"))
                assert all(threads[t]["restarted"] for t in timed), [threads[t] for t in timed]
            assert not any(waits_of(first.doc("blocked"))[t]["restarted"] for t in timed)
            assert "restarted" not in first.doc("blocked").get("warnings", [""])[0]
            assert any("timed waits stopped before" in w for w in second.doc("blocked")["warnings"]), second.stdout
    finally:
        shutil.rmtree(work)


def test_without_libc_debug_info_only_libc_internal_locks_are_guessed():
    """The object decoding needs no debug info; libc's arguments do, so the
    stdio lock is then a guess from the frames' names, and says so."""
    with Fixture("wait_kinds") as fx:
        threads = waits_of(batch(["-p", str(fx.pid), "--no-libc-symbols"], "blocked").doc("blocked"))
        for want in fx.truth("wait"):
            got = threads[want["tid"]]
            assert int(got["object"], 16) == int(want["object"], 16), (want, got)
            if want["by"] == "object":
                assert got["kind"] == want["wait"] and got["decoded_by"] == "object", (want, got)
            else:
                assert got["decoded_by"] == "name-guess", (want, got)


def test_info_threads_wait_column_decodes_from_the_object():
    with Fixture("wait_kinds") as fx:
        r = batch(["-p", str(fx.pid)], "info threads")
        text = batch(["-p", str(fx.pid)], "info threads", json_mode=False)
        rows = {t["tid"]: t["wait"] for t in r.doc("info threads")["threads"]}
        for want in fx.truth("wait"):
            got = rows[want["tid"]]
            assert got["kind"] == want["wait"] and int(got["object"], 16) == int(want["object"], 16), (want, got)
            assert got["decoded_by"] == want["by"], got
        for want in fx.truth("guess"):  # a guess says so: "[condition variable?, 1 second]"
            assert rows[want["tid"]]["decoded_by"] == "name-guess", rows[want["tid"]]
            line = next(l for l in text.stdout.splitlines() if f"LWP {want['tid']})" in l)
            assert "[condition variable?, " in line, line


def test_absolute_deadline_is_no_period():
    """clock_nanosleep(TIMER_ABSTIME) a second at a time: the deadline and
    what is left of it, never "wakes every" the time left."""
    with Fixture("wait_kinds") as fx:
        r = batch(["-p", str(fx.pid), "--no-stop"], "blocked")
        text = batch(["-p", str(fx.pid), "--no-stop"], "blocked", json_mode=False)
        threads = waits_of(r.doc("blocked"))
        for want in fx.truth("ticker"):
            got = threads[want["tid"]]
            assert got["kind"] == "sleep" and got["timed"], got
            assert got["deadline_clock"] == want["clock"] and got["deadline"] > 0, got
            assert got["timeout_deadline"] and 0 <= got["timeout_seconds"] <= want["period"], got
            assert got.get("sleep_seconds") is None and "periodic" not in (got["reason"] or ""), got
        assert "until CLOCK_MONOTONIC" in text.stdout and "wakes every" not in text.stdout, text.stdout
        # A period only from consecutive deadlines, seen while watching.
        sampled = waits_of(batch(["-p", str(fx.pid), "--no-stop"], "blocked --sample 2.5").doc("blocked"))
        for want in fx.truth("ticker"):
            got = sampled[want["tid"]]
            assert abs(got["period_seconds"] - want["period"]) < 0.01, got
            assert "deadlines 1 s apart" in got["reason"] or "deadlines came 1 s apart" in got["reason"], got
        assert all(t["period_seconds"] is None for tid, t in sampled.items()
                   if tid not in {w["tid"] for w in fx.truth("ticker")}), sampled


class Python:
    """python3 running a script that prints "ready" once its threads are parked."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([PYTHON, "-c", script, *args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.tids = [int(t) for t in self.proc.stdout.readline().split()]
        assert wait_until(self.all_blocked, timeout=10), "python3's threads did not block"

    def all_blocked(self):
        """Every thread sleeps in a system call (the machine may be busy)."""
        states = []
        for tid in self.tids:
            with open(f"/proc/{self.pid}/task/{tid}/syscall") as f:
                states.append(f.read().split()[0])
        return all(s not in ("running", "-1") for s in states)

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# Two threads deadlocked on two threading.Lock objects (semaphores: no owner
# recorded), the main thread joining them; EXTRA adds one more thread.
DEADLOCK = r"""
import socket, sys, threading, time
a, b = threading.Lock(), threading.Lock()
meet = threading.Barrier(2)
tids = []
def take(first, second):
    tids.append(threading.get_native_id())
    with first:
        meet.wait()
        with second:
            pass
def sleeper():
    tids.append(threading.get_native_id())
    time.sleep(1000)
def reader(port):
    tids.append(threading.get_native_id())
    socket.create_connection(("127.0.0.1", int(port))).recv(1)
def ticker():
    tids.append(threading.get_native_id())
    while True:
        time.sleep(1.0)
threads = [threading.Thread(target=take, args=(a, b)), threading.Thread(target=take, args=(b, a))]
extra = sys.argv[1] if len(sys.argv) > 1 else None
if extra == "sleeper":
    threads.append(threading.Thread(target=sleeper))
elif extra == "ticker":
    threads.append(threading.Thread(target=ticker))
elif extra:
    threads.append(threading.Thread(target=reader, args=(extra,)))
for t in threads:
    t.start()
while len(tids) < len(threads):
    time.sleep(0.01)
print("ready")
print(threading.get_native_id(), *tids, flush=True)
for t in threads:
    t.join()
"""


def test_python_lock_deadlock_puts_the_whole_process_to_sleep():
    work = tempfile.mkdtemp(prefix="strand-asleep-")
    try:
        with Python(DEADLOCK) as py:
            core = os.path.join(work, "core")
            r = batch(["-p", str(py.pid)], "blocked --error-exitcode 3", f"gcore {core}")
            text = batch(["-p", str(py.pid)], "blocked", json_mode=False)
            tids = py.tids
        on_core = batch([PYTHON, core], "blocked --error-exitcode 3")
        for r in (r, on_core):
            assert r.rc == 3, (r.stdout, r.stderr)
            doc = r.doc("blocked")
            assert doc["asleep"] is True and doc["why_awake"] is None, doc
            assert sorted(doc["no_owner"]) == sorted(tids), doc
            for t in doc["threads"]:
                assert t["kind"] == "semaphore" and t["decoded_by"] == "object", t
                assert t["verdict"] == "stuck forever" and "records no owner" in t["reason"], t
        assert "The whole process is asleep" in text.stdout and "3 waits record no owner" in text.stdout
    finally:
        shutil.rmtree(work)


def test_a_timed_waiter_or_an_outside_reader_keeps_the_process_awake():
    with Python(DEADLOCK, "sleeper") as py:
        r = batch(["-p", str(py.pid)], "blocked --error-exitcode 3")
        assert r.rc == 0, (r.stdout, r.stderr)
        doc = r.doc("blocked")
        assert doc["asleep"] is False and "has a timeout" in doc["why_awake"], doc
    with socket.create_server(("127.0.0.1", 0)) as server:
        with Python(DEADLOCK, str(server.getsockname()[1])) as py:
            conn, _ = server.accept()
            time.sleep(0.2)
            r = batch(["-p", str(py.pid)], "blocked --error-exitcode 3")
            conn.close()
            assert r.rc == 0, (r.stdout, r.stderr)
            doc = r.doc("blocked")
            assert doc["asleep"] is False and "from outside the process" in doc["why_awake"], doc


def test_python_sleep_loop_shows_its_deadline():
    """time.sleep(1.0) is clock_nanosleep to an absolute deadline: no period."""
    with Python(DEADLOCK, "ticker") as py:
        r = batch(["-p", str(py.pid), "--no-stop"], "blocked --error-exitcode 3")
        assert r.rc == 0, (r.stdout, r.stderr)
        got = waits_of(r.doc("blocked"))[py.tids[-1]]
        assert got["kind"] == "sleep" and got["deadline_clock"] == "CLOCK_MONOTONIC", got
        assert 0 <= got["timeout_seconds"] <= 1.0 and "periodic" not in (got["reason"] or ""), got
        r = batch(["-p", str(py.pid), "--no-stop"], "blocked --sample 2.5")
        got = waits_of(r.doc("blocked"))[py.tids[-1]]
        assert 0.99 < got["period_seconds"] < 1.05, got  # each deadline is now + 1.0 s
