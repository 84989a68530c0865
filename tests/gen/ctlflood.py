#!/usr/bin/env python3
"""ctlflood.py RUN PID N EVENTS: ctld under N concurrent control clients.

A third of the clients take no events, send a line of 70 KiB and a ping,
and read their answers after the flood; a third subscribe to every category
and never read; the rest connect and say nothing (and do not read the
default categories' events either); one more subscribes to every category
and reads everything as it comes.  Meanwhile a daemon (hello as reasmd shard 0
on RUN/ctld.sock) sends EVENTS events of about 400 bytes.  Then, with all N
still connected, one more client asks `stats` and must be answered within
two seconds.  Prints the figures as JSON: the answer's latency, ctld's
resident memory at its peak, the clients cut off and refused as ctld counts
them.  Exits 1 when ctld did not answer or died.
"""
import json, os, socket, sys, time

run, pid, n, nev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
path = os.path.join(run, "control.sock")


def rss_kb():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmHWM:"):
            return int(l.split()[1])


def ask(cmd, timeout=2.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall((json.dumps({"cmd": cmd}) + "\n").encode())
    buf = b""
    t0 = time.time()
    while True:
        b = s.recv(1 << 16)
        if not b:
            raise SystemExit("ctld closed the connection before answering %s" % cmd)
        buf += b
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1)
            e = json.loads(l)
            if e.get("reply_to") == cmd:
                s.close()
                return e, time.time() - t0


clients = []
long_line = b"x" * (70 * 1024)
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(5)
    kind = i % 3
    if kind == 0:
        s.sendall(b'{"cmd":"subscribe","cats":[]}\n' + long_line + b"\n" + b'{"cmd":"ping"}\n')
    elif kind == 1:
        s.sendall(b'{"cmd":"subscribe","cats":["all"]}\n')
    clients.append((kind, s))

import threading
got = [0]
def reader():
    r = socket.socket(socket.AF_UNIX)
    r.connect(path)
    r.sendall(b'{"cmd":"subscribe","cats":["all"]}\n')
    f = r.makefile("rb")
    for l in f:
        if b'"tcp_note"' in l:
            got[0] += 1
            if got[0] == nev:
                break
    r.close()
rt = threading.Thread(target=reader)
rt.start()
time.sleep(0.3)

d = socket.socket(socket.AF_UNIX)
d.connect(os.path.join(run, "ctld.sock"))
d.sendall(b'{"hello":"reasmd","shard":0,"v":1}\n')
pad = "p" * 300
batch = []
for i in range(nev):
    batch.append(json.dumps({"ts": "2026-01-01T00:00:00.000Z", "cat": "session", "event": "tcp_note",
                             "note": pad, "n": i}))
    if len(batch) == 500:
        d.sendall(("\n".join(batch) + "\n").encode())
        batch = []
if batch:
    d.sendall(("\n".join(batch) + "\n").encode())

# the long-line clients read what they were told (an error, then pong)
answered = 0
deadline = time.time() + 20
for kind, s in clients:
    if kind != 0:
        continue
    s.settimeout(max(0.1, deadline - time.time()))
    buf = b""
    try:
        while b"pong" not in buf and b"ping" not in buf:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except socket.timeout:
        pass
    if b"line_too_long" in buf and b"pong" in buf:
        answered += 1

rt.join(30)
time.sleep(0.5)
st, lat = ask("stats")
out = {"clients": n, "events": nev, "stats_latency_ms": round(lat * 1000, 1),
       "long_lines_answered": answered, "reader_got": got[0], "ctld_peak_rss_kb": rss_kb()}
ctl = st.get("stats", {}).get("ctld", st.get("stats", {}))
for k in ("slow_clients_cut", "clients_refused", "control_clients", "accept_errors"):
    if isinstance(ctl, dict) and k in ctl:
        out[k] = ctl[k]
print(json.dumps(out))
for _, s in clients:
    s.close()
