#!/usr/bin/env python3
"""Cores of tests/glibc/layouts.c run against each glibc release that
build_releases.sh installed, with the truth the fixture records, written to
tests/glibc/cores/2.NN.core.xz and 2.NN.truth (tests/integration/
test_glibc_versions.py reads them).

    tests/glibc/make_cores.py [VERSION...]   (default: every release installed)

The fixture is built against the release (its headers, crt files, libc) and
runs from RUN_ROOT/2.NN (a copy of the release's libraries, its own loader
named by PT_INTERP), so that the core names files that are on no machine
once that copy is gone: the tests put it back only to read the core "with
the release's libc". The libraries are copied as plain files, so the core
names libc.so.6 even for releases that install libc-2.NN.so: without the
files, the release is known only from the structure of memory. The core is
strand's own gcore of the running fixture."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORK = os.environ.get("GLIBC_WORK", "/tmp/strand-glibc")
RUN_ROOT = "/tmp/strand-glibc-run"
CORES = os.path.join(HERE, "cores")
STRAND = os.path.join(ROOT, "strand")


def install_dir(version):
    return os.path.join(WORK, version, "install")


def run_dir(version):
    return os.path.join(RUN_ROOT, version)


def place_libraries(version):
    """Copy the release's shared libraries to RUN_ROOT/VERSION/lib."""
    lib = os.path.join(run_dir(version), "lib")
    shutil.rmtree(run_dir(version), ignore_errors=True)
    os.makedirs(lib)
    for path in glob.glob(os.path.join(install_dir(version), "lib", "*.so*")):
        if os.path.isfile(path) and not path.endswith(".a"):
            shutil.copy(path, lib)
    return lib


def build_fixture(version, lib):
    prefix = install_dir(version)
    exe = os.path.join(run_dir(version), "layouts")
    subprocess.run(["gcc", "-g", "-O0", "-pthread", "-Wall", "-Wno-deprecated-declarations",
                    "-B", os.path.join(prefix, "lib"), "-I", os.path.join(prefix, "include"),
                    "-L", os.path.join(prefix, "lib"), "-Wl,-rpath," + lib,
                    "-Wl,--dynamic-linker," + os.path.join(lib, "ld-linux-x86-64.so.2"),
                    "-o", exe, os.path.join(HERE, "layouts.c")], check=True, timeout=120)
    return exe


def make_core(version):
    lib = place_libraries(version)
    exe = build_fixture(version, lib)
    work = tempfile.mkdtemp(prefix="strand-glibc-core-")
    truth = os.path.join(work, "truth")
    core = os.path.join(work, "core")
    proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True, env=dict(os.environ, STRAND_TRUTH=truth))
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"glibc {version}: the fixture did not start")
        subprocess.run([STRAND, "-p", str(proc.pid), "-batch", "-ex", f"gcore {core}"], check=True, timeout=120,
                       capture_output=True)
    finally:
        proc.kill()
        proc.wait()
    os.makedirs(CORES, exist_ok=True)
    with open(os.path.join(CORES, version + ".core.xz"), "wb") as out:
        subprocess.run(["xz", "-9", "-T1", "-c", core], stdout=out, check=True)
    shutil.copy(truth, os.path.join(CORES, version + ".truth"))
    shutil.rmtree(work)
    shutil.rmtree(run_dir(version))
    print(f"glibc {version}: {os.path.getsize(os.path.join(CORES, version + '.core.xz'))} bytes of core")


def main():
    versions = sys.argv[1:] or sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                                      for p in glob.glob(os.path.join(WORK, "*", "install", "lib", "libc.so.6")))
    if not versions:
        sys.exit(f"no glibc release installed in {WORK}: run tests/glibc/build_releases.sh first")
    for v in versions:
        make_core(v)


if __name__ == "__main__":
    main()
