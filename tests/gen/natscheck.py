#!/usr/bin/env python3
"""natscheck.py — checks what sinkd nats published, as stethoscope-ctl
subscribe printed it (one JSON line a record).

  natscheck.py same EVENTS GOT [--sensor S]
      the records of GOT (sessions, calls, other events) are exactly the
      events of EVENTS (reasmd --events, or the json sink's file), in
      order, once the envelope (sensor, run, kind, seq, shard, subject,
      stream_seq) is taken off.  EVENTS lines of other daemons (capd, ctld,
      the sinks) are left out when --reasmd-only.
  natscheck.py books GOT SINK_LOG
      per kind: the sequence numbers in the stream, no one twice, and the
      ranges the loss records name, together make 1..produced exactly; the
      sink's summary line balances (produced = acked + dropped) with
      nothing pending, and its drops equal what the loss records name.
  natscheck.py count GOT
      prints "kind count" lines.
  natscheck.py runs GOT N [--calls-in-last]
      the records come from N runs of the sink (restarts), one after the
      other; the last one published something (with --calls-in-last: calls
      among it); no record (run, shard, kind, seq) is there twice.
  natscheck.py pace FILE SECONDS [PIECES]
      copies FILE to standard output in PIECES pieces over SECONDS.
"""
import json
import re
import sys
import time

ENVELOPE = ("sensor", "run", "kind", "seq", "shard", "subject", "stream_seq")


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def strip(r):
    return {k: v for k, v in r.items() if k not in ENVELOPE}


def kind_of_event(e):
    name = e.get("event")
    return "session" if name == "session_summary" else "call" if name == "call_end" else "event"


def same(args):
    reasmd_only = "--reasmd-only" in args
    args = [a for a in args if a != "--reasmd-only"]
    sensor = None
    if "--sensor" in args:
        i = args.index("--sensor")
        sensor = args[i + 1]
        del args[i:i + 2]
    events, got = load(args[0]), load(args[1])
    if sensor:
        got = [g for g in got if g.get("sensor") == sensor]
    got = [g for g in got if g.get("kind") != "loss"]
    if reasmd_only:
        # the json sink sees every daemon's events; sinkd nats the shards'
        events = [e for e in events if e.get("cat") in ("session", "calls", "rtp", "flow", "voip", "http")
                  and e.get("event") not in ("sink_summary",) and "sink" not in e]
    bad = 0
    for kind in ("session", "call", "event"):
        want = [json.dumps(e, sort_keys=True) for e in events if kind_of_event(e) == kind]
        have = [json.dumps(strip(g), sort_keys=True) for g in got if g.get("kind") == kind]
        if kind == "event" and reasmd_only:
            want, have = sorted(want), sorted(have)
        if sorted(want) != sorted(have):
            bad += 1
            print("%s: %d expected, %d published" % (kind, len(want), len(have)))
            ws, hs = set(want), set(have)
            for x in [w for w in want if w not in hs][:3]:
                print("  missing:", x[:300])
            for x in [h for h in have if h not in ws][:3]:
                print("  extra:  ", x[:300])
        else:
            print("%s: %d records, equal" % (kind, len(want)))
    print("%d differences" % bad)
    return 1 if bad else 0


def books(args):
    got, log = load(args[0]), open(args[1]).read()
    m = re.search(r"sinkd nats: (\d+) messages produced \(([^)]*)\), (\d+) acked, (\d+) dropped \(([^)]*)\), "
                  r"(\d+) pending; (\d+) resent, (\d+) duplicates", log)
    if not m:
        print("no summary line in", args[1])
        return 1
    produced = dict((k, int(v)) for k, v in (p.split() for p in m.group(2).split(", ")))
    total, acked, dropped, pending = int(m.group(1)), int(m.group(3)), int(m.group(4)), int(m.group(6))
    drops = dict((k, int(v)) for k, v in (p.split() for p in m.group(5).split(", ")))
    bad = 0
    if total != acked + dropped or pending:
        print("books: produced %d != acked %d + dropped %d, or %d pending" % (total, acked, dropped, pending))
        bad += 1
    seen = {}
    lost = {}
    for r in got:
        k = r.get("kind") or r.get("headers", {}).get("Steth-Kind")
        seq = r.get("seq") or int(r.get("headers", {}).get("Steth-Seq", 0))
        if k == "loss":
            for a, b in r["ranges"]:
                for s in range(a, b + 1):
                    lost.setdefault(r["of"], []).append(s)
            if r.get("ranges_omitted"):
                print("loss record with %d ranges omitted" % r["ranges_omitted"])
                bad += 1
        seen.setdefault(k, []).append(seq)
    named = 0
    for k, n in produced.items():
        s, l = seen.get(k, []), lost.get(k, [])
        named += len(l)
        if len(set(s)) != len(s):
            print("%s: %d sequence numbers twice in the stream" % (k, len(s) - len(set(s))))
            bad += 1
        if sorted(s + l) != list(range(1, n + 1)):
            missing = sorted(set(range(1, n + 1)) - set(s) - set(l))
            print("%s: stream %d + lost %d != produced %d (missing %s)" % (k, len(s), len(l), n, missing[:10]))
            bad += 1
        print("%s: produced %d, in the stream %d, named lost %d" % (k, n, len(s), len(l)))
    # every drop but the loss records' own is named by one
    lost_loss = len(lost.get("loss", []))
    if named - lost_loss != dropped - lost_loss:
        print("drops %d (%s), loss records name %d" % (dropped, drops, named))
        bad += 1
    print("dropped %d %s; resent %s; duplicates %s" % (dropped, drops, m.group(7), m.group(8)))
    print("%d differences" % bad)
    return 1 if bad else 0


def count(args):
    n = {}
    for r in load(args[0]):
        k = r.get("kind") or r.get("headers", {}).get("Steth-Kind")
        n[k] = n.get(k, 0) + 1
    for k in sorted(n):
        print(k, n[k])
    return 0


def runs(args):
    import collections
    got, want = load(args[0]), int(args[1])
    seen = []
    for g in got:
        if not seen or seen[-1] != g["run"]:
            seen.append(g["run"])
    assert len(seen) == want and len(set(seen)) == want, "runs in order: %s" % seen[:8]
    last = [g for g in got if g["run"] == seen[-1]]
    assert last, "nothing from the last run"
    if "--calls-in-last" in args[2:]:
        assert any(g["kind"] == "call" for g in last), [g["kind"] for g in last][:20]
    ids = collections.Counter((g["run"], g["shard"], g["kind"], g["seq"]) for g in got)
    dup = [k for k, c in ids.items() if c > 1]
    assert not dup, "twice: %d records, %s" % (len(dup), dup[:3])
    print("%d runs, %d records, none twice" % (want, len(got)))


def pace(args):
    data = open(args[0], "rb").read()
    secs = float(args[1])
    pieces = int(args[2]) if len(args) > 2 else 100
    step = max(1, (len(data) + pieces - 1) // pieces)
    out = sys.stdout.buffer
    for i in range(0, len(data), step):
        out.write(data[i:i + step])
        out.flush()
        time.sleep(secs / pieces)
    return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    return {"same": same, "books": books, "count": count, "runs": runs, "pace": pace}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
