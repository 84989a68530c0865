# helper.bash — shared setup for the bats suites.
#
# Each test runs in its own temporary directory ($T) with its own sockets.
# Binaries come from $STH_BUILD (tests/run.sh sets it; default build/).
# require_root / require_cmd skip a test, except under CI=true, where a
# test that cannot run is a failure.

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
B=${STH_BUILD:-$TOP/build}
FIX=$TOP/tests/fixtures

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sth-bats.XXXXXX")
	cd "$T" || return 1
}

teardown() {
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if [ "${CI:-}" = true ]; then
			echo "this test needs root and CI=true: failing rather than skipping" >&2
			return 1
		fi
		skip "needs root"
	fi
}

require_cmd() {
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			if [ "${CI:-}" = true ]; then
				echo "this test needs $c and CI=true: failing rather than skipping" >&2
				return 1
			fi
			skip "needs $c"
		fi
	done
}

# wait_for CMD... : polls CMD until it succeeds, up to $WAIT_SECS (10) seconds.
wait_for() {
	local deadline=$(( $(date +%s) + ${WAIT_SECS:-10} ))
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}
