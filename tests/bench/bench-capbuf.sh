#!/bin/bash
# bench-capbuf.sh BUILD_DIR [RUNS] — how big a capture buffer must be to hold
# the bursts of a fast transfer: an 8 MB socat transfer over a veth pair
# (segmentation offload on: frames of tens of KB), captured by capd -w - |
# reasmd -r -, RUNS times for each -B; prints the kernel drops (pcap_kernel)
# and how many runs came out byte-exact.  Root: it makes two namespaces.
set -u
B=$(cd "${1:-build}" && pwd)
runs=${2:-10}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/sth-capbuf.XXXXXX)
cd "$T" || exit 1
BATS_TEST_DIRNAME=$TOP/tests STH_BUILD=$B . "$TOP/tests/helper.bash"
trap 'netns_down; rm -rf "$T"' EXIT INT TERM
[ "$(id -u)" -eq 0 ] || { echo "bench-capbuf: needs root (network namespaces)"; exit 0; }
netns_up || exit 1
head -c 8000000 /dev/urandom > bulk.bin
echo "== capture buffer: 8 MB socat transfer over veth, $runs runs per size, capd -w - | reasmd -r -"
for kib in ${BENCH_CAPBUF_KIB:-2048 8192 16384 32768 65536} default; do
	drops=0 exact=0 worst=0
	for i in $(seq "$runs"); do
		opt=(-B "$kib"); [ "$kib" = default ] && opt=()
		rm -rf out; : > capd.ready
		ip netns exec "$NSA" timeout 60 "$B/capd" -i "$VA" -f "tcp port 9000" "${opt[@]}" --ready-fd 3 -w - 3>capd.ready 2>capd.err |
		    timeout 60 "$B/reasmd" -r - -o out 2>reasmd.err &
		wait_for grep -q ready capd.ready
		socat_transfer 9000 bulk.bin
		sleep 0.3
		pkill -TERM -f "^$B/capd -i $VA"
		wait
		d=$(sed -n 's/.*pcap_kernel \([0-9]*\) packets.*/\1/p' capd.err | tail -1)
		[ -n "$d" ] || { echo "no pcap_kernel line:"; cat capd.err reasmd.err; exit 1; }
		drops=$((drops + d)); [ "$d" -gt "$worst" ] && worst=$d
		[ "$(requests_equal bulk.bin out)" -ge 1 ] && exact=$((exact + 1))
	done
	printf '   -B %-8s kernel drops: %6d packets in %d runs (worst run %d); byte-exact %d/%d\n' "$kib" "$drops" "$runs" "$worst" "$exact" "$runs"
done
