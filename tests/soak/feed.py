#!/usr/bin/env python3
"""feed.py OUT SECONDS [--sessions N] [--call-every S] [--truth FILE] [--unpaced 1]

The soak's traffic: a pcap stream written to OUT (a FIFO the tap's capture
reads) for SECONDS of wall time, paced in real time, timestamps now:
N TCP sessions a second (default 20; handshake, a request and a response
of random sizes up to 32 kB each, FIN both ways; each on its own address
pair, so the shards share them) and every S seconds (default 2) a SIP call
over UDP (INVITE with SDP, 100, 180, 200 with SDP, ACK, G.711 RTP both
ways for 4 s at 50 packets a second, BYE, 200).  Addresses and ports are
never reused within 10 minutes.  At the end the truth goes to FILE (JSON):
sessions, their request and response bytes, calls, RTP packets.
--unpaced 1: as fast as it can, SECONDS of capture time from a fixed start
(a file to replay, or to profile an engine's memory over time with)."""
import json
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gen"))
from pcapgen import tcp_seg, ip_pkt, ether, SYN, ACK, FIN, PSH  # noqa: E402


def args():
    a = sys.argv[1:]
    if len(a) < 2 or a[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if a and a[0] in ("-h", "--help") else 2)
    o = {"out": a[0], "seconds": float(a[1]), "sessions": 20, "call_every": 2.0, "truth": None, "unpaced": 0}
    i = 2
    while i < len(a):
        k = a[i].lstrip("-").replace("-", "_")
        o[k] = type(o[k])(a[i + 1]) if o[k] is not None else a[i + 1]
        i += 2
    return o


def session_frames(t0, n, rng):
    """One TCP session's frames from t0; returns (frames, req, resp bytes)."""
    cli = ("10.1.%d.%d" % ((n >> 8) & 255, n & 255), 10000 + (n * 7) % 50000)
    srv = ("10.2.%d.1" % (n % 200), 80)
    req = rng.randbytes(rng.randint(1, 32768))
    resp = rng.randbytes(rng.randint(1, 32768))
    cs, ss = rng.getrandbits(32), rng.getrandbits(32)
    out = []
    t = [t0]

    def emit(c2s, seq, ack, flags, payload=b""):
        a, b = (cli, srv) if c2s else (srv, cli)
        t[0] += 0.0002
        out.append((t[0], ether(ip_pkt(a[0], b[0], tcp_seg(a[0], b[0], a[1], b[1], seq & 0xFFFFFFFF,
                                                           ack & 0xFFFFFFFF, flags, payload)))))
    emit(True, cs, 0, SYN)
    emit(False, ss, cs + 1, SYN | ACK)
    cs += 1
    ss += 1
    emit(True, cs, ss, ACK)
    for i in range(0, len(req), 1460):
        emit(True, cs + i, ss, PSH | ACK, req[i:i + 1460])
    cs += len(req)
    emit(False, ss, cs, ACK)
    for i in range(0, len(resp), 1460):
        emit(False, ss + i, cs, PSH | ACK, resp[i:i + 1460])
    ss += len(resp)
    emit(True, cs, ss, FIN | ACK)
    emit(False, ss, cs + 1, FIN | ACK)
    emit(True, cs + 1, ss + 1, ACK)
    return out, len(req), len(resp)


def udp(t, src, dst, payload):
    l4 = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    return (t, ether(ip_pkt(src[0], dst[0], l4, proto=17)))


def sip(first, cid, cseq, frm, to, body=b""):
    h = ("%s\r\nVia: SIP/2.0/UDP 10.3.0.1:5060;branch=z9hG4bK%s%d\r\n"
         "From: <sip:alice@soak.example>;tag=a1\r\nTo: <sip:bob@soak.example>%s\r\n"
         "Call-ID: %s\r\nCSeq: %s\r\nContact: <sip:%s:5060>\r\n%sContent-Length: %d\r\n\r\n" % (
             first, cid[:8], len(cseq), "" if first.startswith("INVITE") else ";tag=b1",
             cid, cseq, frm, "Content-Type: application/sdp\r\n" if body else "", len(body)))
    return h.encode() + body


def sdp(ip, port):
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n" % (ip, ip, port)).encode()


def call_frames(t0, n, rng):
    a, b = ("10.3.0.1", 5060), ("10.3.0.2", 5060)
    cid = "soak-%d-%08x@10.3.0.1" % (n, rng.getrandbits(32))
    pa, pb = 20000 + 2 * (n % 10000), 40000 + 2 * (n % 10000)
    f = [udp(t0, a, b, sip("INVITE sip:bob@10.3.0.2 SIP/2.0", cid, "1 INVITE", a[0], "bob", sdp(a[0], pa))),
         udp(t0 + 0.01, b, a, sip("SIP/2.0 100 Trying", cid, "1 INVITE", b[0], "bob")),
         udp(t0 + 0.05, b, a, sip("SIP/2.0 180 Ringing", cid, "1 INVITE", b[0], "bob")),
         udp(t0 + 0.3, b, a, sip("SIP/2.0 200 OK", cid, "1 INVITE", b[0], "bob", sdp(b[0], pb))),
         udp(t0 + 0.31, a, b, sip("ACK sip:bob@10.3.0.2 SIP/2.0", cid, "1 ACK", a[0], "bob"))]
    ssa, ssb = rng.getrandbits(32), rng.getrandbits(32)
    rtp = 0
    for k in range(200):
        t = t0 + 0.32 + k * 0.02
        pay = bytes([0xD5]) * 160
        for src, dst, ssrc in (((a[0], pa), (b[0], pb), ssa), ((b[0], pb), (a[0], pa), ssb)):
            hdr = struct.pack("!BBHII", 0x80, 8, k & 0xFFFF, (k * 160) & 0xFFFFFFFF, ssrc)
            f.append(udp(t + (0.001 if ssrc == ssb else 0), src, dst, hdr + pay))
            rtp += 1
    te = t0 + 0.32 + 200 * 0.02 + 0.05
    f.append(udp(te, a, b, sip("BYE sip:bob@10.3.0.2 SIP/2.0", cid, "2 BYE", a[0], "bob")))
    f.append(udp(te + 0.02, b, a, sip("SIP/2.0 200 OK", cid, "2 BYE", b[0], "bob")))
    return f, rtp


def main():
    o = args()
    rng = random.Random(1)
    out = open(o["out"], "wb", buffering=1 << 20)
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    truth = {"sessions": 0, "requests_bytes": 0, "responses_bytes": 0, "calls": 0, "rtp_packets": 0}
    clock = [1767225600.0]

    def now_fn():
        if o["unpaced"]:
            clock[0] += 0.05
            return clock[0]
        return time.time()
    start = now_fn()
    pending = []		# (ts, frame), not yet due
    nsess = ncall = 0
    next_call = start
    sec = start
    while True:
        now = now_fn()
        if now - start < o["seconds"]:
            # what starts in the coming 100 ms
            while sec < now + 0.1:
                for k in range(int(o["sessions"] * 0.1 + rng.random())):
                    f, q, r = session_frames(sec + rng.random() * 0.1, nsess, rng)
                    nsess += 1
                    truth["requests_bytes"] += q
                    truth["responses_bytes"] += r
                    pending += f
                if o["call_every"] > 0 and sec >= next_call:
                    f, n = call_frames(sec, ncall, rng)
                    ncall += 1
                    truth["rtp_packets"] += n
                    pending += f
                    next_call += o["call_every"]
                sec += 0.1
        elif not pending:
            break
        pending.sort(key=lambda x: x[0])
        due = 0
        while due < len(pending) and pending[due][0] <= now:
            due += 1
        for ts, fr in pending[:due]:
            us = int(ts * 1e6)
            out.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(fr), len(fr)) + fr)
        del pending[:due]
        out.flush()
        if not o["unpaced"]:
            time.sleep(0.02)
    out.close()
    truth["sessions"], truth["calls"] = nsess, ncall
    if o["truth"]:
        json.dump(truth, open(o["truth"], "w"))
    print(json.dumps(truth))


main()
