#!/usr/bin/env python3
"""strand's counts of malloc blocks against those of an independent reader,
vmware/chap (https://github.com/vmware/chap), on the same cores.

    CHAP=/path/to/chap tests/glibc/compare_chap.py [CORE...]

Without CORE, every tests/glibc/cores/*.core.xz. Prints one line per core:
chap's used, free, leaked and unreferenced allocations and strand's used,
tcache'd, allocator, definitely, indirectly and possibly lost blocks, then
whether they agree. The sets are compared block by block, by address.
chap counts some things differently; each such difference is accepted only
with its reason, printed as "explained" (see agree()); any other is printed
as "unexplained" and the script exits 1.

chap is not built by this repository; build it from its sources."""
import bisect
import glob
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STRAND = os.path.join(os.path.dirname(os.path.dirname(HERE)), "strand")
CHAP_SETS = ("used", "free", "leaked", "unreferenced")
CHAP_LINE = re.compile(r"^(?:Used|Free) allocation at ([0-9a-f]+) of size", re.M)
# strand's block states that chap has no name for: chap does not know the
# tcache (2.26+), so a tcache'd block is in use to it, and so is the
# tcache_perthread_struct ("allocator"); the top chunk is free to chap.
CHAP_USED = ("used", "tcache", "allocator")


def chap_sets(chap, core):
    """The addresses chap lists in each set, from its batch mode (commands on stdin)."""
    script = "".join(f"list {s}\n" for s in CHAP_SETS)
    r = subprocess.run([chap, core], input=script, capture_output=True, text=True, timeout=600)
    parts = re.split(r"^\d+ allocations use .*$", r.stdout, flags=re.M)
    if len(parts) != len(CHAP_SETS) + 1:
        raise RuntimeError(f"{core}: chap said {r.stdout[-500:]!r} {r.stderr[-500:]!r}")
    return {name: {int(a, 16) for a in CHAP_LINE.findall(part)} for name, part in zip(CHAP_SETS, parts)}


def strand_run(core, *commands):
    args = [STRAND, "--json", "--core", core, "-batch"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    docs = {d["command"]: d for d in map(json.loads, r.stdout.splitlines())}
    return docs, r


def strand_counts(core):
    """strand's blocks by address and state, and its leak classes as
    counts (agree() asks why for the blocks chap calls leaked)."""
    docs, r = strand_run(core, "heap blocks --limit 0", "leaks")
    if "heap blocks --limit 0" not in docs or "leaks" not in docs:
        raise RuntimeError(f"{core}: strand said {r.stdout[-500:]!r} {r.stderr[-500:]!r}")
    if "error" in docs["heap blocks --limit 0"]:
        return {"error": docs["heap blocks --limit 0"]["error"]}
    blocks = docs["heap blocks --limit 0"]["blocks"]
    summary = docs["leaks"]["summary"]
    state = {int(b["address"], 16): b["state"] for b in blocks}
    extent = sorted((int(b["address"], 16), int(b["address"], 16) + b["usable"]) for b in blocks)
    return {"core": core, "state": state, "extent": extent, "not_covered": docs["leaks"]["coverage"]["not_covered"],
            "used": sum(1 for v in state.values() if v == "used"),
            "tcache": sum(1 for v in state.values() if v == "tcache"),
            "allocator": sum(1 for v in state.values() if v == "allocator"),
            "free": sum(1 for v in state.values() if v not in CHAP_USED),
            "definitely": summary["definitely_lost"]["blocks"], "indirectly": summary["indirectly_lost"]["blocks"],
            "possibly": summary["possibly_lost"]["blocks"]}


def outside_malloc(s, addresses):
    """The addresses in no block of malloc's: another allocator's (pymalloc's
    objects live in arenas it mmaps), which strand names as not covered."""
    starts = [lo for lo, _ in s["extent"]]
    out = set()
    for a in addresses:
        i = bisect.bisect_right(starts, a) - 1
        if i < 0 or a >= s["extent"][i][1]:
            out.add(a)
    return out


def agree(c, s):
    """The differences that chap's way of counting does not explain; the
    explained ones, as notes. Blocks are compared by address; where chap
    calls a block leaked, strand's class for it and the root that holds it
    come from strand's why."""
    wrong, notes = [], []
    other = outside_malloc(s, c["used"] | c["free"])
    if other and s["not_covered"]:
        notes.append(f"{len(other & c['used'])} used, {len(other & c['leaked'])} leaked of chap's are "
                     f"{s['not_covered'][0]['allocator']}'s, outside malloc's blocks")
        c = {k: v - other for k, v in c.items()}
    used = {a for a, st in s["state"].items() if st in CHAP_USED}
    free = set(s["state"]) - used
    if c["used"] != used:
        wrong.append(f"used: chap {len(c['used'])}, strand {len(used)}; only chap: {fmt(c['used'] - used)}, "
                     f"only strand: {fmt(used - c['used'])}")
    if c["free"] != free:
        wrong.append(f"free: chap {len(c['free'])}, strand {len(free)}; only chap: {fmt(c['free'] - free)}, "
                     f"only strand: {fmt(free - c['free'])}")
    # From 2.32 the tcache's next pointers are mangled (safe-linking): chap,
    # which does not know the tcache, finds no reference to a tcache'd block
    # but the first of its list and calls it leaked and unreferenced.
    tcached = {a for a in c["leaked"] if s["state"].get(a) == "tcache"}
    if tcached:
        notes.append(f"{len(tcached)} of chap's leaked are tcache'd blocks behind safe-linked pointers")
    leaked, unreferenced = c["leaked"] - tcached, c["unreferenced"] - tcached
    why = strand_why(s["core"], leaked)
    lost = {a for a in leaked if why[a]["class"] in ("definitely lost", "indirectly lost")}
    for a in sorted(leaked - lost):
        root = why[a]["root"] or {}
        # chap reads the general registers only; strand and valgrind also
        # read the vector registers, where compilers spill pointers.
        if root.get("kind") == "registers" and root["register"][:3] in ("xmm", "ymm", "zmm"):
            notes.append(f"{a:#x}: leaked for chap, {why[a]['class']} for strand by {root['register']} "
                         f"of thread {root['thread']}, a register chap does not read")
        else:
            wrong.append(f"{a:#x}: leaked for chap, {why[a]['class']} for strand ({root.get('label')})")
    if len(lost) != s["definitely"] + s["indirectly"]:
        wrong.append(f"leaked: chap {len(lost)}, strand {s['definitely']} definitely + {s['indirectly']} indirectly")
    for a in sorted(lost):
        definite = why[a]["class"] == "definitely lost"
        if definite and a not in unreferenced:
            # valgrind's rules call one block of a lost cycle (its leader)
            # definitely lost; to chap, every block of a cycle is referenced.
            notes.append(f"{a:#x}: definitely lost for strand, leaked but referenced for chap: a lost cycle's leader")
        elif not definite and a in unreferenced:
            wrong.append(f"{a:#x}: unreferenced for chap, indirectly lost for strand")
    return wrong, notes


def strand_why(core, addresses):
    """strand's class of each block and the root that holds it (why)."""
    docs, r = strand_run(core, *(f"why {a:#x}" for a in sorted(addresses)))
    missing = [a for a in addresses if f"why {a:#x}" not in docs]
    if missing:
        raise RuntimeError(f"{core}: strand's why {missing[0]:#x} said {r.stderr[-500:]!r}")
    return {a: docs[f"why {a:#x}"] for a in addresses}


def fmt(addresses):
    return ", ".join(hex(a) for a in sorted(addresses)[:4]) + (" ..." if len(addresses) > 4 else "") or "none"


def cores(args, work):
    if args:
        # A kernel's core is often just "core": its directory names it.
        return [(os.path.basename(a) if os.path.basename(a) != "core" else
                 os.path.join(os.path.basename(os.path.dirname(os.path.abspath(a))), "core"), a) for a in args]
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "cores", "*.core.xz"))):
        name = os.path.basename(path)[:-len(".core.xz")]
        core = os.path.join(work, name + ".core")
        with lzma.open(path) as src, open(core, "wb") as dst:
            shutil.copyfileobj(src, dst)
        out.append((name, core))
    return out


def main():
    chap = os.environ.get("CHAP")
    if not chap or not os.access(chap, os.X_OK):
        sys.exit("CHAP must name a chap executable")
    work = tempfile.mkdtemp(prefix="strand-chap-")
    try:
        print(f"{'core':28} {'chap used':>9} {'free':>5} {'leaked':>6} {'unref':>5}   {'strand used':>11} "
              f"{'tcache':>6} {'alloc':>5} {'free':>5} {'defin':>5} {'indir':>5} {'poss':>5}")
        failed = 0
        for name, core in cores(sys.argv[1:], work):
            c, s = chap_sets(chap, core), strand_counts(core)
            n = {k: len(v) for k, v in c.items()}
            if "error" in s:
                # Not a glibc malloc heap (jemalloc's redis-server): strand
                # says why it reads no block, and chap must find none either.
                found = n["used"] + n["free"]
                print(f"{name:28} {n['used']:>9} {n['free']:>5} {n['leaked']:>6} {n['unreferenced']:>5}   "
                      f"strand: {s['error']}   {'DISAGREE' if found else 'agree'}")
                failed += bool(found)
                continue
            wrong, notes = agree(c, s)
            print(f"{name:28} {n['used']:>9} {n['free']:>5} {n['leaked']:>6} {n['unreferenced']:>5}   "
                  f"{s['used']:>11} {s['tcache']:>6} {s['allocator']:>5} {s['free']:>5} {s['definitely']:>5} "
                  f"{s['indirectly']:>5} {s['possibly']:>5}   {'DISAGREE' if wrong else 'agree'}")
            for line in notes:
                print(f"    explained: {line}")
            for line in wrong:
                print(f"    unexplained: {line}")
            failed += bool(wrong)
    finally:
        shutil.rmtree(work)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
