#!/usr/bin/env python3
"""Seeds for the fuzz harnesses from the project's fixtures (make fuzz, make
fuzz-regressions), into OUTDIR:

  values.core        strand's gcore of the values fixture: the expr harness's session
  generated/core/    cores of the threads fixture made three ways (strand's gcore,
                     gdb's gcore, the kernel), shrunk to a few KiB a segment
  generated/heap/    heap harness inputs (heap_seed.py) from cores of the heap
                     fixture, the non-contiguous one and the damaged ones

  make_seeds.py OUTDIR [--values-only]
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from corefile import Core
from heap_seed import regions_of, seed, symbol_addresses
from helpers import TARGETS, Fixture, batch
from test_core import kernel_core


def gcore(fx, path):
    r = batch(["-p", str(fx.pid)], f"gcore {path}")
    assert r.rc == 0, r.stderr
    return path


def gdb_gcore(fx, path):
    subprocess.run(["gdb", "-q", "-batch", "-p", str(fx.pid), "-ex", f"gcore {path}"], capture_output=True,
                   timeout=120, check=True)
    return path


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def values_core(out):
    with Fixture("values") as fx:
        tmp = gcore(fx, out + ".tmp")
    os.replace(tmp, out)


def core_seeds(work, out):
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}, cwd=work, core_dumps=True) as fx:
        cores = {"strand": gcore(fx, os.path.join(work, "strand.core")),
                 "gdb": gdb_gcore(fx, os.path.join(work, "gdb.core")),
                 "kernel": kernel_core(fx, work)}
    for how, path in cores.items():
        with open(path, "rb") as f:
            write(os.path.join(out, f"threads-{how}.core"), Core(f.read()).shrink().pack())


def heap_seed_of(program, core, out):
    main_arena, mp = symbol_addresses(program, core)
    with open(core, "rb") as f:
        c = Core(f.read())
    write(out, seed(main_arena, mp, *regions_of(c, main_arena, mp)))


def heap_seeds(work, out):
    shapes = [("heap", [], {"FIXTURE_HEAP_BIG": "0"}), ("noncontig", [], {}),
              ("heapcorrupt", ["size"], {}), ("heapcorrupt", ["fastbin"], {}), ("heapcorrupt", ["tcache"], {})]
    for name, args, env in shapes:
        label = "-".join([name] + args)
        with Fixture(name, *args, env=env, timeout=30) as fx:
            core = gcore(fx, os.path.join(work, label + ".core"))
        heap_seed_of(os.path.join(TARGETS, name), core, os.path.join(out, label))
        os.unlink(core)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    values_core(os.path.join(outdir, "values.core"))
    if "--values-only" in sys.argv:
        return
    work = tempfile.mkdtemp(prefix="strand-seeds-")
    try:
        core_seeds(work, os.path.join(outdir, "generated", "core"))
        heap_seeds(work, os.path.join(outdir, "generated", "heap"))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
