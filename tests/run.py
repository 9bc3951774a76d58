#!/usr/bin/env python3
"""Run every strand test: the cmocka unit tests (build/tests/unit/test_*) and
the integration tests (tests/integration/test_*.py, functions test_*), then
print the tally as its last line: "N passed, N failed".

  python3 tests/run.py [-k SUBSTRING] [-v] [--unit-only] [--integration-only]

STRAND_BUILD names the build directory whose unit tests run (default build;
make test-sanitize: build-san) and STRAND_BIN the strand binary the
integration tests run (tests/integration/helpers.py).
"""
import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(binary, verbose):
    """A cmocka binary: count its passed and failed tests from its summary."""
    proc = subprocess.run([binary], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    passed = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
    failed = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
    if proc.returncode != 0 and failed == 0:
        failed = 1  # crashed before its summary
    name = os.path.basename(binary)
    if failed or verbose:
        sys.stdout.write(out)
    print(f"{'PASS' if not failed else 'FAIL'} unit/{name}: {passed} passed, {failed} failed", flush=True)
    return passed, failed


def load_module(path):
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_integration(path, pattern, verbose):
    passed = failed = 0
    mod = load_module(path)
    tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    for name, fn in tests:
        full = f"{os.path.basename(path)[:-3]}.{name}"
        if pattern and pattern not in full:
            continue
        start = time.time()
        try:
            fn()
            passed += 1
            print(f"PASS {full} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # a failed assertion or an unexpected error
            failed += 1
            print(f"FAIL {full} ({time.time() - start:.1f}s): {e}", flush=True)
            if verbose or not isinstance(e, AssertionError):
                traceback.print_exc()
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", dest="pattern", default="")
    ap.add_argument("-v", dest="verbose", action="store_true")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--integration-only", action="store_true")
    args = ap.parse_args()
    os.chdir(ROOT)
    total_passed = total_failed = 0
    if not args.integration_only:
        build = os.environ.get("STRAND_BUILD") or "build"
        for binary in sorted(glob.glob(os.path.join(build, "tests/unit/test_*"))):
            if args.pattern and args.pattern not in binary:
                continue
            p, f = run_unit(binary, args.verbose)
            total_passed += p
            total_failed += f
    if not args.unit_only:
        for path in sorted(glob.glob("tests/integration/test_*.py")):
            p, f = run_integration(path, args.pattern, args.verbose)
            total_passed += p
            total_failed += f
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
