#!/bin/sh
# tests/fuzz/run.sh — what `make fuzz` runs (not CI: hours, not minutes).
#
#   tests/fuzz/run.sh SECONDS JOBS TARGET...   fuzz each TARGET (build/fuzz/NAME)
#   tests/fuzz/run.sh --summary                the ledger, a line per target
#
# Each target runs SECONDS, JOBS targets at a time, on its working corpus
# (build/fuzz/corpus-NAME, seeded from tests/fuzz/corpus/NAME).  After the
# run, what it found that adds coverage is merged back into
# tests/fuzz/corpus/NAME (make test replays it), a crash is kept in
# build/fuzz/crashes/ (and its input printed: make it a corpus file once
# fixed), and a line goes into tests/fuzz/ledger.tsv: date, target,
# seconds, executions, executions/s, coverage (edges, features), corpus
# files, crashes.  The ledger is how the hours add up across sessions.
# Exits 1 if any target crashed or did not run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
ledger=$top/tests/fuzz/ledger.tsv

summary() {
	[ -s "$ledger" ] || { echo "no fuzzing on record ($ledger)"; return 0; }
	awk -F'\t' '
	$1 !~ /^#/ { n = $2; secs[n] += $3; ex[n] += $4; cov[n] = $6; ft[n] = $7; corp[n] = $8; cr[n] += $9
		if (!(n in seen)) { seen[n] = 1; order[++k] = n } }
	END {
		printf "%-16s %9s %14s %9s %7s %9s %7s %7s\n", "target", "hours", "executions", "exec/s", "cov", "features", "corpus", "crashes"
		for (i = 1; i <= k; i++) { n = order[i]
			printf "%-16s %9.2f %14d %9d %7s %9s %7s %7d\n", n, secs[n] / 3600, ex[n], secs[n] ? ex[n] / secs[n] : 0, cov[n], ft[n], corp[n], cr[n] }
	}' "$ledger"
}

one() {
	secs=$1 n=$2
	f=$top/build/fuzz/$n
	w=$top/build/fuzz/corpus-$n
	c=$top/tests/fuzz/corpus/$n
	log=$top/build/fuzz/$n.log
	mkdir -p "$w" "$c" "$top/build/fuzz/crashes"
	[ -x "$f" ] || { echo "$n: not built ($f)"; return 1; }
	before=$(ls "$top/build/fuzz/crashes" | grep -c "^$n-")
	start=$(date +%s)
	"$f" -max_total_time="$secs" -print_final_stats=1 -timeout=20 -rss_limit_mb=2560 \
	    -artifact_prefix="$top/build/fuzz/crashes/$n-" "$w" "$c" > "$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	# what adds coverage goes back into the corpus make test replays
	"$f" -merge=1 -timeout=20 -rss_limit_mb=2560 "$c" "$w" > "$log.merge" 2>&1 ||
	    echo "$n: merge failed, see $log.merge"
	files=$(ls "$c" | wc -l)
	crashes=$(( $(ls "$top/build/fuzz/crashes" | grep -c "^$n-") - before ))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$n" "$took" \
	    "${execs:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "$files" "$crashes" >> "$ledger"
	printf '%-16s %6ss %12s execs %7s/s cov %6s ft %7s corpus %5s crashes %s\n' "$n" "$took" \
	    "${execs:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "$files" "$crashes"
	if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
		echo "$n: exit $rc; the end of $log:"
		grep -E 'ERROR|SUMMARY|Test unit written|^fuzz_' "$log" | head -20
		return 1
	fi
}

case "${1:-}" in
--summary) summary; exit 0 ;;
--one) shift; one "$@"; exit $? ;;
esac
[ $# -ge 3 ] || { echo "usage: $0 SECONDS JOBS TARGET... | --summary" >&2; exit 2; }
secs=$1 jobs=$2
shift 2
[ -s "$ledger" ] || printf '# date\ttarget\tseconds\texecutions\texec_per_s\tcov\tfeatures\tcorpus_files\tcrashes\n' > "$ledger"
echo "fuzzing $# targets, ${secs}s each, $jobs at a time"
fail=0
printf '%s\n' "$@" | xargs -P "$jobs" -I{} sh "$0" --one "$secs" {} || fail=1
summary
exit $fail
