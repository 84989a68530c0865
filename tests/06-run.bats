#!/usr/bin/env bats
# stethoscope-run: the whole tap from one configuration — start order and
# readiness, the outputs end to end, restarts, the ordered stop.

load helper

CHECK="python3 $TOP/tests/gen/sinkcheck.py"
RUN="$TOP/scripts/stethoscope-run"

setup_file() {
	export STETHOSCOPE_BINDIR=${STH_BUILD:-$TOP/build}
}

teardown() {
	# what a live test left running in its namespaces (they outlive them)
	pkill -f "python3 server.py" 2>/dev/null || true
	pkill -f "socat -u TCP-LISTEN:3303[04]" 2>/dev/null || true
	netns_down
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

# The run directory lives in $T: the daemons' user must reach it to
# reconnect after a restart (as it would reach /run/stethoscope).
setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
}

@test "stethoscope-run: --help, a missing config, a bad config; the Go configs check" {
	run "$RUN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--config FILE"*"Exit status"* ]]
	run env -u STETHOSCOPE_CONFIG "$RUN"
	[ "$status" -eq 2 ]
	[[ "$output" == *"which configuration?"* ]]
	echo '{ io: { output: { listner: { enabled: true, port_range_start: 10, port_range_end: 5 } } } }' > bad.json
	run "$RUN" -c bad.json
	[ "$status" -eq 2 ]
	[[ "$output" == *"bad.json:1:"*"port_range_end"* ]]
	for f in "$FIX"/compat/*.json; do
		run "$RUN" -c "$f" --check-config
		[ "$status" -eq 0 ]
		[[ "$output" == *"configuration OK"* ]]
	done
}

@test "stethoscope-run replays a file through capd, reasmd and the sinks; a consumer gets the exact bytes; the run ends with 0" {
	require_cmd socat editcap
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 2 2000000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap", buffer_bytes: 16000000 } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                             port_range_end: $((base + 99)) },
	                  pcap: { enabled: true, dir: "$T/pcap", per_session: true },
	                  json: { enabled: true, path: "$T/events.jsonl" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run", close_linger_sec: 2.0 } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q listener_ports run/listener.events.jsonl
	# every daemon that reads packets or peers' bytes runs in its seccomp
	# sandbox (sanitizer builds have none, and say so)
	pids=$(pgrep -f "^$STETHOSCOPE_BINDIR/(capd|reasmd|sinkd [a-z]+|ctld) -c $T/run/config.json")
	[ "$(wc -w <<< "$pids")" -eq 7 ] || { ps -eo pid,args | grep -E "(capd|reasmd|sinkd|ctld) " | grep -v grep; false; }
	for p in $pids; do
		sc=$(awk '/^Seccomp:/ { print $2 }' /proc/$p/status)
		if [ -n "${STH_SANITIZER:-}" ]; then want=0; else want=2; fi
		[ "$sc" = "$want" ] || { echo "pid $p ($(tr '\0' ' ' < /proc/$p/cmdline)): Seccomp $sc"; false; }
	done
	# and in its chroot: the run directory for those that reconnect to
	# a socket there, an empty directory for ctld (none as a non-root
	# user, none under the sanitizers: LeakSanitizer cannot run in one)
	rd=$(realpath run)
	for p in $pids; do
		cmd=$(tr '\0' ' ' < /proc/$p/cmdline)
		case "$cmd" in
		*/ctld\ *) want=$rd/empty; [ -d /var/empty ] && want=/var/empty ;;
		*) want=$rd ;;
		esac
		if [ -n "${STH_SANITIZER:-}" ] || [ "$(id -u)" != 0 ]; then want=/; fi
		root=$(readlink /proc/$p/root)
		[ "$root" = "$want" ] || { echo "pid $p ($cmd): root $root, want $want"; false; }
	done
	ports=$($CHECK event run/listener.events.jsonl listener_ports)
	rs=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['responses_port'])" "$ports")
	rq=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests_port'])" "$ports")
	timeout 60 socat -u "TCP:127.0.0.1:$rs" - > got.resp &
	timeout 60 socat -u "TCP:127.0.0.1:$rq" - > got.req
	wait $!
	wait $L
	grep -q "all 7 daemons are ready" run.log
	if [ -n "${STH_SANITIZER:-}" ]; then line="no system-call sandbox in this build"; else line="seccomp sandbox in force"; fi
	[ "$(grep -c "$line" run.log)" -eq 7 ]
	grep -q "stopped cleanly" run.log
	cmp got.resp s.pcap.responses
	cmp got.req s.pcap.requests
	$CHECK books run/listener.events.jsonl --sessions 1 >/dev/null
	ls pcap | grep -q '__fin\.pcapng$'
	tshark -r s.pcap -Y tcp -w tcp.pcapng 2>/dev/null
	$CHECK frames tcp.pcapng pcap/*
	$CHECK jsonl events.jsonl >/dev/null
	grep -q '"event":"tcp_open"' events.jsonl
}

@test "stethoscope-run: a reasmd killed mid-run is restarted (shard_lost); SIGTERM stops everything in order, exit 0, nothing left behind" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 8 800000
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                             port_range_end: $((base + 99)) } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run", close_linger_sec: 0.5 } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "all 4 daemons are ready" run.log
	wait_for grep -q listener_ports run/listener.events.jsonl
	kids=$(descendants $L)
	r=$(pgrep -f "reasmd -c $T/run/config.json .*--from $T/run/capd.sock" | head -1)
	[ -n "$r" ]
	kill -KILL "$r"
	WAIT_SECS=10 wait_for grep -q "restarting reasmd 0/1" run.log
	grep -q "shard_lost=1" run.log
	# ctld counted it too
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s "$T/run/control.sock" stats
	re='"shard_lost": ?1'
	[[ "$output" =~ $re ]]
	# the restarted shard serves again: the sink reconnects (from inside
	# its chroot, by the socket's name there)
	WAIT_SECS=10 wait_for grep -q "reconnected to $T/run/reasmd.0.sock" run.log || { cat run.log; false; }
	# ctld restarted: capd, reasmd and the sink come back to it
	c=$(pgrep -f "ctld -c $T/run/config.json .*--run-dir $T/run" | head -1)
	[ -n "$c" ]
	kill -KILL "$c"
	WAIT_SECS=10 wait_for grep -q "restarting ctld" run.log || { cat run.log; false; }
	WAIT_SECS=10 wait_for sh -c "[ \$(grep -c 'reconnected to $T/run/ctld.sock' run.log) -eq 3 ]" ||
	    { grep ctld run.log; false; }
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s "$T/run/control.sock" stats
	[ "$status" -eq 0 ]
	kill -TERM $L
	status=0
	wait $L || status=$?
	cat run.log | grep -v INFO || true
	[ "$status" -eq 0 ]
	grep -q "stopped cleanly" run.log
	for p in $kids; do ! kill -0 "$p" 2>/dev/null; done
	! pgrep -f "reasmd -c $T/run/config.json"
	! pgrep -f "sinkd listener -c $T/run/config.json"
	! pgrep -f "capd -c $T/run/config.json"
}

@test "stethoscope-run: a daemon that cannot start fails the run with the reason and status 1" {
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/missing.pcap" } } }, control: { listen_port: 0 },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	run timeout --foreground 60 "$RUN" -c tap.json
	[ "$status" -eq 1 ]
	[[ "$output" == *"capd exited with status"*"before it was ready"* ]]
}

@test "live: the Go version's config runs unchanged (interfaces and addresses the test's): connector and pcap get the exact traffic; every daemon non-root; SIGTERM exits 0" {
	require_root
	require_cmd socat curl tcpdump editcap
	netns_up
	sed -e "s/\"iface\": \"en0\"/\"iface\": \"$VA\"/" -e 's/192.168.5.48/10.77.0.1/' \
	    -e 's/192.168.5.110/10.77.0.2/' "$FIX/compat/go-config.json" > go.json
	grep -q "$VA" go.json
	in_a timeout 120 socat -u TCP-LISTEN:33030,bind=127.0.0.1,reuseaddr,fork 'SYSTEM:cat > req.$SOCAT_PEERPORT' &
	in_a timeout 120 socat -u TCP-LISTEN:33040,bind=127.0.0.1,reuseaddr,fork 'SYSTEM:cat > resp.$SOCAT_PEERPORT' &
	wait_for in_a sh -c "ss -ltn | grep -q ':33040 '"
	in_a timeout 120 tcpdump -i "$VA" -w ref.pcap -U 'tcp port 5000' 2>/dev/null &
	TD=$!
	in_a timeout --foreground 120 env STETHOSCOPE_CONFIG=go.json "$RUN" --log-level INFO 2>run.log &
	L=$!
	WAIT_SECS=30 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	# every daemon reads the one merged configuration in the run directory
	pgrep -f "^$STETHOSCOPE_BINDIR/capd -c /run/stethoscope/go/config.json"
	for p in $(descendants $L); do
		c=$(ps -o comm= -p "$p" 2>/dev/null) || continue
		case "$c" in capd|reasmd|sinkd) [ "$(ps -o euid= -p "$p" | tr -d ' ')" != 0 ];; esac
	done
	head -c 3000000 /dev/urandom > bulk.bin
	# at a pace the connector's targets keep up with (max_output_buffer_bytes
	# is 1 MB in this config: a burst beyond it would be dropped, counted)
	in_b timeout 60 socat -u TCP-LISTEN:5000,bind=10.77.0.2,reuseaddr CREATE:bulk.bin.recv &
	S=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':5000 '"
	in_a timeout 60 python3 -c '
import socket, sys, time
d = open("bulk.bin", "rb").read()
s = socket.create_connection(("10.77.0.2", 5000))
for i in range(0, len(d), 65536):
    s.sendall(d[i:i + 65536])
    time.sleep(0.02)
s.close()'
	wait $S
	cmp bulk.bin bulk.bin.recv
	run python3 "$TOP/tests/gen/sinkcheck.py" books /run/stethoscope/go/connector.events.jsonl
	[ "$status" -eq 0 ]
	mkdir www && head -c 200000 /dev/urandom > www/page.bin
	in_b timeout 60 python3 -m http.server 5000 --bind 10.77.0.2 --directory www >/dev/null 2>&1 &
	H=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':5000 '"
	in_a curl -s -o got.bin http://10.77.0.2:5000/page.bin
	cmp got.bin www/page.bin
	WAIT_SECS=20 wait_for sh -c 'ls tcpdumps/*__fin.pcapng 2>/dev/null | wc -l | grep -q 2'
	kill $H
	kill -TERM "$(supervisor_of $L)"
	status=0
	wait $L || status=$?
	[ "$status" -eq 0 ] || { cat run.log; false; }
	pkill -TERM -f "tcpdump -i $VA" || true
	wait $TD || true
	# the connector: the bulk as one requests stream, the page inside a
	# response (socat's children may still be writing their files)
	WAIT_SECS=10 wait_for sh -c 'for f in req.*; do cmp -s "$f" bulk.bin && exit 0; done; exit 1' || true
	WAIT_SECS=10 wait_for sh -c 'for f in resp.*; do tail -c 200000 "$f" | cmp -s - www/page.bin && exit 0; done; exit 1' || true
	n=0
	for f in req.*; do cmp -s "$f" bulk.bin && n=$((n + 1)); done
	[ "$n" -eq 1 ] || { ls -la req.* resp.* tcpdumps; grep -v INFO run.log; false; }
	n=0
	for f in resp.*; do tail -c 200000 "$f" | cmp -s - www/page.bin && n=$((n + 1)); done
	[ "$n" -eq 1 ]
	# pcap: every frame tcpdump saw is in the files (same bytes), and the
	# bulk session's file holds exactly the bulk's frames tcpdump saw
	$CHECK frames --subset --bytes-only ref.pcap tcpdumps/*.pcapng || {
		tshark -r ref.pcap | tail -5; for f in tcpdumps/*.pcapng; do tshark -r "$f" | tail -3; done; false; }
	! pgrep -f "/run/stethoscope/go/config.json"	# (the run's daemons read the merged copy in its run directory)
}

@test "live: the Go config with listener, connector and pcap, 20 runs: every consumer gets the exact 2 MB and 1 MB every time, no kernel drop, SIGTERM exits 0" {
	require_root
	require_cmd socat
	netns_up
	# (under the sanitizers, 8: their pass is for memory errors, the
	# plain pass repeats it 20 times for races)
	runs=${STH_LIVE_RUNS:-20}
	[ -n "${STH_SANITIZER:-}" ] && runs=${STH_LIVE_RUNS:-8}
	head -c 2000000 /dev/urandom > req.bin
	head -c 1000000 /dev/urandom > resp.bin
	# The Go config, with the test's interface and addresses, and its
	# listener on (the first session's ports are first_*_port); capture
	# defaults, no -B.
	sed -e "s/\"iface\": \"en0\"/\"iface\": \"$VA\"/" -e 's/192.168.5.48/10.77.0.1/' \
	    -e 's/192.168.5.110/10.77.0.2/' -e '/"listner"/,/}/s/"enabled": false/"enabled": true/' \
	    "$FIX/compat/go-config.json" > go.json
	grep -q "$VA" go.json
	python3 -c "import json, re; c = json.loads(re.sub(r'//.*', '', open('go.json').read())); assert c['io']['output']['listner']['enabled']"
	# the real server: reads the 2 MB request, answers 1 MB, closes
	cat > server.py <<-'PY'
	import socket
	req, resp = open("req.bin", "rb").read(), open("resp.bin", "rb").read()
	l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("10.77.0.2", 5000)); l.listen(64)
	while True:
	    c, _ = l.accept(); got = b""
	    while len(got) < len(req):
	        b = c.recv(1 << 20)
	        if not b:
	            break
	        got += b
	    c.sendall(resp); c.close()
	PY
	cat > client.py <<-'PY'
	import socket
	req, resp = open("req.bin", "rb").read(), open("resp.bin", "rb").read()
	s = socket.create_connection(("10.77.0.2", 5000)); s.sendall(req); got = b""
	while True:
	    b = s.recv(1 << 20)
	    if not b:
	        break
	    got += b
	s.close(); assert got == resp, len(got)
	PY
	# a listener consumer: connects to a port as soon as it is open, keeps what it reads
	cat > consumer.py <<-'PY'
	import socket, sys, time
	port, out = int(sys.argv[1]), sys.argv[2]
	end = time.time() + 60
	while True:
	    try:
	        s = socket.create_connection(("127.0.0.1", port)); break
	    except OSError:
	        if time.time() > end: sys.exit("no listener on %d" % port)
	        time.sleep(0.005)
	with open(out, "wb") as f:
	    while True:
	        b = s.recv(1 << 20)
	        if not b: break
	        f.write(b)
	PY
	# (long-lived helpers close bats' fd 3, or bats would wait for them)
	in_b timeout 600 python3 server.py 3>&- &
	SRV=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':5000 '"
	# the connector's targets, for every run: one file per connection
	mkdir targets
	(cd targets && exec ip netns exec "$NSA" timeout 600 socat -u TCP-LISTEN:33030,bind=127.0.0.1,reuseaddr,fork 'SYSTEM:cat > req.$SOCAT_PEERPORT') 3>&- &
	TGT1=$!
	(cd targets && exec ip netns exec "$NSA" timeout 600 socat -u TCP-LISTEN:33040,bind=127.0.0.1,reuseaddr,fork 'SYSTEM:cat > resp.$SOCAT_PEERPORT') 3>&- &
	TGT2=$!
	wait_for in_a sh -c "ss -ltn | grep -q ':33040 '"
	for i in $(seq "$runs"); do
		mkdir r$i && cd r$i
		in_a timeout --foreground 120 env STETHOSCOPE_CONFIG=../go.json "$RUN" 2>run.log 3>&- &
		L=$!
		WAIT_SECS=30 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
		in_a timeout 60 python3 ../consumer.py 33010 lreq.bin 3>&- &
		Q1=$!
		in_a timeout 60 python3 ../consumer.py 33020 lresp.bin 3>&- &
		Q2=$!
		(cd .. && in_a timeout 60 python3 client.py)
		# the listener consumers read until the ports close (close_linger_sec after the session)
		wait $Q1 $Q2
		WAIT_SECS=20 wait_for sh -c 'ls tcpdumps/*__fin.pcapng >/dev/null 2>&1'
		kill -TERM "$(supervisor_of $L)"
		st=0
		wait $L || st=$?
		[ "$st" -eq 0 ] || { echo "run $i: status $st"; cat run.log; false; }
		# this run's connections to the targets (socat's children may still be writing)
		WAIT_SECS=10 wait_for sh -c 'for f in ../targets/req.*; do cmp -s "$f" ../req.bin && exit 0; done; exit 1' || true
		WAIT_SECS=10 wait_for sh -c 'for f in ../targets/resp.*; do cmp -s "$f" ../resp.bin && exit 0; done; exit 1' || true
		mv ../targets/req.* ../targets/resp.* . 2>/dev/null || true
		cmp lreq.bin ../req.bin || { echo "run $i: listener requests differ"; grep -v INFO run.log; false; }
		cmp lresp.bin ../resp.bin || { echo "run $i: listener responses differ"; grep -v INFO run.log; false; }
		n=0; for f in req.*; do cmp -s "$f" ../req.bin && n=$((n + 1)); done
		[ "$n" -eq 1 ] || { echo "run $i: connector requests"; ls -la; grep -v INFO run.log; false; }
		n=0; for f in resp.*; do cmp -s "$f" ../resp.bin && n=$((n + 1)); done
		[ "$n" -eq 1 ] || { echo "run $i: connector responses"; ls -la; grep -v INFO run.log; false; }
		grep -q "pcap_kernel 0 packets" run.log || { echo "run $i:"; grep pcap_kernel run.log; false; }
		! grep -E "pcap_kernel [1-9]" run.log
		cd ..
	done
	kill $SRV $TGT1 $TGT2
	wait $SRV $TGT1 $TGT2 || true
}

@test "make run: the bundled demo shows both conversations through the listener ports, then the files" {
	run timeout --foreground 120 sh "$TOP/scripts/run-demo.sh" "$STETHOSCOPE_BINDIR"
	[ "$status" -eq 0 ]
	[[ "$output" == *"GET /hello.txt HTTP/1.1"*"Hello from the stethoscope demo."* ]] ||
	    [[ "$output" == *"Hello from the stethoscope demo."*"GET /hello.txt HTTP/1.1"* ]]
	[[ "$output" == *"INVITE sip:bob@demo.example SIP/2.0"* ]]
	[[ "$output" == *"__fin.pcapng"* ]]
	[[ "$output" == *"stopped cleanly"* ]]
}

@test "make run LIVE=1: the demo on a live veth pair, then no namespace left behind" {
	require_root
	require_cmd curl
	run timeout --foreground 120 env LIVE=1 sh "$TOP/scripts/run-demo.sh" "$STETHOSCOPE_BINDIR"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from the stethoscope live demo."* ]]
	[[ "$output" == *"__fin.pcapng"* ]]
	! ip netns list | grep -q sth-demo
}

@test "voip through the whole tap: two shards, calls and their RTP in shard 0 (capd routes UDP there), call events in the json sink, SIP to a HEP collector, a pcap per call" {
	require_cmd tshark
	port=$(( 20000 + (($$ + RANDOM) % 20000) ))
	python3 "$TOP/tests/gen/hepserver.py" "$port" hep.jsonl --seconds 90 > hs.out 2>&1 &
	H=$!
	wait_for grep -q listening hs.out
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap" } },
	        output: { json: { enabled: true, path: "$T/events.jsonl" },
	                  hep: { enabled: true, port: $port },
	                  pcap: { dir: "$T/calls" } } },
	  control: { listen_port: 0 },
	  voip: { enabled: true, per_call_pcap: true },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	run timeout --foreground 60 "$RUN" -c tap.json
	sleep 0.3
	kill $H; wait $H || true	# the collector takes what is there first
	[ "$status" -eq 0 ] || { echo "status $status"; echo "$output" | tail -40; cat hs.out; false; }
	python3 "$TOP/tests/gen/hepcheck.py" "$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap" hep.jsonl
	[ "$(ls calls | grep -c '__confirmed\.pcapng$')" -eq 1 ]
	[ "$(ls calls | grep -c '__early\.pcapng$')" -eq 1 ]
	[[ "$output" == *"reasmd: voip: 14 SIP messages"*"5 calls written"*"1439 RTP packets"* ]]
	[[ "$output" == *"reasmd: voip: 0 SIP messages"* ]]
	grep -q '"cat":"calls","event":"call_end".*"call_id":"12013223@200.57.7.195".*"state":"confirmed"' events.jsonl
	[ "$(grep '"event":"rtp_stream_summary"' events.jsonl | grep '"call_id":"12013223@200.57.7.195"' | grep -c '"packets":\(548\|891\),')" -eq 2 ]
}

@test "the rolling pcap file of a run with two shards: every frame once, in timestamp order (frames in order wait in a run, the others in a heap), in both capture orders and on every public capture" {
	require_cmd editcap tshark
	# 200,000 frames of 256 flows, and the same with the servers' frames
	# stamped 1 ms late in the file's order (timestamps go back within a
	# tick: the heap's frames even in one shard)
	"$B/tests/benchgen" small plain.pcap 200000 > /dev/null
	BENCHGEN_LATE_SERVER_US=1000 "$B/tests/benchgen" small late.pcap 200000 > /dev/null
	# the whole tap with two shards on capture $1 (its files under $T/$2):
	# its rolling file holds each frame of $1 once, in timestamp order
	two_shards_rolling() {
		cat > tap.json <<-EOF
		{ io: { input: { capture: { file: "$1" } },
		        output: { pcap: { enabled: true, dir: "$T/pcap.$2" } } },
		  control: { listen_port: 0 },
		  runtime: { workers: 2, run_dir: "$T/run.$2" } }
		EOF
		run timeout --foreground 120 "$RUN" -c tap.json
		[ "$status" -eq 0 ] || { echo "$2: $output"; return 1; }
		[[ "$output" == *"pcap_out_of_order 0 frames"* ]] || { echo "$2: $output"; return 1; }
		python3 "$TOP/tests/gen/sinkcheck.py" frames "$1" "$T/pcap.$2"/* || { echo "$2"; return 1; }
		tshark -r "$T/pcap.$2"/* -T fields -e frame.time_epoch > ts.txt 2>/dev/null
		python3 "$TOP/tests/gen/sinkcheck.py" sorted ts.txt || { echo "$2"; return 1; }
	}
	for f in plain late; do
		two_shards_rolling "$T/$f.pcap" $f
		n=$("$B/tests/pcaploop" $f.pcap | sed 's/packets=\([0-9]*\).*/\1/')
		[[ "$output" == *"sinkd pcap: $n frames: written $n, pcap_queue_full 0"* ]]
	done
	# and the public captures (other stacks and taps, link types, pcapng,
	# IP in IP, fragments, UDP): each frame once, in order, across shards
	for f in "$TOP"/tests/corpus/*.pcap*; do
		two_shards_rolling "$f" "$(basename "$f")"
	done
}

@test "io.output.files: every reasmd shard of a run writes into one directory; sessions.jsonl lines of both shards, none lost or cut; the same files as reasmd -o alone" {
	f=$T/many.pcap
	"$B/tests/benchgen" small "$f" 200000 > /dev/null
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$f" } },
	        output: { files: { enabled: true, dir: "$T/out" } } },
	  control: { listen_port: 0 },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	mkdir -p out && echo stale > out/sessions.jsonl
	run timeout --foreground 120 "$RUN" -c tap.json
	[ "$status" -eq 0 ]
	"$B/reasmd" -r "$f" -o ref 2>/dev/null
	python3 - out ref <<'PY'
import collections, hashlib, json, os, sys
def load(d):
    sess, shards = collections.Counter(), set()
    for l in open(os.path.join(d, "sessions.jsonl")).read().splitlines():
        o = json.loads(l)		# every line whole
        fl = o["flow"]
        sess[(fl["client_ip"], fl["client_port"], fl["server_ip"], fl["server_port"],
              o["requests"]["bytes"], o["responses"]["bytes"])] += 1
        shards.add((o["session_id"] >> 37) & 0xFF)
    files = collections.Counter(hashlib.sha1(open(os.path.join(d, n), "rb").read()).hexdigest()
                                for n in os.listdir(d) if not n.endswith(".jsonl"))
    return sess, files, shards
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a[0] == b[0], (sum(a[0].values()), sum(b[0].values()))
assert a[1] == b[1], (sum(a[1].values()), sum(b[1].values()))
assert a[2] == {0, 1}, a[2]
print(sum(a[0].values()), "sessions,", sum(a[1].values()), "stream files, shards", a[2])
PY
	! grep -q stale out/sessions.jsonl
	# with voip: calls.jsonl too, made empty at the start
	cat > tapv.json <<-EOF
	{ io: { input: { capture: { file: "$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap" } },
	        output: { files: { enabled: true, dir: "$T/outv" } } },
	  control: { listen_port: 0 }, voip: { enabled: true },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	mkdir -p outv && echo stale > outv/calls.jsonl
	run timeout --foreground 60 "$RUN" -c tapv.json
	[ "$status" -eq 0 ]
	diff <(sort outv/calls.jsonl) <(sort "$FIX/voip/heplify-rtp_rtcp_sip_ipv4_udp.calls.jsonl")
}

@test "live: sipp calls (uac playing G.711 and DTMF, uas echoing) through the whole tap with two shards: ctld lists each call terminated with its streams whole; a pcap per call grows while it lasts" {
	require_root
	require_cmd sipp tshark
	netns_up
	# sipp's uac_pcap plays these two files from ./pcap
	mkdir pcap
	for f in /usr/share/sip-tester/*.pcap; do ln -s "$f" pcap/; done
	audio=$(tshark -r pcap/g711a.pcap 2>/dev/null | wc -l)
	dtmf=$(tshark -r pcap/dtmf_2833_1.pcap 2>/dev/null | wc -l)
	dtmf_seqs=$(tshark -r pcap/dtmf_2833_1.pcap -d udp.port==10000,rtp -T fields -e rtp.seq 2>/dev/null | sort -u | wc -l)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA" } },
	        output: { json: { enabled: true, path: "$T/events.jsonl" }, pcap: { dir: "$T/calls" } } },
	  control: { listen_port: 0 },
	  voip: { enabled: true, media_grace_sec: 1, per_call_pcap: true },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	in_a timeout --foreground 120 "$RUN" -c tap.json 2>run.log 3>&- &
	L=$!
	WAIT_SECS=30 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	# the uas answers every call on one media port (6000) and echoes
	in_b timeout 60 sipp -sn uas -i 10.77.0.2 -p 5060 -mp 6000 -rtp_echo -m 2 -nostdin \
	    -timeout 50s >uas.out 2>&1 3>&- &
	U=$!
	wait_for in_b sh -c "ss -lun | grep -q '10.77.0.2:5060 '"
	# the sizes of the calls' files while they are open (bounded: 60 s)
	( for i in $(seq 300); do
		for p in calls/*__open.pcapng; do [ -e "$p" ] && stat -c '%n %s' "$p"; done
		sleep 0.2
	  done ) > sizes.log 2>/dev/null 3>&- &
	S=$!
	in_a timeout 60 sipp -sn uac_pcap 10.77.0.2:5060 -i 10.77.0.1 -p 5061 -m 2 -r 2 -l 2 -nostdin \
	    -timeout 50s >uac.out 2>&1 3>&- || { tail -20 uac.out; false; }
	wait $U || true
	# both calls written (BYE + media_grace_sec), in ctld's list
	WAIT_SECS=15 wait_for sh -c "[ \$(grep -c '\"event\":\"call_end\"' events.jsonl) -ge 2 ]" ||
	    { cat run.log; tail -5 uac.out; false; }
	run "$STETHOSCOPE_BINDIR/stethoscope-ctl" -s run/control.sock calls
	[ "$status" -eq 0 ]
	kill -TERM "$(supervisor_of $L)"
	wait $L
	kill $S 2>/dev/null || true
	# each call's file grew while the call lasted, and holds the call
	python3 - sizes.log <<'PY'
import collections, sys
sizes = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, sz = line.split()
    sizes[n].append(int(sz))
assert len(sizes) == 2, dict(sizes)
for n, v in sizes.items():
    assert len(set(x for x in v if x > 0)) >= 3 and v == sorted(v), (n, v)
PY
	[ "$(ls calls | grep -c '__[0-9]*__terminated\.pcapng$')" -eq 2 ]
	! ls calls | grep -q __open
	# a live shard keeps no table of its calls for its summary
	# (voip.call_table is off: it would grow with every call for weeks)
	! grep -q "reasmd: calls (start" run.log
	for p in calls/*; do
		tshark -r "$p" -q -z rtp,streams 2>/dev/null > streams.txt
		[ "$(grep -c ' 0x' streams.txt)" -eq 4 ] || { cat streams.txt; false; }
		[ "$(grep -c " $audio  *0 (0.0%)" streams.txt)" -eq 2 ] || { cat streams.txt; false; }
		capinfos -k "$p" | grep -q '"state":"terminated"'
	done
	python3 - "$output" "$audio" "$dtmf" "$dtmf_seqs" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
audio, dtmf, seqs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
calls = [c for c in r["calls"] if c.get("ended")]
assert len(calls) == 2, r
ports = set()
for c in calls:
    assert c["state"] == "terminated" and c["final_status"] == 200, c
    assert c["from_user"] == "sipp" and c["to_user"] == "service", c
    st = c["rtp_streams"]
    # each way: the G.711 stream and the DTMF stream (its own SSRC); the
    # uas takes both calls on port 6000, the uac's port tells them apart
    assert len(st) == 4, c
    for s in st:
        if s["payload_type"] == 8:
            assert s["packets"] == audio and s["lost"] == 0 and s["codec"] == "PCMA", s
        else:
            # RFC 4733: an event's end packet is sent three times
            assert s["packets"] == dtmf and s["duplicates"] == dtmf - seqs, s
            assert s["lost"] == -(dtmf - seqs) and s["max_jitter_ms"] == 0, s
        ports.add(s["src"] if s["src"].startswith("10.77.0.1:") else s["dst"])
assert len(ports) == 2, ports
print("ok")
PY
	grep -q "pcap_kernel 0" run.log
}

@test "stethoscope-run merges the file, the environment and its command line once, into RUN/config.json: every daemon reads that, a shard restarted after the file was broken too" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 5 400000 0.5
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	STETHOSCOPE_RUNTIME_WORKERS=2 timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	# the environment's workers, said where it came from; 0600 beside the sockets
	grep -q '"runtime.workers": "environment STETHOSCOPE_RUNTIME_WORKERS"' run/config.json
	grep -q '"io.input.capture.file": "file tap.json"' run/config.json
	[ "$(stat -c %a run/config.json)" = 600 ]
	[ "$(pgrep -fc "^$STETHOSCOPE_BINDIR/reasmd -c $T/run/config.json")" -eq 2 ]
	[ "$(pgrep -fc "^$STETHOSCOPE_BINDIR/(capd|ctld) -c $T/run/config.json")" -eq 2 ]
	# the file broken mid-run: a shard that restarts now still starts
	echo '{ broken' > tap.json
	pid=$(pgrep -f "reasmd -c $T/run/config.json .*--shard 1/2")
	kill -9 "$pid"
	WAIT_SECS=10 wait_for grep -q "restarting reasmd 1/2" run.log
	sleep 0.5
	new=$(pgrep -f "reasmd -c $T/run/config.json .*--shard 1/2")
	[ -n "$new" ] && [ "$new" != "$pid" ]
	wait $L
	grep -q "stopped cleanly" run.log
	! grep -q "configuration has" run.log
}

@test "stethoscope-run: a capd that dies replaying a file ends the run with the reason and status 1, never replays the file again (no session twice)" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 6 400000 0.5
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { json: { enabled: true, path: "$T/events.jsonl" } } },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	WAIT_SECS=10 wait_for grep -q '"event":"tcp_open"' events.jsonl
	kill -9 "$(pgrep -f "^$STETHOSCOPE_BINDIR/capd -c $T/run/config.json")"
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 1 ] || { cat run.log; false; }
	grep -q "capd was killed by signal 9 while replaying $T/s.pcap; a file is not replayed twice: the run ends" run.log
	grep -q "stopped: capd was killed by signal 9" run.log
	! grep -q "restarting capd" run.log
	# the session it had opened, once
	[ "$(grep -c '"event":"tcp_open"' events.jsonl)" -eq 1 ]
}

@test "live: the capture interface deleted mid-run: capd exits 3, the launcher waits for it (interface_down, not a death, health says so), and captures again once it is back (interface_up); the run stops with 0 (a 10 ms capture timeout from the file, both capds)" {
	require_root
	require_cmd socat curl
	netns_up
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { iface: "$VA", bpf-filter: "tcp port 5000 or tcp port 5001", timeout_ms: 10 } },
	        output: { files: { enabled: true, dir: "$T/out" } } },
	  control: { listen_port: $((base + 150)), metrics_port: $((base + 151)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	in_a timeout --foreground 120 "$RUN" -c tap.json 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log || { cat run.log; false; }
	head -c 200000 /dev/urandom > one.bin
	socat_transfer 5000 one.bin
	WAIT_SECS=10 wait_for grep -q . out/sessions.jsonl
	# the pair goes (both ends): capd loses its interface
	ip -n "$NSA" link del "$VA"
	WAIT_SECS=10 wait_for grep -q "event interface_down: $VA is gone" run.log || { cat run.log; false; }
	code=$(in_a curl -s -o health.json -w '%{http_code}' "http://127.0.0.1:$((base + 151))/healthz")
	[ "$code" = 503 ]
	grep -q '"state":"waiting"' health.json
	sleep 3	# restarts meanwhile: not deaths
	! grep -q "giving up" run.log
	veth_again
	WAIT_SECS=20 wait_for grep -q "event interface_up: $VA is back" run.log || { cat run.log; false; }
	# the shard kept its sessions and reconnects to the new capd (what capd
	# reads before that is counted as ring_full, not lost silently)
	WAIT_SECS=15 wait_for grep -q "reasmd.*reconnected to .*capd.sock" run.log
	head -c 300000 /dev/urandom > two.bin
	socat_transfer 5001 two.bin
	WAIT_SECS=10 wait_for sh -c '[ "$(wc -l < out/sessions.jsonl)" -ge 2 ]' || { cut -c1-200 out/sessions.jsonl; grep -av 'INFO: \(dropped\|running\|seccomp\)' run.log | cut -c1-220 | tail -40; false; }
	kill -TERM "$(pgrep -P $L)" 2>/dev/null || kill -TERM $L
	rc=0
	wait $L || rc=$?
	[ "$rc" -eq 0 ] || { cat run.log; false; }
	cmp one.bin.recv one.bin
	cmp two.bin.recv two.bin
	[ "$(requests_equal one.bin out)" -eq 1 ]
	[ "$(requests_equal two.bin out)" -eq 1 ]
	# the key from the file reached capd, and the one started again
	[ "$(grep -c "capturing on $VA .*blocks handed over within 10 ms" run.log)" -ge 2 ] || { grep "capturing on" run.log; false; }
}

@test "stethoscope-run --profile memory: RUN/config.json carries it, every daemon's rings are 4 MiB (not 64); a key given still wins" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 5 400000 0.5
	base=$(port_base)
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { json: { enabled: true, path: "$T/ev.jsonl" } } },
	  reasm: { memcap: 536870912 },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 1, run_dir: "$T/run" } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 --profile memory 2>run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	grep -q '"runtime.profile": "command line"' run/config.json
	pid=$(pgrep -f "reasmd -c $T/run/config.json")
	"$B/reasmd" -c run/config.json --check-config > eff.txt 2>&1
	grep -q '"runtime.ring_bytes": "profile memory"' eff.txt
	grep -q '"memcap": 536870912' eff.txt
	# the shard's rings (its input from capd, its output to the json... sinks): 4 MiB and a header each
	grep 'memfd:stethoscope-ring' "/proc/$pid/maps" | while IFS='- ' read -r lo hi _; do
		echo $((0x$hi - 0x$lo))
	done > sizes
	[ -s sizes ]
	awk '$1 < 4194304 || $1 > 4194304 + 65536 { bad = 1 } END { exit bad }' sizes || { cat sizes; return 1; }
	wait $L
	grep -q "stopped cleanly" run.log
}
