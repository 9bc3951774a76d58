"""Attach to live fixtures: threads, stacks and source lines against the
fixture's own record; detach safety; EINTR warnings and --no-stop."""
import os
import re
import signal
import subprocess
import time

from helpers import STRAND, Fixture, Session, batch, strand, thread_results, wait_until


def parks_by_tid(fx):
    """The first place each thread recorded parking at."""
    parks = {}
    for p in fx.truth("park"):
        parks.setdefault(p["tid"], p)
    return parks


def assert_stack_has(frames, park):
    for f in frames:
        if f["function"] == park["function"]:
            assert f["file"] and f["file"].endswith(os.path.basename(park["file"])), f
            assert f["line"] == park["line"], (f, park)
            return
    raise AssertionError(f"no frame in {park['function']} in {[f['function'] for f in frames]}")


def test_threads_and_stacks_match_truth():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        r = batch(["-p", str(fx.pid)], "info threads", "thread apply all bt")
        assert r.rc == 0, r.stderr
        threads = r.doc("info threads")["threads"]
        names = {t["tid"]: t["name"] for t in threads}
        assert names[fx.pid] == "threads"
        for want in ("sleeper", "locker", "waiter", "reader", "watcher"):
            assert want in names.values(), names
        stacks = thread_results(r.doc("thread apply all bt"))
        parks = parks_by_tid(fx)
        assert len(parks) == 5
        for tid, park in parks.items():
            assert_stack_has(stacks[tid]["frames"], park)
        assert fx.alive() and fx.tracer() == 0


def test_text_backtrace_is_gdb_style():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        r = batch(["-p", str(fx.pid)], "thread apply all bt", json_mode=False)
        assert r.rc == 0, r.stderr
        assert "Thread 1 (Thread 0x" in r.stdout
        park = parks_by_tid(fx)[fx.pid]
        assert f" in main () at tests/targets/threads.c:{park['line']}\n" in r.stdout, r.stdout


def test_detach_delivers_signal_sent_while_stopped():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        s = Session("-p", str(fx.pid))
        doc = s.run("info threads")
        assert len(doc["threads"]) == 6
        assert fx.state() == "t"  # held in a ptrace stop
        os.kill(fx.pid, signal.SIGUSR1)
        assert not fx.printed("got-usr1", wait=0.3), "the signal was handled while stopped"
        assert s.quit() == 0
        assert fx.printed("got-usr1", wait=3), "the signal sent during the stop was lost"
        assert fx.alive() and fx.tracer() == 0


def test_sigkill_of_strand_leaves_target_running_with_its_signal():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        s = Session("-p", str(fx.pid))
        s.run("info threads")
        os.kill(fx.pid, signal.SIGUSR1)
        s.kill(signal.SIGKILL)
        assert fx.printed("got-usr1", wait=3), "the signal sent during the stop was lost"
        assert wait_until(lambda: fx.tracer() == 0) and fx.alive()


def test_sigterm_of_strand_detaches():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        s = Session("-p", str(fx.pid))
        s.run("info threads")
        os.kill(fx.pid, signal.SIGUSR1)
        rc = s.kill(signal.SIGTERM)
        assert rc == -signal.SIGTERM
        assert fx.printed("got-usr1", wait=3)
        assert fx.tracer() == 0 and fx.state() != "t"


def test_stop_warns_about_eintr_and_it_happens():
    with Fixture("threads") as fx:
        epoller = [p["tid"] for p in fx.truth("park") if p["what"] == "epoll"][0]
        r = batch(["-p", str(fx.pid)], "info threads")
        assert r.rc == 0
        assert f"stopping thread {epoller} (epoller) interrupts its epoll_wait()" in r.stderr, r.stderr
        assert fx.printed("epoll-eintr", wait=2), "the warning named a thread that saw no EINTR"


def test_no_stop_does_not_interrupt_epoll_wait():
    with Fixture("threads") as fx:
        epoller = [p["tid"] for p in fx.truth("park") if p["what"] == "epoll"][0]
        r = batch(["--no-stop", "-p", str(fx.pid)], "info threads", "thread apply all bt")
        assert r.rc == 0, r.stderr
        assert "EINTR" not in r.stderr
        assert not fx.printed("epoll-eintr", wait=0.5)
        rows = {t["tid"]: t for t in r.doc("info threads")["threads"]}
        assert rows[epoller]["syscall"]["name"] == "epoll_wait"
        # Stacks unwind from /proc's sp and pc as far as CFI allows.
        stacks = thread_results(r.doc("thread apply all bt"))
        assert any(f["function"] == "park_epoll" for f in stacks[epoller]["frames"])
        assert any("moving target" in w for w in r.doc("thread apply all bt")["warnings"])


def test_error_no_such_process():
    r = strand("-p", "999999", "-batch", "-ex", "info threads", json_mode=False)
    assert r.rc == 2
    assert r.stderr.strip() == "strand: cannot attach to process 999999: no such process"


def test_error_already_traced():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        s = Session("-p", str(fx.pid))
        s.run("info threads")
        r = strand("-p", str(fx.pid), "-batch", "-ex", "info threads", json_mode=False)
        assert r.rc == 2
        assert f"already traced by process {s.proc.pid} (strand)" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        s.quit()
        assert fx.tracer() == 0


def test_error_permission_denied_other_user():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", STRAND,
                            "-p", str(fx.pid), "-batch", "-ex", "info threads"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        assert "permission denied" in r.stderr and "uid 0" in r.stderr, r.stderr
        assert fx.tracer() == 0 and fx.alive()


def test_error_zombie():
    child = subprocess.Popen(["true"])
    assert wait_until(lambda: open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")
    r = strand("-p", str(child.pid), "-batch", "-ex", "info threads", json_mode=False)
    child.wait()
    assert r.rc == 2
    assert "is a zombie" in r.stderr, r.stderr


def test_error_kernel_thread():
    kthread = None
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/exe"):
                    continue
            except OSError:
                with open(f"/proc/{pid}/stat") as f:
                    flags = int(f.read().rsplit(")", 1)[1].split()[6])
                if flags & 0x00200000:
                    kthread = pid
                    break
    assert kthread, "no kernel thread found"
    r = strand("-p", kthread, "-batch", "-ex", "info threads", json_mode=False)
    assert r.rc == 2
    assert "kernel thread" in r.stderr, r.stderr


def test_json_error_document_on_attach_failure():
    r = strand("-p", "999999", "-batch", "-ex", "info threads")
    assert r.rc == 2
    assert r.docs[0]["error"].startswith("cannot attach to process 999999")


def test_frame_pointer_fallback_and_no_symbols():
    """A stripped program without CFI: unwound through frame pointers, its frames
    shown as addresses with module offsets, each inside the right function."""
    with Fixture("nocfi") as fx:
        funcs = fx.truth("functions")[0]
        tid = fx.truth("park")[0]["tid"]
        r = batch(["-p", str(fx.pid)], "thread apply all bt")
        frames = thread_results(r.doc("thread apply all bt"))[tid]["frames"]
        ours = [f for f in frames if f["module"] and f["module"].endswith("/nocfi")]
        order = ["level3", "level2", "level1", "worker"]
        starts = sorted(int(v, 16) for k, v in funcs.items() if k != "kind")
        assert len(ours) == len(order), frames
        for f, name in zip(ours, order):
            assert f["function"] == "??" and f["file"] is None, f
            pc, start = int(f["pc"], 16), int(funcs[name], 16)
            following = min(s for s in starts if s > start)
            assert start < pc <= following, (name, f)
            assert int(f["module_offset"], 16) < pc
        assert frames[-2]["function"] == "start_thread"
        text = batch(["-p", str(fx.pid)], "thread 2", "bt", json_mode=False).stdout
        # in the program itself: no "from", as gdb names only shared libraries
        assert re.search(r"#\d+\s+0x[0-9a-f]+ in \?\? \(\)\n", text) and "nocfi\n" not in text, text
