#!/usr/bin/env bats
# Reload and restarts while running: SIGHUP (or `stethoscope-ctl reload`)
# applies each changed key by its class in conf.c's schema (live, sink,
# capd, restart); a sinkd started or restarted mid-run joins the sessions
# already open (their missed start a gap, its books still balanced); a
# restarted ctld learns the open sessions again and its counters go on.

load helper

RUN="$TOP/scripts/stethoscope-run"
CTL="$B/stethoscope-ctl"

setup_file() {
	export STETHOSCOPE_BINDIR=${STH_BUILD:-$TOP/build}
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
}

teardown() {
	pkill -f "python3 $T/consume.py" 2>/dev/null || true
	pkill -f "python3 $T/slow.py" 2>/dev/null || true
	netns_down
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

# consume EVENTS OUT [N]: waits for the Nth listener_ports event in EVENTS
# (a sinkd's events file), connects to both ports and writes what each
# gives until it closes to OUT.req and OUT.resp (backgrounded; $CONSUMER)
consume() {
	cat > "$T/consume.py" <<-'PY'
	import json, socket, sys, threading, time
	events, out, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
	deadline = time.time() + 30
	ports = None
	while ports is None and time.time() < deadline:
	    seen = 0
	    try:
	        for l in open(events):
	            e = json.loads(l)
	            if e.get("event") == "listener_ports":
	                seen += 1
	                if seen == nth:
	                    ports = (e["requests_port"], e["responses_port"])
	    except FileNotFoundError:
	        pass
	    time.sleep(0.02)
	if ports is None:
	    sys.exit("no listener_ports event")
	def take(port, path):
	    s = socket.create_connection(("127.0.0.1", port))
	    with open(path, "wb") as f:
	        while True:
	            b = s.recv(65536)
	            if not b:
	                break
	            f.write(b)
	ts = [threading.Thread(target=take, args=(p, out + sfx)) for p, sfx in zip(ports, (".req", ".resp"))]
	for t in ts: t.start()
	for t in ts: t.join(40)
	PY
	python3 "$T/consume.py" "$1" "$2" "${3:-1}" &
	CONSUMER=$!
}

# tail_equal GOT TRUTH EVENTS DIR: GOT is TRUTH from the offset at which
# the sink joined the session (its session_joined event in EVENTS, for
# direction DIR: requests or responses), byte for byte; prints the offset
# and the length
tail_equal() {
	python3 - "$@" <<-'PY'
	import json, sys
	got, truth, events, d = sys.argv[1:5]
	off = None
	for l in open(events):
	    e = json.loads(l)
	    if e.get("event") == "session_joined":
	        off = e[d + "_offset"]
	g, t = open(got, "rb").read(), open(truth, "rb").read()
	assert off is not None, "no session_joined"
	assert 0 <= off <= len(t), (off, len(t))
	assert g == t[off:], (len(g), len(t) - off)
	print(off, len(g))
	PY
}

@test "reload, live and restart classes: a new token reaches ctld and the daemons at SIGHUP; a change that needs a restart is named and nothing is applied; a broken file changes nothing" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 8 100000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } } },
	  control: { listen_port: $((base + 150)), token: "old" },
	  logging: { console: { verbosity: "INFO" } },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	timeout --foreground 60 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	sed -i 's/token: "old"/token: "new"/; s/verbosity: "INFO"/verbosity: "WARNING"/' tap.json
	kill -HUP "$(supervisor_of $L)"
	wait_for grep -q "reload: 2 changes applied" run.log || { grep -a reload run.log; false; }
	grep -q 'reload: changed: control.token: "old" -> "new" (applied by the running daemons)' run.log
	# ctld and every daemon took it (the INFO line before the new level)
	WAIT_SECS=5 wait_for sh -c '[ "$(grep -c "reload: the new configuration is applied" run.log)" -ge 4 ]' ||
	    { grep -a reload run.log; false; }
	# (close of a session that is not there: not_found with the token,
	# unauthorized without it)
	run "$CTL" -s "$T/run/control.sock" --token new close 424242
	[[ "$output" == *not_found* ]]
	run "$CTL" -s "$T/run/control.sock" --token old close 424242
	[[ "$output" == *unauthorized* ]]
	# console WARNING now: the daemons' INFO lines stop
	n=$(wc -l < run.log)
	# a key that needs a restart, with a live one: named, nothing applied
	sed -i 's/workers: 2/workers: 2, ring_bytes: 1048576/; s/token: "new"/token: "newer"/' tap.json
	run "$CTL" -s "$T/run/control.sock" --token new reload
	[ "$status" -eq 1 ]
	[[ "$output" == *'"error":"restart_needed"'* ]]
	[[ "$output" == *'"restart_needed":['*'"runtime.ring_bytes"'* ]]
	run "$CTL" -s "$T/run/control.sock" --token new close 424242
	[[ "$output" == *not_found* ]]
	run "$CTL" -s "$T/run/control.sock" --token newer close 424242
	[[ "$output" == *unauthorized* ]]
	echo '{ broken' > tap.json
	run "$CTL" -s "$T/run/control.sock" --token new reload
	[ "$status" -eq 1 ]
	[[ "$output" == *config_error* ]]
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	grep -q "WARNING: reload: these changes need a restart of the run: runtime.ring_bytes; nothing is applied" run.log
	# INFO lines after the level went to WARNING: none from the daemons
	tail -n +$((n + 1)) run.log > after.log
	! grep -a '\(capd\|reasmd\|ctld\)\[[0-9]*\]: INFO' after.log
}

@test "log rotation: SIGHUP opens logging.file.path again; every daemon's lines (sandboxed ones too, down the launcher's pipe) go to the new file, whole; the moved file keeps the earlier ones" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 8 100000
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } }, output: { pcap: { enabled: true, dir: "$T/pc" } } },
	  logging: { console: { verbosity: "INFO" }, file: { enabled: true, path: "$T/logs/tap.log", verbosity: "INFO" } },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	timeout --foreground 60 "$RUN" -c tap.json --speed 0.5 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	mv logs/tap.log logs/tap.log.1
	# a live change: every daemon says it took it, in the new file
	sed -i '0,/verbosity: "INFO"/s//verbosity: "WARNING"/' tap.json
	kill -HUP "$(supervisor_of $L)"
	WAIT_SECS=10 wait_for grep -q "reopened" logs/tap.log || { cat run.log; false; }
	WAIT_SECS=10 wait_for sh -c '[ "$(grep -c "reload: the new configuration is applied" logs/tap.log)" -ge 5 ]' ||
	    { cat logs/tap.log; false; }
	kill -TERM "$(supervisor_of $L)"
	wait $L
	for d in capd ctld reasmd "sinkd pcap"; do
		grep "reload: the new configuration is applied" logs/tap.log | grep -q " $d\[" || { cat logs/tap.log; false; }
	done
	# the old file has the start of every daemon, nothing after the move
	for d in capd ctld reasmd "sinkd pcap" stethoscope-run; do grep -q " $d\[" logs/tap.log.1; done
	! grep -q "reopened\|reload:" logs/tap.log.1
	# every line whole: "STAMP proc[pid]: LEVEL: text"
	run grep -cvE '^[0-9T:.-]+Z [a-z -]+\[[0-9]+\]: (DEBUG|INFO|WARNING|ERROR): ' logs/tap.log logs/tap.log.1
	[ "$output" = "$(printf 'logs/tap.log:0\nlogs/tap.log.1:0')" ]
	grep -q "stopped cleanly" logs/tap.log
}

@test "reload, sink class: the listener enabled mid-run joins the open session (a consumer gets its streams exactly from the join offset, books balanced); the pcap sink disabled stops, health stays good" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 8 300000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { listener: { enabled: false, bind_ip: "127.0.0.1", port_range_start: $base,
	                              port_range_end: $((base + 99)) },
	                  pcap: { enabled: true, dir: "$T/pc", per_session: true } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run", close_linger_sec: 0.5 } }
	EOF
	timeout --foreground 60 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	# the session is open and has bytes
	WAIT_SECS=10 wait_for sh -c 'ls pc/*__open.pcapng >/dev/null 2>&1'
	sleep 1
	sed -i 's/enabled: false/enabled: true/' tap.json
	run "$CTL" -s "$T/run/control.sock" reload
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *'"sinkd listener started (enabled)"'* ]]
	consume run/listener.events.jsonl got
	# the pcap sink off
	sed -i 's/pcap: { enabled: true/pcap: { enabled: false/' tap.json
	run "$CTL" -s "$T/run/control.sock" reload
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *'"sinkd pcap stopped (disabled)"'* ]]
	WAIT_SECS=10 wait_for grep -q "sinkd pcap stopped: its output is disabled" run.log
	run "$CTL" -s "$T/run/control.sock" health
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *'"state":"disabled"'* ]]
	grep -q 'sink "sinkd pcap": its output is disabled; nothing more goes to it' run.log
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	wait $CONSUMER
	tail_equal got.req s.pcap.requests run/listener.events.jsonl requests
	read -r off n < <(tail_equal got.resp s.pcap.responses run/listener.events.jsonl responses)
	# joined mid-stream: a start missed, the rest had
	[ "$off" -gt 0 ] && [ "$n" -gt 0 ]
	grep -q "sinkd listener: 1 sessions (1 settled, 0 with books that do not balance, 0 ended by a lost input)" run.log ||
	    { grep "sinkd listener:" run.log; false; }
	grep -q "sinkd listener: 1 sessions were open before it came" run.log
	# nothing lost without a name: the pcap sink's frames before it stopped are in its file
	ls pc/*.pcapng
}

@test "live: reload with a new capture filter restarts capd alone (capture_restarted); the session open across it stays one session, exact; what the new filter adds is captured" {
	require_root
	require_cmd socat
	netns_up
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA", bpf-filter: "tcp port 5000" } },
	        output: { files: { enabled: true, dir: "$T/out" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	in_a timeout --foreground 120 "$RUN" -c tap.json 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	head -c 100000 /dev/urandom > a1
	head -c 150000 /dev/urandom > a2
	cat a1 a2 > one.bin
	# a sender that stops halfway until told to go on
	cat > slow.py <<-'PY'
	import os, socket, sys, time
	s = socket.create_connection(("10.77.0.2", 5000))
	s.sendall(open("a1", "rb").read())
	deadline = time.time() + 40
	while not os.path.exists("go") and time.time() < deadline:
	    time.sleep(0.05)
	s.sendall(open("a2", "rb").read())
	s.close()
	PY
	in_b timeout 60 socat -u "TCP-LISTEN:5000,bind=10.77.0.2,reuseaddr" "CREATE:one.bin.recv" &
	S=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':5000 '"
	in_a timeout 60 python3 "$T/slow.py" &
	P=$!
	wait_for sh -c '[ "$(stat -c %s one.bin.recv 2>/dev/null)" = 100000 ]'
	sed -i 's/bpf-filter: "tcp port 5000"/bpf-filter: "tcp port 5000 or tcp port 5001"/' tap.json
	kill -HUP "$(supervisor_of $L)"
	WAIT_SECS=10 wait_for grep -q "capd started again with the new configuration" run.log || { cat run.log; false; }
	grep -q "reload: changed: io.input.capture.bpf-filter: .* (capd is restarted)" run.log
	grep -q "capd.*SIGUSR2: stopping for a restart (the shards keep their sessions)" run.log
	# the shard keeps the session and reads the new capd
	WAIT_SECS=15 wait_for grep -q "reasmd.*reconnected to .*capd.sock" run.log || { cat run.log; false; }
	touch go
	wait $P
	wait $S
	head -c 120000 /dev/urandom > two.bin
	socat_transfer 5001 two.bin
	WAIT_SECS=10 wait_for sh -c '[ "$(wc -l < out/sessions.jsonl)" -ge 2 ]' || { cat run.log; false; }
	kill -TERM "$(supervisor_of $L)"
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	cmp one.bin.recv one.bin
	# one session, whole: the capture's restart cost nothing while the
	# sender was quiet
	[ "$(wc -l < out/sessions.jsonl)" -eq 2 ]
	[ "$(requests_equal one.bin out)" -eq 1 ]
	[ "$(requests_equal two.bin out)" -eq 1 ]
	! grep -q "giving up\|restarting capd in" run.log
}

@test "kill -9 under a paced replay, one daemon at a time: the listener and the pcap sink come back and join the open session (a new consumer gets the rest exactly from the join offset; the dead sink's file renamed __interrupted, counted); a restarted ctld lists the session again and its counters go on; the run ends 0" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 12 600000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                              port_range_end: $((base + 99)) },
	                  pcap: { enabled: true, dir: "$T/pc", per_session: true } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run", close_linger_sec: 0.5 } }
	EOF
	timeout --foreground 90 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	consume run/listener.events.jsonl first 1
	C1=$CONSUMER
	sleep 1.5
	# the listener: its consumer loses it; the new one publishes ports again
	kill -KILL "$(pgrep -f "sinkd listener -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd listener" run.log
	consume run/listener.events.jsonl second 2
	wait $C1 || true
	WAIT_SECS=10 wait_for grep -q session_joined run/listener.events.jsonl
	# the pcap sink
	kill -KILL "$(pgrep -f "sinkd pcap -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd pcap" run.log
	WAIT_SECS=10 wait_for grep -q "renamed .*__interrupted.pcapng (pcap_files_interrupted)" run.log || { cat run.log; false; }
	# ctld: its counters and its table of sessions come back
	run "$CTL" -s "$T/run/control.sock" stats
	before=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["captured"])' 2>/dev/null ||
	    echo "$output" | grep -o '"captured": *[0-9]*' | grep -o '[0-9]*$')
	kill -KILL "$(pgrep -f "ctld -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting ctld" run.log
	WAIT_SECS=10 wait_for sh -c "'$CTL' -s '$T/run/control.sock' sessions | grep -q session_id" || { cat run.log; false; }
	sleep 1.2
	run "$CTL" -s "$T/run/control.sock" stats
	[ "$status" -eq 0 ]
	after=$(echo "$output" | grep -o '"captured": *[0-9]*' | grep -o '[0-9]*$')
	[ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge "$before" ] || { echo "captured $before -> $after"; false; }
	run "$CTL" -s "$T/run/control.sock" health
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	wait $CONSUMER
	# the first consumer had a start, the second the rest from where its sink joined
	python3 -c 'import sys; g=open("first.resp","rb").read(); t=open("s.pcap.responses","rb").read(); assert len(g) > 0 and t.startswith(g), len(g)'
	read -r off n < <(tail_equal second.resp s.pcap.responses run/listener.events.jsonl responses)
	[ "$off" -gt 0 ] && [ "$n" -gt 0 ]
	grep -q "sinkd listener: 1 sessions (1 settled, 0 with books that do not balance, 0 ended by a lost input)" run.log ||
	    { grep "sinkd listener:" run.log; false; }
	ls pc/*__interrupted.pcapng
	ls pc/*__fin.pcapng
	! ls pc/*__open.pcapng 2>/dev/null
	grep -q "sinkd pcap: 1 sessions were open before it came" run.log
}

@test "a daemon that keeps dying: five deaths within a minute end the run with status 1 and the reason" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 30 100000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { pcap: { enabled: true, dir: "$T/pc" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	timeout --foreground 60 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	for i in 1 2 3 4 5; do
		WAIT_SECS=15 wait_for pgrep -f "sinkd pcap -c $T/run/config.json" >/dev/null || { cat run.log; false; }
		kill -KILL "$(pgrep -f "sinkd pcap -c $T/run/config.json")"
		[ "$i" -lt 5 ] && WAIT_SECS=15 wait_for sh -c "[ \$(grep -c 'restarting sinkd pcap\$' run.log) -ge $i ]"
	done
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 1 ] || { cat run.log; false; }
	grep -q "sinkd pcap died 5 times within a minute (last: was killed by signal 9); giving up" run.log
	grep -q "stopped: sinkd pcap died 5 times within a minute" run.log
}

@test "live: capd killed mid-run is restarted at once; the outage is an event with its length (capture_restarted, died); the shards keep their sessions; traffic before and after is exact; the run ends 0" {
	require_root
	require_cmd socat
	netns_up
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA", bpf-filter: "tcp port 5000 or tcp port 5001" } },
	        output: { files: { enabled: true, dir: "$T/out" }, json: { enabled: true, path: "$T/events.jsonl" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	in_a timeout --foreground 120 "$RUN" -c tap.json 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	head -c 300000 /dev/urandom > one.bin
	socat_transfer 5000 one.bin
	WAIT_SECS=10 wait_for grep -q . out/sessions.jsonl
	kill -KILL "$(pgrep -f "capd -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "event capture_restarted: capd is capturing again after" run.log || { cat run.log; false; }
	WAIT_SECS=15 wait_for sh -c '[ "$(grep -c "reasmd.*reconnected to .*capd.sock" run.log)" -ge 2 ]' || { cat run.log; false; }
	head -c 300000 /dev/urandom > two.bin
	socat_transfer 5001 two.bin
	WAIT_SECS=10 wait_for sh -c '[ "$(wc -l < out/sessions.jsonl)" -ge 2 ]' || { cat run.log; false; }
	kill -TERM "$(supervisor_of $L)"
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	[ "$(requests_equal one.bin out)" -eq 1 ]
	[ "$(requests_equal two.bin out)" -eq 1 ]
	python3 - events.jsonl <<-'PY'
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	r = [e for e in ev if e.get("event") == "capture_restarted"]
	assert len(r) == 1 and r[0]["reason"] == "died" and r[0]["outage_ms"] > 0, r
	assert "signal 9" in r[0]["error"], r
	PY
}

@test "kill -9 of the connector and of the json sink under a paced replay: the connector comes back, joins the open session and dials its target again (the new connection gets the stream exactly from the join offset); the json sink comes back and appends; the run ends 0" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 10 600000
	base=$(port_base)
	# a target that takes connection after connection: conn.N.PORT
	timeout 60 python3 "$TOP/tests/gen/targets.py" "$base" "$((base + 1))" &
	TG=$!
	wait_for bash -c "ss -ltn 'sport = :$((base + 1))' | grep -q LISTEN"
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                                   responses_port: $((base + 1)), timeouts: { connect: 2, "retry-every": 1 } },
	                  json: { enabled: true, path: "$T/events.jsonl", cats: ["all"] } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run", close_linger_sec: 0.5, stats_interval_sec: 0.05 } }
	EOF
	timeout --foreground 60 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	WAIT_SECS=10 wait_for test -s "conn.1.$((base + 1))"
	sleep 1.5
	kill -KILL "$(pgrep -f "sinkd connector -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd connector" run.log
	WAIT_SECS=10 wait_for test -e "conn.2.$((base + 1))" || { cat run.log; false; }
	kill -KILL "$(pgrep -f "sinkd json -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd json" run.log
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	kill $TG 2>/dev/null || true
	# the first connection: a start of the stream; the second: the rest from the join
	python3 -c 'import sys; g=open(sys.argv[1],"rb").read(); t=open("s.pcap.responses","rb").read(); assert len(g) > 0 and t.startswith(g), len(g)' "conn.1.$((base + 1))"
	read -r off n < <(tail_equal "conn.2.$((base + 1))" s.pcap.responses run/connector.events.jsonl responses)
	[ "$off" -gt 0 ] && [ "$n" -gt 0 ]
	grep -q "sinkd connector: 1 sessions (1 settled, 0 with books that do not balance" run.log ||
	    { grep "sinkd connector:" run.log; false; }
	# the json file: the lines of both incarnations, each whole JSON; the
	# restarted sink asked for the events after its last and got them
	# again (stats every 50 ms: some came while it was away): every event
	# ctld numbered is there once, none missing, none twice
	grep -q "resumes after event [0-9]*: [0-9]* events sent again" run.log || { grep -a "json\|resume" run.log; false; }
	python3 -c '
import json, sys
ev = [json.loads(l) for l in open("events.jsonl")]
assert any(e.get("event") == "tcp_open" for e in ev), "no tcp_open"
assert any(e.get("event") == "tcp_close" for e in ev), "no tcp_close"
seq = [e["seq"] for e in ev if "seq" in e]
assert len(seq) > 20 and len(seq) == len(ev), (len(seq), len(ev))
bad = [(a, b) for a, b in zip(seq, seq[1:]) if b != a + 1]
assert not bad, bad[:5]
assert not any(e.get("event") == "events_missed" for e in ev)
'
}

@test "live, steady traffic on a veth: kill -9 of a shard, then of the connector, the pcap sink, the listener, the json sink and ctld, one at a time: each comes back; what was in flight is counted (shard_lost, __interrupted files, consumer_absent) and every session that did not touch a dead daemon is exact in every output; the run ends 0" {
	require_root
	netns_up
	base=$(port_base)
	n=56
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA", bpf-filter: "tcp port 5000" } },
	        output: { files: { enabled: true, dir: "$T/out" },
	                  pcap: { enabled: true, dir: "$T/pc", per_session: true, format: "pcap" },
	                  listener: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $((base + 10)), port_range_end: $((base + 90)) },
	                  "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $((base + 100)),
	                                   responses_port: $((base + 101)), timeouts: { connect: 2, "retry-every": 1 } },
	                  json: { enabled: true, path: "$T/events.jsonl", cats: ["all"] } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run", close_linger_sec: 0.2 } }
	EOF
	# the server reads each connection to its end; the client opens $n,
	# one every 120 ms, each sending its own 200 kB (p.I)
	cat > srv.py <<-'PY'
	import socket, threading
	l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("10.77.0.2", 5000)); l.listen(64)
	def drain(c):
	    while c.recv(1 << 16):
	        pass
	    c.close()
	while True:
	    c, _ = l.accept()
	    threading.Thread(target=drain, args=(c,), daemon=True).start()
	PY
	cat > cli.py <<-'PY'
	import os, socket, sys, time
	n = int(sys.argv[1])
	for i in range(n):
	    b = os.urandom(200000)
	    open("p.%d" % i, "wb").write(b)
	    s = socket.create_connection(("10.77.0.2", 5000))
	    s.sendall(b); s.shutdown(socket.SHUT_WR)
	    s.recv(1); s.close()
	    open("done", "w").write(str(i + 1))
	    time.sleep(0.12)
	PY
	# the connector's target, in A beside the tap: every connection it
	# takes is a file, conn.N.PORT
	ip netns exec "$NSA" timeout 90 python3 "$TOP/tests/gen/targets.py" "$((base + 100))" "$((base + 101))" 3>&- &
	TG=$!
	ip netns exec "$NSB" timeout 90 python3 srv.py 3>&- &
	SRV=$!
	wait_for in_a sh -c "ss -ltn | grep -q ':$((base + 101)) '"
	wait_for in_b sh -c "ss -ltn | grep -q ':5000 '"
	in_a timeout --foreground 120 "$RUN" -c tap.json 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	in_a timeout 60 python3 cli.py $n 3>&- &
	CLI=$!
	at() { WAIT_SECS=30 wait_for sh -c "[ \"\$(cat done 2>/dev/null || echo 0)\" -ge $1 ]"; }
	at 8
	kill -KILL "$(pgrep -f "reasmd -c $T/run/config.json.*--shard 0/2")"
	WAIT_SECS=10 wait_for grep -q "restarting reasmd 0/2" run.log || { cat run.log; false; }
	at 14
	kill -KILL "$(pgrep -f "sinkd connector -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd connector" run.log || { cat run.log; false; }
	at 20
	kill -KILL "$(pgrep -f "sinkd pcap -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd pcap" run.log || { cat run.log; false; }
	at 32
	kill -KILL "$(pgrep -f "sinkd listener -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd listener" run.log || { cat run.log; false; }
	at 38
	kill -KILL "$(pgrep -f "sinkd json -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd json" run.log || { cat run.log; false; }
	at 44
	kill -KILL "$(pgrep -f "ctld -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting ctld" run.log || { cat run.log; false; }
	wait $CLI
	sleep 1
	kill -TERM "$(supervisor_of $L)"
	rc=0
	wait $L || rc=$?
	kill $SRV $TG 2>/dev/null || true
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	python3 - "$n" <<-'PY'
	import glob, hashlib, json, os, subprocess, sys
	n = int(sys.argv[1])
	want = {hashlib.sha256(open("p.%d" % i, "rb").read()).hexdigest(): i for i in range(n)}
	ev = [json.loads(l) for l in open("events.jsonl")]
	names = [e["event"] for e in ev]
	assert names.count("shard_lost") == 1, names.count("shard_lost")
	# the shards' files: every payload but those open in the dead shard
	got = set()
	for l in open("out/sessions.jsonl"):
	    s = json.loads(l)
	    h = hashlib.sha256(open(os.path.join("out", s["requests"]["file"]), "rb").read()).hexdigest()
	    if h in want:
	        got.add(want[h])
	print("exact in the shards' files:", len(got), "of", n, "pcap __fin:", len(glob.glob("pc/*__fin*")), "interrupted:", len(glob.glob("pc/*__interrupted*")), "events:", len(ev))
	assert len(got) >= n - 2, sorted(set(range(n)) - got)
	# the pcap sink: one whole file per session but those open while it was away
	fin = glob.glob("pc/*__fin*")
	intr = glob.glob("pc/*__interrupted*")
	assert len(fin) >= n - 4, len(fin)
	# a session the pcap sink never saw: its records were counted by the
	# shard (sink_ring_full, the ring of a sink that is away)
	if len(fin) + len(intr) < n:
	    import re
	    full = sum(int(m) for m in re.findall(r'sink "sinkd pcap": \d+ records \(\d+ bytes\), sink_ring_full (\d+)', open("run.log").read()))
	    assert full > 0, "a pcap session is missing and nothing was counted"
	# the json sink saw every event once, across its own restart; the
	# one jump is ctld's restart (a new ctld numbers on from its start)
	# the connector: one connection a session to the requests port, each
	# the whole payload but those of the sessions open while it was away
	# (or in the dead shard)
	conn = set()
	for f in glob.glob("conn.*.*"):
	    h = hashlib.sha256(open(f, "rb").read()).hexdigest()
	    if h in want:
	        conn.add(want[h])
	print("exact through the connector:", len(conn), "of", n)
	assert len(conn) >= n - 4, sorted(set(range(n)) - conn)
	assert len(conn & got) >= n - 5
	seq = [e["seq"] for e in ev]
	jumps = [(a, b) for a, b in zip(seq, seq[1:]) if b != a + 1]
	assert len(jumps) == 1 and jumps[0][1] > jumps[0][0], jumps[:5]
	PY
	# the books of every session of both lives of each sink balance
	grep -q "sinkd pcap: .* 0 with books that do not balance" run.log
	grep -q "sinkd listener: .* 0 with books that do not balance" run.log
	grep -q "sinkd connector: .* 0 with books that do not balance" run.log
	# the capture kept up while the daemons died: the kernel dropped nothing
	grep -q "capd: $VA: pcap_kernel 0 packets" run.log || { grep "capd:" run.log; false; }
	! grep -E "sinkd [a-z]+: .* [1-9][0-9]* with books that do not balance" run.log
}
