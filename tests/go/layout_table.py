#!/usr/bin/env python3
"""Prints plugins/go_versions.c's table for one Go release from a Go binary's DWARF.

strand's Go plugin reads the runtime's layout from the program's own DWARF; a program
built with -ldflags=-w has none, and the plugin then takes the layout from the table in
plugins/go_versions.c, one block per release. This script writes such a block: every
(type, member) the plugin asks and every DW_TAG_constant, as the DWARF of a binary built
with DWARF by the release says. It reads the DWARF through binutils' readelf (not
strand's reader), so tests/integration/test_go_fallback.py can also check strand's table
against a reader independent of strand's.

    python3 tests/go/layout_table.py BINARY [RELEASE]

RELEASE defaults to the binary's Go release cut to major.minor ("go1.19"). To support
another release: build any Go program with that release (with DWARF), run this script on
it, paste the block into plugins/go_versions.c and add a line to its `releases` table.
"""
import re
import subprocess
import sys

# (type, member path) the plugin asks; None: the type's size.
MEMBERS = [
    ("runtime.g", None),
    *[("runtime.g", m) for m in (
        "stack.lo", "stack.hi", "m", "sched.sp", "sched.pc", "sched.bp", "syscallsp", "syscallpc",
        "atomicstatus", "atomicstatus.value", "goid", "waitsince", "waitreason", "lockedm", "gopc", "startpc",
        "parentGoid", "waiting")],
    ("runtime.m", "procid"),
    *[("runtime.hchan", m) for m in (
        "qcount", "dataqsiz", "buf", "elemsize", "closed", "elemtype", "sendx", "recvx", "recvq", "sendq")],
    ("runtime.waitq", "first"), ("runtime.waitq", "last"),
    *[("runtime.sudog", m) for m in (
        "g", "next", "prev", "elem", "c", "isSelect", "waitlink", "parent", "ticket", "waittail")],
    ("runtime._type", "size"), ("runtime._type", "str"), ("runtime._type", "tflag"),
    ("runtime.moduledata", "types"),
    ("runtime.semaRoot", "treap"), ("runtime.semaRoot", "nwait"),
    ("runtime.semTable", None),
    ("runtime.p", "timers"),
    ("runtime.timer", None),
    *[("runtime.timer", m) for m in ("when", "period", "f", "arg", "status", "nextwhen")],
    ("runtime.eface", "data"), ("runtime.funcval", "fn"),
    ("runtime.p", "sysmontick.schedwhen"), ("runtime.p", "sysmontick.syscallwhen"),
    ("runtime.schedt", "lastpoll"),
    *[("runtime.pollDesc", m) for m in ("fd", "rg", "wg", "self")],
    ("runtime.notifyList", "head"), ("runtime.notifyList", "tail"), ("sync.Cond", "notify"),
    ("runtime.mheap", "arenas"), ("runtime.mheap", "allspans"),
    ("runtime.mspan", None),
    *[("runtime.mspan", m) for m in (
        "startAddr", "nelems", "elemsize", "freeindex", "allocBits", "spanclass", "state", "state.s")],
    ("time.Ticker", None), ("time.Ticker", "r"), ("time.Ticker", "C"), ("time.Timer", None), ("time.Timer", "r"),
    ("sync.Mutex", "sema"), ("sync.Mutex", "state"),
    ("sync.WaitGroup", "state1"), ("sync.WaitGroup", "state2"), ("sync.WaitGroup", "state.v"),
    ("sync.WaitGroup", "sema"),
    ("sync.RWMutex", "w"), ("sync.RWMutex", "w.sema"), ("sync.RWMutex", "writerSem"), ("sync.RWMutex", "readerSem"),
]

CONSTANTS = [
    "runtime._Gidle", "runtime._Grunnable", "runtime._Grunning", "runtime._Gsyscall", "runtime._Gwaiting",
    "runtime._Gdead", "runtime._Gcopystack", "runtime._Gpreempted", "runtime._Gscan",
    "runtime.logHeapArenaBytes", "runtime.arenaL1Bits", "runtime.arenaL2Bits",
    "runtime.timerNoStatus", "runtime.timerWaiting", "runtime.timerRunning", "runtime.timerDeleted",
    "runtime.timerRemoving", "runtime.timerRemoved", "runtime.timerModifying", "runtime.timerModifiedEarlier",
    "runtime.timerModifiedLater", "runtime.timerMoving",
    "runtime.semTabSize", "runtime.tflagExtraStar", "sync.mutexLocked", "sync.mutexWaiterShift",
    "runtime.mSpanInUse",
]

DIE = re.compile(r"^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: (\d+)(?: \((\w+)\))?")
ATTR = re.compile(r"^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*: (?:\(\w+\) )?(.*)$")  # "(form) value"
NAMED_TYPES = ("DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_typedef", "DW_TAG_base_type")


def read_dies(binary):
    """{offset: die} and, by offset, each DIE's children; a die is {tag, attrs, children}."""
    out = subprocess.run(["readelf", "--wide", "--debug-dump=info", binary], capture_output=True, text=True,
                         check=True).stdout
    dies, stack, current = {}, [], None
    for line in out.splitlines():
        m = DIE.match(line)
        if m:
            depth, off, tag = int(m.group(1)), int(m.group(2), 16), m.group(4)
            del stack[depth:]
            current = None
            if tag:
                current = dies[off] = {"tag": tag, "attrs": {}, "children": []}
                if stack and stack[-1] is not None:
                    stack[-1]["children"].append(current)
            stack.append(current)
            continue
        m = ATTR.match(line)
        if m and current is not None:
            current["attrs"][m.group(1)] = m.group(2).strip()
    return dies


def ref(die, dies):
    m = re.match(r"<0x([0-9a-f]+)>", die["attrs"].get("DW_AT_type", ""))
    return dies[int(m.group(1), 16)] if m else None


def strip(die, dies):
    while die is not None and die["tag"] == "DW_TAG_typedef":
        die = ref(die, dies)
    return die


def size_of(die, dies):
    """As strand's type_size: the byte size of the type without its typedefs, a
    pointer's 8, an array's count times its element's."""
    die = strip(die, dies)
    if die is None:
        return 0
    if "DW_AT_byte_size" in die["attrs"]:
        return int(die["attrs"]["DW_AT_byte_size"])
    if die["tag"] == "DW_TAG_pointer_type":
        return 8
    if die["tag"] == "DW_TAG_array_type":
        count = [int(c["attrs"]["DW_AT_count"]) for c in die["children"] if "DW_AT_count" in c["attrs"]]
        return count[0] * size_of(ref(die, dies), dies) if count else 0
    return 0


def member(types, dies, type_name, path):
    """(offset, size) of a member path of a named type, None when not described."""
    die = types.get(type_name)
    if die is None:
        return None
    at = 0
    for name in (path.split(".") if path else []):
        t = strip(die, dies)
        found = [c for c in (t["children"] if t else []) if c["tag"] == "DW_TAG_member" and
                 c["attrs"].get("DW_AT_name") == name and "DW_AT_data_member_location" in c["attrs"]]
        if not found:
            return None
        at += int(found[0]["attrs"]["DW_AT_data_member_location"])
        die = ref(found[0], dies)
    return at, size_of(die, dies)


def table(binary):
    """The members and constants found: [(type, path, offset, size)], [(name, value)]."""
    dies = read_dies(binary)
    types, constants = {}, {}
    for die in dies.values():
        name = die["attrs"].get("DW_AT_name")
        if name and die["tag"] in NAMED_TYPES and "DW_AT_declaration" not in die["attrs"]:
            types.setdefault(name, die)
        elif name and die["tag"] == "DW_TAG_constant" and "DW_AT_const_value" in die["attrs"]:
            constants.setdefault(name, int(die["attrs"]["DW_AT_const_value"]))
    members = [(t, p, *found) for t, p in MEMBERS if (found := member(types, dies, t, p))]
    return members, [(n, constants[n]) for n in CONSTANTS if n in constants]


def release_of(binary):
    out = subprocess.run(["go", "version", binary], capture_output=True, text=True, check=True).stdout
    return re.search(r"go\d+\.\d+", out).group(0)


def c_block(binary, release):
    members, constants = table(binary)
    ident = release.replace(".", "_")
    lines = [f"/* {release}: generated by tests/go/layout_table.py from the DWARF of a program it built. */",
             f"static const struct go_layout_member {ident}_members[] = {{"]
    for t, p, off, size in members:
        lines.append(f'\t{{ "{t}", {"NULL" if p is None else chr(34) + p + chr(34)}, {off}, {size} }},')
    lines += ["};", f"static const struct go_layout_constant {ident}_constants[] = {{"]
    lines += [f'\t{{ "{n}", {v} }},' for n, v in constants]
    lines.append("};")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    print(c_block(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else release_of(sys.argv[1])))
