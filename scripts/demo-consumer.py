#!/usr/bin/env python3
"""demo-consumer.py EVENTS LAUNCHER_PID — the consumer `make run` bundles:
follows the listener's events, connects to every session's requests and
responses ports as they are published, and prints each conversation once
both directions are complete (like tcpflow -c)."""
import json
import os
import socket
import sys
import threading
import time

events, launcher = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def read_port(port):
    deadline = time.time() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.time() > deadline:
                return None
            time.sleep(0.05)
    data = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(data)
        data += b


def session(e):
    f = e["flow"]
    c = "%s:%d" % (f["client_ip"], f["client_port"])
    v = "%s:%d" % (f["server_ip"], f["server_port"])
    got = {}
    ts = [threading.Thread(target=lambda d=d, p=e[d + "_port"]: got.__setitem__(d, read_port(p)))
          for d in ("requests", "responses")]
    [t.start() for t in ts]
    [t.join() for t in ts]
    with lock:
        print("\n--- session %d: %s -> %s (from listener ports %d and %d)" % (
            f["session_id"], c, v, e["requests_port"], e["responses_port"]))
        for d, a, b in (("requests", c, v), ("responses", v, c)):
            data = got[d] or b""
            print("%s -> %s (%s, %d bytes):" % (a, b, d, len(data)))
            for l in data.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n").split("\n"):
                print("    " + l)
        sys.stdout.flush()


threads, seen, pos = [], set(), 0
while True:
    try:
        with open(events) as fh:
            fh.seek(pos)
            for line in fh:
                if not line.endswith("\n"):
                    break
                pos += len(line.encode())
                e = json.loads(line)
                if e.get("event") == "listener_ports" and e["flow"]["session_id"] not in seen:
                    seen.add(e["flow"]["session_id"])
                    t = threading.Thread(target=session, args=(e,))
                    t.start()
                    threads.append(t)
    except FileNotFoundError:
        pass
    if not alive(launcher):
        break
    time.sleep(0.02)
for t in threads:
    t.join()
