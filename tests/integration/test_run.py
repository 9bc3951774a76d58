"""strand run: start a program, inspect it as it exits, keep its exit status."""
import concurrent.futures
import json
import os
import signal
import subprocess
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


EXIT_DETACHED = os.path.join(TARGETS, "exit_detached")


def run_ending(mode, threads):
    """strand run --leak-check on exit_detached, checked against the fixture's record: the leak report names
    the leaked block and nothing else as definitely lost, every thread that was alive at the end is held,
    strand exits as the program did, and says nothing about threads it could not hold."""
    path, env = truth_env()
    try:
        r = strand("-ex", "info threads", "run", "--leak-check", "--", EXIT_DETACHED, mode, str(threads),
                   env=env, timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"strand hung: {mode} with {threads} threads of each kind")
    finally:
        with open(path) as f:
            truth = [json.loads(l) for l in f if l.strip()]
        os.unlink(path)
    what = f"{mode} {threads}: rc {r.rc}, stderr {r.stderr!r}"
    end = next(t for t in truth if t["kind"] == "end")
    code = 128 + end["signal"] if "signal" in end else end["code"]
    assert r.rc == code and "strand:" not in r.stderr, what
    assert r.doc("run")["exit_code"] == end.get("code"), what
    assert r.doc("run")["signal"] == (signal.Signals(end["signal"]).name[3:] if "signal" in end else None), what
    leak = next(t for t in truth if t["kind"] == "leak")
    lost = [rec for rec in r.doc("leaks")["records"] if rec["class"] == "definitely lost"]
    assert [rec["samples"] for rec in lost] == [[leak["addr"]]], (what, lost, leak)
    held = {t["tid"] for t in r.doc("info threads")["threads"]}
    stays = {t["tid"] for t in truth if t["kind"] == "stays"}
    assert stays <= held, (what, stays - held)


def run_endings(shapes, rounds):
    """Each shape rounds times, two runs at a time (the machine has two cores: the ends interleave more)."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_ending, *shape) for _ in range(rounds) for shape in shapes]
        try:
            for f in runs:
                f.result()
        finally:
            for f in runs:
                f.cancel()


def test_main_ends_while_detached_threads_run_start_and_exit():
    # With the guess from /proc flags strand hung 12 times in 30 when main returned with only starting
    # threads, once in 20 on exit(37): 36 runs miss a 1-in-10 failure with probability 2%.
    run_endings([("return", 0), ("return", 10), ("exit", 10)], 12)


def test_a_thread_ends_the_process_by_exit_or_a_fatal_signal():
    # The guess hung about one run in two of each.
    run_endings([("thread-exit", 10), ("abort", 10), ("thread-exit", 0), ("abort", 0)], 4)


def test_process_whose_main_thread_ended_first():
    # The leader is a zombie without memory: the process is read through a thread that holds it.
    run_endings([("main-first", 10), ("main-first", 0)], 2)
