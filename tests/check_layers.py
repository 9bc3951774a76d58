#!/usr/bin/env python3
"""The include rule of strand's layout, checked from the #include lines.

debugger/ is in layers, each a folder: a file may include headers of its own
layer and of the layers below it, never of one above (front end -> analyses
-> symbols -> target -> base). debugger/session.h, the context every layer
from symbols up receives, includes only target, symbols and base. commands/
belongs to the front end. plugins/ include only plugins/strand_plugin.h, the
ABI, which includes nothing of strand, and each other's headers (a plugin's
own tables, as go_versions.h), never the engine's. Between the files of the engine and
the commands, includes make no circle (a file X.c and its X.h count as one).

Includes are resolved as the compiler resolves them: the including file's
folder, then -Idebugger. Usage: python3 tests/check_layers.py [--fix] [ROOT]
Prints each violation and exits 1; prints one summary line and exits 0.

--fix first respells each include that names no file but whose name is the
name of one engine header (after a header moved to another folder, or in a
branch written before the move): its bare name from its own folder, else
its path under debugger/."""
import glob
import os
import re
import sys

RANK = {"base": 0, "target": 1, "symbols": 2, "analysis": 3, "frontend": 4, "commands": 4}
SESSION_MAY_INCLUDE = {"base", "target", "symbols"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    """The layer of a file (a path relative to the root), or None outside the engine."""
    parts = path.split("/")
    if parts[0] == "commands":
        return "commands"
    if parts[0] == "plugins":
        return "abi" if parts[-1] == "strand_plugin.h" else "plugin"
    if parts[0] == "build" and parts[1] == "gen":
        return "target"  # generated from the kernel's headers, for the target layer
    if parts[0] == "debugger":
        if len(parts) == 2:
            return "session" if parts[1] == "session.h" else "stray"
        return parts[1] if parts[1] in RANK else "stray"
    return None


def resolve(root, src, name):
    for base in (os.path.dirname(src), "debugger", "build/gen"):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.exists(os.path.join(root, p)) or base == "build/gen" and name == "syscall_table.h":
            return p
    return None


def allowed(frm, to):
    if frm == "stray":
        return True  # said once: the file belongs in a layer's folder
    if to == "abi":
        return frm != "abi"
    if frm == "plugin":
        return to == "plugin"
    if frm == "abi":
        return False
    if to == "session":
        return frm in RANK and RANK[frm] >= RANK["symbols"]
    if frm == "session":
        return to in SESSION_MAY_INCLUDE
    return to in RANK and frm in RANK and RANK[to] <= RANK[frm]


def module(path):
    return os.path.splitext(path)[0]


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def fix(root):
    """Respell the includes that name no file, as --fix says above."""
    headers = {}
    for h in glob.glob(os.path.join(root, "debugger/**/*.h"), recursive=True):
        headers.setdefault(os.path.basename(h), []).append(os.path.relpath(h, root))
    include = re.compile(r'^(\s*#\s*include\s+")([^"]+)(".*)$')
    for pat in ("debugger/**/*.[ch]", "commands/*.[ch]", "tests/unit/*.c", "tests/fuzz/*.c"):
        for f in glob.glob(os.path.join(root, pat), recursive=True):
            src = os.path.relpath(f, root)
            lines = open(f).read().split("\n")
            changed = False
            for i, line in enumerate(lines):
                m = include.match(line)
                found = headers.get(os.path.basename(m.group(2)), []) if m else []
                if not m or resolve(root, src, m.group(2)) or len(found) != 1:
                    continue
                h = found[0]
                same = os.path.dirname(h) == os.path.dirname(src)
                spelled = os.path.basename(h) if same else os.path.relpath(h, "debugger")
                lines[i] = m.group(1) + spelled + m.group(3)
                changed = True
                print(f'{src}: #include "{m.group(2)}" -> "{spelled}"')
            if changed:
                open(f, "w").write("\n".join(lines))


def main():
    args = sys.argv[1:]
    fixing = args[:1] == ["--fix"]
    root = args[fixing] if len(args) > fixing else os.path.join(os.path.dirname(__file__), "..")
    if fixing:
        fix(root)
    files = sorted(os.path.relpath(f, root) for pat in ("debugger/**/*.[ch]", "commands/*.[ch]", "plugins/*.[ch]")
                   for f in glob.glob(os.path.join(root, pat), recursive=True))
    problems, graph, edges = [], {}, 0
    for src in files:
        frm = layer_of(src)
        if frm == "stray":
            problems.append(f"{src}: not in a layer's folder ({', '.join(sorted(set(RANK) - {'commands'}))})")
        text = open(os.path.join(root, src)).read()
        for name in INCLUDE.findall(text):
            dst = resolve(root, src, name)
            if dst is None:
                problems.append(f'{src}: #include "{name}" names no file')
                continue
            to = layer_of(dst)
            if to is None:
                continue
            edges += 1
            if not allowed(frm, to):
                problems.append(f'{src}: #include "{name}": {frm} may not include {to} ({dst})')
            edge = (module(src), module(dst))
            if edge[0] != edge[1]:
                graph.setdefault(edge[0], set()).add(edge[1])
    for comp in cycles(graph):
        problems.append("include circle between " + ", ".join(comp))
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        return 1
    print(f"check_layers: {len(files)} files, {edges} includes, every one downward, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
