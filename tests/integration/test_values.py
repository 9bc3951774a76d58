"""DWARF values: bt full, info args/locals and print against gdb on the same
process, on live targets and on strand's cores of them; inline frames as gdb
shows them."""
import os
import re
import shutil
import subprocess
import tempfile

from helpers import TARGETS, Fixture, batch, thread_results

VALUES = os.path.join(TARGETS, "values")
EXPRESSIONS = ["g_node", "&g_node", "g_node.label", "g_array", "g_array[2]", "g_counter", "g_name",
               "g_ratio", "g_color", "head->label", "*head", "local", "local.at.y", "nums[1]", "buf", "who",
               "*g_node.next"]


def gdb(pid, *commands):
    args = ["gdb", "-q", "-batch", "-p", str(pid)]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    return r.stdout


def holder(fx):
    return next(p for p in fx.truth("park"))


def gdb_thread_number(pid, tid):
    out = gdb(pid, "info threads")
    return re.search(rf"^\*?\s+(\d+)\s+Thread \S+ \(LWP {tid}\)", out, re.M).group(1)


def gdb_frame_locals(text, function):
    """{name: value} printed under the frame of function in gdb's bt full."""
    values, inside = {}, False
    for line in text.splitlines():
        if line.startswith("#"):
            inside = f" {function} (" in line
        elif inside and line.startswith("        ") and " = " in line:
            name, value = line.strip().split(" = ", 1)
            values[name] = value
    return values


def strand_frame_locals(bt_doc, function):
    frame = next(f for f in bt_doc["frames"] if f["function"] == function)
    return {v["name"]: v["value"] for v in frame["locals"]}, frame


def gdb_prints(text):
    return [line.split(" = ", 1)[1] if re.match(r"^\$\d+ = ", line) else line
            for line in text.splitlines() if re.match(r"^\$\d+ = ", line) or line.startswith("Cannot access")]


def strand_prints(result):
    out = []
    for d in result.docs:
        if d["command"].startswith("print"):
            out.append(d["value"] if not d.get("error") else d["error"])
    return out


def check_against_gdb(target_args, fx, gdb_text_bt, gdb_print_values):
    park = holder(fx)
    r = batch(target_args, f"thread apply all bt full", *(["thread 2", "frame 3"] + [f"print {e}" for e in EXPRESSIONS]))
    assert r.rc in (0, 1), r.stderr
    bt = thread_results(r.doc("thread apply all bt full"))[park["tid"]]
    got, frame = strand_frame_locals(bt, "hold_values")
    want = gdb_frame_locals(gdb_text_bt, "hold_values")
    assert len(want) >= 14 and got == want, (got, want)
    assert {a["name"]: a["value"] for a in frame["args"]}["depth"] == "3"
    assert strand_prints(r) == gdb_print_values, (strand_prints(r), gdb_print_values)


def test_values_match_gdb_live_and_core():
    work = tempfile.mkdtemp(prefix="strand-values-")
    try:
        with Fixture("values") as fx:
            park = holder(fx)
            n = gdb_thread_number(fx.pid, park["tid"])
            assert n == "2"
            gdb_bt = gdb(fx.pid, f"thread {n}", "bt full")
            gdb_values = gdb_prints(gdb(fx.pid, f"thread {n}", "frame 3", *[f"print {e}" for e in EXPRESSIONS]))
            assert len(gdb_values) == len(EXPRESSIONS), gdb_values
            check_against_gdb(["-p", str(fx.pid)], fx, gdb_bt, gdb_values)
            core = os.path.join(work, "core")
            assert batch(["-p", str(fx.pid)], f"gcore {core}").rc == 0
            check_against_gdb([VALUES, core], fx, gdb_bt, gdb_values)
    finally:
        shutil.rmtree(work)


def test_info_locals_args_and_errors():
    with Fixture("values") as fx:
        r = batch(["-p", str(fx.pid)], "thread 2", "frame 3", "info args", "info locals", "print nosuch",
                  "print g_counter.x", "print *g_counter", "frame 0", "info locals", json_mode=False)
        assert "depth = 3\nwho = 0x" in r.stdout, r.stdout
        assert "\ni = -42\n" in r.stdout and "nums = {7, 8, 9}" in r.stdout
        assert 'No symbol "nosuch" in current context.' in r.stderr + r.stdout
        assert "There is no member named x." in r.stderr + r.stdout
        assert "Attempt to take contents of a non-pointer value." in r.stderr + r.stdout
        assert r.rc == 1


def test_inline_frames_like_gdb():
    with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
        locker = next(p["tid"] for p in fx.truth("park") if p["what"] == "mutex")
        r = batch(["-p", str(fx.pid)], "thread apply all bt")
        frames = thread_results(r.doc("thread apply all bt"))[locker]["frames"]
        n = gdb_thread_number(fx.pid, locker)
        text = gdb(fx.pid, f"thread {n}", "bt")
        # "thread N" prints frame #0 once more: keep one line per level.
        gdb_frames = list({l.split()[0]: l for l in text.splitlines() if re.match(r"^#\d+ ", l)}.values())
        assert len(frames) == len(gdb_frames), (frames, gdb_frames)
        inlined = [f["function"] for f in frames if f["inlined"]]
        assert inlined == ["futex_wait", "lll_mutex_lock_optimized"], inlined
        for f, g in zip(frames, gdb_frames):
            if f["inlined"]:
                assert f" {f['function']} (" in g, (f, g)
            assert f"{f['file']}:{f['line']}" in g, (f, g)
            # The args gdb shows, without its "futex=futex@entry=" annotations.
            gdb_args = g.split(" (", 1)[1].rsplit(") at ", 1)[0]
            gdb_args = re.sub(r"(\w+)=\1@entry=", r"\1=", gdb_args)
            ours = ", ".join(f"{a['name']}={a['value']}" for a in f["args"])
            assert gdb_args == ours, (ours, g)


def test_debug_info_from_debuginfod():
    """A program stripped of its DWARF: with DEBUGINFOD_URLS pointing at a
    debuginfod that serves the split-off debug file, frames get their source
    lines and locals back; without it, strand shows addresses and modules."""
    import socket
    import subprocess
    import time
    work = tempfile.mkdtemp(prefix="strand-debuginfod-")
    server = None
    try:
        program, served = os.path.join(work, "values"), os.path.join(work, "served")
        os.makedirs(served)
        subprocess.run(["objcopy", "--only-keep-debug", VALUES, os.path.join(served, "values.debug")], check=True)
        subprocess.run(["objcopy", "--strip-debug", VALUES, program], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(["debuginfod", "-p", str(port), "-d", os.path.join(work, "db.sqlite"), "-F", served],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        build_id = subprocess.run(["eu-readelf", "-n", program], capture_output=True, text=True).stdout
        build_id = build_id.split("Build ID:")[1].split()[0]
        deadline = time.time() + 60
        # Wait until the server has indexed the file (a miss would be cached by the client).
        for attempt in range(600):
            probe = subprocess.run(["debuginfod-find", "debuginfo", build_id], capture_output=True,
                                   env=dict(os.environ, DEBUGINFOD_URLS=url,
                                            DEBUGINFOD_CACHE_PATH=os.path.join(work, f"probe{attempt}")))
            if probe.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert probe.returncode == 0, server.stderr
        env = {"DEBUGINFOD_URLS": url, "DEBUGINFOD_CACHE_PATH": os.path.join(work, "cache")}
        proc = subprocess.Popen([program], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=dict(os.environ, STRAND_TRUTH="/dev/null"))
        try:
            assert proc.stdout.readline().strip() == "ready"
            bare = batch(["-p", str(proc.pid)], "thread 2", "bt", env={"DEBUGINFOD_URLS": ""})
            frame = next(f for f in bare.doc("bt")["frames"] if f["module"] and f["module"].endswith("/values"))
            assert frame["file"] is None, frame
            r = batch(["-p", str(proc.pid)], "thread 2", "bt", env=env)
            frames = r.doc("bt")["frames"]
            named = [f for f in frames if f["function"] == "hold_values"]
            assert named and named[0]["file"].endswith("values.c") and named[0]["args"], frames
        finally:
            proc.kill()
            proc.wait()
    finally:
        if server:
            server.kill()
            server.wait()
        shutil.rmtree(work)


BSS = r"""
#include <stdio.h>
#include <unistd.h>
static char big[1 << 20];
int main(void)
{
	big[5] = 1;
	printf("%p\n", (void *)&big[40960]);
	fflush(stdout);
	pause();
}
"""


def test_bss_past_the_files_pages_is_named_live_as_on_a_core():
    """/proc/PID/maps ends a module at its file's last page; the rest of its
    .bss is an anonymous mapping after it. A global there is named live as
    on the process's core (and as gdb names it), not "No symbol matches"."""
    work = tempfile.mkdtemp(prefix="strand-bss-")
    try:
        src, exe = os.path.join(work, "bss.c"), os.path.join(work, "bss")
        with open(src, "w") as f:
            f.write(BSS)
        subprocess.run(["gcc", "-g", "-O0", "-o", exe, src], check=True, timeout=60)
        proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
        try:
            addr = proc.stdout.readline().strip()
            core = os.path.join(work, "core")
            live = batch(["-p", str(proc.pid)], f"info symbol {addr}", f"gcore {core}", json_mode=False)
            named = gdb(proc.pid, f"info symbol {addr}")
        finally:
            proc.kill()
            proc.wait()
        on_core = batch([exe, core], f"info symbol {addr}", json_mode=False)
        assert "big + 40960 in section .bss" in live.stdout, live.stdout
        assert "big + 40960 in section .bss" in on_core.stdout and "big + 40960 in section .bss" in named, \
            (on_core.stdout, named)
    finally:
        shutil.rmtree(work)
