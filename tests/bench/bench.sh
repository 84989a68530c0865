#!/bin/sh
# bench.sh BUILD_DIR — benchmark figures (not tests).  Everything compared
# is measured in the same run on this machine.
set -eu
B=${1:-build}
cd "$(dirname "$0")/../.."
secs=${BENCH_SECONDS:-3}
echo "== ring: two processes, block mode, producer copies each record in, consumer reads its header"
"$B/tests/ringstress" memcpy
for size in 64 1500; do
	"$B/tests/ringstress" bench $size "$secs"
done
echo "   with a 4 MiB ring (fits the last-level cache):"
for size in 64 1500; do
	"$B/tests/ringstress" bench $size "$secs" 4194304
done
