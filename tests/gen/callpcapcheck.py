#!/usr/bin/env python3
"""callpcapcheck.py CAPTURE DIR [--grace SEC] [--known PREFIX]... [tshark options...]

Checks the per-call pcap files in DIR (sinkd pcap --per-call, fed by
reasmd --voip on CAPTURE) against what tshark associates with each call on
CAPTURE itself:
  - SIP: every frame with a message of the call (sip.Call-ID), and every
    frame tshark reassembled such a message from (ip.fragment,
    ipv6.fragment, tcp.segment: a message split over fragments or
    segments; a segment with messages of two calls belongs to both);
  - media: every UDP frame to or from an endpoint the call's SDP named
    (c= address, m= port and the port above it for RTCP), from that SDP on,
    and no later than --grace seconds after the call's BYE when it had one;
    a frame whose both ends one call's SDP named is that call's only (an
    answerer that takes every call on one port);
  - one file per Call-ID tshark sees an INVITE for (its CSeq), none for
    another dialog, and each file's section comment is its call's summary.
Frames are compared as (timestamp, length) multisets: a missing and an
extra frame are each one line.  Exits 1 on any difference that does not
start with a --known PREFIX.
"""
import collections
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys

cap, d, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
grace, known, extra = 5.0, [], []
while rest:
    if rest[0] == "--known" and len(rest) > 1:
        known.append(rest[1])
        rest = rest[2:]
    elif rest[0] == "--grace" and len(rest) > 1:
        grace = float(rest[1])
        rest = rest[2:]
    else:
        extra.append(rest[0])
        rest = rest[1:]
bad = []


def file_view(path):
    """One tshark run on a call's file: every frame's (time, length), then
    its RTP streams as tshark finds them in the file alone."""
    return subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t",
                           "-e", "frame.time_epoch", "-e", "frame.cap_len", "-z", "rtp,streams"],
                          capture_output=True, text=True, check=True).stdout


# tshark's start costs most of this check's time: the files' runs go on
# beside the capture's, as many at once as there are cores
files = sorted(glob.glob(os.path.join(d, "*.pcap*")))
pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
views = {path: pool.submit(file_view, path) for path in files}


def tshark(path, args):
    return subprocess.run(["tshark", "-n", "-r", path] + extra + args,
                          capture_output=True, text=True, check=True).stdout


def split(v):
    return [x for x in v.split(",") if x] if v else []


# every frame of the capture: number -> (time, length, UDP endpoints)
frames = {}
out = tshark(cap, ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=l",
                   "-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.cap_len",
                   "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport",
                   "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport"])
for line in out.splitlines():
    f = line.split("\t")
    while len(f) < 9:
        f.append("")
    src = f[3] or f[4]
    dst = f[6] or f[7]
    frames[int(f[0])] = (f[1], f[2], (src, f[5]) if f[5] else None, (dst, f[8]) if f[8] else None)

# SIP: per frame its Call-IDs, the frames it was reassembled from, its SDP
calls = collections.defaultdict(lambda: {"sip": set(), "eps": [], "invite": False,
                                         "bye": None, "first_sdp": None})
out = tshark(cap, ["-Y", "sip", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
                   "-E", "aggregator=,",
                   "-e", "frame.number", "-e", "sip.Call-ID", "-e", "sip.CSeq.method",
                   "-e", "sip.Method", "-e", "ip.fragment", "-e", "ipv6.fragment",
                   "-e", "tcp.segment", "-e", "sdp.connection_info.address",
                   "-e", "sdp.media.port", "-e", "frame.time_epoch"])
for line in out.splitlines():
    f = line.split("\t")
    while len(f) < 10:
        f.append("")
    n = int(f[0])
    parts = {n} | {int(x) for x in split(f[4]) + split(f[5]) + split(f[6])}
    t = float(f[9])
    for k, cid in enumerate(split(f[1])):
        c = calls[cid]
        c["sip"] |= parts
        if "INVITE" in split(f[2]):
            c["invite"] = True
        if "BYE" in split(f[3]) and c["bye"] is None:
            c["bye"] = t
        addrs, ports = split(f[7]), split(f[8])
        if addrs and ports:
            for a in addrs:
                for p in ports:
                    if p != "0":
                        c["eps"] += [(a, p), (a, str(int(p) + 1))]
            if c["first_sdp"] is None:
                c["first_sdp"] = t


def key(n):
    return (frames[n][0], frames[n][1])


def in_window(c, t):
    end = c["bye"] + grace if c["bye"] is not None else float("inf")
    return c["eps"] and c["first_sdp"] <= float(t) <= end


# media: a frame goes to the calls whose SDP named both its ends, else to
# those that named its destination, else its source (one answerer port in
# several calls: the other end tells them apart)
media = collections.defaultdict(collections.Counter)
sipframes = set().union(*[c["sip"] for c in calls.values()]) if calls else set()
epsets = {cid: set(c["eps"]) for cid, c in calls.items()}
for n, (t, ln, s, dd) in frames.items():
    if n in sipframes or (s is None and dd is None):
        continue
    live = [cid for cid, c in calls.items() if in_window(c, t)]
    both = [cid for cid in live if s in epsets[cid] and dd in epsets[cid]]
    dst = [cid for cid in live if dd in epsets[cid]]
    src = [cid for cid in live if s in epsets[cid]]
    for cid in both or dst or src:
        media[cid][(t, ln)] += 1


def expected(cid, c):
    want = collections.Counter(key(n) for n in c["sip"] if n in frames)
    return want + media[cid]


seen = {}
for path in files:
    com = subprocess.run(["capinfos", "-k", path], capture_output=True, text=True).stdout
    js = com[com.find("{"):].strip() if "{" in com else ""
    try:
        summary = json.loads(js)
    except ValueError:
        bad.append("%s: no call summary in its comment" % os.path.basename(path))
        continue
    cid = summary["call_id"]
    out = views[path].result()
    stats = out.find("=====")
    if stats < 0:
        stats = len(out)
    frame_lines, out = out[:stats].splitlines(), out[stats:]
    got = collections.Counter()
    for line in frame_lines:
        t, ln = line.split("\t")
        got[(t, ln)] += 1
    seen.setdefault(cid, collections.Counter())
    seen[cid] += got
    if "-part" in os.path.basename(path) or "__continued." in path:
        continue	# a part of a rotated call: its streams span the parts
    theirs = {}
    for line in out.splitlines():
        # start end src sport dst dport ssrc payload(s, with spaces) pkts lost (x%) ...
        m = re.match(r"\s*\S+\s+\S+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+.*?\s(\d+)\s+-?\d+ \(", line)
        if m:
            theirs[("%s:%s" % (m[1], m[2]), "%s:%s" % (m[3], m[4]), int(m[5], 16))] = int(m[6])
    mine = {}
    for st in summary.get("rtp_streams") or []:
        src = st["src"].replace("[", "").replace("]", "")
        dst = st["dst"].replace("[", "").replace("]", "")
        mine[(src, dst, st["ssrc"])] = st["packets"]
    for k, v in sorted(mine.items()):
        if theirs.get(k) != v:
            bad.append("call %s: stream %s -> %s ssrc %d: %d packets, tshark on its file %s" % (
                cid, k[0], k[1], k[2], v, theirs.get(k)))
    for k in sorted(set(theirs) - set(mine)):
        bad.append("call %s: tshark finds stream %s -> %s ssrc %d (%d packets) in its file, "
                   "its summary does not" % (cid, k[0], k[1], k[2], theirs[k]))

for cid, c in sorted(calls.items()):
    if not c["invite"]:
        if cid in seen:
            bad.append("call %s: a file, but tshark saw no INVITE in it" % cid)
        continue
    if cid not in seen:
        bad.append("call %s: no file" % cid)
        continue
    want, got = expected(cid, c), seen[cid]
    miss, more = want - got, got - want
    if miss or more:
        bad.append("call %s: %d frames, tshark's %d: %d missing %s, %d extra %s" % (
            cid, sum(got.values()), sum(want.values()), sum(miss.values()),
            sorted(miss)[:4], sum(more.values()), sorted(more)[:4]))
for cid in seen:
    if cid not in calls:
        bad.append("call %s: a file, but tshark saw no such Call-ID" % cid)

fail = False
for b in bad:
    k = any(b.startswith(p) for p in known)
    print(("known: " if k else "") + b)
    fail |= not k
print("%s: %d calls with files, %d differences" % (os.path.basename(cap), len(seen), len(bad)))
sys.exit(1 if fail else 0)
