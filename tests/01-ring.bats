#!/usr/bin/env bats
# The shared-memory ring between two processes.

load helper

@test "block mode: 10 million variable-size records, no loss, no corruption" {
	n=10000000
	[ -n "${STH_SANITIZER:-}" ] && n=2000000	# the sanitizer build is ~5x slower
	run "$B/tests/ringstress" block $n 1048576
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"received=$n dropped=0 missing=0 corrupt=0 out_of_order=0"* ]]
}

@test "drop mode: a tiny ring drops, and the drop count is exact" {
	run "$B/tests/ringstress" drop 2000000 65536
	echo "$output"
	[ "$status" -eq 0 ]
	dropped=$(sed -n 's/.* dropped=\([0-9]*\) .*/\1/p' <<<"$output")
	missing=$(sed -n 's/.* missing=\([0-9]*\) .*/\1/p' <<<"$output")
	[ "$dropped" -gt 0 ]
	[ "$dropped" -eq "$missing" ]
}

@test "two threads under ThreadSanitizer: no data race" {
	require_cmd clang
	run make -s -C "$TOP" build/tsan/ringstress
	[ "$status" -eq 0 ]
	TSAN_OPTIONS=halt_on_error=1 run "$TOP/build/tsan/ringstress" threads 300000 65536
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"WARNING: ThreadSanitizer"* ]]
}
