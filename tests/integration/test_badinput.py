"""Bad input gets one clear line, never a hang, a crash or harm: expressions
nested deeper than any person writes, numbers that do not fit, counts that
make no sense, files that are not what they were given as, and a gcore that
cannot be written. Every strand here runs under a timeout, so a regression
fails instead of hanging the suite."""
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile

from helpers import STRAND, TARGETS, Fixture

VALUES = os.path.join(TARGETS, "values")
TIMEOUT = 30


def run(*args, input="", json_mode=False, stdin=None, cwd=None, preexec_fn=None):
    """strand under a timeout (a hang fails the test); a crash shows as a negative return code."""
    cmd = [STRAND] + (["--json"] if json_mode else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, input=None if stdin else input, stdin=stdin,
                          timeout=TIMEOUT, cwd=cwd, preexec_fn=preexec_fn)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[:2000]
    return lines[0]


def test_deep_expressions_are_an_error_not_a_crash():
    """Parentheses and unary operators nest up to a limit; past it, one line and the session goes on."""
    deep = 32000  # a line of 64,009 bytes, under the 64 KiB a line may have; the stack ran out near 14,000
    with Fixture("values") as fx:
        for expr in ["(" * deep + "g_counter" + ")" * deep, "*" * (2 * deep) + "g_counter",
                     "&(" * (deep * 2 // 3) + "g_counter" + ")" * (deep * 2 // 3)]:
            r = run("-p", str(fx.pid), input=f"print {expr}\nprint g_counter\n")
            assert r.returncode == 1, (r.returncode, r.stderr[-500:])
            assert one_line(r.stderr).startswith("Expression nested too deeply (more than 256 levels"), r.stderr
            assert r.stdout == "$1 = 12345\n", r.stdout
        # Nesting a person writes still works.
        r = run("-p", str(fx.pid), "-batch", "-ex", "print " + "(" * 200 + "*&g_counter" + ")" * 200)
        assert r.returncode == 0 and r.stdout == "$1 = 12345\n", (r.stdout, r.stderr)


def test_numbers_that_do_not_fit_64_bits():
    with Fixture("values") as fx:
        cases = [("print " + "9" * 60000, None, "Numeric constant too large."),
                 ("print 18446744073709551616", None, "Numeric constant too large."),
                 ("print 0x10000000000000000", None, "Numeric constant too large."),
                 ("print g_array[99999999999999999999]", None, "Numeric constant too large."),
                 ("print 08", None, 'Invalid number "08".'),
                 ("print 18446744073709551615", "$1 = 18446744073709551615", None),
                 ("print 0xffffffffffffffff", "$1 = 18446744073709551615", None),
                 ("print 9223372036854775807", "$1 = 9223372036854775807", None),
                 ("print g_array[3]", "$1 = 40", None),
                 # 17179869184G is 2^64 bytes: it wrapped to a minimum of 0
                 ("arrays --min-size 17179869184G", None, "usage: arrays [--min-size N]"),
                 ("down -9223372036854775808", None, "No frame at level 9223372036854775807."),
                 ("up 9223372036854775807", None, "No frame at level 9223372036854775807.")]
        for command, out, err in cases:
            r = run("-p", str(fx.pid), "-batch", "-ex", command)
            if err:
                assert r.returncode == 1 and one_line(r.stderr) == err and not r.stdout, (command[:60], r.stdout, r.stderr)
            else:
                assert r.returncode == 0 and r.stdout.strip() == out, (command[:60], r.stdout, r.stderr)


def gdb_words(pid, command):
    """(first address, [values]) of gdb's x output on process pid."""
    out = subprocess.run(["gdb", "-q", "-batch", "-p", str(pid), "-ex", command], capture_output=True, text=True,
                         timeout=120).stdout
    lines = [line for line in out.splitlines() if line.startswith("0x") and ":\t" in line]
    first = int(lines[0].split()[0].rstrip(":"), 16)
    return first, [int(v, 0) for line in lines for v in line.split(":\t", 1)[1].split()]


def test_x_negative_count_reads_backwards_as_gdb():
    """x/-5xg ADDR: the 5 giant words that end at ADDR, the addresses and values gdb prints."""
    with Fixture("values") as fx:
        for command in ["x/-5xg &g_counter", "x/-3xw &g_counter", "x/-xg &g_counter", "x/-2xb &g_counter"]:
            r = run("-p", str(fx.pid), "-batch", "-ex", command, json_mode=True)
            assert r.returncode == 0, (command, r.stderr)
            doc = [json.loads(line) for line in r.stdout.splitlines()][0]
            assert (int(doc["address"], 16), doc["values"]) == gdb_words(fx.pid, command), (command, doc)
        r = run("-p", str(fx.pid), "-batch", "-ex", "x/-5xg &g_counter", "-ex", "x/4xg &g_counter")
        start = int(r.stdout.splitlines()[3].split()[0].rstrip(":"), 16)  # the line x/4xg starts
        assert r.returncode == 0 and int(r.stdout.split()[0].rstrip(":"), 16) == start - 40, r.stdout
        cases = {"x/0xg &g_counter": None, "x/-0xg &g_counter": None, "x/0i main": None,
                 "x/-1xg 0": "Cannot access memory at address 0xfffffffffffffff8",
                 "x/99999999999999999999xg &g_counter":
                     "Count too large: /99999999999999999999 (x reads at most 1048576 units at a time).",
                 "x/2000000xb &g_counter": "Count too large: /2000000 (x reads at most 1048576 units at a time).",
                 "x/--2xg &g_counter": "Invalid format: /--2xg",
                 "x/-3s &g_name": "x/-COUNT reads units of memory backwards, not strings (s) or instructions (i).",
                 "x/-2i main": "x/-COUNT reads units of memory backwards, not strings (s) or instructions (i)."}
        for command, error in cases.items():
            r = run("-p", str(fx.pid), "-batch", "-ex", command)
            if error:
                assert r.returncode == 1 and one_line(r.stderr) == error and not r.stdout, (command, r.stdout,
                                                                                             r.stderr)
            else:
                assert r.returncode == 0 and not r.stdout and not r.stderr, (command, r.stdout, r.stderr)


def test_files_that_are_not_regular_are_refused_at_once():
    """A FIFO (which blocked the open forever), a directory, a device: as a core, a command file, a plugin or
    the program, each is one line naming the file, at once."""
    work = tempfile.mkdtemp(prefix="strand-badinput-")
    try:
        fifo = os.path.join(work, "fifo")
        os.mkfifo(fifo)
        with Fixture("values") as fx:
            pid = str(fx.pid)
            for path, kind in [(fifo, "a FIFO"), (work, "a directory"), ("/dev/zero", "a character device")]:
                for args in (["--core", path], [VALUES, path], [VALUES, path, "bt"]):
                    r = run(*args)
                    assert r.returncode == 2 and one_line(r.stderr) == f"strand: {path}: {kind}, not a core", \
                        (args, r.returncode, r.stderr)
                r = run("-p", pid, "-batch", "-x", path)
                assert r.returncode == 1 and one_line(r.stderr) == f"{path}: {kind}, not a command file.", r.stderr
                r = run("-p", pid, "-batch", "-ex", f"source {path}", "-ex", "print g_counter")
                assert r.returncode == 1 and one_line(r.stderr) == f"{path}: {kind}, not a command file.", r.stderr
                assert r.stdout == "$1 = 12345\n", r.stdout
                r = run("--plugin", path, "-batch")
                assert r.returncode == 2 and \
                    one_line(r.stderr) == f"strand: cannot load plugin {path}: {kind}, not a plugin", r.stderr
                r = run("-p", pid, "-e", path, "-batch")
                assert r.returncode == 2 and one_line(r.stderr) == f"strand: {path}: {kind}, not a program", \
                    r.stderr
    finally:
        shutil.rmtree(work)


def test_lines_are_bounded_and_binary_input_stops():
    """A line over 64 KiB is an error for that line; a NUL byte (a program, /dev/zero) stops the reading.
    Reading /dev/zero as commands once grew strand's memory until the timeout."""
    with Fixture("values") as fx:
        pid = str(fx.pid)
        r = run("-p", pid, input="print " + "9" * 131000 + "\nprint g_counter\n")
        assert r.returncode == 1 and one_line(r.stderr) == "stdin:1: line longer than 65536 bytes, not run", \
            r.stderr[:300]
        assert r.stdout == "$1 = 12345\n", r.stdout
        r = run("--json", "-p", pid, input="print " + "9" * 131000 + "\n")
        doc = json.loads(r.stdout)
        assert doc == {"command": "print " + "9" * 34 + "...",
                       "error": "stdin:1: line longer than 65536 bytes, not run"}, doc
        with open("/dev/zero", "rb") as zero:
            r = run("-p", pid, stdin=zero)
        assert r.returncode == 1 and \
            one_line(r.stderr) == "stdin:1: a NUL byte: binary data, not commands; stopped reading", r.stderr
        r = run("-p", pid, "-batch", "-x", STRAND, "-ex", "print g_counter")
        assert r.returncode == 1 and \
            one_line(r.stderr) == f"{STRAND}:1: a NUL byte: binary data, not commands; stopped reading", r.stderr
        assert r.stdout == "$1 = 12345\n", r.stdout


def test_a_word_after_the_program_is_a_core_with_its_own_error():
    """strand PROGRAM FILE: FILE is the core, and what is wrong with it is said (exit 2), never
    'Undefined command: "FILE"'."""
    work = tempfile.mkdtemp(prefix="strand-badinput-")
    try:
        core = os.path.join(work, "core")
        with Fixture("values") as fx:
            assert run("-p", str(fx.pid), "-batch", "-ex", f"gcore {core}").returncode == 0
        with open(core, "rb") as f:
            data = f.read()
        paths = {name: os.path.join(work, name) for name in ("truncated", "damaged", "text", "empty")}
        with open(paths["truncated"], "wb") as f:
            f.write(data[:3000])
        with open(paths["damaged"], "wb") as f:  # e_phoff points past the end of the file
            f.write(data[:32] + (1 << 40).to_bytes(8, "little") + data[40:])
        with open(paths["text"], "w") as f:
            f.write("heap\n")
        open(paths["empty"], "w").close()
        cases = {paths["truncated"]: " is truncated inside its notes: its threads cannot be read",
                 paths["damaged"]: ": cannot read program headers: invalid data",
                 paths["text"]: ": not an ELF file, so not a core",
                 paths["empty"]: ": empty file, not a core",
                 VALUES: ": an ELF shared object or PIE, not a core file",
                 work: ": a directory, not a core",
                 "/dev/zero": ": a character device, not a core",
                 os.path.join(work, "missing"): ": No such file or directory",
                 "core.4242": ": No such file or directory"}
        for path, message in cases.items():
            for args in ([VALUES, path], [VALUES, path, "bt"], [VALUES, path, "-batch", "-ex", "bt"]):
                r = run(*args, cwd=work)
                assert r.returncode == 2 and one_line(r.stderr) == f"strand: {path}{message}", \
                    (args, r.returncode, r.stderr)
        # What works keeps working: the core, then a command; a command that names a file here runs.
        r = run(VALUES, core, "print", "g_counter", cwd=work)
        assert r.returncode == 0 and r.stdout == "$1 = 12345\n", (r.stdout, r.stderr)
        os.rename(paths["text"], os.path.join(work, "heap"))
        r = run(VALUES, core, "heap", cwd=work, json_mode=True)
        assert r.returncode == 0 and json.loads(r.stdout)["command"] == "heap", (r.stdout, r.stderr)
        r = run(VALUES, "heap", cwd=work)
        assert r.returncode == 2 and one_line(r.stderr) == "strand: heap: not an ELF file, so not a core", r.stderr
        with Fixture("values") as fx:
            r = run("-p", str(fx.pid), "print", "g_counter", cwd=work)
            assert r.returncode == 0 and r.stdout == "$1 = 12345\n", (r.stdout, r.stderr)
            r = run("-p", str(fx.pid), "heap", cwd=work, json_mode=True)
            assert r.returncode == 0 and json.loads(r.stdout)["command"] == "heap", (r.stdout, r.stderr)
    finally:
        shutil.rmtree(work)


def test_process_ids_that_do_not_fit():
    """A PID that overflows once went on as "process -1"."""
    for args, word in [(["-p", "99999999999999999999"], "99999999999999999999"),
                       (["--pid=4294967297"], "4294967297"), (["-p", "0"], "0"),
                       ([VALUES, "99999999999999999999"], "99999999999999999999")]:
        r = run(*args)
        assert r.returncode == 2 and r.stderr.splitlines()[0] == f"strand: invalid process id: {word}", \
            (args, r.stderr)


def limit_file_size():
    """In the child: writes past 64 KiB fail with EFBIG, as on a full disk (and no SIGXFSZ kills it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def read_only_dir(path):
    """A directory nobody can write in: a read-only tmpfs as root (root writes anywhere else), mode 0555 for
    others. Returns a function that undoes it, or None when it cannot be made."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        return lambda: os.chmod(path, 0o755)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], capture_output=True).returncode:
        return None
    with open(os.path.join(path, "core"), "w") as f:
        f.write("previous core\n")
    subprocess.run(["mount", "-o", "remount,ro", path], check=True)
    return lambda: subprocess.run(["umount", path], check=True)


def test_gcore_never_harms_what_is_at_path():
    """gcore writes a file of its own beside PATH and renames it over PATH once whole: a failure leaves PATH
    as it was and nothing behind; a device or directory at PATH is refused (as root, gcore /dev/full once
    removed the device node)."""
    work = tempfile.mkdtemp(prefix="strand-badinput-")
    try:
        existing = os.path.join(work, "core")
        with Fixture("values") as fx:
            pid = str(fx.pid)
            if os.geteuid() == 0:
                before = set(os.listdir("/dev"))
                r = run("-p", pid, "-batch", "-ex", "gcore /dev/full")
                assert r.returncode == 1 and \
                    one_line(r.stderr) == "cannot write /dev/full: a character device, not a regular file", r.stderr
                assert stat.S_ISCHR(os.lstat("/dev/full").st_mode) and set(os.listdir("/dev")) == before
            r = run("-p", pid, "-batch", "-ex", f"gcore {work}")
            assert r.returncode == 1 and one_line(r.stderr) == f"cannot write {work}: a directory, not a regular file"
            # A full disk: the write fails part way.
            with open(existing, "w") as f:
                f.write("previous core\n")
            r = run("-p", pid, "-batch", "-ex", f"gcore {existing}", preexec_fn=limit_file_size)
            assert r.returncode == 1 and one_line(r.stderr) == f"cannot write {existing}: File too large", r.stderr
            assert open(existing).read() == "previous core\n" and os.listdir(work) == ["core"], os.listdir(work)
            # A read-only directory: the file cannot even be created.
            ro = os.path.join(work, "ro")
            os.mkdir(ro)
            undo = read_only_dir(ro)
            if undo:
                try:
                    if os.geteuid() != 0:
                        with open(os.path.join(ro, "core"), "w") as f:
                            f.write("previous core\n")
                    target = os.path.join(ro, "core")
                    r = run("-p", pid, "-batch", "-ex", f"gcore {target}")
                    assert r.returncode == 1 and one_line(r.stderr).startswith(f"cannot write {target}: "), r.stderr
                    assert open(target).read() == "previous core\n" and os.listdir(ro) == ["core"], os.listdir(ro)
                finally:
                    undo()
            # Success replaces the file whole, through a symbolic link, mode 0600 as the kernel's cores.
            link = os.path.join(work, "link")
            os.symlink(existing, link)
            r = run("-p", pid, "-batch", "-ex", f"gcore {link}")
            assert r.returncode == 0 and r.stdout == f"Saved corefile {link}\n", (r.stdout, r.stderr)
            assert os.path.islink(link) and sorted(os.listdir(work)) == ["core", "link", "ro"], os.listdir(work)
            assert stat.S_IMODE(os.stat(existing).st_mode) == 0o600
        r = run(VALUES, existing, "print", "g_counter")
        assert r.returncode == 0 and r.stdout == "$1 = 12345\n", (r.stdout, r.stderr)
        g = subprocess.run(["gdb", "-q", "-batch", VALUES, existing, "-ex", "print g_counter"], capture_output=True,
                           text=True, timeout=120)
        assert "$1 = 12345" in g.stdout, g.stdout + g.stderr
    finally:
        shutil.rmtree(work)


def test_thread_apply_repeats_and_nesting():
    """An ID given more times than there are threads overflowed the list of threads to run (ASan:
    heap-buffer-overflow); thread apply inside thread apply is bounded like any recursion."""
    with Fixture("values") as fx:
        r = run("-p", str(fx.pid), "-batch", "-ex", "thread apply" + " 1" * 200 + " print g_counter")
        assert r.returncode == 0 and r.stdout.count("= 12345\n") == 200, (r.returncode, r.stderr[-300:])
        r = run("-p", str(fx.pid), "-batch", "-ex", "thread apply all " * 8 + "print 1")
        assert r.returncode == 0 and r.stdout.count(" = 1\n") == 2 ** 8, r.stderr
        r = run("-p", str(fx.pid), "-batch", "-ex", "thread apply all " * 9 + "print 1")
        assert r.returncode == 1 and one_line(r.stderr) == "thread apply: nested too deeply (more than 8 levels)", \
            r.stderr
        assert " = 1\n" not in r.stdout
