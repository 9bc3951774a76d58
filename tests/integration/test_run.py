"""strand run: start a program, inspect it as it exits, keep its exit status."""
import os
import signal
import tempfile

from helpers import STRAND, TARGETS, strand, thread_results

EXITER = os.path.join(TARGETS, "exiter")


def run(mode, *commands, extra=(), env=None):
    args = []
    for c in commands:
        args += ["-ex", c]
    return strand(*args, "run", *extra, "--", EXITER, mode, env=env)


def truth_env():
    fd, path = tempfile.mkstemp(prefix="truth-exiter-")
    os.close(fd)
    return path, {"STRAND_TRUTH": path}


def read_parks(path):
    import json
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip() and json.loads(l)["kind"] == "park"]


def test_exit_group_holds_every_thread_and_keeps_status():
    path, env = truth_env()
    r = run("exit", "info threads", "thread apply all bt", env=env)
    parks = read_parks(path)
    os.unlink(path)
    assert r.rc == 3, (r.rc, r.stderr)
    threads = r.doc("info threads")["threads"]
    assert len(threads) == 4, threads
    stacks = thread_results(r.doc("thread apply all bt"))
    for p in parks:
        frames = stacks[p["tid"]]["frames"]
        hit = [f for f in frames if f["function"] == p["function"]]
        assert hit and hit[0]["line"] == p["line"], (p, [f["function"] for f in frames])
    assert r.doc("run")["exit_code"] == 3
    assert r.doc("run")["signal"] is None


def test_return_from_main_and_signals_pass_through():
    r = run("return", "info threads")
    assert r.rc == 0, r.stderr
    assert len(r.doc("info threads")["threads"]) == 4
    assert "SIGUSR1 lost" not in r.stderr


def test_fatal_signal_is_the_exit_status():
    r = run("abort", "info threads")
    assert r.rc == 128 + signal.SIGABRT, (r.rc, r.stderr)
    assert len(r.doc("info threads")["threads"]) == 4
    assert r.doc("run")["signal"] == "ABRT"


def test_threads_that_end_early_do_not_stop_the_program():
    r = run("threads", "info threads")
    assert r.rc == 5, r.stderr
    assert len(r.doc("info threads")["threads"]) == 1


def test_fork_children_left_alone_unless_followed():
    r = run("fork", "info threads")
    assert r.rc == 0, r.stderr
    assert len([d for d in r.docs if d["command"] == "info threads"]) == 1
    r = run("fork", "info threads", extra=["--follow-fork"])
    assert r.rc == 0, r.stderr
    assert len([d for d in r.docs if d["command"] == "info threads"]) == 2


def test_text_report_like_gdb():
    r = strand("-ex", "info threads", "run", "--", EXITER, "exit", json_mode=False)
    assert r.rc == 3
    assert "[Inferior 1 (process " in r.stdout and ") exited with code 03]" in r.stdout, r.stdout


def test_missing_program_is_a_load_error():
    r = strand("run", "--", "/nonexistent/program", json_mode=False)
    assert r.rc == 2
    assert r.stderr.strip() == "strand: cannot run /nonexistent/program: No such file or directory"
