"""strand's stacks against gdb's, frame for frame: `thread apply all bt` of gdb 13
(-batch, its text as a user reads it) and of strand (its text, read the same way, and
its JSON) on the same process, attached one after the other, and on cores of it made
by gdb's gcore, by the kernel and by strand's gcore. On every thread, frame i must have
gdb's function name, gdb's file:line where gdb shows one, gdb's pc where either shows
one and gdb's library named by "from"; argument values are not compared.

Programs: python3 (threads in a lock, a queue, a sleep, accept and recv), redis-server,
gdb itself (attached to a fixture), a C++ program (tests/targets/stack_cxx.cc), the
blocked and threads fixtures, and a stripped position-independent program with and
without its debug file (tests/targets/stripped_pie.c, whose globals x, info symbol and
print &var must name as gdb does). Each comparison prints its figure, frames equal / total.

A difference that is gdb's own goes in GDB_QUIRKS with its reason (and in docs/commands.md,
"Stacks as gdb prints them"); none has been needed, and nothing else is skipped."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from helpers import TARGETS, Fixture, allow_core_dumps, batch, free_port, thread_results, wait_until
from test_core import kernel_core
from test_glibc_view import wait_for_output

# Debian's python3 (the pyenv shim in PATH may be another build), else whatever is there.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
REDIS = shutil.which("redis-server")
GDB = shutil.which("gdb")
# No network look-ups, no auto-loaded pretty-printers or frame filters: gdb's own stacks.
ENV = dict(os.environ, DEBUGINFOD_URLS="")
GDB_ARGS = ["gdb", "-q", "-batch", "-nx", "-iex", "set auto-load python-scripts off", "-iex", "set pagination off"]

# gdb's own quirks: (program, what, reason, predicate(gdb_frame, strand_frame)). A frame
# pair a predicate accepts counts as equal; the figure says how many were accepted so.
# Empty: on these programs every frame is equal.
GDB_QUIRKS = []

FRAME = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(.*)$")
THREAD = re.compile(r"^Thread \d+ \(.*?LWP (\d+)\)")


def split_frame(rest):
    """(function, file, line, library) from what follows "#N  0x... in " in a frame line."""
    file = line = lib = None
    m = re.search(r" at (\S+):(\d+)$", rest)
    if m:
        file, line, rest = m.group(1), int(m.group(2)), rest[:m.start()]
    else:
        m = re.search(r" from (\S+)$", rest)
        if m:
            lib, rest = m.group(1), rest[:m.start()]
    if rest.endswith(")"):  # the argument list: from its matching "(" back
        depth, quoted = 0, False
        for i in range(len(rest) - 1, -1, -1):
            c = rest[i]
            if c == '"' and (i == 0 or rest[i - 1] != "\\"):
                quoted = not quoted
            elif not quoted and c == ")":
                depth += 1
            elif not quoted and c == "(":
                depth -= 1
                if depth == 0:
                    rest = rest[:i].rstrip()
                    break
    return rest, file, line, lib


def parse_bt(text):
    """{tid: [(function, file, line, pc shown or None), ...]} from `thread apply all bt` as text."""
    stacks, current = {}, None
    for raw in text.splitlines():
        m = THREAD.match(raw)
        if m:
            current = stacks.setdefault(int(m.group(1)), [])
            continue
        m = FRAME.match(raw)
        if m and current is not None:
            assert int(m.group(1)) == len(current), ("frame numbers out of order", raw)
            function, file, line, lib = split_frame(m.group(3))
            current.append((function, file, line, m.group(2), lib))
    return stacks


def gdb_stacks(target, settings=()):
    """gdb's stacks. gdb 13 now and then ends reading a core after its "[New LWP]" lines with no
    stack and no message (1 run in ~20 on the blocked fixture's gdb core); it is run again once then."""
    for attempt in (1, 2):
        extra = [arg for setting in settings for arg in ("-ex", setting)]
        r = subprocess.run(GDB_ARGS + target + extra + ["-ex", "thread apply all bt"], capture_output=True,
                           text=True, timeout=300, env=ENV)
        stacks = parse_bt(r.stdout)
        if stacks:
            return stacks
        print(f"gdb printed no stack (exit status {r.returncode}) on {target}, attempt {attempt}")
    raise AssertionError((target, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))


def strand_stacks(target, settings=()):
    """strand's text, read as gdb's is; its JSON must say the same frames."""
    r = batch(target, *settings, "thread apply all bt", timeout=300, json_mode=False, env={"DEBUGINFOD_URLS": ""})
    assert r.rc == 0, (target, r.stderr)
    stacks = parse_bt(r.stdout)
    j = batch(target, *settings, "thread apply all bt", timeout=300, env={"DEBUGINFOD_URLS": ""})
    from_json = {tid: [(f["function"], f["file"], f["line"]) for f in doc.get("frames", [])]
                 for tid, doc in thread_results(j.doc("thread apply all bt")).items()}
    assert {tid: [f[:3] for f in frames] for tid, frames in stacks.items()} == from_json, "text and JSON differ"
    return stacks


def quirk_for(program, g, s):
    for prog, what, reason, accepts in GDB_QUIRKS:
        if prog in (program, "*") and accepts(g, s):
            return what
    return None


def frame_equal(g, s):
    """Function, file:line where gdb has one, the pc where either shows it (gdb shows it unless the
    frame is at the start of a line, or follows inlined frames at the same pc) and the library named
    by "from" (the dynamic linker's name for it)."""
    return g[0] == s[0] and (g[1] is None or (g[1], g[2]) == (s[1], s[2])) and g[3:] == s[3:]


def compare(program, case, gdbs, ours):
    """Frames equal / total over every thread (total: the longer of the two stacks);
    the differences as text, and the quirks that accounted for frames."""
    assert sorted(gdbs) == sorted(ours), (case, "threads differ", sorted(gdbs), sorted(ours))
    equal = total = 0
    diffs, quirks = [], {}
    for tid in sorted(gdbs):
        g, s = gdbs[tid], ours[tid]
        for i in range(max(len(g), len(s))):
            total += 1
            gf = g[i] if i < len(g) else None
            sf = s[i] if i < len(s) else None
            if gf and sf and frame_equal(gf, sf):
                equal += 1
                continue
            what = gf and sf and quirk_for(program, gf, sf)
            if what:
                equal += 1
                quirks[what] = quirks.get(what, 0) + 1
                continue
            diffs.append(f"  LWP {tid} #{i}: gdb {gf} strand {sf}")
    return equal, total, diffs, quirks


class Case:
    """One program under both debuggers: live, then its cores three ways."""

    def __init__(self, program, exe):
        self.program, self.exe = program, exe
        self.figures, self.failures = [], []
        self.work = tempfile.mkdtemp(prefix=f"strand-stacks-{program}-")

    def check(self, how, target):
        equal, total, diffs, quirks = compare(self.program, how, gdb_stacks(target), strand_stacks(target))
        note = "".join(f", {n} as gdb's quirk: {w}" for w, n in quirks.items())
        self.figures.append(f"{self.program} {how}: {equal}/{total} frames equal{note}")
        if diffs:
            self.failures.append(f"{self.program} {how}: {total - equal} frames differ:\n" + "\n".join(diffs[:40]))

    def live(self, pid):
        self.check("live", ["-p", str(pid)])
        assert wait_until(lambda: tracer(pid) == 0, 10), "a debugger did not detach"
        own, gdbs = os.path.join(self.work, "strand.core"), os.path.join(self.work, "gdb.core")
        assert batch(["-p", str(pid)], f"gcore {own}").rc == 0
        subprocess.run(GDB_ARGS + ["-p", str(pid), "-ex", f"gcore {gdbs}"], capture_output=True, timeout=300,
                       check=True, env=ENV)
        assert wait_until(lambda: tracer(pid) == 0, 10), "a debugger did not detach"
        return own, gdbs

    def cores(self, cores):
        for how, core in cores:
            self.check(how, [self.exe, core])

    def finish(self):
        shutil.rmtree(self.work, ignore_errors=True)
        print("\n".join(self.figures))
        assert not self.failures, "\n".join(self.failures)


def tracer(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return None


def kernel_core_of(proc, work):
    """SIGABRT a process started with core dumps on, in work: its core."""
    with open("/proc/sys/kernel/core_pattern") as f:
        if f.read().startswith("|"):
            with open("/proc/sys/kernel/core_pattern", "w") as w:
                w.write("core")
    os.kill(proc.pid, signal.SIGABRT)
    proc.wait(timeout=60)
    cores = glob.glob(os.path.join(work, "core*"))
    assert cores, f"the kernel wrote no core in {work}"
    return cores[0]


def fixture_case(name, env=None):
    case = Case(name, os.path.join(TARGETS, name))
    try:
        with Fixture(name, env=env, cwd=case.work, core_dumps=True) as fx:
            own, gdbs = case.live(fx.pid)
            kernel = kernel_core(fx, case.work)
        case.cores([("strand gcore", own), ("gdb gcore", gdbs), ("kernel core", kernel)])
    finally:
        case.finish()


def process_case(program, exe, argv, ready, cleanup=None):
    """A program nobody on the team wrote: started in the case's directory with core
    dumps on, ready() waits for it to settle."""
    case = Case(program, exe)
    proc = subprocess.Popen(argv, cwd=case.work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, preexec_fn=allow_core_dumps)
    try:
        ready(proc)
        own, gdbs = case.live(proc.pid)
        assert proc.poll() is None, f"{program} died under the debuggers"
        kernel = kernel_core_of(proc, case.work)
        case.cores([("strand gcore", own), ("gdb gcore", gdbs), ("kernel core", kernel)])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if cleanup:
            cleanup()
        case.finish()


def test_stack_cxx():
    fixture_case("stack_cxx")


def test_cxx_names_in_x_and_info_symbol_as_gdb():
    """C++ symbols where strand names addresses: x labels memory and code with linkage names (gdb's
    asm-demangle is off: <_Z5g_strB5cxx11>, and in code the DWARF function's, <__GI_...>), info
    symbol demangles, and a function is found by its C++ name (transfer1, shop::Ledger::transfer)."""
    with Fixture("stack_cxx") as fx:
        g_str = fx.truth("global")[0]["addr"]
        target = ["-p", str(fx.pid)]
        same = [f"x/2xg {g_str}", f"info symbol {g_str}", "info symbol transfer1", "x/2a $sp"]
        labelled = ["x/2i transfer1", "x/4i $pc"]
        ours, gdbs = strand_answers(target, same), gdb_answers(target, same)
        assert ours == gdbs, list(zip(same, ours, gdbs))
        assert "<_Z5g_strB5cxx11>" in ours[0]
        for command in labelled:
            mine = batch(target, command, json_mode=False).stdout
            theirs = subprocess.run(GDB_ARGS + target + ["-ex", command], capture_output=True, text=True,
                                    timeout=120, env=ENV).stdout
            # the instructions' syntax is the disassembler's; the addresses' labels must agree
            labels = lambda text: re.findall(r"<([^<>]+)>", text)
            assert labels(mine) == labels(theirs) and labels(mine), (command, mine, theirs)


def test_blocked_fixture():
    fixture_case("blocked")


def test_threads_fixture():
    fixture_case("threads", env={"FIXTURE_NO_EPOLL": "1"})


def test_past_main_on_as_gdb():
    """set backtrace past-main on: the C runtime below main, as gdb shows it (off, the default, is
    every other test here)."""
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        target, on = ["-p", str(fx.pid)], ["set backtrace past-main on"]
        ours = strand_stacks(target, on)
        equal, total, diffs, _ = compare("threads", "past-main on", gdb_stacks(target, on), ours)
        print(f"threads, past-main on: {equal}/{total} frames equal")
        assert not diffs, "\n".join(diffs)
        assert [f[0] for f in ours[fx.pid][-3:]] == ["__libc_start_call_main", "__libc_start_main_impl", "_start"]
        assert strand_stacks(target)[fx.pid][-1][0] == "main"


PYTHON_THREADS = r"""
import queue, socket, threading, time
lock = threading.Lock()
lock.acquire()
jobs = queue.Queue()
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
mine, theirs = socket.socketpair()
def in_lock(): lock.acquire()
def in_queue(): jobs.get()
def in_sleep(): time.sleep(100000)
def in_accept(): server.accept()
def in_recv(): mine.recv(10)
for f in (in_lock, in_queue, in_sleep, in_accept, in_recv):
    threading.Thread(target=f, name=f.__name__, daemon=True).start()
time.sleep(0.5)
print("ready", flush=True)
threading.Event().wait()
"""


def test_python3():
    def ready(proc):
        assert proc.stdout.readline().strip() == "ready"
    process_case("python3", PYTHON, [PYTHON, "-c", PYTHON_THREADS], ready)


def test_redis_server():
    assert REDIS, "redis-server is not installed (make deps)"
    port = free_port()

    def ready(proc):
        def accepts():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        assert wait_until(accepts, 20), "redis-server did not listen"
        time.sleep(0.3)  # its background threads start after the listener

    process_case("redis-server", REDIS, [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--daemonize", "no", "--dir", "."], ready)


def test_gdb_attached_to_a_fixture():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        case = Case("gdb", GDB)
        inner = None
        try:
            inner = subprocess.Popen(["gdb", "-q", "-nx", "-p", str(fx.pid)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     cwd=case.work, preexec_fn=allow_core_dumps, env=ENV)
            inner.stdin.write("echo strand-test-ready\\n\n")
            inner.stdin.flush()
            assert wait_for_output(inner, "strand-test-ready", 120), "gdb did not answer"
            own, gdbs = case.live(inner.pid)
            kernel = kernel_core_of(inner, case.work)
            case.cores([("strand gcore", own), ("gdb gcore", gdbs), ("kernel core", kernel)])
        finally:
            if inner and inner.poll() is None:
                inner.kill()
            if inner:
                inner.wait()
            case.finish()


def gdb_answers(target, commands):
    """The last line gdb -batch prints for each command, in one run (a marker before each)."""
    args = []
    for c in commands:
        args += ["-ex", "echo @@strand@@\\n", "-ex", c]
    r = subprocess.run(GDB_ARGS + target + args, capture_output=True, text=True, timeout=120, env=ENV)
    answers = []
    for chunk in r.stdout.split("@@strand@@\n")[1:]:
        lines = [line for line in chunk.splitlines() if line and not line.startswith("[Inferior ")]
        answers.append(lines[-1] if lines else "")
    return answers


def strand_answers(target, commands):
    """The last line of strand's text for each command, in one run."""
    r = batch(target, *commands, json_mode=False, env={"DEBUGINFOD_URLS": ""})
    # text has no separator between commands: each of these answers in one line (or fails in one)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert len(lines) == len(commands), (lines, r.stderr)
    return lines


def stripped_copies(work):
    """The stripped_pie fixture stripped as distributions ship it: alone (nothing but .dynsym), and
    with its debug info in a file its .gnu_debuglink names, beside it."""
    built = os.path.join(TARGETS, "stripped_pie")
    alone, linked = os.path.join(work, "alone"), os.path.join(work, "linked")
    os.makedirs(alone)
    os.makedirs(linked)
    debug = os.path.join(linked, "stripped_pie.debug")
    subprocess.run(["objcopy", "--only-keep-debug", built, debug], check=True)
    subprocess.run(["strip", "--strip-all", "-o", os.path.join(alone, "stripped_pie"), built], check=True)
    subprocess.run(["strip", "--strip-all", "-o", os.path.join(linked, "stripped.tmp"), built], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + debug, os.path.join(linked, "stripped.tmp"),
                    os.path.join(linked, "stripped_pie")], check=True, cwd=linked)
    return os.path.join(alone, "stripped_pie"), os.path.join(linked, "stripped_pie")


def test_stripped_pie_globals_named_as_gdb_names_them():
    """A stripped position-independent program (as mariadbd is shipped): its exported globals are
    named from .dynsym in info symbol, x and print &var, and in a wait's object, as gdb names them;
    with the debug file its .gnu_debuglink names, its static ones and its source lines too."""
    work = tempfile.mkdtemp(prefix="strand-stripped-")
    try:
        for exe in stripped_copies(work):
            with_debug = exe.endswith("linked/stripped_pie")
            truth = os.path.join(work, "truth")
            proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                    env=dict(os.environ, STRAND_TRUTH=truth))
            try:
                assert proc.stdout.readline().strip() == "ready"
                with open(truth) as f:
                    records = [json.loads(line) for line in f if line.strip()]
                target = ["-p", str(proc.pid)]
                commands = []
                for g in (r for r in records if r["kind"] == "global"):
                    commands += [f"info symbol {g['addr']}", f"x/2xg {g['addr']}"]
                    if g["exported"] or with_debug:
                        commands.append(f"print &{g['name']}")
                ours, gdbs = strand_answers(target, commands), gdb_answers(target, commands)
                for command, mine, theirs in zip(commands, ours, gdbs):
                    if command.startswith("print") and with_debug:
                        # the address and its <symbol>; DWARF type names are print's own matter
                        # (strand says "long int" where gdb says "long")
                        mine, theirs = mine.split(") ", 1)[-1], theirs.split(") ", 1)[-1]
                    assert mine == theirs, (exe, command, mine, theirs)
                named = sum(g["name"] in ours[commands.index(f"info symbol {g['addr']}")]
                            for g in records if g["kind"] == "global")
                assert named == (3 if with_debug else 2), (exe, named)
                r = batch(target, "blocked", env={"DEBUGINFOD_URLS": ""})
                mutex = [t for t in r.doc("blocked")["threads"] if t["kind"] == "mutex"]
                assert mutex and mutex[0]["object_name"].startswith("LOCK_item_func_sleep"), mutex
                equal, total, diffs, _ = compare("stripped_pie", exe, gdb_stacks(target), strand_stacks(target))
                print(f"stripped_pie ({'with' if with_debug else 'without'} its debug file): "
                      f"{equal}/{total} frames equal")
                assert not diffs, "\n".join(diffs)
                assert tracer(proc.pid) == 0 and proc.poll() is None
            finally:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
