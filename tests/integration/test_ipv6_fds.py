"""fds prints IPv4 and IPv6 socket addresses as ss does: [::1]:port,
[::ffff:127.0.0.1]:port, * for the wildcard of a socket that also takes IPv4,
%dev for a socket bound to a device, * for port 0. Checked against the
fixture's own addresses and against `ss -tanp` on the same process."""
import re
import subprocess

from helpers import Fixture, batch


def strand_sockets(result):
    """{fd: (protocol, local, peer)} from the fds document."""
    out = {}
    for f in result.doc("fds")["fds"]:
        m = re.fullmatch(r"(tcp6?|udp6?) (\S+) -> (\S+)(?: \S+)?", f["detail"] or "")
        if f["type"] == "socket" and m:
            out[f["fd"]] = m.groups()
    return out


def ss_sockets(pid):
    """{fd: (local, peer)} from ss -tanp for the process."""
    out = {}
    text = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        fields = line.split()
        for fd in re.findall(rf"pid={pid},fd=(\d+)", line):
            out[int(fd)] = (fields[3], fields[4])
    return out


def test_ipv6_addresses_print_as_ss_prints_them():
    with Fixture("eventloop") as fx:
        r = batch(["-p", str(fx.pid)], "fds")
        assert r.rc == 0, r.stderr
        got = strand_sockets(r)
        truth = {t["what"]: t["fd"] for t in fx.truth("fd") if t["what"].startswith("tcp")}
        assert not [s for s in got.values() if re.search(r"[0-9A-F]{32}", s[1] + s[2])], got
        with open("/proc/sys/net/ipv6/bindv6only") as f:
            wildcard = "[::]" if f.read().strip() == "1" else "*"
        expected = {
            "tcp6_listen_any": (rf"{re.escape(wildcard)}:\d+", rf"{re.escape(wildcard)}:\*"),
            "tcp6_listen_loopback": (r"\[::1\]:\d+", r"\[::\]:\*"),
            "tcp6_listen_device": (r"\[::1\]%lo:\d+", r"\[::\]:\*"),
            "tcp6_client": (r"\[::1\]:\d+", r"\[::1\]:\d+"),
            "tcp6_accepted": (r"\[::1\]:\d+", r"\[::1\]:\d+"),
            "tcp6_accepted_mapped": (r"\[::ffff:127\.0\.0\.1\]:\d+", r"\[::ffff:127\.0\.0\.1\]:\d+"),
            "tcp4_client": (r"127\.0\.0\.1:\d+", r"127\.0\.0\.1:\d+"),
        }
        for what, fd in truth.items():
            protocol, local, peer = got[fd]
            assert protocol == ("tcp" if what.startswith("tcp4") else "tcp6"), (what, got[fd])
            assert re.fullmatch(expected[what][0], local) and re.fullmatch(expected[what][1], peer), (what, got[fd])
        # The two ends of the ::1 connection name each other.
        assert got[truth["tcp6_client"]][1:] == got[truth["tcp6_accepted"]][2:0:-1]
        ss = ss_sockets(fx.pid)  # iproute2 is one of the packages make deps installs
        assert set(ss) == set(truth.values()), (ss, truth)
        for fd, (local, peer) in ss.items():
            assert got[fd][1:] == (local, peer), (fd, got[fd], ss[fd])
