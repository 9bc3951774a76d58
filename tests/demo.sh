#!/bin/sh
# make demo: start the bundled demo service (tests/targets/demo.c: a growing
# cache, a sub-slice view, a buffer with spare capacity, a lost list, a
# deadlock, a lock held by an exited thread, a stuck pipe reader, an unjoined
# thread, a ticker, a stack-only block, a CLOSE_WAIT socket), run strand's
# report on it, stop it.
set -eu
cd "$(dirname "$0")/.."
demo=build/tests/targets/demo
out=$(mktemp)
STRAND_TRUTH=/dev/null $demo > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
while ! grep -q ready "$out" 2>/dev/null; do sleep 0.05; done
echo "\$ strand -p $pid report"
./strand -p $pid report
