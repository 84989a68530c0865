#!/usr/bin/env bats
# sinkd: listener, connector, pcap and json, with real sockets, real
# consumers (socat, python), tshark and capinfos reading what it writes,
# and the books (delivered + drops + gap + sink_ring_full = stream) checked
# on every session.

load helper

CHECK="python3 $TOP/tests/gen/sinkcheck.py"

# A port base for this test: its own 200 ports.
# paced F SECONDS BYTES: one session lasting SECONDS (truth in F.requests/.responses)
paced() {
	python3 "$TOP/tests/gen/pcapgen.py" --paced "$1" "$2" "$3"
}

# ready_wait FILE: the daemon wrote its ready line (--ready-fd)
ready_wait() {
	wait_for grep -q ready "$1"
}

# start_pipeline CONF PCAP FAMILY...: capd replays PCAP at its own pace
# (--speed 1), one reasmd shard serves the sinks, one sinkd per family
# (events in ev.FAMILY).  Readiness by --ready-fd, not by sleeping.
start_pipeline() {
	local conf=$1 pcap=$2
	shift 2
	timeout 120 "$B/capd" -c "$conf" -r "$pcap" --speed 1 --run-dir "$T/run" --ready-fd 3 \
	    3>capd.ready 2>capd.err &
	CAPD_BG=$!
	ready_wait capd.ready
	timeout 120 "$B/reasmd" -c "$conf" --from "$T/run/capd.sock" --listen "$T/run/reasmd.0.sock" \
	    --sinks $# --ready-fd 3 3>reasmd.ready 2>reasmd.err &
	REASMD_BG=$!
	ready_wait reasmd.ready
	for fam in "$@"; do
		timeout 120 "$B/sinkd" "$fam" -c "$conf" --from "$T/run/reasmd.0.sock" --events "ev.$fam" \
		    --ready-fd 3 3>"sinkd.$fam.ready" 2>"sinkd.$fam.err" &
		eval "SINK_$fam=\$!"
		ready_wait "sinkd.$fam.ready"
	done
}

# field JSON KEY: a top-level number from one event line
field() {
	python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"
}

@test "sinkd: usage errors are clear and exit 2" {
	run "$B/sinkd" bogus -r -
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown family "bogus"'* ]]
	run "$B/sinkd" pcap
	[ "$status" -eq 2 ]
	[[ "$output" == *"--from"* ]]
	echo '{ io: { output: { listner: { enabled: false } } } }' > l.json
	run "$B/sinkd" listener -c l.json -r /dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"port_range_start and port_range_end are needed"* ]]
	run "$B/sinkd" connector -r /dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"requests_port and responses_port are needed"* ]]
	run "$B/sinkd" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"listener"*"connector"*"pcap"*"json"* ]]
}

@test "pcap per session: every file opens, together they hold exactly each session's frames, names carry the close reason" {
	require_cmd tshark capinfos editcap
	python3 "$TOP/tests/gen/pcapgen.py" "$T/gen" >/dev/null
	for f in "$TOP/tests/corpus/heplify-sip_ipv4_tcp.pcap" "$TOP/tests/corpus/heplify-sip_ipv4_tcp_fragmented.pcap" \
	    "$T/gen/basic.pcap" "$T/gen/half_close.pcap" "$T/gen/rst.pcap" "$T/gen/port_reuse.pcap" \
	    "$T/gen/out_of_order.pcap"; do
		name=$(basename "$f" .pcap)
		"$B/reasmd" -r "$f" -w - 2>/dev/null |
		    "$B/sinkd" pcap -r - --per-session --dir "out/$name" --events "ev.$name" 2>"err.$name"
		# every file is final (renamed with its reason) and opens
		ls "out/$name" | grep -v -- '__open\.' | grep -Eq '__[0-9]+__[0-9]+__(fin|rst|eof|idle)\.pcapng$'
		! ls "out/$name" | grep -q -- '__open\.'
		for p in out/"$name"/*; do
			capinfos "$p" >/dev/null
			run tshark -r "$p" -V
			[ "$status" -eq 0 ]
		done
		# the input's TCP frames are exactly the frames of the files
		tshark -r "$f" -Y tcp -w "tcp.$name.pcapng" 2>/dev/null
		$CHECK frames "tcp.$name.pcapng" out/"$name"/*
		$CHECK books "ev.$name" >/dev/null
	done
	# pcapng as generated here: no malformed frames, no expert warnings
	for p in out/basic/*; do
		! tshark -r "$p" -V 2>&1 | grep -Ei 'malformed|expert info \((warn|error)'
	done
}

# Per-call files (reasmd --voip names each frame's calls; sinkd --per-call
# writes them), checked against tshark on the source capture by
# tests/gen/callpcapcheck.py: SIP by Call-ID with every fragment and TCP
# segment tshark reassembled it from, media by the SDP's endpoints, and
# `tshark -z rtp,streams` on each file giving its summary's streams.
# Known difference: sip_ipv6_udp's clock jumps 21 years between a BYE and
# its 200 (the call was written long before: a dialog of its own).
@test "pcap per call: on every public SIP capture each call's file holds exactly its frames as tshark sees them, and reads whole without a complaint" {
	require_cmd tshark capinfos
	local n=0
	for f in "$TOP"/tests/corpus/heplify-*.pcap* "$TOP"/tests/corpus/sngrep-*.pcap; do
		name=$(basename "${f%.*}")
		"$B/reasmd" -c "$FIX/voip/ports.json" -r "$f" --voip -w - 2>/dev/null |
		    "$B/sinkd" pcap -c "$FIX/voip/ports.json" -r - --per-call --dir "calls/$name" 2>"err.$name"
		! ls "calls/$name" | grep -q -- '__open\.'
		# tshark's view of each call, in the plain pass: the sanitizer
		# pass runs the same code on the same captures (its files are the
		# same), so it checks that code for memory errors, not the files
		# again (the comparison is about 50 tshark runs, 100 s)
		[ -n "${STH_SANITIZER:-}" ] ||
		python3 "$TOP/tests/gen/callpcapcheck.py" "$f" "calls/$name" -d tcp.port==6060,sip \
		    -d tcp.port==5090,sip -o rtp.heuristic_rtp:TRUE \
		    --known "call c3eF6f58-363323Cd-8058EB88-10300252@fe80:0:0:0:21a:a0ff:fe07:32e0: 5 frames, tshark's 6" ||
		    { cat "err.$name"; false; }
		for p in calls/"$name"/*; do
			[ -e "$p" ] || continue		# (a capture with no INVITE call)
			basename "$p" | grep -Eq '^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z_.*__[0-9]+__(terminated|confirmed|cancelled|failed|early)\.pcapng$'
			n=$((n + 1))
		done
		# every file read whole, every record, without a complaint:
		# capinfos reads them all in one run (a file cut short, a bad
		# block, is an error and a status)
		if ls "calls/$name"/* > /dev/null 2>&1; then
			err=$(capinfos -c "calls/$name"/* 2>&1 >/dev/null) || { echo "$err"; false; }
			[ -z "$err" ] || { echo "$err"; false; }
		fi
	done
	echo "$n call files"
	[ "$n" -ge 50 ]
	# the TCP-fragmented capture: 40 calls, their SIP split over segments
	[ "$(ls calls/heplify-sip_ipv4_tcp_fragmented | wc -l)" -eq 40 ]
	grep -q "40 calls with files" err.heplify-sip_ipv4_tcp_fragmented
}

# tests/gen/sipgen.py: two calls on one TCP connection cut at a small MSS
# (segments holding the end of one call's message and the start of the
# other's, the first INVITE's segments out of order, a retransmission) and
# their RTP, in five capture orders.  Known: where the server's frames come
# 5.5 ms late, the client's ACK message acknowledges the 200 OK before it
# shows; tshark, reading call A's file alone (no pure ACKs: they belong to
# no call), takes that 200 OK for a spurious retransmission, leaves its SDP
# unread and finds no RTP stream in the file (on the whole capture it does).
@test "pcap per call: SIP over TCP cut anywhere, out of order and in other capture orders: each call's file exact" {
	require_cmd tshark capinfos
	python3 "$TOP/tests/gen/sipgen.py" sip.pcap
	for f in sip*.pcap; do
		rm -rf d
		"$B/reasmd" -r "$f" --voip -w - 2>/dev/null | "$B/sinkd" pcap -r - --per-call --dir d 2>/dev/null
		[ "$(ls d | grep -c '__terminated\.pcapng$')" -eq 2 ]
		known=()
		[ "$f" != sip.late-server-5.5ms.pcap ] || known=(--known "call callA-1@10.0.0.1: stream")
		python3 "$TOP/tests/gen/callpcapcheck.py" "$f" d -o tcp.reassemble_out_of_order:TRUE "${known[@]}"
	done
	# the segment with both BYEs is in both files
	"$B/reasmd" -r sip.pcap --voip -w - 2>err | "$B/stethoscope-dump" - | grep -c '^packet .*calls=[0-9]*,[0-9]*$' > both
	[ "$(cat both)" -ge 3 ]
	grep -q "SIP-over-TCP frames held for their calls; sent on without them: voip_hold_full=0, voip_hold_timeout=0" err
}

@test "pcap per call: a 200 KB INVITE over TCP: its 123 segments wait for the message and all go to its file; with voip.hold_bytes at 64 KiB they go on without it, counted, none lost" {
	require_cmd tshark
	python3 "$TOP/tests/gen/sipgen.py" big.pcap --big 200000
	n=$(tshark -r big.pcap 2>/dev/null | wc -l)
	"$B/reasmd" -r big.pcap --voip -w - 2>err | "$B/sinkd" pcap -r - --per-call --dir d 2>/dev/null
	python3 "$TOP/tests/gen/callpcapcheck.py" big.pcap d
	grep -q "voip_hold_full=0, voip_hold_timeout=0" err
	echo '{ voip: { hold_bytes: 65536 } }' > hold.json
	"$B/reasmd" -c hold.json -r big.pcap --voip -w - 2>err | "$B/stethoscope-dump" - > dump
	[ "$(grep -c '^packet' dump)" -eq "$n" ]
	full=$(sed -n 's/.*voip_hold_full=\([0-9]*\),.*/\1/p' err)
	[ "$full" -gt 50 ]
}

@test "pcap per call: --sipuser (reasmd's or the sink's) gives files to the targeted calls only; names from voip.pcap_name; rotation; with per-session files beside" {
	require_cmd tshark capinfos
	f=$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap
	"$B/reasmd" -r "$f" --voip --sipuser '+55145*' -w - 2>/dev/null | "$B/sinkd" pcap -r - --per-call --dir a 2>/dev/null
	[ "$(ls a | wc -l)" -eq 1 ]
	ls a | grep -q '_12015624@200.57.7.195__[0-9]*__early.pcapng$'
	"$B/reasmd" -r "$f" --voip -w - 2>/dev/null | "$B/sinkd" pcap -r - --per-call --sipuser 5514540002 --dir b 2>err
	[ "$(ls b)" = "$(ls a)" ]
	grep -q "1 not targeted (--sipuser)" err
	# the summary is the file's section comment
	capinfos a/* | grep -q 'Capture comment: *{"call_id":"12015624@200.57.7.195","from_user":"5514540002"'
	# a name pattern with every placeholder, unsafe characters replaced
	cat > name.json <<-'EOF'
	{ "voip": { "pcap_name": "{from}/{to} {state}_{callid}.pcap", "pcap_rotate_bytes": 100000 } }
	EOF
	"$B/reasmd" -r "$f" --voip -w - 2>/dev/null | "$B/sinkd" pcap -c name.json -r - --per-call --per-session --dir c 2>err
	ls c | grep -q '^5514540002_francisco_early_12015624@200.57.7.195__[0-9]*__early.pcapng$'
	# the confirmed call (1458 frames, 360 KB) in parts of about 100 KB
	[ "$(ls c | grep -c '^_francisco_[a-z]*_12013223@200.57.7.195')" -eq 4 ]
	ls c | grep -q '^_francisco_continued_12013223@200.57.7.195__[0-9]*__continued.pcapng$'
	ls c | grep -q '^_francisco_continued_12013223@200.57.7.195-part2__[0-9]*__continued.pcapng$'
	ls c | grep -q '^_francisco_confirmed_12013223@200.57.7.195-part4__[0-9]*__confirmed.pcapng$'
	total=0
	for p in c/_francisco_*; do total=$((total + $(capinfos -c -M "$p" | awk '/Number of packets/ {print $NF}'))); done
	[ "$total" -eq 1458 ]
	# per-session files beside: as many as without --per-call
	[ "$(ls c | grep -c '__[0-9]*__[0-9]*__[a-z_]*\.pcapng$')" -gt 0 ]
}

# hep: a HEPv3 collector written in the test (tests/gen/hepserver.py;
# tshark 4.0 has no HEP dissector) on loopback, checked against tshark's
# SIP messages by tests/gen/hepcheck.py.
hep_collector() {
	HEP_PORT=$(( $(port_base) + 7 ))
	python3 "$TOP/tests/gen/hepserver.py" "$HEP_PORT" "$1" --seconds 120 > hs.out 2>&1 &
	HEP_PID=$!
	wait_for grep -q listening hs.out
}

# (on SIGTERM the collector first takes what is already in its sockets)
hep_collector_stop() {
	kill "$HEP_PID" 2>/dev/null || true
	wait "$HEP_PID" 2>/dev/null || true
}

@test "hep: every SIP message of every public SIP capture reaches a HEPv3 collector intact, over UDP and over TCP, with its addresses, Call-ID, node id and password; RTCP reports as Homer's JSON" {
	require_cmd tshark
	cat > hep.json <<-'EOF'
	{ voip: { sip_ports: [5060, 6060, 5090, 8080] },
	  io: { output: { hep: { node_id: 77, password: "s3cret" } } } }
	EOF
	local rtcp=0
	for tr in udp tcp; do
		for f in "$TOP"/tests/corpus/heplify-*.pcap* "$TOP"/tests/corpus/sngrep-*.pcap; do
			name=$(basename "${f%.*}")
			hep_collector "got.$tr.$name"
			"$B/reasmd" -c hep.json -r "$f" --voip -w - 2>/dev/null |
			    "$B/sinkd" hep -c hep.json -r - --port "$HEP_PORT" --transport "$tr" 2>"err.$tr.$name"
			hep_collector_stop
			grep -q "hep_too_large 0, hep_send_error 0, hep_buffer_full 0" "err.$tr.$name" ||
			    { echo "$tr $name:"; cat "err.$tr.$name" hs.out; false; }
			python3 "$TOP/tests/gen/hepcheck.py" "$f" "got.$tr.$name" --node 77 --auth s3cret \
			    --tshark-out "tshark.$name" -d tcp.port==6060,sip -d tcp.port==5090,sip > "check.$tr.$name" ||
			    { cat "check.$tr.$name" "err.$tr.$name"; false; }
			grep -q ' 0 differences' "check.$tr.$name"
			grep -q '"how": "'$tr'"' "got.$tr.$name" || [ ! -s "got.$tr.$name" ]
		done
	done
	# the TCP capture with 406 messages, and RTCP reports with their call's Call-ID
	grep -q '^406 SIP messages received (tshark: 406)' check.tcp.heplify-sip_ipv4_tcp_fragmented
	grep -q ' 14 RTCP reports' check.udp.heplify-rtp_rtcp_sip_ipv4_udp
	grep '"type": 5' got.udp.heplify-rtp_rtcp_sip_ipv4_udp | head -1 | grep -q '"corr": "12013223@200.57.7.195"'
}

@test "hep: a message over udp_max_bytes is counted (hep_too_large) or goes over TCP (large_over_tcp); a collector that is down costs counts, never a hang" {
	require_cmd tshark
	f=$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap
	echo '{ io: { output: { hep: { udp_max_bytes: 600 } } } }' > small.json
	hep_collector got.small
	"$B/reasmd" -r "$f" --voip -w - 2>/dev/null | "$B/sinkd" hep -c small.json -r - --port "$HEP_PORT" 2>err.small
	hep_collector_stop
	too=$(sed -n 's/.*hep_too_large \([0-9]*\),.*/\1/p' err.small)
	sent=$(sed -n 's/.*messages: sent \([0-9]*\) .*/\1/p' err.small)
	[ "$too" -gt 0 ] && [ "$sent" -gt 0 ]
	[ "$(wc -l < got.small)" -eq "$sent" ]
	# the same over TCP when large_over_tcp: every message arrives
	echo '{ io: { output: { hep: { udp_max_bytes: 600, large_over_tcp: true } } } }' > large.json
	hep_collector got.large
	"$B/reasmd" -r "$f" --voip -w - 2>/dev/null | "$B/sinkd" hep -c large.json -r - --port "$HEP_PORT" 2>err.large
	hep_collector_stop
	grep -q "hep_too_large 0, hep_send_error 0" err.large
	[ "$(grep -c '"how": "tcp"' got.large)" -eq "$too" ]
	python3 "$TOP/tests/gen/hepcheck.py" "$f" got.large
	# nobody listening: TCP gives up at the drain and counts; UDP counts what the
	# kernel refused; both end in time
	port=$(( $(port_base) + 9 ))
	for tr in tcp udp; do
		echo '{ runtime: { drain_timeout_ms: 2000 } }' > down.json
		run timeout 30 sh -c "'$B/reasmd' -r '$f' --voip -w - 2>/dev/null | '$B/sinkd' hep -c down.json -r - --port $port --transport $tr"
		[ "$status" -eq 0 ]
		[[ "$output" == *"hep_send_error "[1-9]* ]] || { echo "$output"; false; }
	done
}

@test "pcap rolling file: every frame of the input, in timestamp order; pcap and pcapng" {
	require_cmd tshark capinfos editcap
	for f in "$TOP"/tests/corpus/*.pcap*; do
		name=$(basename "$f")
		for fmt in pcapng pcap; do
			"$B/reasmd" -r "$f" -w - 2>/dev/null |
			    "$B/sinkd" pcap -r - --format "$fmt" --dir "out/$name.$fmt" 2>"err.$name.$fmt"
			n=$(ls out/"$name.$fmt" | wc -l)
			[ "$n" -eq 1 ]
			p=$(ls out/"$name.$fmt"/*)
			[[ "$p" == *".$fmt" ]]
			capinfos "$p" >/dev/null
			$CHECK frames "$f" "$p"
			tshark -r "$p" -T fields -e frame.time_epoch > ts.txt 2>/dev/null
			$CHECK sorted ts.txt
		done
	done
	run capinfos -t "out/sngrep-aaa.pcap.pcap/$(ls out/sngrep-aaa.pcap.pcap)"
	[[ "$output" == *"nanosecond pcap"* ]]
}

@test "pcap: frames waiting for the writer live in a pool bounded in bytes (queue_bytes): 32 MB of 8 KB frames through a 1 MiB pool, nothing lost, memory bounded" {
	require_cmd tshark
	# 4000 UDP datagrams of 8000 bytes (jumbo frames) within 40 ms of capture
	# time: between two ticks, so the rolling file's heap would hold them all
	python3 - big.pcap "$TOP/tests/gen" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import ether, ip_pkt
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
for i in range(4000):
    udp = struct.pack("!HHHH", 4000, 4001, 8 + 8000, 0) + bytes([i % 256]) * 8000
    f = ether(ip_pkt("10.1.0.1", "10.1.0.2", udp, proto=17, ident=i))
    out.write(struct.pack("<IIII", 1700000000, i * 10, len(f), len(f)) + f)
PY
	"$B/reasmd" -r big.pcap -w big.sth 2>/dev/null
	echo '{ io: { output: { pcap: { queue_bytes: 1048576 } } }, runtime: { ring_bytes: 1048576 } }' > small.json
	echo '{ runtime: { ring_bytes: 1048576 } }' > default.json
	# (under ASan, freed memory waits in its quarantine: off here, so that
	# peak RSS shows what the process holds)
	for c in small default; do
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
		    /usr/bin/time -f "%M" -o "rss.$c" "$B/sinkd" pcap -c $c.json -r big.sth --dir "out.$c" 2>"err.$c"
		[ "$(tshark -r out.$c/* 2>/dev/null | wc -l)" -eq 4000 ]
		grep -q "written 4000, pcap_queue_full 0" "err.$c"
	done
	echo "sinkd pcap peak RSS: $(cat rss.small) KB with a 1 MiB pool, $(cat rss.default) KB with the default 64 MiB"
	[ $(( $(cat rss.default) - $(cat rss.small) )) -ge 20000 ]
}

@test "pcap sink under many sessions: 30,000 open at once, a file each, under 1.5 KB of memory a session" {
	# What a session costs, apart from what is bounded elsewhere: the
	# frames waiting for the writer (a 1 MiB pool: a slow disk would fill
	# the default 64 MiB one, and the reader waits instead) and the open
	# files' write buffers (64 files x 64 KiB, full from the first hundred
	# sessions on)
	echo '{ io: { output: { pcap: { queue_bytes: 1048576 } } }, runtime: { max_open_files: 64 } }' > pm.json
	"$B/tests/benchgen" idle few.pcap 10000 >/dev/null
	"$B/tests/benchgen" idle many.pcap 30000 >/dev/null
	for c in few many; do
		"$B/reasmd" -r $c.pcap -w $c.sth 2>/dev/null
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
		    /usr/bin/time -f "%M" -o "rss.$c" "$B/sinkd" pcap -c pm.json -r $c.sth --dir "out.$c" --per-session 2>"err.$c"
		grep -q "pcap_queue_full 0, pcap_write_error 0" "err.$c"
	done
	[ "$(ls out.many | wc -l)" -eq 30000 ]
	[ "$(ls out.many | grep -c '__eof\.pcapng$')" -eq 30000 ]
	per=$(( ($(cat rss.many) - $(cat rss.few)) * 1024 / 20000 ))
	echo "sinkd pcap --per-session: $per bytes a session ($(cat rss.few) KB with 10,000, $(cat rss.many) KB with 30,000)"
	# sanitizer builds pad every allocation: the bound is the plain build's
	if [ -z "${STH_SANITIZER:-}" ]; then [ "$per" -lt 1536 ]; fi
	# every file whole: tshark reads the last one made
	[ "$(tshark -r "out.many/$(ls out.many | tail -1)" 2>/dev/null | wc -l)" -ge 3 ]
}

@test "pcap: a drain deadline that passes while the writer is busy: it gives up and is waited for; every frame written or counted as shutdown_timeout, every file whole, no crash" {
	# 10,000 sessions and a 1 ms drain deadline: the writer still has
	# frames and closes queued when it passes.  (It used to free the
	# sessions' files while the writer still wrote them: a crash, or
	# renames to garbage names, and the frames it still had uncounted.)
	# A file a session with a small queue, the same with the defaults a
	# user gets, and the rolling file with the defaults.
	"$B/tests/benchgen" idle few.pcap 10000 >/dev/null
	"$B/reasmd" -r few.pcap -w few.sth 2>/dev/null
	for c in small default rolling; do
		case $c in
		small) echo '{ io: { output: { pcap: { queue_bytes: 1048576 } } }, runtime: { max_open_files: 64, drain_timeout_ms: 1 } }' ;;
		*) echo '{ runtime: { drain_timeout_ms: 1 } }' ;;
		esac > dt.json
		per=--per-session
		[ $c = rolling ] && per=
		run "$B/sinkd" pcap -c dt.json -r few.sth --dir "out.$c" $per
		echo "$c: $(echo "$output" | grep -E "drain|frames:|WARN|ERROR" | head -5)"
		[ "$status" -eq 0 ]
		! echo "$output" | grep -q "renaming\|Sanitizer"
		line=$(echo "$output" | grep "sinkd pcap: [0-9]* frames:")
		frames=$(echo "$line" | sed 's/.*pcap: \([0-9]*\) frames.*/\1/')
		sum=$(echo "$line" | sed 's/.*written \([0-9]*\), pcap_queue_full \([0-9]*\), pcap_write_error \([0-9]*\), shutdown_timeout \([0-9]*\);.*/\1 + \2 + \3 + \4/')
		[ "$frames" -gt 0 ]
		[ "$(( sum ))" -eq "$frames" ]
		# every file there is whole (and a session's named for its end)
		if [ $c != rolling ]; then
			[ "$(ls "out.$c" | grep -vc '__eof\.pcapng$')" -eq 0 ]
		fi
		for f in $(ls "out.$c" | head -3) $(ls "out.$c" | tail -3); do
			[ "$(tshark -r "out.$c/$f" 2>/dev/null | wc -l)" -ge 1 ]
		done
	done
}

@test "pcap rolling file: timestamps that go backwards (a merged capture) are written at once and counted" {
	require_cmd editcap
	python3 -c "
import sys; sys.path.insert(0, '$TOP/tests/gen')
import pcapgen as g
orig = g.Pcap.close
def close(self, variants=False):
    # every tenth frame stamped 300 ms early (more than a tick), the file order kept
    self.frames = [(ts - 0.3 if i % 10 == 9 else ts, d, o, sd) for i, (ts, d, o, sd) in enumerate(self.frames)]
    orig(self)
g.Pcap.close = close
g.paced('back.pcap', 3.0, 150000)
"
	"$B/reasmd" -r back.pcap -o o -w back.sth 2>/dev/null
	cmp o/1.requests back.pcap.requests
	cmp o/1.responses back.pcap.responses
	"$B/sinkd" pcap -r back.sth --dir out 2>err
	$CHECK frames back.pcap out/*
	grep -Eq 'pcap_out_of_order [1-9][0-9]* frames' err
}

@test "pcap rolling file: a stream whose ticks come far apart goes to the writer in batches, not a frame a wake-up (the same file)" {
	# one flow at line rate: a fifth of a second of capture, one tick; a
	# 4 MiB pool fills long before it, and the frames must leave the heap
	# early: they did one a lock round and a wake-up of the writer (about
	# two voluntary context switches a frame, 10x the time of per-session
	# files)
	BENCHGEN_FLOWS=1 "$B/tests/benchgen" bulk one.pcap 64 >/dev/null
	"$B/reasmd" -r one.pcap -w one.sth 2>/dev/null
	n=$("$B/stethoscope-dump" one.sth | grep -c '^packet')
	echo '{ io: { output: { pcap: { queue_bytes: 4194304 } } } }' > q.json
	/usr/bin/time -f "%w" -o vcsw "$B/sinkd" pcap -c q.json -r one.sth --dir out 2>err
	grep -q "$n frames: written $n, pcap_queue_full 0" err
	grep -Eq 'pcap_out_of_order 0 frames .*; [1-9][0-9]* released before their shard.s tick' err
	echo "$n frames, $(cat vcsw) voluntary context switches"
	[ "$(cat vcsw)" -lt $(( n / 16 )) ]
	# every frame, in the capture's order
	[ "$(tshark -r out/*.pcapng -T fields -e frame.time_epoch 2>/dev/null | sort -c -n && echo sorted)" = sorted ]
	[ "$(capinfos -c -M out/*.pcapng | awk '/Number of packets/ { print $NF }')" -eq "$n" ]
}

@test "pcap rolling file rotates at rotate_bytes and keeps every frame" {
	require_cmd editcap
	f="$TOP/tests/corpus/heplify-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
	"$B/reasmd" -r "$f" -w - 2>/dev/null | "$B/sinkd" pcap -r - --rotate-bytes 200000 --dir out 2>err
	[ "$(ls out | wc -l)" -gt 3 ]
	$CHECK frames "$f" out/*
}

@test "pcap: a directory that cannot be made disables the output with a warning and a count; no crash" {
	touch afile
	run bash -c "'$B/reasmd' -r '$TOP/tests/corpus/sngrep-aaa.pcap' -w - 2>/dev/null | '$B/sinkd' pcap -r - --dir afile/sub"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pcap output is disabled"* ]]
	[[ "$output" == *"691 frames: written 0"*"pcap_write_error 691"* ]]
}

@test "pcap: a full disk is detected and counted, the file closed at its last whole frame" {
	require_root
	require_cmd capinfos tshark
	mkdir small
	mount -t tmpfs -o size=256k tmpfs small
	f="$TOP/tests/corpus/heplify-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
	"$B/reasmd" -r "$f" -w - 2>/dev/null |
	    "$B/sinkd" pcap -r - --dir small/out --events ev 2>err || { umount small; false; }
	cp small/out/* whole.pcapng
	umount small
	grep -q "No space left on device" err
	# written + pcap_write_error = every frame
	line=$(grep 'frames: written' err)
	[[ "$line" =~ ([0-9]+)\ frames:\ written\ ([0-9]+),\ pcap_queue_full\ ([0-9]+),\ pcap_write_error\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -eq 7217 ]
	[ "${BASH_REMATCH[2]}" -gt 0 ]
	[ "${BASH_REMATCH[4]}" -gt 0 ]
	[ $(( BASH_REMATCH[2] + BASH_REMATCH[3] + BASH_REMATCH[4] )) -eq 7217 ]
	# the file ends with a whole frame: it reads to the end without error
	run capinfos -c whole.pcapng
	[ "$status" -eq 0 ]
	[[ "$output" == *"Number of packets:   ${BASH_REMATCH[2]}"* ]]
	run tshark -r whole.pcapng
	[ "$status" -eq 0 ]
}

@test "json: every event of the stream, one JSON object per line" {
	f="$TOP/tests/corpus/sngrep-aaa.pcap"
	"$B/reasmd" -r "$f" --events want.jsonl -w - 2>/dev/null | "$B/sinkd" json -r - -o got.jsonl 2>err
	n=$($CHECK jsonl got.jsonl)
	[ "$n" -gt 0 ]
	[ "$n" -eq "$(wc -l < want.jsonl)" ]
	# categories filter
	echo '{ io: { output: { json: { cats: ["ports"] } } } }' > j.json
	"$B/reasmd" -r "$f" -w - 2>/dev/null | "$B/sinkd" json -c j.json -r - -o none.jsonl 2>err
	[ ! -s none.jsonl ]
	grep -q "filtered by cats" err
}

@test "a truncated record stream ends its sessions as incomplete, without a crash" {
	paced s.pcap 0.2 300000
	"$B/reasmd" -r s.pcap -w full.sth 2>/dev/null
	head -c 150000 full.sth > cut.sth
	run "$B/sinkd" listener -c /dev/null -r cut.sth --events ev < /dev/null
	[ "$status" -eq 2 ]	# the listener needs its port range
	echo '{ io: { output: { listner: { port_range_start: 41000, port_range_end: 41099 } } }, runtime: { close_linger_sec: 0.2 } }' > l.json
	run "$B/sinkd" listener -c l.json -r cut.sth --events ev
	[ "$status" -eq 0 ]
	[[ "$output" == *"without its end-of-stream record"* ]]
	grep -q '"complete":false' ev
}

@test "listener: a late first consumer gets the direction from its first byte, a second one exactly a suffix, a reader that stalls loses only its own bytes" {
	require_cmd socat
	paced s.pcap 4 6000000
	base=$(port_base)
	cat > l.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 16000000 } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $((base + 199)) } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 1.0, max_output_buffer_bytes: 300000 } }
	EOF
	start_pipeline l.json s.pcap listener
	wait_for grep -q listener_ports ev.listener
	ports=$($CHECK event ev.listener listener_ports)
	rq=$(field "$ports" '["requests_port"]')
	rs=$(field "$ports" '["responses_port"]')
	sleep 1		# the first consumer comes late: the session is a second old
	timeout 60 socat -u "TCP:127.0.0.1:$rs" - > first.resp &
	A=$!
	timeout 60 socat -u "TCP:127.0.0.1:$rq" - > first.req &
	Q=$!
	# the first consumer of the responses is socat: the staller below
	# connects once it is in (they raced, and the staller, first, got the
	# start-up buffer in one CI run)
	WAIT_SECS=30 wait_for $CHECK event ev.listener listener_connected first=True direction=responses > /dev/null
	# a consumer that reads nothing until the session is over
	timeout 60 python3 -c '
import socket, sys, os, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
open("stall.port", "w").write(str(s.getsockname()[1]))
while not os.path.exists("go"):
    time.sleep(0.05)
with open("stall.resp", "wb") as f:
    while True:
        b = s.recv(65536)
        if not b:
            break
        f.write(b)
' "$rs" &
C=$!
	sleep 1
	timeout 60 socat -u "TCP:127.0.0.1:$rs" - > second.resp &
	S2=$!
	WAIT_SECS=60 wait_for grep -q sink_summary ev.listener
	touch go
	wait $A $Q $S2 $C
	cmp first.resp s.pcap.responses
	cmp first.req s.pcap.requests
	# the second: exactly a suffix, from where it joined
	off=$($CHECK suffix s.pcap.responses second.resp)
	port2=$(python3 -c "import json; print(json.load(open('/dev/stdin'))['consumer'].split(':')[1])" \
	    <<< "$($CHECK event ev.listener listener_connected first=False direction=responses \
	        "consumer!=127.0.0.1:$(cat stall.port)")" )
	ev2=$($CHECK event ev.listener listener_disconnected consumer=127.0.0.1:$port2)
	[ "$(field "$ev2" '["joined_offset"]')" -eq "$off" ]
	[ "$(field "$ev2" '["output_buffer_full"]')" -eq 0 ]
	# the stalled one: its bytes from where it joined, cut where its
	# buffer filled; the drop count is exactly what it did not get
	evc=$($CHECK event ev.listener listener_disconnected consumer=127.0.0.1:$(cat stall.port))
	j=$(field "$evc" '["joined_offset"]')
	d=$(field "$evc" '["delivered"]')
	obf=$(field "$evc" '["output_buffer_full"]')
	[ "$obf" -gt 0 ]
	[ "$(stat -c %s stall.resp)" -eq "$d" ]
	cmp stall.resp <(tail -c +$((j + 1)) s.pcap.responses | head -c "$d")
	[ $(( j + d + obf )) -eq 6000000 ]
	# the books: the direction follows its first consumer, nothing lost
	run $CHECK books ev.listener --sessions 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"responses.delivered=6000000"* ]]
	[[ "$output" == *"responses.output_buffer_full=0"* ]]
	wait $CAPD_BG $REASMD_BG $SINK_listener
}

@test "listener: a short session's bytes wait for a consumer that comes within close_linger_sec" {
	require_cmd socat
	base=$(port_base)
	cat > l.json <<-EOF
	{ io: { output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $((base + 1)) } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 3.0 } }
	EOF
	paced s.pcap 0.2 50000
	start_pipeline l.json s.pcap listener
	# the capture is over and reasmd has closed the session
	wait $CAPD_BG $REASMD_BG
	rs=$(field "$($CHECK event ev.listener listener_ports)" '["responses_port"]')
	timeout 20 socat -u "TCP:127.0.0.1:$rs" - > got.resp
	cmp got.resp s.pcap.responses
	wait $SINK_listener
	$CHECK books ev.listener --sessions 1
}

@test "listener: an exhausted port range gives an event and a no_ports count, never a crash" {
	base=$(port_base)
	cat > l.json <<-EOF
	{ io: { output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $base } } },
	  runtime: { close_linger_sec: 0.2 } }
	EOF
	"$B/reasmd" -r "$TOP/tests/corpus/sngrep-aaa.pcap" -w - 2>/dev/null |
	    "$B/sinkd" listener -c l.json -r - --events ev 2>err
	grep -q listener_no_ports ev
	grep -q "port range $base-$base is exhausted" err
	run $CHECK books ev
	[ "$status" -eq 0 ]
	[[ "$output" =~ requests.no_ports=[1-9] ]]
}

@test "connector: a socat listener receives both streams exactly" {
	require_cmd socat
	paced s.pcap 2 2000000
	base=$(port_base)
	timeout 60 socat -u "TCP-LISTEN:$base,bind=127.0.0.1,reuseaddr" OPEN:got.req,creat,trunc &
	R=$!
	timeout 60 socat -u "TCP-LISTEN:$((base + 1)),bind=127.0.0.1,reuseaddr" OPEN:got.resp,creat,trunc &
	P=$!
	cat > c.json <<-EOF
	{ io: { output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                  responses_port: $((base + 1)), timeouts: { connect: 2, "retry-every": 1 } } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 1.0 } }
	EOF
	wait_for bash -c "ss -ltn 'sport = :$((base + 1))' | grep -q LISTEN"
	start_pipeline c.json s.pcap connector
	wait $R $P
	cmp got.req s.pcap.requests
	cmp got.resp s.pcap.responses
	wait $CAPD_BG $REASMD_BG $SINK_connector
	run $CHECK books ev.connector --sessions 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"responses.delivered=2000000"* ]]
	grep -q connector_connected ev.connector
}

@test "connector: a target 3 s late gets the newest startup bytes, then everything; the start it missed is counted" {
	require_cmd socat
	paced s.pcap 5 5000000
	base=$(port_base)
	timeout 60 socat -u "TCP-LISTEN:$base,bind=127.0.0.1,reuseaddr" OPEN:got.req,creat,trunc &
	R=$!
	cat > c.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 300000 } },
	        output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                  responses_port: $((base + 1)), timeouts: { connect: 2, "retry-every": 1 } } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 1.0, max_output_buffer_bytes: 100000 } }
	EOF
	wait_for bash -c "ss -ltn 'sport = :$base' | grep -q LISTEN"
	start_pipeline c.json s.pcap connector
	sleep 3
	timeout 60 socat -u "TCP-LISTEN:$((base + 1)),bind=127.0.0.1,reuseaddr" OPEN:got.resp,creat,trunc &
	P=$!
	wait $R $P
	cmp got.req s.pcap.requests
	ev=$($CHECK event ev.connector connector_connected direction=responses)
	held=$(field "$ev" '["buffered"]')
	# until the first connection the startup buffer (buffer_bytes), not
	# max_output_buffer_bytes, held the newest bytes
	[ "$held" -gt 100000 ] && [ "$held" -le 300000 ]
	lost=$($CHECK suffix s.pcap.responses got.resp)
	[ "$lost" -gt 0 ]
	gap=$($CHECK event ev.connector tcp_gap direction=responses)
	[ "$(field "$gap" '["length"]')" -eq "$lost" ]
	[ "$(field "$gap" '["why"]')" = startup_buffer_full ]
	wait $CAPD_BG $REASMD_BG $SINK_connector
	run $CHECK books ev.connector --sessions 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"responses.startup_buffer_full=$lost"* ]]
	[[ "$output" == *"responses.output_buffer_full=0"* ]]
}

@test "connector: a target that comes up late gets every byte its startup buffer held (more than max_output_buffer_bytes)" {
	require_cmd socat
	paced s.pcap 0.5 2000000
	base=$(port_base)
	cat > c.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 4194304 } },
	        output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                  responses_port: $((base + 1)), timeouts: { "retry-every": 0.3 } } } },
	  runtime: { workers: 1, overflow: "block", max_output_buffer_bytes: 1000000 } }
	EOF
	start_pipeline c.json s.pcap connector
	sleep 1
	timeout 60 socat -u "TCP-LISTEN:$base,bind=127.0.0.1,reuseaddr" OPEN:got.req,creat,trunc &
	R=$!
	timeout 60 socat -u "TCP-LISTEN:$((base + 1)),bind=127.0.0.1,reuseaddr" OPEN:got.resp,creat,trunc &
	P=$!
	wait $R $P
	cmp got.req s.pcap.requests
	cmp got.resp s.pcap.responses
	wait $CAPD_BG $REASMD_BG $SINK_connector
	run $CHECK books ev.connector --sessions 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"responses.startup_buffer_full=0"* ]]
	[[ "$output" == *"responses.output_buffer_full=0"* ]]
}

@test "sink.memcap: the startup buffers of sessions nobody takes stay under it, the oldest bytes go first" {
	python3 -c "
import sys; sys.path.insert(0, '$TOP/tests/gen')
import pcapgen as g
pc = g.Pcap('many.pcap')
cs = [g.Conn(pc, ('10.1.0.%d' % (i + 1), 30000 + i), ('10.9.9.9', 80), cisn=i * 100000) for i in range(20)]
for c in cs: c.handshake()
for c in cs: c.send(True, bytes([65 + len(c.req) % 26]) * 400000)
for c in cs: c.close()
pc.close()
"
	base=$(port_base)
	cat > l.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 600000 } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1", port_range_start: $base,
	                             port_range_end: $((base + 99)) } } },
	  sink: { memcap: 1048576 }, runtime: { close_linger_sec: 0.2 } }
	EOF
	"$B/reasmd" -r many.pcap -w many.sth 2>/dev/null
	"$B/sinkd" listener -c l.json -r many.sth --events ev 2>err
	# 20 sessions x 400,000 bytes, nobody connects: at most 1 MiB held at once
	grep -q "startup buffers: $((8000000 - 1048576)) bytes of startup_buffer_full were cut to stay under sink.memcap (1048576 bytes)" err
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev")]
sums = [e for e in ev if e["event"] == "sink_summary"]
assert len(sums) == 20
# every byte is accounted for: startup_buffer_full + consumer_absent = stream
for e in sums:
    r = e["requests"]
    assert r["balanced"] and r["startup_buffer_full"] + r["consumer_absent"] == r["stream_bytes"] == 400000, r
# the cap cut the oldest bytes first: what was still held when the sessions
# closed is the last 1 MiB that came (session i sent bytes [400000 i, 400000 (i + 1)))
cut = [e["requests"]["startup_buffer_full"] for e in sorted(sums, key=lambda e: e["flow"]["session_id"])]
held_from = 8000000 - 1048576
want = [400000 - max(0, 400000 * (i + 1) - max(held_from, 400000 * i)) for i in range(20)]
assert cut == want, (cut, want)
PY
}

@test "connector: a target that dies mid-stream is reconnected as configured; the bytes lost with it are counted" {
	require_cmd socat
	paced s.pcap 5 5000000
	base=$(port_base)
	timeout 60 socat -u "TCP-LISTEN:$base,bind=127.0.0.1,reuseaddr" OPEN:got.req,creat,trunc &
	R=$!
	timeout 60 socat -u "TCP-LISTEN:$((base + 1)),bind=127.0.0.1,reuseaddr" OPEN:got1.resp,creat,trunc &
	P=$!
	cat > c.json <<-EOF
	{ io: { output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                  responses_port: $((base + 1)), timeouts: { connect: 2, "retry-every": 1 } } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 1.0, max_output_buffer_bytes: 300000 } }
	EOF
	wait_for bash -c "ss -ltn 'sport = :$((base + 1))' | grep -q LISTEN"
	start_pipeline c.json s.pcap connector
	wait_for grep -q '"direction":"responses"' ev.connector
	sleep 1.5
	kill $P
	wait $P || true
	timeout 60 socat -u "TCP-LISTEN:$((base + 1)),bind=127.0.0.1,reuseaddr" OPEN:got2.resp,creat,trunc &
	P=$!
	wait $R $P
	wait $CAPD_BG $REASMD_BG $SINK_connector
	grep -q connector_disconnected ev.connector
	$CHECK event ev.connector connector_reconnect direction=responses >/dev/null
	run $CHECK books ev.connector --sessions 1
	[ "$status" -eq 0 ]
	delivered=$(echo "$output" | sed -n 's/^responses.delivered=//p')
	# what the first target read is the start of the stream; the bytes its
	# kernel held when it was killed are beyond what a sender can see:
	# "delivered" is what the connection accepted
	g1=$(stat -c %s got1.resp)
	cmp got1.resp <(head -c "$g1" s.pcap.responses)
	[ $(( g1 + $(stat -c %s got2.resp) )) -le "$delivered" ]
	$CHECK suffix s.pcap.responses <(tail -c 100000 got2.resp) >/dev/null
	cmp got.req s.pcap.requests
}

@test "drop mode: a stopped sink costs only itself; reasmd counts sink_ring_full and the sink's books still balance" {
	base=$(port_base)
	paced s.pcap 3 6000000
	cat > l.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 64000000 } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $((base + 199)) } } },
	  runtime: { workers: 1, overflow: "drop", ring_bytes: 262144, close_linger_sec: 0.5 } }
	EOF
	start_pipeline l.json s.pcap listener
	wait_for grep -q listener_ports ev.listener
	sink=$(pgrep -P $SINK_listener)
	kill -STOP "$sink"
	sleep 1.5
	kill -CONT "$sink"
	wait $CAPD_BG
	wait $REASMD_BG
	wait $SINK_listener
	grep -Eq 'sink "sinkd listener": [0-9]+ records .*sink_ring_full [1-9][0-9]* records' reasmd.err
	run $CHECK books ev.listener --sessions 1
	[ "$status" -eq 0 ]
	[[ "$output" =~ responses.sink_ring_full=[1-9] ]]
}

@test "every daemon of the pipeline runs with a non-zero effective uid" {
	require_root
	base=$(port_base)
	paced s.pcap 2 200000
	cat > l.json <<-EOF
	{ io: { output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $((base + 199)) },
	                  pcap: { dir: "$T/pc", per_session: true } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 0.5 } }
	EOF
	start_pipeline l.json s.pcap listener pcap json
	for p in $CAPD_BG $REASMD_BG $SINK_listener $SINK_pcap $SINK_json; do
		pid=$(pgrep -P "$p" | head -1)
		[ -n "$pid" ]
		[ "$(awk '/^Uid:/ {print $3}' /proc/$pid/status)" -ne 0 ]
	done
	wait $CAPD_BG $REASMD_BG $SINK_listener $SINK_pcap $SINK_json
	ls pc | grep -q '__fin\.pcapng$'
	$CHECK books ev.listener --sessions 1
}

@test "silent and garbage peers on capd.sock and reasmd.0.sock: the real consumers connect at once, nothing is lost, each bad peer is dropped with a line" {
	# 5 s of traffic: the run outlasts the silent peers' 2 s deadline
	paced p.pcap 5 300000
	echo '{ runtime: { workers: 1 } }' > c.json
	timeout 120 "$B/capd" -c c.json -r p.pcap --speed 1 --run-dir "$T/run" --ready-fd 3 \
	    3>capd.ready 2>capd.err &
	CAPD_BG=$!
	ready_wait capd.ready
	# ten silent peers would hold a blocking accept 20 s (2 s each): the
	# shard must get its ring well within one deadline
	bad_peers "$T/run/capd.sock" 5
	t0=$(date +%s%N)
	timeout 120 "$B/reasmd" -c c.json --from "$T/run/capd.sock" --listen "$T/run/reasmd.0.sock" \
	    --sinks 1 --ready-fd 3 3>reasmd.ready 2>reasmd.err &
	REASMD_BG=$!
	ready_wait reasmd.ready
	[ "$(ms_since $t0)" -lt 1500 ]
	bad_peers "$T/run/reasmd.0.sock" 5
	t0=$(date +%s%N)
	timeout 120 "$B/sinkd" pcap -c c.json --from "$T/run/reasmd.0.sock" --dir "$T/out" \
	    --ready-fd 3 3>sinkd.ready 2>sinkd.err &
	SINK_BG=$!
	ready_wait sinkd.ready
	grep -q 'sink "sinkd pcap" connected' reasmd.err || WAIT_SECS=2 wait_for grep -q 'sink "sinkd pcap" connected' reasmd.err
	[ "$(ms_since $t0)" -lt 1500 ]
	WAIT_SECS=10 wait_for grep -q "a sink dropped: no hello within the deadline" reasmd.err
	wait $CAPD_BG
	wait $REASMD_BG
	wait $SINK_BG
	# nothing lost: every frame of the replay is in the pcap file
	grep -q "ring_full 0$" capd.err || { cat capd.err; false; }
	[ "$(tshark -r p.pcap 2>/dev/null | wc -l)" -eq "$(tshark -r out/* 2>/dev/null | wc -l)" ]
	grep -q "sink_ring_full 0 records" reasmd.err
	# each kind of bad peer was dropped, with a line
	grep -q "a consumer dropped: no hello within the deadline" capd.err
	grep -q "a consumer dropped: bad hello: not a hello" capd.err
	grep -q "a sink dropped: no hello within the deadline" reasmd.err
	grep -q "a sink dropped: bad hello: not a hello" reasmd.err
}

@test "pcap retention: max_files and max_total_bytes keep the newest finished files, those of earlier runs count too, the oldest go first, counted; open files and other files are never touched" {
	"$B/tests/benchgen" small s.pcap 60000 >/dev/null
	"$B/reasmd" -r s.pcap -w s.rec 2>/dev/null
	mkdir per
	for i in 1 2 3; do head -c 1000 /dev/zero > per/old$i.pcapng; touch -d "2020-01-0$i" per/old$i.pcapng; done
	echo notes > per/notes.txt
	printf '{ io: { output: { pcap: { max_files: 5 } } } }\n' > r.json
	"$B/sinkd" pcap -c r.json -r s.rec --dir per --per-session 2> err
	grep -q '3 finished files already in per count toward the retention limits' err
	grep -q 'retention (max_total_bytes 0, max_files 5): 298 finished files removed' err
	[ "$(ls per/*.pcapng | wc -l)" -eq 5 ]
	[ -f per/notes.txt ]
	! ls per/old*.pcapng 2>/dev/null
	# the newest sessions' files are the ones kept: they open in tshark
	for f in per/*.pcapng; do tshark -r "$f" -c 1 >/dev/null 2>&1; done
	# the rolling file by bytes: rotated every 200 KB, at most 1 MB kept
	mkdir roll
	printf '{ io: { output: { pcap: { rotate_bytes: 200000, max_total_bytes: 1000000 } } } }\n' > b.json
	"$B/sinkd" pcap -c b.json -r s.rec --dir roll 2> err2
	grep -q 'finished files removed' err2
	total=$(du -cb roll/* | tail -1 | cut -f1)
	newest=$(ls -t roll | head -1)
	# what is kept: within the limit, plus the file that was open at the end
	[ $(( total - $(stat -c %s "roll/$newest") )) -le 1000000 ]
	[ "$(ls roll | wc -l)" -ge 5 ]
}

@test "listener: 100 consumers that connect and never read cost only their own bytes (each cut where its buffer filled, counted exactly); a consumer that reads gets every byte" {
	require_cmd socat
	paced s.pcap 3 4000000
	base=$(port_base)
	cat > l.json <<-EOF
	{ io: { input: { capture: { buffer_bytes: 16000000 } },
	        output: { listner: { enabled: true, bind_ip: "127.0.0.1",
	                             port_range_start: $base, port_range_end: $((base + 199)) } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 1.0, max_output_buffer_bytes: 200000 } }
	EOF
	start_pipeline l.json s.pcap listener
	wait_for grep -q listener_ports ev.listener
	ports=$($CHECK event ev.listener listener_ports)
	rs=$(field "$ports" '["responses_port"]')
	timeout 60 socat -u "TCP:127.0.0.1:$rs" - > good.resp &
	G=$!
	# (socat first: the first consumer has the start-up buffer)
	WAIT_SECS=30 wait_for $CHECK event ev.listener listener_connected first=True direction=responses > /dev/null
	# 100 that never read (small receive buffers), held until the session is over
	timeout 60 python3 -c '
import socket, sys, os, time
socks = []
for i in range(100):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
open("stalled", "w").write("\n".join(str(s.getsockname()[1]) for s in socks))
while not os.path.exists("go"):
    time.sleep(0.05)
' "$rs" &
	C=$!
	WAIT_SECS=60 wait_for grep -q sink_summary ev.listener
	touch go
	wait $G $C
	wait $CAPD_BG $REASMD_BG $SINK_listener
	cmp good.resp s.pcap.responses
	python3 - <<-'PY'
	import json
	stalled = set(open("stalled").read().split())
	ev = [json.loads(l) for l in open("ev.listener")]
	cut = [e for e in ev if e.get("event") == "listener_disconnected" and e["consumer"].split(":")[1] in stalled]
	assert len(cut) == 100, len(cut)
	for e in cut:
	    assert e["output_buffer_full"] > 0, e
	    assert e["joined_offset"] + e["delivered"] + e["output_buffer_full"] == 4000000, e
	summ = [e for e in ev if e.get("event") == "sink_summary"]
	assert summ and all(s["responses"]["balanced"] for s in summ), summ
	PY
	# its memory: bounded by max_output_buffer_bytes a consumer, not by the stream
	grep -q "0 with books that do not balance" sinkd.listener.err
}

@test "connector: a target that accepts and never reads costs only its own bytes (output_buffer_full, counted); the other direction's target gets every byte; the sink ends on time" {
	require_cmd socat
	paced s.pcap 3 4000000
	base=$(port_base)
	timeout 60 socat -u "TCP-LISTEN:$base,bind=127.0.0.1,reuseaddr" OPEN:got.req,creat,trunc &
	R=$!
	# accepts, never reads, holds the connection until told
	timeout 60 python3 -c '
import socket, sys, os, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1)
c, _ = l.accept()
while not os.path.exists("go"):
    time.sleep(0.05)
' "$((base + 1))" &
	P=$!
	cat > c.json <<-EOF
	{ io: { output: { "remote-host": { enabled: true, host: "127.0.0.1", requests_port: $base,
	                  responses_port: $((base + 1)), timeouts: { connect: 2, "retry-every": 1 } } } },
	  runtime: { workers: 1, overflow: "block", close_linger_sec: 0.5, drain_timeout_ms: 2000,
	             max_output_buffer_bytes: 300000 } }
	EOF
	wait_for bash -c "ss -ltn 'sport = :$((base + 1))' | grep -q LISTEN"
	t0=$(date +%s)
	start_pipeline c.json s.pcap connector
	wait $R
	cmp got.req s.pcap.requests
	wait $CAPD_BG $REASMD_BG
	st=0
	wait $SINK_connector || st=$?
	touch go
	wait $P || true
	[ "$st" -eq 0 ]
	# the paced session is 3 s; the drain 2 s more at most
	[ $(( $(date +%s) - t0 )) -le 12 ]
	run $CHECK books ev.connector --sessions 1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"requests.delivered=$(stat -c %s s.pcap.requests)"* ]]
	obf=$(echo "$output" | sed -n 's/^responses.output_buffer_full=//p')
	[ -n "$obf" ] && [ "$obf" -gt 0 ]
}
