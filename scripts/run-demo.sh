#!/bin/sh
# run-demo.sh BUILD_DIR — what `make run` shows: reasmd rebuilding the
# conversations of a capture the project generates itself (an HTTP exchange
# and a SIP call over TCP), printed tcpflow-style, then its summary.
set -eu
B=${1:-build}
cd "$(dirname "$0")/.."
run=$B/run/demo
rm -rf "$run"
mkdir -p "$run"
python3 tests/gen/pcapgen.py --demo "$run/demo.pcap"
echo "== reasmd -r $run/demo.pcap -o $run/streams"
"$B/reasmd" -r "$run/demo.pcap" -o "$run/streams" --events "$run/events.jsonl" 2>"$run/summary.txt" || {
	cat "$run/summary.txt"; exit 1; }
python3 - "$run/streams" <<'PY'
import json, os, sys
out = sys.argv[1]
for line in open(os.path.join(out, "sessions.jsonl")):
    s = json.loads(line)
    f = s["flow"]
    c = "%s:%d" % (f["client_ip"], f["client_port"])
    v = "%s:%d" % (f["server_ip"], f["server_port"])
    print("\n--- session %d: %s -> %s, closed by %s" % (s["session_id"], c, v, s["reason"]))
    for d, a, b in (("requests", c, v), ("responses", v, c)):
        data = open(os.path.join(out, s[d]["file"]), "rb").read()
        print("%s.%s-%s.%s (%s, %d bytes, %d gap bytes):" % (
            a.rsplit(":", 1)[0], a.rsplit(":", 1)[1], b.rsplit(":", 1)[0], b.rsplit(":", 1)[1],
            d, len(data), s[d]["gap_bytes"]))
        text = data.decode("utf-8", "replace").replace("\r\n", "\n")
        for l in text.rstrip("\n").split("\n"):
            print("    " + l)
PY
echo
grep -v 'INFO' "$run/summary.txt" || true
echo
echo "Files: $run/streams/ (one file per direction and sessions.jsonl), events: $run/events.jsonl"
echo "Try:   $B/reasmd -r tests/corpus/heplify-sip_ipv4_tcp_retrans.pcap -o /tmp/out  (any pcap or pcapng; -r - reads stdin)"
