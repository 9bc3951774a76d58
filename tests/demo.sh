#!/bin/sh
# make demo: start the bundled demo process, let strand look at it, stop it.
set -eu
cd "$(dirname "$0")/.."
demo=build/tests/targets/threads
FIXTURE_NO_EPOLL=1 STRAND_TRUTH=/dev/null $demo > /tmp/strand-demo.$$ &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f /tmp/strand-demo.$$' EXIT
while ! grep -q ready /tmp/strand-demo.$$ 2>/dev/null; do sleep 0.05; done
echo "\$ strand -p $pid -batch -ex 'info threads' -ex 'thread apply all bt'"
./strand -p $pid -batch -ex 'info threads' -ex 'thread apply all bt'
