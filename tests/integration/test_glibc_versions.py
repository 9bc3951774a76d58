"""Cores of glibc releases other than the host's: tests/glibc/cores holds
cores of tests/glibc/layouts.c run against releases built from source
(tests/glibc/build_releases.sh, make_cores.py) with the truth the fixture
recorded. Each is read without the release's files (as a core from another
machine), with them when the release is built here, and with
--no-libc-symbols; every block the fixture holds, freed or lost must be
where the truth says, and the counts must equal glibc's own (mallinfo). The
host's release gets the same checks on a core whose libc is gone."""
import glob
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from helpers import ROOT, STRAND, Fixture, batch, write_core_memory
from test_core import kernel_core

GLIBC = os.path.join(ROOT, "tests", "glibc")
CORES = os.path.join(GLIBC, "cores")
sys.path.insert(0, GLIBC)
sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import corefile  # noqa: E402
import fetch_distro_libc  # noqa: E402
import make_cores  # noqa: E402

COMMANDS = ("heap", "heap check", "heap blocks --limit 0", "leaks --show all --limit 0")
BIN_STATES = ("unsorted", "smallbin", "largebin")


def read_truth(path):
    truth = {}
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            truth.setdefault(t["kind"], []).append(t)
    return truth


def release_in(discovery, release):
    """Whether the layout the discovery names ("layout of glibc 2.35-2.41") covers release ("2.36")."""
    named = discovery.split("layout of glibc ", 1)[1].split(",", 1)[0]
    first, _, last = named.partition("-")
    minor = lambda v: int(v.split(".")[1])  # noqa: E731
    return minor(first) <= minor(release) <= minor(last or first)


def check(truth, r, dtv_known):
    """strand's heap against the fixture's truth and glibc's mallinfo."""
    assert r.rc == 0, r.stderr
    release = truth["ready"][0]["release"]
    heap = r.doc("heap")
    assert heap["allocator"] == "glibc-malloc" and release_in(heap["discovery"], release), heap["discovery"]
    assert r.doc("heap check")["problems"] == [], r.doc("heap check")["problems"]
    blocks = {int(b["address"], 16): b for b in r.doc("heap blocks --limit 0")["blocks"]}
    for t in truth["used"] + truth["lost"]:
        b = blocks.get(int(t["addr"], 16))
        assert b and b["state"] == "used" and b["usable"] == t.get("usable", t["size"]) or \
            (b and b["state"] == "used" and t["kind"] == "lost" and b["usable"] >= t["size"]), (t, b)
    for t in truth["freed"]:
        b = blocks.get(int(t["addr"], 16))
        want = BIN_STATES if t["list"] == "bin" else (t["list"],)
        assert b and b["state"] in want, (t, b)
    count = lambda *states: sum(1 for b in blocks.values() if b["state"] in states)  # noqa: E731
    mi = truth["mallinfo"][0]
    arenas = [a for a in heap["arenas"] if a["kind"] != "mmap"]
    assert count("used") == len(truth["used"]) + len(truth["lost"]), count("used")
    assert count("tcache") == sum(1 for t in truth["freed"] if t["list"] == "tcache")
    assert count("fastbin") == mi["smblks"] and count(*BIN_STATES) == mi["ordblks"] - len(arenas)
    assert sum(1 for b in blocks.values() if b["mmapped"]) == mi["hblks"]
    # mallinfo's free bytes are top, fastbin and bin chunks, whole; its bytes
    # in use are the rest of system_mem: chunks in use and tcache'd, and in
    # each thread arena's first heap its heap_info and malloc_state.
    size = lambda *states: sum(b["usable"] + 8 for b in blocks.values()  # noqa: E731
                               if not b["mmapped"] and b["state"] in states)
    assert size("top", "fastbin", *BIN_STATES) == mi["fordblks"], (size("top", "fastbin", *BIN_STATES), mi)
    headers = mi["uordblks"] - size("used", "tcache", "allocator")
    assert 0 <= headers <= 0x900 * (len(arenas) - 1), (headers, mi)
    leaks = r.doc("leaks")
    classes = {}
    for rec in leaks["records"]:
        for s in rec["samples"]:
            classes[int(s, 16)] = rec["class"]
    definite = {a for a, c in classes.items() if c == "definitely lost"}
    possible = {a for a, c in classes.items() if c == "possibly lost"}
    assert definite == {int(t["addr"], 16) for t in truth["lost"]}, (definite, truth["lost"])
    # The thread's DTV, which only an interior pointer reaches, is known to be
    # one only where the nptl plugin finds it (libc's symbols: the host's
    # release with its libc); elsewhere it is possibly lost.
    dtv = {int(t["addr"], 16) for t in truth["used"] if t.get("what") == "DTV"}
    assert possible <= (set() if dtv_known else dtv), (possible, dtv)
    return {"used": count("used"), "free": len(blocks) - count("used", "allocator", "top"),
            "lost": len(definite)}


def read_all_ways(core, truth, dtv_known, extra=()):
    figures = []
    for symbols in ([], ["--no-libc-symbols"]):
        r = batch(["--core", core, *extra, *symbols], *COMMANDS, timeout=120)
        figures.append(check(truth, r, dtv_known))
    assert figures[0] == figures[1], figures
    return figures[0]


def releases():
    return sorted(os.path.basename(p)[:-len(".core.xz")] for p in glob.glob(os.path.join(CORES, "*.core.xz")))


def distro_of(core_name):
    """ubuntu-22.04 for the core ubuntu-22.04-2.35, None for a release built from source."""
    return next((d for d in fetch_distro_libc.DISTROS if make_cores.distro_core_name(d) == core_name), None)


def read_with_release_libc(core, truth, release):
    """The core with its own libc back at the path it names: the release is
    known from libc's version string."""
    evidence = batch(["--core", core], "info plugins", timeout=60).doc("info plugins")["in_use"]["evidence"]
    assert f"glibc {release} by libc's version string" in evidence, evidence
    return read_all_ways(core, truth, False)


def test_cores_of_built_releases():
    """Each committed core, without the release's files, and with them when
    the release is built here (GLIBC_WORK)."""
    assert len(releases()) >= 1, "no core in tests/glibc/cores: run tests/glibc/make_cores.py"
    work = tempfile.mkdtemp(prefix="strand-glibc-versions-")
    try:
        for version in releases():
            core = os.path.join(work, version + ".core")
            with lzma.open(os.path.join(CORES, version + ".core.xz")) as src, open(core, "wb") as dst:
                shutil.copyfileobj(src, dst)
            truth = read_truth(os.path.join(CORES, version + ".truth"))
            release = truth["ready"][0]["release"]
            assert not os.path.exists(make_cores.run_dir(version)), make_cores.run_dir(version)
            without = read_all_ways(core, truth, False)
            # info plugins says which release strand believes it sees, and why.
            evidence = batch(["--core", core], "info plugins", timeout=60).doc("info plugins")["in_use"]["evidence"]
            assert "main_arena found by structure" in evidence and release_in(evidence, release), evidence
            # Without the file notes (some dumpers write none): no mapping is
            # known to be libc's.
            bare = corefile.Core(open(core, "rb").read())
            bare.notes = [n for n in bare.notes if n.type != corefile.NT_FILE]
            with open(core + ".bare", "wb") as f:
                f.write(bare.pack())
            assert read_all_ways(core + ".bare", truth, False) == without
            # The host's libc.so.6 where the core's was: another file, whose
            # symbols and image name another main_arena.
            foreign = os.path.join(make_cores.run_dir(version), "lib")
            os.makedirs(foreign)
            try:
                shutil.copy("/usr/lib/x86_64-linux-gnu/libc.so.6", foreign)
                assert read_all_ways(core, truth, False) == without
                # Its first page is not the core's: its image is not read.
                r = batch(["--core", core, "--no-libc-symbols"], "heap", timeout=60)
                said = " ".join(r.doc("heap").get("warnings", [])) + r.doc("heap")["discovery"]
                assert "file image" not in said, said
            finally:
                shutil.rmtree(make_cores.run_dir(version))
            distro = distro_of(version)
            if distro and fetch_distro_libc.fetched(distro):
                make_cores.place_distro_libraries(distro)
                try:
                    assert read_with_release_libc(core, truth, release) == without
                finally:
                    shutil.rmtree(make_cores.run_dir(version))
            elif distro:
                print(f"{version}: not fetched here (tests/glibc/fetch_distro_libc.py {distro}): "
                      "the core was read without its own libc only")
            elif os.path.exists(os.path.join(make_cores.install_dir(version), "lib", "libc.so.6")):
                make_cores.place_libraries(version)
                try:
                    assert read_with_release_libc(core, truth, release) == without
                finally:
                    shutil.rmtree(make_cores.run_dir(version))
            else:
                print(f"glibc {version}: not built here (tests/glibc/build_releases.sh {version}): "
                      "the core was read without its own libc only")
            print(f"glibc {version}: {without}")
    finally:
        shutil.rmtree(work)


def main_arena_next(core, arena, value):
    """Write main_arena.next (at +0x870 from 2.27) in the core's memory."""
    write_core_memory(core, arena + 0x870, struct.pack("<Q", value))


def test_host_release_without_its_libc():
    """The fixture on the host's glibc, from a private copy of libc.so.6: its
    core with that copy, then without it (the arena found in the core's own
    memory); then with main_arena's ring cut, the thread arena found by its
    heap_info, and the cut reported."""
    work = tempfile.mkdtemp(prefix="strand-glibc-host-")
    try:
        exe = os.path.join(work, "layouts")
        subprocess.run(["gcc", "-g", "-O0", "-pthread", "-Wno-deprecated-declarations", "-o", exe,
                        os.path.join(GLIBC, "layouts.c")], check=True, timeout=120)
        private = os.path.join(work, "lib")
        os.mkdir(private)
        shutil.copy("/usr/lib/x86_64-linux-gnu/libc.so.6", private)
        truth_path, core = os.path.join(work, "truth"), os.path.join(work, "core")
        proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, STRAND_TRUTH=truth_path, LD_LIBRARY_PATH=private))
        try:
            assert proc.stdout.readline().strip() == "ready"
            assert batch(["-p", str(proc.pid)], f"gcore {core}", timeout=120).rc == 0
        finally:
            proc.kill()
            proc.wait()
        truth = read_truth(truth_path)
        with_libc = read_all_ways(core, truth, True, [exe])
        # Without libc's first page, no build-id is recorded: the copy is
        # used because its bytes are the core's, another file is not.
        path, start, _ = mapped(core, "libc.so.6")
        headerless = without_headers(core, ["libc.so.6"])
        with open(path, "rb") as f:
            f.seek(0x30000)
            text = list(struct.unpack("<2Q", f.read(16)))
        r = batch(["--core", headerless, exe], f"x/2gx 0x{start + 0x30000:x}", "heap", "bt", timeout=60)
        assert not refusals(r, path) and r.doc("x")["values"] == text, (r.stderr, r.doc("x"))
        assert "by libc's version string" in r.doc("heap")["discovery"], r.doc("heap")["discovery"]
        in_libc = [f["function"] for f in r.doc("bt")["frames"] if f["library"] == path]
        assert in_libc and "??" not in in_libc, r.doc("bt")["frames"]
        shutil.copy("/usr/lib/x86_64-linux-gnu/libm.so.6", path)
        r = batch(["--core", headerless, exe], f"x/2gx 0x{start + 0x30000:x}", timeout=60)
        refused = refusals(r, path)
        assert len(refused) == 1 and "records no build-id" in refused[0], r.stderr
        assert "error" in r.doc("x"), r.doc("x")
        shutil.rmtree(private)
        assert read_all_ways(core, truth, False, [exe]) == with_libc
        # Without libc's libthread_db descriptors, the threads' descriptors
        # by structure, in the layout of the host's release.
        r = batch(["--core", core, exe], "info plugins", "blocked", timeout=60)
        evidence = nptl_evidence(r)
        layout = "glibc 2.36 and later" if minor(truth["ready"][0]["release"]) >= 36 else "glibc 2.17-2.35"
        assert "by structure" in evidence and layout in evidence, evidence
        assert r.doc("blocked")["unjoined"] == [] and all(t["thread"]["joinable"] for t in r.doc("blocked")["threads"])
        r = batch(["--core", core, "--no-libc-symbols"], "heap", timeout=60)
        assert "a search of memory" in r.doc("heap")["discovery"], r.doc("heap")["discovery"]
        arena = int(r.doc("heap")["arenas"][0]["address"], 16)
        main_arena_next(core, arena, arena)
        r = batch(["--core", core], "heap", "heap check", timeout=60)
        problems = r.doc("heap check")["problems"]
        assert len(problems) == 1 and "is not on the ring of arenas from main_arena" in problems[0]["message"], \
            problems
        assert [a["kind"] for a in r.doc("heap")["arenas"]] == ["main", "thread", "mmap"], r.doc("heap")["arenas"]
        assert r.doc("heap")["total"]["used"]["blocks"] == with_libc["used"], r.doc("heap")["total"]
    finally:
        shutil.rmtree(work)


HOST_LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBRARIES = ("libc.so.6", "libpthread.so.0", "ld-linux-x86-64.so.2")


def unpack(version, work):
    core = os.path.join(work, version + ".core")
    with lzma.open(os.path.join(CORES, version + ".core.xz")) as src, open(core, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return core, read_truth(os.path.join(CORES, version + ".truth"))


def mapped(core, name):
    """The path the core records for a library and the range of its mappings."""
    spans = [(s, e, p) for s, e, p in corefile.Core(open(core, "rb").read()).files() if os.path.basename(p) == name]
    return spans[0][2], min(s for s, _, _ in spans), max(e for _, e, _ in spans)


def without_headers(core, names):
    """A copy of the core without the first page of each named library (older
    kernels and some dumpers): no build-id recorded for them."""
    c = corefile.Core(open(core, "rb").read())
    for name in names:
        i, _ = c.segment_at(mapped(core, name)[1])
        c.data[i] = b""
    out = core + ".headerless"
    with open(out, "wb") as f:
        f.write(c.pack())
    return out


def holds_compared_bytes(core, start, lib):
    """Whether the core holds a byte where lib, loaded at start, has
    read-only data (its read-only loads and PT_GNU_RELRO): what strand
    compares when the core records no build-id."""
    with open(lib, "rb") as f:
        elf = f.read(4096)
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    c = corefile.Core(open(core, "rb").read())
    held = [(c.phdrs[i].vaddr, c.phdrs[i].vaddr + len(data)) for i, data in c.data.items() if data]
    for i in range(phnum):
        kind, flags, _, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + 56 * i)
        if (kind == 1 and not flags & 2) or kind == 0x6474e552:  # PT_LOAD without PF_W, PT_GNU_RELRO
            if any(s < start + vaddr + filesz and start + vaddr < e for s, e in held):
                return True
    return False


def under(sysroot, path, source):
    os.makedirs(os.path.dirname(sysroot + path), exist_ok=True)
    shutil.copy(source, sysroot + path)


def host_symbol_within(size):
    """A data symbol of the host's libc at an offset below size: (name, offset)."""
    out = subprocess.run(["nm", "-D", "--defined-only", HOST_LIBC], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        value, kind, name = line.split()
        if kind in "RDBV" and 0x1000 <= int(value, 16) < size and not name.startswith("_"):  # not TLS
            return name.split("@")[0], int(value, 16)
    raise AssertionError("no data symbol in the host's libc")


def refusals(r, path):
    return [line for line in r.stderr.splitlines() if line.startswith("warning:") and path + ":" in line]


def minor(version):
    """35 for 2.35 and for the core ubuntu-22.04-2.35."""
    return int(version.rsplit("-", 1)[-1].split(".")[1])


def test_host_libc_is_never_taken_for_the_core():
    """The host's libc.so.6 where each committed core's was (under
    --sysroot): it is refused with one warning, and every command says what
    it says without it: no host symbol names the core's addresses, no host
    byte stands for the core's; the heap is the truth's. With the core's
    libc header page gone (no build-id recorded), it is refused by its bytes."""
    for version in releases():
        host_libc_refused(version)


def host_libc_refused(version):
    work = tempfile.mkdtemp(prefix="strand-host-libc-")
    try:
        core, truth = unpack(version, work)
        path, start, end = mapped(core, "libc.so.6")
        name, offset = host_symbol_within(end - start)
        addr = start + offset
        host = os.path.join(work, "host")
        under(host, path, HOST_LIBC)
        commands = ("bt", "info threads", f"info symbol 0x{addr:x}", f"x/4gx 0x{addr:x}", f"print &{name}",
                    f"x/2gx 0x{start + 0x30000:x}", "info sharedlibrary")
        headerless = without_headers(core, ["libc.so.6"])
        # Without the header page, the host's file is compared with the
        # core's pages where its read-only data would lie: a core may hold
        # none there (the Ubuntu and Debian 13 cores hold only libc's
        # writable pages then, where the host's file has none).
        bytes_why = ("bytes differ from the core's" if holds_compared_bytes(headerless, start, HOST_LIBC)
                     else "holds none of its pages to compare")
        for c, why in ((core, "build-id differs"), (headerless, bytes_why)):
            alone = batch(["--core", c], *commands, json_mode=False, timeout=60)
            r = batch(["--core", c, "--sysroot", host], *commands, json_mode=False, timeout=60)
            refused = refusals(r, path)
            assert len(refused) == 1 and why in refused[0], r.stderr
            assert name not in r.stdout and r.stdout == alone.stdout, (r.stdout, alone.stdout)
            assert read_all_ways(c, truth, False, ["--sysroot", host]) == read_all_ways(c, truth, False)
        # The files are looked for while info plugins prints its first line:
        # the warnings come after that line, not inside it.
        merged = subprocess.run([STRAND, "-batch", "-ex", "info plugins", core], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=60).stdout
        assert merged.count("warning:") >= 3 and all(line.startswith("warning:") for line in merged.splitlines()
                                                     if "warning:" in line), merged
    finally:
        shutil.rmtree(work)


def test_release_files_are_used_by_build_id_or_bytes():
    """Each release's own libraries (where built here) under --sysroot: used
    for its core (symbols, unwinding, the pages the core omits), matched by
    build-id, and by their bytes on a copy of the core without their header
    pages."""
    for version in releases():
        lib = os.path.join(make_cores.install_dir(version), "lib")
        if os.path.exists(os.path.join(lib, "libc.so.6")):
            release_files_used(version, lib)
        else:
            print(f"glibc {version}: not built here (tests/glibc/build_releases.sh {version}): "
                  "its files were not tried")


def release_libraries(core, lib, sysroot):
    """The release's libraries that the core maps, at its paths under sysroot."""
    names = [n for n in LIBRARIES if any(os.path.basename(p) == n for _, _, p in
                                         corefile.Core(open(core, "rb").read()).files())]
    for name in names:
        under(sysroot, mapped(core, name)[0], os.path.join(lib, name))
    return names


def release_files_used(version, lib):
    work = tempfile.mkdtemp(prefix="strand-release-files-")
    try:
        core, truth = unpack(version, work)
        release = os.path.join(work, "release")
        names = release_libraries(core, lib, release)
        path, start, _ = mapped(core, "libc.so.6")
        with open(os.path.join(lib, "libc.so.6"), "rb") as f:
            f.seek(0x30000)
            text = struct.unpack("<2Q", f.read(16))
        for c in (core, without_headers(core, names)):
            r = batch(["--core", c, "--sysroot", release], "heap", f"x/2gx 0x{start + 0x30000:x}", "bt",
                      timeout=60)
            assert r.rc == 0 and not [line for line in r.stderr.splitlines() if "/lib/" in line], r.stderr
            assert f"glibc {version} by libc's version string" in r.doc("heap")["discovery"], r.doc("heap")["discovery"]
            assert r.doc("x")["values"] == list(text), r.doc("x")
            # From 2.34 the function is __libc_start_main_impl (its DWARF name, which gdb shows too).
            entry = "__libc_start_main" if minor(version) < 34 else "__libc_start_main_impl"
            assert entry in [f.get("function") for f in r.doc("bt")["frames"]], r.doc("bt")
            read_all_ways(c, truth, False, ["--sysroot", release])
    finally:
        shutil.rmtree(work)


def nptl_evidence(r):
    return [p for p in r.doc("info plugins")["plugins"] if p["name"] == "glibc-nptl"][0]["evidence"] or ""


def check_threads(core, r):
    """blocked and info threads on the fixture's two threads (the initial one
    in pause, the other in pthread_cond_wait on a static condvar and mutex),
    against the core's own notes and mappings."""
    assert r.rc == 0, r.stderr
    c = corefile.Core(open(core, "rb").read())
    exe = [(s, e) for s, e, p in c.files() if p.endswith("/layouts")]
    in_exe = lambda a: any(s <= a < e for s, e in exe)  # noqa: E731
    (main_tid, _, main_tp), (tid, rsp, tp) = sorted(c.threads())
    threads = {t["tid"]: t for t in r.doc("info threads")["threads"]}
    futex = int(threads[tid]["syscall"]["args"][0], 16)
    blocked = r.doc("blocked")
    assert blocked["unjoined"] == [], blocked["unjoined"]
    waits = {t["tid"]: t for t in blocked["threads"]}
    assert waits[main_tid]["kind"] == "pause" and waits[main_tid]["thread"] == \
        {"start_routine": None, "joinable": True, "stack_size": 0}, waits[main_tid]
    w = waits[tid]
    assert w["kind"] == "condition variable" and w["decoded_by"] == "object", w
    cond, mutex = int(w["object"], 16), int(w["mutex"], 16)
    assert cond <= futex < cond + 48 and in_exe(cond) and in_exe(mutex) and w["detail"].endswith(", 1 waiter"), w
    # The descriptor sits at the top of the thread's stack block: the
    # stack's mapping and the guard page below it.
    _, seg = c.segment_at(rsp)
    assert seg.vaddr <= tp < seg.vaddr + seg.memsz, (hex(tp), hex(seg.vaddr))
    assert w["thread"]["joinable"] and w["thread"]["stack_size"] == seg.memsz + 4096, (w["thread"], seg.memsz)
    assert threads[tid]["wait"]["kind"] == "condition variable", threads[tid]["wait"]
    return blocked


def test_threads_of_each_release():
    """glibc-nptl on each committed core (before 2.34 nptl lives in
    libpthread.so.0): its descriptors and the condvar wait, from
    libthread_db's descriptors when the release's files are here, by
    structure at the thread pointers when not; the same answers either way,
    and info plugins says which and why."""
    for version in releases():
        threads_of(version)


def threads_of(version):
    work = tempfile.mkdtemp(prefix="strand-nptl-")
    try:
        core, _ = unpack(version, work)
        commands = ("info plugins", "blocked", "info threads")
        r = batch(["--core", core], *commands, timeout=60)
        evidence = nptl_evidence(r)
        layout = "glibc 2.17-2.35" if minor(version) <= 35 else "glibc 2.36 and later"
        assert "by structure" in evidence and "tid at +720" in evidence and layout in evidence, evidence
        without = check_threads(core, r)
        lib = os.path.join(make_cores.install_dir(version), "lib")
        if not os.path.exists(os.path.join(lib, "libc.so.6")):
            print(f"glibc {version}: not built here: its threads were read without libthread_db's descriptors only")
            return
        release = os.path.join(work, "release")
        release_libraries(core, lib, release)
        r = batch(["--core", core, "--sysroot", release], *commands, timeout=60)
        home = "libpthread (glibc before 2.34)" if minor(version) < 34 else "libc (glibc 2.34 and later)"
        assert home in nptl_evidence(r), nptl_evidence(r)
        assert check_threads(core, r) == without
    finally:
        shutil.rmtree(work)


EXITED = r"""
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *leave(void *arg) { return arg; }

static int tasks(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, leave, NULL))
		return 1;
	while (tasks() > 1) /* until it has exited: never joined */
		usleep(1000);
	printf("ready %#lx\n", (unsigned long)t);
	fflush(stdout);
	for (;;)
		pause();
}
"""


def test_exited_thread_found_without_libc():
    """The host's release: the initial thread alone alive, one created thread
    exited and never joined. Without libc's file (no libthread_db
    descriptors) and no created thread alive to lead to their list, its
    descriptor is still found (ld.so keeps that list beside the initial
    thread's from 2.34), as with libc."""
    work = tempfile.mkdtemp(prefix="strand-exited-")
    try:
        src, exe = os.path.join(work, "exited.c"), os.path.join(work, "exited")
        with open(src, "w") as f:
            f.write(EXITED)
        subprocess.run(["gcc", "-O1", "-pthread", "-o", exe, src], check=True, timeout=60)
        private = os.path.join(work, "lib")
        os.mkdir(private)
        shutil.copy(HOST_LIBC, private)
        core = os.path.join(work, "core")
        proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True, env=dict(os.environ, LD_LIBRARY_PATH=private))
        try:
            word, descriptor = proc.stdout.readline().split()
            assert word == "ready", word
            assert batch(["-p", str(proc.pid)], f"gcore {core}", timeout=60).rc == 0
        finally:
            proc.kill()
            proc.wait()
        with_libc = batch(["--core", core, exe], "blocked", timeout=60).doc("blocked")["unjoined"]
        assert [int(u["descriptor"], 16) for u in with_libc] == [int(descriptor, 16)], with_libc
        shutil.rmtree(private)
        r = batch(["--core", core, exe], "blocked", "info plugins", timeout=60)
        evidence = nptl_evidence(r)
        assert "by structure" in evidence, evidence
        if minor(os.confstr("CS_GNU_LIBC_VERSION").split()[1]) >= 34:
            assert "not found" not in evidence and r.doc("blocked")["unjoined"] == with_libc, r.doc("blocked")
        else:  # libpthread's list of created threads is not beside the initial thread's: said, not hidden
            assert "not found" in evidence and any("never joined" in w for w in r.doc("blocked")["warnings"])
    finally:
        shutil.rmtree(work)


def test_kernel_and_gdb_cores_of_distributions():
    """The fixture on each distribution's glibc fetched here (its real
    binaries, whose debug symbols are on no machine here), dumped by the
    kernel (also without ELF header pages) and by gdb's gcore: read with its
    libc at the path the core names and without it; the program's file is
    gone after the first read."""
    fetched = [d for d in fetch_distro_libc.DISTROS if fetch_distro_libc.fetched(d)]
    if not fetched:
        print("no distribution's glibc fetched here (tests/glibc/fetch_distro_libc.py): "
              "no kernel or gdb core of one was read")
        return
    for distro in fetched:
        name = make_cores.distro_core_name(distro)
        work = tempfile.mkdtemp(prefix="strand-glibc-kernel-")
        try:
            exe = make_cores.build_distro_fixture(distro, make_cores.place_distro_libraries(distro))
            gdbs = os.path.join(work, "gdb.core")
            with Fixture(exe, cwd=work, core_dumps=True) as fx:
                subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {gdbs}"],
                               capture_output=True, timeout=120, check=True)
                kernel = kernel_core(fx, work)
                truths = {kernel: read_truth(fx.truth_path), gdbs: read_truth(fx.truth_path)}
            # And one without ELF header pages: a second run of the fixture.
            os.mkdir(os.path.join(work, "noheaders"))
            with Fixture(exe, cwd=os.path.join(work, "noheaders"), core_dumps=True) as fx:
                with open(f"/proc/{fx.pid}/coredump_filter", "w") as f:
                    f.write("0x23")
                truths[kernel_core(fx, os.path.join(work, "noheaders"))] = read_truth(fx.truth_path)
            for core, truth in truths.items():
                with_libc = read_all_ways(core, truth, False)
                shutil.rmtree(make_cores.run_dir(name))
                assert read_all_ways(core, truth, False) == with_libc, core
                make_cores.place_distro_libraries(distro)
                print(f"{name}, {os.path.relpath(core, work)}: {with_libc}")
        finally:
            shutil.rmtree(make_cores.run_dir(name), ignore_errors=True)
            shutil.rmtree(work)


def test_kernel_core_without_elf_headers():
    """A kernel core written without ELF header pages (coredump_filter
    0x23, as older kernels and some dumpers write them), read where the
    program and its libc are not: no module is known, yet the program's
    .data is a root (a writable mapping of a file also mapped executable):
    the blocks held by its globals are reachable, only the lost are lost."""
    work = tempfile.mkdtemp(prefix="strand-glibc-noheaders-")
    try:
        exe = os.path.join(work, "layouts")
        subprocess.run(["gcc", "-g", "-O0", "-pthread", "-Wno-deprecated-declarations", "-o", exe,
                        os.path.join(GLIBC, "layouts.c")], check=True, timeout=120)
        private = os.path.join(work, "lib")
        os.mkdir(private)
        shutil.copy("/usr/lib/x86_64-linux-gnu/libc.so.6", private)
        with Fixture(exe, cwd=work, core_dumps=True, env={"LD_LIBRARY_PATH": private}) as fx:
            with open(f"/proc/{fx.pid}/coredump_filter", "w") as f:
                f.write("0x23")
            core = kernel_core(fx, work)
            truth = read_truth(fx.truth_path)
        os.unlink(exe)
        shutil.rmtree(private)
        figures = read_all_ways(core, truth, False)
        r = batch(["--core", core], f"why {truth['used'][-1]['addr']}", timeout=60)
        assert "globals of layouts" in r.doc("why")["root"]["label"], r.doc("why")
        print(f"kernel core without ELF headers: {figures}")
    finally:
        shutil.rmtree(work)
