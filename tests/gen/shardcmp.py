#!/usr/bin/env python3
"""shardcmp.py LIST — for each line "ONE MANY ONE.err MANY.err" of LIST: reasmd -o ONE (one engine) and
-o MANY (--shards N) hold the same sessions: sessions.jsonl's lines equal
once session ids and file names are dropped and the sessions sorted by
(first_ts, flow), and every session's two stream files equal byte for byte.
The one engine's first summary line (ONE.err) and the N engines' totals
line (MANY.err) give the same packets, sessions, bytes and gaps.  Prints
"N pairs, M sessions, all the same", or what differs first and exits 1."""
import hashlib
import json
import os
import re
import sys


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("session_id", "file")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def load(d):
    out = []
    p = os.path.join(d, "sessions.jsonl")
    for line in open(p):
        s = json.loads(line)
        digests = {}
        for k in ("requests", "responses"):
            f = s.get(k, {}).get("file")
            path = os.path.join(d, f) if f else None
            digests[k] = hashlib.sha256(open(path, "rb").read()).hexdigest() \
                if path and os.path.exists(path) else None
        s = strip(s)
        s["_streams"] = digests
        out.append(s)
    return sorted(out, key=lambda s: (s.get("first_ts", ""), json.dumps(s.get("flow"), sort_keys=True),
                                      json.dumps(s, sort_keys=True)))


def totals(err, many):
    txt = open(err).read()
    pat = r"reasmd: %s(\d+) packets \((\d+) TCP\), (\d+) sessions, (\d+) bytes delivered, (\d+) gaps \((\d+) bytes\)" % (
        r"\d+ engines together: " if many else "")
    m = re.search(pat, txt)
    return m.groups() if m else None


pairs = sessions = 0
for line in open(sys.argv[1]):
    one, many, e1, en = line.split()
    a, b = load(one), load(many)
    if a != b:
        print("%s: differ: %d sessions vs %d" % (many, len(a), len(b)))
        for x, y in zip(a, b):
            if x != y:
                print(" one:  ", json.dumps(x, sort_keys=True)[:400])
                print(" many: ", json.dumps(y, sort_keys=True)[:400])
                break
        sys.exit(1)
    t1, tn = totals(e1, False), totals(en, True)
    if t1 is None or t1 != tn:
        print("%s: totals differ:" % many, t1, tn)
        sys.exit(1)
    pairs += 1
    sessions += len(a)
print("%d pairs, %d sessions, all the same" % (pairs, sessions))
