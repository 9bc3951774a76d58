"""strand against an independent reader of glibc malloc cores, vmware/chap:
tests/glibc/compare_chap.py compares block by block the used, free, leaked
and unreferenced allocations chap finds with strand's heap and leak classes,
accounting for what chap counts differently, on every committed core of
tests/glibc/cores and on cores made here: the leaks fixture (every leak class
and root kind) and Debian's python3 (a real program, with thread arenas and
CPython's own allocator beside malloc). chap is not built here: the test runs when $CHAP
names its executable, and says so otherwise."""
import os
import shutil
import subprocess
import sys
import tempfile

from helpers import ROOT, TARGETS, Fixture, Program, batch

COMPARE = os.path.join(ROOT, "tests", "glibc", "compare_chap.py")
# Two threads hold bytes objects of 600-900 bytes (malloc's, in thread
# arenas); the main thread CPython's objects (pymalloc's).
PYTHON = """import signal, threading
d = {str(i): [i] * 5 for i in range(3000)}
held = []
ready = threading.Barrier(3)
def work():
    held.append([bytes(600 + i % 300) for i in range(2000)])
    ready.wait()
    threading.Event().wait()
for n in range(2):
    threading.Thread(target=work, daemon=True).start()
ready.wait()
print('ready', flush=True)
signal.pause()
"""


def compare(*cores):
    r = subprocess.run([sys.executable, COMPARE, *cores], capture_output=True, text=True, timeout=900)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_chap_agrees():
    chap = os.environ.get("CHAP")
    if not chap:
        print("chap not available ($CHAP unset): strand was not compared with chap")
        return
    out = compare()
    committed = [n for n in os.listdir(os.path.join(ROOT, "tests", "glibc", "cores")) if n.endswith(".core.xz")]
    assert sum(line.endswith("agree") for line in out.splitlines()) == len(committed), out
    work = tempfile.mkdtemp(prefix="strand-chap-cores-")
    try:
        leaks, python = os.path.join(work, "leaks.core"), os.path.join(work, "python3.core")
        with Fixture("leaks", env={"FIXTURE_TLS_LIB": os.path.join(TARGETS, "libtlsroot.so")}) as fx:
            assert batch(["-p", str(fx.pid)], f"gcore {leaks}", timeout=120).rc == 0
        with Program("/usr/bin/python3", "-c", PYTHON) as py:
            assert batch(["-p", str(py.pid)], f"gcore {python}", timeout=120).rc == 0
        out = compare(leaks, python)
        assert sum(line.endswith("agree") for line in out.splitlines()) == 2, out
    finally:
        shutil.rmtree(work)
