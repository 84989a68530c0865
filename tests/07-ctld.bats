#!/usr/bin/env bats
# ctld and stethoscope-ctl under the launcher: events, sessions, close,
# stats, metrics, and bad input on the control socket.

load helper

CHECK="python3 $TOP/tests/gen/sinkcheck.py"
RUN="$TOP/scripts/stethoscope-run"

port_base() {
	echo $(( 20000 + (($$ + RANDOM) % 200) * 200 ))
}

setup_file() {
	export STETHOSCOPE_BINDIR=${STH_BUILD:-$TOP/build}
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
}

# start_run SECONDS [EXTRA-CONTROL-KEYS]: a paced one-session replay under
# stethoscope-run with the listener, ctld on its own ports
start_run() {
	# the session opens 1.5 s into the replay: a control client is there by then
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap "$1" 400000 1.5
	base=$(port_base)
	CTL_PORT=$((base + 150))
	METRICS_PORT=$((base + 151))
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                             port_range_end: $((base + 99)) } } },
	  control: { listen_port: $CTL_PORT, metrics_port: $METRICS_PORT $2 },
	  logging: { stats: { report_interval: 1 } },
	  runtime: { workers: 1, run_dir: "$T/run", close_linger_sec: 0.5 } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	SOCK=$T/run/control.sock
	CTL="$STETHOSCOPE_BINDIR/stethoscope-ctl"
}

@test "ctl: events, sessions, one session, close it, stats and metrics; the run still ends with 0" {
	require_cmd curl
	start_run 8
	timeout 60 "$CTL" -s "$SOCK" watch > watch.jsonl &
	W=$!
	wait_for grep -q '"tcp_open"' watch.jsonl
	run "$CTL" -s "$SOCK" sessions
	[ "$status" -eq 0 ]
	id=$(python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['flow']['session_id'])" <<< "$output")
	run "$CTL" -H "127.0.0.1:$CTL_PORT" session "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"client_port":43000'* || "$output" == *'"client_port": 43000'* ]]
	run "$CTL" -s "$SOCK" stats
	[ "$status" -eq 0 ]
	[[ "$output" == *'"sessions_open"'*'"daemons"'* ]]
	run curl -sf "http://127.0.0.1:$METRICS_PORT/metrics"
	[ "$status" -eq 0 ]
	[[ "$output" == *"stethoscope_sessions_open 1"* ]]
	[[ "$output" == *'stethoscope_counter{daemon="reasmd",shard="0",name="packets"}'* ]]
	run "$CTL" -s "$SOCK" close "$id"
	[ "$status" -eq 0 ]
	re='"ok": ?true'
	[[ "$output" =~ $re ]]
	WAIT_SECS=10 wait_for grep -q '"reason":"control' watch.jsonl
	run "$CTL" -s "$SOCK" session "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not_found"* ]]
	run "$CTL" -s "$SOCK" close 999999
	[ "$status" -eq 1 ]
	wait $L
	kill $W 2>/dev/null || true
	for e in tcp_open listener_ports tcp_close session_summary; do
		grep -q "\"event\":\"$e\"" watch.jsonl
	done
	$CHECK jsonl watch.jsonl >/dev/null
	grep -q "stats: " run.log
	# the sink's books balance for the closed session (and for the one the
	# connection's later packets opened, mid-stream, after the close)
	$CHECK books run/listener.events.jsonl >/dev/null
	grep -q '"reason":"control_close"' run/listener.events.jsonl
}

@test "ctl: bad JSON, unknown commands and lines over 64 KiB get an error; the connection stays usable" {
	require_cmd socat
	start_run 4
	python3 - "$T/run/control.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
def send(b):
    f.write(b + b"\n"); f.flush()
def until(pred):
    while True:
        e = json.loads(f.readline())
        if pred(e):
            return e
send(b"{not json")
e = until(lambda e: e["event"] == "control_error")
assert e["error"] == "bad_json", e
send(b'{"cmd":"frobnicate"}')
e = until(lambda e: e.get("reply_to") == "frobnicate")
assert e["ok"] is False and e["error"] == "unknown_cmd", e
send(b'{"cmd":"ping","pad":"' + b"x" * 70000 + b'"}')
e = until(lambda e: e["event"] == "control_error")
assert e["error"] == "line_too_long", e
send(b'{"cmd":"get_session"}')
e = until(lambda e: e.get("reply_to") == "get_session")
assert e["error"] == "missing_session_id", e
send(b'{"cmd":"ping"}')
e = until(lambda e: e.get("reply_to") == "ping")
assert e["ok"] is True, e
PY
	kill -TERM "$(pgrep -P $L)"
	wait $L
}

@test "ctl: with control.token set, mutating commands need it" {
	start_run 4 ', token: "s3cret"'
	wait_for sh -c "'$STETHOSCOPE_BINDIR/stethoscope-ctl' -s '$T/run/control.sock' sessions | grep -q session_id"
	id=$("$CTL" -s "$SOCK" sessions | python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['flow']['session_id'])")
	run "$CTL" -s "$SOCK" close "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *unauthorized* ]]
	run "$CTL" -s "$SOCK" --token s3cret close "$id"
	[ "$status" -eq 0 ]
	kill -TERM "$(pgrep -P $L)"
	wait $L
}
