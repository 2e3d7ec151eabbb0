# SPDX-License-Identifier: MIT
"""Sends IPv4 and IPv6 fragment sequences through the namespace's forwarding kernel and reports what came out.

Usage, inside the test's network namespace, where veth pairs a0/a1 and b0/b1 exist, the kernel routes a0 -> b0
and iptables-legacy/ip6tables-legacy filter rules that track connections are loaded:
    kernel_fragments.py DIR < scenarios.json
Each scenario's frames are also written to DIR/NAME.pcap (classic pcap, microseconds), stamped 1 ms apart and a
sleep's length scaled by the ratio of FastPath's reassembly timeout (30 s IPv4, 60 s IPv6) to the namespace's
(net.ipv4.ipfrag_time, net.netfilter.nf_conntrack_frag6_timeout), so the offline replay sees the same timeline.
Scenarios: [{"name": NAME, "datagrams": {LABEL: DATAGRAM, ...}, "events": [EVENT, ...]}, ...]
    DATAGRAM: {"proto": "udp"|"tcp"|"icmp"|"icmpv6", "src", "dst", "sport", "dport", "id", "payload": BYTES,
               "dstopts": true (IPv6: a destination options header before the fragment header),
               "reply": true (sent into b1, from a server to a client behind a0)}
        Its data is the transport header and payload bytes that make its marker unique, with a valid checksum; a
        TCP datagram is a SYN, an ICMP one an echo request (identifier sport).
    EVENT: {"datagram": LABEL, "offset": BYTES, "length": BYTES, "mf": BOOL}
               a fragment of those bytes of the datagram's data (bytes past its end are filler);
           {"datagram": LABEL, "whole": true}   the datagram unfragmented;
           {"sleep": SECONDS}                   a pause (the kernel's seconds; scaled in the capture)
Frames go into a1 (a reply's into b1) one at a time, from one cpu so the kernel sees them in order; what leaves b1
and a1 after each is collected until the wires have been quiet for QUIET seconds. Each frame that came out is
normalised to (addresses, protocol, IPv4 identification, fragment offset, MF, data) — the kernel re-fragments a
reassembled datagram with the input's geometry, the first fragment's header and a lower TTL, and an IPv6 datagram
under an identification of its own — and named by the input frame it carries (0-based): "3", or "3[:16]" when the
kernel passed on only the first 16 of its data bytes (an IPv4 fragment trimmed to a multiple of 8), "1+2" when it
carries frame 1's data followed by frame 2's, each prefixed with "sent back: " if it came out of the end it went into; a frame between the scenario's addresses that carries no input frame's data is "?HEX", and one
between other addresses (the namespace's own MLD reports) is left out.
Prints one JSON object: {"scenarios": [{"name", "pcap", "frames", "outputs": [{"frame": "3", "after": 5}, ...],
"counters": {"filter:FORWARD:1": [packets, bytes], "ip6:filter:FORWARD:policy": [...], ...}, "connections": N}],
"timeouts": [ipv4, ipv6]}; "after" is the input frame last sent when it came out, "connections" counts conntrack
-L's lines for the scenario's sources (-1 without conntrack).
"""
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import time

from kernel_recent_match import checksum
from live_differential import Kernel, Wire

QUIET = 0.012
SETTLE = 0.05
SOURCE_MAC = b"\x02\x00\x00\x00\x00\x01"
FASTPATH_TIMEOUTS = (30.0, 60.0)  # the kernel's defaults, which FastPath keeps
PROTOCOLS = {"udp": 17, "tcp": 6, "icmp": 1, "icmpv6": 58}
NEXTHDR_DEST, NEXTHDR_FRAGMENT = 60, 44
PCAP_EPOCH = 1_700_000_000


class Datagram:
    def __init__(self, spec, seed):
        self.spec = spec
        self.v6 = ":" in spec["src"]
        self.family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.src = socket.inet_pton(self.family, spec["src"])
        self.dst = socket.inet_pton(self.family, spec["dst"])
        self.proto = PROTOCOLS[spec["proto"]]
        self.ident = spec["id"]
        # A payload no other datagram of the run has: the seed in every byte's pattern.
        payload = bytes((seed * 37 + i * 11 + (i >> 8)) & 0xFF for i in range(spec.get("payload", 40)))
        self.data = self.transport(payload)
        self.dstopts = b""
        if spec.get("dstopts"):
            # Next header: fragment (or the transport when sent whole), length 0 (8 bytes), a PadN of 4.
            self.dstopts = bytes([NEXTHDR_FRAGMENT, 0, 1, 4, 0, 0, 0, 0])
        self.filler = bytes((seed * 53 + 0x80 + i * 3) & 0xFF for i in range(4096))

    def transport(self, payload):
        sport, dport = self.spec.get("sport", 40000), self.spec.get("dport", 0)
        if self.proto == 17:
            l4, at = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 6
        elif self.proto == 6:
            l4, at = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, 0x02, 64240, 0, 0) + payload, 16
        else:
            echo = 128 if self.v6 else 8
            l4, at = struct.pack("!BBHHH", echo, 0, 0, sport, 1) + payload, 2
        if self.proto == 1:
            value = checksum(l4)
        else:
            pseudo = self.src + self.dst + (struct.pack("!I3xB", len(l4), self.proto) if self.v6 else struct.pack("!xBH", self.proto, len(l4)))
            value = checksum(pseudo + l4) or 0xFFFF
        return l4[:at] + struct.pack("!H", value) + l4[at + 2:]

    def bytes_at(self, offset, length):
        tail = self.data + self.filler
        return tail[offset:offset + length]

    def packet(self, event):
        """The IP packet of an event: a fragment, or the whole datagram."""
        if event.get("whole"):
            return self.ip(self.data, None)
        return self.ip(self.bytes_at(event["offset"], event["length"]), (event["offset"], event["mf"]))

    def ip(self, data, fragment):
        if self.v6:
            headers = b""
            if self.dstopts:
                headers += bytes([NEXTHDR_FRAGMENT if fragment else self.proto]) + self.dstopts[1:]
            if fragment:
                offset, mf = fragment
                headers += struct.pack("!BBHI", self.proto, 0, offset | int(mf), self.ident)
            first = NEXTHDR_DEST if self.dstopts else NEXTHDR_FRAGMENT if fragment else self.proto
            return struct.pack("!IHBB", 6 << 28, len(headers) + len(data), first, 64) + self.src + self.dst + headers + data
        flags = 0
        if fragment:
            offset, mf = fragment
            flags = (offset >> 3) | (0x2000 if mf else 0)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), self.ident, flags, 64, self.proto, 0, self.src, self.dst)
        return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + data


def normalise(ip):
    """(src, dst, protocol, IPv4 identification or None, offset, MF, unfragmentable headers, data) of an IP packet, or None."""
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total, ident, flags = struct.unpack_from("!HHH", ip, 2)
        return (ip[12:16], ip[16:20], ip[9], ident, (flags & 0x1FFF) * 8, bool(flags & 0x2000), ip[20:ihl], ip[ihl:total])
    if version == 6 and len(ip) >= 40:
        end = 40 + struct.unpack_from("!H", ip, 4)[0]
        nexthdr, at = ip[6], 40
        while nexthdr in (0, 43, NEXTHDR_DEST) and at + 8 <= end:
            nexthdr, at = ip[at], at + (ip[at + 1] + 1) * 8
        # The unfragmentable headers without their next-header bytes (the fragment header's removal changes one).
        unfragmentable = ip[40:at]
        offset, mf = 0, False
        if nexthdr == NEXTHDR_FRAGMENT and at + 8 <= end:
            nexthdr, _, field, _ = struct.unpack_from("!BBHI", ip, at)
            offset, mf = field & 0xFFF8, bool(field & 1)
            at += 8
        return (ip[8:24], ip[24:40], nexthdr, None, offset, mf, unfragmentable[1:] if unfragmentable else b"", ip[at:end])
    return None


def name_output(ip, inputs):
    """The input frames (0-based) whose data this IP packet carries: "3"; "3[:16]" for the first 16 of its data bytes
    only; "1+2" for frame 1's data followed by frame 2's (the kernel's slow path re-fragments a datagram whose first
    skb no longer ends where the first fragment did). None when it is no packet of the scenario's."""
    out = normalise(ip)
    sent = [normalise(packet) for packet in inputs]
    if out is None or not any(fields[:2] == out[:2] for fields in sent):
        return None
    for number, fields in enumerate(sent):
        if fields == out:
            return str(number)
    for number, fields in enumerate(sent):
        if fields[:7] == out[:7] and len(out[7]) < len(fields[7]) and fields[7].startswith(out[7]):
            return "%d[:%d]" % (number, len(out[7]))
    # Consecutive input fragments of the datagram, the first at the output's offset, the last with its MF.
    key, offset, data, pieces = out[:4], out[4], out[7], []
    while data:
        piece = next((n for n, f in enumerate(sent)
                      if f[:4] == key and f[4] == offset and f[6] == out[6] and f[7] and data.startswith(f[7])
                      and (len(f[7]) < len(data) or f[5] == out[5])), None)
        if piece is None:
            return "?" + ip.hex()
        pieces.append(str(piece))
        offset, data = offset + len(sent[piece][7]), data[len(sent[piece][7]):]
    return "+".join(pieces)


class Capture:
    """What leaves b1 and a1, other than what this script sent itself."""

    def __init__(self, wire):
        self.receivers = {end: wire.ends[end][1] for end in ("b1", "a1")}

    def drain(self):
        found = []
        for end, receiver in self.receivers.items():
            while True:
                try:
                    data, address = receiver.recvfrom(65536)
                except BlockingIOError:
                    break
                if address[2] != socket.PACKET_OUTGOING and data[12:14] in (b"\x08\x00", b"\x86\xdd"):
                    found.append((end, data))
        return found

    def until_quiet(self, quiet):
        """(end, frame) of everything that comes out until nothing has for `quiet` seconds."""
        found = []
        deadline = time.monotonic() + quiet
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return found
            select.select(list(self.receivers.values()), [], [], left)
            more = self.drain()
            if more:
                found += more
                deadline = time.monotonic() + quiet


def counters(kernel):
    """{"filter:FORWARD:1": [packets, bytes], "filter:FORWARD:policy": [...], "ip6:filter:FORWARD:1": ...} of FORWARD."""
    result = {}
    prefix = chain = None
    rule = 0
    for line in kernel.counters().splitlines():
        fields = line.split()
        if line.startswith("# "):
            prefix = "ip6:" if fields[1] == "ip6tables" else ""
        elif line.startswith("Chain "):
            chain, rule = fields[1], 0
            if chain == "FORWARD":
                # Chain FORWARD (policy DROP 3 packets, 180 bytes)
                result[prefix + "filter:FORWARD:policy"] = [int(fields[4]), int(fields[6])]
        elif fields and fields[0].isdigit():
            rule += 1
            if chain == "FORWARD":
                result["%sfilter:FORWARD:%d" % (prefix, rule)] = [int(fields[0]), int(fields[1])]
    return result


def zero_counters():
    for tool in ("iptables-legacy", "ip6tables-legacy"):
        subprocess.run([tool, "-t", "filter", "-Z", "FORWARD"], check=True)


def connections(sources):
    """conntrack -L's connections from the given (family, address) sources."""
    total = 0
    for family, address in sorted(sources):
        done = subprocess.run(["conntrack", "-L", "-f", family, "-s", address], capture_output=True, text=True)
        total += sum(1 for line in done.stdout.splitlines() if line.strip())
    return total


def sysctl_seconds(path, default):
    try:
        with open(path) as f:
            return float(f.read())
    except OSError:
        return default


def write_pcap(path, frames):
    """frames: (seconds since the start, bytes); a classic microsecond pcap, Ethernet."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for seconds, data in frames:
            micros = round(seconds * 1e6)
            f.write(struct.pack("<IIII", PCAP_EPOCH + micros // 1_000_000, micros % 1_000_000, len(data), len(data)) + data)


def run_scenario(scenario, number, wire, capture, kernel, directory, scale, use_conntrack):
    datagrams = {label: Datagram(spec, number * 16 + i) for i, (label, spec) in enumerate(sorted(scenario["datagrams"].items()))}
    inputs, ends, stamped, outputs = [], [], [], []
    clock = 0.0
    zero_counters()
    capture.drain()
    for event in scenario["events"]:
        if "sleep" in event:
            time.sleep(event["sleep"])
            clock += event["sleep"] * scale
            continue
        datagram = datagrams[event["datagram"]]
        # A reply goes into b1, to b0's address; anything else into a1, to a0's.
        end = "b1" if datagram.spec.get("reply") else "a1"
        sender, _, router_mac = wire.ends[end]
        packet = datagram.packet(event)
        frame = router_mac + SOURCE_MAC + (b"\x86\xdd" if datagram.v6 else b"\x08\x00") + packet
        inputs.append(packet)
        ends.append(end)
        stamped.append((clock, frame))
        clock += 0.001
        sender.send(frame)
        outputs += [(out_end, data, len(inputs) - 1) for out_end, data in capture.until_quiet(QUIET)]
    outputs += [(out_end, data, len(inputs) - 1) for out_end, data in capture.until_quiet(SETTLE)]
    pcap = os.path.join(directory, scenario["name"] + ".pcap")
    write_pcap(pcap, stamped)
    named = []
    for out_end, data, after in outputs:
        name = name_output(data[14:], inputs)
        if name is None:
            continue  # the namespace's own (an MLD report)
        if not name.startswith("?") and ends[int(re.match(r"\d+", name).group())] == out_end:
            name = "sent back: " + name  # out of the end it went into: not forwarded
        named.append({"frame": name, "after": after})
    sources = {("ipv6" if d.v6 else "ipv4", d.spec["src"]) for d in datagrams.values()}
    return {
        "name": scenario["name"],
        "pcap": pcap,
        "frames": len(inputs),
        "outputs": named,
        "counters": counters(kernel),
        "connections": connections(sources) if use_conntrack else -1,
    }


def main():
    directory = sys.argv[1]
    scenarios = json.load(sys.stdin)
    # One cpu: frames sent one after another are received by the kernel in that order.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    timeouts = (sysctl_seconds("/proc/sys/net/ipv4/ipfrag_time", 30.0),
                sysctl_seconds("/proc/sys/net/netfilter/nf_conntrack_frag6_timeout", 60.0))
    kernel = Kernel("-", ["iptables:filter", "ip6tables:filter"])
    wire = Wire()
    capture = Capture(wire)
    use_conntrack = subprocess.run(["sh", "-c", "command -v conntrack"], capture_output=True).returncode == 0
    results = []
    for number, scenario in enumerate(scenarios):
        v6 = any(":" in d["src"] for d in scenario["datagrams"].values())
        scale = FASTPATH_TIMEOUTS[1] / timeouts[1] if v6 else FASTPATH_TIMEOUTS[0] / timeouts[0]
        results.append(run_scenario(scenario, number, wire, capture, kernel, directory, scale, use_conntrack))
    print(json.dumps({"scenarios": results, "timeouts": timeouts}))


if __name__ == "__main__":
    main()
