# SPDX-License-Identifier: MIT
"""Replays recent-match events through the kernel and reports which rule each packet matched first.

Usage (inside the test's network namespace, where veth v0/v1 exist and the rules are installed in the raw
PREROUTING chains of iptables-legacy and ip6tables-legacy, each ending in -j ACCEPT):
    kernel_recent_match.py < events.json
Events: {"packet": {"src": "...", "dst": "...", "ttl": 64, "dport": 22}}, {"sleep": 1.5},
        {"write": {"table": "NAME", "text": "+1.2.3.4"}}, {"list": "NAME"}.
Frames are sent on v1 and arrive on v0; after each one the rule counters tell which rule matched first
(0-based; -1 if none). Prints one JSON object: {"verdicts": [...], "errnos": [...], "listings": {...}}.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total >> 16) + (total & 0xFFFF)
    return ~total & 0xFFFF


def frame(src, dst, ttl, dport):
    """An Ethernet broadcast frame (so the stack accepts it without a neighbour entry) carrying UDP."""
    payload = b"fastpath"
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    if ":" in src:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        pseudo = s + d + struct.pack("!I3xB", len(udp), 17)
        udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, ttl) + s + d
        ethertype = b"\x86\xdd"
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, ttl, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        ethertype = b"\x08\x00"
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + ethertype + ip + udp


def counters(v6):
    tool = "ip6tables-legacy" if v6 else "iptables-legacy"
    out = subprocess.run([tool, "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"], check=True, capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()[2:] if line.strip()]


def main():
    events = json.load(sys.stdin)
    sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sender.bind(("v1", 0))
    verdicts, errnos, listings = [], [], {}
    for event in events:
        if "packet" in event:
            p = event["packet"]
            v6 = ":" in p["src"]
            before = counters(v6)
            sender.send(frame(p["src"], p["dst"], p["ttl"], p["dport"]))
            deadline = time.time() + 2
            after = counters(v6)
            while after == before and time.time() < deadline:
                time.sleep(0.005)
                after = counters(v6)
            changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
            verdicts.append(changed[0] if changed else -1)
        elif "sleep" in event:
            time.sleep(event["sleep"])
        elif "write" in event:
            w = event["write"]
            fd = os.open("/proc/net/xt_recent/" + w["table"], os.O_WRONLY)
            try:
                data = w["text"].encode("latin-1")
                offset = 0
                while offset < len(data):
                    offset += os.write(fd, data[offset:])
                errnos.append(0)
            except OSError as e:
                errnos.append(e.errno)
            finally:
                os.close(fd)
        elif "list" in event:
            with open("/proc/net/xt_recent/" + event["list"]) as f:
                listings[event["list"]] = f.read()
    print(json.dumps({"verdicts": verdicts, "errnos": errnos, "listings": listings}))


if __name__ == "__main__":
    main()
