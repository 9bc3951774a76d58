"""Shared by the integration tests: start fixture programs, run strand, read
its JSON Lines, compare with the ground truth the fixtures record."""
import json
import os
import queue
import resource
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# STRAND_BIN: another strand binary to test (make test-sanitize: build-san/strand).
STRAND = os.environ.get("STRAND_BIN") or os.path.join(ROOT, "strand")
TARGETS = os.path.join(ROOT, "build", "tests", "targets")


def allow_core_dumps():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Fixture:
    """A fixture program: started, waited for ("ready"), its truth read back, killed at the end."""

    def __init__(self, name, *args, env=None, ready=True, cwd=None, timeout=10, core_dumps=False):
        fd, self.truth_path = tempfile.mkstemp(prefix=f"truth-{os.path.basename(name)}-")
        os.close(fd)
        full_env = dict(os.environ, STRAND_TRUTH=self.truth_path)
        full_env.update(env or {})
        self.proc = subprocess.Popen([os.path.join(TARGETS, name), *args], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=full_env, text=True, cwd=cwd,
                                     preexec_fn=allow_core_dumps if core_dumps else None)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        if ready:
            self.expect("ready", timeout)

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    @property
    def pid(self):
        return self.proc.pid

    def expect(self, text, timeout=5):
        """Wait for a stdout line equal to text."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if line == text:
                return
        raise AssertionError(f"fixture did not print {text!r} within {timeout}s")

    def printed(self, text, wait=0.0):
        """Whether the fixture printed text (waiting up to wait seconds)."""
        deadline = time.time() + wait
        while True:
            try:
                if self.lines.get(timeout=0.01) == text:
                    return True
            except queue.Empty:
                if time.time() >= deadline:
                    return False

    def truth(self, kind=None):
        with open(self.truth_path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        return [r for r in records if kind is None or r.get("kind") == kind]

    def alive(self):
        return self.proc.poll() is None

    def state(self):
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def tracer(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
        return None

    def close(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        os.unlink(self.truth_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Result:
    def __init__(self, proc_result):
        self.rc = proc_result.returncode
        self.stdout = proc_result.stdout
        self.stderr = proc_result.stderr

    @property
    def docs(self):
        """The JSON documents strand printed, one per line."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def doc(self, command):
        """The first document of a command (matched by prefix of its command line)."""
        for d in self.docs:
            if d.get("command", "").startswith(command):
                return d
        raise AssertionError(f"no document for {command!r} in {self.stdout[:500]!r}")


def strand(*args, json_mode=True, input=None, timeout=120, env=None):
    cmd = [STRAND] + (["--json"] if json_mode else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return Result(r)


def batch(target_args, *commands, **kw):
    """strand TARGET -batch -ex C1 -ex C2 ..."""
    args = list(target_args) + ["-batch"]
    for c in commands:
        args += ["-ex", c]
    return strand(*args, **kw)


class Session:
    """strand reading commands from a pipe: holds the target for as long as the test wants."""

    def __init__(self, *args, json_mode=True):
        cmd = [STRAND] + (["--json"] if json_mode else []) + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def run(self, command, timeout=30):
        """Send one command and return its JSON document."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.lines.get(timeout=timeout))

    def quit(self, timeout=30):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        return self.proc.wait(timeout=timeout)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stderr(self):
        return self.proc.stderr.read()


def frames_of(bt_doc):
    return bt_doc["frames"]


def thread_results(apply_doc):
    """{tid: bt document} from a `thread apply all bt` document."""
    out = {}
    for t in apply_doc["threads"]:
        out[t["tid"]] = t["result"]
    return out


def wait_until(pred, timeout=5.0, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Program(Fixture):
    """A fixture that is not in build/tests/targets: a system program, or one
    built by the test. Started, waited for ("ready"), killed at the end."""

    def __init__(self, path, *args, env=None, ready=True):
        fd, self.truth_path = tempfile.mkstemp(prefix="truth-alloc-")
        os.close(fd)
        self.proc = subprocess.Popen([path, *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     env=dict(os.environ, STRAND_TRUTH=self.truth_path, **(env or {})))
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        if ready:
            self.expect("ready", 10)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_command(port, command, replies=1):
    """Send inline commands to redis on loopback; the first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        data = b""
        while data.count(b"\r\n") < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n")[0]


def redis_up(port):
    try:
        return redis_command(port, b"PING\r\n") == b"+PONG"
    except OSError:
        return False


def write_core_memory(core, addr, data):
    """Overwrite [addr, addr + len(data)) of the target's memory in an ELF core."""
    with open(core, "r+b") as f:
        head = f.read(64)
        phoff, phentsize, phnum = struct.unpack_from("<Q", head, 32)[0], *struct.unpack_from("<HH", head, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, offset, vaddr, _, filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type == 1 and vaddr <= addr and addr + len(data) <= vaddr + filesz:
                f.seek(offset + addr - vaddr)
                f.write(data)
                return
    raise AssertionError(f"0x{addr:x} is not in {core}")
