#!/usr/bin/env python3
"""verdict.py DIR WARMUP RC — the soak's verdict from DIR's samples.tsv,
run.log, truth.json, events.jsonl, consumer.json and targets.json: a line
per daemon (its own memory, highest, and its descriptors, lowest, in the
ten minutes after the warm-up and in the last ten, the growth), the books, the sessions and calls seen against those fed.
Exits 1 on any failure, naming it."""
import collections
import json
import os
import re
import sys

d, warm, rc = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
growth = len(sys.argv) < 5 or sys.argv[4] != "0"
os.chdir(d)
fail = []
if rc != 0:
    fail.append("the run ended with status %d" % rc)

# Memory: the highest of the last `warm` seconds against the highest of
# the `warm` seconds after the warm-up.  A daemon's own memory is its RSS
# less its rings' pages (RssShmem): those count as they are first touched
# and are bounded by runtime.ring_bytes a ring.  Descriptors: the lowest
# of each window (their floor).  Most of a sink's descriptors are the work
# in flight at the moment of the sample (the pcap sink's open files, the
# listener's ports and consumers: 18 to 30 and 156 to 228 in an hour's
# soak, with no trend), so a window's highest is noise; a leaked
# descriptor never closes and raises the floor.
rows = collections.defaultdict(list)
lines = list(open("samples.tsv"))
cols = lines[0].rstrip("\n").split("\t")
for l in lines[1:]:
    v = dict(zip(cols, l.rstrip("\n").split("\t")))
    rss, anon = int(v["rss_kb"]), int(v["anon_kb"])
    shm = int(v["shmem_kb"]) if "shmem_kb" in v else None
    own = rss - shm if shm is not None else anon
    rows[v["daemon"]].append((float(v["t"]), int(v["pid"]), rss, int(v["fds"]), own, shm or 0))
end = max((r[-1][0] for r in rows.values()), default=0)
if growth and end < 2 * warm:
    fail.append("the run lasted %.0f s, less than twice the warm-up (%.0f s): growth not judged" % (end, warm))
conf = open("run/config.json").read() if os.path.exists("run/config.json") else ""
m = re.search(r'"ring_bytes":\s*(\d+)', conf)
ring_kb = (int(m.group(1)) if m else 64 << 20) // 1024
workers = len([n for n in rows if n.startswith("reasmd")]) or 1
sinks = len([n for n in rows if n.startswith("sinkd")])
print("%-16s %4s %10s %10s %7s %10s %10s %5s %5s %6s %s" % ("daemon", "pids", "own@warm", "own@end", "own+%",
      "rss@end", "rings@end", "fd@w", "fd@e", "fd+%", "verdict"))
for name in sorted(rows):
    r = rows[name]
    pids = len(set(x[1] for x in r))
    base = [x for x in r if warm <= x[0] < 2 * warm]
    last = [x for x in r if x[0] > end - warm]
    if not base or not last:
        print("%-16s %4d (too few samples)" % (name, pids))
        continue
    ob, oe = max(x[4] for x in base), max(x[4] for x in last)
    fb, fe = min(x[3] for x in base), min(x[3] for x in last)
    re_, se = max(x[2] for x in last), max(x[5] for x in last)
    go, gf = 100.0 * (oe - ob) / ob, 100.0 * (fe - fb) / max(fb, 1)
    # the rings a daemon maps: capd one a shard, a shard its own and one a
    # sink, a sink one a shard
    nrings = workers if name in ("capd",) or name.startswith("sinkd") else 1 + sinks if name.startswith("reasmd") else 0
    bad = []
    if go > 5 and growth:
        bad.append("own memory grew %.1f%%" % go)
    if gf > 5 and growth:
        bad.append("descriptors grew %.1f%%" % gf)
    if se > nrings * (ring_kb + 64):
        bad.append("rings' pages %d kB, more than its %d rings of %d kB" % (se, nrings, ring_kb))
    if pids > 1:
        bad.append("restarted (%d processes)" % pids)
    print("%-16s %4d %7d kB %7d kB %6.1f%% %7d kB %7d kB %5d %5d %5.1f%% %s" % (
        name, pids, ob, oe, go, re_, se, fb, fe, gf, "; ".join(bad) or "ok"))
    fail += ["%s: %s" % (name, b) for b in bad]

log = open("run.log", errors="replace").read()
unbal = re.findall(r"(sinkd [a-z]+): .* ([1-9][0-9]*) with books that do not balance", log)
for s, n in unbal:
    fail.append("%s: %s sessions with books that do not balance" % (s, n))
for s in re.findall(r"restarting (\S+ ?\S*)", log):
    fail.append("the launcher restarted %s" % s)
truth = json.load(open("truth.json"))
ev = collections.Counter()
for l in open("events.jsonl", errors="replace"):
    try:
        ev[json.loads(l).get("event")] += 1
    except ValueError:
        fail.append("events.jsonl: a line that is not JSON")
sess = sum(int(x) for x in re.findall(r"reasmd: \d+ packets \(\d+ TCP\), (\d+) sessions", log))
print("fed: %d sessions (%d + %d bytes), %d calls, %d RTP packets" % (
    truth["sessions"], truth["requests_bytes"], truth["responses_bytes"], truth["calls"], truth["rtp_packets"]))
print("seen: %d sessions (the shards), %d call_end events, %d tcp_close events" % (sess, ev["call_end"], ev["tcp_close"]))
if sess != truth["sessions"]:
    fail.append("the shards saw %d sessions, %d were fed" % (sess, truth["sessions"]))
if ev["call_end"] != truth["calls"]:
    fail.append("%d call_end events, %d calls were fed" % (ev["call_end"], truth["calls"]))
# under valgrind (make valgrind): every daemon's summary, no error, no leak
vg = re.findall(r"==(\d+)== ERROR SUMMARY: (\d+) errors", log)
if vg:
    lost = re.findall(r"==(\d+)==\s+(definitely|indirectly|possibly) lost: ([\d,]+) bytes", log)
    bad = [(p, k, b) for p, k, b in lost if b != "0"]
    print("valgrind: %d daemons checked, %d errors, %d leak reports with bytes lost" % (
        len(vg), sum(int(n) for _, n in vg), len(bad)))
    for p, n in vg:
        if n != "0":
            fail.append("valgrind: process %s: %s errors" % (p, n))
    for p, k, b in bad:
        fail.append("valgrind: process %s: %s lost %s bytes" % (p, k, b))
    if len(vg) < len(rows):
        fail.append("valgrind: %d summaries for %d daemons" % (len(vg), len(rows)))
try:
    hep = sum(1 for _ in open("hep.got"))
    print("hep collector: %d messages" % hep)
    if truth["calls"] and hep == 0:
        fail.append("the hep collector got nothing")
except OSError:
    pass
for f in ("consumer.json", "targets.json"):
    try:
        print(f.split(".")[0] + ":", open(f).read().strip())
    except OSError:
        pass
for m in re.findall(r"sinkd [a-z]+: .*with books that do not balance.*", log):
    print(m)
if fail:
    print("soak FAILED:\n  " + "\n  ".join(fail))
    sys.exit(1)
print("soak passed")
