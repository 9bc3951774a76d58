"""Event loops: the self-pipe an epoll, poll or select loop watches (Go's
netpoller, redis, libevent, libuv) is not a reader that waits forever, while a
thread blocked in read() on a pipe whose only writer is its own process still
is. On the eventloop fixture, stopped and with --no-stop, and on redis-server."""
import os
import re
import shutil
import tempfile

from helpers import Fixture, Program, batch, free_port, redis_up, wait_until

FOREVER = "a reader may wait forever"


def fds_by_number(result):
    return {f["fd"]: f for f in result.doc("fds")["fds"]}


def check_event_loop(fx, result):
    fds = fds_by_number(result)
    waits = {w["what"]: w["tid"] for w in fx.truth("wait")}
    epoll_fd = next(f["fd"] for f in fds.values() if f["type"] == "[eventpoll]")
    why = {
        "selfpipe_epoll": "read end, non-blocking",
        "nonblocking_unwatched": "read end, non-blocking",
        "blocking_in_epoll": f"read end, watched by epoll fd {epoll_fd}",
        "polled": rf"read end, in the p?poll\(\) of LWP {waits['poll']}",
        "selected": rf"read end, in the (p?select6?)\(\) of LWP {waits['select']}",
    }
    for t in fx.truth("fd"):
        f = fds[t["fd"]]
        if t["what"] in why:
            # Both ends are here: without the event-loop rule each would be flagged.
            assert [(p["pid"], p["fd"]) for p in f["peers"]] == [(fx.pid, t["fd"] + 1)], f
            assert f["flag"] is None and re.fullmatch(why[t["what"]], f["detail"]), (t, f)
        elif t["what"] == "blocked_reader":
            assert f["detail"] == "read end" and FOREVER in f["flag"], f
    flagged = [f for f in fds.values() if f["flag"] and FOREVER in f["flag"]]
    assert len(flagged) == 1, flagged


def test_event_loop_self_pipes_are_not_flagged():
    with Fixture("eventloop") as fx:
        stopped = batch(["-p", str(fx.pid)], "fds", "blocked")
        assert stopped.rc == 0, stopped.stderr
        check_event_loop(fx, stopped)
        running = batch(["-p", str(fx.pid), "--no-stop"], "fds")
        assert running.rc == 0, running.stderr
        check_event_loop(fx, running)
        # blocked agrees: the read()er is stuck forever, the loops are parked.
        waits = {w["tid"]: w["what"] for w in fx.truth("wait")}
        threads = {t["tid"]: t for t in stopped.doc("blocked")["threads"]}
        for tid, what in waits.items():
            want = "stuck forever" if what == "read" else "parked"
            assert threads[tid]["verdict"] == want, (what, threads[tid])


def test_redis_self_pipe_is_not_flagged():
    """Debian's redis-server on a free loopback port: its event loop's pipe
    (both ends in redis, the read end non-blocking in its epoll set)."""
    work = tempfile.mkdtemp(prefix="strand-redis-")
    port = free_port()
    try:
        with Program("/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", work, ready=False) as fx:
            assert wait_until(lambda: redis_up(port), 10), "redis-server did not answer PING"
            for args in (["-p", str(fx.pid)], ["-p", str(fx.pid), "--no-stop"]):
                r = batch(args, "fds", "blocked")
                assert r.rc == 0, r.stderr
                fds = fds_by_number(r)
                own = [f for f in fds.values() if f["type"] == "pipe" and f["detail"].startswith("read end")
                       and f["peers"] and all(p["pid"] == fx.pid for p in f["peers"])]
                assert own, "redis-server holds no pipe of its own: nothing was tested"
                assert all(f["flag"] is None and f["detail"] != "read end" for f in own), own
                assert not [f for f in fds.values() if f["flag"] and FOREVER in f["flag"]]
                assert not [t for t in r.doc("blocked")["threads"] if t["verdict"] == "stuck forever"]
            assert redis_up(port), "redis-server stopped answering after strand"
    finally:
        shutil.rmtree(work)
