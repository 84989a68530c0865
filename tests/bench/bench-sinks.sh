#!/bin/bash
# bench-sinks.sh BUILD_DIR — records per second through each sink with one
# fast consumer, beside socat-to-socat on loopback, in the same run.
#
# Input: one long session (BENCH_SINK_MIB, default 512 MiB of responses) as
# a record stream made by reasmd -w; each sink reads it with -r.
#   listener:  a consumer connects to both ports as soon as listener_ports
#              appears and reads to the end (python, recv_into: ~GB/s)
#   connector: two socat listeners that discard
#   pcap:      per-session pcapng and rolling pcapng into tmpfs
# A consumer that cannot keep up costs drops, never time: the drops are
# printed beside each figure (0 means the figure is the sink's own pace).
set -eu
B=${1:-build}
cd "$(dirname "$0")/../.."
ulimit -S -f 4194304	# bash: 1 KiB blocks; soft (bench.sh set one too)
tmp=${BENCH_DIR:-/dev/shm}/sth-bench-sinks.$$
mkdir -p "$tmp"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
mib=${BENCH_SINK_MIB:-512}
port=$(( 30000 + $$ % 20000 ))

BENCHGEN_FLOWS=1 "$B/tests/benchgen" bulk "$tmp/one.pcap" "$mib" > "$tmp/one.info"
"$B/reasmd" -r "$tmp/one.pcap" -w "$tmp/one.sth" 2>/dev/null
rm -f "$tmp/one.pcap"
records=$("$B/stethoscope-dump" "$tmp/one.sth" | wc -l)
chunks=$("$B/stethoscope-dump" "$tmp/one.sth" | grep -c '^chunk' || true)
packets=$("$B/stethoscope-dump" "$tmp/one.sth" | grep -c '^packet' || true)
bytes=$(sed 's/.*payload_bytes=\([0-9]*\).*/\1/' "$tmp/one.info")
echo
echo "== sinks: one session, $(awk -v b="$bytes" 'BEGIN { printf "%.0f MB", b / 1e6 }') of stream bytes;" \
    "record stream $(stat -c %s "$tmp/one.sth" | awk '{ printf "%.0f MB", $1 / 1e6 }'), $records records ($chunks chunks, $packets packets)"

now() { date +%s.%N; }
report() {	# report LABEL T0 T1 RECORDS BYTES DROPS
	awk -v l="$1" -v t0="$2" -v t1="$3" -v r="$4" -v b="$5" -v d="$6" 'BEGIN {
		w = t1 - t0; printf "%-40s %6.2f s %9.0f records/s %6.0f MB/s out   %s\n", l, w, r / w, b / w / 1e6, d }'
}
# delivered ERRFILE: the bytes the sink delivered (its summary)
delivered() {
	sed -n 's/.* \([0-9]*\) delivered, .*/\1/p' "$1"
}
# drops ERRFILE: the non-zero drop counts of the summary
drops() {
	grep 'dropped:' "$1" | sed 's/.*dropped: //; s/ (bytes).*//' | tr ' ' '\n' | grep -v '=0$' | tr '\n' ' ' | sed 's/^$/none/'
}

cat > "$tmp/conf.json" <<EOC
{ io: { input: { capture: { buffer_bytes: 67108864 } },
        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $port, port_range_end: $((port + 9)),
                             first_requests_port: $((port + 10)), first_responses_port: $((port + 11)) },
                  "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $((port + 20)), responses_port: $((port + 21)),
                                   timeouts: { connect: 2, "retry-every": 1 } } } },
  runtime: { close_linger_sec: 2, max_output_buffer_bytes: 67108864 } }
EOC

# socat to socat: the loopback ceiling for one TCP stream
socat -u TCP-LISTEN:$((port + 30)),bind=127.0.0.1,reuseaddr - > /dev/null &
for i in $(seq 100); do ss -ltn "sport = :$((port + 30))" | grep -q LISTEN && break; sleep 0.02; done
t0=$(now)
socat -u "OPEN:$tmp/one.sth" TCP:127.0.0.1:$((port + 30))
wait
t1=$(now)
sz=$(stat -c %s "$tmp/one.sth")
report "socat -> socat (the stream file)" "$t0" "$t1" "$records" "$sz" "(loopback ceiling, one TCP stream)"

# listener: the consumer is started first and connects the moment the
# ports are bound
python3 - "$((port + 10))" "$((port + 11))" <<'EOP' &
import socket, sys, threading, time
# The first session's ports are known (first_*_port): connect as soon as
# they are bound, so the consumer is there from the first bytes.
ports = (int(sys.argv[1]), int(sys.argv[2]))
def read(p):
    deadline = time.time() + 30
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", p))
            break
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(0.0005)
    buf = bytearray(1 << 20)
    while s.recv_into(buf):
        pass
ts = [threading.Thread(target=read, args=(p,)) for p in ports]
[t.start() for t in ts]
[t.join() for t in ts]
EOP
C=$!
t0=$(now)
"$B/sinkd" listener -c "$tmp/conf.json" -r "$tmp/one.sth" --events "$tmp/ev.l" 2>"$tmp/l.err" &
S=$!
wait $S
t1=$(now)
wait $C
# the wall time includes close_linger_sec (2 s) the ports stay open after
# the close: it is taken out
t1=$(awk -v t="$t1" 'BEGIN { printf "%.3f", t - 2 }')
report "sinkd listener -> one consumer" "$t0" "$t1" "$records" "$(delivered "$tmp/l.err")" "drops: $(drops "$tmp/l.err")"

# connector
socat -u TCP-LISTEN:$((port + 20)),bind=127.0.0.1,reuseaddr - > /dev/null &
socat -u TCP-LISTEN:$((port + 21)),bind=127.0.0.1,reuseaddr - > /dev/null &
for i in $(seq 100); do ss -ltn "sport = :$((port + 21))" | grep -q LISTEN && break; sleep 0.02; done
t0=$(now)
"$B/sinkd" connector -c "$tmp/conf.json" -r "$tmp/one.sth" 2>"$tmp/c.err"
t1=$(now)
wait
report "sinkd connector -> socat targets" "$t0" "$t1" "$records" "$(delivered "$tmp/c.err")" "drops: $(drops "$tmp/c.err")"

# pcap
for mode in "--per-session" ""; do
	rm -rf "$tmp/pc"
	t0=$(now)
	"$B/sinkd" pcap -c "$tmp/conf.json" -r "$tmp/one.sth" --dir "$tmp/pc" $mode 2>"$tmp/p.err"
	t1=$(now)
	d=$(grep 'frames: written' "$tmp/p.err" | sed 's/.*frames: //; s/;.*//')
	d="frames $d"
	report "sinkd pcap ${mode:---rolling} -> tmpfs" "$t0" "$t1" "$records" "$(du -sb "$tmp/pc" | cut -f1)" "$d"
done
echo "   records/s: the sink's pace through the whole stream; MB/s out: bytes the consumer or"
echo "   target took (listener, connector) or bytes written (pcap).  A sink never waits for a"
echo "   consumer (DESIGN.md section 4): what a consumer cannot take is dropped and counted"
echo "   above; pcap fed a record stream (-r) waits for its writer instead (lossless)."
echo "   CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
