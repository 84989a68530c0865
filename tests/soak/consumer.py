#!/usr/bin/env python3
"""consumer.py EVENTS LAUNCHER_PID — the soak's listener consumer: follows
the listener's events, connects to both ports of every session as they are
published and reads each to its end; prints the totals as JSON when the
launcher is gone (sessions taken, bytes, ports it could not connect to)."""
import json
import os
import socket
import sys
import threading
import time

events, launcher = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
tot = {"sessions": 0, "bytes": 0, "refused": 0}


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
                with lock:
                    tot["refused"] += 1
                return
            time.sleep(0.05)
    n = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        n += len(b)
    s.close()
    with lock:
        tot["bytes"] += n


def session(e):
    for d in ("requests", "responses"):
        threading.Thread(target=read_port, args=(e[d + "_port"],), daemon=True).start()
    with lock:
        tot["sessions"] += 1


pos = 0
while True:
    try:
        with open(events) as fh:
            fh.seek(pos)
            for line in fh:
                if not line.endswith("\n"):
                    break
                pos += len(line.encode())
                e = json.loads(line)
                if e.get("event") == "listener_ports":
                    session(e)
    except FileNotFoundError:
        pass
    if not alive(launcher):
        break
    time.sleep(0.05)
deadline = time.time() + 15
while threading.active_count() > 1 and time.time() < deadline:
    time.sleep(0.1)
json.dump(tot, sys.stdout)
print()
