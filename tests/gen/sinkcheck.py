#!/usr/bin/env python3
"""sinkcheck.py — checks for the sink tests.

  sinkcheck.py books EVENTS [--sessions N]
      every sink_summary in EVENTS balances and is complete; prints the
      totals per direction and reason as KEY=VALUE lines
  sinkcheck.py jsonl FILE           every line is one JSON object
  sinkcheck.py suffix TRUTH GOT     GOT is a suffix of TRUTH (prints its offset)
  sinkcheck.py prefix-gap-suffix TRUTH GOT N
      GOT is TRUTH[:N] followed by a suffix of TRUTH (a late connector target)
  sinkcheck.py sorted FILE          lines of numbers (timestamps) never go down
  sinkcheck.py frames [--subset] [--bytes-only] IN OUT...  the frames of the OUT files
      (--subset: IN's frames are all among them) (pcap or pcapng,
      any order) are exactly IN's frames: same timestamps, same bytes
  sinkcheck.py event EVENTS NAME [KEY=VALUE...]
      prints the first event NAME whose flow/fields match (KEY!=VALUE: differ), as JSON
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def pcap_frames(path):
    """(ts_ns, bytes) of every frame; editcap turns any format into
    nanosecond pcap, read here."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "x.pcap")
        subprocess.run(["editcap", "-F", "nsecpcap", path, out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        b = open(out, "rb").read()
    magic = struct.unpack("<I", b[:4])[0]
    e = "<" if magic in (0xA1B23C4D, 0xA1B2C3D4) else ">"
    nano = struct.unpack(e + "I", b[:4])[0] == 0xA1B23C4D
    off, res = 24, []
    while off + 16 <= len(b):
        s, f, cl, ol = struct.unpack(e + "IIII", b[off:off + 16])
        res.append((s * 10**9 + (f if nano else f * 1000), b[off + 16:off + 16 + cl]))
        off += 16 + cl
    return res


def load(path):
    out = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def books(path, want_sessions=None):
    ev = [e for e in load(path) if e.get("event") == "sink_summary"]
    if want_sessions is not None and len(ev) != want_sessions:
        sys.exit("expected %d sink_summary events, found %d" % (want_sessions, len(ev)))
    tot = {}
    for e in ev:
        if not e.get("complete"):
            sys.exit("incomplete session: %s" % json.dumps(e))
        for d in ("requests", "responses"):
            b = e.get(d)
            if b is None:
                continue
            if not b.get("balanced"):
                sys.exit("books do not balance: %s" % json.dumps(e))
            drops = sum(b[k] for k in ("startup_buffer_full", "output_buffer_full",
                                       "consumer_absent", "no_ports", "shutdown_timeout"))
            if b["stream_bytes"] != b["delivered"] + drops + b["gap_bytes"] + b["sink_ring_full"]:
                sys.exit("equation fails: %s" % json.dumps(b))
            for k, v in b.items():
                if isinstance(v, int) and not isinstance(v, bool) and k != "port":
                    tot["%s.%s" % (d, k)] = tot.get("%s.%s" % (d, k), 0) + v
        p = e.get("pcap")
        if p is not None:
            if not p.get("balanced"):
                sys.exit("pcap books do not balance: %s" % json.dumps(e))
            for k, v in p.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    tot["pcap.%s" % k] = tot.get("pcap.%s" % k, 0) + v
    tot["sessions"] = len(ev)
    for k in sorted(tot):
        print("%s=%d" % (k, tot[k]))


def main():
    a = sys.argv[1:]
    if a[0] == "books":
        books(a[1], int(a[3]) if len(a) > 3 and a[2] == "--sessions" else None)
    elif a[0] == "jsonl":
        n = 0
        for i, line in enumerate(open(a[1], encoding="utf-8"), 1):
            o = json.loads(line)
            if not isinstance(o, dict) or not {"ts", "cat", "event"} <= o.keys():
                sys.exit("line %d is not an event object" % i)
            n += 1
        print(n)
    elif a[0] == "suffix":
        t, g = open(a[1], "rb").read(), open(a[2], "rb").read()
        if not t.endswith(g):
            sys.exit("not a suffix (%d of %d bytes)" % (len(g), len(t)))
        print(len(t) - len(g))
    elif a[0] == "prefix-gap-suffix":
        t, g, n = open(a[1], "rb").read(), open(a[2], "rb").read(), int(a[3])
        if g[:n] != t[:n] or not t.endswith(g[n:]):
            sys.exit("not prefix(%d) + suffix: %d of %d bytes" % (n, len(g), len(t)))
        print(len(t) - len(g))
    elif a[0] == "sorted":
        prev = None
        for i, line in enumerate(open(a[1]), 1):
            v = float(line.split()[0])
            if prev is not None and v < prev:
                sys.exit("line %d goes back in time: %s < %s" % (i, v, prev))
            prev = v
    elif a[0] == "frames":
        # --bytes-only: two captures of the same traffic (timestamps differ)
        subset = a[1] == "--subset"
        if subset:
            a = a[1:]
        key = (lambda fr: fr[1]) if a[1] == "--bytes-only" else (lambda fr: fr)
        if a[1] == "--bytes-only":
            a = a[1:]
        want = sorted(key(x) for x in pcap_frames(a[1]))
        got = []
        for f in a[2:]:
            got.extend(key(x) for x in pcap_frames(f))
        got.sort()
        if subset:
            from collections import Counter
            missing = Counter(want) - Counter(got)
            if missing:
                sys.exit("%d of the input's %d frames are not in the output" % (sum(missing.values()), len(want)))
            print(len(want))
            return
        if want != got:
            ws, gs = set(want), set(got)
            sys.exit("frames differ: %d in, %d out; %d only in the input, %d only in the output"
                     % (len(want), len(got), len(ws - gs), len(gs - ws)))
        print(len(got))
    elif a[0] == "event":
        want = [(kv.split("=", 1)[0].rstrip("!"), kv.split("=", 1)[1], "!=" in kv) for kv in a[3:]]
        for e in load(a[1]):
            if e.get("event") != a[2]:
                continue
            flat = dict(e)
            flat.update(e.get("flow", {}))
            if all((str(flat.get(k)) == v) != neg for k, v, neg in want):
                print(json.dumps(e))
                return
        sys.exit("no event %s with %s" % (a[2], want))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
