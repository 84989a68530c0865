#!/usr/bin/env bats
# stethoscope-dump: record streams from files, stdin and a producer socket.

load helper

@test "dump prints every record of a stream, one a line" {
	run "$B/stethoscope-dump" "$FIX/records.sth"
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$FIX/records.expected"
}

@test "dump reads stdin, filters by type, stops after -c, shows bytes with -A" {
	run sh -c "'$B/stethoscope-dump' -A -c 1 --wants chunk < '$FIX/records.sth'"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "chunk session=5 dir=requests offset=0 len=18" ]
	[[ "$output" == *"GET / HTTP/1.0"* ]]
	[[ "$output" != *"responses"* ]]
}

@test "dump refuses a pcap file, a truncated stream and an unknown version clearly" {
	run "$B/stethoscope-dump" "$TOP/tests/corpus/sngrep-aaa.pcap"
	[ "$status" -eq 1 ]
	[[ "$output" == *"this is a pcap file, not a stethoscope record stream"* ]]
	head -c 100 "$FIX/records.sth" > trunc.sth
	run "$B/stethoscope-dump" trunc.sth
	[ "$status" -eq 1 ]
	[[ "$output" == *"truncated chunk record at end of input"* ]]
	{ printf 'STHR\077\000\002\001\020\000\000\000\000\000\000\000'; } > v63.sth
	run "$B/stethoscope-dump" v63.sth
	[ "$status" -eq 1 ]
	[[ "$output" == *"record stream version 63, this build reads version 4"* ]]
	run "$B/stethoscope-dump" --wants bogus x
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown record type "bogus"'* ]]
}

@test "dump attaches to a producer socket and gets the records it asked for through a ring" {
	"$B/tests/recserve" "$T/p.sock" "$FIX/records.sth" > serve.out &
	pid=$!
	wait_for grep -q listening serve.out
	run "$B/stethoscope-dump" --from "$T/p.sock" --wants session_open,gap,session_close
	wait $pid
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == session_open* ]]
	[[ "${lines[1]}" == "gap session=5 dir=responses offset=21 len=100" ]]
	[[ "${lines[2]}" == session_close* ]]
}

@test "dump says why it cannot attach" {
	run "$B/stethoscope-dump" --from "$T/none.sock"
	[ "$status" -eq 1 ]
	[[ "$output" == *"none.sock: No such file or directory"* ]]
}
