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

from helpers import ROOT, Fixture, batch, write_core_memory
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
        shutil.rmtree(private)
        assert read_all_ways(core, truth, False, [exe]) == with_libc
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
