# SPDX-License-Identifier: MIT
"""Sends IPv4 and IPv6 fragment sequences through the namespace's forwarding kernel and reports what came out.

Usage, inside the test's network namespace, where veth pairs a0/a1 and b0/b1 exist, the kernel routes a0 -> b0
with the test's iptables-legacy and ip6tables-legacy rules loaded, and a third veth pair c0/c1 carries markers
(see Capture.settle):
    kernel_fragments.py DIR < scenarios.json
Each scenario's frames are also written to DIR/NAME.pcap (classic pcap, microseconds), stamped 1 ms apart and a
sleep's length scaled by the ratio of FastPath's reassembly timeout (30 s IPv4, 60 s IPv6) to the namespace's
(net.ipv4.ipfrag_time, net.netfilter.nf_conntrack_frag6_timeout), so the offline replay sees the same timeline.
Scenarios: [{"name": NAME, "datagrams": {LABEL: DATAGRAM, ...}, "events": [EVENT, ...]}, ...]
    DATAGRAM: {"proto": "udp"|"tcp"|"icmp"|"icmpv6", "src", "dst", "sport", "dport", "id", "payload": BYTES,
               "dstopts": true (IPv6: a destination options header before the fragment header),
               "reply": true (sent into b1, from a server to a client behind a0)}
        Its data is the transport header, with a valid checksum, and a payload whose bytes are a pattern of the
        datagram's number in the scenario (in label order); a TCP datagram is a SYN, an ICMP one an echo request
        (identifier sport).
    EVENT: {"datagram": LABEL, "offset": BYTES, "length": BYTES, "mf": BOOL, "tos": BYTE}
               a fragment of those bytes of the datagram's data (bytes past its end are filler), with that IPv4 TOS
               or IPv6 traffic class (default 0);
           {"datagram": LABEL, "whole": true}   the datagram unfragmented;
           {"sleep": SECONDS}                   a pause (the kernel's seconds; scaled in the capture)
Frames go into a1 (a reply's into b1) one at a time, from one cpu so the kernel sees them in order; what leaves b1
and a1 because of each is collected before the next is sent. Each frame that came out is normalised to (addresses,
protocol, IPv4 identification, fragment offset, MF, data, ECN) — the kernel re-fragments a reassembled datagram
with the input's geometry, the first fragment's header and a lower TTL, and an IPv6 datagram under an
identification of its own — and named by the input frames whose data it carries (0-based): "3", "3[:16]" when the
kernel passed on only the first 16 of its data bytes (an IPv4 fragment trimmed to a multiple of 8), "1+2" when it
carries frame 1's data followed by frame 2's, and so on (see name_output), prefixed with "sent back: " if it came
out of the end it went into. A frame between the scenario's addresses that carries no input frame's data is
"?HEX"; one between other addresses (the namespace's own MLD reports) is left out.
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

ETH_P_MARKER = 0x88B5  # IEEE 802 local experimental: no protocol of the kernel's takes it
MARKER_TIMEOUT = 5.0
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
        self.seed = seed

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
        """The data's bytes [offset, offset + length), past its end a filler pattern of the seed and the position."""
        filler = bytes((self.seed * 53 + 0x80 + i * 3) & 0xFF for i in range(max(offset, len(self.data)), offset + length))
        return self.data[offset:offset + length] + filler

    def packet(self, event):
        """The IP packet of an event: a fragment, or the whole datagram."""
        tos = event.get("tos", 0)
        if event.get("whole"):
            return self.ip(self.data, None, tos)
        return self.ip(self.bytes_at(event["offset"], event["length"]), (event["offset"], event["mf"]), tos)

    def ip(self, data, fragment, tos):
        if self.v6:
            headers = b""
            if self.dstopts:
                headers += bytes([NEXTHDR_FRAGMENT if fragment else self.proto]) + self.dstopts[1:]
            if fragment:
                offset, mf = fragment
                headers += struct.pack("!BBHI", self.proto, 0, offset | int(mf), self.ident)
            first = NEXTHDR_DEST if self.dstopts else NEXTHDR_FRAGMENT if fragment else self.proto
            return struct.pack("!IHBB", 6 << 28 | tos << 20, len(headers) + len(data), first, 64) + self.src + self.dst + headers + data
        flags = 0
        if fragment:
            offset, mf = fragment
            flags = (offset >> 3) | (0x2000 if mf else 0)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(data), self.ident, flags, 64, self.proto, 0, self.src, self.dst)
        return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + data


def normalise(ip):
    """(src, dst, protocol, IPv4 identification or None, offset, MF, unfragmentable headers, data, whether it is a
    fragment: IPv4 MF or an offset, IPv6 a fragment header; ECN) of an IP packet, or None."""
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total, ident, flags = struct.unpack_from("!HHH", ip, 2)
        return (ip[12:16], ip[16:20], ip[9], ident, (flags & 0x1FFF) * 8, bool(flags & 0x2000), ip[20:ihl], ip[ihl:total], bool(flags & 0x3FFF), ip[1] & 3)
    if version == 6 and len(ip) >= 40:
        end = 40 + struct.unpack_from("!H", ip, 4)[0]
        nexthdr, at = ip[6], 40
        while nexthdr in (0, 43, NEXTHDR_DEST) and at + 8 <= end:
            nexthdr, at = ip[at], at + (ip[at + 1] + 1) * 8
        # The unfragmentable headers without their next-header bytes (the fragment header's removal changes one).
        unfragmentable = ip[40:at]
        offset, mf, fragment = 0, False, nexthdr == NEXTHDR_FRAGMENT
        if fragment and at + 8 <= end:
            nexthdr, _, field, _ = struct.unpack_from("!BBHI", ip, at)
            offset, mf = field & 0xFFF8, bool(field & 1)
            at += 8
        return (ip[8:24], ip[24:40], nexthdr, None, offset, mf, unfragmentable[1:] if unfragmentable else b"", ip[at:end], fragment,
                ip[1] >> 4 & 3)
    return None


ECN = ("Not-ECT", "ECT(1)", "ECT(0)", "CE")


def name_output(ip, inputs):
    """The input frames (0-based) whose data this IP packet carries: "3"; "3 without its fragment header" (an IPv6
    atomic fragment, reassembled and sent whole); "3[:16]" for the first 16 of its data bytes only; "1+2" for frame
    1's data followed by frame 2's (the kernel's slow path re-fragments a datagram whose first skb no longer ends
    where the first fragment did); with " ECN CE" when its ECN is not the (first) input frame's. None when it is no
    packet of the scenario's addresses."""
    out = normalise(ip)
    sent = [normalise(packet) for packet in inputs]
    if out is None or not any(fields[:2] == out[:2] for fields in sent):
        return None
    name, first = carried(out, sent)
    if first is None:
        return "?" + ip.hex()
    return name if sent[first][9] == out[9] else "%s ECN %s" % (name, ECN[out[9]])


def carried(out, sent):
    """(name, first input frame) of the input frames whose data an output carries, or (None, None)."""
    for number, fields in enumerate(sent):
        if fields[:9] == out[:9]:
            return str(number), number
    for number, fields in enumerate(sent):
        if fields[:8] == out[:8]:
            return "%d %s" % (number, "with a fragment header" if out[8] else "without its fragment header"), number
    for number, fields in enumerate(sent):
        if fields[:7] == out[:7] and len(out[7]) < len(fields[7]) and fields[7].startswith(out[7]):
            return "%d[:%d]" % (number, len(out[7])), number
    # Consecutive input fragments of the datagram, the first at the output's offset, the last with its MF.
    key, offset, data, pieces = out[:4], out[4], out[7], []
    while data:
        piece = next((n for n, f in enumerate(sent)
                      if f[:4] == key and f[4] == offset and f[6] == out[6] and f[7] and data.startswith(f[7])
                      and (len(f[7]) < len(data) or f[5] == out[5])), None)
        if piece is None:
            return None, None
        pieces.append(piece)
        offset, data = offset + len(sent[piece][7]), data[len(sent[piece][7]):]
    return "+".join(map(str, pieces)), pieces[0] if pieces else None


class Capture:
    """What leaves b1 and a1, other than what this script sent itself, collected once the kernel is done with
    everything sent before: see settle()."""

    def __init__(self, wire):
        self.receivers = {end: wire.ends[end][1] for end in ("b1", "a1")}
        self.marker_out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.marker_out.bind(("c1", 0))
        self.marker_in = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_MARKER))
        self.marker_in.bind(("c0", 0))
        self.markers = 0

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

    def settle(self):
        """(end, frame) of everything the kernel sent out because of the frames sent before.
        Frames sent from one cpu are received through that cpu's backlog queue, in order, and so are the frames
        the kernel forwards while it handles them: a marker sent into c1 after a frame is taken off the queue after
        it, so once the marker is seen on c0 the frame's outputs are queued; a second marker sent then comes off
        the queue after them, so once it is seen they have been received on b1 or a1."""
        for _ in range(2):
            self.markers += 1
            tag = struct.pack("!I", self.markers)
            self.marker_out.send(b"\xff" * 6 + SOURCE_MAC + struct.pack("!H", ETH_P_MARKER) + tag + bytes(42))
            deadline = time.monotonic() + MARKER_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.marker_in], [], [], left)[0]:
                    raise RuntimeError("marker %d did not come through c1 -> c0 within %.0f s" % (self.markers, MARKER_TIMEOUT))
                data, address = self.marker_in.recvfrom(65536)
                if address[2] != socket.PACKET_OUTGOING and data[14:18] == tag:
                    break
        return self.drain()


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
    datagrams = {label: Datagram(spec, number * 256 + i) for i, (label, spec) in enumerate(sorted(scenario["datagrams"].items()))}
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
        outputs += [(out_end, data, len(inputs) - 1) for out_end, data in capture.settle()]
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
