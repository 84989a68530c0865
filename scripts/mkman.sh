#!/bin/sh
# mkman.sh BUILD_DIR OUT_DIR — a man page for every tool, made from its
# --help, which lists every flag (tests/08-tools.bats checks that against
# the option tables in the source).
set -eu
B=$1 OUT=$2
mkdir -p "$OUT"
date=$(date -u +%Y-%m-%d)
page() {	# page NAME SUMMARY CMD...
	name=$1 summary=$2
	shift 2
	help=$("$@" --help 2>&1) || true
	upper=$(echo "$name" | tr 'a-z-' 'A-Z_')
	{
		printf '.TH %s 1 "%s" "stethoscope" "stethoscope manual"\n' "$upper" "$date"
		printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
		printf '.SH SYNOPSIS\n.nf\n'
		echo "$help" | sed -n '1,/^[^ u]/p' | grep -E '^(usage| )' | sed 's/^usage: //; s/^ *//; s/\\/\\\\/g; s/^\./\\\&./'
		printf '.fi\n.SH DESCRIPTION AND OPTIONS\n.nf\n'
		echo "$help" | sed '1,/^[^ u]/{/^usage/d;/^       /d}' | sed 's/\\/\\\\/g; s/^\./\\\&./; s/^-/\\-/'
		printf '.fi\n.SH SEE ALSO\n'
		printf 'stethoscope(1), capd(1), reasmd(1), sinkd(1), ctld(1), stethoscope-run(1), stethoscope-ctl(1), stethoscope-dump(1);\n'
		printf 'stethoscope.conf(5): every configuration key.\n'
	} > "$OUT/$name.1"
}
page capd "the privileged capture daemon" "$B/capd"
page reasmd "TCP reassembler: sessions, byte streams, records" "$B/reasmd"
page sinkd "a sink daemon: listener, connector, pcap or json output" "$B/sinkd"
page ctld "the control plane: events, sessions, commands, metrics" "$B/ctld"
page stethoscope-dump "print a stethoscope record stream" "$B/stethoscope-dump"
page stethoscope-ctl "the control client" "$B/stethoscope-ctl"
page stethoscope-run "run and supervise the whole tap for one configuration" \
    env STETHOSCOPE_BINDIR="$B" "$(dirname "$0")/stethoscope-run"
page stethoscope "one command for the everyday cases: sniff sessions or calls, run, ctl" \
    env STETHOSCOPE_BINDIR="$B" "$(dirname "$0")/stethoscope"
# stethoscope.conf(5): every key, from the schema table itself (capd
# --print-schema) and what docs/configuration.md says each does
"$B/capd" --print-schema > "$OUT/.schema.jsonl"
python3 "$(dirname "$0")/mkconfman.py" "$OUT/.schema.jsonl" "$(dirname "$0")/../docs/configuration.md" \
    "$OUT/stethoscope.conf.5"
rm -f "$OUT/.schema.jsonl"
