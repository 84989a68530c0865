#!/bin/sh
# tests/soak/soak.sh BUILD_DIR — what `make soak` runs (not CI: an hour).
#
# The whole tap through stethoscope-run, every output on: the listener
# (a consumer takes every session), the connector (a target takes every
# stream), pcap per session (with retention) and per call, the json sink,
# and the nats sink when nats-server is installed.  Its capture reads a
# FIFO that tests/soak/feed.py fills in real time with new TCP sessions
# and SIP calls with RTP.  Every SOAK_SAMPLE seconds the RSS and the open
# descriptors of every daemon are written down (build/soak/samples.tsv).
#
# It fails if a daemon's own memory (its RSS less the shared-memory rings'
# pages, RssShmem, which the RSS counts as they are first touched: a ring
# that carries little fills them slowly, bounded by runtime.ring_bytes)
# grows more than 5% after the warm-up (the highest value of the last
# SOAK_WARMUP seconds against the highest of the SOAK_WARMUP seconds after
# the warm-up), or its descriptors' floor does (the lowest value of each:
# a sink's open files and connections come and go with the work in
# flight; a leaked one raises the floor), if its rings' pages pass runtime.ring_bytes
# for every ring it maps, if any book does not balance, if the run does not
# end 0, or if the sessions and calls the tap saw are not those fed.  A line
# per daemon sums it up.
#
# What a daemon keeps by design up to a limit fills within the warm-up, so
# that growth after it is a leak, not a table filling: ctld keeps 200 ended
# calls here (control.max_calls; 10,000 by default, hours of calls), its
# event history reaches control.resume_bytes in minutes.
#
#   SOAK_SECONDS (3600)  SOAK_WARMUP (600)  SOAK_SAMPLE (60)
#   SOAK_SESSIONS (20 a second)  SOAK_CALL_EVERY (2 s)
#   SOAK_WRAPPER: every daemon runs under it (stethoscope-run --wrapper);
#   SOAK_GROWTH=0: growth not judged (make valgrind: a short run)
set -u
B=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
# As root, the whole soak runs in a network namespace of its own: its
# sockets (thousands of connections an hour) never take a port another
# program on this machine, make test say, wants.
if [ "$(id -u)" -eq 0 ] && [ -z "${SOAK_IN_NETNS:-}" ] && command -v ip > /dev/null; then
	ns=sth-soak-$$
	if ip netns add "$ns" 2> /dev/null; then
		ip -n "$ns" link set lo up
		rc=0
		SOAK_IN_NETNS=$ns ip netns exec "$ns" sh "$0" "$B" || rc=$?
		ip netns del "$ns"
		exit $rc
	fi
fi
secs=${SOAK_SECONDS:-3600} warm=${SOAK_WARMUP:-600} every=${SOAK_SAMPLE:-60}
D=${SOAK_DIR:-$top/build/soak}
rm -rf "$D"
mkdir -p "$D"
chmod 755 "$D"
cd "$D" || exit 1
export STETHOSCOPE_BINDIR=$B
# below the ephemeral ports (32768 up), where no outgoing connection takes
# one, and below the tests' (20000 up: make soak may run beside make test)
base=$(( 12000 + $$ % 30 * 20 ))
nats=
if command -v nats-server > /dev/null; then
	nats-server -js -sd "$D/js" -a 127.0.0.1 -p $((base + 7)) -m $((base + 8)) > nats.log 2>&1 &
	NATS_PID=$!
	nats="nats: { enabled: true, url: \"nats://127.0.0.1:$((base + 7))\", sensor: \"soak\" },"
	sleep 1
fi
mkfifo feed.pcap
# the connector's targets: count what each connection brings
cat > targets.py <<'PY'
import socket, sys, threading, signal, json
tot = {"connections": 0, "bytes": 0}
lock = threading.Lock()
def serve(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port)); l.listen(256)
    while True:
        c, _ = l.accept()
        def take(c):
            n = 0
            while True:
                b = c.recv(65536)
                if not b:
                    break
                n += len(b)
            c.close()
            with lock:
                tot["connections"] += 1; tot["bytes"] += n
        threading.Thread(target=take, args=(c,), daemon=True).start()
def done(*a):
    with lock:
        json.dump(tot, open("targets.json", "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
signal.pause()
PY
python3 targets.py $((base + 1)) $((base + 2)) &
TG=$!
python3 "$top/tests/gen/hepserver.py" $((base + 4)) hep.got --seconds $((secs + 600)) > hep.out 2>&1 &
HS=$!
cat > soak.json <<EOF
{ io: { input: { capture: { file: "$D/feed.pcap" } },
        output: { listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $((base + 100)), port_range_end: $((base + 2099)) },
                  "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $((base + 1)), responses_port: $((base + 2)) },
                  pcap: { enabled: true, dir: "$D/pcap", per_session: true, format: "pcapng", max_total_bytes: 268435456 },
                  json: { enabled: true, path: "$D/events.jsonl" },
                  hep: { enabled: true, host: "127.0.0.1", port: $((base + 4)) },
                  $nats } },
  voip: { enabled: true, per_call_pcap: true, media_grace_sec: 1 },
  control: { listen_port: $((base + 3)), max_calls: 200 },
  runtime: { workers: 2, run_dir: "$D/run", drain_timeout_ms: 30000 } }
EOF
python3 "$top/tests/soak/feed.py" feed.pcap "$secs" --sessions "${SOAK_SESSIONS:-20}" \
    --call-every "${SOAK_CALL_EVERY:-2}" --truth truth.json > feed.out 2>&1 &
F=$!
"$top/scripts/stethoscope-run" -c soak.json ${SOAK_WRAPPER:+--wrapper "$SOAK_WRAPPER"} 2> run.log &
L=$!
python3 "$top/tests/soak/consumer.py" "$D/run/listener.events.jsonl" "$L" > consumer.json 2> consumer.err &
C=$!
echo "soak: ${secs}s, every output on$([ -n "$nats" ] && echo ", nats too"); samples every ${every}s in $D/samples.tsv"
printf 't\tdaemon\tpid\trss_kb\tanon_kb\tshmem_kb\tfds\n' > samples.tsv
t0=$(date +%s)
while kill -0 $L 2>/dev/null; do
	t=$(( $(date +%s) - t0 ))
	for p in $(pgrep -f -- "-c $D/run/config.json"); do
		cmd=$( { tr '\0' ' ' < /proc/$p/cmdline; } 2>/dev/null) || continue
		case "$cmd" in
		*"reasmd "*) name="reasmd$(echo "$cmd" | sed -n 's/.*--shard \([0-9]*\).*/.\1/p')" ;;
		*"sinkd "*) name="sinkd-$(echo "$cmd" | sed -n 's/.*sinkd \([a-z]*\) .*/\1/p')" ;;
		*"capd "*) name=capd ;;
		*"ctld "*) name=ctld ;;
		*) continue ;;
		esac
		m=$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssShmem:/ { s = $2 }
		    END { if (r != "") printf "%d\t%d\t%d", r, a, s }' /proc/$p/status 2>/dev/null)
		fds=$(ls /proc/$p/fd 2>/dev/null | wc -l)
		[ -n "$m" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$name" "$p" "$m" "$fds" >> samples.tsv
	done
	i=0
	while [ $i -lt "$every" ] && kill -0 $L 2>/dev/null; do sleep 1; i=$((i + 1)); done
done
rc=0
wait $L || rc=$?
wait $F || true
wait $C || true
kill -TERM $TG $HS 2>/dev/null; wait $TG $HS 2>/dev/null
[ -n "${NATS_PID:-}" ] && { kill $NATS_PID; wait $NATS_PID 2>/dev/null; }
echo "run ended with status $rc; the daemons' log: $D/run.log"
python3 "$top/tests/soak/verdict.py" "$D" "$warm" "$rc" "${SOAK_GROWTH:-1}"
