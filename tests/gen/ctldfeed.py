#!/usr/bin/env python3
"""ctldfeed.py RUN PID N MAX [BOUND]: ctld's memory under many sessions.

Says hello on RUN/ctld.sock as reasmd shard 0 and sends N tcp_open events
(flows as reasmd writes them); then, as a control client that reads,
asks list_sessions. Checks that ctld lists min(N, MAX) sessions, that
each costs less than BOUND bytes of its resident memory (default 400; a
sanitizer build pads every allocation), and prints the figures (bytes a
session, the peak while it answered, the time).
"""
import json, re, socket, sys, time

run, pid, n, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bound = float(sys.argv[5]) if len(sys.argv) > 5 else 400


def status(key):
    for l in open("/proc/%s/status" % pid):
        if l.startswith(key + ":"):
            return int(l.split()[1])


def ask(f, cmd):
    f.write((json.dumps({"cmd": cmd}) + "\n").encode())
    f.flush()
    while True:
        e = json.loads(f.readline())
        if e.get("reply_to") == cmd:
            return e


d = socket.socket(socket.AF_UNIX)
d.connect(run + "/ctld.sock")
d.sendall(b'{"hello":"reasmd","shard":0,"v":1}\n')
time.sleep(0.3)
r0 = status("VmRSS")
buf = []
for i in range(1, n + 1):
    buf.append('{"ts":"2026-01-01T00:00:%02d.%03dZ","cat":"session","event":"tcp_open","flow":'
               '{"session_id":%d,"client_ip":"10.%d.%d.%d","client_port":%d,'
               '"server_ip":"192.168.100.200","server_port":443,"role_guessed":false}}\n'
               % (i // 1000 % 60, i % 1000, i, i >> 16 & 255, i >> 8 & 255, i & 255, 1024 + i % 60000))
    if len(buf) == 2000:
        d.sendall("".join(buf).encode())
        buf = []
d.sendall("".join(buf).encode())
c = socket.socket(socket.AF_UNIX)
c.connect(run + "/control.sock")
f = c.makefile("rwb")
f.write(b'{"cmd":"subscribe","cats":[]}\n')
f.flush()
want = min(n, cap)
deadline = time.time() + 60
while True:
    st = ask(f, "stats")["stats"]
    if st["events"] >= n:
        break
    assert time.time() < deadline, st
    time.sleep(0.2)
assert st["sessions_open"] == want, st
assert st["sessions_table_full"] == n - want, st
r1 = status("VmRSS")
t = time.time()
ls = ask(f, "list_sessions")
took = time.time() - t
ids = [s["flow"]["session_id"] for s in ls["sessions"]]
assert ids == list(range(1, want + 1)), (len(ids), ids[:3], ids[-3:])
assert ls["sessions"][0]["opened"] == "2026-01-01T00:00:00.001Z", ls["sessions"][0]
assert ls["sessions"][0]["shard"] == 0 and ls["sessions"][0]["flow"]["server_port"] == 443
per = (r1 - r0) * 1024.0 / want
print("ctld: %d sessions sent, %d listed, %.0f bytes a session (resident), peak %d KB "
      "while list_sessions answered in %.2f s" % (n, want, per, status("VmHWM"), took))
assert per < bound, (per, bound)
