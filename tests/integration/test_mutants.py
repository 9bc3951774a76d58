"""Damaged cores never crash, hang or mislead: mutants of cores of the heap
fixture made three ways (tests/fuzz/mutate_core.py: truncations, absurd
program headers, notes duplicated, removed or past the end, garbage in the
heap and the arenas) go through thread apply all bt, heap, heap check, leaks,
blocked and report, in text and JSON. Each run ends within 20 s with status
0, 1 or 2, without a signal or a sanitizer report (make test-sanitize runs
this against the sanitized strand), and a load that fails says so in one line
"strand: ..." naming the file. A seeded RNG: the same mutants every run."""
import os
import random
import shutil
import sys
import tempfile

from helpers import ROOT, STRAND

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import mutate_core  # noqa: E402

ROUNDS = 2  # every mutation twice, on different cores


def test_mutated_cores_never_crash_hang_or_mislead():
    work = tempfile.mkdtemp(prefix="strand-mutants-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        bases = mutate_core.make_bases(work)
        rng = random.Random(1515)
        failures = []
        for i in range(ROUNDS * len(mutate_core.MUTATORS)):
            mutator, base = mutate_core.MUTATORS[i % len(mutate_core.MUTATORS)], bases[i % len(bases)]
            data, what = mutator(base, rng)
            path = os.path.join(work, f"mutant-{i}.core")
            with open(path, "wb") as f:
                f.write(data)
            o = mutate_core.run(STRAND, path, i % 2 == 1, 20)
            if o.status != "ok":
                failures.append(f"{o.status} ({o.kind}) after {o.seconds:.1f} s: {mutator.__name__} on the "
                                f"{base.label} core: {what}\n{o.detail[-600:]}")
            os.unlink(path)
        assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    finally:
        shutil.rmtree(work)
