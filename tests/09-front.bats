#!/usr/bin/env bats
# stethoscope, the front end: sniff (sessions) and sniff voip (calls) on
# files and live, equal to the same run through a config file; usage errors,
# lippycat's spellings, the status line off a terminal, bash completion.

load helper

ST=$TOP/scripts/stethoscope
export STETHOSCOPE_BINDIR=$B

teardown() {
	if [ -n "${S:-}" ]; then
		kill -TERM "$S" 2>/dev/null || true
		wait "$S" 2>/dev/null || true
	fi
	netns_down 2>/dev/null || true
	cd /
	if [ -n "${T:-}" ]; then
		rm -rf "$T"
	fi
}

# same_outputs A B: the same sessions (flows and bytes), the same stream
# files, as many per-session pcap files, the same calls
same_outputs() {
	python3 - "$1" "$2" <<'PY'
import collections, hashlib, json, os, sys
def load(d):
    sess = collections.Counter()
    for l in open(os.path.join(d, "sessions.jsonl")).read().splitlines():
        o = json.loads(l)
        fl = o["flow"]
        sess[(fl["client_ip"], fl["client_port"], fl["server_ip"], fl["server_port"],
              o["requests"]["bytes"], o["responses"]["bytes"])] += 1
    streams = collections.Counter(hashlib.sha1(open(os.path.join(d, n), "rb").read()).hexdigest()
                                  for n in os.listdir(d) if n.endswith((".requests", ".responses")))
    pcaps = len([n for n in os.listdir(d) if n.endswith(".pcapng")])
    calls = sorted(open(os.path.join(d, "calls.jsonl")).read().splitlines()) \
        if os.path.exists(os.path.join(d, "calls.jsonl")) else []
    return sess, streams, pcaps, calls
a, b = load(sys.argv[1]), load(sys.argv[2])
for k, what in enumerate(("sessions", "stream files", "pcap files", "calls")):
    assert a[k] == b[k], (what, a[k] if k == 2 else len(a[k]), b[k] if k == 2 else len(b[k]))
assert sum(a[0].values()) > 0
print(sum(a[0].values()), "sessions,", a[2], "pcap files,", len(a[3]), "calls")
PY
}

@test "stethoscope: usage errors exit 2 with the reason; --help for every subcommand; run and ctl are the tools" {
	run "$ST"
	[ "$status" -eq 2 ]
	run "$ST" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown command "frobnicate"'* ]]
	run "$ST" sniff
	[ "$status" -eq 2 ]
	[[ "$output" == *"give -i IFACE or -r FILE"* ]]
	run "$ST" sniff -i lo -r x.pcap
	[ "$status" -eq 2 ]
	run "$ST" sniff -r /nonexistent.pcap
	[ "$status" -eq 2 ]
	[[ "$output" == *"/nonexistent.pcap: cannot be read"* ]]
	run "$ST" sniff -r "$TOP/tests/corpus/sngrep-aaa.pcap" --sipuser alice
	[ "$status" -eq 2 ]
	[[ "$output" == *"stethoscope sniff voip --sipuser"* ]]
	run "$ST" sniff --bogus
	[ "$status" -eq 2 ]
	run "$ST" sniff --workers x -r "$TOP/tests/corpus/sngrep-aaa.pcap"
	[ "$status" -eq 2 ]
	run "$ST" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"stethoscope sniff voip"*"--write-file"* ]]
	run "$ST" help sniff
	[ "$status" -eq 0 ]
	[[ "$output" == *"--read-file"*"--sip-user"* ]]
	run "$ST" sniff voip --help
	[ "$status" -eq 0 ]
	run "$ST" help run
	[ "$status" -eq 0 ]
	[[ "$output" == *"stethoscope-run"* ]]
	run "$ST" ctl --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"status"* ]]
	run "$ST" run -c "$FIX/compat/go-config.json" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *"configuration OK"* ]]
	# a bad config through run: 2, as stethoscope-run's
	echo '{ io: { input: { capture: { snaplen: 1 } } } }' > bad.json
	run "$ST" run -c bad.json --check-config
	[ "$status" -eq 2 ]
}

@test "stethoscope sniff -r FILE -w DIR: sessions as files and a pcap per session, as the same run through a config file gives; no status line off a terminal; lippycat's spellings" {
	f=$TOP/tests/corpus/heplify-sip_ipv4_tcp_fragmented.pcap
	run "$ST" sniff -r "$f" -w a
	[ "$status" -eq 0 ]
	[[ "$output" != *$'\r'* ]]
	ls a | grep -q '__[0-9]*__[0-9]*__[a-z_]*\.pcapng$'
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$f" } },
	        output: { files: { enabled: true, dir: "$T/b" },
	                  pcap: { enabled: true, per_session: true, dir: "$T/b" } } },
	  control: { listen_port: 0 }, runtime: { run_dir: "$T/run" } }
	EOF
	run timeout --foreground 60 "$TOP/scripts/stethoscope-run" -c tap.json
	[ "$status" -eq 0 ]
	same_outputs a b
	# lippycat's spellings, --opt=value, and -w with no value: here
	mkdir c
	(cd c && "$ST" sniff --read-file "$f" --filter tcp --write-file) >/dev/null 2>&1
	same_outputs a c
	"$ST" sniff --read-file="$f" --write-file=d -q >/dev/null 2>&1
	same_outputs a d
	# -w followed by another flag: here too
	mkdir e
	(cd e && "$ST" sniff -w -r "$f") >/dev/null 2>&1
	same_outputs a e
}

@test "stethoscope sniff voip -r FILE --sipuser U -w DIR: the targeted calls' calls.jsonl and pcaps, the call table at the end; as through a config file" {
	f=$TOP/tests/corpus/heplify-rtp_rtcp_sip_ipv4_udp.pcap
	run "$ST" sniff voip -r "$f" --sipuser '+55145*' -w a
	[ "$status" -eq 0 ]
	[ "$(wc -l < a/calls.jsonl)" -eq 1 ]
	grep -q '"from_user":"5514540002"' a/calls.jsonl
	[ "$(ls a | grep -c '_12015624@200.57.7.195__[0-9]*__early\.pcapng$')" -eq 1 ]
	[ "$(ls a | grep -c '12013223@')" -eq 0 ]
	# the calls, not every TCP stream
	! ls a | grep -q '\.requests$'
	[ -s a/sessions.jsonl ]
	[[ "$output" == *"reasmd: calls (start, from, to, state"* ]]
	# the same through a config file
	cat > tap.json <<-EOF
	{ io: { input: { capture: { file: "$f" } }, output: { files: { enabled: true, dir: "$T/b", streams: false },
	        pcap: { dir: "$T/b" } } },
	  voip: { enabled: true, sipuser: ["+55145*"], per_call_pcap: true },
	  control: { listen_port: 0 }, runtime: { run_dir: "$T/run" } }
	EOF
	run timeout --foreground 60 "$TOP/scripts/stethoscope-run" -c tap.json
	[ "$status" -eq 0 ]
	same_outputs a b
	[ "$(ls a | grep -c pcapng)" -eq "$(ls b | grep -c pcapng)" ]
	# lippycat's -u and --sip-user; every call without a user; no -w: the table only
	run "$ST" sniff voip -r "$f" -u 5514540002 -w c
	[ "$status" -eq 0 ]
	diff a/calls.jsonl c/calls.jsonl
	run "$ST" sniff voip --read-file "$f" --sip-user=5514540002 -w d
	[ "$status" -eq 0 ]
	diff a/calls.jsonl d/calls.jsonl
	mkdir e
	cd e
	run "$ST" sniff voip -r "$f"
	[ "$status" -eq 0 ]
	[[ "$output" == *"confirmed"*"12013223@200.57.7.195"* ]]
	[ -z "$(ls)" ]
}

@test "stethoscope: bash completion offers the subcommands, the flags and interfaces" {
	run bash -c "
		source '$TOP/scripts/stethoscope.bash-completion'
		COMP_WORDS=(stethoscope s); COMP_CWORD=1; _stethoscope; echo \"1:\${COMPREPLY[*]}\"
		COMP_WORDS=(stethoscope sniff ''); COMP_CWORD=2; _stethoscope; echo \"2:\${COMPREPLY[*]}\"
		COMP_WORDS=(stethoscope sniff voip --sip); COMP_CWORD=3; _stethoscope; echo \"3:\${COMPREPLY[*]}\"
		COMP_WORDS=(stethoscope sniff --sip); COMP_CWORD=2; _stethoscope; echo \"4:\${COMPREPLY[*]}\"
		COMP_WORDS=(stethoscope sniff -i l); COMP_CWORD=3; _stethoscope; echo \"5:\${COMPREPLY[*]}\"
		COMP_WORDS=(stethoscope ctl st); COMP_CWORD=2; _stethoscope; echo \"6:\${COMPREPLY[*]}\"
		complete -p stethoscope"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1:sniff"* ]]
	[[ "$output" == *"2:voip -i --interface -r --read-file"*"--write-file"* ]]
	[[ "$output" == *"3:--sipuser --sip-user"* ]]
	[[ "$output" == *$'4:\n'* ]]
	[[ "$output" == *"5:lo"* ]]
	[[ "$output" == *"6:stats status"* ]]
	[[ "$output" == *"complete -F _stethoscope stethoscope"* ]]
}

@test "live: stethoscope sniff -i on a veth pair (network namespaces): the sessions as files; a stop drains, prints the summary, exits 0" {
	require_root
	require_cmd socat
	netns_up
	head -c 300000 /dev/urandom > blob
	# (ip netns exec, not the in_a function: $S is then the front end itself)
	ip netns exec "$NSA" "$ST" sniff -v -i "$VA" -f 'tcp port 33080' -w out > sniff.out 2>&1 &
	S=$!
	WAIT_SECS=30 wait_for grep -q "daemons are ready" sniff.out || { cat sniff.out; false; }
	socat_transfer 33080 blob
	WAIT_SECS=10 wait_for sh -c "grep -q '\"server_port\":33080' out/sessions.jsonl"
	# (Ctrl-C reaches the launcher from the terminal; here SIGTERM, which
	# the front end passes on: the same drain)
	kill -TERM $S
	wait $S
	cmp blob out/"$(sed -n 's/.*"server_port":33080.*"file":"\([0-9]*\.requests\)".*/\1/p' out/sessions.jsonl | head -1)"
	grep -q "reasmd: .* sessions" sniff.out
	ls out | grep -q '_33080__[0-9]*__[0-9]*__fin\.pcapng$'
	netns_down
}

@test "live: on a terminal, the status line (packets, kernel drops, sessions, calls, drops) every second; -q turns it off" {
	require_root
	require_cmd script
	TERM=dumb script -qec "timeout -s TERM 5 '$ST' sniff -i lo -f 'tcp port 9'" tty.out > /dev/null 2>&1 || true
	grep -q $'\r[0-9]* packets (kernel drops [0-9]*), [0-9]* sessions ([0-9]* open), [0-9]* calls ([0-9]* going on), drops: none' tty.out ||
	    { cat -A tty.out | tail -5; false; }
	TERM=dumb script -qec "timeout -s TERM 3 '$ST' sniff -q -i lo -f 'tcp port 9'" tty2.out > /dev/null 2>&1 || true
	! grep -q 'packets (kernel drops' tty2.out
}

@test "live: stethoscope sniff voip -i on a veth pair with a sipp call: calls.jsonl has it terminated, its pcap has its SIP and RTP; --sipuser of another user: nothing" {
	require_root
	require_cmd sipp tshark
	netns_up
	mkdir pcap
	for f in /usr/share/sip-tester/*.pcap; do ln -s "$f" pcap/; done
	audio=$(tshark -r pcap/g711a.pcap 2>/dev/null | wc -l)
	for who in sipp nobody-here; do
		rm -rf "calls.$who"
		ip netns exec "$NSA" "$ST" sniff voip -v -i "$VA" --sipuser "$who" -w "calls.$who" > "sniff.$who" 2>&1 &
		S=$!
		WAIT_SECS=30 wait_for grep -q "daemons are ready" "sniff.$who" || { cat "sniff.$who"; false; }
		in_b timeout 60 sipp -sn uas -i 10.77.0.2 -p 5060 -mp 6000 -rtp_echo -m 1 -nostdin \
		    -timeout 50s >uas.out 2>&1 3>&- &
		U=$!
		wait_for in_b sh -c "ss -lun | grep -q '10.77.0.2:5060 '"
		in_a timeout 60 sipp -sn uac_pcap 10.77.0.2:5060 -i 10.77.0.1 -p 5061 -m 1 -nostdin \
		    -timeout 50s >uac.out 2>&1 3>&- || { tail -20 uac.out; false; }
		wait $U || true
		# the front end's ctl finds the sniff's control socket by itself
		if [ "$who" = sipp ]; then
			WAIT_SECS=10 wait_for sh -c "'$ST' ctl calls | grep -q '\"from_user\":\"sipp\"'" ||
			    { "$ST" ctl calls; false; }
		fi
		kill -TERM $S
		wait $S
		S=
	done
	[ "$(wc -l < calls.sipp/calls.jsonl)" -eq 1 ]
	grep -q '"from_user":"sipp".*"state":"terminated"' calls.sipp/calls.jsonl
	p=$(ls calls.sipp/*__terminated.pcapng)
	tshark -r "$p" -q -z rtp,streams 2>/dev/null > streams.txt
	[ "$(grep -c " $audio  *0 (0.0%)" streams.txt)" -eq 2 ] || { cat streams.txt; false; }
	[ "$(tshark -r "$p" -Y sip 2>/dev/null | wc -l)" -ge 5 ]
	grep -q "reasmd: calls (start, from, to, state" sniff.sipp
	[ ! -s calls.nobody-here/calls.jsonl ]
	! ls calls.nobody-here | grep -q pcapng
	netns_down
}

@test "stethoscope sniff -i without root or cap_net_raw: exit 1 and how to fix it" {
	require_root
	require_cmd setpriv
	# (the tree must be readable by nobody for this: a CI clone is)
	setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null || skip "setpriv cannot drop here"
	[ -r "$ST" ] && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$B/capd" ||
	    skip "the build is not reachable by nobody"
	run setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$ST" sniff -i lo -f 'tcp port 9'
	[ "$status" -eq 1 ]
	[[ "$output" == *"setcap cap_net_raw,cap_net_admin+ep capd"* ]]
}
