#!/usr/bin/env python3
"""Minimal ICMP echo client for machines without iputils-ping.

usage: icmp-ping.py DST [COUNT] [TIMEOUT_S]
Sends COUNT echo requests (raw socket, needs root) and prints one line per
reply: "reply from DST seq=N time=T ms"; exits 0 when every request got a
reply with a valid checksum, 1 otherwise.
"""
import os, socket, struct, sys, time

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

dst = sys.argv[1]; count = int(sys.argv[2]) if len(sys.argv) > 2 else 3; timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 2
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff; ok = 0
for seq in range(1, count + 1):
    payload = b"nfvio-ping" + bytes(range(38))
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    t0 = time.time(); s.sendto(pkt, (dst, 0)); deadline = t0 + timeout
    while True:
        left = deadline - time.time()
        if left <= 0: print("timeout seq=%d" % seq); break
        s.settimeout(left)
        try: data, addr = s.recvfrom(2048)
        except socket.timeout: print("timeout seq=%d" % seq); break
        ihl = (data[0] & 15) * 4; icmp = data[ihl:]
        if addr[0] != dst or len(icmp) < 8: continue
        t, c, ck, i, q = struct.unpack("!BBHHH", icmp[:8])
        if t == 0 and i == ident and q == seq:
            good = csum(icmp) == 0 and icmp[8:] == payload
            print("reply from %s seq=%d time=%.3f ms%s" % (dst, seq, (time.time() - t0) * 1000, "" if good else " BAD"))
            ok += good; break
    if seq < count: time.sleep(0.2)
print("%d/%d replies" % (ok, count))
sys.exit(0 if ok == count else 1)
