"""A core's library that has no build-id (linked with --build-id=none): the
file at the path the core records is used only when its bytes are the
core's; another build there gives no symbol, no byte and one warning, though
libdwfl opens it by that path by itself."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import Program, batch

LIBRARY = r"""
int noid_counter = 1;
const char noid_name[] = NAME;
EXTRA
int noid_function(int x) { return x * FACTOR + noid_counter + noid_name[0]; }
"""

PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
int noid_function(int x);
volatile int sink;
int main(void)
{
	sink = noid_function(2);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
"""


def build_library(work, out, name, factor, extra=""):
    src = os.path.join(work, "noid.c")
    with open(src, "w") as f:
        f.write(LIBRARY.replace("NAME", f'"{name}"').replace("FACTOR", str(factor)).replace("EXTRA", extra))
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wl,--build-id=none", "-o", out, src], check=True, timeout=60)


def warnings_about(r, path):
    return [line for line in r.stderr.splitlines() if line.startswith("warning:") and path in line]


def test_library_without_build_id_is_matched_by_its_bytes():
    work = tempfile.mkdtemp(prefix="strand-noid-")
    try:
        lib = os.path.join(work, "lib")
        os.mkdir(lib)
        library = os.path.join(lib, "libnoid.so")
        build_library(work, library, "first", 3)
        exe = os.path.join(work, "prog")
        src = os.path.join(work, "prog.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        subprocess.run(["gcc", "-O1", "-o", exe, src, "-L", lib, "-lnoid", "-Wl,-rpath," + lib], check=True,
                       timeout=60)
        assert "Build ID" not in subprocess.run(["readelf", "-n", library], capture_output=True, text=True).stdout
        core = os.path.join(work, "core")
        with Program(exe) as p:
            assert batch(["-p", str(p.pid)], f"gcore {core}", timeout=60).rc == 0
        commands = ("print &noid_function", "info sharedlibrary")
        same = batch(["--core", core, exe], *commands, timeout=60)
        assert same.rc == 0 and not warnings_about(same, library), same.stderr
        function = int(re.search(r"0x[0-9a-f]+", same.doc("print")["value"]).group(0), 16)
        r = batch(["--core", core, exe], f"info symbol {function:#x}", timeout=60)
        assert r.doc("info symbol")["symbol"] == "noid_function", r.doc("info symbol")
        # Another build at the same path: other code before noid_function.
        build_library(work, library, "second", 5, "int noid_other(int x) { return x * x * x + 7; }")
        r = batch(["--core", core, exe], *commands, f"info symbol {function:#x}", timeout=60)
        refused = warnings_about(r, library)
        assert len(refused) == 1 and "records no build-id" in refused[0], r.stderr
        assert "error" in r.doc("print"), r.doc("print")
        assert r.doc("info symbol").get("symbol") is None, r.doc("info symbol")
        lib_row = [m for m in r.doc("info sharedlibrary")["modules"] if m["path"].endswith("libnoid.so")]
        assert lib_row and not lib_row[0]["symbols"], lib_row
    finally:
        shutil.rmtree(work)
