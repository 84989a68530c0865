#!/usr/bin/env python3
"""targets.py PORT... — connector targets for the tests: listens on
127.0.0.1:PORT for each PORT and writes every connection it takes, as it
comes, to conn.N.PORT (N counts that port's connections from 1); runs
until killed (the tests bound it with timeout)."""
import socket
import sys
import threading


def serve(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    l.listen(64)
    n = 0
    while True:
        c, _ = l.accept()
        n += 1
        threading.Thread(target=take, args=(c, "conn.%d.%d" % (n, port)), daemon=True).start()


def take(c, path):
    with open(path, "wb") as f:
        while True:
            b = c.recv(65536)
            if not b:
                break
            f.write(b)
            f.flush()


for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
