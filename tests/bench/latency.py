#!/usr/bin/env python3
"""latency.py — capture-to-consumer latency through the tap's listener.

  latency.py serve PORT                 accept connections, read and discard
  latency.py send HOST PORT N MS        one TCP connection: N 64-byte messages,
                                        one every MS ms, each carrying the
                                        wall-clock time it was sent
  latency.py consume EVENTS SECONDS [SERVER_PORT]
                                        follow the listener's events file,
                                        connect to the requests port of the
                                        first session to SERVER_PORT (any
                                        when not given), read messages for up
                                        to SECONDS; print "n p50_ms p99_ms"

The sender and the consumer share the machine's clock (namespaces, not
machines).  Messages that were already waiting when the consumer connected
(the listener's start-up buffer) are left out: only those sent after it
connected are timed."""
import json
import socket
import sys
import time


def serve(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        while c.recv(65536):
            pass
        c.close()


def send(host, port, n, ms):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = time.time()
    for _ in range(n):
        msg = ("T%.6f" % time.time()).ljust(63) + "\n"
        s.sendall(msg.encode())
        t += ms / 1000.0
        d = t - time.time()
        if d > 0:
            time.sleep(d)
    s.close()


def consume(events, seconds, server_port=None):
    deadline = time.time() + seconds
    port = None
    while port is None and time.time() < deadline:
        try:
            with open(events) as fh:
                for line in fh:
                    e = json.loads(line)
                    if e.get("event") == "listener_ports" and (server_port is None or
                                                               e["flow"]["server_port"] == server_port):
                        port = e["requests_port"]
                        break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.02)
    if port is None:
        print("0 0 0")
        return
    s = None
    while s is None and time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port))
        except OSError:
            time.sleep(0.02)
    connected = time.time()
    lat, buf = [], b""
    s.settimeout(0.5)
    while time.time() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        now = time.time()
        buf += b
        while len(buf) >= 64:
            m, buf = buf[:64], buf[64:]
            sent = float(m[1:].split()[0])
            if sent > connected:
                lat.append((now - sent) * 1000.0)
    lat.sort()
    if not lat:
        print("0 0 0")
        return
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print("%d %.2f %.2f" % (len(lat), p(0.50), p(0.99)))


if __name__ == "__main__":
    a = sys.argv
    if len(a) >= 3 and a[1] == "serve":
        serve(int(a[2]))
    elif len(a) >= 6 and a[1] == "send":
        send(a[2], int(a[3]), int(a[4]), float(a[5]))
    elif len(a) >= 4 and a[1] == "consume":
        consume(a[2], float(a[3]), int(a[4]) if len(a) > 4 else None)
    else:
        sys.exit(__doc__)
