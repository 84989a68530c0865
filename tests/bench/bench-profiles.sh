#!/bin/bash
# bench-profiles.sh BUILD_DIR — what each runtime.profile moves (make bench).
#
# For each profile, the whole tap through stethoscope-run --profile P:
#   throughput  a file of BENCH_PROFILE_FRAMES 64-byte frames replayed as
#               fast as the tap takes it (capd -> reasmd -> pcap sink):
#               packets a second, wall clock of the run
#   memory      a file of 100,000 idle sessions (handshake, a byte each
#               way, open at the end): the tap's memory at its peak, the
#               sum of every daemon's PSS (shared rings counted once)
#   burst       (root: network namespaces) trafgen sends BENCH_PROFILE_BURST
#               64-byte frames of mixed TCP sessions over a veth as fast as
#               it can on one core; the tap (1 shard, the pcap sink writing
#               every frame, the listener) captures them live: the rate
#               sent and the frames lost on the way (sent less written)
#   latency     (root: network namespaces) one TCP connection across a
#               veth pair, a 64-byte message every 20 ms for 5 s, captured
#               live; a consumer on the listener times each message from
#               its send to its arrival: p50 and p99
# Then, not a profile, the balanced defaults with the capture timeout at 1
# ms (io.input.capture.timeout_ms): latency and burst.
# Every run must end 0 with the frames all captured (the figure is not
# printed otherwise).
set -u
B=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/../.."
TOP=$(pwd)
RUN=$TOP/scripts/stethoscope-run
export STETHOSCOPE_BINDIR=$B
FRAMES=${BENCH_PROFILE_FRAMES:-2000000}
PROFILES=${BENCH_PROFILES:-"balanced throughput latency memory"}
tmp=$(mktemp -d /dev/shm/sth-prof.XXXXXX)
chmod 755 "$tmp"
NET=10.77.0
. tests/bench/live.sh
cleanup() {
	[ "$(id -u)" -eq 0 ] && live_down
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
# below the ephemeral range, above the tests' ports: no clash with make test
base=${BENCH_PORT_BASE:-15000}

"$B/tests/benchgen" small "$tmp/small.pcap" "$FRAMES" > "$tmp/small.info" || { echo "benchgen failed"; exit 1; }
frames=$(sed 's/.*frames=\([0-9]*\).*/\1/' "$tmp/small.info")
"$B/tests/benchgen" idle "$tmp/idle.pcap" 100000 > /dev/null || { echo "benchgen failed"; exit 1; }
live_mix || { echo "benchgen or pcap2trafgen failed"; exit 1; }

# tapconf FILE NAME: a file replay into the pcap sink (one rolling file)
tapconf() {
	cat > "$tmp/$2.json" <<-EOF
	{ io: { input: { capture: { file: "$1" } },
	        output: { pcap: { enabled: true, dir: "$tmp/pcap-$2", rotate_bytes: 268435456, max_files: 2 } } },
	  control: { listen_port: $((base + 1)) },
	  runtime: { workers: 1, run_dir: "$tmp/run-$2" } }
	EOF
}
tapconf "$tmp/small.pcap" thr
tapconf "$tmp/idle.pcap" mem

# pss_sum RUN_DIR: the PSS of every daemon of that run, KB
pss_sum() {
	local t=0 p v
	for p in $(pgrep -f -- "-c $1/config.json"); do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

BURST=${BENCH_PROFILE_BURST:-3000000}

# burst P [TAG]: "RATE LOST WHERE": frames a second sent, frames not written, the counters that took them
burst() {
	local p=$1 d=$tmp/burst-${2:-$1} sent pps
	mkdir -p "$d"; chmod 755 "$d"
	cat > "$d/tap.json" <<-EOF
	{ io: { input: { capture: { iface: "$VB", bpf-filter: "tcp and not port 9000" } },
	        output: { pcap: { enabled: true, dir: "$d/pcap", rotate_bytes: 268435456, max_files: 4 },
	                  listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $((base + 1000)), port_range_end: $((base + 2999)) } } },
	  control: { listen_port: $((base + 4)) },
	  runtime: { workers: 1, run_dir: "$d/run" } }
	EOF
	tap_up "$d/tap.json" "$d/run.log" "$p"
	read -r sent pps <<< "$(send max "$BURST")"
	tap_down
	rm -rf "$d/pcap"
	awk -v s="$sent" -v p="$pps" '
	/^sinkd pcap: [0-9]+ frames: written/ { wr = $6; gsub(",", "", $8); qf = $8 }
	/^capd: .*pcap_kernel / { for (i = 1; i <= NF; i++) if ($i == "pcap_kernel") kd += $(i + 1) }
	/^capd: captured .*ring_full / { for (i = 1; i <= NF; i++) if ($i == "ring_full") rf = $(i + 1) }
	/^reasmd: sink "sinkd pcap"/ { for (i = 1; i <= NF; i++) if ($i == "sink_ring_full") sr = $(i + 1) }
	END { printf "%d %d kernel=%d,capd_ring=%d,sink_ring=%d,pcap_queue=%d\n", p, s - wr, kd, rf, sr, qf }' "$d/run.log"
}

# latency P [TAG]: p50 and p99 (ms) of 250 messages, "n p50 p99"
latency() {
	local p=$1 d=$tmp/lat-${2:-$1}
	mkdir -p "$d"; chmod 755 "$d"
	cat > "$d/tap.json" <<-EOF
	{ io: { input: { capture: { iface: "$VB", bpf-filter: "tcp port 9000" } },
	        output: { listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $((base + 100)), port_range_end: $((base + 199)) } } },
	  control: { listen_port: $((base + 2)) },
	  runtime: { workers: 1, run_dir: "$d/run" } }
	EOF
	tap_up "$d/tap.json" "$d/run.log" "$p"
	probe "$d/run/listener.events.jsonl"
	tap_down
}

live=0
if [ "$(id -u)" -eq 0 ] && command -v ip > /dev/null && live_up; then live=1; fi

echo "== profiles: the whole tap (stethoscope-run --profile P); throughput: $frames 64-byte frames from a file into the pcap sink;"
echo "   memory: 100,000 idle sessions open, the daemons' PSS summed at the peak; latency: a 64-byte message every 20 ms over a veth, send to listener consumer"
printf '   %-11s %14s %9s %16s %22s   %s\n' profile "throughput" "wall" "memory (PSS)" "latency p50 / p99" "live burst: rate, frames lost (where)"
for p in $PROFILES; do
	# throughput
	rm -rf "$tmp/pcap-thr"
	t0=$(date +%s.%N)
	"$RUN" -c "$tmp/thr.json" --profile "$p" 2> "$tmp/thr.log"
	rc=$?
	t1=$(date +%s.%N)
	cap=$(sed -n 's/.*capd: captured \([0-9]*\) packets.*/\1/p' "$tmp/thr.log" | tail -1)
	if [ $rc -ne 0 ] || [ "${cap:-0}" -ne "$frames" ]; then
		thr="failed (rc $rc, $cap of $frames)"; wall=-
	else
		thr=$(awk -v f="$frames" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f Mpkt/s", f / (b - a) / 1e6 }')
		wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2fs", b - a }')
	fi
	# memory: sampled while the file goes through
	"$RUN" -c "$tmp/mem.json" --profile "$p" 2> "$tmp/mem.log" &
	L=$! peak=0
	while kill -0 $L 2>/dev/null; do
		v=$(pss_sum "$tmp/run-mem")
		[ "$v" -gt "$peak" ] && peak=$v
		sleep 0.05
	done
	wait $L || peak=0
	mem=$(awk -v k="$peak" 'BEGIN { printf "%.1f MB", k / 1024 }')
	lat="-" bu="-"
	if [ $live -eq 1 ] && command -v trafgen > /dev/null; then
		read -r br bl bw <<< "$(burst "$p")"
		bu=$(printf '%d pps, %d lost (%s)' "$br" "$bl" "$bw")
	fi
	if [ $live -eq 1 ]; then
		read -r n p50 p99 <<< "$(latency "$p")"
		if [ "${n:-0}" -ge 200 ]; then lat=$(printf '%.2f / %.2f ms' "$p50" "$p99"); else lat="failed ($n timed)"; fi
	fi
	printf '   %-11s %14s %9s %16s %22s   %s\n' "$p" "$thr" "$wall" "$mem" "$lat" "$bu"
done
# not a profile: the balanced defaults with the kernel's blocks handed over
# within 1 ms instead of 100 (io.input.capture.timeout_ms), packed as before
if [ $live -eq 1 ]; then
	export STETHOSCOPE_IO_INPUT_CAPTURE_TIMEOUT_MS=1
	lat="-" bu="-"
	if command -v trafgen > /dev/null; then
		read -r br bl bw <<< "$(burst balanced t1)"
		bu=$(printf '%d pps, %d lost (%s)' "$br" "$bl" "$bw")
	fi
	read -r n p50 p99 <<< "$(latency balanced t1)"
	if [ "${n:-0}" -ge 200 ]; then lat=$(printf '%.2f / %.2f ms' "$p50" "$p99"); else lat="failed ($n timed)"; fi
	unset STETHOSCOPE_IO_INPUT_CAPTURE_TIMEOUT_MS
	printf '   %-36s %16s %22s   %s\n' "balanced, capture timeout_ms 1" "" "$lat" "$bu"
fi
[ $live -eq 1 ] || echo "   (latency: needs root for its network namespaces)"
