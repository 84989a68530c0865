#!/usr/bin/env python3
"""natsapi.py URL SUBJECT JSON — one request to a NATS server (the JetStream
API is requests on $JS.API.*), the reply printed; exits 1 when the reply
has "error".  The client protocol by hand (CONNECT, SUB, PUB, MSG), enough
for a test to make a stream the way another tool would:

  natsapi.py nats://127.0.0.1:4222 '$JS.API.STREAM.CREATE.STETH' '{"name":"STETH",...}'
"""
import json
import socket
import sys
import time
from urllib.parse import urlparse


def main():
    u = urlparse(sys.argv[1])
    s = socket.create_connection((u.hostname, u.port or 4222), timeout=5)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"natsapi"}\r\nSUB _INBOX.natsapi 1\r\n')
    body = sys.argv[3].encode()
    s.sendall(b"PUB %s _INBOX.natsapi %d\r\n%s\r\nPING\r\n" % (sys.argv[2].encode(), len(body), body))
    deadline = time.time() + 5
    while time.time() < deadline:
        line = f.readline()
        if not line:
            break
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
        elif line.startswith(b"MSG "):
            n = int(line.split()[-1])
            data = f.read(n + 2)[:n]
            print(data.decode())
            return 1 if "error" in json.loads(data) else 0
        elif line.startswith(b"-ERR"):
            print(line.decode().strip())
            return 1
    print("no reply")
    return 1


if __name__ == "__main__":
    sys.exit(main())
