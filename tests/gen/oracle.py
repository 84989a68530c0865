#!/usr/bin/env python3
"""oracle.py PCAP OUTDIR — compares reasmd -o OUTDIR with tshark's
`follow,tcp,raw` for every TCP stream of PCAP.

Streams are matched by endpoints and order (tshark numbers streams as they
appear, reasmd numbers sessions as they open).  Where tshark is known to be
wrong the stream is not compared with it, and the reason is printed (the
ground-truth test, check.py, covers those captures):
  - a capture gap: tshark's raw output at a hole is not the stream without
    the hole (it may carry a text marker);
  - bytes a peer sent after a RST: reasmd closes the session at the RST
    (late frames belong to the closed session, their bytes to no stream),
    tshark appends them;
  - a frame whose IP total length runs past the frame: tshark keeps bytes
    that are not in the datagram.
Prints one line per stream; exit 1 on any mismatch."""
import json
import os
import subprocess
import sys


def tshark_streams(pcap):
    ids = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True).stdout.split()
    ids = sorted({int(x) for x in ids if x.strip().isdigit()})
    if not ids:
        return []
    args = ["tshark", "-r", pcap, "-q"]
    for i in ids:
        args += ["-z", "follow,tcp,raw,%d" % i]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    streams, cur = [], None
    for line in out.split("\n"):
        if line.startswith("Follow: tcp,raw"):
            cur = {"nodes": [], "data": [bytearray(), bytearray()], "marker": False}
            streams.append(cur)
        elif cur is None or line.startswith("====="):
            continue
        elif line.startswith("Filter: tcp.stream eq "):
            cur["id"] = int(line.split()[-1])
        elif line.startswith("Node "):
            cur["nodes"].append(line.split(": ", 1)[1].strip())
        elif line.strip():
            side = 1 if line.startswith("\t") else 0
            h = line.strip()
            try:
                cur["data"][side].extend(bytes.fromhex(h))
            except ValueError:
                cur["marker"] = True
    streams.sort(key=lambda s: s["id"])
    return streams


def ep(ip, port):
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    lines = [json.loads(l) for l in open(os.path.join(out, "sessions.jsonl"))]
    lines.sort(key=lambda s: s["session_id"])
    used, bad, compared, excused = set(), 0, 0, 0
    # The accounting equation of DESIGN.md section 4, on every session.
    for s in lines:
        for d in ("requests", "responses"):
            c = s[d]
            if c["stream_bytes"] != c["bytes"] + c["gap_bytes"] or \
               os.path.getsize(os.path.join(out, c["file"])) != c["bytes"]:
                print("session %d %s: accounting: stream %d, delivered %d, gap %d, file %d" %
                      (s["session_id"], d, c["stream_bytes"], c["bytes"], c["gap_bytes"],
                       os.path.getsize(os.path.join(out, c["file"]))))
                bad += 1
    for st in tshark_streams(pcap):
        if len(st["nodes"]) != 2:
            continue
        n0, n1 = st["nodes"]
        fix = lambda n: n if n.startswith("[") or n.count(":") < 2 else "[%s]:%s" % tuple(n.rsplit(":", 1))
        n0, n1 = fix(n0), fix(n1)
        match = None
        for j, s in enumerate(lines):
            if j in used:
                continue
            c = ep(s["flow"]["client_ip"], s["flow"]["client_port"])
            v = ep(s["flow"]["server_ip"], s["flow"]["server_port"])
            if {c, v} == {n0, n1}:
                match = j
                break
        if match is None:
            if any(st["data"]):
                print("stream %d (%s - %s): no reasmd session" % (st["id"], n0, n1))
                bad += 1
            continue
        used.add(match)
        s = lines[match]
        c = ep(s["flow"]["client_ip"], s["flow"]["client_port"])
        want = {"requests": st["data"][0 if n0 == c else 1],
                "responses": st["data"][1 if n0 == c else 0]}
        gaps = s["requests"]["gap_bytes"] + s["responses"]["gap_bytes"]
        for d in ("requests", "responses"):
            got = open(os.path.join(out, s[d]["file"]), "rb").read()
            if got == bytes(want[d]):
                compared += 1
                continue
            if gaps or st["marker"]:
                print("stream %d %s: not compared: capture gap (tshark's raw output is not the stream at a hole)" % (st["id"], d))
                excused += 1
            elif s["reason"] == "rst" and bytes(want[d]).startswith(got):
                print("stream %d %s: not compared: %d bytes sent after the RST and its grace (tshark appends them)" %
                      (st["id"], d, len(want[d]) - len(got)))
                excused += 1
            else:
                at = next((x for x in range(min(len(got), len(want[d]))) if got[x] != want[d][x]),
                          min(len(got), len(want[d])))
                print("stream %d %s: reasmd %d bytes, tshark %d, first difference at %d" %
                      (st["id"], d, len(got), len(want[d]), at))
                bad += 1
    print("%s: %d directions equal to tshark, %d not comparable, %d differ" %
          (os.path.basename(pcap), compared, excused, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
