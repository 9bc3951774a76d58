#!/bin/sh
# strand's benchmarks: speed goals that do not belong in timed tests.
#   sh bench/run.sh [threads|gcore|...]   (default: all)
# Each prints a line "bench NAME: FIGURE (goal GOAL)".
set -e
cd "$(dirname "$0")/.."
B=build/bench
mkdir -p "$B"
CC=${CC:-gcc}
for p in many_threads big_memory many_blocks pointer_heap; do
	[ "$B/$p" -nt "bench/$p.c" ] || $CC -O2 -g -pthread -o "$B/$p" "bench/$p.c"
done

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

start_ready() { # start a program, wait for its "ready", print its pid
	fifo=$(mktemp -u); mkfifo "$fifo"
	"$@" > "$fifo" & pid=$!
	read -r line < "$fifo"; rm -f "$fifo"
	echo "$pid"
}

bench_threads() {
	pid=$(start_ready "$B/many_threads" 1000)
	t0=$(now); ./strand -p "$pid" -batch -ex "info threads" > /dev/null 2>&1; t1=$(now)
	./strand -p "$pid" -batch -ex "thread apply all bt" > /dev/null 2>&1; t2=$(now)
	gdb -q -batch -p "$pid" -ex "thread apply all bt" > /dev/null 2>&1; t3=$(now)
	kill "$pid"
	echo "bench attach+info threads, 1000 threads: $(elapsed "$t0" "$t1") s (goal < 1 s)"
	echo "bench thread apply all bt, 1000 threads: $(elapsed "$t1" "$t2") s (goal < 2 s; gdb: $(elapsed "$t2" "$t3") s)"
	pid=$(start_ready "$B/many_threads" 1000 mixed)
	sleep 1 # let every thread reach its wait
	t0=$(now); ./strand -p "$pid" -batch -ex blocked > /dev/null 2>&1; t1=$(now)
	kill "$pid"
	echo "bench blocked, 1000 threads in mutex, condition, semaphore and sleep waits: $(elapsed "$t0" "$t1") s (goal < 2 s)"
}

min() { printf '%s\n' "$@" | sort -n | head -1; }

# Writing 1 GiB makes timings depend on the page cache's state: each tool
# writes three times, alternating, and the best run of each counts.
bench_gcore() {
	pid=$(start_ready "$B/big_memory" 1024)
	dir=$(mktemp -d)
	S= G=
	for i in 1 2 3; do
		rm -f "$dir"/*; sync
		t0=$(now); ./strand -p "$pid" -batch -ex "gcore $dir/strand.core" > /dev/null 2>&1; t1=$(now)
		rm -f "$dir"/*; sync
		t2=$(now); gdb -q -batch -p "$pid" -ex "gcore $dir/gdb.core" > /dev/null 2>&1; t3=$(now)
		S="$S $(elapsed "$t0" "$t1")"; G="$G $(elapsed "$t2" "$t3")"
	done
	kill "$pid"
	s=$(min $S); g=$(min $G)
	echo "bench gcore of a 1 GiB process (best of 3): strand $s s, gdb $g s, ratio $(echo "scale=1; $g / $s" | bc)x (goal >= 2x)"
	rm -rf "$dir"
}

# strand's heap walk on 10 million blocks: time and strand's own memory; gdb
# (Python, libc6-dbg) walking the same chunks of a 1-million-block heap.
bench_heap() {
	pid=$(start_ready "$B/many_blocks" 10000000)
	out=$(python3 bench/heap_stats.py "$pid")
	kill "$pid"
	set -- $out
	echo "bench heap walk, $2 blocks: $1 s (goal < 1 s); strand peak memory $3 bytes/block (goal < 20)"
	pid=$(start_ready "$B/many_blocks" 1000000)
	s=$(./strand --json -p "$pid" -batch -ex heap | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["seconds"])')
	g=$(gdb -q -batch -p "$pid" -x bench/gdb_heap_walk.py 2>/dev/null | sed -n 's/.* in \([0-9.]*\) s/\1/p')
	kill "$pid"
	echo "bench heap walk, 1 million blocks: strand $s s, gdb (Python) $g s, ratio $(echo "scale=0; $g / $s" | bc)x"
}

# Fresh anonymous memory, in huge pages as strand's tables take it: what this
# machine costs to fault in and zero a byte that strand writes for the first
# time (on a virtual machine, far more than a memset).
fresh_memory_rate() {
	python3 - <<'PY'
import mmap, time
size = 1 << 30
m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.madvise(mmap.MADV_HUGEPAGE)
start = time.time()
for off in range(0, size, 4096):
    m[off] = 1
print(f"{size / (time.time() - start) / 2**30:.2f}")
PY
}

# Reading a process's heap from outside, a megabyte per process_vm_readv into
# one buffer, as strand's scan does: the floor of any leak check that reads
# every block once (the heap walk, which reads the chunk headers, pays it too).
target_read_rate() { # PID
	python3 - "$1" <<'PY'
import ctypes, sys, time
pid = int(sys.argv[1])
start, end = next(tuple(int(x, 16) for x in l.split()[0].split("-"))
                  for l in open(f"/proc/{pid}/maps") if l.rstrip().endswith("[heap]"))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
libc = ctypes.CDLL(None, use_errno=True)
chunk = 1 << 20
buf = ctypes.create_string_buffer(chunk)
t0, done = time.time(), 0
for a in range(start, end, chunk):
    n = min(chunk, end - a)
    got = libc.process_vm_readv(pid, ctypes.byref(iovec(ctypes.addressof(buf), n)), 1,
                                ctypes.byref(iovec(a, n)), 1, 0)
    done += max(got, 0)
print(f"{done / 2**30:.1f} GiB in {time.time() - t0:.2f} s ({done / (time.time() - t0) / 2**30:.1f} GiB/s)")
PY
}

leaks_figures() { # PID LABEL RUNS: the best of RUNS leak checks, attach to report
	python3 - "$1" "$2" "$3" <<'PY'
import json, resource, subprocess, sys, time
best = None
for _ in range(int(sys.argv[3])):
    start = time.time()
    r = subprocess.run(["./strand", "--json", "-p", sys.argv[1], "-batch", "-ex", "leaks"], capture_output=True, text=True)
    total = time.time() - start
    d = json.loads(r.stdout.splitlines()[0])
    if best is None or total < best[0]:
        best = (total, d)
total, d = best
blocks = sum(v["blocks"] for v in d["summary"].values())
edges = d["heap_pointers"] + d["root_pointers"]
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(f"bench leaks, {sys.argv[2]} (best of {sys.argv[3]}): {total:.2f} s attach to report "
      f"({total / blocks * 1e9:.0f} ns/block, goal 100; {d['scanned_bytes'] / total / 2**30:.2f} GiB/s, goal 2), "
      f"check alone {d['seconds']:.2f} s ({d['scanned_bytes'] / d['seconds'] / 2**30:.2f} GiB/s); "
      f"peak {peak / 2**20:.0f} MiB = {peak / blocks:.1f} B/block with {edges / blocks:.1f} pointers/block "
      f"(goal {(32 * blocks + 8 * edges) / 2**20:.0f} MiB: 32/block + 8/pointer)")
PY
}

bench_leaks() {
	echo "bench fresh memory on this machine: $(fresh_memory_rate) GiB/s faulted in (huge pages)"
	pid=$(start_ready "$B/pointer_heap" many 16000000)
	leaks_figures "$pid" "16 million blocks" 3
	kill "$pid"
	pid=$(start_ready "$B/pointer_heap" dense 2048)
	echo "bench reading the dense heap out of the process: $(target_read_rate "$pid")"
	leaks_figures "$pid" "2 GiB of pointer-dense blocks" 2
	kill "$pid"
	pid=$(start_ready "$B/pointer_heap" anon 256)
	leaks_figures "$pid" "a million blocks and 256 MiB of anonymous memory pointing to them" 2
	kill "$pid"
	pid=$(start_ready "$B/pointer_heap" maps 4000)
	leaks_figures "$pid" "2 million blocks and 8,000 small anonymous mappings" 2
	kill "$pid"
	pid=$(start_ready "$B/pointer_heap" tree 4000000)
	leaks_figures "$pid" "4 million blocks in a tree laid out at random (sweeps give way to the graph)" 2
	kill "$pid"
	t0=$(now); ./strand run --leak-check -- "$B/pointer_heap" many 1000000 exit > /dev/null 2>&1; t1=$(now)
	valgrind --leak-check=full "$B/pointer_heap" many 1000000 exit > /dev/null 2>&1; t2=$(now)
	s=$(elapsed "$t0" "$t1"); v=$(elapsed "$t1" "$t2")
	echo "bench leak check of a 1-million-block program, start to report: strand run $s s, valgrind $v s," \
	     "ratio $(echo "scale=1; $v / $s" | bc)x"
}

# report runs every analysis; on top of the leak check it should add little.
bench_report() {
	pid=$(start_ready "$B/pointer_heap" many 16000000)
	L= R=
	for i in 1 2 3; do
		t0=$(now); ./strand -p "$pid" -batch -ex leaks > /dev/null 2>&1; t1=$(now)
		./strand -p "$pid" -batch -ex report > /dev/null 2>&1; t2=$(now)
		L="$L $(elapsed "$t0" "$t1")"; R="$R $(elapsed "$t1" "$t2")"
	done
	kill "$pid"
	l=$(min $L); r=$(min $R)
	echo "bench report vs leaks, 16 million blocks (best of 3): leaks $l s, report $r s," \
	     "report adds $(echo "scale=0; ($r - $l) * 100 / $l" | bc)% (goal <= 30%)"
}

# Goroutines: the Go fixture with N more goroutines parked at one chan send.
bench_goroutines() {
	[ -x build/tests/targets/go/goroutines ] || make -s fixtures
	for n in 100000 10000; do
		pid=$(FIXTURE_SENDERS=$n FIXTURE_NO_SPIN=1 start_ready build/tests/targets/go/goroutines)
		t0=$(now); ./strand -p "$pid" -batch -ex "info goroutines -g" > /dev/null 2>&1; t1=$(now)
		./strand -p "$pid" -batch -ex "info goroutines" > /dev/null 2>&1; t2=$(now)
		./strand -p "$pid" -batch -ex "blocked" > /dev/null 2>&1; t3=$(now)
		kill "$pid"
		echo "bench info goroutines, $n goroutines: grouped (-g) $(elapsed "$t0" "$t1") s," \
		     "one by one $(elapsed "$t1" "$t2") s (goal < 2 s: 100000 grouped, 10000 one by one);" \
		     "blocked (what each waits on) $(elapsed "$t2" "$t3") s"
	done
}

for b in ${@:-threads gcore heap leaks report goroutines}; do
	"bench_$b"
done
