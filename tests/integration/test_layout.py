"""The layout: includes run down debugger/'s layers without a circle
(tests/check_layers.py, also `make check-layers`), and the files the
documentation names exist."""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from helpers import ROOT

CHECK = os.path.join(ROOT, "tests", "check_layers.py")


def check(root):
    return subprocess.run(["python3", CHECK, root], capture_output=True, text=True, timeout=60)


def test_includes_run_down_the_layers():
    r = check(ROOT)
    assert r.returncode == 0, r.stdout
    assert "every one downward, no circle" in r.stdout


def edit(root, path, old, new):
    p = os.path.join(root, path)
    text = open(p).read()
    assert old in text, (path, old)
    open(p, "w").write(text.replace(old, new, 1))


def test_an_upward_include_a_plugin_reaching_in_and_a_circle_are_each_caught():
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("debugger", "commands", "plugins"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d))
        edit(tmp, "debugger/target/live.c", '#include "live.h"\n', '#include "live.h"\n#include "analysis/heap.h"\n')
        edit(tmp, "plugins/glibc_malloc.c", '#include "strand_plugin.h"\n',
             '#include "strand_plugin.h"\n#include "../debugger/base/util.h"\n')
        edit(tmp, "debugger/analysis/heap.c", '#include "heap.h"\n', '#include "heap.h"\n#include "reach.h"\n')
        r = check(tmp)
    assert r.returncode == 1
    assert ('debugger/target/live.c: #include "analysis/heap.h": target may not include analysis' in r.stdout), r.stdout
    assert 'plugins/glibc_malloc.c: #include "../debugger/base/util.h": plugin may not include base' in r.stdout
    assert "include circle between debugger/analysis/heap, debugger/analysis/reach" in r.stdout
    assert r.stdout.splitlines()[-1] == "check_layers: 3 problems"


def test_every_source_path_the_documentation_names_exists():
    docs = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "docs", "strand.1")]
    docs += glob.glob(os.path.join(ROOT, "docs", "*.md")) + glob.glob(os.path.join(ROOT, "debugger", "**", "*.md"),
                                                                        recursive=True)
    missing = []
    for doc in docs:
        base = os.path.dirname(doc)
        for path in re.findall(r"\b((?:debugger|commands|plugins)/[\w./-]*\w)", open(doc).read()):
            if not os.path.exists(os.path.join(ROOT, path)) and not os.path.exists(os.path.join(base, path)):
                missing.append(f"{os.path.relpath(doc, ROOT)}: {path}")
    assert not missing, missing


def test_fix_respells_includes_written_before_the_move():
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("debugger", "commands", "plugins"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d))
        edit(tmp, "debugger/target/live.c", '#include "base/util.h"\n', '#include "util.h"\n')
        edit(tmp, "commands/leaks.c", '#include "analysis/reach.h"\n', '#include "../debugger/reach.h"\n')
        r = check(tmp)
        assert r.returncode == 1
        assert 'debugger/target/live.c: #include "util.h" names no file' in r.stdout, r.stdout
        r = subprocess.run(["python3", CHECK, "--fix", tmp], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout
        assert 'commands/leaks.c: #include "../debugger/reach.h" -> "analysis/reach.h"' in r.stdout
        assert '#include "base/util.h"\n' in open(os.path.join(tmp, "debugger/target/live.c")).read()
