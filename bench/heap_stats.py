"""bench helper: run `strand -p PID heap` and print "SECONDS BLOCKS BYTES_PER_BLOCK",
the walk time strand reports and its peak memory per block."""
import json
import resource
import subprocess
import sys

r = subprocess.run(["./strand", "--json", "-p", sys.argv[1], "-batch", "-ex", "heap"], capture_output=True, text=True)
heap = json.loads(r.stdout.splitlines()[0])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
blocks = sum(a["used"]["blocks"] + a["free"]["blocks"] for a in heap["arenas"])
print(f"{heap['seconds']:.3f} {blocks} {peak / blocks:.1f}")
