# helper.bash — shared setup for the bats suites.
#
# Each test runs in its own temporary directory ($T) with its own sockets.
# Binaries come from $STH_BUILD (tests/run.sh sets it; default build/).
# require_root / require_cmd skip a test, except under CI=true, where a
# test that cannot run is a failure.

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
B=${STH_BUILD:-$TOP/build}
FIX=$TOP/tests/fixtures

# Debian's python3 for the test scripts: it has the packages deps.sh
# installs (python3-jsonschema, python3-prometheus-client), and a version
# manager's shim found first on PATH costs a process tree per start
# (pyenv's: 0.45 s against 0.04 s, and the suites start python some
# thousand times).
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ] &&
    [ -n "${BATS_RUN_TMPDIR:-}" ]; then
	mkdir -p "$BATS_RUN_TMPDIR/bin" && ln -sf /usr/bin/python3 "$BATS_RUN_TMPDIR/bin/python3" &&
	    export PATH="$BATS_RUN_TMPDIR/bin:$PATH"
fi

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

# ---- network namespaces (live tests; root) ----
# netns_up: two namespaces joined by a veth pair.
#   $NSA has $VA = 10.77.0.1/24; $NSB has $VB = 10.77.0.2/24 and 10.77.0.3/24.
netns_up() {
	local id
	id=$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))
	NSA=sth-a-$id NSB=sth-b-$id VA=stha$id VB=sthb$id
	ip netns add "$NSA" && ip netns add "$NSB" || return 1
	ip link add "$VA" type veth peer name "$VB" || return 1
	ip link set "$VA" netns "$NSA" && ip link set "$VB" netns "$NSB"
	ip -n "$NSA" addr add 10.77.0.1/24 dev "$VA"
	ip -n "$NSB" addr add 10.77.0.2/24 dev "$VB"
	ip -n "$NSB" addr add 10.77.0.3/24 dev "$VB"
	ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up
	ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up
	# wait until B answers A (no bare sleep): a connection to a closed port
	# refused by B's stack proves the path works both ways
	wait_for netns_reachable
}

netns_reachable() {
	ip netns exec "$NSA" timeout 2 bash -c 'exec 3<>/dev/tcp/10.77.0.2/1' 2>&1 | grep -q refused
}

netns_down() {
	[ -n "${NSA:-}" ] && ip netns del "$NSA" 2>/dev/null
	[ -n "${NSB:-}" ] && ip netns del "$NSB" 2>/dev/null
	NSA= NSB=
}

# in_a / in_b CMD...: run CMD in a namespace
in_a() { ip netns exec "$NSA" "$@"; }
in_b() { ip netns exec "$NSB" "$@"; }

# start_capd_a LOG ARGS...: capd in namespace A, backgrounded; waits for its
# ready line.  Sets CAPD_PID (capd, for signals) and CAPD_JOB (for wait).
start_capd_a() {
	local log=$1; shift
	rm -f "$T/capd.ready"
	ip netns exec "$NSA" timeout 120 "$B/capd" --ready-fd 3 "$@" 3>"$T/capd.ready" 2>"$log" &
	CAPD_JOB=$!	# wait on this: its status is capd's
	wait_for pgrep -f "^$B/capd --ready-fd 3" >/dev/null
	CAPD_PID=$(pgrep -f "^$B/capd --ready-fd 3" | head -1)
	wait_for grep -q ready "$T/capd.ready" || { cat "$log"; return 1; }
}

# socat_transfer PORT FILE [DSTIP]: server in B writes what it receives to
# FILE.recv; client in A sends FILE; returns when the server has it all.
socat_transfer() {
	local port=$1 file=$2 dst=${3:-10.77.0.2}
	in_b timeout 60 socat -u "TCP-LISTEN:$port,bind=$dst,reuseaddr" "CREATE:$file.recv" &
	local spid=$!
	wait_for in_b sh -c "ss -ltn | grep -q ':$port '"
	in_a timeout 60 socat -u "FILE:$file" "TCP:$dst:$port"
	wait $spid
}

# sessions_with FILE OUTDIRS...: the session ids whose requests equal FILE
requests_equal() {
	python3 - "$@" <<'PY'
import hashlib, json, os, sys
want = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
n = 0
for d in sys.argv[2:]:
    p = os.path.join(d, "sessions.jsonl")
    if not os.path.exists(p):
        continue
    for l in open(p):
        s = json.loads(l)
        f = os.path.join(d, s["requests"]["file"])
        if hashlib.sha256(open(f, "rb").read()).hexdigest() == want:
            n += 1
print(n)
PY
}

# bad_peers SOCKET SECONDS: ten connections that never say hello and ten
# that send garbage, held open SECONDS; "connected" in bad.SOCKNAME once all are in
bad_peers() {
	python3 - "$1" "$2" > "bad.${1##*/}" <<'PY' 3>&- &
import socket, sys, time
path, hold = sys.argv[1], float(sys.argv[2])
socks = []
for i in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    if i >= 10:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" if i % 2 else b"\xff" * 100)
    socks.append(s)
print("connected", flush=True)
time.sleep(hold)
PY
	wait_for grep -q connected "bad.${1##*/}"
}

# ms_since T0: milliseconds since T0 (date +%s%N)
ms_since() {
	echo $(( ($(date +%s%N) - $1) / 1000000 ))
}

# veth_again: the pair netns_up made, made again (after a test deleted it),
# same names and addresses
veth_again() {
	ip link add "$VA" type veth peer name "$VB" || return 1
	ip link set "$VA" netns "$NSA" && ip link set "$VB" netns "$NSB"
	ip -n "$NSA" addr add 10.77.0.1/24 dev "$VA"
	ip -n "$NSB" addr add 10.77.0.2/24 dev "$VB"
	ip -n "$NSA" link set "$VA" up && ip -n "$NSB" link set "$VB" up
	wait_for netns_reachable
}

# ---- the whole tap ----

# port_base: the first of 200 TCP ports for one test (listener ranges,
# control, metrics), spread so that parallel runs rarely meet
port_base() {
	echo $(( 20000 + (($$ + RANDOM) % 200) * 200 ))
}

# descendants PID: every descendant
descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

# supervisor_of PID: the launcher's supervisor among PID's descendants (not
# any supervisor on the machine: another run may be going on beside)
supervisor_of() {
	local p
	for p in $(descendants "$1"); do
		case "$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)" in
		*stethoscope-supervise\ --bindir*) echo "$p"; return 0 ;;
		esac
	done
	return 1
}
