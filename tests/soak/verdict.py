#!/usr/bin/env python3
"""verdict.py DIR WARMUP RC — the soak's verdict from DIR's samples.tsv,
run.log, truth.json, events.jsonl, consumer.json and targets.json: a line
per daemon (RSS and descriptors at the warm-up's end and at the end, the
growth), the books, the sessions and calls seen against those fed.
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

# RSS and descriptors: the highest of the last `warm` seconds against the
# highest of the `warm` seconds after the warm-up
rows = collections.defaultdict(list)
for l in list(open("samples.tsv"))[1:]:
    t, name, pid, rss, fds, anon = l.split("\t")
    rows[name].append((float(t), int(pid), int(rss), int(fds), int(anon)))
end = max((r[-1][0] for r in rows.values()), default=0)
if growth and end < 2 * warm:
    fail.append("the run lasted %.0f s, less than twice the warm-up (%.0f s): growth not judged" % (end, warm))
print("%-16s %4s %10s %10s %7s %10s %6s %6s %7s %s" % ("daemon", "pids", "rss@warm", "rss@end", "rss+%", "anon@end", "fd@w", "fd@end", "fd+%", "verdict"))
for name in sorted(rows):
    r = rows[name]
    pids = len(set(x[1] for x in r))
    base = [x for x in r if warm <= x[0] < 2 * warm]
    last = [x for x in r if x[0] > end - warm]
    if not base or not last:
        print("%-16s %4d (too few samples)" % (name, pids))
        continue
    rb, re_ = max(x[2] for x in base), max(x[2] for x in last)
    fb, fe = max(x[3] for x in base), max(x[3] for x in last)
    gr, gf = 100.0 * (re_ - rb) / rb, 100.0 * (fe - fb) / fb
    bad = []
    if gr > 5 and growth:
        bad.append("RSS grew %.1f%%" % gr)
    if gf > 5 and growth:
        bad.append("descriptors grew %.1f%%" % gf)
    if pids > 1:
        bad.append("restarted (%d processes)" % pids)
    ae = max(x[4] for x in last)
    print("%-16s %4d %7d kB %7d kB %6.1f%% %7d kB %6d %6d %6.1f%% %s" % (name, pids, rb, re_, gr, ae, fb, fe, gf, "; ".join(bad) or "ok"))
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
