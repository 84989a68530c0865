#!/usr/bin/env python3
"""hepcheck.py CAPTURE RECEIVED.jsonl [--node N] [--auth A] [--known PREFIX]... [--tshark-out FILE]
              [tshark options...]

Checks what hepserver.py received from sinkd hep (fed by reasmd --voip on
CAPTURE) against tshark on CAPTURE: every SIP message tshark dissects
arrives once as a HEP type-1 packet with tshark's addresses, ports and
transport, its correlation id its Call-ID, and intact (its start line,
Call-ID and CSeq tshark's, its body as long as its Content-Length says);
nothing else arrives as SIP.  Every RTCP report (type 5) is JSON with
report blocks, correlated with a Call-ID of the capture.  Every packet
carries the node id (and password) given.  Exits 1 on a difference that
does not start with a --known PREFIX.  --tshark-out FILE keeps tshark's
view of CAPTURE in FILE and reads it from there when FILE exists (one
tshark run for several checks of the same capture).
"""
import collections
import json
import os
import re
import subprocess
import sys

cap, got_path, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
node, auth, known, extra, keep = None, None, [], [], None
while rest:
    if rest[0] in ("--node", "--auth", "--known", "--tshark-out") and len(rest) > 1:
        if rest[0] == "--tshark-out":
            keep = rest[1]
        elif rest[0] == "--node":
            node = int(rest[1])
        elif rest[0] == "--auth":
            auth = rest[1]
        else:
            known.append(rest[1])
        rest = rest[2:]
    else:
        extra.append(rest[0])
        rest = rest[1:]
bad = []


def split(v):
    return v.split("\x1f") if v else []


# tshark's SIP messages: one row per frame; several messages in a frame
# (TCP) are listed in order, joined by \x1f
if keep and os.path.exists(keep):
    out = open(keep).read()
else:
    out = subprocess.run(["tshark", "-n", "-r", cap] + extra + [
        "-Y", "sip", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f",
        "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
        "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.srcport", "-e", "tcp.dstport",
        "-e", "sip.Call-ID", "-e", "sip.CSeq", "-e", "sip.Request-Line", "-e", "sip.Status-Line"],
        capture_output=True, text=True, check=True).stdout
    if keep:
        with open(keep, "w") as k:
            k.write(out)
want = collections.Counter()
callids = set()
for line in out.splitlines():
    f = line.split("\t")
    while len(f) < 12:
        f.append("")
    # the innermost addresses (a tunnel's are listed first)
    src = (split(f[0]) or split(f[1]))[-1:]
    dst = (split(f[2]) or split(f[3]))[-1:]
    udp = bool(f[4])
    sport = split(f[4] or f[6])[-1:]
    dport = split(f[5] or f[7])[-1:]
    ids, cseqs = split(f[8]), split(f[9])
    firsts = split(f[10]) + split(f[11])
    # requests and statuses are listed apart: order them as the CSeqs go
    for k, cid in enumerate(ids):
        callids.add(cid)
        want[(cid, src[0] if src else "", int(sport[0]) if sport else 0, dst[0] if dst else "",
              int(dport[0]) if dport else 0, 17 if udp else 6, cseqs[k] if k < len(cseqs) else "")] += 1

got = collections.Counter()
firstlines = collections.Counter()
nrtcp = 0
for line in open(got_path):
    r = json.loads(line)
    if "error" in r:
        bad.append("a packet that does not decode: %s" % r["error"])
        continue
    if node is not None and r.get("node") != node:
        bad.append("node id %s, not %d" % (r.get("node"), node))
    if auth is not None and r.get("auth") != auth:
        bad.append("auth key %r, not %r" % (r.get("auth"), auth))
    if r.get("type") == 5:
        nrtcp += 1
        try:
            j = json.loads(r["payload"])
            assert "report_blocks" in j and "ssrc" in j
        except (ValueError, AssertionError, KeyError):
            bad.append("an RTCP report that is not Homer's JSON: %r" % r.get("payload", "")[:80])
        if r.get("corr") not in callids:
            bad.append("an RTCP report correlated with %r, no Call-ID of the capture" % r.get("corr"))
        continue
    if r.get("type") != 1:
        bad.append("a packet of type %s" % r.get("type"))
        continue
    p = r["payload"]
    head, sep, body = p.partition("\r\n\r\n")
    hdrs = {}
    for h in head.split("\r\n")[1:]:
        k, _, v = h.partition(":")
        hdrs.setdefault(k.strip().lower(), v.strip())
    cid = hdrs.get("call-id", hdrs.get("i", ""))
    cseq = re.sub(r"\s+", " ", hdrs.get("cseq", ""))
    cl = hdrs.get("content-length", hdrs.get("l"))
    if not sep or (cl is not None and int(cl) != len(body.encode("latin-1"))):
        bad.append("call %s: a message not intact (Content-Length %s, body %d bytes)" % (cid, cl, len(body)))
    if r.get("corr") != cid:
        bad.append("call %s: correlation id %r" % (cid, r.get("corr")))
    got[(cid, r.get("src"), r.get("sport"), r.get("dst"), r.get("dport"), r.get("proto"), cseq)] += 1

miss, more = want - got, got - want
for k in sorted(miss):
    bad.append("call %s: %d message(s) %s:%s -> %s:%s proto %s CSeq %s not received" % (
        k[0], miss[k], k[1], k[2], k[3], k[4], k[5], k[6]))
for k in sorted(more):
    bad.append("call %s: %d message(s) %s:%s -> %s:%s proto %s CSeq %s received, tshark has none" % (
        k[0], more[k], k[1], k[2], k[3], k[4], k[5], k[6]))
fail = False
for b in bad:
    k = any(b.startswith(p) for p in known)
    print(("known: " if k else "") + b)
    fail |= not k
print("%d SIP messages received (tshark: %d), %d RTCP reports, %d differences" % (
    sum(got.values()), sum(want.values()), nrtcp, len(bad)))
sys.exit(1 if fail else 0)
