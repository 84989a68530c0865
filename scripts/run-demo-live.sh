#!/bin/sh
# run-demo-live.sh BUILD_DIR DEMO_DIR PORT_BASE — `make run LIVE=1`: the tap
# on a live interface.  Two network namespaces joined by a veth pair; a web
# server in one, curl in the other, and stethoscope-run capturing on the
# client's side of the pair; a bundled consumer prints each conversation
# from the listener ports.  Needs root; cleans up after itself.
set -eu
B=$1 D=$2 base=$3
if [ "$(id -u)" -ne 0 ]; then
	echo "make run LIVE=1 needs root (it makes two network namespaces); try: sudo make run LIVE=1" >&2
	exit 2
fi
id=$(printf '%04x' $(( $$ % 65536 )))
NSA=sth-demo-a-$id NSB=sth-demo-b-$id VA=sthda$id VB=sthdb$id
cleanup() {
	[ -n "${L:-}" ] && kill -TERM "$L" 2>/dev/null && wait "$L" 2>/dev/null
	[ -n "${H:-}" ] && kill "$H" 2>/dev/null
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$NSA"
ip netns add "$NSB"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$NSA"
ip link set "$VB" netns "$NSB"
ip -n "$NSA" addr add 10.78.0.1/24 dev "$VA"
ip -n "$NSB" addr add 10.78.0.2/24 dev "$VB"
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip -n "$NSA" link set "$VA" up
ip -n "$NSB" link set "$VB" up
mkdir -p "$D/www"
printf 'Hello from the stethoscope live demo.\n' > "$D/www/hello.txt"
ip netns exec "$NSB" python3 -m http.server 8080 --bind 10.78.0.2 --directory "$D/www" >/dev/null 2>&1 &
H=$!
i=0
until ip netns exec "$NSB" ss -ltn | grep -q '10.78.0.2:8080'; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "the demo web server did not start" >&2; exit 1; }
	sleep 0.05
done
cat > "$D/demo.json" <<EOC
// make run LIVE=1: the tap on the veth $VA in namespace $NSA
{
  io: {
    input: { capture: { iface: "$VA", "bpf-filter": "tcp port 8080" } },
    output: {
      listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base, port_range_end: $((base + 99)) },
      pcap: { enabled: true, dir: "$D/pcap", per_session: true },
    },
  },
  control: { listen_port: $((base + 100)) },
  runtime: { workers: 1, run_dir: "$D/run", close_linger_sec: 2.0 },
}
EOC
echo "== ip netns exec $NSA scripts/stethoscope-run -c $D/demo.json   (capturing on $VA)"
ip netns exec "$NSA" scripts/stethoscope-run -c "$D/demo.json" 2>"$D/run.log" &
L=$!
i=0
until grep -q "daemons are ready" "$D/run.log" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$L" 2>/dev/null; then
		cat "$D/run.log"
		exit 1
	fi
	sleep 0.05
done
ip netns exec "$NSA" python3 scripts/demo-consumer.py "$D/run/listener.events.jsonl" "$L" &
C=$!
for n in 1 2; do
	ip netns exec "$NSA" curl -s -o /dev/null "http://10.78.0.2:8080/hello.txt"
done
# both sessions closed and settled by the listener, then stop
i=0
while [ "$(cat "$D/run/listener.events.jsonl" 2>/dev/null | grep -c '"sink_summary"')" -lt 2 ] && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
kill -TERM "$L"
status=0
wait "$L" || status=$?
L=
wait "$C" || true
echo
grep -E 'WARNING|ERROR|^(capd|reasmd|sinkd)' "$D/run.log" | grep -v INFO || true
grep -E 'stopped|running as' "$D/run.log" | sed 's/^[^ ]* //' | sort -u | head -4
echo
echo "pcap files ($D/pcap):"
ls -1 "$D/pcap" | sed 's/^/    /'
exit $status
