"""strand's leak classes against valgrind's on the same programs, block for block.

Each fixture (tests/targets/vg_*) builds its shapes, records every block (its label, address, the line that
allocated it, the class valgrind's rules give it, and strand's where strand differs by design), then exits
without freeing anything. It runs twice: under valgrind --leak-check=full --xml=yes, whose loss records name
each block by the line that allocated it (one block a line, so one record a block), and under strand run, whose
`why` names each block's class by address (the fixture writes one `why ADDRESS` a block to the file strand reads
with -x). The two runs are the same program in the same state at its exit. Where strand and valgrind differ, the
fixture gives the reason, and the reason is one docs/commands.md lists."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from helpers import ROOT, TARGETS, strand

KINDS = {"Leak_DefinitelyLost": "definitely lost", "Leak_IndirectlyLost": "indirectly lost",
         "Leak_PossiblyLost": "possibly lost", "Leak_StillReachable": "still reachable"}
HEURISTICS = ("stdstring", "length64", "newarray", "multipleinheritance")
# Differences the docs list ("Differences from valgrind", docs/commands.md), by the fixture's reason.
DOCUMENTED = {"usable": "past the request"}


def temp(prefix):
    fd, path = tempfile.mkstemp(prefix=prefix)
    os.close(fd)
    return path


def read_truth(path):
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    os.unlink(path)
    assert records and records[-1]["kind"] == "done", records[-3:]
    blocks = [r for r in records if r["kind"] == "block"]
    for leader in (r for r in records if r["kind"] == "leader"):  # a lost cycle's lowest block leads it
        for b in blocks:
            if b["addr"] == leader["addr"]:
                b["class"] = b["strand"] = leader["class"]
    return records, blocks


def source_of(name):
    return next(f for f in os.listdir(os.path.join(ROOT, "tests", "targets")) if f.startswith(name + "."))


def under_valgrind(name, *options):
    """The fixture's record, and valgrind's class of each block by the line that allocated it."""
    truth, xml = temp(f"truth-{name}-"), temp(f"valgrind-{name}-")
    subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes", f"--xml-file={xml}",
                    *options, os.path.join(TARGETS, name)],
                   env=dict(os.environ, STRAND_TRUTH=truth), capture_output=True, timeout=120)
    src = source_of(name)
    by_line = {}
    for error in ET.parse(xml).getroot().iter("error"):
        kind = error.find("kind").text
        if kind not in KINDS:
            continue
        for frame in error.find("stack").iter("frame"):
            if frame.findtext("file") == src:
                line = int(frame.findtext("line"))
                assert line not in by_line, f"two loss records for line {line}"
                assert error.find("xwhat").findtext("leakedblocks") == "1", ET.tostring(error)
                by_line[line] = KINDS[kind]
                break
    os.unlink(xml)
    return read_truth(truth), by_line


def under_strand(name, *commands, options="", leak_check=True):
    """The fixture's record, strand's class of each block by address (`why ADDRESS options`), and the
    documents of the commands run at the program's exit."""
    truth, why = temp(f"truth-{name}-"), temp(f"why-{name}-")
    args = []
    for c in commands:
        args += ["-ex", c]
    r = strand(*args, "-x", why, "run", *(["--leak-check"] if leak_check else []), "--",
               os.path.join(TARGETS, name),
               env={"STRAND_TRUTH": truth, "STRAND_COMMANDS": why, "STRAND_WHY_OPTIONS": options})
    os.unlink(why)
    assert r.rc == 0, (r.rc, r.stderr)
    classes = {d["block"]: d["class"] for d in r.docs if d["command"].startswith("why ")}
    return read_truth(truth), classes, r


def compare(name, vg, st, vg_key="class", st_key="strand"):
    """Block for block: valgrind gives the class the fixture expects of it, strand the class the fixture
    expects of strand, and where they differ the fixture names a documented reason."""
    (_, vg_blocks), vg_class = vg
    (_, st_blocks), st_class, _ = st
    assert [b["label"] for b in vg_blocks] == [b["label"] for b in st_blocks]
    for v, s in zip(vg_blocks, st_blocks):
        assert vg_class.get(v["line"]) == v[vg_key], (name, v["label"], vg_class.get(v["line"]), v[vg_key])
        assert st_class.get(s["addr"]) == s[st_key], (name, s["label"], st_class.get(s["addr"]), s[st_key])
        if v[vg_key] != s[st_key]:
            assert s["reason"] in DOCUMENTED, s


def test_leak_cases_cycles_and_heuristics_match_valgrind():
    """valgrind's leak-cases shapes (start and interior pointers, chains through both from roots and from lost
    blocks), cycles, and each heuristic's shape with its condition true and false: valgrind's class for every
    block. The sweeps (`leaks` first) and the graph (`why`, then `leaks` off it) agree."""
    vg = under_valgrind("vg_shapes")
    st = under_strand("vg_shapes", "leaks --show all --limit 0")
    compare("vg_shapes", vg, st)
    summaries = [d["summary"] for d in st[2].docs if d["command"].startswith("leaks")]
    assert len(summaries) == 2 and summaries[0] == summaries[1], summaries
    # what the fixture made and no more: libc's blocks are all reachable
    (_, blocks), _, _ = st
    for cls, key in (("definitely lost", "definitely_lost"), ("indirectly lost", "indirectly_lost"),
                     ("possibly lost", "possibly_lost")):
        assert summaries[0][key]["blocks"] == sum(b["strand"] == cls for b in blocks), (cls, summaries[0])
    leaks = st[2].docs[0]
    assert leaks["reachable_via_heuristic"]["stdstring"]["blocks"] == 1
    assert leaks["reachable_via_heuristic"]["length64"]["blocks"] == 1
    assert leaks["reachable_via_heuristic"]["newarray"]["blocks"] == 2
    assert leaks["reachable_via_heuristic"]["multipleinheritance"]["blocks"] == 1


def test_heuristics_switched_off_match_valgrind():
    """--heuristics=none and a list, as valgrind's --leak-check-heuristics: the blocks only a heuristic kept
    reachable are possibly lost without it, as valgrind says too."""
    for spelled in ("none", "stdstring,multipleinheritance"):
        (vg_truth, vg_blocks), vg_class = under_valgrind("vg_shapes", f"--leak-check-heuristics={spelled}")
        (st_truth, st_blocks), st_class, r = under_strand("vg_shapes", f"leaks --heuristics={spelled}",
                                                          options=f"--heuristics={spelled}", leak_check=False)
        on = [] if spelled == "none" else spelled.split(",")
        changed = set()
        for v, s in zip(vg_blocks, st_blocks):
            if s["reason"] in DOCUMENTED:
                continue
            assert vg_class.get(v["line"]) == st_class.get(s["addr"]), (spelled, v["label"])
            if vg_class.get(v["line"]) != v["class"]:
                changed.add(v["label"])
        # the fixture names each heuristic's blocks after it ("length64: ...")
        off = {b["label"] for b in st_blocks if b["class"] == "still reachable" and
               b["label"].split(":")[0] in HEURISTICS and b["label"].split(":")[0] not in on}
        assert off and changed == off, (spelled, changed, off)
        assert r.doc("leaks")["heuristics"] == on


def test_cxx_objects_match_valgrind():
    """What C++ makes of the heuristics: copy-on-write strings of the old ABI held by a global and by a
    block (stdstring), an object held through its second base (multipleinheritance), new[] of objects with
    a destructor (newarray); a pointer to an object's member and an object nothing holds."""
    compare("vg_cxx", under_valgrind("vg_cxx"), under_strand("vg_cxx"))


def test_stale_pointers_left_below_exit_match_valgrind():
    """Pointers left in the frames of an atexit handler and of a function called just before exit do not
    keep their blocks: definitely lost, as valgrind says (LeakSanitizer's exit_atexit_stale_stack)."""
    vg = under_valgrind("vg_exit")
    st = under_strand("vg_exit", "thread apply all bt")
    compare("vg_exit", vg, st)
    frames = [f["function"] for f in st[2].doc("thread apply all bt")["threads"][0]["result"]["frames"]]
    # held in exit_group, inside exit(), which gdb and strand name by its DWARF linkage name (glibc's alias)
    assert "__GI_exit" in frames, frames


def lsan_lost_lines(name, build_dir):
    """LeakSanitizer's lost blocks (direct and indirect) of the fixture built with clang -fsanitize=leak,
    by the line that allocated them."""
    assert shutil.which("clang"), "clang is needed to compare with LeakSanitizer"
    exe = os.path.join(build_dir, name)
    src = os.path.join(ROOT, "tests", "targets", source_of(name))
    subprocess.run(["clang", "-g", "-O0", "-fsanitize=leak", "-fno-omit-frame-pointer", "-pthread", "-o", exe, src],
                   check=True, capture_output=True)
    truth = temp(f"truth-{name}-lsan-")
    r = subprocess.run([exe], env=dict(os.environ, STRAND_TRUTH=truth, LSAN_OPTIONS="exitcode=0"),
                       capture_output=True, text=True, timeout=60)
    read_truth(truth)
    lines = set()
    for report in re.split(r"\n(?=(?:Direct|Indirect) leak of)", r.stderr)[1:]:
        where = re.search(re.escape(source_of(name)) + r":(\d+)", report)
        assert where, report
        lines.add(int(where.group(1)))
    return lines


def test_interior_reachable_matches_leaksanitizer():
    """--interior=reachable is LeakSanitizer's rule (any pointer into a block keeps it): strand's lost blocks
    are LeakSanitizer's, but for the documented differences."""
    with tempfile.TemporaryDirectory() as d:
        lsan = lsan_lost_lines("vg_shapes", d)
    (_, blocks), st_class, r = under_strand("vg_shapes", "leaks --interior=reachable", options="--interior=reachable",
                                            leak_check=False)
    assert r.doc("leaks")["summary"]["possibly_lost"]["blocks"] == 0
    assert r.doc("leaks")["interior"] == "reachable"
    lost = {b["line"] for b in blocks if st_class[b["addr"]] in ("definitely lost", "indirectly lost")}
    documented = {b["line"] for b in blocks if b["reason"] in DOCUMENTED}
    assert lsan - documented == lost - documented, (sorted(lsan), sorted(lost))
    assert len(lost) >= 9, lost  # leak-cases 3, 4 and 9, the lost cycle, the self pointer


def test_arrays_never_reads_past_a_holder():
    """arrays reads a {ptr, len, cap} only inside its holder: in a 40-byte block whose last two words are a
    pointer and a length, the next chunk's size header is no capacity; a triple in its holder is still found."""
    (records, _), _, r = under_strand("vg_shapes", "arrays", leak_check=False)
    found = {(f["block"], f["root"]["block"]) for f in r.doc("arrays")["findings"] if "block" in f["root"]}
    expected = [x for x in records if x["kind"] == "arrays"]
    assert len(expected) == 2
    for x in expected:
        assert ((x["buffer"], x["holder"]) in found) == x["finding"], (x, found)
