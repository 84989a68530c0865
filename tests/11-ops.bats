#!/usr/bin/env bats
# What an operator's tools say of ours: the man pages (mandoc), the
# configuration page against the schema, the systemd units
# (systemd-analyze), /metrics (the Prometheus client's own parser), and
# every event, sessions.jsonl and calls.jsonl line against the JSON schemas
# in docs/schemas (python3-jsonschema).  Debian's python3 has the Debian
# packages these need (scripts/deps.sh installs them there).

load helper

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
RUN="$TOP/scripts/stethoscope-run"

setup_file() {
	export STETHOSCOPE_BINDIR=${STH_BUILD:-$TOP/build}
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	chmod 755 "$T"
	cd "$T" || return 1
}

@test "man pages: mandoc -Tlint -W warning finds nothing in any; stethoscope.conf(5) has every key of the schema with its type, default, variable and Go spelling" {
	require_cmd mandoc
	ls "$B"/man/*.1 "$B/man/stethoscope.conf.5" > pages
	[ "$(wc -l < pages)" -ge 9 ]
	for p in $(cat pages); do
		out=$(mandoc -Tlint -W warning "$p" 2>&1) || true
		[ -z "$out" ] || { echo "$out"; false; }
	done
	"$B/capd" --print-schema > schema.jsonl
	mandoc -Tutf8 -O width=250 "$B/man/stethoscope.conf.5" | col -bx > conf.txt
	$PY - schema.jsonl conf.txt <<-'EOF'
	import json, sys
	page = open(sys.argv[2]).read()
	keys = [json.loads(l) for l in open(sys.argv[1])]
	assert len(keys) > 100, len(keys)
	for k in keys:
	    assert "\n       " + k["key"] + "\n" in page, k["key"]
	    assert k["env"] in page, k["env"]
	    if k.get("go"):
	        assert k["go"] in page, k["go"]
	print(len(keys), "keys in the page")
	EOF
	grep -q 'default 64 MiB; range 64 KiB .. 16 GiB' conf.txt	# io.output.nats.queue_bytes
	grep -q 'STETHOSCOPE_IO_OUTPUT_LISTENER_PORT_RANGE_START' conf.txt
	grep -q "The Go version's spelling: io.output.listner.port_range_start" conf.txt
}

@test "systemd units: systemd-analyze verify prints nothing about any of them (instantiated, paths to this build)" {
	require_cmd systemd-analyze
	for f in "$TOP"/scripts/systemd/*.service; do
		b=$(basename "$f")
		sed "s|/usr/local/bin/stethoscope-run|$TOP/scripts/stethoscope-run|; s|/usr/local/bin/|$B/|g" "$f" > "${b/@./@test.}"
	done
	run systemd-analyze verify --man=no --recursive-errors=no ./*.service
	echo "$output"
	[ -z "$output" ]
	grep -q '^Type=notify$' stethoscope@test.service
	grep -q '^WatchdogSec=' stethoscope@test.service
	# and it would say so of a unit with a mistake
	sed 's/^WatchdogSec=/WatchdgSec=/' stethoscope@test.service > bad@test.service
	run systemd-analyze verify --man=no --recursive-errors=no ./bad@test.service
	[[ "$output" == *"Unknown key 'WatchdgSec'"* ]]
}

@test "JSON schemas: every sessions.jsonl, calls.jsonl and event line of the public captures, a generated TCP capture and a whole-tap run validates; a broken line does not" {
	for f in "$TOP"/tests/corpus/*.pcap*; do
		n=$(basename "$f")
		"$B/reasmd" -c "$FIX/voip/ports.json" -r "$f" --voip -o "o.$n" --events "ev.$n" 2>/dev/null
	done
	"$B/tests/benchgen" small small.pcap 20000 >/dev/null
	"$B/reasmd" -r small.pcap -o o.small --events ev.small 2>/dev/null
	$PY "$TOP/tests/gen/schemacheck.py" "$TOP/docs/schemas/session.schema.json" o.*/sessions.jsonl
	$PY "$TOP/tests/gen/schemacheck.py" "$TOP/docs/schemas/call.schema.json" o.*/calls.jsonl
	$PY "$TOP/tests/gen/schemacheck.py" "$TOP/docs/schemas/event.schema.json" ev.*
	# the whole tap: the json sink has every daemon's events (sinks', ctld's)
	base=$(( 20000 + (($$ + RANDOM) % 200) * 200 ))
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap" } },
	        output: { pcap: { enabled: true, dir: "$T/pcap", per_session: true },
	                  json: { enabled: true, path: "$T/events.jsonl", cats: ["all"] } } },
	  voip: { enabled: true },
	  control: { listen_port: $((base + 150)) },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json 2> run.log
	$PY "$TOP/tests/gen/schemacheck.py" "$TOP/docs/schemas/event.schema.json" events.jsonl
	grep -q '"event":"sink_summary"' events.jsonl
	# a line the schema refuses
	head -1 o.heplify-rtp_rtcp_sip_ipv4_udp.pcap/calls.jsonl | sed 's/"state":"[a-z-]*",//' > bad.jsonl
	run $PY "$TOP/tests/gen/schemacheck.py" "$TOP/docs/schemas/call.schema.json" bad.jsonl
	[ "$status" -eq 1 ]
	[[ "$output" == *"'state' is a required property"* ]]
}

@test "/metrics is valid Prometheus text: the client library's own parser reads every family, during a run" {
	python3 "$TOP/tests/gen/pcapgen.py" --paced s.pcap 4 400000 0.5
	base=$(( 20000 + (($$ + RANDOM) % 200) * 200 ))
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$T/s.pcap" } },
	        output: { pcap: { enabled: true, dir: "$T/pcap" } } },
	  control: { listen_port: $((base + 150)), metrics_port: $((base + 151)) },
	  runtime: { workers: 2, run_dir: "$T/run" } }
	EOF
	timeout --foreground 120 "$RUN" -c tap.json --speed 1 2> run.log &
	L=$!
	WAIT_SECS=20 wait_for grep -q "daemons are ready" run.log
	sleep 2
	curl -sf "http://127.0.0.1:$((base + 151))/metrics" > metrics.txt
	wait $L
	$PY - metrics.txt <<-'EOF'
	import sys
	from prometheus_client.parser import text_string_to_metric_families
	fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
	names = {f.name for f in fams}
	samples = sum(len(f.samples) for f in fams)
	assert len(fams) > 40 and samples > 60, (len(fams), samples)
	for want in ("stethoscope_captured_packets", "stethoscope_tcp_sessions_open"):
	    assert want in names, (want, sorted(names)[:20])
	daemons = {s.labels.get("daemon") for f in fams for s in f.samples}
	assert {"capd", "reasmd", "sinkd", "ctld"} <= daemons, daemons
	print(len(fams), "families,", samples, "samples")
	EOF
}
