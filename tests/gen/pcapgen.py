#!/usr/bin/env python3
"""pcapgen.py — writes capture files for each reassembly behaviour, with
the exact bytes each side sent (ground truth).

    pcapgen.py OUTDIR            every case: OUTDIR/NAME.pcap + NAME.expect.json
    pcapgen.py --bench-bulk F    the bulk benchmark capture (see --help)
    pcapgen.py --counters F TAIL     many counters move, then TAIL quiet seconds
    pcapgen.py --paced F SECONDS BYTES [LEAD]   one session lasting SECONDS of capture
                                 time (for paced replays), truth in F.requests/.responses

Every case is also written in other capture orders, against the same
truth: NAME.late-client-0.5ms.pcap and NAME.late-client-5.5ms.pcap have every
frame the clients sent that much later, re-sorted by timestamp (order within
each direction kept), so the servers' ACKs reach the capture before the data
they acknowledge (two taps, a SPAN port, one side timestamped late); the
same for the servers (late-server-*).

NAME.expect.json lists the sessions in the order they close:
  {"sessions": [{"client": "ip:port", "server": "ip:port",
                 "requests": HEX, "responses": HEX, "reason": "fin",
                 "gap_bytes": [req, resp], "role_guessed": false}], "config": {...}}
The generator is the project's own; it writes frames byte by byte.
"""
import json
import os
import random
import struct
import sys

DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL = 1, 101, 113
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Pcap:
    """A capture file; frames are kept (with the side that sent them) and
    written at close, so that the same capture can also be written in
    other capture orders (variant)."""

    def __init__(self, path, dlt=DLT_EN10MB, snaplen=262144):
        self.path = path
        self.dlt = dlt
        self.snaplen = snaplen
        self.frames = []

    def frame(self, ts, data, origlen=None, side=None):
        self.frames.append((ts, data, origlen, side))

    def write(self, path, frames):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, self.dlt))
            for ts, data, origlen, _ in frames:
                cap = data[: self.snaplen]
                us = int(round(ts * 1e6))
                f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(cap),
                                    origlen if origlen is not None else len(data)))
                f.write(cap)

    def variant(self, side, delay):
        """The frames with those of `side` ("client"/"server") `delay`
        seconds later, in timestamp order (stable: each side keeps its own)."""
        moved = [(ts + delay if sd == side else ts, data, ol, sd) for ts, data, ol, sd in self.frames]
        return sorted(moved, key=lambda f: f[0])

    def close(self, variants=False):
        self.write(self.path, self.frames)
        if variants:
            base = self.path[:-len(".pcap")]
            for side, delay in VARIANTS:
                self.write("%s.late-%s-%gms.pcap" % (base, side, delay * 1000),
                           self.variant(side, delay))


# The capture orders every generated case is also written in.
VARIANTS = [(side, d) for side in ("client", "server") for d in (0.0005, 0.0055)]


def ip_bytes(a):
    import ipaddress
    return ipaddress.ip_address(a).packed


def tcp_seg(src, dst, sport, dport, seq, ack, flags, payload=b"", opts=b"", win=65535):
    off = 20 + len(opts)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (off // 4) << 4, flags, win, 0, 0) + opts
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    else:
        pseudo = s + d + struct.pack("!IxxxB", len(hdr) + len(payload), 6)
    c = csum(pseudo + hdr + payload)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    return hdr + payload


def ip_pkt(src, dst, l4, proto=6, ident=1, frag_off=0, mf=False, totlen=None):
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        tot = 20 + len(l4) if totlen is None else totlen
        fl = (0x2000 if mf else 0) | (frag_off // 8)
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, ident, fl, 64, proto, 0, s, d)
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return h + l4
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, 64, s, d) + l4


def ether(ipb, v6=False, vlan=None):
    et = 0x86DD if v6 else 0x0800
    h = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01"
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", et) + ipb


class Conn:
    """A TCP connection whose frames go into a Pcap, with the truth kept."""

    def __init__(self, pc, cli, srv, cisn=1000, sisn=5000, v6=False, link="eth", vlan=None):
        self.pc, self.cli, self.srv = pc, cli, srv
        self.v6, self.link, self.vlan = v6, link, vlan
        self.cseq, self.sseq = cisn, sisn
        self.req, self.resp = bytearray(), bytearray()
        self.t = 1700000000.0

    def tick(self, dt=0.001):
        self.t += dt
        return self.t

    def raw(self, from_client, seq, ack, flags, payload=b"", opts=b"", frame_hook=None, origlen_extra=0, ts=None):
        a, b = (self.cli, self.srv) if from_client else (self.srv, self.cli)
        l4 = tcp_seg(a[0], b[0], a[1], b[1], seq, ack, flags, payload, opts)
        ipb = ip_pkt(a[0], b[0], l4)
        if self.link == "eth":
            fr = ether(ipb, self.v6, self.vlan)
        elif self.link == "sll":
            fr = struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x86DD if self.v6 else 0x0800) + ipb
        else:
            fr = ipb
        if frame_hook:
            fr = frame_hook(fr)
        self.pc.frame(self.tick() if ts is None else ts, fr, side="client" if from_client else "server")
        return fr

    def handshake(self, opts=b""):
        self.raw(True, self.cseq, 0, SYN, opts=opts)
        self.raw(False, self.sseq, self.cseq + 1, SYN | ACK, opts=opts)
        self.cseq += 1
        self.sseq += 1
        self.raw(True, self.cseq, self.sseq, ACK)

    def send(self, from_client, data, mss=1460, emit=True, record=True):
        """Sends data in MSS segments; returns the list of (seq, chunk)."""
        segs = []
        for i in range(0, len(data), mss):
            ch = data[i:i + mss]
            if from_client:
                segs.append((self.cseq, ch))
                self.cseq += len(ch)
            else:
                segs.append((self.sseq, ch))
                self.sseq += len(ch)
        if record:
            (self.req if from_client else self.resp).extend(data)
        if emit:
            for seq, ch in segs:
                self.seg(from_client, seq, ch)
        return segs

    def seg(self, from_client, seq, ch, flags=PSH | ACK):
        ack = self.sseq if from_client else self.cseq
        self.raw(from_client, seq, ack, flags, ch)

    def ack(self, from_client):
        self.raw(from_client, self.cseq if from_client else self.sseq,
                 self.sseq if from_client else self.cseq, ACK)

    def fin(self, from_client):
        seq = self.cseq if from_client else self.sseq
        self.raw(from_client, seq, self.sseq if from_client else self.cseq, FIN | ACK)
        if from_client:
            self.cseq += 1
        else:
            self.sseq += 1

    def close(self):
        self.fin(True)
        self.fin(False)
        self.ack(True)

    def truth(self, reason="fin", gaps=(0, 0), guessed=False, req=None, resp=None):
        fmt = (lambda h: "[%s]:%d" % h) if self.v6 else (lambda h: "%s:%d" % h)
        return {"client": fmt(self.cli), "server": fmt(self.srv),
                "requests": bytes(self.req if req is None else req).hex(),
                "responses": bytes(self.resp if resp is None else resp).hex(),
                "reason": reason, "gap_bytes": list(gaps), "role_guessed": guessed}


def rnd(n, seed):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


C = ("10.0.0.1", 40000)
S = ("10.0.0.2", 80)


def case_basic(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c.ack(False)
    c.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + rnd(5000, 1))
    c.ack(True)
    c.close()
    return [c.truth()]


def case_out_of_order(pc):
    c = Conn(pc, C, S)
    c.handshake()
    segs = c.send(False, rnd(10 * 1460, 2), emit=False)
    order = [0, 2, 1, 4, 3, 9, 8, 7, 6, 5]
    for i in order:
        c.seg(False, *segs[i])
    c.send(True, b"thanks")
    c.close()
    return [c.truth()]


def case_retransmit_overlap(pc):
    c = Conn(pc, C, S)
    c.handshake()
    data = rnd(6000, 3)
    segs = c.send(True, data, mss=1000, emit=False)
    c.seg(True, *segs[0])
    c.seg(True, *segs[0])                       # exact duplicate
    c.seg(True, *segs[2])                       # ooo
    c.seg(True, segs[2][0] + 100, b"X" * 500)   # conflicting overlap of held bytes: first copy wins
    c.seg(True, *segs[1])
    c.seg(True, segs[1][0] + 500, data[1500:2500])  # overlapping retransmission across 2 segments
    for s in segs[3:]:
        c.seg(True, *s)
    c.seg(True, segs[3][0], b"Y" * 1000)        # conflicting retransmission of delivered bytes
    c.send(False, b"ok")
    c.close()
    return [c.truth()]


def case_seq_wrap(pc):
    c = Conn(pc, C, S, cisn=0xFFFFF000, sisn=0xFFFFFFF0)
    c.handshake()
    c.send(True, rnd(20000, 4))
    c.send(False, rnd(30000, 5))
    c.close()
    return [c.truth()]


def case_syn_with_data(pc):
    c = Conn(pc, C, S)
    c.raw(True, c.cseq, 0, SYN, b"early data")       # TFO-style: data on the SYN
    c.req.extend(b"early data")
    c.raw(False, c.sseq, c.cseq + 1 + 10, SYN | ACK)
    c.cseq += 1 + 10
    c.sseq += 1
    c.ack(True)
    c.send(True, b" and more")
    c.send(False, b"reply")
    c.close()
    return [c.truth()]


def case_keepalive_zero_window(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"hello")
    c.ack(False)
    c.raw(True, c.cseq - 1, c.sseq, ACK, b"\x00")    # keep-alive: seq-1, one garbage byte
    c.raw(True, c.cseq - 1, c.sseq, ACK)              # keep-alive without data
    # zero-window probe: the next byte, sent alone, then again with the rest
    data = b"ABCDEFGHIJ"
    c.raw(True, c.cseq, c.sseq, ACK, data[:1])
    c.raw(True, c.cseq, c.sseq, ACK, data[:1])
    c.raw(True, c.cseq, c.sseq, PSH | ACK, data)
    c.cseq += len(data)
    c.req.extend(data)
    c.send(False, b"bye")
    c.close()
    return [c.truth()]


def case_offload_large(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"PUT /big\r\n\r\n")
    c.send(False, rnd(3 * 60000 + 123, 6), mss=60000)  # GSO-sized segments
    c.close()
    return [c.truth()]


def case_gap_acked(pc):
    c = Conn(pc, C, S)
    c.handshake()
    data = rnd(8000, 7)
    segs = c.send(False, data, mss=1000, emit=False)
    for i, s in enumerate(segs):
        if i in (2, 5):
            continue        # the capture missed these
        c.seg(False, *s)
    c.ack(True)             # the client acknowledges everything: holes were received
    c.send(True, b"more please")
    c.close()
    got = data[:2000] + data[3000:5000] + data[6000:]
    return [c.truth(gaps=(0, 2000), resp=got)]


def case_midstream(pc):
    c = Conn(pc, ("10.0.0.9", 51515), ("10.0.0.2", 443), cisn=777, sisn=999)
    # no handshake: the server speaks first in this capture
    c.send(False, b"server data first")
    c.send(True, b"client data")
    c.close()
    return [c.truth(guessed=True)]


def case_half_close(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"request, then I close my side")
    c.fin(True)
    c.send(False, rnd(4000, 8))      # the server keeps sending after the client's FIN
    c.ack(True)
    c.fin(False)
    c.ack(True)
    return [c.truth()]


def case_rst(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"abort me")
    c.send(False, b"partial")
    c.raw(False, c.sseq, c.cseq, RST | ACK)
    c.t += 0.05
    # The client's bytes still in flight when the server reset (it had not
    # got the RST yet): they were sent, and they are delivered (within
    # gap_grace_ms of the RST, as tshark does).
    c.send(True, b"in flight")
    c.raw(False, c.sseq + 5, c.cseq, RST)       # bytes of the resetting side after its RST: none
    c.t += 5                                    # beyond the grace: a stray segment, no session
    c.send(True, b"after the grace", record=False)
    return [c.truth(reason="rst")]


def case_port_reuse(pc):
    c1 = Conn(pc, C, S)
    c1.handshake()
    c1.send(True, b"first connection")
    c1.send(False, b"first reply")
    c1.close()
    c2 = Conn(pc, C, S, cisn=900000, sisn=12345)
    c2.t = c1.t
    c2.handshake()
    c2.send(True, b"second connection, same ports")
    c2.send(False, b"second reply")
    c2.close()
    return [c1.truth(), c2.truth()]


def case_idle_timeout(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"then silence")
    c.t += 200          # beyond session_idle_sec (120): the session times out
    other = Conn(pc, ("10.0.0.3", 40001), S)
    other.t = c.t
    other.handshake()
    other.send(True, b"x")
    other.close()
    return [c.truth(reason="idle_timeout"), other.truth()]


def case_ipv6_vlan_sll(pc_unused):
    return None


def case_malformed(pc):
    c = Conn(pc, C, S)
    c.handshake()
    c.send(True, b"good bytes 1")

    def bad_thl(fr):
        b = bytearray(fr)
        b[14 + 20 + 12] = 0x10            # TCP data offset 4 bytes
        return bytes(b)

    def trunc(fr):
        return fr[:14 + 10]                # IP header cut short

    def bad_iplen(fr):
        b = bytearray(fr)
        struct.pack_into("!H", b, 14 + 2, 10)
        return bytes(b)

    c.raw(True, c.cseq, c.sseq, ACK, b"evil", frame_hook=bad_thl)
    c.raw(True, c.cseq, c.sseq, ACK, b"evil", frame_hook=trunc)
    c.raw(True, c.cseq, c.sseq, ACK, b"evil", frame_hook=bad_iplen)
    c.send(True, b" good bytes 2")
    c.send(False, b"fine")
    c.close()
    return [c.truth()]


def case_snaplen(pc_unused):
    return None


CASES = {
    "basic": case_basic, "out_of_order": case_out_of_order,
    "retransmit_overlap": case_retransmit_overlap, "seq_wrap": case_seq_wrap,
    "syn_with_data": case_syn_with_data, "keepalive_zero_window": case_keepalive_zero_window,
    "offload_large": case_offload_large, "gap_acked": case_gap_acked,
    "midstream": case_midstream, "half_close": case_half_close, "rst": case_rst,
    "port_reuse": case_port_reuse, "idle_timeout": case_idle_timeout,
    "malformed": case_malformed,
}


def special_cases(out):
    # IPv6 over VLAN, and IPv4 over Linux cooked capture.
    pc = Pcap(os.path.join(out, "ipv6_vlan.pcap"))
    c = Conn(pc, ("2001:db8::1", 40000), ("2001:db8::2", 8080), v6=True, vlan=42)
    c.handshake()
    c.send(True, rnd(3000, 9))
    c.send(False, rnd(2000, 10))
    c.close()
    pc.close(variants=True)
    json.dump({"sessions": [c.truth()]}, open(os.path.join(out, "ipv6_vlan.expect.json"), "w"))

    pc = Pcap(os.path.join(out, "linux_sll.pcap"), dlt=DLT_LINUX_SLL)
    c = Conn(pc, C, S, link="sll")
    c.handshake()
    c.send(True, b"cooked")
    c.send(False, b"capture")
    c.close()
    pc.close(variants=True)
    json.dump({"sessions": [c.truth()]}, open(os.path.join(out, "linux_sll.expect.json"), "w"))

    # Snaplen: frames cut at 100 bytes; the missing bytes are gaps.
    pc = Pcap(os.path.join(out, "snaplen.pcap"), snaplen=100)
    c = Conn(pc, C, S)
    c.handshake()
    data = rnd(3000, 11)
    c.send(False, data, mss=1000)
    c.close()
    pc.close(variants=True)
    keep = 100 - 14 - 20 - 20
    got = data[0:keep] + data[1000:1000 + keep] + data[2000:2000 + keep]
    json.dump({"sessions": [c.truth(gaps=(0, 3000 - 3 * keep), resp=got)]},
              open(os.path.join(out, "snaplen.expect.json"), "w"))

    # ooo limit: a hole never filled, more buffered than reasm.ooo_bytes_per_dir.
    pc = Pcap(os.path.join(out, "ooo_limit.pcap"))
    c = Conn(pc, C, S)
    c.handshake()
    data = rnd(40000, 12)
    segs = c.send(True, data, mss=1000, emit=False)
    for s in segs[1:]:
        c.seg(True, *s)     # segment 0 never arrives and nothing ACKs it
    c.close()
    pc.close(variants=True)
    json.dump({"sessions": [c.truth(gaps=(1000, 0), req=data[1000:])],
               "config": "{reasm:{ooo_bytes_per_dir:8192}}"},
              open(os.path.join(out, "ooo_limit.expect.json"), "w"))

    # A tunnel one way only: the clients' frames come inside IP in IP
    # (one outer address pair for all), the servers' answers bare, as in
    # sngrep-ipip; the clients' larger segments overflow the tunnel's MTU
    # and their outer datagrams come in fragments (in order).  Engines
    # (--shards, capd's shards) must deal a flow by its inner pair.
    pc = Pcap(os.path.join(out, "tunnel_one_way.pcap"))
    conns = []
    for i in range(8):
        c = Conn(pc, ("10.20.%d.1" % i, 41000 + i), ("10.30.%d.2" % i, 8000 + i), cisn=1000 + i * 100000)
        conns.append(c)
    def tunnelled(fr, ident=[900]):
        inner = fr[14:]
        ident[0] += 1
        if len(inner) <= 1480:
            return [ether(ip_pkt("203.0.113.1", "203.0.113.2", inner, proto=4, ident=ident[0]))]
        frs, off = [], 0
        while off < len(inner):
            end = min(len(inner), off + 1480)
            frs.append(ether(ip_pkt("203.0.113.1", "203.0.113.2", inner[off:end], proto=4,
                                    ident=ident[0], frag_off=off, mf=end < len(inner),
                                    totlen=20 + end - off)))
            off = end
        return frs
    for c in conns:
        c.tick = conns[0].tick		# one clock: the file in time order
        orig = c.raw
        def raw(from_client, seq, ack, flags, payload=b"", opts=b"", frame_hook=None, origlen_extra=0,
                ts=None, c=c, orig=orig):
            if not from_client:
                return orig(from_client, seq, ack, flags, payload, opts, frame_hook, origlen_extra, ts)
            fr = ether(ip_pkt(c.cli[0], c.srv[0], tcp_seg(c.cli[0], c.srv[0], c.cli[1], c.srv[1],
                                                       seq, ack, flags, payload, opts)))
            for f in tunnelled(fr):
                pc.frame(c.tick() if ts is None else ts, f, side="client")
            return fr
        c.raw = raw
    for c in conns:
        c.handshake()
    for r in range(3):
        for i, c in enumerate(conns):
            c.send(True, rnd(500 + 2500 * (i % 2), 40 + i * 3 + r), mss=3000)
            c.send(False, rnd(2000 + i * 7, 80 + i * 3 + r))
    for c in conns:
        c.close()
    pc.close(variants=True)
    json.dump({"sessions": [c.truth() for c in conns]},
              open(os.path.join(out, "tunnel_one_way.expect.json"), "w"))

    # IPv4 fragments of TCP segments, in order and out of order.
    pc = Pcap(os.path.join(out, "ipv4_fragments.pcap"))
    c = Conn(pc, C, S)
    c.handshake()
    data = rnd(3000, 13)
    c.req.extend(data)
    l4 = tcp_seg(C[0], S[0], C[1], S[1], c.cseq, c.sseq, PSH | ACK, data)
    c.cseq += len(data)
    pieces = [(0, 1200), (1200, 2400), (2400, len(l4))]
    for idx in (0, 2, 1):
        a, b = pieces[idx]
        pc.frame(c.tick(), ether(ip_pkt(C[0], S[0], l4[a:b], ident=77, frag_off=a, mf=b < len(l4))),
                 side="client")
    c.send(False, b"got it")
    c.close()
    pc.close(variants=True)
    json.dump({"sessions": [c.truth()]}, open(os.path.join(out, "ipv4_fragments.expect.json"), "w"))


def demo(path):
    """A small HTTP exchange and a SIP call set up over TCP."""
    pc = Pcap(path)
    h = Conn(pc, ("192.0.2.10", 51000), ("192.0.2.80", 80))
    h.handshake()
    h.send(True, b"GET /hello.txt HTTP/1.1\r\nHost: demo.example\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n")
    h.ack(False)
    body = b"Hello from the stethoscope demo.\n"
    h.send(False, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    h.ack(True)
    h.close()
    s = Conn(pc, ("192.0.2.20", 5062), ("192.0.2.60", 5060))
    s.t = h.t
    s.handshake()
    sdp = b"v=0\r\no=alice 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    hdr = (b"Via: SIP/2.0/TCP 192.0.2.20:5062;branch=z9hG4bK1\r\nFrom: <sip:alice@demo.example>;tag=a1\r\n"
           b"To: <sip:bob@demo.example>\r\nCall-ID: demo-call-1\r\n")
    s.send(True, b"INVITE sip:bob@demo.example SIP/2.0\r\n" + hdr + b"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(sdp) + sdp)
    s.send(False, b"SIP/2.0 100 Trying\r\n" + hdr + b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    s.send(False, b"SIP/2.0 200 OK\r\n" + hdr.replace(b"bob@demo.example>", b"bob@demo.example>;tag=b2") + b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    s.send(True, b"ACK sip:bob@demo.example SIP/2.0\r\n" + hdr + b"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    s.t += 2
    s.send(True, b"BYE sip:bob@demo.example SIP/2.0\r\n" + hdr + b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
    s.send(False, b"SIP/2.0 200 OK\r\n" + hdr + b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
    s.close()
    pc.close()


def paced(path, seconds, nbytes, lead=0.0, sport=43000):
    """One session that lasts `seconds` of capture time: the server sends
    nbytes in full segments spread evenly, the client a short line every
    tenth segment.  With `lead`, a UDP datagram comes that many seconds
    before the session (a replay then opens it `lead` seconds in).
    Writes PATH and the truth: PATH.requests, PATH.responses."""
    pc = Pcap(path)
    c = Conn(pc, ("10.9.0.1", sport), ("10.9.0.2", 8080))
    c.t = 1700000000.0
    if lead > 0:
        udp = struct.pack("!HHHH", 5000, 5001, 12, 0) + b"lead"
        pc.frame(c.t, ether(ip_pkt("10.9.0.1", "10.9.0.3", udp, proto=17)))
        c.t += lead
    c.handshake()
    data = rnd(nbytes, 7)
    nseg = max(1, (nbytes + 1459) // 1460)
    dt = seconds / nseg
    for i in range(nseg):
        c.t += dt
        c.send(False, data[i * 1460:(i + 1) * 1460])
        if i % 10 == 0:
            c.send(True, b"request line %06d\r\n" % i)
    c.t += 0.01
    c.close()
    pc.close()
    open(path + ".requests", "wb").write(bytes(c.req))
    open(path + ".responses", "wb").write(bytes(c.resp))


def counters(path, tail):
    """A capture that makes many counters move, then stays quiet for
    `tail` seconds of capture time before a last datagram (a paced replay
    is then still for a while: counters can be compared at rest): a UDP
    datagram, two HTTP sessions (one pipelined), a frame cut short (a
    decode error)."""
    pc = Pcap(path)
    t = 1700000000.0
    udp = struct.pack("!HHHH", 5000, 5001, 12, 0) + b"udp!"
    pc.frame(t, ether(ip_pkt("10.9.0.1", "10.9.0.3", udp, proto=17)))
    for k, (reqs, resps) in enumerate([
            ([b"GET /a HTTP/1.1\r\nHost: one\r\n\r\n"],
             [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
            ([b"GET /b HTTP/1.1\r\nHost: two\r\n\r\nHEAD /c HTTP/1.1\r\nHost: two\r\n\r\n"],
             [b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"
              b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"])]):
        c = Conn(pc, ("10.9.0.1", 44000 + k), ("10.9.0.2", 8080))
        c.t = t + 0.1 + k * 0.2
        c.handshake()
        for q in reqs:
            c.t += 0.01
            c.send(True, q)
        for r in resps:
            c.t += 0.01
            c.send(False, r)
        c.t += 0.01
        c.close()
    # a frame cut short: an IPv4 header that claims more than is there
    pc.frame(t + 0.8, ether(ip_pkt("10.9.0.1", "10.9.0.2", b"\x00" * 30, proto=6))[:20 + 14])
    pc.frame(t + 0.9 + tail, ether(ip_pkt("10.9.0.1", "10.9.0.3", udp, proto=17)))
    pc.close()


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    if sys.argv[1] == "--counters":
        counters(sys.argv[2], float(sys.argv[3]))
        return
    if sys.argv[1] == "--demo":
        demo(sys.argv[2])
        return
    if sys.argv[1] == "--paced":
        paced(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]),
              float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, fn in CASES.items():
        pc = Pcap(os.path.join(out, name + ".pcap"))
        truth = fn(pc)
        pc.close(variants=True)
        json.dump({"sessions": truth}, open(os.path.join(out, name + ".expect.json"), "w"))
    special_cases(out)


if __name__ == "__main__":
    main()
