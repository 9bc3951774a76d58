#!/usr/bin/env python3
"""Real distributions' glibc for the layout tests: the libc6 and libc6-dev
packages of a distribution release, downloaded from its archive and
extracted with dpkg-deb -x into $DISTRO_WORK/NAME/root (default
/tmp/strand-glibc-distro/ubuntu-22.04/root), so that make_cores.py can build
tests/glibc/layouts.c against them (headers, crt files, libc_nonshared, the
distribution's own loader and libc, with their build-ids) and write
tests/glibc/cores/NAME-2.NN.core.xz.

    tests/glibc/fetch_distro_libc.py [NAME...]   (default: every one below)

Each package is pinned by version and sha256. Its file name is taken from the
suite's Packages.gz; when the archive lists another version or the download
has another digest, the script says so and fails. Ubuntu's release pockets
never change; Debian's stable suite moves with its point releases (and drops
the old packages from the pool), so the pins of bullseye and trixie may need
updating. Debian 10 (buster) is only on archive.debian.org, which this
machine cannot reach."""
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import urllib.request

WORK = os.environ.get("DISTRO_WORK", "/tmp/strand-glibc-distro")
UBUNTU = "http://archive.ubuntu.com/ubuntu"
DEBIAN = "http://deb.debian.org/debian"

# name: (archive, suite, version, {package: sha256})
DISTROS = {
    "ubuntu-16.04": (UBUNTU, "xenial", "2.23-0ubuntu3", {
        "libc6": "68d69a0fb2dae7578a2a7054bc0cd5f0994d523f60d540bc6708ff3f2fb33e18",
        "libc6-dev": "16e68695491fa070e06112fa5647732bb83164c2c3c5732774c1472fcdd79ce2"}),
    "ubuntu-18.04": (UBUNTU, "bionic", "2.27-3ubuntu1", {
        "libc6": "1e1eb86fd646aa68f7144ec692b837b6b352d215880c6a2d0c92c19d36938427",
        "libc6-dev": "e426c70a940a7d0c5c95823a5fd01f26bd8bcb08d109df2f8c96c439da8dc440"}),
    "ubuntu-20.04": (UBUNTU, "focal", "2.31-0ubuntu9", {
        "libc6": "847a68e5f1ec2cd4e6fc191c5eaf0547445dd5c473c7617c068ba4441f63b292",
        "libc6-dev": "adb78f38fb00c76af4384be7a4c5f41da242e05bea6b0483e03b7e0c86738477"}),
    "ubuntu-22.04": (UBUNTU, "jammy", "2.35-0ubuntu3", {
        "libc6": "ea9a27e0ebdd0cfc9c750d94f8074f3a35d1f97dcc77ae04c370fb498a6b6db2",
        "libc6-dev": "cc37cab5c60bcfe4bbf289a8002f369949a41ed46e8b51a0503a001099370c56"}),
    "ubuntu-24.04": (UBUNTU, "noble", "2.39-0ubuntu8", {
        "libc6": "af36c7ac770770fe3d3c10e85d6bc538e76e57570ba7db7d397fb9f654783ef3",
        "libc6-dev": "1f03b79223d9cf1a6ed3a648f6942619dcb97b2884dba8fd12e262b6771e247a"}),
    "debian-11": (DEBIAN, "bullseye", "2.31-13+deb11u11", {
        "libc6": "05f7264da867b37f4c5ce49266b558ea1e81e05a9464f623152fca70f3550282",
        "libc6-dev": "e7f7b45d9c5cfcf37609f0b6efd3c645272c812144703af89dfd32218fcb0fd3"}),
    "debian-13": (DEBIAN, "trixie", "2.41-12+deb13u5", {
        "libc6": "b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf",
        "libc6-dev": "858f4d477cc39324f3c6582cdebcf38928fb385bb17b40518c77a7dccd296428"}),
}


def root_dir(name):
    """Where NAME's packages are extracted (usr/, lib/ or only usr/ on merged-/usr releases)."""
    return os.path.join(WORK, name, "root")


def lib_dirs(name):
    """The extracted directories that hold libc.so.6, crt1.o and the linker scripts."""
    root = root_dir(name)
    dirs = (os.path.join(root, "lib", "x86_64-linux-gnu"), os.path.join(root, "usr", "lib", "x86_64-linux-gnu"))
    return [d for d in dirs if os.path.isdir(d)]


def fetched(name):
    return os.path.exists(os.path.join(root_dir(name), ".fetched"))


def packages_entries(archive, suite):
    url = f"{archive}/dists/{suite}/main/binary-amd64/Packages.gz"
    with urllib.request.urlopen(url, timeout=120) as r:
        text = gzip.decompress(r.read()).decode()
    entries = {}
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M))
        if fields.get("Package") in ("libc6", "libc6-dev"):
            entries[fields["Package"]] = fields
    return entries


def download(url, path, sha256):
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as r, open(path, "wb") as out:
        while chunk := r.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise SystemExit(f"{url}: sha256 {digest.hexdigest()}, the script pins {sha256}: the archive changed")


def in_tree(root, path):
    """The extracted file that PATH (absolute, as on the distribution) names:
    on merged-/usr releases /lib/X is usr/lib/X, and a link to an absolute
    path (lib64/ld-linux-x86-64.so.2) is followed within the tree, never to
    the host's file."""
    for _ in range(16):
        candidate = next((p for p in (root + path, root + "/usr" + path) if os.path.lexists(p)), None)
        if candidate is None:
            raise SystemExit(f"{root}: {path} is not in the packages")
        if not os.path.islink(candidate):
            return candidate
        target = os.readlink(candidate)
        path = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), target))
    raise SystemExit(f"{root}: {path}: too many links")


def point_scripts_at_tree(name):
    """libc.so and libpthread.so are linker scripts naming /lib/... and
    /usr/lib/..., or links to an absolute path (libpthread.so on 2.31):
    make them name the extracted files instead."""
    root = root_dir(name)
    for d in lib_dirs(name):
        for entry in os.listdir(d):
            path = os.path.join(d, entry)
            if os.path.islink(path) and os.readlink(path).startswith("/"):
                target = in_tree(root, os.readlink(path))
                os.unlink(path)
                os.symlink(target, path)
                continue
            if not entry.endswith(".so") or os.path.islink(path) or os.path.getsize(path) > 4096:
                continue
            with open(path, "rb") as f:
                text = f.read()
            if b"GROUP" not in text:
                continue
            text = re.sub(rb"(?<=[\s(])/(?:usr/)?lib[^\s()]*", lambda m: in_tree(root, m.group(0).decode()).encode(),
                          text)
            with open(path, "wb") as f:
                f.write(text)


def fetch(name):
    archive, suite, version, pins = DISTROS[name]
    if fetched(name):
        print(f"{name}: already in {root_dir(name)}")
        return
    entries = packages_entries(archive, suite)
    shutil.rmtree(os.path.join(WORK, name), ignore_errors=True)
    os.makedirs(root_dir(name))
    for package, sha256 in pins.items():
        entry = entries.get(package)
        if not entry or entry["Version"] != version:
            raise SystemExit(f"{name}: {suite} lists {package} {entry and entry['Version']}, "
                             f"the script pins {version}: the archive changed")
        deb = os.path.join(WORK, name, os.path.basename(entry["Filename"]))
        download(f"{archive}/{entry['Filename']}", deb, sha256)
        subprocess.run(["dpkg-deb", "-x", deb, root_dir(name)], check=True)
        os.unlink(deb)
    point_scripts_at_tree(name)
    open(os.path.join(root_dir(name), ".fetched"), "w").close()
    print(f"{name}: glibc {version} from {suite} in {root_dir(name)}")


def main():
    names = sys.argv[1:] or list(DISTROS)
    for name in names:
        if name not in DISTROS:
            sys.exit(f"{name}: not a known distribution release ({', '.join(DISTROS)})")
        fetch(name)


if __name__ == "__main__":
    main()
