#!/bin/sh
# deps.sh — install the Debian packages stethoscope needs to build and test.
#
# Usage: scripts/deps.sh [build|test|run|bench]   (default: test)
#
# Idempotent and quiet when everything is present.  As root it calls
# apt-get directly; otherwise it uses sudo when sudo works without a
# password prompt, and else prints the one apt-get line to run and exits 1.
set -eu

what=${1:-test}
build_pkgs="make gcc clang pkg-config python3 libpcap-dev libjson-c-dev libevent-dev libseccomp-dev libnats-dev"
test_pkgs="bats bats-assert bats-support libclang-rt-14-dev tshark tcpdump tcpflow iproute2 socat python3 curl procps valgrind time sip-tester nats-server mandoc python3-jsonschema python3-prometheus-client systemd"
bench_pkgs="tcpreplay netsniff-ng"
case $what in
	build) pkgs=$build_pkgs ;;
	run) pkgs="$build_pkgs python3 socat" ;;
	test) pkgs="$build_pkgs $test_pkgs" ;;
	bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
	*) echo "usage: $0 [build|test|run|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages:$missing (not a Debian system: install them by hand)" >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo="sudo -n"
else
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run:  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
if ! $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
