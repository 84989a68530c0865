#!/bin/bash
# bench-live.sh BUILD_DIR — live capture rates (a benchmark, not a test; root).
#
# tcpreplay replays a generated capture into one end of a veth pair between
# two namespaces made here, at packet rates stepping up; on the other end
# capd -w - | reasmd -r - and, on the same replay, tcpdump -w FILE capture
# it.  For each rate: packets sent, captured, reassembled, dropped (by the
# kernel, by capd's rings); then the highest rate with zero loss for each.
set -u
B=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "bench-live needs root (network namespaces)"; exit 1; }
N=${BENCH_LIVE_PACKETS:-200000}
RATES=${BENCH_LIVE_RATES:-"50000 100000 200000 400000 800000 top"}
tmp=$(mktemp -d /dev/shm/sth-live.XXXXXX)
id=$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))
NSA=sth-la-$id NSB=sth-lb-$id VA=stla$id VB=stlb$id
cleanup() { ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
ip netns add "$NSA"; ip netns add "$NSB"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$NSA"; ip link set "$VB" netns "$NSB"
ip -n "$NSA" link set "$VA" up; ip -n "$NSB" link set "$VB" up
# No file written here may exceed 1 GiB: a runaway generator must not
# fill the tmpfs (memory).
ulimit -S -f 1048576	# bash: 1 KiB blocks; soft
"$B/tests/benchgen" small "$tmp/replay.pcap" "$N" > "$tmp/info" || { echo "benchgen failed"; exit 1; }
sent_expected=$(sed 's/.*frames=\([0-9]*\).*/\1/' "$tmp/info")
echo "== live capture: $sent_expected 64-byte frames replayed by tcpreplay into $VA, captured on $VB"
printf '%10s | %-58s | %s\n' "pps (real)" "capd -w - | reasmd -r -" "tcpdump -w FILE"
best_capd=0 best_dump=0
rate_opt() { if [ "$1" = top ]; then echo --topspeed; else echo "--pps=$1"; fi; }
# Both capture tools get the same time to read what the kernel still holds
# (a TPACKET_V3 block is handed over when full or after its 1 s timeout).
settle() { sleep 1.5; }
for r in $RATES; do
	# capd -> reasmd
	ip netns exec "$NSB" "$B/capd" -i "$VB" -f tcp --ready-fd 3 -w - 3>"$tmp/ready" 2>"$tmp/capd.err" |
	    "$B/reasmd" -r - 2>"$tmp/reasmd.err" &
	until grep -q ready "$tmp/ready" 2>/dev/null; do sleep 0.05; done
	ip netns exec "$NSA" tcpreplay -q -i "$VA" $(rate_opt "$r") "$tmp/replay.pcap" > "$tmp/replay.out" 2>&1
	sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$tmp/replay.out")
	pps=$(sed -n 's/.*Rated: .* \([0-9.]*\) pps.*/\1/p' "$tmp/replay.out" | cut -d. -f1)
	settle
	pkill -TERM -f "^$B/capd -i $VB" ; wait
	cap=$(sed -n 's/^capd: captured \([0-9]*\) packets.*/\1/p' "$tmp/capd.err")
	kdrop=$(sed -n 's/.*pcap_kernel \([0-9]*\) packets.*/\1/p' "$tmp/capd.err" | head -1)
	reasm=$(sed -n 's/^reasmd: \([0-9]*\) packets.*/\1/p' "$tmp/reasmd.err")
	lost_c=$(( ${sent:-0} - ${cap:-0} ))
	# tcpdump on the same replay
	rm -f "$tmp/dump.pcap"
	ip netns exec "$NSB" tcpdump -Z root -i "$VB" -w "$tmp/dump.pcap" tcp 2>"$tmp/tcpdump.err" &
	until grep -q "listening on" "$tmp/tcpdump.err" 2>/dev/null; do sleep 0.05; done
	sent2=$(ip netns exec "$NSA" tcpreplay -q -i "$VA" $(rate_opt "$r") "$tmp/replay.pcap" 2>&1 |
	    sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p')
	settle
	pkill -INT -f "tcpdump -Z root -i $VB"; wait
	dcap=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$tmp/tcpdump.err")
	ddrop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$tmp/tcpdump.err")
	lost_d=$(( ${sent2:-0} - ${dcap:-0} ))
	printf '%10s | sent %7s captured %7s reassembled %7s lost %6s (kernel %s) | sent %7s captured %7s lost %6s (kernel %s)\n' \
	    "${pps:-$r}" "$sent" "$cap" "$reasm" "$lost_c" "${kdrop:-0}" "$sent2" "$dcap" "$lost_d" "${ddrop:-0}"
	[ "$lost_c" -eq 0 ] && [ "$cap" = "$reasm" ] && [ "${pps:-0}" -gt "$best_capd" ] && best_capd=$pps
	[ "$lost_d" -eq 0 ] && [ "${pps:-0}" -gt "$best_dump" ] && best_dump=$pps
done
echo "highest zero-loss rate: capd -> reasmd $best_capd pps, tcpdump -w $best_dump pps (of the rates tried: $RATES)"
echo "(when both equal the top-speed rate, the sender saturated first: tcpreplay's ceiling, not the capture's)"
