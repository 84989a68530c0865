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

# ---- reasmd against its peers, on the same files, in the same run ----
# No file written here may exceed 4 GiB: /dev/shm is memory, and a runaway
# writer must not take the machine with it.  A soft limit (the scripts run
# after this one may set their own), in sh's 512-byte blocks.
ulimit -S -f 8388608
tmp=${BENCH_DIR:-/dev/shm}/sth-bench.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM
bulk_mib=${BENCH_BULK_MIB:-1024}
small_frames=${BENCH_SMALL_FRAMES:-20000000}

# measure NAME CMD...: runs CMD, prints wall, CPU and peak RSS; sets $wall
measure() {
	name=$1; shift
	/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || {
		echo "$name failed:"; tail -5 "$tmp/err"; return 1; }
	read -r wall user sys rss < "$tmp/time"
	wall=$(awk -v w="$wall" 'BEGIN { print (w < 0.001 ? 0.001 : w) }')
}

rate() {	# rate BYTES PACKETS -> "X MB/s, Y Mpackets/s"
	awk -v b="$1" -v p="$2" -v w="$wall" 'BEGIN { printf "%8.0f MB/s %7.2f Mpkt/s", b / w / 1e6, p / w / 1e6 }'
}

# pick_median FILE: of the lines "wall user sys rss" in FILE, the one with
# the median wall time; sets wall user sys rss from it
pick_median() {
	read -r wall user sys rss <<-EOF
	$(sort -n "$1" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
	EOF
}

# run_file LABEL FILE EXPECTED_PAYLOAD [RUNS]: EXPECTED_PAYLOAD "=tcpflow"
# takes tcpflow's byte count as the truth (a capture cut short); tcpflow
# and reasmd -o run RUNS times (BENCH_RUNS, default 3), alternating, and
# the median run of each is shown: the first writes into a fresh tmpfs
# pay for its pages, whichever tool comes first
run_file() {
	label=$1 f=$2 expect=$3 runs=${4:-${BENCH_RUNS:-3}}
	bytes=$(stat -c %s "$f")
	pkts=$("$B/tests/pcaploop" "$f" | sed 's/packets=\([0-9]*\).*/\1/')
	echo
	echo "== $label: $(awk -v b="$bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }'), $pkts packets"
	printf '%-34s %s %s\n' "" "   throughput                 " "wall    user    sys   peak RSS"
	measure "libpcap loop" "$B/tests/pcaploop" "$f"
	t_pcap=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "bare libpcap read loop (ceiling)" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	measure "cat" sh -c "cat '$f' > '$tmp/cat.out'"
	t_cat=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "cat F > tmpfs (ceiling)" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	rm -f "$tmp/cat.out"
	measure "tcpdump" tcpdump -Z root -r "$f" -w /dev/null
	t_dump=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "tcpdump -r F -w /dev/null" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	: > "$tmp/runs.flow"; : > "$tmp/runs.reasm"
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		rm -rf "$tmp/tf" "$tmp/ro"; mkdir -p "$tmp/tf"
		measure "tcpflow" tcpflow -r "$f" -o "$tmp/tf"
		echo "$wall $user $sys $rss" >> "$tmp/runs.flow"
		tf_bytes=$(find "$tmp/tf" -type f ! -name '*.xml' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
		rm -rf "$tmp/tf"
		measure "reasmd" "$B/reasmd" -r "$f" -o "$tmp/ro"
		echo "$wall $user $sys $rss" >> "$tmp/runs.reasm"
		got=$(find "$tmp/ro" -type f ! -name sessions.jsonl -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
		gaps=$(grep -o 'bytes delivered, [0-9]* gaps' "$tmp/err" | awk '{ print $3 }')
	done
	[ "$runs" -gt 1 ] && of=" (median of $runs)" || of=""
	pick_median "$tmp/runs.flow"
	t_flow=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "tcpflow -r F -o tmpfs$of" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	pick_median "$tmp/runs.reasm"
	t_reasm=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "reasmd -r F -o tmpfs$of" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	[ "$expect" = "=tcpflow" ] && expect=$tf_bytes
	if [ "$got" = "$expect" ] && [ "$gaps" = 0 ]; then verdict="exact ($got bytes, 0 gaps)"; else verdict="NOT EXACT: $got of $expect bytes, $gaps gaps"; fi
	echo "   reasmd output: $verdict; tcpflow wrote $tf_bytes bytes"
	rm -rf "$tmp/ro"
	# two engines (--shards 2: the peak RSS is the largest process's)
	measure "reasmd --shards 2" "$B/reasmd" -r "$f" -o "$tmp/ro" --shards 2
	t_sh2=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "reasmd -r F --shards 2 -o tmpfs" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	got2=$(find "$tmp/ro" -type f ! -name sessions.jsonl -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	[ "$got2" = "$got" ] || echo "   reasmd --shards 2: NOT THE SAME: $got2 bytes, one engine $got"
	rm -rf "$tmp/ro"
	# the engine alone (no output, the summary only) against the loop,
	# RUNS times alternating, the median of each: on a VM whose host
	# slows it now and then, one run of each can land on either side
	: > "$tmp/runs.loop"; : > "$tmp/runs.eng1"; : > "$tmp/runs.eng2"
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		measure "libpcap loop" "$B/tests/pcaploop" "$f"
		echo "$wall $user $sys $rss" >> "$tmp/runs.loop"
		measure "reasmd engine" "$B/reasmd" -r "$f"
		echo "$wall $user $sys $rss" >> "$tmp/runs.eng1"
		measure "reasmd engine 2" "$B/reasmd" -r "$f" --shards 2
		echo "$wall $user $sys $rss" >> "$tmp/runs.eng2"
	done
	pick_median "$tmp/runs.loop"
	t_pcap=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "libpcap loop again$of" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	pick_median "$tmp/runs.eng1"
	t_eng1=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "reasmd -r F (engine, no output)$of" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	pick_median "$tmp/runs.eng2"
	t_eng2=$wall; printf '%-34s %s %6.2fs %6.2fs %6.2fs %7d KB\n' "reasmd -r F --shards 2 (no output)$of" "$(rate "$bytes" "$pkts")" "$wall" "$user" "$sys" "$rss"
	awk -v r="$t_reasm" -v r2="$t_sh2" -v f="$t_flow" -v d="$t_dump" -v p="$t_pcap" -v c="$t_cat" \
	    -v e1="$t_eng1" -v e2="$t_eng2" 'BEGIN {
		printf "   ratios: reasmd/tcpflow %.2fx (--shards 2: %.2fx)   reasmd/tcpdump %.2fx   of the libpcap-loop ceiling %.0f%%   of the cat ceiling %.0f%%\n",
		    f / r, f / r2, d / r, 100 * p / r, 100 * c / r
		printf "   the engine alone against the libpcap loop: %.2fx with one engine, %.2fx with two\n", p / e1, p / e2 }'
}

"$B/tests/benchgen" bulk "$tmp/bulk.pcap" "$bulk_mib" > "$tmp/bulk.info"
run_file "bulk capture (10,000 flows, 64 active, MSS segments, ~1% reordered, ~1% retransmitted)" \
    "$tmp/bulk.pcap" "$(sed 's/.*payload_bytes=//' "$tmp/bulk.info")"
rm -f "$tmp/bulk.pcap"
t_plain=$t_reasm
# The same capture with the servers' frames stamped 1 ms late: the clients'
# ACKs come before the data they acknowledge (two taps, a SPAN port).
BENCHGEN_LATE_SERVER_US=1000 "$B/tests/benchgen" bulk "$tmp/bulk.pcap" "$bulk_mib" > "$tmp/bulk.info"
run_file "bulk capture re-timed (servers' frames 1 ms late: ACKs before their data)" \
    "$tmp/bulk.pcap" "$(sed 's/.*payload_bytes=//' "$tmp/bulk.info")"
awk -v a="$t_plain" -v b="$t_reasm" 'BEGIN { printf "   reasmd re-timed / plain wall time: %.2f\n", b / a }'
rm -f "$tmp/bulk.pcap"
"$B/tests/benchgen" small "$tmp/small.pcap" "$small_frames" > "$tmp/small.info"
# the first 4,000,000 frames alone (sessions cut short at the end: tcpflow's
# bytes are the count to match)
first=$((small_frames < 4000000 ? small_frames : 4000000))
editcap -F pcap -r "$tmp/small.pcap" "$tmp/first.pcap" "1-$first"
run_file "64-byte frames, the first $first of them" "$tmp/first.pcap" "=tcpflow"
rm -f "$tmp/first.pcap"
# the whole file once (tcpflow takes about a minute on it)
run_file "64-byte frames (100,000 flows, 256 active)" \
    "$tmp/small.pcap" "$(sed 's/.*payload_bytes=//' "$tmp/small.info")" 1
rm -f "$tmp/small.pcap"

# ---- hash flooding ----
echo
echo "== hash flooding: 100,000 flows crafted to collide under an unkeyed hash, against 100,000 ordinary ones"
"$B/tests/benchgen" collide "$tmp/col.pcap" 100000 10 > "$tmp/col.info"
"$B/tests/benchgen" idle "$tmp/ord.pcap" 100000 > /dev/null
echo '{ reasm: { max_sessions: 200000 } }' > "$tmp/col.json"
measure "reasmd crafted" "$B/reasmd" -c "$tmp/col.json" -r "$tmp/col.pcap"
t_col=$wall chain=$(sed -n 's/.*lookup walked: \([0-9]*\)/\1/p' "$tmp/err")
measure "reasmd ordinary" "$B/reasmd" -c "$tmp/col.json" -r "$tmp/ord.pcap"
awk -v c="$t_col" -v o="$wall" -v ch="$chain" -v u="$(sed 's/.*2^18=//' "$tmp/col.info")" 'BEGIN {
	printf "   reasmd: crafted %.2fs, ordinary %.2fs (%.2fx); longest chain %d (an unkeyed table: %d)\n", c, o, c / o, ch, u }'
rm -f "$tmp/col.pcap" "$tmp/ord.pcap"

# ---- session lookup cost against the sessions open ----
echo
m=${BENCH_LOOKUPS:-2000000}
echo "== session lookup: $m one-byte segments on sessions picked at random among N open (user time, median of ${BENCH_LOOKUP_RUNS:-3}; the N sessions' own capture timed alone and taken off)"
first=
for n in 1000 10000 100000 1000000; do
	"$B/tests/benchgen" idle "$tmp/lk0.pcap" "$n" > /dev/null
	"$B/tests/benchgen" lookup "$tmp/lk.pcap" "$n" "$m" > "$tmp/lk.info"
	# User time, which a busy neighbour core moves less than the wall
	# clock.  Not system time: the segments allocate nothing, and the
	# kernel's zeroing of the sessions' first-touched pages moves by a
	# second from one run to the next on this VM (either file, either
	# way round), more than all the lookups of a million sessions.
	# (the median of BENCH_LOOKUP_RUNS runs of each, alternating: one
	# run's user time moves by a tenth from the next, as much as the
	# lookups of a million sessions take)
	: > "$tmp/lk0.t"; : > "$tmp/lk.t"
	for r in $(seq "${BENCH_LOOKUP_RUNS:-3}"); do
		measure "reasmd open $n" "$B/reasmd" -r "$tmp/lk0.pcap"
		echo "$user" >> "$tmp/lk0.t"
		measure "reasmd lookup $n" "$B/reasmd" -r "$tmp/lk.pcap"
		echo "$user" >> "$tmp/lk.t"
	done
	t0=$(sort -n "$tmp/lk0.t" | awk '{ l[NR] = $1 } END { print l[int((NR + 1) / 2)] }')
	t1=$(sort -n "$tmp/lk.t" | awk '{ l[NR] = $1 } END { print l[int((NR + 1) / 2)] }')
	grep -q " $(sed 's/.*payload_bytes=//' "$tmp/lk.info") bytes delivered" "$tmp/err" || {
		echo "   reasmd lookup $n: not exact"; grep "bytes delivered" "$tmp/err"; }
	ns=$(awk -v a="$t1" -v b="$t0" -v m="$m" 'BEGIN { printf "%.0f", (a - b) * 1e9 / m }')
	[ -n "$first" ] || first=$ns
	awk -v n="$n" -v ns="$ns" -v f="$first" 'BEGIN {
		printf "   %8d sessions open: %4d ns a segment (%.2fx the cost at 1,000)\n", n, ns, (f > 0 ? ns / f : 0) }'
done
rm -f "$tmp/lk0.pcap" "$tmp/lk.pcap" "$tmp/lk0.t" "$tmp/lk.t"

# ---- memory per idle session ----
echo
echo "== memory per idle session (handshake and one byte each way, nothing buffered)"
n_idle=${BENCH_IDLE_SESSIONS:-1000000}
"$B/tests/benchgen" idle "$tmp/idle.pcap" "$n_idle" > /dev/null
"$B/tests/benchgen" idle "$tmp/idle0.pcap" 1000 > /dev/null
measure "reasmd idle" "$B/reasmd" -r "$tmp/idle.pcap"
rss_n=$rss
measure "reasmd idle baseline" "$B/reasmd" -r "$tmp/idle0.pcap"
rss_0=$rss
awk -v a="$rss_n" -v b="$rss_0" -v n="$n_idle" 'BEGIN {
	printf "   %d sessions open at once: peak RSS %d KB vs %d KB for 1,000: %.0f bytes per idle session (limit 512)\n",
	    n, a, b, (a - b) * 1024 / (n - 1000) }'
rm -f "$tmp/idle.pcap" "$tmp/idle0.pcap"
tests/bench/bench-sinks.sh "$B"
echo
tests/bench/bench-profiles.sh "$B"
echo
tests/bench/bench-ceiling.sh "$B"
