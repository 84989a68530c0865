#!/usr/bin/env python3
"""pcap2trafgen.py IN.pcap OUT.cfg [MAX] — a capture's frames as a trafgen
packet configuration, one { 0x.., ... } block a frame, in order (trafgen
sends them round robin).  Written here, not converted by netsniff-ng
(minutes for a few hundred thousand frames): a classic pcap of Ethernet
frames, microsecond or nanosecond, either byte order."""
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic = hdr[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            end = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            end = ">"
        else:
            sys.exit("pcap2trafgen: %s: not a classic pcap file" % path)
        if struct.unpack(end + "I", hdr[20:24])[0] != 1:
            sys.exit("pcap2trafgen: %s: not Ethernet" % path)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            caplen = struct.unpack(end + "I", rec[8:12])[0]
            data = f.read(caplen)
            if len(data) < caplen:
                return
            yield data


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    most = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 62
    n = 0
    with open(sys.argv[2], "w") as out:
        for data in frames(sys.argv[1]):
            if n == most:
                break
            out.write("{ " + ", ".join("0x%02x" % b for b in data) + " }\n")
            n += 1
    print("frames=%d" % n)


if __name__ == "__main__":
    main()
