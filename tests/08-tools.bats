#!/usr/bin/env bats
# Every tool: --help lists every flag its source accepts, a man page says
# the same, `make install` lays out a tree that runs, the systemd units
# parse.

load helper

# flags SOURCES...: the long options of getopt tables, and the "--x" an
# argument is compared with (the tools that parse by hand)
flags() {
	grep -hoE '\{ "[a-z][a-z-]+", (no|required|optional)_argument|strcmp\((a|argv\[i\]), "--[a-z][a-z-]+"' "$@" |
	    sed -E 's/^\{ "([a-z-]+)".*/\1/; s/^strcmp.*"--([a-z-]+)"$/\1/' | sort -u
}

check_tool() {	# check_tool NAME HELP-CMD SOURCES...
	local name=$1 help=$2
	shift 2
	out=$($help --help 2>&1)
	man=$(cat "$B/man/$name.1")
	for f in $(flags "$@"); do
		[[ "$out" == *"--$f"* ]] || { echo "$name --help does not mention --$f"; return 1; }
		[[ "$man" == *"\\-\\-$f"* || "$man" == *"--$f"* ]] || { echo "$name.1 does not mention --$f"; return 1; }
	done
}

@test "every tool's --help and man page list every flag it accepts" {
	common="$TOP/common/opts.h"
	check_tool capd "$B/capd" "$TOP"/capd/*.c "$common"
	check_tool reasmd "$B/reasmd" "$TOP/reasmd/main.c" "$common"
	check_tool sinkd "$B/sinkd" "$TOP/sinkd/main.c" "$common"
	check_tool ctld "$B/ctld" "$TOP/ctld/main.c" "$common"
	check_tool stethoscope-dump "$B/stethoscope-dump" "$TOP/common/dump.c"
	check_tool stethoscope-ctl "$B/stethoscope-ctl" "$TOP/ctld/ctl/stethoscope-ctl.c"
	STETHOSCOPE_BINDIR=$B check_tool stethoscope-run "$TOP/scripts/stethoscope-run" "$TOP/scripts/supervise.c"
	# the front end (sh): the long options of its case labels
	out=$(STETHOSCOPE_BINDIR=$B "$TOP/scripts/stethoscope" --help 2>&1)
	man=$(cat "$B/man/stethoscope.1")
	local n=0
	for f in $(grep -E '^[[:space:]]+-[-a-z|]*\)' "$TOP/scripts/stethoscope" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		[[ "$out" == *"$f"* ]] || { echo "stethoscope --help does not mention $f"; return 1; }
		[[ "$man" == *"\\-\\-${f#--}"* || "$man" == *"$f"* ]] || { echo "stethoscope.1 does not mention $f"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 12 ]
}

@test "make install lays out a tree whose stethoscope-run finds its daemons" {
	san=
	case "$B" in *san-address-undefined*) san=SANITIZER=address,undefined ;; esac
	make -C "$TOP" --no-print-directory $san install DESTDIR="$T/root" PREFIX=/usr >/dev/null
	[ -x "$T/root/usr/bin/stethoscope-run" ]
	[ -x "$T/root/usr/bin/stethoscope" ]
	[ -f "$T/root/usr/share/man/man1/stethoscope-run.1" ]
	[ -f "$T/root/usr/share/man/man1/stethoscope.1" ]
	[ -f "$T/root/usr/share/bash-completion/completions/stethoscope" ]
	run env -u STETHOSCOPE_BINDIR "$T/root/usr/bin/stethoscope" run -c "$FIX/compat/go-config.json" --check-config
	[ "$status" -eq 0 ]
	run env -u STETHOSCOPE_BINDIR "$T/root/usr/bin/stethoscope-run" -c "$FIX/compat/go-config.json" --check-config
	[ "$status" -eq 0 ]
	[[ "$output" == *"configuration OK"* ]]
}

@test "the systemd units parse (systemd-analyze verify)" {
	require_cmd systemd-analyze
	mkdir units
	for f in "$TOP"/scripts/systemd/*.service; do
		b=$(basename "$f")
		sed 's|/usr/local/bin/[a-z-]*|/bin/true|' "$f" > "units/${b/@/@t}"
	done
	for f in units/*; do
		run systemd-analyze verify "$f"
		# only a missing bus is tolerated (no systemd running in a container)
		! echo "$output" | grep -v -i 'bus\|ignoring' | grep -qi 'error\|invalid\|unknown'
	done
}
