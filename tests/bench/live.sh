# tests/bench/live.sh — sourced by the live benches (bench-profiles.sh,
# bench-ceiling.sh): two network namespaces joined by a veth pair, the tap
# under the launcher in the second, trafgen in the first, and the latency
# probe across.  The caller sets B, TOP, RUN and tmp (a directory of its
# own) and, for the pair, NET (three octets: A is NET.1, B is NET.2).
# Root only.

# RX: what the receivers (the tap, tcpdump, dumpcap) run under: nothing,
# or with BENCH_CEIL_PIN=1 the last CPU alone (trafgen pins itself to the
# first): each side one core, the sender's top the same for every receiver
RX=()
[ "${BENCH_CEIL_PIN:-0}" = 1 ] && RX=(taskset -c "$(( $(nproc) - 1 ))")

live_id=$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))
NSA=sth-a-$live_id NSB=sth-b-$live_id VA=sta$live_id VB=stb$live_id

live_down() {
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	pkill -f "latency.py serve" 2>/dev/null
}

# live_up: the pair, addressed, and a TCP server on B:9000 for the probe
live_up() {
	ip netns add "$NSA" && ip netns add "$NSB" || return 1
	ip link add "$VA" type veth peer name "$VB"
	ip link set "$VA" netns "$NSA"; ip link set "$VB" netns "$NSB"
	ip -n "$NSA" addr add "$NET.1/24" dev "$VA"; ip -n "$NSB" addr add "$NET.2/24" dev "$VB"
	ip -n "$NSA" link set "$VA" up; ip -n "$NSB" link set "$VB" up
	ip -n "$NSA" link set lo up; ip -n "$NSB" link set lo up
	ip netns exec "$NSB" python3 "$TOP/tests/bench/latency.py" serve 9000 &
	sleep 0.3
}

# live_mix: the frames sent, $tmp/mix.pcap: benchgen's 64-byte frames of
# 256 TCP sessions (the pacer's), and as a trafgen config, $tmp/mix.cfg
live_mix() {
	"$B/tests/benchgen" small "$tmp/mix.pcap" 20000 > /dev/null &&
	    python3 "$TOP/tests/bench/pcap2trafgen.py" "$tmp/mix.pcap" "$tmp/mix.cfg" > /dev/null
}

# tap_up CONF LOG [PROFILE]: the launcher on B, until its daemons are
# ready; TAP is its pid
tap_up() {
	ip netns exec "$NSB" "${RX[@]}" "$RUN" -c "$1" ${3:+--profile "$3"} 2> "$2" &
	TAP=$!
	for _ in $(seq 200); do grep -q "daemons are ready" "$2" && break; sleep 0.05; done
}

# tap_down: what the kernel still holds is read first (a block times out
# in 100 ms), then SIGTERM and the launcher's end
tap_down() {
	sleep 1.5
	kill -TERM "$TAP"; wait "$TAP"
}

# send RATE N: N frames from A at RATE a second, by tests/helpers/pacer
# (bursts of up to 64 on a packet socket, on time to the frame: trafgen's
# own pacing, a frame and a sleep at a time, stops near 350,000/s
# whatever it is asked); "max": trafgen, as fast as it goes on one core
# (its ring).  Prints "SENT PPS": the frames sent and the rate reached
# over the sending time (start-up not counted; on 2 cores unpinned the
# receiver's work slows the sender at "max").  Pinned (BENCH_CEIL_PIN=1),
# the sender is on the first CPU, the receivers on the last.
send() {
	if [ "$1" != max ]; then
		local tx=()
		[ "${BENCH_CEIL_PIN:-0}" = 1 ] && tx=(taskset -c 0)
		ip netns exec "$NSA" "${tx[@]}" "$B/tests/pacer" "$VA" "$tmp/mix.pcap" "$2" "$1"
		return
	fi
	ip netns exec "$NSA" trafgen -i "$tmp/mix.cfg" -o "$VA" -n "$2" -P 1 2>&1 | tr -d '\r' |
	    awk '
	    / packets outgoing/ { n = $1 }
	    / sec, .* usec on CPU/ { t = $1 + $3 / 1e6 }
	    END { printf "%d %.0f\n", n, (t > 0 ? n / t : 0) }'
}

# probe EVENTS: a 64-byte message every 20 ms for 5 s from A to B:9000; a
# consumer on the tap's listener (its events file EVENTS) times each from
# its send to its arrival; prints "n p50_ms p99_ms"
probe() {
	local C
	ip netns exec "$NSB" timeout 20 python3 "$TOP/tests/bench/latency.py" consume "$1" 9 9000 > "$tmp/probe" &
	C=$!
	ip netns exec "$NSA" timeout 20 python3 "$TOP/tests/bench/latency.py" send "$NET.2" 9000 250 20
	wait $C
	cat "$tmp/probe"
}
