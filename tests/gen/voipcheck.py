#!/usr/bin/env python3
"""voipcheck.py CAPTURE CALLS.JSONL [--known PREFIX]... [tshark options...]

Cross-checks reasmd's calls.jsonl against tshark on the same capture:
  - every Call-ID tshark sees in an INVITE or REGISTER dialog is a call of
    ours (unless it only ever had other methods), with the same number of
    SIP messages (tshark's sip.Call-ID occurrences: every message on the
    wire, retransmissions included);
  - from_user and to_user are tshark's From/To user of the dialog's first
    INVITE request (else its first message);
  - every RTP stream of ours is one of tshark's `-z rtp,streams` (same
    source, destination and SSRC) with the same packets and loss, and its
    max and mean jitter within 10% or 0.5 ms.
Prints one line per difference and exits 1 if there is any; a difference
that starts with a --known PREFIX (explained where the test calls this) is
printed as known and does not fail.
"""
import json
import re
import subprocess
import sys

cap, calls_path, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
known, extra = [], []
while rest:
    if rest[0] == "--known" and len(rest) > 1:
        known.append(rest[1])
        rest = rest[2:]
    else:
        extra.append(rest[0])
        rest = rest[1:]
bad = []


def tshark(args):
    return subprocess.run(["tshark", "-n", "-r", cap] + extra + args, capture_output=True,
                          text=True, check=True).stdout


calls = [json.loads(l) for l in open(calls_path) if l.strip()]
# a call that timed out and went on is written again: its last line counts
ours = {}
for c in calls:
    if c["call_id"] is not None:
        ours[c["call_id"]] = [c]

# SIP: one row per frame; fields with several values (several messages in a
# TCP segment) are comma-separated in order
out = tshark(["-Y", "sip", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
              "-e", "sip.Call-ID", "-e", "sip.Method", "-e", "sip.CSeq.method",
              "-e", "sip.from.user", "-e", "sip.to.user"])
dialogs = {}
for line in out.splitlines():
    f = line.split("\t")
    while len(f) < 5:
        f.append("")
    ids = f[0].split(",") if f[0] else []
    cseqm = f[2].split(",") if f[2] else []
    meths = f[1].split(",") if f[1] else []
    froms = f[3].split(",") if f[3] else []
    tos = f[4].split(",") if f[4] else []
    mi = 0
    for k, cid in enumerate(ids):
        d = dialogs.setdefault(cid, {"n": 0, "methods": set(), "users": None, "invite_users": None})
        d["n"] += 1
        cm = cseqm[k] if k < len(cseqm) else ""
        d["methods"].add(cm)
        u = (froms[k] if k < len(froms) else "", tos[k] if k < len(tos) else "")
        if d["users"] is None:
            d["users"] = u
        # a request's method is listed only for requests: INVITE requests
        # are those whose CSeq method is INVITE and that carry a Method
        if cm == "INVITE" and mi < len(meths) and meths[mi] == "INVITE" and d["invite_users"] is None:
            d["invite_users"] = u

for cid, d in dialogs.items():
    if not ({"INVITE", "REGISTER"} & d["methods"]):
        continue
    mine = ours.get(cid)
    if not mine:
        bad.append("call %s: tshark has it (%d messages), calls.jsonl does not" % (cid, d["n"]))
        continue
    n = sum(c["sip_messages"] for c in mine)
    if n != d["n"]:
        bad.append("call %s: %d SIP messages, tshark %d" % (cid, n, d["n"]))
    want = d["invite_users"] or d["users"]
    got = (mine[0]["from_user"], mine[0]["to_user"])
    if want != got:
        bad.append("call %s: users %s, tshark %s" % (cid, got, want))

# RTP
out = tshark(["-q", "-z", "rtp,streams"])
ts = {}
row = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.+?)\s+(\d+)\s+(-?\d+)"
                 r" \([^)]*\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)")
for line in out.splitlines():
    m = row.match(line)
    if m:
        key = ("%s:%s" % (m.group(1), m.group(2)), "%s:%s" % (m.group(3), m.group(4)), int(m.group(5), 16))
        ts[key] = {"packets": int(m.group(7)), "lost": int(m.group(8)),
                   "mean": float(m.group(9)), "max": float(m.group(10))}


def close(a, b):
    return abs(a - b) <= max(0.5, 0.1 * abs(b))


for c in calls:
    for s in c["rtp_streams"]:
        def bare(e):
            return e.replace("[", "").replace("]", "") if e.startswith("[") else e
        key = (bare(s["src"]), bare(s["dst"]), s["ssrc"])
        t = ts.get(key)
        if t is None:
            bad.append("stream %s -> %s ssrc %d: not among tshark's RTP streams" % key)
            continue
        if s["packets"] != t["packets"] or s["lost"] != t["lost"]:
            bad.append("stream %s -> %s ssrc %d: %d packets %d lost, tshark %d and %d" %
                       (key + (s["packets"], s["lost"], t["packets"], t["lost"])))
        if not close(s["max_jitter_ms"], t["max"]) or not close(s["mean_jitter_ms"], t["mean"]):
            bad.append("stream %s -> %s ssrc %d: jitter max %.3f mean %.3f ms, tshark %.3f and %.3f" %
                       (key + (s["max_jitter_ms"], s["mean_jitter_ms"], t["max"], t["mean"])))

real = [b for b in bad if not any(b.startswith(k) for k in known)]
for b in bad:
    print(("known: " if b not in real else "") + b)
print("%d calls, %d tshark dialogs, %d tshark RTP streams, %d differences (%d known)" %
      (len(calls), len(dialogs), len(ts), len(real), len(bad) - len(real)))
sys.exit(1 if real else 0)
