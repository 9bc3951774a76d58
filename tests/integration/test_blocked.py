"""Blocked threads against the fixture's record of what each thread waits on,
who holds it and the verdict: deadlocks (two and three threads), a lock held by
an exited thread, conditions nobody can signal, live owners, parked threads,
unjoined exited threads; live, on a core and without stopping."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import TARGETS, Fixture, batch

BLOCKED = os.path.join(TARGETS, "blocked")


def by_tid(doc):
    return {t["tid"]: t for t in doc["threads"]}


def check(doc, fx, with_owner_checks=True):
    threads = by_tid(doc)
    # The poller wakes every 20 ms: a look may find it truly running between
    # two waits (under load, about one run in six).
    periodic = {p["tid"] for p in fx.truth("periodic")}
    for want in fx.truth("wait"):
        got = threads[want["tid"]]
        if want["tid"] in periodic and got["verdict"] == "running":
            continue
        assert got["kind"] == want["wait"], (want, got)
        assert got["verdict"] == want["verdict"], (want, got)
        if want["object"] != "(nil)":
            assert int(got["object"], 16) == int(want["object"], 16), (want, got)
        if want["owner"] and with_owner_checks:
            assert got["owner"] == want["owner"], (want, got)
    cycles = sorted(len(c) for c in doc["deadlocks"])
    assert cycles == [2, 3], doc["deadlocks"]


def test_blocked_matches_the_record_live_and_on_a_core():
    work = tempfile.mkdtemp(prefix="strand-blocked-")
    try:
        with Fixture("blocked") as fx:
            core = os.path.join(work, "core")
            r = batch(["-p", str(fx.pid)], "blocked --error-exitcode 5", "locks", f"gcore {core}")
            assert r.rc == 5, r.stderr
            doc = r.doc("blocked")
            check(doc, fx)
            unjoined = {int(u["descriptor"], 16) for u in doc["unjoined"]}
            assert unjoined == {int(u["descriptor"], 16) for u in fx.truth("unjoined")}
            assert all(u["start_routine"] == "quitter" and u["stack_size"] > 0 for u in doc["unjoined"])
            assert all(t["seconds"] is not None for t in doc["threads"])
            locks = {int(o["object"], 16): o for o in r.doc("locks")["objects"]}
            dead = next(w for w in fx.truth("wait") if w["verdict"] == "stuck forever" and w["wait"] == "mutex")
            assert locks[int(dead["object"], 16)]["owner"] == dead["owner"]
            assert len(locks[int(dead["object"], 16)]["waiters"]) == 2
            on_core = batch([BLOCKED, core], "blocked")
            assert on_core.rc == 0, on_core.stderr
            check(on_core.doc("blocked"), fx)
    finally:
        shutil.rmtree(work)


def test_objects_timeouts_and_descriptors_are_named():
    """Globals with their declaration, locals by frame and variable, the
    condition variable's mutex; timeouts of timed waits; each thread's start
    routine, joinability and stack from glibc's descriptors."""
    with Fixture("blocked") as fx:
        r = batch(["-p", str(fx.pid)], "blocked")
        threads = by_tid(r.doc("blocked"))
        for want in fx.truth("wait"):
            got = threads[want["tid"]]
            if got["verdict"] == "deadlocked":
                assert re.fullmatch(r"g_\w+ \(tests/targets/blocked\.c:\d+\)", got["object_name"]), got
            if want["wait"] == "condition variable" and got["where"].startswith("local_cond"):
                assert got["object_name"].startswith("local `c` of local_cond (tests/targets/blocked.c:"), got
                assert got["mutex_name"].startswith("local `m` of local_cond"), got
        for want in fx.truth("periodic"):  # pthread_cond_timedwait: a deadline 20 ms away
            got = threads[want["tid"]]
            assert got["timeout_deadline"] and 0 <= got["timeout_seconds"] <= 0.05, got
        for want in fx.truth("timeout"):  # poll: a relative timeout
            got = threads[want["tid"]]
            assert got["kind"] == "poll" and not got["timeout_deadline"], got
            assert got["timeout_seconds"] == want["seconds"] and got["timed"], got
        initial = threads[fx.pid]["thread"]
        assert initial["start_routine"] is None and initial["stack_size"] == 0, initial
        for tid, t in threads.items():
            if tid != fx.pid:
                assert t["thread"]["joinable"] and t["thread"]["stack_size"] >= 64 << 10, t
                assert t["where"].startswith(t["thread"]["start_routine"]) or t["verdict"] == "deadlocked", t


def test_blocked_text_reads_like_jstack():
    with Fixture("blocked") as fx:
        r = batch(["-p", str(fx.pid)], "blocked", json_mode=False)
        assert "Found one deadlock (2 threads):" in r.stdout and "Found one deadlock (3 threads):" in r.stdout
        assert "which has exited: nobody can release it" in r.stdout
        assert "nothing can ever wake it" in r.stdout
        assert "a periodic sleeper" in r.stdout
        assert "Threads that exited and were never joined: 2" in r.stdout


def test_blocked_without_stopping():
    """--no-stop: thread pointers come from glibc's thread list, so condition
    variables decode and the verdicts match the record as when stopped."""
    with Fixture("blocked") as fx:
        r = batch(["-p", str(fx.pid), "--no-stop"], "blocked")
        check(r.doc("blocked"), fx)
        assert fx.tracer() == 0


def test_sample_finds_periodic_wakers():
    """blocked --sample watches without stopping: the timed condition wait that
    times out every 20 ms wakes often, a thread in sleep(1000) never."""
    with Fixture("blocked") as fx:
        r = batch(["-p", str(fx.pid), "--no-stop"], "blocked --sample 1")
        threads = by_tid(r.doc("blocked"))
        for want in fx.truth("periodic"):
            got = threads[want["tid"]]
            assert got["kind"] == "condition variable" and got["wakeups"] >= 10, got
            assert "a periodic sleeper: woke" in got["reason"], got
        deadlocked = [t for t in threads.values() if t["verdict"] == "deadlocked"]
        assert deadlocked and all(t["wakeups"] == 0 for t in deadlocked), deadlocked
        stopped = batch(["-p", str(fx.pid)], "blocked --sample 1")
        assert stopped.rc == 1 and "attach with --no-stop" in stopped.doc("blocked")["error"]


def test_info_threads_has_the_wait_column():
    work = tempfile.mkdtemp(prefix="strand-waitcol-")
    try:
        with Fixture("blocked") as fx:
            core = os.path.join(work, "core")
            live = batch(["-p", str(fx.pid)], "info threads", f"gcore {core}")
            text = batch(["-p", str(fx.pid)], "info threads", json_mode=False)
            truth = fx.truth("wait")
        on_core = batch([BLOCKED, core], "info threads")
        assert "[mutex, " in text.stdout and "[join, " in text.stdout, text.stdout
        for r in (live, on_core):
            rows = {t["tid"]: t["wait"] for t in r.doc("info threads")["threads"]}
            for want in truth:
                got = rows[want["tid"]]
                assert got["kind"] == want["wait"], (want, got)
                if want["object"] != "(nil)":
                    assert int(got["object"], 16) == int(want["object"], 16), (want, got)
    finally:
        shutil.rmtree(work)


def check_other_end(t, f, fds, pid):
    """Pipes and unix sockets: who holds the other end, in any process."""
    peers = [(p["pid"], p["fd"]) for p in f["peers"] or []]
    what = t["what"]
    if "peer_pid" in t:
        assert peers == [(t["peer_pid"], t["peer_fd"])], (t, f)
    if what == "pipe_read":
        assert f["detail"] == "read end" and f["flag"] is None, f
    elif what == "pipe_no_writer":
        assert peers == [] and "no writer left" in f["flag"], f
    elif what == "pipe_no_reader":
        assert f["detail"] == "write end" and peers == [] and "no reader left" in f["flag"], f
    elif what == "pipe_only_here":
        assert "only this process holds its write end" in f["flag"], f
    elif what == "pipe_watched":
        assert f["detail"].startswith("read end, watched by epoll fd ") and f["flag"] is None, f
    elif what == "unix_peer":
        assert f["detail"].startswith("unix socket"), f
    elif what == "eventfd":
        assert f["detail"] == "eventfd, count 3", f
    elif what == "signalfd":
        assert f["detail"] == "signalfd for SIGUSR1", f
    elif what == "epoll_two":
        watched = {int(w) for w in f["detail"].replace("epoll watching fd ", "").split(", fd ")}
        assert len(watched) == 2 and all(w in fds for w in watched), f
        assert {fds[w]["type"] for w in watched} == {"[eventfd]", "pipe"}, f
    else:
        raise AssertionError(f"no check for {what}")


def test_fds_and_timers_flag_leaks():
    work = tempfile.mkdtemp(prefix="strand-fds-")
    with Fixture("resources") as fx:
        core = os.path.join(work, "core")
        r = batch(["-p", str(fx.pid)], "fds", "timers", f"gcore {core}")
        assert r.rc == 0, r.stderr
        fds = {f["fd"]: f for f in r.doc("fds")["fds"]}
        for t in fx.truth("fd"):
            f = fds[t["fd"]]
            if t["what"] == "close_wait":
                assert f["type"] == "socket" and "CLOSE_WAIT" in f["detail"] and "CLOSE_WAIT" in f["flag"], f
            elif t["what"] == "duplicate":
                assert f["flag"] == "3 descriptors on this file", f
            elif t["what"] == "empty_epoll":
                assert "never wakes" in f["flag"], f
            elif t["what"] == "timerfd":
                assert "armed, interval 1 s" in f["detail"], f
            else:
                check_other_end(t, f, fds, fx.pid)
        timers = r.doc("timers")
        assert len(timers["posix_timers"]) == 1 and timers["posix_timers"][0]["clock"] == "1"
        assert len(timers["timerfds"]) == 1
        assert r.doc("fds")["near_limit"] is False
        # A soft limit just above what it holds: flagged.
        subprocess.run(["prlimit", f"--pid={fx.pid}", f"--nofile={len(fds) + 2}:4096"], check=True)
        near = batch(["-p", str(fx.pid)], "fds").doc("fds")
        assert near["near_limit"] is True and near["soft_limit"] == len(fds) + 2, near
    # A core has no descriptors: say so instead of printing nothing.
    r = batch([os.path.join(TARGETS, "resources"), core], "fds", "timers")
    shutil.rmtree(work)
    assert r.rc == 1 and "a core file records no file descriptors" in r.doc("fds")["error"]
    assert "records no timers" in r.doc("timers")["error"]


def test_blocked_without_libc_symbols():
    """The _thread_db_* descriptors and exported names are enough."""
    with Fixture("blocked") as fx:
        r = batch(["-p", str(fx.pid), "--no-libc-symbols"], "blocked")
        assert r.rc == 0, r.stderr
        check(r.doc("blocked"), fx)
