#!/usr/bin/env bats
# Configuration: the bad-config table, the Go version's configs, the
# options every daemon shares.

load helper

@test "every bad config gives exactly its message and exit 2" {
	cd "$FIX/conf/bad"
	n=0
	for f in *.json; do
		run "$B/capd" -c "$f" --check-config
		[ "$status" -eq 2 ] || { echo "$f: status $status"; return 1; }
		diff <(printf '%s\n' "$output") "${f%.json}.expected" || { echo "$f: message differs"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 15 ]
}

@test "go-config.json loads; only verbosity_levels_available is warned" {
	run "$B/capd" -c "$FIX/compat/go-config.json" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *"configuration OK"* ]]
	[ "$(grep -c 'warning:' <<<"$output")" -eq 1 ]
	[[ "$output" == *"logging.verbosity_levels_available: unknown key"* ]]
	[[ "$output" == *'"requests_port": 33030'* ]]
	[[ "$output" == *'"c2s_buffer_bytes": 2097152'* ]]
	[[ "$output" == *'"dir": "tcpdumps/"'* ]]
}

@test "go_11 config: _-prefixed keys are ignored silently" {
	run "$B/capd" -c "$FIX/compat/go-go_11-config.json" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" != *"_iface"* ]]
	[[ "$output" != *"_local_ip"* ]]
	[ "$(grep -c 'warning:' <<<"$output")" -eq 1 ]
	[[ "$output" == *"verbosity_levels_available"* ]]
	[[ "$output" == *'"c2s_buffer_bytes": 4194304'* ]]
}

@test "config.json.example: unquoted keys and trailing commas; bind_interface warned" {
	run "$B/capd" -c "$FIX/compat/go-config.json.example" --check-config
	[ "$status" -eq 0 ]
	[ "$(grep -c 'warning:' <<<"$output")" -eq 1 ]
	[[ "$output" == *"io.output.listener.bind_interface: unknown key, ignored (nearest known key: io.output.listener.bind_ip)"* ]]
	[[ "$output" == *'"local_port": 56221'* ]]
	[[ "$output" == *"and tcp port 56221"* ]]
}

@test "the older prototype's layout loads with a warning per unknown key" {
	run "$B/capd" -c "$FIX/compat/go-config.json.ok.nas_test_no_vpn" --check-config
	[ "$status" -eq 0 ]
	[ "$(grep -c 'warning:' <<<"$output")" -eq 4 ]
	for k in io.output.remote-host.hex_encode_binary_payloads io.output.file control.plain-socket control.http; do
		[[ "$output" == *"$k: unknown key"* ]]
	done
	[[ "$output" == *'"listen_port": 50005'* ]]
}

@test "--strict turns unknown keys into errors" {
	run "$B/capd" -c "$FIX/compat/go-config.json.example" --check-config --strict
	[ "$status" -eq 2 ]
	[[ "$output" == *"error:"*"bind_interface: expected a known key (nearest: io.output.listener.bind_ip), found unknown key"* ]]
}

@test "every daemon takes -c and --check-config, and STETHOSCOPE_CONFIG" {
	for d in capd reasmd sinkd ctld; do
		run "$B/$d" -c "$FIX/compat/go-config.json" --check-config
		[ "$status" -eq 0 ] || { echo "$d: $output"; return 1; }
		[[ "$output" == *"configuration OK"* ]]
		STETHOSCOPE_CONFIG="$FIX/conf/bad/port-as-string.json" run "$B/$d" --check-config
		[ "$status" -eq 2 ]
		[[ "$output" == *"control.listen_port: expected integer"* ]]
	done
}

@test "a missing config file is a clear error" {
	run "$B/ctld" -c /nonexistent/x.json --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *"/nonexistent/x.json: cannot open: No such file or directory"* ]]
}

@test "--log-level and STETHOSCOPE_LOG_LEVEL are checked" {
	run "$B/sinkd" --log-level LOUD --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *"--log-level: expected DEBUG, INFO, WARNING or ERROR, found \"LOUD\""* ]]
	STETHOSCOPE_LOG_LEVEL=noisy run "$B/sinkd" --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *"STETHOSCOPE_LOG_LEVEL: expected"* ]]
}

@test "--run-dir and --user override the config; --help lists the shared options" {
	run "$B/capd" --run-dir "$T/rd" --user daemon --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *"\"run_dir\": \"$T/rd\""* ]]
	[[ "$output" == *'"user": "daemon"'* ]]
	for d in capd reasmd sinkd ctld; do
		run "$B/$d" --help
		[ "$status" -eq 0 ]
		for o in --config --check-config --strict --user --ready-fd --log-level --run-dir; do
			[[ "$output" == *"$o"* ]] || { echo "$d --help lacks $o"; return 1; }
		done
	done
}

@test "a binary or hostile file is refused without a crash" {
	head -c 4096 /dev/urandom > rnd.json
	printf '{"a":' > deep.json
	for i in $(seq 1 5000); do printf '['; done >> deep.json
	for f in rnd.json deep.json "$TOP/tests/corpus/sngrep-aaa.pcap"; do
		run "$B/capd" -c "$f" --check-config
		[ "$status" -eq 2 ]
	done
}

@test "docs/configuration.md names every key of the schema" {
	python3 - "$TOP" <<'PY'
import re, sys
top = sys.argv[1]
keys = re.findall(r'\{ "([\w.\-]+)", CT_', open(top + "/common/conf.c").read())
doc = open(top + "/docs/configuration.md").read()
missing = [k for k in keys if "`%s`" % k not in doc]
assert len(keys) > 60 and not missing, missing
PY
}

@test "environment: every key has its variable (STETHOSCOPE_ + the path, . and - as _), lists as JSON text; file < environment < command line; errors name the variable; --check-config says where each value came from" {
	# every key's variable is distinct, and none is one of ours that is not a key
	python3 - "$TOP" <<'PY'
import re, sys
keys = re.findall(r'\{ "([\w.\-]+)", CT_', open(sys.argv[1] + "/common/conf.c").read())
names = ["STETHOSCOPE_" + re.sub(r"[.\-]", "_", k).upper() for k in keys]
assert len(set(names)) == len(names), [n for n in names if names.count(n) > 1]
assert not set(names) & {"STETHOSCOPE_CONFIG", "STETHOSCOPE_LOG_LEVEL", "STETHOSCOPE_CTL", "STETHOSCOPE_BINDIR"}
PY
	eff() { python3 -c 'import json,sys; t=sys.stdin.read(); d=json.loads(t[:t.rindex("}")+1]); print(json.dumps(eval("d"+sys.argv[1])))' "$1"; }
	# on top of a Go config: each variable wins over the file
	output=$(env STETHOSCOPE_IO_OUTPUT_PCAP_DIR=/data/pcap STETHOSCOPE_RUNTIME_WORKERS=4 \
	    STETHOSCOPE_VOIP_SIPUSER='["alice","+4930*"]' STETHOSCOPE_IO_OUTPUT_LISTENER_PORT_RANGE_START=40000 \
	    "$B/capd" -c "$FIX/compat/go-config.json" --check-config 2>/dev/null)
	[ "$(eff '["io"]["output"]["pcap"]["dir"]' <<< "$output")" = '"/data/pcap"' ]
	[ "$(eff '["runtime"]["workers"]' <<< "$output")" = 4 ]
	[ "$(eff '["voip"]["sipuser"]' <<< "$output")" = '["alice", "+4930*"]' ]
	[ "$(eff '["io"]["output"]["listener"]["port_range_start"]' <<< "$output")" = 40000 ]
	[ "$(eff '["_sources"]["runtime.workers"]' <<< "$output")" = '"environment STETHOSCOPE_RUNTIME_WORKERS"' ]
	[ "$(eff '["_sources"]["io.output.listener.port_range_end"]' <<< "$output")" = "\"file $FIX/compat/go-config.json\"" ]
	# the Go version's spelling of a section works as a variable too
	output=$(env STETHOSCOPE_IO_OUTPUT_LISTNER_PORT_RANGE_START=40001 "$B/capd" -c "$FIX/compat/go-config.json" --check-config 2>/dev/null)
	[ "$(eff '["io"]["output"]["listener"]["port_range_start"]' <<< "$output")" = 40001 ]
	# lists also as a,b; the command line wins over the environment
	output=$(env STETHOSCOPE_VOIP_SIPUSER=bob,carol STETHOSCOPE_RUNTIME_RUN_DIR=/tmp/env "$B/capd" --run-dir /tmp/cli --check-config 2>/dev/null)
	[ "$(eff '["voip"]["sipuser"]' <<< "$output")" = '["bob", "carol"]' ]
	[ "$(eff '["runtime"]["run_dir"]' <<< "$output")" = '"/tmp/cli"' ]
	[ "$(eff '["_sources"]["runtime.run_dir"]' <<< "$output")" = '"command line"' ]
	# the same checks and messages as the file's, naming the variable
	run env STETHOSCOPE_RUNTIME_WORKERS=many STETHOSCOPE_VOIP_SIP_PORTS='[5060,' "$B/capd" --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *'environment STETHOSCOPE_RUNTIME_WORKERS: runtime.workers: expected integer'*'found string "many"'* ]]
	[[ "$output" == *'environment STETHOSCOPE_VOIP_SIP_PORTS: voip.sip_ports: expected JSON text'* ]]
	run env STETHOSCOPE_IO_OUTPUT_PCAP_PORT=1 "$B/capd" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *'environment STETHOSCOPE_IO_OUTPUT_PCAP_PORT: unknown variable, ignored (nearest: '* ]]
	# a name near no key gets no suggestion
	run env STETHOSCOPE_QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ=1 "$B/capd" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *'environment STETHOSCOPE_QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ: unknown variable, ignored'* ]]
	[[ "$output" != *'QQQQ: unknown variable, ignored (nearest'* ]]
	# both spellings at once is an error
	run env STETHOSCOPE_IO_OUTPUT_LISTNER_ENABLED=true STETHOSCOPE_IO_OUTPUT_LISTENER_ENABLED=false "$B/capd" --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *'expected one spelling of the variable'* ]]
	# the launcher checks the same way
	run env STETHOSCOPE_BINDIR="$B" STETHOSCOPE_RUNTIME_WORKERS=many "$TOP/scripts/stethoscope-run" -c "$FIX/compat/go-config.json" --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *'environment STETHOSCOPE_RUNTIME_WORKERS'* ]]
}

@test "runtime.profile sets its group of keys under every key given (file, environment, command line); --profile on every daemon; --print-profiles" {
	run "$B/capd" --profile latency --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *'"immediate": true'* ]]
	[[ "$output" == *'"gap_grace_ms": 200,'* ]]
	[[ "$output" == *'"io.input.capture.immediate": "profile latency"'* ]]
	[[ "$output" == *'"runtime.profile": "command line"'* ]]
	# a key given wins over its profile, from wherever it came
	echo '{ runtime: { profile: "memory", ring_bytes: 8388608 } }' > m.json
	run env STETHOSCOPE_REASM_MEMCAP=536870912 "$B/reasmd" -c m.json --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *'"ring_bytes": 8388608,'* ]]
	[[ "$output" == *'"runtime.ring_bytes": "file m.json"'* ]]
	[[ "$output" == *'"memcap": 536870912,'* ]]
	[[ "$output" == *'"ooo_bytes_per_dir": 262144,'* ]]
	[[ "$output" == *'"reasm.ooo_bytes_per_dir": "profile memory"'* ]]
	# the command line over the file's profile
	run "$B/sinkd" -c m.json --profile throughput --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *'"profile": "throughput"'* ]]
	[[ "$output" == *'"memcap": 1073741824'* ]]
	[[ "$output" != *'"ooo_bytes_per_dir": 262144,'* ]]
	# balanced is the defaults: nothing from a profile
	run "$B/ctld" --profile balanced --check-config
	[ "$status" -eq 0 ]
	[[ "$output" != *'"profile balanced"'* ]]
	run "$B/capd" --profile fast --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *'runtime.profile: expected one of balanced|throughput|latency|memory, found string "fast"'* ]]
	# every key a profile sets is a key, and the doc's table names it with its profile
	"$B/capd" --print-schema > schema.jsonl
	"$B/capd" --print-profiles > profiles.tsv
	[ "$(wc -l < profiles.tsv)" -ge 15 ]
	while IFS=$'\t' read -r p k v; do
		grep -q "\"key\":\"$k\"" schema.jsonl || { echo "$p: $k is no key"; return 1; }
		grep "^| \`$p\` |" "$TOP/docs/configuration.md" | grep -q "\`$k\`" || { echo "docs: $p does not name $k"; return 1; }
		run "$B/capd" --profile "$p" --check-config
		[[ "$output" == *"\"$k\": \"profile $p\""* ]] || { echo "$p: $k not set"; return 1; }
	done < profiles.tsv
	run "$B/reasmd" --help
	[[ "$output" == *"--profile P"* && "$output" == *"--print-profiles"* ]]
}
