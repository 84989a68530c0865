#!/usr/bin/env bats
# sinkd nats: what the tap sees, published to a real nats-server with
# JetStream (started and stopped by each test, on loopback), and read back
# with stethoscope-ctl subscribe.

load helper

CHECK="python3 $TOP/tests/gen/natscheck.py"
RUN="$TOP/scripts/stethoscope-run"
VOIP="$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap"

setup_file() {
	export STETHOSCOPE_BINDIR=${STH_BUILD:-$TOP/build}
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
	require_cmd nats-server curl
	NATS_PORT=$(( 20000 + (($$ + RANDOM) % 200) * 200 + 11 ))
	NATS_MON=$(( NATS_PORT + 1 ))
	NATS="nats://127.0.0.1:$NATS_PORT"
}

teardown() {
	nats_down
	netns_down
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

# nats_up: a nats-server with JetStream storing in $T/js (kept across restarts)
nats_up() {
	nats-server -js -sd "$T/js" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" >> "$T/nats.log" 2>&1 &
	NATS_PID=$!
	wait_for curl -sf "http://127.0.0.1:$NATS_MON/healthz" >/dev/null
}

nats_down() {
	if [ -n "${NATS_PID:-}" ]; then
		kill "${1:--TERM}" "$NATS_PID" 2>/dev/null || true
		wait "$NATS_PID" 2>/dev/null || true
		NATS_PID=
	fi
}

# stream_msgs: the messages the stream holds, from the server's monitoring port
stream_msgs() {
	curl -sf "http://127.0.0.1:$NATS_MON/jsz?streams=true" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(s["state"]["messages"] for a in d.get("account_details", []) for s in a.get("stream_detail", [])))'
}

sub() {
	"$B/stethoscope-ctl" subscribe --nats "$NATS" --idle 1 "$@"
}

@test "nats: usage and configuration errors are clear and exit 2; the help names the family" {
	"$B/sinkd" --help | grep -q 'nats  *events, session and call summaries'
	run "$B/sinkd" nats -r /dev/null --publish events,bogus
	[ "$status" -eq 2 ]
	[[ "$output" == *'io.output.nats.publish: expected events, sessions, calls, chunks or packets, found "bogus"'* ]]
	run "$B/sinkd" nats -r /dev/null --url 'nats://'
	[ "$status" -eq 2 ] || [[ "$output" == *"nats"* ]]
	run "$B/stethoscope-ctl" subscribe
	[ "$status" -eq 2 ]
	[[ "$output" == *"give --nats URL"* ]]
	run "$B/stethoscope-ctl" subscribe --nats "$NATS" --from yesterday
	[ "$status" -eq 2 ]
	run "$B/stethoscope-ctl" subscribe --nats "$NATS" --bogus 1
	[ "$status" -eq 2 ]
	[[ "$output" == *'"--bogus"'* ]]
	# no broker: subscribe says so and exits 2 at once
	run timeout 20 "$B/stethoscope-ctl" subscribe --nats "$NATS"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$NATS"* ]]
	# no broker for the sink, ever: it takes every record at once, and at the
	# drain deadline counts what it still holds (nats_shutdown), named; exit 0
	n=$("$B/reasmd" -r "$VOIP" --voip --events - -w v.rec 2>/dev/null | wc -l)
	printf '{ runtime: { drain_timeout_ms: 1500 } }\n' > short.json
	run timeout 20 "$B/sinkd" nats -c short.json -r v.rec --url "$NATS"
	[ "$status" -eq 0 ]
	[[ "$output" == *"not reachable yet; holding messages"* ]]
	[[ "$output" == *"$n messages produced"*"0 acked, $n dropped (queue_full 0, nack 0, timeout 0, too_large 0, shutdown $n), 0 pending"*"books balance"* ]]
}

@test "nats: every event, session and call of public captures is published once; the stream holds exactly what the sink produced; the records read back equal reasmd's events" {
	nats_up
	total=0
	"$B/tests/benchgen" small small.pcap 20000 >/dev/null
	for f in "$VOIP" "$TOP/tests/corpus/heplify-sip_ipv4_tcp_fragmented.pcap" small.pcap; do
		name=$(basename "${f%.*}")
		"$B/reasmd" -r "$f" --voip --events "$name.ev" -w "$name.rec" 2>/dev/null
		"$B/sinkd" nats -r "$name.rec" --url "$NATS" --sensor "s-$name" 2> "log.$name" ||
		    { grep -v INFO "log.$name"; false; }
		grep -q 'books balance' "log.$name" || { cat "log.$name"; false; }
		grep -q ' 0 dropped' "log.$name"
		sub --filter "steth.s-$name.>" > "got.$name"
		$CHECK same "$name.ev" "got.$name" > "check.$name" || { cat "check.$name"; false; }
		$CHECK books "got.$name" "log.$name" > "books.$name" || { cat "books.$name"; false; }
		n=$(wc -l < "got.$name")
		[ "$n" -gt 0 ]
		total=$((total + n))
	done
	# the sensor name is one subject token; the stream holds every message, once
	grep -q '"subject":"steth.s-heplify-rtp_rtcp_sip_ipv4_udp.call"' got.heplify-rtp_rtcp_sip_ipv4_udp
	grep -q 'call: 5 records, equal' check.heplify-rtp_rtcp_sip_ipv4_udp
	[ "$(stream_msgs)" -eq "$total" ]
	grep -q 'made stream STETH (subjects steth.>, file storage' log.heplify-rtp_rtcp_sip_ipv4_udp
	# a second sink finds the stream and uses it as it is
	! grep -q 'made stream' log.heplify-sip_ipv4_tcp_fragmented
}

@test "nats: chunks and packets, chosen: every stream byte and every frame, in order, split below max_payload" {
	nats_up
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 1 3000000
	"$B/reasmd" -r s.pcap -w s.rec 2>/dev/null
	"$B/sinkd" nats -r s.rec --url "$NATS" --sensor c1 --publish sessions,chunks,packets 2> log
	grep -q ' 0 dropped' log
	sub --filter 'steth.c1.>' > got
	$CHECK books got log
	python3 - "$T" <<-'EOF'
	import base64, json, subprocess, sys
	t = sys.argv[1]
	by = {"requests": bytearray(), "responses": bytearray()}
	frames = 0
	for line in open(t + "/got"):
	    r = json.loads(line)
	    h = r.get("headers", {})
	    if h.get("Steth-Kind") == "chunk":
	        d = base64.b64decode(r["data_b64"])
	        assert len(d) <= 1024 * 1024 - 1024
	        b = by[h["Steth-Dir"]]
	        assert int(h["Steth-Offset"]) == len(b), (h, len(b))
	        b += d
	    elif h.get("Steth-Kind") == "packet":
	        frames += 1
	assert bytes(by["requests"]) == open(t + "/s.pcap.requests", "rb").read()
	assert bytes(by["responses"]) == open(t + "/s.pcap.responses", "rb").read()
	n = int(subprocess.check_output(["tshark", "-r", t + "/s.pcap", "-T", "fields", "-e", "frame.number"]).count(b"\n"))
	assert frames == n, (frames, n)
	print("bytes and", frames, "frames equal")
	EOF
}

@test "nats: the broker down at the start, then up: nothing lost; killed mid-run and restarted: acked + dropped = produced exactly, the loss record names every dropped range" {
	"$B/reasmd" -r "$VOIP" --voip -w v.rec 2>/dev/null
	cat > k.json <<-EOF
	{ io: { output: { nats: { url: "$NATS", sensor: "k1", ack_timeout_ms: 1000 } } },
	  runtime: { drain_timeout_ms: 30000 } }
	EOF
	# down at the start: the sink is ready at once and holds what fits
	timeout 60 "$B/sinkd" nats -c k.json -r v.rec 2> log.start &
	S=$!
	sleep 2
	grep -q 'not reachable yet; holding messages' log.start
	nats_up
	wait $S
	grep -q ' 0 dropped' log.start
	$CHECK books <(sub --filter 'steth.k1.>') log.start

	# killed mid-run: a paced stream of 52,000 messages, a queue of 2,000
	"$B/tests/benchgen" small small.pcap 60000 >/dev/null
	"$B/reasmd" -r small.pcap -w small.rec 2>/dev/null
	cat > k2.json <<-EOF
	{ io: { output: { nats: { url: "$NATS", sensor: "k2", publish: ["events","sessions","chunks"],
	                          queue_msgs: 2000, ack_timeout_ms: 1000 } } },
	  runtime: { drain_timeout_ms: 30000 } }
	EOF
	( $CHECK pace small.rec 6 200 | timeout 90 "$B/sinkd" nats -c k2.json -r - 2> log.kill ) &
	S=$!
	sleep 2
	nats_down -KILL
	sleep 1.5
	nats_up
	wait $S
	grep -q 'disconnected from the broker' log.kill
	grep -q '1 reconnects' log.kill
	sub --filter 'steth.k2.>' > got.kill
	$CHECK books got.kill log.kill > books.kill || { cat books.kill log.kill; false; }
	cat books.kill
	# it did lose some (the outage outlasted the queue), and said which
	grep -q '"kind":"loss"' got.kill
	! grep -q "'queue_full': 0," books.kill
	# each session's own books still balance (chunks it could not queue are output_buffer_full)
	grep -q '300 sessions (300 settled, 0 with books that do not balance' log.kill
}

@test "nats: the same messages again (a replay with a fixed run_id) leave the stream as it was: the server drops them as duplicates; a restarted sink never collides" {
	nats_up
	want=$("$B/reasmd" -r "$VOIP" --voip --events - -w v.rec 2>/dev/null | wc -l)
	printf '{ io: { output: { nats: { run_id: "replay1" } } } }\n' > d.json
	"$B/sinkd" nats -c d.json -r v.rec --url "$NATS" --sensor d1 2> log.1
	n=$(stream_msgs)
	[ "$n" -eq "$want" ] || { cat log.1; echo "$n"; false; }
	"$B/sinkd" nats -c d.json -r v.rec --url "$NATS" --sensor d1 2> log.2
	[ "$(stream_msgs)" -eq "$n" ]
	grep -q "$n acked, 0 dropped.* $n duplicates the server dropped" log.2
	# without run_id each start draws its own: nothing is taken for a duplicate
	"$B/sinkd" nats -r v.rec --url "$NATS" --sensor d1 2> log.3
	"$B/sinkd" nats -r v.rec --url "$NATS" --sensor d1 2> log.4
	[ "$(stream_msgs)" -eq $((3 * n)) ]
	grep -q ' 0 duplicates' log.4
}

@test "nats: through the launcher with the json sink beside: the sessions and calls read back equal the json sink's; a durable subscriber resumes where it acked" {
	base=$(( NATS_PORT + 20 ))
	nats_up
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$VOIP" } },
	        output: { nats: { enabled: true, url: "$NATS", sensor: "tap1" },
	                  json: { enabled: true, path: "$T/events.jsonl" } } },
	  voip: { enabled: true },
	  control: { listen_port: $base },
	  runtime: { workers: 2, run_dir: "$T/run", drain_timeout_ms: 20000 } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json 2> run.log
	grep -q "stopped cleanly" run.log || { cat run.log; false; }
	grep -q 'sinkd nats: .* 0 dropped' run.log
	sub --filter 'steth.tap1.>' > got
	# sessions and calls: exactly the json sink's (every daemon's events are
	# there; the shards' events are what sinkd nats takes)
	python3 - "$T/events.jsonl" "$T/got" <<-'EOF'
	import json, sys
	env = ("sensor", "run", "kind", "seq", "shard", "subject", "stream_seq")
	ev = [json.loads(l) for l in open(sys.argv[1])]
	got = [json.loads(l) for l in open(sys.argv[2])]
	for name, kind in (("session_summary", "session"), ("call_end", "call")):
	    want = sorted(json.dumps({k: v for k, v in e.items() if k != "seq"}, sort_keys=True)
	                  for e in ev if e.get("event") == name)	# (ctld's number)
	    have = sorted(json.dumps({k: v for k, v in g.items() if k not in env}, sort_keys=True)
	                  for g in got if g.get("kind") == kind)
	    assert want == have, (name, len(want), len(have))
	    assert want, name
	    print(name, len(want), "equal")
	shards = set(g["subject"].split(".")[3] for g in got if g.get("kind") == "session")
	assert shards == {"0", "1"}, shards
	EOF
	# a durable consumer: take 100, stop, come back: the rest, none twice
	n=$(wc -l < got)
	sub --durable d1 --count 100 > part1
	sub --durable d1 > part2
	[ "$(wc -l < part1)" -eq 100 ]
	[ "$(( $(wc -l < part1) + $(wc -l < part2) ))" -eq "$n" ]
	[ "$(cat part1 part2 | python3 -c 'import json,sys; print(len(set(json.loads(l)["stream_seq"] for l in sys.stdin)))')" -eq "$n" ]
	# --from a sequence, and new: nothing yet
	[ "$(sub --from $((n - 9)) | wc -l)" -eq 10 ]
	[ "$(sub --from new | wc -l)" -eq 0 ]
}

@test "nats: three taps publish into one stream; stethoscope-ctl calls --nats merges each call across the sensors that saw it: by Call-ID, and by SDP endpoints and time for a sensor that saw only the RTP" {
	require_cmd tshark
	nats_up
	# a sees everything; b the SIP only; c the RTP only (another link)
	cp "$VOIP" a.pcap
	tshark -r "$VOIP" -Y sip -w b.pcap 2>/dev/null
	tshark -r "$VOIP" -Y 'udp and not sip' -w c.pcap 2>/dev/null
	pids=
	for s in a b c; do
		case $s in a) port=$(( NATS_PORT + 30 )) ;; b) port=$(( NATS_PORT + 31 )) ;; c) port=$(( NATS_PORT + 32 )) ;; esac
		cat > tap.$s.json <<-EOF
		{ io: { input: { capture: { file: "$T/$s.pcap" } },
		        output: { nats: { enabled: true, url: "$NATS", sensor: "sensor-$s" } } },
		  voip: { enabled: true },
		  control: { listen_port: $port },
		  runtime: { workers: 1, run_dir: "$T/run.$s", drain_timeout_ms: 20000 } }
		EOF
		timeout --foreground 120 "$RUN" -c tap.$s.json 2> run.$s.log &
		pids="$pids $!"
	done
	wait $pids
	for s in a b c; do grep -q "stopped cleanly" run.$s.log || { cat run.$s.log; false; }; done
	"$B/stethoscope-ctl" calls --nats "$NATS" > calls
	python3 - calls <<-'EOF'
	import json, sys
	calls = [json.loads(l) for l in open(sys.argv[1])]
	assert len(calls) == 4, len(calls)	# 5 records a SIP sensor; one REGISTER dialog written twice
	for c in calls:
	    want = ["sensor-a", "sensor-b"] + (["sensor-c"] if c["call_id"] == "12013223@200.57.7.195" else [])
	    assert sorted(c["sensors"]) == want, (c["call_id"], c["sensors"])
	c = [c for c in calls if c["call_id"] == "12013223@200.57.7.195"][0]
	ends = sorted((r["src"], r["dst"]) for r in c["rtp_elsewhere"])
	assert ends == [("200.57.7.196:40376", "200.57.7.204:8000"), ("200.57.7.204:8000", "200.57.7.196:40376")], ends
	assert all(r["sensor"] == "sensor-c" for r in c["rtp_elsewhere"])
	print("merged: by Call-ID (a, b) and the RTP only c saw")
	EOF
	# the example consumer, durable: the 10 call records, then none again
	[ -x "$B/examples/nats-consumer" ]
	timeout -s INT 4 "$B/examples/nats-consumer" "$NATS" > ex1 || true
	[ "$(grep -c '"kind":"call"' ex1)" -eq 10 ]
	timeout -s INT 3 "$B/examples/nats-consumer" "$NATS" > ex2 || true
	[ ! -s ex2 ]
}

@test "nats: a stream made by someone else is used as it is, with a warning; the messages it refuses are resent, then counted (nats_nack); the books balance" {
	nats_up
	python3 "$TOP/tests/gen/natsapi.py" "$NATS" '$JS.API.STREAM.CREATE.STETH' \
	    '{"name":"STETH","subjects":["steth.>"],"storage":"memory","max_msgs":10,"discard":"new","duplicate_window":120000000000}'
	n=$("$B/reasmd" -r "$VOIP" --voip --events - -w v.rec 2>/dev/null | wc -l)
	printf '{ io: { output: { nats: { retries: 1, ack_timeout_ms: 1000 } } } }\n' > nk.json
	"$B/sinkd" nats -c nk.json -r v.rec --url "$NATS" --sensor nk 2> log
	grep -q 'stream STETH exists with other settings (discard new: when full it refuses messages (counted as nats_nack); a message limit; memory storage): used as it is' log
	! grep -q 'made stream' log
	# every event became a message (the loss records come on top)
	[ "$(sed -n 's/.*produced (event \([0-9]*\), session \([0-9]*\), call \([0-9]*\),.*/\1 \2 \3/p' log |
	    awk '{ print $1 + $2 + $3 }')" -eq "$n" ]
	grep -q ' 10 acked, .* dropped (queue_full 0, nack [1-9][0-9]*, timeout 0, too_large 0, shutdown 0), 0 pending' log
	grep -q 'books balance' log
	# each refused message was sent twice (retries 1)
	dropped=$(sed -n 's/.* acked, \([0-9]*\) dropped.*/\1/p' log)
	grep -q " $dropped resent" log
	[ "$(stream_msgs)" -eq 10 ]
}

@test "kill -9 of the hep and the nats sinks under a paced SIP replay, one at a time: each comes back and carries on (the collector and the stream get what comes after; the restarted nats sink has its own run id, none collides, no record twice); the restarted sinks end without a send error or a drop; the run ends 0" {
	base=$(( NATS_PORT + 20 ))
	nats_up
	HEP_PORT=$(( base + 7 ))
	python3 "$TOP/tests/gen/hepserver.py" "$HEP_PORT" hep.got --seconds 60 > hs.out 2>&1 &
	HEP_PID=$!
	wait_for grep -q listening hs.out
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$VOIP" } },
	        output: { nats: { enabled: true, url: "$NATS", sensor: "tap1" },
	                  hep: { enabled: true, host: "127.0.0.1", port: $HEP_PORT } } },
	  voip: { enabled: true },
	  control: { listen_port: $base },
	  runtime: { workers: 2, run_dir: "$T/run", drain_timeout_ms: 20000 } }
	EOF
	# 35 s of capture at 5x: about 7 s
	timeout --foreground 60 "$RUN" -c tap.json --speed 5 2> run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	WAIT_SECS=10 wait_for test -s hep.got || { cat run.log; false; }
	sleep 1
	kill -KILL "$(pgrep -f "sinkd hep -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd hep" run.log || { cat run.log; false; }
	h1=$(wc -l < hep.got)
	sleep 1.5
	kill -KILL "$(pgrep -f "sinkd nats -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd nats" run.log || { cat run.log; false; }
	rc=0
	wait $L || rc=$?
	kill "$HEP_PID" 2>/dev/null || true; wait "$HEP_PID" 2>/dev/null || true
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	# the collector got more after the hep sink came back
	[ "$(wc -l < hep.got)" -gt "$h1" ]
	! grep -q '"error"' hep.got
	# the stream: two runs of the nats sink, the second's records after the first's
	sub --filter 'steth.tap1.>' > got
	$CHECK runs got 2
	# the restarted sinks end with balanced books; the shards counted
	# what came for a sink while it was away
	grep -q "sinkd hep: .*hep_send_error 0" run.log || { grep "sinkd hep:" run.log; false; }
	grep -E "sinkd nats: .* 0 dropped" run.log || { grep "sinkd nats:" run.log; false; }
	grep -E 'sink "sinkd (hep|nats)": [0-9]+ records' run.log
}

@test "live: sipp calls on a veth through the launcher, kill -9 of the hep and then the nats sink: each comes back; the collector gets every message of the calls made after (the last call's INVITE and BYE), the stream the restarted sink's records (its own run id, none twice); books balance; the run ends 0" {
	require_root
	require_cmd sipp
	netns_up
	base=$(( NATS_PORT + 20 ))
	# not through in_a: $! must be the server itself (ip netns exec execs it)
	ip netns exec "$NSA" nats-server -js -sd "$T/js" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" >> nats.log 2>&1 3>&- &
	NATS_PID=$!
	wait_for in_a curl -sf "http://127.0.0.1:$NATS_MON/healthz" >/dev/null
	HEP_PORT=$(( base + 7 ))
	ip netns exec "$NSA" python3 "$TOP/tests/gen/hepserver.py" "$HEP_PORT" hep.got --seconds 60 > hs.out 2>&1 3>&- &
	HEP_PID=$!
	wait_for grep -q listening hs.out
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA", bpf-filter: "udp port 5060" } },
	        output: { nats: { enabled: true, url: "$NATS", sensor: "tap1" },
	                  hep: { enabled: true, host: "127.0.0.1", port: $HEP_PORT } } },
	  voip: { enabled: true, media_grace_sec: 1 },
	  control: { listen_port: $base },
	  runtime: { workers: 2, run_dir: "$T/run", drain_timeout_ms: 20000 } }
	EOF
	in_a timeout --foreground 90 "$RUN" -c tap.json 2>run.log 3>&- &
	L=$!
	WAIT_SECS=30 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	in_b timeout 60 sipp -sn uas -i 10.77.0.2 -p 5060 -m 40 -nostdin -timeout 50s >uas.out 2>&1 3>&- &
	U=$!
	wait_for in_b sh -c "ss -lun | grep -q '10.77.0.2:5060 '"
	# 40 calls, 5 a second, each up 0.5 s: about 8 s of SIP
	in_a timeout 60 sipp -sn uac 10.77.0.2:5060 -i 10.77.0.1 -p 5061 -m 40 -r 5 -l 10 -d 500 -nostdin \
	    -timeout 50s >uac.out 2>&1 3>&- &
	C=$!
	WAIT_SECS=10 wait_for test -s hep.got || { cat run.log; false; }
	sleep 1
	kill -KILL "$(pgrep -f "sinkd hep -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd hep" run.log || { cat run.log; false; }
	h1=$(wc -l < hep.got)
	sleep 1.5
	kill -KILL "$(pgrep -f "sinkd nats -c $T/run/config.json")"
	WAIT_SECS=10 wait_for grep -q "restarting sinkd nats" run.log || { cat run.log; false; }
	wait $C || { tail -20 uac.out; false; }
	wait $U || true
	# the last call's end reaches ctld's books (BYE + media_grace_sec)
	sleep 2.5
	kill -TERM "$(supervisor_of $L)"
	rc=0
	wait $L || rc=$?
	kill "$HEP_PID" 2>/dev/null || true; wait "$HEP_PID" 2>/dev/null || true
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	# the collector: more after the restart, the last call whole
	[ "$(wc -l < hep.got)" -gt "$h1" ]
	! grep -q '"error"' hep.got
	python3 - hep.got <<-'PY'
	import json, sys
	msgs = [json.loads(l) for l in open(sys.argv[1])]
	last = [m["payload"] for m in msgs if m.get("payload", "").find("Call-ID: 40-") >= 0]
	heads = [p.split(" ", 1)[0] for p in last]
	assert "INVITE" in heads and "BYE" in heads and "ACK" in heads, heads
	PY
	in_a "$B/stethoscope-ctl" subscribe --nats "$NATS" --idle 1 --filter 'steth.tap1.>' > got
	# the calls ended after the nats sink came back are in the stream
	$CHECK runs got 2 --calls-in-last
	grep -q "sinkd hep: .*hep_send_error 0" run.log || { grep "sinkd hep:" run.log; false; }
	grep -E "sinkd nats: .* 0 dropped" run.log || { grep "sinkd nats:" run.log; false; }
}
