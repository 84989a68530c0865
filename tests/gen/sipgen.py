#!/usr/bin/env python3
"""sipgen.py OUT.pcap — SIP over TCP the way the public captures do not
show it, for the per-call pcap test: two calls' messages on one TCP
connection cut at a small MSS (a segment holds the end of one call's message
and the start of the other's), the first INVITE's segments out of order, a
retransmitted segment, RTP over UDP for both calls; and the same capture in
four other orders (each side's frames late by 0.5 and 5.5 ms: ACKs before
the data they acknowledge), OUT.late-*.pcap.

sipgen.py OUT.pcap --big BYTES: one call whose INVITE carries a body of
about BYTES (the hold's limit test)."""
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from pcapgen import Pcap, Conn, ether, ip_pkt, csum  # noqa: E402

CLI, SRV = ("10.0.0.1", 45060), ("10.0.0.2", 5060)


def sdp(ip, port):
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (ip, ip, port)).encode()


def msg(first, cid, cseq, body=b"", extra=""):
    head = ("%s\r\nVia: SIP/2.0/TCP 10.0.0.1:45060;branch=z9hG4bK%s%d\r\n"
            "From: <sip:alice@example.com>;tag=a%s\r\nTo: <sip:bob@example.com>%s\r\n"
            "Call-ID: %s\r\nCSeq: %s\r\n%sContent-Length: %d\r\n\r\n" % (
                first, cid[:6], len(cseq), cid[:4], extra, cid, cseq,
                "Content-Type: application/sdp\r\n" if body else "", len(body)))
    return head.encode() + body


def udp(pc, t, src, dst, payload):
    l4 = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    pc.frame(t, ether(ip_pkt(src[0], dst[0], l4, proto=17)), side="client")


def rtp(seq, ssrc):
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + b"\xff" * 160


def main(out):
    pc = Pcap(out)
    c = Conn(pc, CLI, SRV)
    c.handshake()
    inv = {}
    for cid, port in (("callA-1@10.0.0.1", 20000), ("callB-2@10.0.0.1", 20002)):
        inv[cid] = msg("INVITE sip:bob@example.com SIP/2.0", cid, "1 INVITE", sdp("10.0.0.1", port))
    ok = {}
    for cid, port in (("callA-1@10.0.0.1", 30000), ("callB-2@10.0.0.1", 30002)):
        ok[cid] = msg("SIP/2.0 200 OK", cid, "1 INVITE", sdp("10.0.0.2", port), ";tag=b")
    # call A's INVITE in 150-byte segments, the second and third swapped
    segs = c.send(True, inv["callA-1@10.0.0.1"], mss=150, emit=False)
    for i in [0, 2, 1] + list(range(3, len(segs))):
        c.seg(True, *segs[i])
    c.ack(False)
    c.send(False, msg("SIP/2.0 100 Trying", "callA-1@10.0.0.1", "1 INVITE") +
           ok["callA-1@10.0.0.1"], mss=500)
    # A's ACK and B's INVITE in one stream cut at 250 bytes: a segment
    # holds the end of one and the start of the other; one is sent twice
    segs = c.send(True, msg("ACK sip:bob@example.com SIP/2.0", "callA-1@10.0.0.1", "1 ACK",
                            extra=";tag=b") + inv["callB-2@10.0.0.1"], mss=250, emit=False)
    for i, s in enumerate(segs):
        c.seg(True, *s)
        if i == 1:
            c.seg(True, *s)		# a retransmission
    c.ack(False)
    c.send(False, ok["callB-2@10.0.0.1"], mss=1460)
    c.send(True, msg("ACK sip:bob@example.com SIP/2.0", "callB-2@10.0.0.1", "1 ACK", extra=";tag=b"))
    # media of both calls
    for k in range(30):
        t = c.tick(0.02)
        udp(pc, t, ("10.0.0.1", 20000), ("10.0.0.2", 30000), rtp(k, 0x1111))
        udp(pc, t + 0.001, ("10.0.0.2", 30000), ("10.0.0.1", 20000), rtp(k, 0x2222))
        udp(pc, t + 0.002, ("10.0.0.1", 20002), ("10.0.0.2", 30002), rtp(k, 0x3333))
    c.t += 0.01
    # both BYEs in one segment, their 200s in one
    c.send(True, msg("BYE sip:bob@example.com SIP/2.0", "callA-1@10.0.0.1", "2 BYE", extra=";tag=b") +
           msg("BYE sip:bob@example.com SIP/2.0", "callB-2@10.0.0.1", "2 BYE", extra=";tag=b"))
    c.send(False, msg("SIP/2.0 200 OK", "callA-1@10.0.0.1", "2 BYE", extra=";tag=b") +
           msg("SIP/2.0 200 OK", "callB-2@10.0.0.1", "2 BYE", extra=";tag=b"))
    c.close()
    pc.close(variants=True)


def big(out, body_bytes):
    """One call whose INVITE carries a body_bytes body (a large SDP with
    many attributes), sent in 1460-byte segments."""
    pc = Pcap(out)
    c = Conn(pc, CLI, SRV)
    c.handshake()
    body = sdp("10.0.0.1", 20000) + b"".join(b"a=x-pad:%06d\r\n" % k for k in range(body_bytes // 18))
    c.send(True, msg("INVITE sip:bob@example.com SIP/2.0", "big-1@10.0.0.1", "1 INVITE", body))
    c.ack(False)
    c.send(False, msg("SIP/2.0 200 OK", "big-1@10.0.0.1", "1 INVITE", sdp("10.0.0.2", 30000), ";tag=b"))
    c.close()
    pc.close()


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--big":
        big(sys.argv[1], int(sys.argv[3]))
    else:
        main(sys.argv[1])
