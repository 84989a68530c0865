#!/bin/bash
# bench-ceiling.sh BUILD_DIR — the live ceiling (make bench-live; root).
#
# The frames of a generated capture of mixed TCP sessions (benchgen small:
# 64-byte frames of 256 flows, handshakes, data, FINs; sent round robin)
# go into one end of a veth pair between two namespaces made here, at
# stepped rates, BENCH_CEIL_SECONDS a step: tests/helpers/pacer sends the
# paced steps (bursts of up to 64, on time to the frame), trafgen
# (netsniff-ng; the capture as a trafgen config written by
# pcap2trafgen.py) the last, "max", as fast as it goes.  On the other end, in turn:
#   the tap (stethoscope-run: capd -> reasmd, 1 then 2 shards -> the pcap
#   sink writing every frame and the listener), tcpdump -w FILE and
#   dumpcap -w FILE, each with the same 64 MiB capture buffer.
# For each: frames sent, captured, and for the tap reassembled (reasmd's
# packets) and written by the pcap sink; a step is lossless when all of
# them equal the frames sent.  Then the highest lossless rate of each and
# the ratios, and, at 10% of the tap's highest lossless rate, the latency
# from the wire to a listener consumer (tests/bench/latency.py: a TCP
# connection beside the load, a 64-byte message every 20 ms), with the
# default profile and with --profile latency.
# BENCH_CEIL_PIN=1: the receivers on the last CPU alone, trafgen (which
# pins itself) on the first: each side one core, so "max" is the same
# sender for every receiver and a receiver that loses there has a ceiling
# below it.
set -u
B=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/../.."
TOP=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench-ceiling needs root (network namespaces)"; exit 0; }
command -v trafgen > /dev/null || { echo "bench-ceiling: trafgen missing (scripts/deps.sh bench installs netsniff-ng)"; exit 0; }
export STETHOSCOPE_BINDIR=$B
RUN=$TOP/scripts/stethoscope-run
SECS=${BENCH_CEIL_SECONDS:-3}
RATES=${BENCH_CEIL_RATES:-"100000 200000 400000 600000 800000 1000000 1200000 max"}
base=${BENCH_PORT_BASE:-15000}
tmp=$(mktemp -d /dev/shm/sth-ceil.XXXXXX)
chmod 755 "$tmp"
NET=10.78.0
. tests/bench/live.sh
cleanup() {
	live_down
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ulimit -S -f 4194304	# no file written here past 4 GiB (KiB blocks)
live_up || { echo "bench-ceiling: cannot make the network namespaces"; exit 1; }
live_mix || { echo "benchgen or pcap2trafgen failed"; exit 1; }

# The listener's ports: two a session, kept close_linger_sec (2 s) after
# its close, and the mix's 256 sessions open anew each time it comes round
# (about 1,100 sessions a second at 87,500 frames/s): 2,000 ports ran out
# beside the latency probe's load and its session got none.
tapconf() {	# tapconf WORKERS
	cat > "$tmp/tap$1.json" <<-EOF
	{ io: { input: { capture: { iface: "$VB", bpf-filter: "tcp", scapy_bufsize: 67108864 } },
	        output: { pcap: { enabled: true, dir: "$tmp/pcap", rotate_bytes: 268435456, max_files: 4 },
	                  listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $((base + 1000)), port_range_end: $((base + 16999)) } } },
	  control: { listen_port: $((base + 3)) },
	  runtime: { workers: $1, run_dir: "$tmp/run" } }
	EOF
}
tapconf 1; tapconf 2

# run_tap WORKERS RATE N: "sent captured reassembled written kernel_drops
# ring_full pps sink_ring_full pcap_queue_full pcap_write_error
# shutdown_timeout sinkd_frames": where frames reassembled but not written
# went (reasmd's sink ring to sinkd, sinkd's writer queue, a write, the
# writer's deadline at the end) and what sinkd received
run_tap() {
	local w=$1 sent pps
	rm -rf "$tmp/pcap" "$tmp/run"
	tap_up "$tmp/tap$w.json" "$tmp/tap.log"
	read -r sent pps <<< "$(send "$2" "$3")"
	tap_down
	awk -v s="$sent" -v p="$pps" '
	/^capd: captured / { cap = $3 }
	/^capd: .*pcap_kernel / { for (i = 1; i <= NF; i++) if ($i == "pcap_kernel") kd += $(i + 1) }
	/^capd: captured .*ring_full / { for (i = 1; i <= NF; i++) if ($i == "ring_full") rf = $(i + 1) }
	/^reasmd: [0-9]+ packets/ { re += $2 }
	/^sinkd pcap: [0-9]+ frames: written/ { sf = $3; wr = $6; qf = $8; we = $10; st = $12 }
	/^reasmd: sink "[^"]*pcap"/ { for (i = 1; i <= NF; i++) if ($i == "sink_ring_full") srf += $(i + 1) }
	END { printf "%d %d %d %d %d %d %d %d %d %d %d %d\n", s, cap, re, wr, kd, rf, p, srf, qf, we, st, sf }' "$tmp/tap.log"
}

# run_tool tcpdump|dumpcap RATE N: "sent captured kernel_drops pps"
run_tool() {
	local P sent pps cap kd
	rm -f "$tmp/tool.pcap"
	if [ "$1" = tcpdump ]; then
		ip netns exec "$NSB" "${RX[@]}" tcpdump -Z root -B 65536 -i "$VB" -w "$tmp/tool.pcap" tcp 2> "$tmp/tool.err" &
		P=$!
		for _ in $(seq 200); do grep -q "listening on" "$tmp/tool.err" && break; sleep 0.05; done
	else
		ip netns exec "$NSB" "${RX[@]}" dumpcap -q -B 64 -i "$VB" -f tcp -w "$tmp/tool.pcap" 2> "$tmp/tool.err" &
		P=$!
		for _ in $(seq 200); do grep -q "Capturing on" "$tmp/tool.err" && break; sleep 0.05; done
	fi
	read -r sent pps <<< "$(send "$2" "$3")"
	sleep 1.5
	kill -INT $P; wait $P
	# what reached the file, read back
	cap=$("$B/tests/pcaploop" "$tmp/tool.pcap" 2>/dev/null | sed 's/packets=\([0-9]*\).*/\1/')
	kd=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p; s/.*Packets received\/dropped on interface.*: [0-9]*\/\([0-9]*\).*/\1/p' "$tmp/tool.err" | head -1)
	echo "$sent ${cap:-0} ${kd:-0} $pps"
}

echo "== live ceiling: 64-byte frames of 256 TCP sessions over a veth (paced steps: tests/helpers/pacer; max: trafgen), ${SECS}s a step; 64 MiB capture buffer each"
printf '%-10s | %-44s | %-44s | %-24s | %-24s\n' "rate" "tap, 1 shard: capt/reasm/written (kernel)" "tap, 2 shards" "tcpdump -w" "dumpcap -w"
best1=0 best2=0 bestd=0 bestc=0 top="0 0 0 0"
for r in $RATES; do
	if [ "$r" = max ]; then n=$((SECS * 1500000)); else n=$((SECS * r)); fi
	read -r s1 c1 r1 w1 k1 f1 p1 x1 <<< "$(run_tap 1 "$r" "$n")"
	read -r s2 c2 r2 w2 k2 f2 p2 x2 <<< "$(run_tap 2 "$r" "$n")"
	read -r sd cd kd pd <<< "$(run_tool tcpdump "$r" "$n")"
	read -r sc cc kc pc <<< "$(run_tool dumpcap "$r" "$n")"
	printf '%-10s | %7d pps %8d/%8d/%8d (%d) | %7d pps %8d/%8d/%8d (%d) | %7d pps %8d (%d) | %7d pps %8d (%d)\n' \
	    "$r" "$p1" "$c1" "$r1" "$w1" "$k1" "$p2" "$c2" "$r2" "$w2" "$k2" "$pd" "$cd" "$kd" "$pc" "$cc" "$kc"
	# frames lost after the kernel: which counter took them
	for t in "1 shard:$c1 $f1 $r1 $w1 $x1" "2 shards:$c2 $f2 $r2 $w2 $x2"; do
		set -- ${t#*:}
		[ "$3" -lt "$1" ] && printf '   the tap, %s at %s: %d captured, not reassembled: capd ring_full %d\n' \
		    "${t%%:*}" "$r" $(( $1 - $3 )) "$2"
		[ "$4" -lt "$3" ] && printf '   the tap, %s at %s: %d reassembled, not written: sink_ring_full %d, pcap_queue_full %d, pcap_write_error %d, shutdown_timeout %d; sinkd received %d\n' \
		    "${t%%:*}" "$r" $(( $3 - $4 )) "$5" "$6" "$7" "$8" "$9"
	done
	# a step is lossless when every frame sent was captured (and, for the
	# tap, reassembled and written)
	ok1=0 ok2=0 okd=0 okc=0
	[ "$c1" -eq "$s1" ] && [ "$r1" -eq "$s1" ] && [ "$w1" -eq "$s1" ] && ok1=1
	[ "$c2" -eq "$s2" ] && [ "$r2" -eq "$s2" ] && [ "$w2" -eq "$s2" ] && ok2=1
	[ "$cd" -eq "$sd" ] && okd=1
	[ "$cc" -eq "$sc" ] && okc=1
	[ $ok1 = 1 ] && [ "$p1" -gt "$best1" ] && best1=$p1
	[ $ok2 = 1 ] && [ "$p2" -gt "$best2" ] && best2=$p2
	[ $okd = 1 ] && [ "$pd" -gt "$bestd" ] && bestd=$pd
	[ $okc = 1 ] && [ "$pc" -gt "$bestc" ] && bestc=$pc
	# lossless at "max" too: the ceiling is above what the sender made
	[ "$r" = max ] && top="$ok1 $ok2 $okd $okc"
done
echo "highest lossless rate (every frame captured, reassembled and written): tap 1 shard $best1 pps, 2 shards $best2 pps;" \
    "tcpdump -w $bestd pps, dumpcap -w $bestc pps (of the rates tried: $RATES; \"max\" is trafgen's own top on one core)"
awk -v a="$best1" -v b="$best2" -v d="$bestd" -v c="$bestc" 'BEGIN {
	m = a > b ? a : b
	printf "ratio: the best of the tap / tcpdump -w %.2f, / dumpcap -w %.2f\n", d ? m / d : 0, c ? m / c : 0 }'
# Whoever was lossless at "max" has a ceiling above the rate the sender
# reached beside it, and that rate depends on the CPU the receiver left it
# (two cores shared): the ratio above then compares appetites, not ceilings.
set -- $top
for who in "the tap, 1 shard" "the tap, 2 shards" "tcpdump -w" "dumpcap -w"; do
	[ "$1" = 1 ] && echo "note: $who lost nothing at trafgen's top either: its ceiling is above the rate the sender reached beside it"
	shift
done

# latency at 10% of the tap's highest lossless rate, beside that load
best=$(( best1 > best2 ? best1 : best2 ))
low=$(( best / 10 ))
[ "$low" -ge 1000 ] || low=1000
for p in balanced latency; do
	rm -rf "$tmp/pcap" "$tmp/run"
	tap_up "$tmp/tap1.json" "$tmp/tap.log" "$p"
	send "$low" $((low * 7)) > /dev/null &
	G=$!
	read -r n p50 p99 <<< "$(probe "$tmp/run/listener.events.jsonl")"
	wait $G
	tap_down
	echo "latency at $low pps beside it, profile $p: p50 ${p50} ms, p99 ${p99} ms (${n} messages timed, wire to listener consumer)"
done
