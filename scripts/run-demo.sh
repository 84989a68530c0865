#!/bin/sh
# run-demo.sh BUILD_DIR — what `make run` shows: the whole tap, started by
# stethoscope-run, replaying a capture the project generates itself (an
# HTTP exchange and a SIP call over TCP) at its original pace through capd,
# reasmd, the listener and pcap sinks; a bundled consumer prints each
# conversation from the listener ports; then the counters and the files.
set -eu
B=${1:-build}
cd "$(dirname "$0")/.."
D=$B/demo
rm -rf "$D"
mkdir -p "$D"
D=$(cd "$D" && pwd)
base=$(( 47000 + $$ % 1000 ))
if [ "${LIVE:-0}" = 1 ]; then
	exec sh scripts/run-demo-live.sh "$B" "$D" "$base"
fi
python3 tests/gen/pcapgen.py --demo "$D/demo.pcap"
cat > "$D/demo.json" <<EOC
// make run: the bundled default (see examples/ for annotated configurations)
{
  io: {
    input: { capture: { file: "$D/demo.pcap" } },
    output: {
      listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base, port_range_end: $((base + 99)) },
      pcap: { enabled: true, dir: "$D/pcap", per_session: true, format: "pcapng" },
    },
  },
  control: { listen_port: $((base + 100)) },
  runtime: { workers: 1, run_dir: "$D/run", close_linger_sec: 2.0 },
}
EOC
if [ "$(id -u)" -ne 0 ]; then
	echo "(not root: the daemons run as $(id -un), the invoking user, and say so)"
fi
echo "== scripts/stethoscope-run -c $D/demo.json --speed 1"
scripts/stethoscope-run -c "$D/demo.json" --speed 1 2>"$D/run.log" &
L=$!
python3 scripts/demo-consumer.py "$D/run/listener.events.jsonl" "$L" &
C=$!
status=0
wait $L || status=$?
wait $C || true
echo
grep -E 'WARNING|ERROR|^(capd|reasmd|sinkd)' "$D/run.log" | grep -v 'INFO' || true
grep -E 'stopped|dropped privileges|running as' "$D/run.log" | sed 's/^[^ ]* //' | sort -u | head -8
echo
echo "pcap files ($D/pcap):"
ls -1 "$D/pcap" | sed 's/^/    /'
echo "events: $D/run/*.events.jsonl; the daemons' log: $D/run.log; configuration: $D/demo.json"
exit $status
