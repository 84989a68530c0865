#!/usr/bin/env python3
"""mkcounters.py CTLD — docs/counters.md from the counter table
(common/counters.h), as `ctld --list-counters` prints it.  A test checks
that the file in the tree is what this makes."""
import json
import subprocess
import sys

rows = [json.loads(l) for l in subprocess.run([sys.argv[1], "--list-counters"], check=True,
                                              capture_output=True, text=True).stdout.splitlines()]
print("""# Counters

Every counter the daemons keep, generated from the table in
`common/counters.h` (`scripts/mkcounters.py build/ctld > docs/counters.md`).
A daemon sends its counters to ctld once a second and once more when it
stops; ctld shows them in `stats` replies (`daemons` → `"reasmd.0"` → key), in
the stats line of its log, and as Prometheus metrics on `control.metrics_port`
(`/metrics`): one metric per counter, `stethoscope_` + the metric name, with
HELP and TYPE, labelled `daemon` (capd, reasmd, sinkd, ctld), `shard`
(reasmd) or `family` (sinkd), and the counter's own label where it has one.
Counters end in `_total`; gauges do not.

| key (stats) | metric | type | unit | owner | label | scope | what it counts |
|---|---|---|---|---|---|---|---|""")
for r in rows:
    owner = r["owner"] + (" " + r["family"] if r["family"] else "")
    if r["owner"] == "any":
        owner = "every daemon"
    print("| `%s` | `stethoscope_%s` | %s | %s | %s | %s | %s | %s |" % (
        r["key"], r["metric"], r["kind"], r["unit"], owner, r["label"] or "",
        r["scope"], r["help"].replace("|", "\\|")))
print("""
The stats line keeps the wording scripts read (`stats: N sessions open, N bytes
delivered by reasmd, gap N, sink_ring_full N, sinks delivered N dropped N, pcap
frames N (queue_full N, write_error N), ring_full N, pcap_kernel N`), the newer
counters after it; ctld writes a last one, marked `(last)`, when it stops, after
every daemon's final counters have arrived.""")
