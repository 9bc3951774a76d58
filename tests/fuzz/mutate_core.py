#!/usr/bin/env python3
"""Damaged cores for strand: mutants of real cores of the heap fixture (strand's
gcore, gdb's gcore and the kernel's), each run through

    strand [--json] PROGRAM MUTANT -batch -ex 'thread apply all bt' -ex heap
           -ex 'heap check' -ex leaks -ex blocked -ex report

and judged: a crash (death by a signal, an exit status other than 0, 1 or 2, a
sanitizer report), a hang (past the timeout) or a misleading error (a failed
load whose stderr is not exactly one line "strand: ..." naming the file) is a
failure. Mutations: truncation (anywhere, and inside the ELF header, the
program headers, the notes, a segment), absurd program header fields, a stack
segment of absurd size, overlapping segments, notes flipped, duplicated (3000
NT_PRSTATUS, NT_AUXV twice), removed, NT_FILE with absurd counts, note lengths
past the end, and garbage words in the heap (chunk sizes, fd/bk, tcache, the
arenas in libc's data: main_arena and mp_ found by libc's symbols).

tests/integration/test_mutants.py runs a few of each kind; as a campaign:

  mutate_core.py [--count N] [--jobs 1] [--seed S] [--timeout 20] [--strand BIN] [--out DIR]

prints the tally by kind and saves each failing mutant, with what was done to
it and strand's stderr, in DIR (build/fuzz/mutants)."""
import argparse
import collections
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from corefile import (EHDR_SIZE, NT_AUXV, NT_FILE, NT_PRSTATUS, PHDR_SIZE, PRSTATUS_PID, PT_LOAD, PT_NOTE,
                      Core, Note)
from heap_seed import symbol_addresses
from helpers import ROOT, STRAND, TARGETS, Fixture, batch
from test_core import kernel_core

COMMANDS = ["thread apply all bt", "heap", "heap check", "leaks", "blocked", "report"]
PROGRAM = os.path.join(TARGETS, "heap")
FIXTURE_STACK = 1 << 20  # thread stacks of 1 MiB: cores of 6 MiB, not 27
AR_TOP, AR_NEXT, AR_SYSTEM_MEM, AR_FLAGS, AR_FASTBINS, AR_BINS = 0x60, 0x870, 0x888, 0x4, 0x10, 0x70
MP_SBRK_BASE = 0x60
U64 = (1 << 64) - 1


def without_empty_reservations(path):
    """The kernel and gdb dump the 64 MiB reservations of glibc's thread heaps
    (no access, all zeros) whole: 200 MiB a core. Such a segment is left out
    of the file (omitted memory, as in strand's own cores)."""
    with open(path, "rb") as f:
        core = Core(f.read())
    for i, seg in core.data.items():
        if len(seg) >= 1 << 20 and seg.count(0) == len(seg):
            core.data[i] = b""
    with open(path, "wb") as f:
        f.write(core.pack())


class Base:
    """A real core and what the mutators need to know of it."""

    def __init__(self, label, path):
        self.label, self.path = label, path
        without_empty_reservations(path)
        with open(path, "rb") as f:
            self.data = f.read()
        self.core = Core(self.data)
        self.phoff = struct.unpack_from("<Q", self.data, 32)[0]
        self.main_arena, self.mp = symbol_addresses(PROGRAM, path)
        self.threads = self.core.threads()
        self.heap_start = self.word(self.mp + MP_SBRK_BASE) if self.mp else None
        self.top = self.word(self.main_arena + AR_TOP)
        self.chunks = self.walk_chunks()

    def file_offset(self, addr, n=8):
        """Where the n bytes at addr lie in the file, None if not all there."""
        for ph in self.core.phdrs:
            if ph.type == PT_LOAD and ph.vaddr <= addr and addr + n <= ph.vaddr + ph.filesz:
                return ph.offset + addr - ph.vaddr
        return None

    def word(self, addr):
        off = self.file_offset(addr)
        return struct.unpack_from("<Q", self.data, off)[0] if off is not None else None

    def walk_chunks(self):
        chunks, c = [], self.heap_start
        while c and self.top and c < self.top and len(chunks) < 100000:
            size = self.word(c + 8)
            if size is None or (size & ~7) < 0x20:
                break
            chunks.append(c)
            c += size & ~7
        return chunks

    def notes_segment(self):
        return next(ph for ph in self.core.phdrs if ph.type == PT_NOTE)

    def note_headers(self):
        """File offsets of the note headers in the first PT_NOTE."""
        ph, out, off = self.notes_segment(), [], 0
        blob = self.data[ph.offset:ph.offset + ph.filesz]
        while off + 12 <= len(blob):
            namesz, descsz, _ = struct.unpack_from("<III", blob, off)
            out.append(ph.offset + off)
            off += 12 + namesz + (-namesz % 4) + descsz + (-descsz % 4)
        return out


def garbage(rng, base=None):
    """A word that makes no sense where it lands."""
    choices = [lambda: rng.getrandbits(64), lambda: U64 - rng.randrange(0x10000), lambda: 1 << 63,
               lambda: rng.randrange(1, 0x100), lambda: 0, lambda: rng.getrandbits(64) & ~0xf]
    if base and base.chunks:
        choices += [lambda: rng.choice(base.chunks) + rng.choice((0, 8, 16, 3)),
                    lambda: base.chunks[-1] + rng.randrange(1 << 20)]
    return rng.choice(choices)()


def patched(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def repacked(base, edit):
    core = Core(base.data)
    what = edit(core)
    return core.pack(), what


# ---- mutators: (base, rng) -> (bytes, what was done) ----

def trunc_random(base, rng):
    cut = rng.randrange(1, len(base.data))
    return base.data[:cut], f"truncated at {cut} of {len(base.data)}"


def trunc_structure(base, rng):
    ph_end = base.phoff + PHDR_SIZE * len(base.core.phdrs)
    notes = base.notes_segment()
    segs = [ph for ph in base.core.loads() if ph.filesz]
    seg = rng.choice(segs)
    where = rng.choice([("ELF header", 1, EHDR_SIZE), ("program headers", base.phoff, ph_end),
                        ("notes", notes.offset, notes.offset + notes.filesz),
                        (f"segment at 0x{seg.vaddr:x}", seg.offset, seg.offset + seg.filesz)])
    cut = rng.randrange(where[1], where[2])
    return base.data[:cut], f"truncated at {cut}, inside the {where[0]}"


PHDR_FIELDS = {"p_offset": 8, "p_vaddr": 16, "p_filesz": 32, "p_memsz": 40}


def phdr_absurd(base, rng):
    i = rng.randrange(len(base.core.phdrs))
    field = rng.choice(list(PHDR_FIELDS))
    value = rng.choice([U64 - rng.randrange(1 << 20), 1 << 63, U64, rng.getrandbits(64),
                        len(base.data) * rng.randrange(2, 1000), (1 << 47) - 4096])
    return (patched(base.data, base.phoff + PHDR_SIZE * i + PHDR_FIELDS[field], "<Q", value),
            f"phdr {i} {field} = 0x{value:x}")


def phdr_overlap(base, rng):
    loads = [i for i, ph in enumerate(base.core.phdrs) if ph.type == PT_LOAD]
    a, b = rng.sample(loads, 2)
    vaddr = base.core.phdrs[b].vaddr + rng.choice((0, 8, 0x1000))
    return (patched(base.data, base.phoff + PHDR_SIZE * a + PHDR_FIELDS["p_vaddr"], "<Q", vaddr),
            f"phdr {a} moved onto phdr {b} (p_vaddr 0x{vaddr:x})")


def stack_absurd(base, rng):
    _, sp, _ = rng.choice(base.threads)
    i = next(i for i, ph in enumerate(base.core.phdrs) if ph.type == PT_LOAD and ph.vaddr <= sp < ph.vaddr + ph.memsz)
    ph = base.core.phdrs[i]
    memsz = rng.choice([1 << 63, U64 - ph.vaddr - rng.randrange(1 << 12), (1 << 47) - ph.vaddr])
    return (patched(base.data, base.phoff + PHDR_SIZE * i + PHDR_FIELDS["p_memsz"], "<Q", memsz),
            f"stack segment at 0x{ph.vaddr:x} p_memsz = 0x{memsz:x}")


def prstatus_many(base, rng):
    distinct = rng.random() < 0.5

    def edit(core):
        first = next(n for n in core.notes if n.type == NT_PRSTATUS)
        copies = []
        for k in range(3000):
            desc = bytearray(first.desc)
            if distinct:
                struct.pack_into("<i", desc, PRSTATUS_PID, 100000 + k)
            copies.append(Note(first.name, NT_PRSTATUS, bytes(desc)))
        core.notes[1:1] = copies
        return f"3000 more NT_PRSTATUS notes ({'distinct tids' if distinct else 'one tid'})"
    return repacked(base, edit)


def auxv_twice(base, rng):
    def edit(core):
        auxv = next(n for n in core.notes if n.type == NT_AUXV)
        core.notes.insert(rng.randrange(len(core.notes) + 1), Note(auxv.name, NT_AUXV, auxv.desc))
        return "NT_AUXV twice"
    return repacked(base, edit)


def nt_file_absurd(base, rng):
    def edit(core):
        n = next(n for n in core.notes if n.type == NT_FILE)
        desc = bytearray(n.desc)
        count = struct.unpack_from("<Q", desc, 0)[0]
        how = rng.choice(["count", "page", "range", "names"])
        if how == "count":
            struct.pack_into("<Q", desc, 0, rng.choice([U64, 1 << 32, count + 1, (len(desc) - 16) // 24]))
        elif how == "page":
            struct.pack_into("<Q", desc, 8, rng.choice([0, 1 << 63, U64, 3]))
        elif how == "range":
            k = rng.randrange(count)
            struct.pack_into("<QQQ", desc, 16 + 24 * k, garbage(rng), garbage(rng), garbage(rng))
        else:
            desc = desc[:16 + 24 * count + rng.randrange(8)]
        n.desc = bytes(desc)
        return f"NT_FILE absurd {how}"
    return repacked(base, edit)


def note_length(base, rng):
    at = rng.choice(base.note_headers())
    which = rng.choice([0, 4])
    value = rng.choice([0xffffffff, 0x7fffffff, 0x10000000, rng.getrandbits(32)])
    return patched(base.data, at + which, "<I", value), f"note at {at}: {('namesz', 'descsz')[which // 4]} = 0x{value:x}"


def note_flip(base, rng):
    ph = base.notes_segment()
    out = bytearray(base.data)
    offs = sorted(rng.randrange(ph.offset, ph.offset + ph.filesz) for _ in range(rng.randrange(1, 9)))
    for off in offs:
        out[off] ^= 1 << rng.randrange(8)
    return bytes(out), f"bits flipped in the notes at {offs}"


def notes_removed(base, rng):
    def edit(core):
        how = rng.choice(["random", "NT_PRSTATUS", "NT_FILE", "NT_AUXV", "all"])
        types = {"NT_PRSTATUS": NT_PRSTATUS, "NT_FILE": NT_FILE, "NT_AUXV": NT_AUXV}
        if how == "random":
            core.notes = [n for n in core.notes if rng.random() < 0.5]
        elif how == "all":
            core.notes = []
        else:
            core.notes = [n for n in core.notes if n.type != types[how]]
        return f"notes removed: {how}"
    return repacked(base, edit)


def heap_words(base, rng, targets, label):
    out, done = bytearray(base.data), []
    for addr in targets:
        off = base.file_offset(addr)
        if off is not None:
            value = garbage(rng, base)
            struct.pack_into("<Q", out, off, value)
            done.append(f"0x{addr:x}=0x{value:x}")
    return bytes(out), f"{label}: {' '.join(done) or 'nothing writable'}"


def heap_chunk_size(base, rng):
    return heap_words(base, rng, [rng.choice(base.chunks) + 8 for _ in range(rng.randrange(1, 4))], "chunk sizes")


def heap_links(base, rng):
    return heap_words(base, rng, [rng.choice(base.chunks) + rng.choice((16, 24)) for _ in range(rng.randrange(1, 4))],
                      "fd/bk words")


def heap_tcache(base, rng):
    tcache = base.heap_start + 16  # the first chunk of the main heap
    slots = [tcache + 8 * rng.randrange(16) for _ in range(rng.randrange(1, 3))]  # counts
    slots += [tcache + 128 + 8 * rng.randrange(64) for _ in range(rng.randrange(1, 4))]  # entries
    return heap_words(base, rng, slots, "tcache")


def heap_arena(base, rng):
    fields = [AR_TOP, AR_NEXT, AR_SYSTEM_MEM, AR_FLAGS - 4, AR_FASTBINS + 8 * rng.randrange(10),
              AR_BINS + 8 * rng.randrange(254)]
    targets = [base.main_arena + f for f in rng.sample(fields, rng.randrange(1, 3))]
    if base.mp and rng.random() < 0.3:
        targets.append(base.mp + MP_SBRK_BASE)
    return heap_words(base, rng, targets, "main_arena/mp_ fields")


def heap_random(base, rng):
    lo, hi = base.heap_start, base.top or base.heap_start + 4096
    return heap_words(base, rng, [rng.randrange(lo, hi) & ~7 for _ in range(rng.randrange(1, 17))], "heap words")


MUTATORS = [trunc_random, trunc_structure, phdr_absurd, phdr_overlap, stack_absurd, prstatus_many, auxv_twice,
            nt_file_absurd, note_length, note_flip, notes_removed, heap_chunk_size, heap_links, heap_tcache,
            heap_arena, heap_random]


# ---- the bases ----

def make_bases(work):
    """Cores of the heap fixture three ways, in work: [Base]."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    resource.setrlimit(resource.RLIMIT_STACK, (FIXTURE_STACK, hard))  # the fixture's threads inherit it
    try:
        fx = Fixture("heap", env={"FIXTURE_HEAP_BIG": "0"}, cwd=work, core_dumps=True)
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))
    with fx:
        own, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
        r = batch(["-p", str(fx.pid)], f"gcore {own}")
        assert r.rc == 0, r.stderr
        subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"], capture_output=True,
                       timeout=120, check=True)
        kernel = kernel_core(fx, work)
    return [Base("strand", own), Base("gdb", gdbs), Base("kernel", kernel)]


# ---- running strand on a mutant ----

SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer): [\w-]+|runtime error: .*|"
                       r"WARNING: (AddressSanitizer|LeakSanitizer)[^\n]*")
FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+) " + re.escape(ROOT) + r"/((?:debugger|commands|plugins)/[\w.]+:\d+)")


class Outcome:
    def __init__(self, status, kind, detail="", seconds=0.0):
        self.status, self.kind, self.detail, self.seconds = status, kind, detail, seconds


def where(stderr):
    """The first frames in strand's own source, for the tally."""
    frames = [f"{fn} ({loc})" for fn, loc in FRAME.findall(stderr) if fn not in ("xmalloc", "xrealloc", "grow_array",
                                                                                  "xcalloc")]
    return frames[0] if frames else ""


def run(strand, mutant, json_mode, timeout):
    cmd = [strand] + (["--json"] if json_mode else []) + [PROGRAM, mutant, "-batch"]
    for c in COMMANDS:
        cmd += ["-ex", c]
    start = time.time()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Outcome("hang", f"over {timeout} s", "", time.time() - start)
    seconds = time.time() - start
    err = err.decode(errors="replace")
    san = SANITIZER.search(err)
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return Outcome("crash", f"{name} {where(err)}".strip(), err[-3000:], seconds)
    if san or proc.returncode not in (0, 1, 2):
        what = san.group(0)[:120] if san else f"exit {proc.returncode}"
        return Outcome("crash", f"{what} {where(err)}".strip(), err[-3000:], seconds)
    if proc.returncode == 2:
        lines = err.splitlines()
        if len(lines) != 1:
            return Outcome("misleading", f"load error in {len(lines)} lines", err[-3000:], seconds)
        if not lines[0].startswith("strand: "):
            return Outcome("misleading", "load error without \"strand: \"", err[-3000:], seconds)
        if mutant not in lines[0]:
            return Outcome("misleading", "load error does not name the file", err[-3000:], seconds)
    return Outcome("ok", "", "", seconds)


def slug(text):
    return re.sub(r"[^\w.-]+", "-", text)[:80].strip("-")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--strand", default=STRAND)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "fuzz", "mutants"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tmp = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = tempfile.mkdtemp(prefix="strand-mutants-", dir=tmp)
    tally, by_mutator = collections.Counter(), collections.defaultdict(collections.Counter)
    examples = {}
    try:
        bases = make_bases(work)
        rng = random.Random(args.seed)
        start = time.time()

        def one(i, base, mutator, data, what, json_mode):
            path = os.path.join(work, f"mutant-{i}.core")
            with open(path, "wb") as f:
                f.write(data)
            o = run(args.strand, path, json_mode, args.timeout)
            if o.status != "ok":
                name = os.path.join(args.out, f"{o.status}-{slug(o.kind)}-{i}")
                shutil.copy(path, name + ".core")
                with open(name + ".txt", "w") as f:
                    f.write(f"base: {base.label} core of {PROGRAM}\nmutation: {mutator.__name__}: {what}\n"
                            f"json: {json_mode}\nseconds: {o.seconds:.1f}\n{o.status}: {o.kind}\n\n{o.detail}\n")
            os.unlink(path)
            return i, mutator.__name__, base.label, what, o

        def record(result):
            i, mname, blabel, what, o = result
            tally[o.status] += 1
            by_mutator[mname][o.status] += 1
            if o.status != "ok":
                key = (o.status, o.kind)
                tally[key] += 1
                examples.setdefault(key, f"{mname} on the {blabel} core: {what} (mutant {i})")
            done = sum(by_mutator[m][s] for m in by_mutator for s in by_mutator[m])
            if done % 100 == 0:
                print(f"{done} mutants, {time.time() - start:.0f} s: {tally['crash']} crashes, {tally['hang']} hangs, "
                      f"{tally['misleading']} misleading errors", flush=True)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            pending = []
            for i in range(args.count):
                base, mutator = rng.choice(bases), rng.choice(MUTATORS)
                data, what = mutator(base, rng)
                pending.append(pool.submit(one, i, base, mutator, data, what, rng.random() < 0.5))
                while len(pending) >= 2 * args.jobs:
                    record(pending.pop(0).result())
            for p in pending:
                record(p.result())
    finally:
        shutil.rmtree(work)
    print(f"\n{args.count} mutants: {tally['ok']} fine, {tally['crash']} crashes, {tally['hang']} hangs, "
          f"{tally['misleading']} misleading errors (failing mutants in {args.out})")
    for status in ("crash", "hang", "misleading"):
        for (s, kind), n in sorted(((k, n) for k, n in tally.items() if isinstance(k, tuple) and k[0] == status),
                                   key=lambda kn: -kn[1]):
            print(f"  {s:10} {n:5}  {kind}\n{'':19}e.g. {examples[(s, kind)]}")
    print("\nby mutation: " + ", ".join(f"{m} {c['ok']}/{sum(c.values())} fine" for m, c in sorted(by_mutator.items())))
    return 1 if tally["crash"] or tally["hang"] or tally["misleading"] else 0


if __name__ == "__main__":
    sys.exit(main())
