"""glibc's own view of a process's heap, dumped from inside gdb as JSON.

    GLIBC_HEAP_JSON=out.json gdb -q -batch -nx -p PID -x tests/gdb/glibc_heap.py
    GLIBC_HEAP_JSON=out.json gdb -q -batch -nx PROGRAM CORE -x tests/gdb/glibc_heap.py

The truth strand's heap walk is tested against, taken with nothing of strand's:
glibc's structures read through libc6-dbg's DWARF (main_arena, mp_, malloc_state,
heap_info, tcache_perthread_struct and their field offsets), every thread's
`tcache` through gdb's own TLS support (libthread_db), and the chunks of each
heap walked by the sizes glibc wrote. Written to $GLIBC_HEAP_JSON, or printed
as one line when it is unset:

  {"mp": {field: number, ...}, "mp_address",
   "arenas": [{"address", "main", "contiguous", "system_mem", "top", "top_size",
               "heaps": [[start, end]], "complete" (false: a non-contiguous main
               arena, whose mmapped regions glibc does not record: no chunks),
               "chunks": [[chunk, size, in_use]] (in address order, top included),
               "fastbins": [[chunk, ...] x 10], "bins": {"1".."127": [chunk, ...]}}],
   "tcaches": [{"tid", "fs_base", "slot" (the address of its `tcache` variable), "tcache" (0: none yet),
                "counts": [64], "entries": [[user pointer, ...] x 64]}]}

Addresses are numbers; chunk addresses are headers (the user pointer is 16 bytes on).
Only the few constants glibc keeps in macros, not in DWARF, are spelled out here.
"""
import json
import os
import struct

import gdb

SIZE_BITS = 7          # PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA
PREV_INUSE = 1
NONCONTIGUOUS_BIT = 2  # malloc_state.flags
HEAP_MAX_SIZE = 2 * 32 * 1024 * 1024  # 2 * DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
MALLOC_ALIGNMENT = 16
MAX_LIST = 1 << 20     # no list walked further: a cycle is corruption, not this script's business

inferior = gdb.selected_inferior()


def read(addr, n):
    return bytes(inferior.read_memory(addr, n))


def u64(addr):
    return struct.unpack("<Q", read(addr, 8))[0]


def num(value):
    return int(value.cast(gdb.lookup_type("unsigned long")))


def offset_of(type_name, field):
    t = gdb.lookup_type(type_name).strip_typedefs()
    return next(f.bitpos // 8 for f in t.fields() if f.name == field)


CHUNK_SIZE = offset_of("struct malloc_chunk", "mchunk_size")
CHUNK_FD = offset_of("struct malloc_chunk", "fd")
HEAP_INFO_SIZE = gdb.lookup_type("heap_info").sizeof
ARENA_SIZE = gdb.lookup_type("struct malloc_state").sizeof


def chunk_size(chunk):
    return u64(chunk + CHUNK_SIZE) & ~SIZE_BITS


def reveal(pos, stored):
    """Safe-linking (PROTECT_PTR): a link is stored xor its own address >> 12."""
    return stored ^ (pos >> 12)


def walk_chunks(start, end, top, chunks):
    """Chunks from start to end by their sizes; in use when the next chunk's
    PREV_INUSE says so; ends at top, at a fencepost (size 0x10) or at end."""
    mem = read(start, end - start)
    c = start
    while c + 16 <= end:
        size = struct.unpack_from("<Q", mem, c - start + CHUNK_SIZE)[0] & ~SIZE_BITS
        if c == top:
            chunks.append([c, size, False])
            return
        if size < 0x20 or c + size > end:
            return  # 0x10: the fencepost that ends an old heap
        nxt = c + size
        in_use = nxt + 16 > end or bool(struct.unpack_from("<Q", mem, nxt - start + CHUNK_SIZE)[0] & PREV_INUSE)
        chunks.append([c, size, in_use])
        c = nxt


def heap_max_size(mp):
    return HEAP_MAX_SIZE if not mp["hp_pagesize"] else 4 * mp["hp_pagesize"]


def align_chunk(addr):
    """The first chunk at or after addr whose user pointer is aligned."""
    return (addr + 16 + MALLOC_ALIGNMENT - 1) // MALLOC_ALIGNMENT * MALLOC_ALIGNMENT - 16


def arena_view(arena, mp):
    a = arena.dereference()
    address = num(arena)
    main = address == num(gdb.parse_and_eval("&main_arena"))
    top = num(a["top"])
    contiguous = not (int(a["flags"]) & NONCONTIGUOUS_BIT)
    view = {"address": address, "main": main, "contiguous": contiguous, "system_mem": int(a["system_mem"]),
            "top": top, "top_size": chunk_size(top), "heaps": [], "complete": True, "chunks": []}
    initial_top = top == num(gdb.parse_and_eval("&main_arena.bins[0]")) - CHUNK_FD
    if main and not contiguous:
        view["complete"] = False  # the regions glibc mmapped when sbrk failed are in no list of glibc's
    elif main and not initial_top:
        start, end = mp["sbrk_base"], top + view["top_size"]
        view["heaps"].append([start, end])
        walk_chunks(align_chunk(start), end, top, view["chunks"])
    elif not main:
        heaps = []
        h = top & ~(heap_max_size(mp) - 1)
        while h and len(heaps) < 4096:
            info = gdb.Value(h).cast(gdb.lookup_type("heap_info").pointer()).dereference()
            heaps.append((h, int(info["size"])))
            h = num(info["prev"])
        for h, size in reversed(heaps):
            first = address - HEAP_INFO_SIZE == h
            start = align_chunk(address + ARENA_SIZE if first else h + HEAP_INFO_SIZE)
            view["heaps"].append([h, h + size])
            walk_chunks(start, h + size, top if h <= top < h + size else 0, view["chunks"])
    view["fastbins"] = []
    for i in range(10):
        chain, c = [], num(a["fastbinsY"][i])
        while c and len(chain) < MAX_LIST:
            chain.append(c)
            c = reveal(c + CHUNK_FD, u64(c + CHUNK_FD))
        view["fastbins"].append(chain)
    view["bins"] = {}
    for i in range(1, 128):
        head = num(a["bins"][2 * (i - 1)].address) - CHUNK_FD  # bin_at(i)
        chain, c = [], num(a["bins"][2 * (i - 1)])
        while c != head and len(chain) < MAX_LIST:
            chain.append(c)
            c = u64(c + CHUNK_FD)
        if chain:
            view["bins"][str(i)] = chain
    return view


def tcache_views():
    tcache = gdb.lookup_static_symbol("tcache")
    views = []
    for thread in inferior.threads():
        thread.switch()
        t = tcache.value(gdb.newest_frame())
        view = {"tid": thread.ptid[1], "fs_base": num(gdb.parse_and_eval("$fs_base")), "slot": num(t.address),
                "tcache": num(t), "counts": [], "entries": []}
        if num(t):
            s = t.dereference()
            for i in range(64):
                count = int(s["counts"][i])
                chain, e = [], num(s["entries"][i])
                while e and len(chain) < count + 1:  # one more shows a list longer than its count
                    chain.append(e)
                    e = reveal(e, u64(e))
                view["counts"].append(count)
                view["entries"].append(chain)
        views.append(view)
    return views


def dump():
    mp_value = gdb.parse_and_eval("mp_")
    mp = {f.name: num(mp_value[f.name]) for f in mp_value.type.strip_typedefs().fields()}
    arenas, arena = [], gdb.parse_and_eval("&main_arena")
    first = num(arena)
    while len(arenas) < 1024:
        arenas.append(arena_view(arena, mp))
        arena = arena.dereference()["next"]
        if num(arena) == first:
            break
    return {"mp": mp, "mp_address": num(gdb.parse_and_eval("&mp_")), "arenas": arenas, "tcaches": tcache_views()}


doc = json.dumps(dump())
path = os.environ.get("GLIBC_HEAP_JSON")
if path:
    with open(path, "w") as f:
        f.write(doc)
else:
    print(doc)
