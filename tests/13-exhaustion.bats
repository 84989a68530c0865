#!/usr/bin/env bats
# Resources run out: a full disk under -o and the per-session pcap files (a
# small tmpfs the test mounts), too few descriptors (a low ulimit -n), a
# thousand control clients.  Each: a clear line, a counter that adds up,
# no crash, and the rest of the work goes on.

load helper

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
	# 1,000 TCP sessions of 1,700 bytes, many open at once
	"$B/tests/benchgen" small many.pcap 200000 >/dev/null
}

teardown() {
	[ -n "${CTLD:-}" ] && kill "$CTLD" 2>/dev/null
	mountpoint -q "$T/small" 2>/dev/null && umount "$T/small"
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

@test "-o on a full disk: said at once (rate-limited), the stream bytes written plus write_error are every byte delivered, the sessions.jsonl lines whole plus those counted are every session" {
	require_root
	mkdir small
	mount -t tmpfs -o size=512k tmpfs small
	run "$B/reasmd" -r many.pcap -o small/out
	[ "$status" -eq 0 ]
	n=$(grep -c "No space left on device" <<< "$output")
	[ "$n" -ge 1 ] && [ "$n" -le 12 ]
	[[ "$output" =~ write_error=([0-9]+)\ stream\ bytes.*,\ ([0-9]+)\ sessions.jsonl\ lines\ not\ whole ]]
	eb=${BASH_REMATCH[1]} el=${BASH_REMATCH[2]}
	[[ "$output" =~ 1000\ sessions,\ ([0-9]+)\ bytes\ delivered ]]
	delivered=${BASH_REMATCH[1]}
	written=$(cat small/out/*.requests small/out/*.responses | wc -c)
	[ "$eb" -gt 0 ]
	[ $(( written + eb )) -eq "$delivered" ]
	whole=$(python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1], "rb"):
    try:
        json.loads(l); n += l.endswith(b"\n")
    except ValueError:
        pass
print(n)' small/out/sessions.jsonl)
	[ $(( whole + el )) -eq 1000 ]
}

@test "per-session pcap on a full disk: every file closed at its last whole block and renamed, frames written plus pcap_write_error are every frame" {
	require_root
	"$B/reasmd" -r many.pcap -w rec.sth 2>/dev/null
	mkdir small
	mount -t tmpfs -o size=512k tmpfs small
	run "$B/sinkd" pcap -r rec.sth --per-session --dir small/out
	[ "$status" -eq 0 ]
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" =~ ([0-9]+)\ frames:\ written\ ([0-9]+),\ pcap_queue_full\ ([0-9]+),\ pcap_write_error\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -eq 197868 ]
	[ "${BASH_REMATCH[4]}" -gt 0 ]
	[ $(( BASH_REMATCH[2] + BASH_REMATCH[3] + BASH_REMATCH[4] )) -eq 197868 ]
	[ "$(ls small/out | wc -l)" -eq 1000 ]
	! ls small/out/*__open.pcapng 2>/dev/null
}

@test "EMFILE: with ulimit -n 40, the per-session pcap files keep every frame (fewer kept open, reopened, counted) and reasmd -o writes the same files as without the limit" {
	"$B/reasmd" -r many.pcap -w rec.sth 2>/dev/null
	run bash -c "ulimit -n 40; '$B/sinkd' pcap -r rec.sth --per-session --dir per"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Too many open files with"*"files open: at most"*"(pcap_fd_limit)"* ]]
	[[ "$output" == *"197868 frames: written 197868, pcap_queue_full 0, pcap_write_error 0"* ]]
	[ "$(ls per/*__fin.pcapng | wc -l)" -eq 1000 ]
	# each file opens whole (tshark reads it to its end)
	if command -v capinfos >/dev/null; then
		for f in $(ls per/*.pcapng | head -20); do capinfos -c "$f" >/dev/null; done
	fi
	run bash -c "ulimit -n 40; '$B/reasmd' -r many.pcap -o low"
	[ "$status" -eq 0 ]
	"$B/reasmd" -r many.pcap -o free 2>/dev/null
	diff -r low free
}

@test "ctld under 1,000 control clients (a third send 64 KiB lines, two thirds never read) and a burst of 20,000 events: a client that reads gets every event, the long lines get their error, stats answers at once, memory stays under control.clients_memcap" {
	mkdir run
	echo '{ control: { listen_port: 0, clients_memcap: 67108864 } }' > c.json
	"$B/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	CTLD=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	run timeout 120 python3 "$TOP/tests/gen/ctlflood.py" "$T/run" "$CTLD" 1000 20000
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "$output" "${STH_SANITIZER:-}" <<-'PY'
	import json, sys
	r = json.loads(sys.argv[1].strip().splitlines()[-1])
	assert r["reader_got"] == 20000, r
	assert r["long_lines_answered"] == 334, r
	assert r["stats_latency_ms"] < 2000, r
	# the never-readers: cut off (or holding less than their share)
	assert r["slow_clients_cut"] >= 600, r
	# 64 MiB of the clients' buffers, the daemon itself and its tables
	bound = 160 * 1024 if not sys.argv[2] else 1024 * 1024
	assert r["ctld_peak_rss_kb"] < bound, r
	PY
	kill -TERM $CTLD
	wait $CTLD
	CTLD=
}

@test "ctld: past control.max_clients a client is told too_many_clients and counted; out of descriptors (ulimit -n) it rests instead of spinning, counts, and serves again" {
	mkdir run
	echo '{ control: { listen_port: 0, max_clients: 100 } }' > c.json
	"$B/ctld" --run-dir "$T/run" -c c.json 2>ctld.log 3>&- &
	CTLD=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	run timeout 60 python3 - "$T/run/control.sock" <<-'PY'
	import socket, sys, time
	socks, refused = [], 0
	for i in range(150):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(sys.argv[1])
	    s.settimeout(3)
	    l = s.recv(4096)
	    if b"too_many_clients" in l:
	        refused += 1
	    socks.append(s)
	print(refused)
	PY
	[ "$status" -eq 0 ]
	[ "$output" -eq 50 ]
	run "$B/stethoscope-ctl" -s "$T/run/control.sock" stats
	[[ "$output" == *'"clients_refused":50'* ]]
	grep -q "a control client refused: control.max_clients (100) are connected" ctld.log
	kill -TERM $CTLD
	wait $CTLD
	# a descriptor limit below what the clients need
	echo '{ control: { listen_port: 0 } }' > c2.json
	rm -rf run && mkdir run
	bash -c "ulimit -n 48; exec '$B/ctld' --run-dir '$T/run' -c c2.json" 2>ctld2.log 3>&- &
	CTLD=$!
	WAIT_SECS=10 wait_for test -S run/control.sock
	cat > hold.py <<-'PY'
	import os, socket, sys, time
	socks = []
	for i in range(80):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(sys.argv[1])
	    socks.append(s)
	time.sleep(float(sys.argv[2]))
	PY
	t0=$(awk '{print $14 + $15}' /proc/$CTLD/stat)
	timeout 30 python3 hold.py "$T/run/control.sock" 2
	t1=$(awk '{print $14 + $15}' /proc/$CTLD/stat)
	# two seconds with connections it cannot accept: not a spin (ticks of 10 ms)
	[ $(( t1 - t0 )) -lt 50 ] || { echo "cpu ticks $((t1 - t0))"; false; }
	grep -q "accepting a connection: Too many open files (accept_errors 1): not accepting for 100 ms" ctld2.log
	run "$B/stethoscope-ctl" -s "$T/run/control.sock" stats
	[ "$status" -eq 0 ]
	[[ "$output" =~ \"accept_errors\":[1-9] ]]
	kill -TERM $CTLD
	wait $CTLD
	CTLD=
}
