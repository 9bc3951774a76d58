"""The front ends: the interactive prompt on a real terminal (completion,
history, Ctrl-C), make install, and documentation that covers every command."""
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

from helpers import ROOT, STRAND, Fixture, strand


class Terminal:
    """strand on a pseudo-terminal, as a person would run it."""

    def __init__(self, *args, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(STRAND, [STRAND, *args], dict(os.environ, TERM="dumb", **(env or {})))
        self.buf = b""

    def read_until(self, pattern, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern.encode(), self.buf):
                out, self.buf = self.buf, b""
                return out.decode(errors="replace")
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    self.buf += os.read(self.fd, 65536)
                except OSError:
                    break
        raise AssertionError(f"no {pattern!r} in {self.buf[-2000:]!r}")

    def send(self, data):
        os.write(self.fd, data.encode())

    def kill(self):
        """Make sure strand is gone (a failed test must not leave the fixture traced)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def wait(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536)
            except OSError:
                pass
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("strand did not exit")


def test_prompt_completion_history_and_ctrl_c():
    home = tempfile.mkdtemp(prefix="strand-home-")
    try:
        with Fixture("threads", env={"FIXTURE_NO_EPOLL": "1"}) as fx:
            t = Terminal("-q", "-p", str(fx.pid), env={"HOME": home})
            try:
                converse(t, fx)
            finally:
                t.kill()
            assert wait_detached(fx)
            with open(os.path.join(home, ".strand_history")) as f:
                assert "info threads" in f.read()
    finally:
        shutil.rmtree(home)


def converse(t, fx):
    """A person at the prompt: completion, a command, Ctrl-C, repeat, quit."""
    t.read_until(r"\(strand\) ")
    t.send("info thr\t")           # completes the subcommand
    t.send("\n")
    out = t.read_until(r"\(strand\) ")
    assert "info threads" in out and f"(LWP {fx.pid})" in out, out
    t.send("thread apply all b")
    t.send("\x03")                  # Ctrl-C abandons the line, not the session
    t.read_until(r"\(strand\) ")
    assert fx.tracer() != 0         # still attached
    t.send("\n")                    # an empty line repeats the last command
    # Ctrl-C may leave a second prompt behind the first: wait for the output itself.
    t.read_until(rf"\(LWP {fx.pid}\)[\s\S]*\(strand\) ")
    t.send("quit\n")
    assert t.wait() == 0


def wait_detached(fx, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fx.tracer() == 0:
            return True
        time.sleep(0.02)
    return False


def test_make_install_honours_prefix_and_destdir():
    dest = tempfile.mkdtemp(prefix="strand-install-")
    try:
        r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/opt/strand"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        binary = os.path.join(dest, "opt/strand/bin/strand")
        assert os.access(binary, os.X_OK)
        assert os.path.isfile(os.path.join(dest, "opt/strand/share/man/man1/strand.1"))
        v = subprocess.run([binary, "--version"], capture_output=True, text=True)
        assert v.returncode == 0 and "strand" in v.stdout
    finally:
        shutil.rmtree(dest)


def test_every_command_is_documented():
    commands = [c["name"] for c in strand("-batch", "-ex", "help").doc("help")["commands"]]
    assert len(commands) >= 20
    docs = {name: open(os.path.join(ROOT, "docs", name)).read() for name in ("commands.md", "json.md", "strand.1")}
    for name in commands:
        assert f"`{name}" in docs["commands.md"], f"{name} missing from docs/commands.md"
        assert f"`{name}" in docs["json.md"], f"{name} missing from docs/json.md"
        first = name.split()[0]
        assert f".B {first}" in docs["strand.1"] or f"\\fB{first}" in docs["strand.1"], \
            f"{name} missing from docs/strand.1"


def test_ctrl_c_stops_the_running_command_not_the_session():
    home = tempfile.mkdtemp(prefix="strand-home-")
    try:
        with Fixture("many", timeout=60) as fx:
            t = Terminal("-q", "-p", str(fx.pid), env={"HOME": home})
            try:
                t.read_until(r"\(strand\) ")
                t.send("thread apply all bt full\n")
                time.sleep(0.3)
                t.send("\x03")
                out = t.read_until(r"Quit\r?\n(.|\n)*\(strand\) ", timeout=30)
                shown = out.count("\nThread ")
                assert 0 < shown < 1000, shown
                assert fx.tracer() != 0
                t.send("thread 1\n")
                assert "[Switching to thread 1" in t.read_until(r"\(strand\) ")
                t.send("quit\n")
                assert t.wait() == 0
            finally:
                t.kill()
            assert wait_detached(fx)
    finally:
        shutil.rmtree(home)
