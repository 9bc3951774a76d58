"""Leaks by conservative reachability against the fixture's own record of each
block's class (valgrind's rules) and of the root kind that alone holds it:
live, on cores, and in `strand run`; classes and counts against valgrind."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from helpers import STRAND, TARGETS, Fixture, batch, strand
from test_core import kernel_core

LEAKS = os.path.join(TARGETS, "leaks")
ENV = {"FIXTURE_TLS_LIB": os.path.join(TARGETS, "libtlsroot.so")}
SWITCHES = {"registers": "--no-registers", "stack": "--no-stacks", "tls": "--no-tls", "globals": "--no-globals",
            "anon": "--no-anon"}


def expectations(fx):
    return fx.truth("expect")


def why_all(target, expects, extra=""):
    r = batch(target, *[f"why {e['addr']}{extra}" for e in expects])
    assert r.rc == 0, r.stderr
    return [d for d in r.docs if d["command"].startswith("why")]


def check_classes(target, expects):
    for e, doc in zip(expects, why_all(target, expects)):
        assert doc["class"] == e["class"], (e, doc)
        if e["root"]:
            assert doc["root"]["kind"] == e["root"], (e, doc["root"])


def test_classes_and_each_root_kind_live():
    with Fixture("leaks", env=ENV) as fx:
        expects = expectations(fx)
        assert len(expects) >= 30
        target = ["-p", str(fx.pid)]
        check_classes(target, expects)
        for kind, switch in SWITCHES.items():
            held = [e for e in expects if e["root"] == kind]
            assert held, kind
            for e, doc in zip(held, why_all(target, held, " " + switch)):
                assert doc["class"] in ("definitely lost", "indirectly lost"), (switch, e, doc)


def test_classes_with_big_blocks_live():
    """Nodes of 4 KiB: the main arena's slots are big enough to have shapes,
    which then answer the look-ups; the classes must not change."""
    with Fixture("leaks", env={**ENV, "FIXTURE_NODE_BYTES": "4096"}) as fx:
        main = batch(["-p", str(fx.pid)], "heap").doc("heap")["arenas"][0]
        assert main["kind"] == "main" and main["used"]["bytes"] / main["used"]["blocks"] >= 1024, main
        check_classes(["-p", str(fx.pid)], expectations(fx))


ALL_RECORDS = "leaks --show all --limit 0"


def leaks_both_ways(target, switches=""):
    """`leaks` alone marks what it can in sweeps, without edges; after `top`
    it reads the classes off the whole graph. Both must say the same."""
    alone = batch(target, ALL_RECORDS + switches).doc("leaks")
    after = batch(target, "top 1" + switches, ALL_RECORDS + switches).doc("leaks")
    for key in ("summary", "records", "heap_pointers", "root_pointers", "scanned_bytes"):
        assert alone[key] == after[key], key
    assert after["sweeps"] == 0 and after["stored_pointers"] == after["heap_pointers"], after
    return alone


def check_shapes(doc, shapes):
    counts = {(r["class"], r["size"]): r["blocks"] for r in doc["records"]}
    for shape in shapes:
        assert counts.get((shape["class"], shape["usable"])) == shape["blocks"], (shape, counts)


def test_sweeps_give_the_graphs_classes():
    """Lists linked up, down and at random, a dense web, lost ones of each, a
    chain behind an interior pointer: the fixture's count of each class, by
    sweeps (which leave the random list to the graph) and from the graph,
    live and on a core. The lost web and list end next to the top chunk and
    a free chunk, which the arena structure points at: bookkeeping, not a
    root."""
    work = tempfile.mkdtemp(prefix="strand-sweeps-")
    try:
        with Fixture("sweeps", cwd=work) as fx:
            shapes = fx.truth("shape")
            doc = leaks_both_ways(["-p", str(fx.pid)])
            check_shapes(doc, shapes)
            lost_pointers = fx.truth("lost_pointers")[0]["count"]
            assert doc["sweeps"] >= 2 and lost_pointers < doc["stored_pointers"] < doc["heap_pointers"], doc
            check_shapes(leaks_both_ways(["-p", str(fx.pid)], " --unaligned"), fx.truth("unaligned"))
            core = os.path.join(work, "strand.core")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
        check_shapes(leaks_both_ways([os.path.join(TARGETS, "sweeps"), core]), shapes)
    finally:
        shutil.rmtree(work)


def test_sweeps_finish_both_phases():
    """The same shapes with every list in address order: the sweeps mark all
    that is reachable, then the chain behind the interior pointer (possibly
    lost), and keep as edges only the pointers of lost blocks."""
    with Fixture("sweeps", env={"FIXTURE_IN_ORDER": "1"}) as fx:
        doc = leaks_both_ways(["-p", str(fx.pid)])
        check_shapes(doc, fx.truth("shape"))
        assert doc["stored_pointers"] == fx.truth("lost_pointers")[0]["count"], doc


def test_sweeps_on_the_leaks_fixture():
    for env in (ENV, {**ENV, "FIXTURE_NODE_BYTES": "4096"}):
        with Fixture("leaks", env=env) as fx:
            doc = leaks_both_ways(["-p", str(fx.pid)])
            assert doc["summary"]["definitely_lost"]["blocks"] == sum(
                e["class"] == "definitely lost" for e in expectations(fx))


def test_why_names_roots_as_people_read_them():
    with Fixture("leaks", env=ENV) as fx:
        by_name = {e["name"]: e for e in expectations(fx)}
        r = batch(["-p", str(fx.pid)], *[f"why {by_name[n]['addr']}" for n in
                                         ("held", "r12", "xmm5", "g_bss_root", "reachable node", "list node",
                                          "interior child 2")],
                  json_mode=False)
        text = r.stdout
        assert re.search(r"held by frame #\d+ of thread \d+ \(LWP \d+\) in hold_on_stack "
                         r"\(tests/targets/leaks.c:\d+\), local `held`", text), text
        assert re.search(r"held by register r12 of thread \d+", text), text
        assert re.search(r"held by register xmm5 \(bytes 0-7\) of thread \d+", text), text
        assert "held by global g_bss_root (leaks)" in text, text
        assert re.search(r"held by global g_reachable \(leaks\)\n  -> 0x[0-9a-f]+\+0 .*which points\n  -> ", text)
        assert "No root reaches it; the definitely lost block 0x" in text
        # Hop offsets are read back from the source block's words (its second pointer here).
        assert re.search(r"held by global g_interior \(leaks\)\n  -> 0x[0-9a-f]+\+40 .*which points\n"
                         r"  -> 0x[0-9a-f]+\+8 \(block of 56 B, possibly lost\)\n", text), text


def test_summary_records_and_error_exitcode():
    with Fixture("leaks", env=ENV) as fx:
        r = batch(["-p", str(fx.pid)], "leaks --show all --limit 0 --error-exitcode 7", "top 50")
        assert r.rc == 7, r.stderr
        doc = r.doc("leaks")
        summary = doc["summary"]
        expects = expectations(fx)
        assert summary["definitely_lost"]["blocks"] == sum(e["class"] == "definitely lost" for e in expects)
        assert summary["indirectly_lost"]["blocks"] == sum(e["class"] == "indirectly lost" for e in expects)
        definite = [x for x in doc["records"] if x["class"] == "definitely lost"]
        assert sum(x["direct_bytes"] for x in definite) == summary["definitely_lost"]["bytes"]
        assert sum(x["indirect_bytes"] for x in definite) == summary["indirectly_lost"]["bytes"]
        for cls, key in (("possibly lost", "possibly_lost"), ("still reachable", "still_reachable")):
            records = [x for x in doc["records"] if x["class"] == cls]
            assert sum(x["blocks"] for x in records) == summary[key]["blocks"]
        roots = {x["root"]: x for x in r.doc("top")["roots"]}
        assert roots["global g_reachable (leaks)"]["blocks"] == 2
        assert roots["global g_reachable (leaks)"]["retained"] == 112
        # Held by two globals: neither retains it, the pair shares it.
        head = int(next(e["addr"] for e in expects if e["name"] == "shared head"), 16)
        shared = [x for x in r.doc("top")["roots"] if x["kind"] == "shared" and int(x["block"], 16) == head]
        assert len(shared) == 1, r.doc("top")["roots"]
        assert shared[0]["shared_by"] == ["global g_shared_a (leaks)", "global g_shared_b (leaks)"], shared
        assert shared[0]["retained"] == 112 and shared[0]["blocks"] == 2
        text = batch(["-p", str(fx.pid)], "top 50", json_mode=False).stdout
        huge = batch(["-p", str(fx.pid)], "top 99999999999")  # room only for what exists, not for N
        assert huge.rc == 0 and huge.doc("top")["roots"], huge.stderr
        assert "shared by global g_shared_a (leaks) and global g_shared_b (leaks): block 0x" in text, text
    with Fixture("values") as fx:  # nothing lost there: the exit status stays 0
        r = batch(["-p", str(fx.pid)], "leaks --error-exitcode 7")
        assert r.rc == 0 and r.doc("leaks")["summary"]["definitely_lost"]["blocks"] == 0, r.stdout


def test_same_classes_on_cores():
    work = tempfile.mkdtemp(prefix="strand-leaks-")
    try:
        with Fixture("leaks", env=ENV, cwd=work, core_dumps=True) as fx:
            expects = expectations(fx)
            own, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            assert batch(["-p", str(fx.pid)], f"gcore {own}").rc == 0
            subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"],
                           capture_output=True, timeout=120, check=True)
            kernel = kernel_core(fx, work)
        for core in (own, gdbs, kernel):
            check_classes([LEAKS, core], expects)
            doc = leaks_both_ways([LEAKS, core])
            assert doc["summary"]["definitely_lost"]["blocks"] == sum(
                e["class"] == "definitely lost" for e in expects), doc["summary"]
    finally:
        shutil.rmtree(work)


def valgrind_summary(text):
    counts = {}
    for key in ("definitely lost", "indirectly lost", "possibly lost"):
        m = re.search(rf"{key}: [\d,]+ bytes in ([\d,]+) blocks", text)
        counts[key] = int(m.group(1).replace(",", "")) if m else 0
    return counts


def test_run_mode_matches_the_record_and_valgrind():
    truth = tempfile.mktemp(prefix="strand-truth-")
    try:
        env = dict(os.environ, STRAND_TRUTH=truth)
        r = subprocess.run([STRAND, "--json", "run", "--leak-check", "--", LEAKS, "exit"], capture_output=True,
                           text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        docs = [json.loads(l) for l in r.stdout.splitlines()]
        summary = next(d for d in docs if d["command"] == "leaks")["summary"]
        expects = [json.loads(l) for l in open(truth) if '"expect"' in l]
        ours = {"definitely lost": summary["definitely_lost"]["blocks"],
                "indirectly lost": summary["indirectly_lost"]["blocks"],
                "possibly lost": summary["possibly_lost"]["blocks"]}
        for cls in ours:
            assert ours[cls] == sum(e["class"] == cls for e in expects), (cls, ours)
        v = subprocess.run(["valgrind", "--leak-check=full", LEAKS, "exit"], capture_output=True, text=True,
                           env=dict(os.environ, STRAND_TRUTH="/dev/null"), timeout=300)
        assert valgrind_summary(v.stderr) == ours, (v.stderr[-1500:], ours)
    finally:
        if os.path.exists(truth):
            os.unlink(truth)


def test_heuristic_and_interior_options():
    """--heuristics=SET and --interior=MODE on leaks, why and top, spelled with = or a space; a bad value is
    a one-line error naming what is accepted. The fixture's block 40 bytes into which a global points is
    possibly lost by valgrind's rule, still reachable by LeakSanitizer's."""
    with Fixture("leaks", env=ENV) as fx:
        target = ["-p", str(fx.pid)]
        interior = next(e for e in expectations(fx) if e["name"] == "interior")
        assert interior["class"] == "possibly lost"
        r = batch(target, "leaks --heuristics=bogus", "leaks --heuristics stdstring,nope", "why --interior=maybe 0x1",
                  "top --heuristics")
        errors = [d["error"] for d in r.docs]
        assert "all, none or a list of stdstring, length64, newarray, multipleinheritance" in errors[0], errors
        assert '"stdstring,nope"' in errors[1], errors
        assert "possible (valgrind's rule) or reachable (LeakSanitizer's)" in errors[2], errors
        assert errors[3].startswith("usage: top"), errors
        r = batch(target, f"why {interior['addr']} --interior reachable", f"why {interior['addr']} --heuristics=none",
                  "leaks --interior=reachable", "leaks --heuristics length64,newarray", "leaks",
                  "top 1 --interior=reachable")
        assert r.rc == 0, r.stderr
        whys = [d for d in r.docs if d["command"].startswith("why")]
        assert [d["class"] for d in whys] == ["still reachable", "possibly lost"], whys
        leaks = [d for d in r.docs if d["command"].startswith("leaks")]
        assert leaks[0]["summary"]["possibly_lost"]["blocks"] == 0 and leaks[0]["interior"] == "reachable"
        assert leaks[2]["summary"]["possibly_lost"]["blocks"] > 0 and leaks[2]["interior"] == "possible"
        assert leaks[0]["heuristics"] == [] and leaks[1]["heuristics"] == ["length64", "newarray"]
        assert leaks[2]["heuristics"] == ["stdstring", "length64", "newarray", "multipleinheritance"]
        assert leaks[1]["summary"] == leaks[2]["summary"]  # no block of the fixture's needs the other two


def test_thread_dtvs_stay_reachable():
    """Each thread but the first has its DTV on the heap, which its descriptor points 16 bytes into (valgrind:
    possibly lost, unless suppressed). The runtime names it: still reachable, for the live threads and for
    the stacks glibc keeps after a thread ends (the blocked fixture joins one)."""
    with Fixture("blocked") as fx:
        leaks = batch(["-p", str(fx.pid)], ALL_RECORDS).doc("leaks")
        assert leaks["summary"]["possibly_lost"]["blocks"] == 0, leaks["records"]
        assert leaks["summary"]["definitely_lost"]["blocks"] == 0, leaks["records"]
