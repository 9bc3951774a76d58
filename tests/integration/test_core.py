"""Cores made three ways (strand's gcore, gdb's gcore, the kernel) of the same
fixture state: strand must give the same threads and stacks as it gives live,
gdb must read strand's cores, and broken or foreign cores get one clear line."""
import glob
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time

from helpers import STRAND, TARGETS, Fixture, batch, strand, thread_results, wait_until
from test_live import parks_by_tid, assert_stack_has

THREADS = os.path.join(TARGETS, "threads")


def stacks(result):
    """{tid: [function, ...]} from a `thread apply all bt` document."""
    return {tid: [f["function"] for f in doc["frames"]]
            for tid, doc in thread_results(result.doc("thread apply all bt")).items()}


def kernel_core(fx, workdir):
    """Make the kernel dump fx (started with core_dumps=True, cwd=workdir)."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|"):
        # A pipe handler (systemd-coredump, apport) would take the core away.
        with open("/proc/sys/kernel/core_pattern", "w") as f:
            f.write("core")
    os.kill(fx.pid, signal.SIGABRT)
    fx.proc.wait(timeout=30)
    cores = glob.glob(os.path.join(workdir, "core*"))
    assert cores, f"the kernel wrote no core in {workdir} (core_pattern {pattern!r})"
    return cores[0]


def test_cores_three_ways_match_live():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}, cwd=work, core_dumps=True) as fx:
            own, gdbs = os.path.join(work, "strand.core"), os.path.join(work, "gdb.core")
            live = batch(["-p", str(fx.pid)], "thread apply all bt", f"gcore {own}")
            assert live.rc == 0, live.stderr
            assert live.doc("gcore")["file"] == own and os.path.getsize(own) == live.doc("gcore")["bytes"]
            subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"],
                           capture_output=True, timeout=120, check=True)
            parks = parks_by_tid(fx)
            kernel = kernel_core(fx, work)
        want = stacks(live)
        for core in (own, gdbs, kernel):
            r = batch([THREADS, core], "info threads", "thread apply all bt")
            assert r.rc == 0, (core, r.stderr)
            got = stacks(r)
            assert got == want, (core, got, want)
            for tid, park in parks.items():
                frames = thread_results(r.doc("thread apply all bt"))[tid]["frames"]
                assert_stack_has(frames, park)
    finally:
        shutil.rmtree(work)


def test_strand_core_keeps_thread_names_and_registers():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            core = os.path.join(work, "c")
            live = batch(["-p", str(fx.pid)], "info threads", "info registers", f"gcore {core}")
            assert live.rc == 0, live.stderr
        r = batch([THREADS, core], "info threads", "info registers")
        assert r.rc == 0, r.stderr
        names = lambda res: {t["tid"]: t["name"] for t in res.doc("info threads")["threads"]}
        assert names(r) == names(live)
        assert r.doc("info registers") == live.doc("info registers")
    finally:
        shutil.rmtree(work)


def test_gdb_and_eu_stack_read_strand_core():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            core = os.path.join(work, "c")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
            parks = parks_by_tid(fx)
        g = subprocess.run(["gdb", "-q", "-batch", THREADS, core, "-ex", "thread apply all bt"],
                           capture_output=True, text=True, timeout=120)
        e = subprocess.run(["eu-stack", "--core", core, "-e", THREADS], capture_output=True, text=True, timeout=120)
        for park in parks.values():
            assert f"in {park['function']} (" in g.stdout, g.stdout
            assert park["function"] in e.stdout, e.stdout + e.stderr
        for tid in parks:
            assert f"LWP {tid}" in g.stdout
    finally:
        shutil.rmtree(work)


def test_omitted_text_pages_come_from_the_program():
    """The core leaves the program's text out; x reads it from the file, equal to live."""
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            core = os.path.join(work, "c")
            live = batch(["-p", str(fx.pid)], "x/16xb main", "x/3i main", f"gcore {core}")
        r = batch([THREADS, core], "x/16xb main", "x/3i main")
        assert r.rc == 0, r.stderr
        assert r.doc("x/16xb")["values"] == live.doc("x/16xb")["values"]
        assert r.doc("x/3i")["instructions"] == live.doc("x/3i")["instructions"]
        # A different file at the program's path under --sysroot is refused; the
        # file at the recorded path matches and supplies the bytes.
        root = os.path.join(work, "root")
        os.makedirs(os.path.dirname(root + THREADS))
        shutil.copy(os.path.join(TARGETS, "exiter"), root + THREADS)
        other = batch(["--core", core, "--sysroot", root], "x/16xb main")
        assert other.rc == 0 and other.stderr == "", other.stderr
        assert other.doc("x/16xb")["values"] == live.doc("x/16xb")["values"]
    finally:
        shutil.rmtree(work)


def test_truncated_core_is_read_as_far_as_it_goes():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            core = os.path.join(work, "c")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
            ntids = len(parks_by_tid(fx)) + 1
        size = os.path.getsize(core)
        os.truncate(core, size * 2 // 3)
        r = batch([THREADS, core], "info threads")
        assert r.rc == 0, r.stderr
        assert len(r.doc("info threads")["threads"]) == ntids
        warnings = [l for l in r.stderr.splitlines() if "truncated" in l]
        assert len(warnings) == 1 and f"of {size} bytes present" in warnings[0], r.stderr
        for cut, message in ((3000, "truncated inside its notes"), (1000, "truncated or damaged")):
            os.truncate(core, cut)
            r = batch([THREADS, core], "info threads")
            assert r.rc == 2 and message in r.stderr, (cut, r.stderr)
    finally:
        shutil.rmtree(work)


def test_core_errors_are_one_line():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        empty = os.path.join(work, "empty")
        open(empty, "w").close()
        text = os.path.join(work, "text")
        with open(text, "w") as f:
            f.write("not a core\n" * 100)
        foreign = os.path.join(work, "foreign")
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            assert batch(["-p", str(fx.pid)], f"gcore {foreign}").rc == 0
        with open(foreign, "r+b") as f:  # e_machine := EM_AARCH64
            f.seek(18)
            f.write((183).to_bytes(2, "little"))
        # The ELF header of a 32-bit x86 core (ELFCLASS32, ET_CORE, EM_386) and no program header.
        i386 = os.path.join(work, "i386")
        with open(i386, "wb") as f:
            f.write(b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 4, 3, 1, 0, 0, 0, 0, 52, 32,
                                                                    0, 40, 0, 0))
        cases = {
            i386: "a core of a 32-bit x86 process; 32-bit is not supported",
            os.path.join(work, "missing"): "No such file or directory",
            empty: "empty file, not a core",
            text: "not an ELF file",
            THREADS: "not a core file",
            foreign: "a core of another machine",
        }
        for path, message in cases.items():
            r = strand("--core", path, "-batch", "-ex", "info threads", json_mode=False)
            assert r.rc == 2, (path, r.rc, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and message in lines[0], (path, r.stderr)
        # The right core with the wrong program.
        with open(foreign, "r+b") as f:
            f.seek(18)
            f.write((62).to_bytes(2, "little"))
        other = os.path.join(TARGETS, "exiter")
        r = strand(other, foreign, "-batch", "-ex", "info threads", json_mode=False)
        assert r.rc == 2 and "does not match the core" in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
            r.stderr
        assert strand(THREADS, foreign, "-batch", "-ex", "info threads").rc == 0
    finally:
        shutil.rmtree(work)


# ---- damaged cores: every size is bounded by what the file holds ----

PHDR = struct.Struct("<IIQQQQQQ")  # type, flags, offset, vaddr, paddr, filesz, memsz, align
NHDR = struct.Struct("<III")  # namesz, descsz, type


def program_headers(data):
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    return [(phoff + i * PHDR.size, list(PHDR.unpack_from(data, phoff + i * PHDR.size))) for i in range(phnum)]


def notes(data, ph):
    """[(type, raw bytes of the whole note)] of a PT_NOTE segment."""
    out, off, end = [], ph[2], ph[2] + ph[5]
    while off + NHDR.size <= end:
        namesz, descsz, ntype = NHDR.unpack_from(data, off)
        size = NHDR.size + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
        out.append((ntype, data[off:off + size]))
        off += size
    return out


def with_notes(data, note_list):
    """The core with its notes replaced by note_list, appended at its end."""
    data = bytearray(data)
    blob = b"".join(raw for _, raw in note_list)
    for at, ph in program_headers(data):
        if ph[0] == 4:  # PT_NOTE
            ph[2], ph[5] = len(data), len(blob)
            PHDR.pack_into(data, at, *ph)
    return bytes(data) + blob


def test_damaged_cores_are_read_within_bounds():
    work = tempfile.mkdtemp(prefix="strand-core-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            core = os.path.join(work, "c")
            live = batch(["-p", str(fx.pid)], "info threads", "info registers rsp", f"gcore {core}")
            assert live.rc == 0, live.stderr
        with open(core, "rb") as f:
            data = f.read()
        rsp = int(live.doc("info registers")["registers"][0]["value"], 16)
        loads = [(at, ph) for at, ph in program_headers(data) if ph[0] == 1]

        def damaged(name, edit):
            path = os.path.join(work, name)
            with open(path, "wb") as f:
                f.write(edit(bytearray(data)))
            start = time.time()
            r = batch([THREADS, path], "info threads", "thread apply all bt", "leaks", timeout=60)
            return r, time.time() - start

        def stack_memsz(d, memsz):  # the main thread's stack claims far more than the file holds
            at, ph = next((at, ph) for at, ph in loads if ph[3] <= rsp < ph[3] + ph[6])
            ph[6] = memsz
            PHDR.pack_into(d, at, *ph)
            return bytes(d)

        r, seconds = damaged("huge-stack", lambda d: stack_memsz(d, 1 << 56))
        assert r.rc == 0 and seconds < 20, (r.rc, seconds, r.stderr)
        assert r.doc("leaks")["summary"] == batch([THREADS, core], "leaks").doc("leaks")["summary"]
        r, _ = damaged("beyond", lambda d: stack_memsz(d, 1 << 63))
        assert r.rc == 0 and "1 memory segment left out (1 beyond the address space" in r.stderr, r.stderr

        def overlap(d):
            (at, ph), (_, other) = loads[3], loads[4]
            ph[3] = other[3]
            PHDR.pack_into(d, at, *ph)
            return bytes(d)

        r, _ = damaged("overlap", overlap)
        assert r.rc == 0 and "1 overlapping another" in r.stderr, r.stderr

        note_ph = next(ph for _, ph in program_headers(data) if ph[0] == 4)
        original = notes(data, note_ph)
        prstatus = next(raw for t, raw in original if t == 1)
        auxv = next(raw for t, raw in original if t == 6)
        r, seconds = damaged("repeats", lambda d: with_notes(d, original + [(1, prstatus)] * 3000 + [(6, auxv)]))
        assert r.rc == 0 and seconds < 20, (r.rc, seconds, r.stderr)
        assert "3000 thread notes repeat an LWP already listed" in r.stderr, r.stderr
        assert r.doc("info threads")["threads"] == batch([THREADS, core], "info threads").doc("info threads")["threads"]
    finally:
        shutil.rmtree(work)
