#!/usr/bin/env python3
"""Write an input of the heap fuzz harness (tests/fuzz/heap.c) from a real
glibc heap: a core of a fixture and its program. main_arena and mp_ come from
libc's symbols (strand's `print &main_arena`, libc6-dbg); the regions are
libc's data holding them, each thread's TLS below fs_base (its tcache pointer)
and the anonymous writable memory (the sbrk heap, thread heaps, mmapped chunks),
stacks left out.

  heap_seed.py PROGRAM CORE OUTPUT
"""
import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corefile import PF_W, Core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_REGIONS, MAX_THREADS = 16, 8
REGION_BYTES = 256 << 10   # bytes kept of one region (the mapping stays whole)
TOTAL_BYTES = 1 << 20
TLS_BELOW, TLS_ABOVE = 0x1000, 0x200
FILE_BACKED = 16


def symbol_addresses(program, core):
    strand = os.environ.get("STRAND_BIN") or os.path.join(ROOT, "strand")
    r = subprocess.run([strand, "--json", program, core, "-batch", "-ex", "print &main_arena", "-ex", "print &mp_"],
                       capture_output=True, text=True, timeout=120)
    found = []
    for line in r.stdout.splitlines():
        m = re.search(r"\) (0x[0-9a-f]+) <", json.loads(line).get("value") or "")
        found.append(int(m.group(1), 16) if m else 0)
    if len(found) != 2 or not found[0]:
        raise SystemExit(f"heap_seed: main_arena not found in {core}: {r.stdout} {r.stderr}")
    return found


def regions_of(c, main_arena, mp):
    threads = c.threads()[:MAX_THREADS]
    files = c.files()
    named = lambda ph: any(s <= ph.vaddr < e for s, e, _ in files)
    stack = lambda ph: any(ph.vaddr <= sp < ph.vaddr + ph.memsz for _, sp, _ in threads)
    regions = []  # (start, mapping length, bytes, perms)

    def add(start, length, data, perms):
        if len(regions) < MAX_REGIONS and all(r[0] != start for r in regions):
            regions.append((start, length, data, perms))

    for addr in (main_arena, mp):
        i, ph = c.segment_at(addr)
        if ph is not None:
            add(ph.vaddr, ph.memsz, c.data.get(i, b"")[:REGION_BYTES], 3 | (FILE_BACKED if named(ph) else 0))
    for _, _, fs in threads:
        i, ph = c.segment_at(fs)
        if ph is not None and fs:
            start = max(ph.vaddr, fs - TLS_BELOW)
            data = c.read(start, fs + TLS_ABOVE - start)
            add(start, len(data), data, 3)
    for i, ph in enumerate(c.phdrs):
        if i in c.data and ph.flags & PF_W and not named(ph) and not stack(ph):
            add(ph.vaddr, ph.memsz, c.data[i][:REGION_BYTES], 3)
    total = 0
    for k, (start, length, data, perms) in enumerate(regions):
        data = data[:max(0, TOTAL_BYTES - total)]
        total += len(data)
        regions[k] = (start, length, data, perms)
    return regions, [fs for _, _, fs in threads]


def seed(main_arena, mp, regions, fs_bases):
    out = struct.pack("<QQBB6x", main_arena, mp, len(regions), len(fs_bases))
    for start, length, data, perms in regions:
        out += struct.pack("<QQII", start, length, len(data), perms)
    out += b"".join(struct.pack("<Q", fs) for fs in fs_bases)
    return out + b"".join(r[2] for r in regions)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    program, core, output = sys.argv[1:]
    main_arena, mp = symbol_addresses(program, core)
    with open(core, "rb") as f:
        c = Core(f.read())
    regions, fs_bases = regions_of(c, main_arena, mp)
    with open(output, "wb") as f:
        f.write(seed(main_arena, mp, regions, fs_bases))


if __name__ == "__main__":
    main()
