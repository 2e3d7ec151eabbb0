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


def frame(src, dst, ttl, dport, proto="udp", payload=b"fastpath", dst_mac=b"\xff" * 6, sport=40000, flags=0x02, seq=1, ack=0, ident=1):
    """An Ethernet frame carrying UDP, a TCP segment (by default a SYN) or, over IPv4, an ICMP echo request
    (an echo reply with flags=0; the identifier is sport) or an ICMP port unreachable ("icmp-unreachable", quoting
    the payload); by default broadcast (so the stack accepts it without a neighbour entry). ident is the IPv4
    identification or the IPv6 flow label, which forwarding leaves alone."""
    v6 = ":" in src
    family = socket.AF_INET6 if v6 else socket.AF_INET
    s, d = socket.inet_pton(family, src), socket.inet_pton(family, dst)
    if proto == "tcp":
        number = 6
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload
        checksum_at = 16
    elif proto in ("icmp", "icmp-unreachable"):
        if v6:
            raise ValueError("ICMP frames are IPv4 only")
        number = 1
        if proto == "icmp":
            l4 = struct.pack("!BBHHH", 8 if flags else 0, 0, 0, sport, 1) + payload
        else:
            l4 = struct.pack("!BBHI", 3, 3, 0, 0) + payload
        l4 = l4[:2] + struct.pack("!H", checksum(l4)) + l4[4:]
    else:
        number = 17
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        checksum_at = 6
    # UDP over IPv4 may go without a checksum; TCP and IPv6 may not (ICMP's has no pseudo-header).
    if v6 or number == 6:
        pseudo = s + d + struct.pack("!I3xB", len(l4), number)
        l4 = l4[:checksum_at] + struct.pack("!H", checksum(pseudo + l4) or 0xFFFF) + l4[checksum_at + 2:]
    if v6:
        ip = struct.pack("!IHBB", 6 << 28 | ident & 0xFFFFF, len(l4), number, ttl) + s + d
        ethertype = b"\x86\xdd"
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0, ttl, number, 0, s, d)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        ethertype = b"\x08\x00"
    return dst_mac + b"\x02\x00\x00\x00\x00\x01" + ethertype + ip + l4


def counters(v6):
    tool = "ip6tables-legacy" if v6 else "iptables-legacy"
    out = subprocess.run([tool, "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"], check=True, capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()[2:] if line.strip()]


def write_proc(table, text):
    return write_file("/proc/net/xt_recent/" + table, text)


def write_file(path, text):
    """Writes text to a proc file as a program would (the rest after a short write, again); returns the errno, 0 for success."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return e.errno
    try:
        data = text.encode("latin-1")
        offset = 0
        while offset < len(data):
            offset += os.write(fd, data[offset:])
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


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
            errnos.append(write_proc(event["write"]["table"], event["write"]["text"]))
        elif "list" in event:
            with open("/proc/net/xt_recent/" + event["list"]) as f:
                listings[event["list"]] = f.read()
    print(json.dumps({"verdicts": verdicts, "errnos": errnos, "listings": listings}))


if __name__ == "__main__":
    main()
