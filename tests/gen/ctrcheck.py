#!/usr/bin/env python3
"""ctrcheck.py CTLD STATS.json METRICS.txt — every counter a daemon keeps
reaches ctld's `stats` reply and /metrics, with the same value.

STATS.json: a `stats` control_reply (stethoscope-ctl stats).  The table
comes from `CTLD --list-counters`.  Checks:
  - every daemon in the reply carries every row of the table that applies
    to it (owner, and family for sinkd), and nothing the table lacks;
  - /metrics follows Prometheus's conventions: HELP and TYPE on each
    metric, counters end in _total, gauges do not, no generic metric;
  - every value in the reply is a sample of /metrics with the labels
    daemon, shard/family and the row's own label, and every sample is a
    value of the reply.
Prints "ok: N values" or the differences, and exits 1 on any."""
import json
import re
import subprocess
import sys

rows = [json.loads(l) for l in subprocess.run([sys.argv[1], "--list-counters"], check=True,
                                              capture_output=True, text=True).stdout.splitlines()]
reply = json.load(open(sys.argv[2]))
stats = reply["stats"]
text = open(sys.argv[3]).read()
bad = []

def applies(r, owner, family):
    if r["owner"] == "any":
        return owner != "ctld"
    return r["owner"] == owner and (r["family"] is None or r["family"] == family)

def inst_of(key):
    name, shard = key.rsplit(".", 1)
    owner, _, family = name.partition(" ")
    labels = {"daemon": owner}
    if owner == "reasmd":
        labels["shard"] = shard
    if owner == "sinkd":
        labels["family"] = family
    return owner, family or None, labels

# --- the reply against the table
expected = {}	# (metric, frozenset(labels)) -> value
for key, vals in stats["daemons"].items():
    owner, family, labels = inst_of(key)
    want = {r["key"]: r for r in rows if applies(r, owner, family)}
    for k in want:
        if k not in vals:
            bad.append("%s: counter %s is missing" % (key, k))
    for k, v in vals.items():
        if k not in want:
            bad.append("%s: %s is not in the table" % (key, k))
            continue
        r = want[k]
        if r["label"] is None:
            expected[(r["metric"], frozenset(labels.items()))] = v
        else:
            for lv, x in v.items():
                expected[(r["metric"], frozenset(list(labels.items()) + [(r["label"], lv)]))] = x
ctld_rows = [r for r in rows if r["owner"] == "ctld"]
for r in ctld_rows:
    if r["key"] not in stats:
        bad.append("ctld: counter %s is missing" % r["key"])
if not stats["daemons"]:
    bad.append("no daemon's counters in the reply")

# --- /metrics: conventions, then values
kinds = {}
helps = set()
samples = {}
lab_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
for line in text.splitlines():
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        kinds[name] = kind
        continue
    if not line or line.startswith("#"):
        continue
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
    if not m:
        bad.append("metrics: cannot parse %r" % line)
        continue
    name, labels, value = m.group(1), dict(lab_re.findall(m.group(3) or "")), m.group(4)
    if name not in kinds or name not in helps:
        bad.append("metrics: %s has no HELP or TYPE before it" % name)
    if name == "stethoscope_counter":
        bad.append("metrics: the generic stethoscope_counter is still there")
    if kinds.get(name) == "counter" and not name.endswith("_total"):
        bad.append("metrics: counter %s does not end in _total" % name)
    if kinds.get(name) == "gauge" and name.endswith("_total"):
        bad.append("metrics: gauge %s ends in _total" % name)
    if labels.get("daemon") == "ctld":
        continue	# ctld's own change with every query (clients, commands)
    samples[(name[len("stethoscope_"):], frozenset(labels.items()))] = int(value)

for k, v in expected.items():
    if k not in samples:
        bad.append("metrics: no sample %s%s (stats has %d)" % (k[0], dict(k[1]), v))
    elif samples[k] != v:
        bad.append("metrics: %s%s = %d, stats says %d" % (k[0], dict(k[1]), samples[k], v))
for k, v in samples.items():
    if k not in expected:
        bad.append("metrics: sample %s%s = %d is in no stats reply" % (k[0], dict(k[1]), v))

if bad:
    print("\n".join(bad))
    sys.exit(1)
print("ok: %d values in stats and /metrics alike, %d daemons" % (len(expected), len(stats["daemons"])))
