#!/usr/bin/env python3
"""check.py EXPECT.json OUTDIR [PLAIN_OUTDIR] — compares reasmd -o OUTDIR
with the ground truth pcapgen.py wrote: every session's bytes per
direction, close reason, gap bytes and role_guessed, and the accounting
equation of DESIGN.md section 4 (stream bytes = delivered + gap, nothing
in flight once closed) on every line of sessions.jsonl.

With PLAIN_OUTDIR (the same case in its plain capture order), OUTDIR is a
re-timed variant: its counters must tell the same story: the same
retransmitted_bytes per session and direction (only copies of delivered
bytes count), no late_after_gap_bytes (no gap was committed early).
Prints what differs; exit 1 if anything."""
import json
import os
import sys


def ep(ip, port):
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def main():
    exp = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    lines = [json.loads(l) for l in open(os.path.join(out, "sessions.jsonl"))]
    plain = None
    if len(sys.argv) > 3:
        # The plain order's lines, matched to the expected sessions the same way.
        pl = [json.loads(l) for l in open(os.path.join(sys.argv[3], "sessions.jsonl"))]
        plain, taken = [], set()
        for e in exp["sessions"]:
            j = next((j for j, s in enumerate(pl) if j not in taken and
                      ep(s["flow"]["client_ip"], s["flow"]["client_port"]) == e["client"] and
                      ep(s["flow"]["server_ip"], s["flow"]["server_port"]) == e["server"]), None)
            taken.add(j)
            plain.append(pl[j] if j is not None else None)
    bad = []
    for s in lines:
        for d in ("requests", "responses"):
            c = s[d]
            if c["stream_bytes"] != c["bytes"] + c["gap_bytes"]:
                bad.append("session %d %s: stream_bytes %d != bytes %d + gap_bytes %d" %
                           (s["session_id"], d, c["stream_bytes"], c["bytes"], c["gap_bytes"]))
            size = os.path.getsize(os.path.join(out, c["file"]))
            if size != c["bytes"]:
                bad.append("session %d %s: file has %d bytes, line says %d" %
                           (s["session_id"], d, size, c["bytes"]))
    used = set()
    for i, e in enumerate(exp["sessions"]):
        match = None
        for j, s in enumerate(lines):
            f = s["flow"]
            if j in used:
                continue
            if ep(f["client_ip"], f["client_port"]) == e["client"] and \
               ep(f["server_ip"], f["server_port"]) == e["server"]:
                match = j
                break
        if match is None:
            bad.append("expected session %d (%s -> %s) not found" % (i, e["client"], e["server"]))
            continue
        used.add(match)
        s = lines[match]
        for k, d in enumerate(("requests", "responses")):
            got = open(os.path.join(out, s[d]["file"]), "rb").read()
            want = bytes.fromhex(e[d])
            if got != want:
                at = next((x for x in range(min(len(got), len(want))) if got[x] != want[x]),
                          min(len(got), len(want)))
                bad.append("session %d %s: %d bytes, expected %d, first difference at %d" %
                           (i, d, len(got), len(want), at))
            if s[d]["gap_bytes"] != e["gap_bytes"][k]:
                bad.append("session %d %s: gap_bytes %d, expected %d" %
                           (i, d, s[d]["gap_bytes"], e["gap_bytes"][k]))
        if s["reason"] != e["reason"]:
            bad.append("session %d: reason %s, expected %s" % (i, s["reason"], e["reason"]))
        if s["flow"]["role_guessed"] != e["role_guessed"]:
            bad.append("session %d: role_guessed %s, expected %s" %
                       (i, s["flow"]["role_guessed"], e["role_guessed"]))
        if plain is not None:
            p = plain[i]
            for d in ("requests", "responses"):
                if p is not None and s[d]["retransmitted_bytes"] != p[d]["retransmitted_bytes"]:
                    bad.append("session %d %s: retransmitted_bytes %d, %d in the plain order" %
                               (i, d, s[d]["retransmitted_bytes"], p[d]["retransmitted_bytes"]))
                if s[d]["late_after_gap_bytes"] != 0:
                    bad.append("session %d %s: late_after_gap_bytes %d" %
                               (i, d, s[d]["late_after_gap_bytes"]))
    extra = [lines[j]["session_id"] for j in range(len(lines)) if j not in used]
    if extra:
        bad.append("unexpected sessions: %s" % extra)
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
