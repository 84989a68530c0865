#!/usr/bin/env bats
# capd: privilege separation, shards, flow control, and live capture across
# a veth pair between two network namespaces made by the test.

load helper

teardown() {
	[ -n "${CAPD_PID:-}" ] && kill "$CAPD_PID" 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null
	netns_down
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

# two_shards F: F replayed by capd to two reasmd shards (-o s0, s1; their
# stderr r0.err, r1.err; capd's capd.err), and reasmd -r F -o direct
two_shards() {
	timeout 120 "$B/capd" -r "$1" --run-dir "$T/run" --shards 2 2>capd.err &
	wait_for test -S "$T/run/capd.sock"
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 0/2 -o s0 2>r0.err &
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 1/2 -o s1 2>r1.err &
	wait
	"$B/reasmd" -r "$1" -o direct 2>/dev/null
}

@test "capd -r F -w - writes a pcap that tshark reads, identical packets" {
	require_cmd tshark
	F=$TOP/tests/corpus/heplify-sip_ipv4_tcp_retrans.pcap
	"$B/capd" -r "$F" -w out.pcap 2>capd.err
	[ "$(tshark -r out.pcap 2>/dev/null | wc -l)" -eq "$(tshark -r "$F" 2>/dev/null | wc -l)" ]
	diff <(tshark -r out.pcap -T fields -e frame.len -e frame.time_epoch 2>/dev/null) \
	     <(tshark -r "$F" -T fields -e frame.len -e frame.time_epoch 2>/dev/null)
	grep -q "captured 196 packets" capd.err
}

@test "capd -r F -w - | reasmd -r - gives what reasmd -r F gives" {
	F=$TOP/tests/corpus/heplify-sip_ipv4_tcp_fragmented.pcap
	"$B/capd" -r "$F" -w - 2>/dev/null | "$B/reasmd" -r - -o pipe 2>/dev/null
	"$B/reasmd" -r "$F" -o direct 2>/dev/null
	diff <(cd pipe && cat *.requests *.responses | sha256sum) <(cd direct && cat *.requests *.responses | sha256sum)
}

@test "a file replayed through capd.sock to two shards: lossless, whole flows per shard" {
	F=$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap
	two_shards "$F"
	[ "$(cat s0/sessions.jsonl s1/sessions.jsonl | wc -l)" -eq "$(wc -l < direct/sessions.jsonl)" ]
	[ "$(cat s0/*.re* s1/*.re* | wc -c)" -eq "$(cat direct/*.re* | wc -c)" ]
	grep -q "ring_full 0$" capd.err
	# no flow is split: each client/server pair is in one shard only
	python3 - <<'PY'
import json
seen = {}
for shard in ("s0", "s1"):
    for l in open(shard + "/sessions.jsonl"):
        f = json.loads(l)["flow"]
        pair = tuple(sorted([f["client_ip"], f["server_ip"]]))
        assert seen.setdefault(pair, shard) == shard, pair
assert len(set(seen.values())) == 2, "both shards got flows"
PY
}

@test "two shards: flows whose clients' frames come in an IP-in-IP tunnel (fragmented when large) and whose answers come bare are whole in one shard" {
	python3 "$TOP/tests/gen/pcapgen.py" "$T/gen" >/dev/null
	F=$T/gen/tunnel_one_way.pcap
	two_shards "$F"
	[ "$(wc -l < direct/sessions.jsonl)" -eq 8 ]
	[ "$(cat s0/sessions.jsonl s1/sessions.jsonl | wc -l)" -eq 8 ]
	# the same streams byte for byte (the ids differ: compared by content)
	diff <(for f in s0/*.re* s1/*.re*; do sha256sum < "$f"; done | sort) \
	     <(for f in direct/*.re*; do sha256sum < "$f"; done | sort)
	# no gap, no fragment left over, and both shards had flows
	! grep -h '"gap_bytes":[1-9]' s0/sessions.jsonl s1/sessions.jsonl
	grep -q "0 timed out" r0.err
	grep -q "0 timed out" r1.err
	[ -s s0/sessions.jsonl ] && [ -s s1/sessions.jsonl ]
}

@test "a consumer asking for the wrong shard count, or of the wrong role, is refused with the reason and counted" {
	timeout 120 "$B/capd" -r "$TOP/tests/corpus/sngrep-aaa.pcap" --run-dir "$T/run" --shards 2 2>capd.err &
	pid=$!
	wait_for test -S "$T/run/capd.sock"
	run "$B/stethoscope-dump" --from "$T/run/capd.sock" --shard 0/3
	[ "$status" -eq 1 ]
	[[ "$output" == *"capd runs 2 shards (runtime.workers); stethoscope-dump asked for shard 0/3"* ]]
	# a sink at the wrong socket: refused with the reason, counted
	run timeout 10 "$B/sinkd" pcap --from "$T/run/capd.sock" --dir "$T/p"
	[ "$status" -eq 1 ]
	[[ "$output" == *"refused: sinkd pcap: capd.sock serves reasmd shards; a sink connects to reasmd.N.sock"* ]]
	kill -USR1 "$(pgrep -f "^$B/capd -r $TOP/tests/corpus/sngrep-aaa.pcap")"
	wait_for grep -q "capd: peers_dropped 2 " capd.err
	kill $pid
	wait $pid || true
}

@test "a -w reader that goes away stops capd with the reason, not silently" {
	F=$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap
	timeout 60 "$B/capd" -r "$F" --speed 1 -w - 2>capd.err | head -c 1000 > /dev/null
	grep -q -- "-w: writing the packets failed; -w is off from now on: Broken pipe" capd.err
	grep -q "^capd: captured" capd.err
}

@test "--speed 1 paces a replay at the original rate" {
	python3 "$TOP/tests/gen/pcapgen.py" "$T/gen" >/dev/null
	# idle_timeout.pcap spans 200 s; basic.pcap about 20 ms: use a 2 s capture
	python3 -c "
import sys; sys.path.insert(0, '$TOP/tests/gen')
import pcapgen as g
pc = g.Pcap('slow.pcap')
c = g.Conn(pc, g.C, g.S); c.handshake()
for i in range(4):
    c.t += 0.5; c.send(True, b'tick %d' % i)
c.close(); pc.close()"
	start=$(date +%s%N)
	"$B/capd" -r slow.pcap --speed 1 -w out.pcap 2>/dev/null
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "took $ms ms"
	[ "$ms" -ge 1800 ] && [ "$ms" -lt 6000 ]
	start=$(date +%s%N)
	"$B/capd" -r slow.pcap --speed 4 -w out.pcap 2>/dev/null
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$ms" -ge 400 ] && [ "$ms" -lt 1800 ]
}

@test "capd refuses bad usage clearly" {
	run "$B/capd"
	[ "$status" -eq 2 ]
	[[ "$output" == *"nothing to capture: give -i IFACE or -r FILE"* ]]
	run "$B/capd" -r /nonexistent.pcap -w /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"/nonexistent.pcap: No such file or directory"* ]]
	run "$B/capd" --speed fast -r x
	[ "$status" -eq 2 ]
	run "$B/capd" -r "$TOP/tests/corpus/sngrep-aaa.pcap" -f "tcp and (" -w /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *'filter "tcp and ("'* ]]
}

@test "live: an unknown interface, and no permission, give clear messages" {
	require_root
	run "$B/capd" -i sth-no-such0 -w /dev/null
	[ "$status" -eq 3 ]	# (an interface that does not exist: the launcher can wait for it)
	[[ "$output" == *"sth-no-such0: no such interface"* ]]
	run setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$B/capd" -i lo -w /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"no permission to capture"*"setcap cap_net_raw,cap_net_admin+ep"* ]]
}

@test "live: HTTP and a socat bulk transfer, through capd -w - | reasmd -r -, byte-exact" {
	require_root
	require_cmd socat curl
	netns_up
	head -c 3000000 /dev/urandom > bulk.bin
	mkdir www && head -c 500000 /dev/urandom > www/page.bin
	in_b timeout 120 python3 -m http.server 8080 --bind 10.77.0.2 --directory www >/dev/null 2>&1 &
	HTTPD=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':8080 '"
	# capd's default capture buffer holds the bursts (no -B)
	ip netns exec "$NSA" timeout 120 "$B/capd" -i "$VA" -f tcp --ready-fd 3 -w - 3>capd.ready 2>capd.err |
	    timeout 120 "$B/reasmd" -r - -o out 2>reasmd.err &
	wait_for grep -q ready capd.ready
	CAPD_PID=$(pgrep -f "^$B/capd -i $VA")
	# capd runs without root while it captures
	[ "$(ps -o euid= -p "$CAPD_PID" | tr -d ' ')" != 0 ]
	socat_transfer 9000 bulk.bin
	cmp bulk.bin bulk.bin.recv
	in_a curl -s -o got.bin http://10.77.0.2:8080/page.bin
	cmp got.bin www/page.bin
	WAIT_SECS=20 wait_for sh -c "[ \$(requests_equal bulk.bin out 2>/dev/null || echo 0) -ge 1 ] 2>/dev/null || [ -s out/sessions.jsonl ] && grep -q 8080 out/sessions.jsonl"
	kill -TERM "$CAPD_PID"
	kill -TERM "$HTTPD" 2>/dev/null || true	# (else wait waits for its timeout)
	wait
	cat capd.err reasmd.err | grep -v INFO
	[ "$(requests_equal bulk.bin out)" -eq 1 ]
	python3 - <<'PY'
import json, os
body = open("www/page.bin", "rb").read()
ok = False
for l in open("out/sessions.jsonl"):
    s = json.loads(l)
    if s["flow"]["server_port"] == 8080:
        req = open(os.path.join("out", s["requests"]["file"]), "rb").read()
        resp = open(os.path.join("out", s["responses"]["file"]), "rb").read()
        assert req.startswith(b"GET /page.bin HTTP/1.1\r\n"), req[:40]
        assert resp.endswith(body) and resp.startswith(b"HTTP/1.0 200"), len(resp)
        assert s["responses"]["gap_bytes"] == 0 and s["requests"]["gap_bytes"] == 0
        ok = True
assert ok
PY
	grep -q "ring_full 0" capd.err || true
}

@test "live: capd -i IF -w - | reasmd -r - -o DIR with every default, an 8 MB socat transfer, exact 20 times out of 20" {
	require_root
	require_cmd socat
	netns_up
	head -c 8000000 /dev/urandom > bulk.bin
	for i in $(seq "${STH_LIVE_RUNS:-20}"); do
		# (the last run's ready file goes first: the background job truncates it when it starts)
		rm -rf out bulk.bin.recv capd.ready capd.err
		ip netns exec "$NSA" timeout 60 "$B/capd" -i "$VA" --ready-fd 3 -w - 3>capd.ready 2>capd.err |
		    timeout 60 "$B/reasmd" -r - -o out 2>reasmd.err &
		wait_for grep -q ready capd.ready
		grep -q "capture buffer 64 MiB per interface (default)" capd.err
		socat_transfer 9000 bulk.bin
		cmp bulk.bin bulk.bin.recv
		# the FIN reached reasmd: the session's line is written
		WAIT_SECS=20 wait_for grep -q '"server_port":9000' out/sessions.jsonl
		pkill -TERM -f "^$B/capd -i $VA"
		wait
		grep -q "pcap_kernel 0 packets" capd.err || { echo "run $i"; cat capd.err; false; }
		[ "$(requests_equal bulk.bin out)" -eq 1 ] || { echo "run $i"; cat out/sessions.jsonl; false; }
		grep -q '"reason":"fin"' out/sessions.jsonl
	done
}

@test "live: through capd.sock with two shards, each flow whole in one shard, byte-exact" {
	require_root
	require_cmd socat
	netns_up
	head -c 2000000 /dev/urandom > one.bin
	head -c 1500000 /dev/urandom > two.bin
	start_capd_a capd.err -i "$VA" -f tcp --run-dir "$T/run" --shards 2
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 0/2 -o s0 2>r0.err &
	R0=$!
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 1/2 -o s1 2>r1.err &
	R1=$!
	wait_for grep -q "shard 1/2 connected" capd.err
	wait_for grep -q "shard 0/2 connected" capd.err
	socat_transfer 9001 one.bin 10.77.0.2
	socat_transfer 9002 two.bin 10.77.0.3
	WAIT_SECS=20 wait_for sh -c "[ \$(cat s0/sessions.jsonl s1/sessions.jsonl 2>/dev/null | wc -l) -ge 2 ]"
	kill -TERM "$CAPD_PID"
	wait "$CAPD_JOB" || true
	wait $R0 $R1
	[ "$(requests_equal one.bin s0 s1)" -eq 1 ]
	[ "$(requests_equal two.bin s0 s1)" -eq 1 ]
	grep -q "capd: shard 0: handed" capd.err
}

@test "live: the config's filter template picks exactly the configured flow" {
	require_root
	require_cmd socat
	netns_up
	cat > tap.json <<J
{ io: { input: { capture: { iface: "$VA", local_ip: "10.77.0.1", remote_ip: "10.77.0.2", remote_port: 9100,
    "bpf-filter": "tcp and ((src host {local_ip} and dst host {remote_ip} and dst port {remote_port}) or (src host {remote_ip} and src port {remote_port} and dst host {local_ip}))" } } } }
J
	head -c 100000 /dev/urandom > a.bin
	ip netns exec "$NSA" timeout 120 "$B/capd" -c tap.json --ready-fd 3 -w - 3>capd.ready 2>capd.err |
	    timeout 120 "$B/reasmd" -c tap.json -r - -o out 2>reasmd.err &
	wait_for grep -q ready capd.ready
	CAPD_PID=$(pgrep -f "^$B/capd -c tap.json")
	socat_transfer 9101 a.bin
	socat_transfer 9100 a.bin
	socat_transfer 9102 a.bin
	socat_transfer 9100 a.bin 10.77.0.3
	WAIT_SECS=20 wait_for sh -c "[ -s out/sessions.jsonl ] || [ \$(ls out | wc -l) -ge 3 ]"
	kill -TERM "$CAPD_PID"
	wait
	[ "$(wc -l < out/sessions.jsonl)" -eq 1 ]
	grep -q '"server_port":9100' out/sessions.jsonl
	grep -q '"remote_ip":"10.77.0.2"' out/sessions.jsonl
	[ "$(requests_equal a.bin out)" -eq 1 ]
}

@test "live: a tiny ring that is not read fills, and ring_full counts exactly what was not handed" {
	require_root
	require_cmd socat
	netns_up
	echo '{ runtime: { ring_bytes: 65536, workers: 1, overflow: "drop" } }' > tiny.json
	head -c 2000000 /dev/urandom > big.bin
	start_capd_a capd.err -c tiny.json -i "$VA" -f tcp --run-dir "$T/run"
	timeout 120 "$B/stethoscope-dump" --from "$T/run/capd.sock" --wants packet > dump.txt 2>dump.err &
	DUMP=$!
	wait_for grep -q "shard 0/1 connected" capd.err
	kill -STOP $DUMP		# the consumer stops reading: its ring fills
	socat_transfer 9200 big.bin
	kill -USR1 "$CAPD_PID"
	wait_for grep -q "shard 0: handed" capd.err
	kill -TERM "$CAPD_PID"
	wait "$CAPD_JOB" || true
	kill -CONT $DUMP
	wait $DUMP
	captured=$(sed -n 's/^capd: captured \([0-9]*\) packets.*/\1/p' capd.err | tail -1)
	handed=$(sed -n 's/^capd: shard 0: handed \([0-9]*\) packets.*/\1/p' capd.err | tail -1)
	full=$(sed -n 's/^capd: shard 0: .* ring_full \([0-9]*\) packets.*/\1/p' capd.err | tail -1)
	echo "captured=$captured handed=$handed ring_full=$full dumped=$(grep -c '^packet ' dump.txt)"
	[ "$full" -gt 0 ]
	[ "$captured" -eq $((handed + full)) ]
	[ "$(grep -c '^packet ' dump.txt)" -eq "$handed" ]
}

@test "live: an interface that goes away stops capd with status 3 and says why" {
	require_root
	netns_up
	start_capd_a capd.err -i "$VA" -f tcp -w /dev/null
	ip -n "$NSA" link del "$VA"
	status=0
	wait "$CAPD_JOB" || status=$?
	CAPD_PID=
	[ "$status" -eq 3 ]
	grep -Eq "interface (went away|is down)|capture stopped" capd.err
}

@test "live: SIGTERM stops capture, flushes and exits 0; capd drops root before reading" {
	require_root
	netns_up
	start_capd_a capd.err -i "$VA" -f tcp -w /dev/null
	[ "$(ps -o euid= -p "$CAPD_PID" | tr -d ' ')" = 65534 ]
	grep -q "dropped privileges to nobody" capd.err
	grep -q "seccomp sandbox in force\|no system-call sandbox in this build" capd.err
	kill -TERM "$CAPD_PID"
	status=0
	wait "$CAPD_JOB" || status=$?
	CAPD_PID=
	[ "$status" -eq 0 ]
	grep -q "capd: captured" capd.err
}

@test "live: a short transfer then SIGTERM at once: what the kernel captured before the signal is read and written (it may sit in a buffer block not yet handed over), capture_unread 0, three times (the third with a 1 s capture timeout: capd reads on for as long)" {
	require_root
	require_cmd socat tshark
	netns_up
	head -c 200000 /dev/urandom > a1
	for i in 1 2 3; do
		opt=; [ "$i" -eq 3 ] && opt="--timeout 1000"
		start_capd_a capd.err -i "$VA" -f "tcp port 5000" -w "$T/out.pcap" $opt
		socat_transfer 5000 a1
		kill -TERM "$CAPD_PID"
		status=0
		wait "$CAPD_JOB" || status=$?
		CAPD_PID=
		[ "$status" -eq 0 ] || { cat capd.err; false; }
		cmp a1 a1.recv
		# every packet the kernel kept for capd is in the file
		recv=$(sed -n "s/.*$VA: pcap_kernel 0 packets .*received \([0-9]*\), capture_unread 0$/\1/p" capd.err)
		[ -n "$recv" ] || { echo "run $i"; cat capd.err; false; }
		[ "$(tshark -r out.pcap 2>/dev/null | wc -l)" -eq "$recv" ] || { echo "run $i: $recv"; false; }
		[ "$(tshark -r out.pcap -Y 'tcp.dstport == 5000' -T fields -e tcp.len 2>/dev/null |
		    awk '{ s += $1 } END { print s }')" -eq 200000 ] || { echo "run $i"; cat capd.err; false; }
		rm -f a1.recv out.pcap
	done
}

# tick_order DUMP: "frames ticks late" where a frame came after a tick
# newer than its timestamp (a tick is a watermark: no older frame follows)
tick_order() {
	awk '{ if (match($0, /ts=[0-9]+\.[0-9]+/)) {
		split(substr($0, RSTART + 3, RLENGTH - 3), p, ".")
		t = p[1] * 1000000000 + p[2]	# a double: 256 ns steps here, far finer than the ms at stake
		if ($1 == "tick" && t > wm) wm = t
		if ($1 == "packet") { n++; if (t < wm) late++ }
	} } END { print n + 0, NR, late + 0 }' "$1"
}

@test "live: a tick never passes a frame still in a kernel buffer block (sparse traffic; block mode with the default and a short timeout, immediate mode): every frame comes before any tick newer than it; the short timeout takes the latency down; immediate mode's ring is said to take twice its buffer" {
	require_root
	netns_up
	for mode in block short immediate; do
		opt=
		case $mode in short) opt="--timeout 5" ;; immediate) opt=--immediate ;; esac
		start_capd_a capd.err -i "$VA" -f "udp port 9999" --run-dir "$T/run" --shards 1 $opt
		# each line stamped with the wall clock at its arrival (the dump
		# flushes whenever its ring runs dry)
		timeout 30 "$B/stethoscope-dump" --from "$T/run/capd.sock" --shard 0/1 --wants packet,tick 2>dump.err |
		    python3 -c 'import sys, time
for l in sys.stdin: sys.stdout.write("%d %s" % (time.time_ns(), l)); sys.stdout.flush()' > stamped.out &
		d=$!
		wait_for grep -q "shard 0/1 connected" capd.err
		# one datagram every 10-90 ms: a block the kernel hands over by
		# its timeout (100 ms), not because it filled, holds most of them
		in_a bash -c 'for i in $(seq 60); do echo x > /dev/udp/10.77.0.2/9999;
		    sleep 0.0$(( RANDOM % 9 + 1 )); done'
		sleep 0.4
		kill -TERM "$CAPD_PID"
		wait "$CAPD_JOB"
		CAPD_PID=
		wait $d
		cut -d' ' -f2- stamped.out > dump.out
		read -r n lines late <<< "$(tick_order dump.out)"
		# a frame's wait: its arrival here less its capture time
		p50=$(awk '$2 == "packet" && match($0, /ts=[0-9]+\.[0-9]+/) {
			split(substr($0, RSTART + 3, RLENGTH - 3), p, ".")
			print ($1 - (p[1] * 1000000000 + p[2])) / 1e6 }' stamped.out | sort -n |
		    awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
		echo "$mode: $n frames, $lines lines, $late after a newer tick; a frame's wait p50 $p50 ms"
		[ "$n" -eq 60 ]
		[ "$lines" -gt 70 ]	# ticks came between them
		[ "$late" -eq 0 ]
		# the default timeout holds a frame for the rest of its block's
		# 100 ms (about half of it); 5 ms does not
		case $mode in
		block) awk -v p="$p50" 'BEGIN { exit !(p >= 30) }' ;;
		short) awk -v p="$p50" 'BEGIN { exit !(p < 30) }' ;;
		immediate)
			# a slot a packet, 64 KiB with the veth's offload, one to a
			# 128 KiB block: the kernel's ring is said to be twice the buffer
			ring=$(sed -n 's/.*the kernel.s capture ring takes \([0-9]*\) MiB per interface for the 256 MiB asked.*/\1/p' capd.err)
			[ -n "$ring" ] && [ "$ring" -gt 256 ] || { cat capd.err; false; } ;;
		esac
	done
}

@test "live: silent and garbage peers on capd.sock cost no packet: the shard connects at once, an 8 MB transfer is exact, pcap_kernel and ring_full stay 0" {
	require_root
	require_cmd socat
	netns_up
	head -c 8000000 /dev/urandom > big.bin
	start_capd_a capd.err -i "$VA" -f tcp --run-dir "$T/run" --shards 1
	bad_peers "$T/run/capd.sock" 5
	t0=$(date +%s%N)
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 0/1 -o out 2>r.err &
	R=$!
	wait_for grep -q "shard 0/1 connected" capd.err
	[ "$(ms_since $t0)" -lt 1500 ]
	# a second wave while the transfer runs
	bad_peers "$T/run/capd.sock" 5
	socat_transfer 9300 big.bin
	WAIT_SECS=20 wait_for sh -c "[ -s out/sessions.jsonl ]"
	# the silent ones are dropped at their deadline (2 s), while capd runs
	WAIT_SECS=10 wait_for grep -q "a consumer dropped: no hello within the deadline" capd.err
	kill -USR1 "$CAPD_PID"
	wait_for grep -q "pcap_kernel" capd.err
	kill -TERM "$CAPD_PID"
	wait "$CAPD_JOB" || true
	wait $R
	[ "$(requests_equal big.bin out)" -eq 1 ]
	grep -q "ring_full 0$" capd.err
	! grep -q "pcap_kernel [1-9]" capd.err
	grep -q "a consumer dropped: no hello within the deadline" capd.err
	grep -q "a consumer dropped: bad hello: not a hello" capd.err
}

@test "live: capd killed and started again: reasmd, chrooted in the run directory, reconnects to capd.sock there; the next transfer is exact" {
	require_root
	require_cmd socat
	netns_up
	# the daemon's user reaches the run directory by its path when there is
	# no chroot (sanitizer builds), as it would reach /run/stethoscope
	chmod 755 "$T"
	head -c 1000000 /dev/urandom > one.bin
	head -c 1500000 /dev/urandom > two.bin
	start_capd_a capd.err -i "$VA" -f tcp --run-dir "$T/run" --shards 1
	timeout 120 "$B/reasmd" --from "$T/run/capd.sock" --shard 0/1 -o out 2>r.err &
	R=$!
	wait_for grep -q "shard 0/1 connected" capd.err
	if [ -z "${STH_SANITIZER:-}" ]; then
		grep -q "chroot $(realpath "$T/run")\$" r.err
		[ "$(readlink /proc/$(pgrep -f "^$B/reasmd --from $T/run/capd.sock")/root)" = "$(realpath "$T/run")" ]
	else
		grep -q "no chroot in a sanitizer build" r.err
	fi
	socat_transfer 9310 one.bin
	WAIT_SECS=20 wait_for grep -q '"server_port":9310' out/sessions.jsonl
	kill -KILL "$CAPD_PID"
	wait "$CAPD_JOB" || true
	WAIT_SECS=10 wait_for grep -q "capd went away" r.err
	start_capd_a capd2.err -i "$VA" -f tcp --run-dir "$T/run" --shards 1
	WAIT_SECS=10 wait_for grep -q "reconnected to $T/run/capd.sock" r.err || { cat r.err; false; }
	wait_for grep -q "shard 0/1 connected" capd2.err
	socat_transfer 9311 two.bin
	WAIT_SECS=20 wait_for grep -q '"server_port":9311' out/sessions.jsonl
	kill -TERM "$CAPD_PID"
	wait "$CAPD_JOB" || true
	wait $R
	[ "$(requests_equal one.bin out)" -eq 1 ]
	[ "$(requests_equal two.bin out)" -eq 1 ]
}

@test "live: the bench's pacer sends exactly N frames of a capture at the rate asked (tcpdump counts them); bad arguments are refused" {
	require_root
	require_cmd tcpdump
	run "$B/tests/pacer" lo x.pcap 10
	[ "$status" -eq 2 ] && [[ "$output" == *"usage: pacer IFACE FILE N RATE"* ]]
	run "$B/tests/pacer" lo x.pcap 10 0
	[ "$status" -eq 2 ] && [[ "$output" == *"RATE: expected"* ]]
	"$B/tests/benchgen" small mix.pcap 3000 > /dev/null
	run "$B/tests/pacer" no-such-if0 mix.pcap 10 1000
	[ "$status" -eq 1 ] && [[ "$output" == *"no such interface"* ]]
	netns_up
	# (immediate mode, written a frame at a time: a frame is in the file
	# once captured, not in a kernel block its SIGINT would leave behind)
	in_b timeout 60 tcpdump -Z root -B 65536 --immediate-mode -U -i "$VB" -w got.pcap tcp 2> tcpdump.err &
	wait_for grep -q "listening on" tcpdump.err
	# 20,000 frames at 40,000/s: half a second, the capture's frames round
	# robin; at 20,000/s the rate holds too
	t0=$(date +%s%N)
	out=$(in_a "$B/tests/pacer" "$VA" mix.pcap 20000 40000)
	t1=$(date +%s%N)
	read -r sent pps <<< "$out"
	[ "$sent" -eq 20000 ]
	[ "$pps" -ge 38000 ] && [ "$pps" -le 42000 ]
	[ $(( (t1 - t0) / 1000000 )) -ge 480 ]
	out=$(in_a "$B/tests/pacer" "$VA" mix.pcap 5000 20000)
	read -r sent pps <<< "$out"
	[ "$sent" -eq 5000 ] && [ "$pps" -ge 19000 ] && [ "$pps" -le 21000 ]
	got() { [ "$("$B/tests/pcaploop" got.pcap 2>/dev/null | sed 's/packets=\([0-9]*\).*/\1/')" = 25000 ]; }
	wait_for got || { "$B/tests/pcaploop" got.pcap; false; }
	pkill -INT -f "tcpdump -Z root -B 65536 --immediate-mode -U -i $VB" || true
	wait
	got
	# the capture's frames as they are, in its order (then round robin)
	m=$("$B/tests/pcaploop" mix.pcap | sed 's/packets=\([0-9]*\).*/\1/')
	[ "$(tshark -r got.pcap -c "$m" -T fields -e frame.len -e ip.src -e ip.dst -e tcp.seq_raw -e tcp.flags 2>/dev/null | md5sum)" = \
	  "$(tshark -r mix.pcap -T fields -e frame.len -e ip.src -e ip.dst -e tcp.seq_raw -e tcp.flags 2>/dev/null | md5sum)" ]
}
