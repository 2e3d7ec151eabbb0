# SPDX-License-Identifier: MIT
"""Injects UDP frames on two veth ends and reports which came out of the other ends.

Run inside the test's network namespace: veth_traffic.py IFACE_A IFACE_B COUNT FLOWS
Frames sent on A must arrive unchanged on B and the other way round; prints one JSON line.
Standard library only (AF_PACKET raw sockets), so it runs on any Linux python3.
"""
import json
import socket
import struct
import sys
import time

ETH_P_ALL = 3
MARKER = b"FPTEST"


def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def udp_frame(src, dst, sport, dport, seq):
    payload = MARKER + struct.pack("!I", seq)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + udp


def open_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    # Our own sends loop back to the socket as outgoing copies: room for them and for what we expect.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind((iface, 0))
    s.settimeout(0.05)
    return s


def main():
    a, b, count, flows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sock_a, sock_b = open_socket(a), open_socket(b)
    forward = [udp_frame("192.0.2.%d" % (i % flows + 1), "198.51.100.7", 10000 + i % flows, 80, i) for i in range(count)]
    reverse = [udp_frame("198.51.100.7", "192.0.2.%d" % (i % flows + 1), 80, 10000 + i % flows, count + i) for i in range(count)]
    expect = {"a_to_b": set(forward), "b_to_a": set(reverse)}
    got = {"a_to_b": 0, "b_to_a": 0, "unexpected": 0}
    for i in range(count):
        sock_a.send(forward[i])
        sock_b.send(reverse[i])
    deadline = time.time() + 10
    while time.time() < deadline and (got["a_to_b"] < count or got["b_to_a"] < count):
        for sock, key in ((sock_b, "a_to_b"), (sock_a, "b_to_a")):
            try:
                while True:
                    data, address = sock.recvfrom(65536)
                    if address[2] == socket.PACKET_OUTGOING or MARKER not in data:
                        continue
                    if data in expect[key]:
                        expect[key].discard(data)
                        got[key] += 1
                    else:
                        got["unexpected"] += 1
            except socket.timeout:
                pass
    print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
