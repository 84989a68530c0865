#!/usr/bin/env python3
"""hepserver.py PORT OUT [--seconds N] — a HEPv3 collector for the tests:
listens on 127.0.0.1:PORT, UDP and TCP, decodes every HEPv3 packet
(sipcapture's chunk types; tshark 4.0 has no HEP dissector) and writes
one JSON object a line to OUT: family, proto, src, dst, sport, dport, ts,
type (1 SIP, 5 RTCP JSON), node, auth, corr (correlation id), payload (as
text) and how it came (udp/tcp).  A packet that does not decode is a line
with "error".  Prints "listening" once ready; stops after N seconds
(default 60) or on SIGTERM.  On SIGTERM it first takes what is already
there: the datagrams waiting in its UDP socket, the connections waiting
to be accepted and every connection's bytes up to its end or a second of quiet (the
senders have finished when a test stops it; a busy machine may have left
the collector behind them), for at most 10 s."""
import json
import selectors
import signal
import socket
import struct
import sys
import time

port, out = int(sys.argv[1]), sys.argv[2]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--seconds" else 60.0
f = open(out, "w", buffering=1)


def decode(b, how):
    if len(b) < 6 or b[:4] != b"HEP3":
        return {"error": "not HEP3", "how": how}
    total = struct.unpack("!H", b[4:6])[0]
    if total != len(b):
        return {"error": "length %d, packet %d" % (total, len(b)), "how": how}
    r = {"how": how}
    off = 6
    while off < total:
        if off + 6 > total:
            return {"error": "truncated chunk header", "how": how}
        vendor, typ, ln = struct.unpack("!HHH", b[off:off + 6])
        if ln < 6 or off + ln > total:
            return {"error": "bad chunk length %d" % ln, "how": how}
        v = b[off + 6:off + ln]
        off += ln
        if vendor != 0:
            continue
        if typ == 1:
            r["family"] = v[0]
        elif typ == 2:
            r["proto"] = v[0]
        elif typ in (3, 4):
            r["src" if typ == 3 else "dst"] = socket.inet_ntop(socket.AF_INET, v)
        elif typ in (5, 6):
            r["src" if typ == 5 else "dst"] = socket.inet_ntop(socket.AF_INET6, v)
        elif typ in (7, 8):
            r["sport" if typ == 7 else "dport"] = struct.unpack("!H", v)[0]
        elif typ == 9:
            r["ts_sec"] = struct.unpack("!I", v)[0]
        elif typ == 10:
            r["ts_usec"] = struct.unpack("!I", v)[0]
        elif typ == 11:
            r["type"] = v[0]
        elif typ == 12:
            r["node"] = struct.unpack("!I", v)[0]
        elif typ == 14:
            r["auth"] = v.decode("latin-1")
        elif typ == 15:
            r["payload"] = v.decode("latin-1")
        elif typ == 17:
            r["corr"] = v.decode("latin-1")
    return r


sel = selectors.DefaultSelector()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# room for a sender that outruns a busy collector: loopback drops what does
# not fit, silently (SO_RCVBUFFORCE, root, passes net.core.rmem_max)
try:
    u.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
except OSError:
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
u.bind(("127.0.0.1", port))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(8)
sel.register(u, selectors.EVENT_READ, "udp")
sel.register(t, selectors.EVENT_READ, "accept")
bufs = {}
stop = [False]
signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))
print("listening", flush=True)
end = time.time() + seconds


def tcp_bytes(c, d):
    bufs[c] += d
    while len(bufs[c]) >= 6:
        n = struct.unpack("!H", bufs[c][4:6])[0]
        if bufs[c][:4] != b"HEP3" or n < 6:
            f.write(json.dumps({"error": "TCP stream out of step", "how": "tcp"}) + "\n")
            bufs[c] = b""
            break
        if len(bufs[c]) < n:
            break
        f.write(json.dumps(decode(bufs[c][:n], "tcp")) + "\n")
        bufs[c] = bufs[c][n:]


def serve(key):
    if key.data == "udp":
        b, _ = u.recvfrom(70000)
        f.write(json.dumps(decode(b, "udp")) + "\n")
    elif key.data == "accept":
        c, _ = t.accept()
        sel.register(c, selectors.EVENT_READ, "tcp")
        bufs[c] = b""
    else:
        c = key.fileobj
        d = c.recv(1 << 16)
        if not d:
            sel.unregister(c)
            c.close()
            del bufs[c]
            return
        tcp_bytes(c, d)


while not stop[0] and time.time() < end:
    for key, _ in sel.select(0.2):
        serve(key)
if stop[0]:
    # what is already there, then out: the UDP socket until it is empty,
    # the listener until nobody waits, each connection to its end
    # (a connection still open and quiet for a second: its sender is done)
    drain_end = time.time() + 10
    quiet = time.time()
    while time.time() < drain_end:
        ready = sel.select(0.05)
        if not ready and (not bufs or time.time() - quiet > 1):
            break
        if ready:
            quiet = time.time()
        for key, _ in ready:
            serve(key)
f.close()
