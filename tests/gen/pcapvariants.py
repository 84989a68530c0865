#!/usr/bin/env python3
"""pcapvariants.py IN.pcap OUTDIR — the same frames in the other spellings
of the pcap format, and broken in the ways a reader must handle as libpcap
does: OUTDIR/NAME.swapped.pcap (the other byte order), .nano.pcap
(nanosecond timestamps), .cut.pcap (cut in the middle of a record),
.cuthdr.pcap (cut in a record header), .huge.pcap (a record claiming 2 GB),
.oversnap.pcap (the header's snapshot length 96, most records longer),
.zerosnap.pcap (snapshot length 0)."""
import os
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
name = os.path.basename(src).rsplit(".", 1)[0]
raw = open(src, "rb").read()
magic = struct.unpack("<I", raw[:4])[0]
if magic not in (0xa1b2c3d4, 0xa1b23c4d):
    sys.exit("%s: a little-endian pcap file, please" % src)
nano = magic == 0xa1b23c4d
_, vmaj, vmin, tz, sig, snap, lt = struct.unpack("<IHHiIII", raw[:24])
recs = []
off = 24
while off + 16 <= len(raw):
    s, f, cap, ln = struct.unpack("<IIII", raw[off:off + 16])
    recs.append((s, f, cap, ln, raw[off + 16:off + 16 + cap]))
    off += 16 + cap


def write(suffix, recs, endian="<", nanos=nano, snaplen=snap, tail=b""):
    m = 0xa1b23c4d if nanos else 0xa1b2c3d4
    b = [struct.pack(endian + "IHHiIII", m, 2, 4, 0, 0, snaplen, lt)]
    for s, f, cap, ln, d in recs:
        if nanos and not nano:
            f *= 1000
        b.append(struct.pack(endian + "IIII", s, f, cap, ln) + d)
    open(os.path.join(out, "%s.%s.pcap" % (name, suffix)), "wb").write(b"".join(b) + tail)


write("swapped", recs, ">")
write("nano", recs, "<", True)
whole = b"".join(struct.pack("<IIII", s, f, c, l) + d for s, f, c, l, d in recs)
mid = len(recs) // 2
write("cut", recs[:mid], tail=struct.pack("<IIII", *recs[mid][:4]) + recs[mid][4][:max(1, recs[mid][2] // 2)])
write("cuthdr", recs[:mid], tail=struct.pack("<IIII", *recs[mid][:4])[:9])
bad = list(recs)
s, f, c, l, d = bad[mid]
bad[mid] = (s, f, 0x7fffffff, l, d)
write("huge", bad)
write("oversnap", recs, snaplen=96)
write("zerosnap", recs, snaplen=0)
