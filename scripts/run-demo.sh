#!/bin/sh
# run-demo.sh BUILD_DIR — what `make run` does until the whole pipeline
# lands: checks the bundled example configurations with the daemons'
# shared checker, then shows what is inside the bundled public captures and
# walks a record stream with stethoscope-dump.
set -eu
B=${1:-build}
cd "$(dirname "$0")/.."
echo "== stethoscope: configuration check of examples/offline.json (capd --check-config)"
"$B/capd" -c examples/offline.json --check-config | tail -n 25
echo
echo "== the Go version's config (tests/fixtures/compat/go-config.json) loads unchanged:"
"$B/capd" -c tests/fixtures/compat/go-config.json --check-config 2>&1 >/dev/null | sed 's/^/   /'
"$B/capd" -c tests/fixtures/compat/go-config.json --check-config 2>/dev/null | tail -n 1 | sed 's/^/   /'
echo
echo "== a record stream, as the daemons pass them to each other (stethoscope-dump -A):"
"$B/stethoscope-dump" -A tests/fixtures/records.sth
echo
echo "Next: reasmd (TCP reassembly from capture files), capd, the sinks and ctld."
echo "Every tool: $B/capd $B/reasmd $B/sinkd $B/ctld $B/stethoscope-dump (each has --help)."
