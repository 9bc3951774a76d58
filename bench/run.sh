#!/bin/sh
# strand's benchmarks: speed goals that do not belong in timed tests.
#   sh bench/run.sh [threads|gcore|...]   (default: all)
# Each prints a line "bench NAME: FIGURE (goal GOAL)".
set -e
cd "$(dirname "$0")/.."
B=build/bench
mkdir -p "$B"
CC=${CC:-gcc}
for p in many_threads big_memory many_blocks; do
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

for b in ${@:-threads gcore heap}; do
	"bench_$b"
done
