#!/usr/bin/env bats
# ctld and stethoscope-ctl under the launcher: events, sessions, close,
# stats, metrics, and bad input on the control socket.

load helper

CHECK="python3 $TOP/tests/gen/sinkcheck.py"
RUN="$TOP/scripts/stethoscope-run"

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
	wait_for grep -q '"tcp_open"' watch.jsonl || { cut -c1-150 watch.jsonl; grep -a 'signal\|exited\|ERROR\|WARN' run.log; false; }
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
	[[ "$output" == *'stethoscope_sessions_open{daemon="ctld"} 1'* ]]
	[[ "$output" == *'stethoscope_reasm_packets_total{daemon="reasmd",shard="0"}'* ]]
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
	# the sink's books balance for the closed session
	$CHECK books run/listener.events.jsonl >/dev/null
	grep -q '"reason":"control_close"' run/listener.events.jsonl
	# and it stayed closed: the connection's later packets are counted as
	# closed_by_control, not opened again as a mid-stream session
	[ "$(grep -c '"event":"tcp_open"' watch.jsonl)" -eq 1 ] || { grep -a 'tcp_open\|tcp_close' watch.jsonl | cut -c1-250; grep -a 'reasmd:' run.log; false; }
	grep -q 'reasmd: closed_by_control=[1-9][0-9]* packets' run.log
	! grep -q '"role_guessed":true' watch.jsonl
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

# The daemons' part of a stats reply (it changes while traffic flows).
daemons_part() {
	python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['stats']['daemons'], sort_keys=True))" < "$1"
}

@test "counters: every counter a daemon keeps reaches stats and /metrics with the same value; the last stats line counts the pcap frames written" {
	require_cmd curl
	require_cmd tshark
	python3 "$TOP/tests/gen/pcapgen.py" --counters c.pcap 8
	base=$(port_base)
	CTL_PORT=$((base + 150))
	METRICS_PORT=$((base + 151))
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/c.pcap" } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                             port_range_end: $((base + 99)) },
	                  pcap: { enabled: true, dir: "$T/pcap" },
	                  json: { enabled: true, path: "$T/events.jsonl" } } },
	  control: { listen_port: $CTL_PORT, metrics_port: $METRICS_PORT },
	  logging: { stats: { report_interval: 1 } },
	  runtime: { workers: 1, run_dir: "$T/run", close_linger_sec: 0.2 } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	SOCK=$T/run/control.sock
	CTL="$STETHOSCOPE_BINDIR/stethoscope-ctl"
	# ctld answers stats and /metrics from the values it holds, which change
	# when a daemon's counters arrive (each second): a stats reply, /metrics
	# and another equal reply read one state.  The traffic is in by the
	# time http_requests reaches 3.
	ok=0
	for i in $(seq 1 40); do
		sleep 0.25
		"$CTL" -s "$SOCK" stats > s1.json || { tail -n 40 run.log; false; }
		curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" > metrics.txt
		"$CTL" -s "$SOCK" stats > s2.json
		a=$(daemons_part s1.json)
		if [ "$a" = "$(daemons_part s2.json)" ] && [[ "$a" == *'"http_requests": 3'* ]] &&
		    [[ "$a" == *'"sinkd json.0"'* ]]; then ok=1; break; fi
	done
	[ $ok -eq 1 ]
	run python3 "$TOP/tests/gen/ctrcheck.py" "$STETHOSCOPE_BINDIR/ctld" s2.json metrics.txt
	echo "$output"
	[ "$status" -eq 0 ]
	# the counters that moved, by name, as the daemons keep them
	grep -q 'stethoscope_decode_error_packets_total{daemon="reasmd",shard="0",reason="truncated_tcp"} 1' metrics.txt
	grep -q 'stethoscope_http_responses_total{daemon="reasmd",shard="0"} 3' metrics.txt
	grep -q 'stethoscope_tcp_sessions_closed_total{daemon="reasmd",shard="0",reason="fin"} 2' metrics.txt
	wait $L
	# the last stats line, after every daemon's final counters: the pcap
	# frames it counts are the frames in the files
	last=$(grep "stats: .*(last)" run.log | tail -n 1)
	[ -n "$last" ]
	echo "$last"
	written=$(sed -n 's/.*pcap frames \([0-9]*\) (queue_full 0, write_error 0).*/\1/p' <<< "$last")
	infile=0
	for f in pcap/*; do infile=$((infile + $(tshark -r "$f" 2>/dev/null | wc -l))); done
	[ "$written" -gt 0 ]
	[ "$written" -eq "$infile" ]
	[ "$written" -eq "$(tshark -r c.pcap | wc -l)" ]
	[[ "$last" == *" 0 sessions open,"* ]]
	[[ "$last" == *"http requests 3 responses 3"* ]]
}

@test "counters: docs/counters.md is the table ctld has; a daemon of another link version is refused and counted" {
	python3 "$TOP/scripts/mkcounters.py" "$STETHOSCOPE_BINDIR/ctld" > counters.md
	diff -u "$TOP/docs/counters.md" counters.md
	mkdir run
	echo '{ control: { listen_port: 0 } }' > c.json
	"$STETHOSCOPE_BINDIR/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	python3 - "$T/run" <<'PY'
import json, socket, sys, time
run = sys.argv[1]
d = socket.socket(socket.AF_UNIX)
d.connect(run + "/ctld.sock")
d.sendall(b'{"hello":"reasmd","shard":0,"v":99}\n{"cat":"stats","event":"daemon_counters","counters":{"packets":5}}\n')
d.settimeout(5)
assert d.recv(100) == b"", "an old daemon must be disconnected"
g = socket.socket(socket.AF_UNIX)
g.connect(run + "/ctld.sock")
g.sendall(b'{"hello":"reasmd","shard":1,"v":1}\n'
          b'{"cat":"stats","event":"daemon_counters","counters":{"packets":5,"bogus":1,"gap_bytes":-3}}\n')
time.sleep(0.3)
c = socket.socket(socket.AF_UNIX)
c.connect(run + "/control.sock")
f = c.makefile("rwb")
f.write(b'{"cmd":"stats"}\n'); f.flush()
while True:
    e = json.loads(f.readline())
    if e.get("reply_to") == "stats":
        break
s = e["stats"]
assert s["daemons"] == {"reasmd.1": {"packets": 5}}, s
assert s["bad_daemon_lines"] == 2, s
PY
	kill -TERM $C
	wait $C
	grep -q "version 99 of the ctld link" ctld.log
	grep -q '"bogus" is no reasmd counter' ctld.log
	grep -q "stats: .*(last)" ctld.log
}

@test "ctld's session table is bounded (control.max_sessions, counted when full) and forgets a lost shard's sessions" {
	mkdir run
	echo '{ control: { listen_port: 0, max_sessions: 3 } }' > c.json
	"$STETHOSCOPE_BINDIR/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	python3 - "$T/run" <<'PY'
import json, socket, sys, time
run = sys.argv[1]
def line(o):
    return (json.dumps(o) + "\n").encode()
def opened(sid):
    return line({"ts": "2026-01-01T00:00:00Z", "cat": "session", "event": "tcp_open",
                 "flow": {"session_id": sid, "client_ip": "10.0.0.1", "client_port": 1000 + sid % 1000,
                          "server_ip": "10.0.0.2", "server_port": 80}})
d = socket.socket(socket.AF_UNIX)
d.connect(run + "/ctld.sock")
d.sendall(line({"hello": "reasmd", "shard": 1, "v": 1}) + opened((1 << 37) | 1))
d2 = socket.socket(socket.AF_UNIX)
d2.connect(run + "/ctld.sock")
d2.sendall(line({"hello": "reasmd", "shard": 0, "v": 1}) + b"".join(opened(i) for i in range(1, 5)))
time.sleep(0.3)
c = socket.socket(socket.AF_UNIX)
c.connect(run + "/control.sock")
f = c.makefile("rwb")
def ask(cmd):
    f.write(line({"cmd": cmd})); f.flush()
    while True:
        e = json.loads(f.readline())
        if e.get("reply_to") == cmd:
            return e
ids = sorted(s["flow"]["session_id"] for s in ask("list_sessions")["sessions"])
assert ids == [1, 2, (1 << 37) | 1], ids
s = ask("stats")["stats"]
assert s["sessions_table_full"] == 2 and s["sessions_open"] == 3, s
# the launcher says shard 0 died
l = socket.socket(socket.AF_UNIX)
l.connect(run + "/ctld.sock")
l.sendall(line({"hello": "launcher", "shard": 0, "v": 1}) +
          line({"ts": "2026-01-01T00:00:01Z", "cat": "drops", "event": "shard_lost", "shard": 0, "shard_lost": 1}))
time.sleep(0.3)
ids = [s["flow"]["session_id"] for s in ask("list_sessions")["sessions"]]
assert ids == [(1 << 37) | 1], ids
s = ask("stats")["stats"]
assert s["sessions_lost"] == 2 and s["shard_lost"] == 1, s
PY
	kill -TERM $C
	wait $C
	grep -q "control.max_sessions" ctld.log
	grep -q "shard 0 was lost: its 2 open sessions are no longer listed" ctld.log
}

@test "ctld numbers events for a subscriber that asks (seq) and keeps the last control.resume_bytes of them: one that comes back with since gets the rest again; what is no longer kept is an events_missed event, counted; a number from before this ctld is not resumed; plain subscribers see no number" {
	mkdir run
	echo '{ control: { listen_port: 0, resume_bytes: 8192 } }' > c.json
	"$STETHOSCOPE_BINDIR/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	python3 - "$T/run" <<'PY'
import json, socket, sys, time
run = sys.argv[1]
def line(o):
    return (json.dumps(o) + "\n").encode()
def opened(sid):
    return line({"ts": "2026-01-01T00:00:00Z", "cat": "session", "event": "tcp_open",
                 "flow": {"session_id": sid, "client_ip": "10.0.0.1", "client_port": 1000 + sid % 1000,
                          "server_ip": "10.0.0.2", "server_port": 80}})
def client(sub):
    c = socket.socket(socket.AF_UNIX)
    c.connect(run + "/control.sock")
    f = c.makefile("rwb")
    f.write(line(sub)); f.flush()
    while True:
        e = json.loads(f.readline())
        if e.get("reply_to") == "subscribe":
            return c, f, e
def take(f, n):
    return [json.loads(f.readline()) for _ in range(n)]
d = socket.socket(socket.AF_UNIX)
d.connect(run + "/ctld.sock")
d.sendall(line({"hello": "reasmd", "shard": 0, "v": 1}))
a, fa, r = client({"cmd": "subscribe", "cats": ["session"], "seq": True})
b, fb, _ = client({"cmd": "subscribe", "cats": ["session"]})
d.sendall(b"".join(opened(i) for i in range(1, 11)))
ea, eb = take(fa, 10), take(fb, 10)
assert [e["flow"]["session_id"] for e in ea] == list(range(1, 11))
assert all("seq" not in e for e in eb), eb[0]
seq = [e["seq"] for e in ea]
assert seq == list(range(seq[0], seq[0] + 10)) and seq[0] > r["seq"], (seq, r)
assert list(ea[0].keys())[0] == "seq"
a.close()
# back: after the 5th
a2, fa2, r2 = client({"cmd": "subscribe", "cats": ["session"], "seq": True, "since": seq[4]})
assert r2["resumed"] is True, r2
got = take(fa2, 5)
assert [e["seq"] for e in got] == seq[5:], got
assert [e["flow"]["session_id"] for e in got] == list(range(6, 11))
a2.close()
# 200 more: the first ones are no longer kept
d.sendall(b"".join(opened(i) for i in range(11, 211)))
take(fb, 200)
a3, fa3, r3 = client({"cmd": "subscribe", "cats": ["session"], "seq": True, "since": seq[4]})
assert r3["resumed"] is True, r3
m = json.loads(fa3.readline())
assert m["event"] == "events_missed" and m["cat"] == "drops" and m["from_seq"] == seq[5], m
kept = []
while True:
    e = json.loads(fa3.readline())
    kept.append(e)
    if e["flow"]["session_id"] == 210:
        break
assert kept[0]["seq"] == m["to_seq"] + 1 and m["events"] == m["to_seq"] - m["from_seq"] + 1, (m, kept[0])
assert len(kept) + m["events"] == 205, (len(kept), m)
assert 20 < len(kept) < 100, len(kept)   # about 8 KiB of them
# a number from before this ctld: not resumed
a4, fa4, r4 = client({"cmd": "subscribe", "cats": ["session"], "seq": True, "since": 5})
assert r4["resumed"] is False, r4
fb.write(line({"cmd": "stats"})); fb.flush()
while True:
    e = json.loads(fb.readline())
    if e.get("reply_to") == "stats":
        break
assert e["stats"]["events_missed"] == m["events"] and 0 < e["stats"]["events_kept"] < 100, e["stats"]
PY
	kill -TERM $C
	wait $C
	grep -q "events are no longer kept (control.resume_bytes), counted as events_missed" ctld.log
	grep -q "from before this ctld started" ctld.log
}

@test "ctld under many sessions: 120,000 opened, 100,000 listed (the rest counted), under 400 bytes each; list_sessions answers them all to a client that reads" {
	mkdir run
	echo '{ control: { listen_port: 0, max_sessions: 100000 } }' > c.json
	"$STETHOSCOPE_BINDIR/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	# sanitizer builds pad every allocation: the bound is the plain build's
	bound=400
	[ -n "${STH_SANITIZER:-}" ] && bound=100000
	run timeout 120 python3 "$TOP/tests/gen/ctldfeed.py" "$T/run" "$C" 120000 100000 $bound
	echo "$output"
	[ "$status" -eq 0 ]
	kill -TERM $C
	wait $C
	grep -q " 0 slow clients cut off" ctld.log
}

@test "ctld lists calls: list_calls and get_call from the shards' call events (stethoscope-ctl calls, call ID); bounded by control.max_calls" {
	mkdir run
	echo '{ control: { listen_port: 0, max_calls: 2 } }' > c.json
	"$STETHOSCOPE_BINDIR/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	python3 - "$T/run" <<'PY'
import json, socket, sys, time
run = sys.argv[1]
def ev(name, **kw):
    o = {"ts": "2026-01-01T00:00:00.000Z", "cat": "calls", "event": name}
    o.update(kw)
    return (json.dumps(o) + "\n").encode()
d = socket.socket(socket.AF_UNIX)
d.connect(run + "/ctld.sock")
d.sendall(b'{"hello":"reasmd","shard":0,"v":1}\n' +
          ev("call_new", call_id="a@x", from_user="alice", to_user="bob") +
          ev("call_state", call_id="a@x", state="early") +
          ev("call_new", call_id="b@x", from_user="carol", to_user="dave") +
          ev("call_state", call_id="a@x", state="confirmed") +
          ev("call_end", call_id="b@x", from_user="carol", to_user="dave", state="failed", final_status=486,
             sip_messages=2, rtp_streams=[]) +
          # a third call: the table holds 2, the ended one goes
          ev("call_new", call_id="c@x", from_user="erin", to_user="frank") +
          # a fourth: full of calls going on, not listed, counted
          ev("call_new", call_id="d@x", from_user="gina", to_user="hal"))
time.sleep(0.5)
PY
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s run/control.sock calls
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "$output" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
calls = {c["call_id"]: c for c in r["calls"]}
assert set(calls) == {"a@x", "c@x"}, calls
assert calls["a@x"] == {"call_id": "a@x", "from_user": "alice", "to_user": "bob", "state": "confirmed", "ended": False}, calls["a@x"]
PY
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s run/control.sock call a@x
	[ "$status" -eq 0 ]
	[[ "$output" == *'"state":"confirmed"'* ]]
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s run/control.sock call nope@x
	[ "$status" -eq 1 ]
	[[ "$output" == *'not_found'* ]]
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s run/control.sock stats
	[[ "$output" == *'"calls_open":2'* ]]
	[[ "$output" == *'"calls_table_full":1'* ]]
	kill -TERM $C
	wait $C
}

@test "health: ctld's health and GET /healthz say every daemon's state, restarts, last error and broker; a killed shard shows, then heals; the launcher speaks systemd's notify protocol (READY, STATUS, WATCHDOG, STOPPING)" {
	require_cmd curl
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 8 400000 1.5
	base=$(port_base)
	CTL_PORT=$((base + 150))
	METRICS_PORT=$((base + 151))
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { nats: { enabled: true, url: "nats://127.0.0.1:$((base + 152))", sensor: "h" } } },
	  control: { listen_port: $CTL_PORT, metrics_port: $METRICS_PORT },
	  runtime: { workers: 2, run_dir: "$T/run", drain_timeout_ms: 1000 } }
	EOF
	# a stand-in for systemd's notify socket
	timeout 100 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "w") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
        out.flush()' "$T/notify.sock" "$T/notify.log" 3>&- &
	N=$!
	wait_for test -S "$T/notify.sock"
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	CTL="$STETHOSCOPE_BINDIR/stethoscope-ctl"
	# all up: 200, and the broker the nats sink cannot reach is said, not failed
	wait_for curl -sf -o health.json "http://127.0.0.1:$METRICS_PORT/healthz"
	python3 - health.json <<-'PY'
	import json, sys
	h = json.load(open(sys.argv[1]))
	assert h["healthy"] and h["supervised"], h
	names = sorted(d["name"] for d in h["daemons"])
	assert names == ["capd", "ctld", "reasmd 0/2", "reasmd 1/2", "sinkd nats"], names
	assert all(d["state"] == "up" and d["restarts"] == 0 and d["last_error"] is None for d in h["daemons"]), h
	PY
	WAIT_SECS=5 wait_for sh -c "'$CTL' -s '$T/run/control.sock' health | grep -q '\"broker\":'"
	"$CTL" -s "$T/run/control.sock" health > h1.json
	grep -q '"connected":false' h1.json
	# a shard killed: 503 while it restarts, then up again with its restart and last error
	# (this run's shard: its socket path names $T; another test may run beside)
	pid=$(pgrep -f "reasmd -c $T/run/config.json .*--from $T/run/capd.sock --shard 1/2" | head -1)
	[ -n "$pid" ]
	kill -9 "$pid"
	WAIT_SECS=5 wait_for grep -q 'reasmd 1/2 was killed by signal 9' run.log
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz")
	WAIT_SECS=5 wait_for sh -c "curl -sf 'http://127.0.0.1:$METRICS_PORT/healthz' > h2.json"
	python3 - h2.json <<-'PY'
	import json, sys
	h = json.load(open(sys.argv[1]))
	d = [d for d in h["daemons"] if d["name"] == "reasmd 1/2"][0]
	assert h["healthy"] and d["state"] == "up" and d["restarts"] == 1, h
	assert d["last_error"] == "was killed by signal 9", d
	PY
	run "$CTL" -s "$T/run/control.sock" health
	[ "$status" -eq 0 ]
	wait $L
	kill $N
	# systemd heard: ready once every daemon was, a status line, the watchdog, the stop
	grep -q '^READY=1$' notify.log
	grep -q '^STATUS=5 of 5 daemons up; 0 restarts' notify.log
	grep -q '^STATUS=.*1 restarts' notify.log
	[ "$(grep -c '^WATCHDOG=1$' notify.log)" -ge 3 ]
	grep -q '^STOPPING=1$' notify.log
	echo "healthz during the restart: $code"
}
