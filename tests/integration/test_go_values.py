"""Go's names and values (tests/targets/go/values.go, Go 1.19): print main.keep and
'main.keep', Go's slices, strings, maps, interfaces and pointers equal to what the
program itself recorded, live and on a core; Go's heap never called a stack."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import TARGETS, Fixture, batch
from test_gdb_stacks import ENV, GDB_ARGS

VALUES = "go/values"
EXE = os.path.join(TARGETS, VALUES)
ARENA = 64 << 20  # runtime.heapArenaBytes on linux/amd64


def go_quoted(text):
    """A string as strand (and Go's %q for these characters) quotes it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def expected(truth):
    """print's text for each expression, from the program's own record."""
    keep = truth["keep"]
    return {
        "main.keep": f'{{array = {keep["array"]} "", len = {keep["len"]}, cap = {keep["cap"]}}}',
        "main.greeting": go_quoted(truth["greeting"]),
        "main.anything": f'({truth["anything"]["type"]}) {truth["anything"]["data"]}',
        "main.failure": f'({truth["failure"]["type"]}) {truth["failure"]["data"]}',
        "main.head": truth["head"]["address"],
        "main.head.name": go_quoted(truth["head"]["name"]),
        "main.head.next.name": go_quoted(truth["head"]["next"]),
    }


def check_values(target, truth):
    wants = expected(truth)
    exprs = list(wants) + [f"'{e}'" for e in wants if e.count(".") == 1] + ["main.counts"]
    r = batch(target, *(f"print {e}" for e in exprs), "x/3gx 'main.keep'")
    assert r.rc == 0, r.stderr
    keep = truth["keep"]
    assert r.doc("x/3gx 'main.keep'")["values"] == [int(keep["array"], 16), keep["len"], keep["cap"]]
    for e in exprs:
        got = r.doc(f"print {e}")["value"]
        if e == "main.counts":
            assert re.fullmatch(rf"0x[0-9a-f]+ <len {truth['counts']}>", got), got
        else:
            assert got == wants[e.strip("'")], (e, got, wants[e.strip("'")])
    return r.doc("print main.keep")


def gdb_print(core, expr):
    """What plain gdb (Go's runtime-gdb.py not loaded) prints for expr on the core."""
    r = subprocess.run(GDB_ARGS + ["-ex", f"print {expr}", EXE, core], capture_output=True, text=True, timeout=120,
                       env=ENV)
    return r.stdout.strip().splitlines()[-1].split(" = ", 1)[1]


def test_print_go_values_as_recorded():
    """print main.X and print 'main.X' (package-qualified names, unquoted and quoted):
    a []byte as gdb prints it ({array = 0x... "", len = 4096, cap = 1048576}, equal to
    gdb's own on the same core), a string as "text" (quotes and a newline escaped), a
    map's length, an empty and a non-empty interface by their dynamic type and data, a
    pointer and members through it, all equal to the program's own fmt record, live
    and on strand's gcore; x/3gx 'main.keep' reads the slice's three words. A quote left open, an empty one and an unknown quoted name
    are one-line errors."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Fixture(VALUES) as fx:
            truth = fx.truth("value")[0]
            live = ["-p", str(fx.pid)]
            doc = check_values(live, truth)
            assert doc["type"] == "[]uint8" and doc["address"] is not None, doc
            core = os.path.join(work, "core")
            assert batch(live, f"gcore {core}").rc == 0
        check_values([EXE, core], truth)
        assert gdb_print(core, "'main.keep'") == expected(truth)["main.keep"]
        text = batch([EXE, core], "print main.greeting", "print main.nope", json_mode=False)
        assert text.stdout == f"$1 = {go_quoted(truth['greeting'])}\n", text.stdout
        assert 'No symbol "main" in current context.' in text.stderr, text.stderr
        bad = batch([EXE, core], "print 'main.keep", "print ''", "print 'main.nope'")
        assert [bad.doc(c)["error"] for c in ("print 'main.keep", "print ''", "print 'main.nope'")] == [
            "Unmatched single quote.", "Empty character constant.", 'No symbol "main.nope" in current context.']
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_heap_names(target, arena):
    doc = batch(target, "blocked").doc("blocked")
    names = {t["object"]: t["object_name"] for t in doc["threads"] if t["object"]}
    in_heap = {o: n for o, n in names.items() if arena <= int(o, 16) < arena + ARENA}
    assert in_heap, names
    for obj, name in in_heap.items():
        assert name == f"Go heap arena {arena:#x}+{int(obj, 16) - arena}", (obj, name)
    assert not any("stack of thread" in n for n in names.values()), names


def test_go_heap_is_no_stack_local():
    """Go's idle threads wait on notes inside Go's heap, in the same mapping as the
    stacks the runtime gave its threads: blocked names such a word by its arena (the
    arena of the program's own heap slice), never as a local on a thread's stack, live
    and on strand's gcore."""
    work = tempfile.mkdtemp(prefix="strand-go-")
    try:
        with Fixture(VALUES) as fx:
            arena = int(fx.truth("value")[0]["keep"]["array"], 16) & ~(ARENA - 1)
            live = ["-p", str(fx.pid)]
            check_heap_names(live, arena)
            core = os.path.join(work, "core")
            assert batch(live, f"gcore {core}").rc == 0
        check_heap_names([EXE, core], arena)
    finally:
        shutil.rmtree(work, ignore_errors=True)
