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
strand's own gcore of the running fixture.

A distribution's glibc that fetch_distro_libc.py extracted is named instead
of a version (tests/glibc/make_cores.py ubuntu-22.04): the fixture is built
against its headers, crt files and libc, runs with its loader and libc (their
real build-ids), and its core is NAME-2.NN.core.xz."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import fetch_distro_libc

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
    write_core(version, build_fixture(version, lib))


def distro_core_name(name):
    """ubuntu-22.04-2.35 for ubuntu-22.04, whose package is 2.35-0ubuntu3."""
    return name + "-" + fetch_distro_libc.DISTROS[name][2].split("-")[0]


DISTRO_LIBRARIES = ("libc.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2")


def place_distro_libraries(name):
    """Copy the distribution's loader and libraries to RUN_ROOT/NAME-2.NN/lib."""
    lib = os.path.join(run_dir(distro_core_name(name)), "lib")
    shutil.rmtree(run_dir(distro_core_name(name)), ignore_errors=True)
    os.makedirs(lib)
    root = fetch_distro_libc.root_dir(name)
    for library in DISTRO_LIBRARIES:
        path = fetch_distro_libc.in_tree(root, "/lib/x86_64-linux-gnu/" + library)
        shutil.copy(path, os.path.join(lib, library))
    return lib


def build_distro_fixture(name, lib):
    root = fetch_distro_libc.root_dir(name)
    exe = os.path.join(run_dir(distro_core_name(name)), "layouts")
    include = os.path.join(root, "usr", "include")
    libs = [a for d in fetch_distro_libc.lib_dirs(name) for a in ("-L", d)]
    subprocess.run(["gcc", "-g", "-O0", "-pthread", "-Wall", "-Wno-deprecated-declarations",
                    "-B", os.path.join(root, "usr", "lib", "x86_64-linux-gnu"),
                    "-I", os.path.join(include, "x86_64-linux-gnu"), "-I", include, *libs,
                    "-Wl,-rpath," + lib, "-Wl,--dynamic-linker," + os.path.join(lib, "ld-linux-x86-64.so.2"),
                    "-o", exe, os.path.join(HERE, "layouts.c")], check=True, timeout=120)
    return exe


def make_distro_core(name):
    if not fetch_distro_libc.fetched(name):
        sys.exit(f"{name}: not fetched: run tests/glibc/fetch_distro_libc.py {name} first")
    lib = place_distro_libraries(name)
    write_core(distro_core_name(name), build_distro_fixture(name, lib))


def write_core(version, exe):
    """Run EXE, gcore it when ready, write cores/VERSION.core.xz and .truth."""
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
                                      for p in glob.glob(os.path.join(WORK, "*", "install", "lib", "libc.so.6"))) + \
        [n for n in fetch_distro_libc.DISTROS if fetch_distro_libc.fetched(n)]
    if not versions:
        sys.exit(f"no glibc release installed in {WORK}: run tests/glibc/build_releases.sh "
                 "or tests/glibc/fetch_distro_libc.py first")
    for v in versions:
        if v in fetch_distro_libc.DISTROS:
            make_distro_core(v)
        else:
            make_core(v)


if __name__ == "__main__":
    main()
