# SPDX-License-Identifier: MIT
"""Writes samples/mixed.pcap and samples/mixed.expected.tsv.

Run with the system Python that has scapy (Debian/Ubuntu: apt-get install python3-scapy):

    python3 samples/make-sample.py

The capture holds valid frames of every kind FastPath forwards plus exactly one malformed frame per parser
drop reason (DropReason.EthernetTruncated .. DropReason.Icmpv6Truncated), each carrying only that defect.
Output is deterministic: fixed addresses (documentation ranges only), fixed identifiers, fixed timestamps
and a fixed shuffle. The script checks every frame against a small reference parser written from the
rules in docs/DropReason.cs before writing anything.
"""

import os
import random
import socket
import struct
import sys

try:
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPOption_RR
    from scapy.layers.inet6 import (
        ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop, IPv6ExtHdrSegmentRouting, PadN, RouterAlert, fragment6,
    )
    from scapy.layers.inet import fragment
    from scapy.layers.ipsec import ESP
    from scapy.layers.l2 import ARP, LLC, STP, Dot1AD, Dot1Q, Dot3, Ether
    from scapy.layers.sctp import SCTP, SCTPChunkInit
    from scapy.packet import Raw
except ImportError as error:
    sys.exit(f"make-sample.py needs scapy ({error}); on Debian/Ubuntu: apt-get install python3-scapy, "
             "then run it with /usr/bin/python3")

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP_PATH = os.path.join(HERE, "mixed.pcap")
TSV_PATH = os.path.join(HERE, "mixed.expected.tsv")

FIRST_SECOND = 1_700_000_000
SHUFFLE_SEED = 20231114
MAX_BYTES = 40 * 1024

# RFC 7042 documentation MACs; RFC 5737 / RFC 3849 documentation addresses.
MAC_A = "00:00:5e:00:53:01"
MAC_B = "00:00:5e:00:53:02"
CLIENT4 = "192.0.2.10"
ROUTER4 = "192.0.2.1"
SERVER4 = "198.51.100.20"
DNS4 = "198.51.100.53"
CLIENT6 = "2001:db8::10"
SERVER6 = "2001:db8:1::20"

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)

# The parser's drop reasons, in DropReason order, as their snake_case counter names.
PARSER_REASONS = [
    "ethernet_truncated", "vlan_truncated", "vlan_too_many_tags",
    "ipv4_truncated", "ipv4_bad_version", "ipv4_bad_header_length", "ipv4_header_exceeds_frame",
    "ipv4_bad_options", "ipv4_bad_checksum", "ipv4_total_length_below_header",
    "ipv4_total_length_exceeds_frame", "ipv4_fragment_too_large",
    "ipv6_truncated", "ipv6_bad_version", "ipv6_bad_address", "ipv6_payload_exceeds_frame",
    "ipv6_bad_hop_by_hop_options", "ipv6_extension_header_truncated", "ipv6_fragment_too_large",
    "tcp_truncated", "tcp_bad_data_offset", "udp_truncated", "udp_bad_length", "icmp_truncated",
    "icmpv6_truncated",
]


# ---------------------------------------------------------------------------------------------------------
# Byte helpers. Malformed frames are built by editing the bytes of a valid frame, so scapy cannot "fix" them.

def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_header_verifies(header: bytes) -> bool:
    return inet_checksum(header) == 0


def edit_ipv4(frame: bytes, l3: int, *, version=None, ihl=None, total_length=None, frag=None,
              fix_checksum=True) -> bytes:
    """Rewrites IPv4 header fields in place, then recomputes the header checksum unless told not to."""
    f = bytearray(frame)
    if version is not None:
        f[l3] = (version << 4) | (f[l3] & 0x0F)
    if ihl is not None:
        f[l3] = (f[l3] & 0xF0) | ihl
    if total_length is not None:
        struct.pack_into("!H", f, l3 + 2, total_length)
    if frag is not None:
        struct.pack_into("!H", f, l3 + 6, frag)
    if fix_checksum:
        header_length = (f[l3] & 0x0F) * 4
        # When IHL itself is the defect (below 5 or past the frame) only the fixed 20 bytes exist to sum.
        if header_length < 20 or l3 + header_length > len(f):
            header_length = 20
        struct.pack_into("!H", f, l3 + 10, 0)
        struct.pack_into("!H", f, l3 + 10, inet_checksum(bytes(f[l3:l3 + header_length])))
    return bytes(f)


def ah_header(next_header: int, spi: int, seq: int) -> bytes:
    # 12 fixed bytes + 12-byte ICV (HMAC-SHA1-96): 24 bytes, so the length field is 24 / 4 - 2 = 4.
    return struct.pack("!BBHII", next_header, 4, 0, spi, seq) + bytes(range(0xA0, 0xAC))


def dest_opts(next_header: int) -> bytes:
    # An 8-byte destination options header holding one PadN of 4 bytes of data.
    return bytes([next_header, 0, 1, 4, 0, 0, 0, 0])


def eth(dst=MAC_B, src=MAC_A, type_=ETH_IPV4) -> Ether:
    return Ether(dst=dst, src=src, type=type_)


def ipv4_udp(payload: bytes, sport=40000, dport=9, ident=0x4000) -> bytes:
    return bytes(eth() / IP(src=CLIENT4, dst=SERVER4, id=ident, flags="DF") / UDP(sport=sport, dport=dport) / Raw(payload))


def ipv6_udp(payload: bytes, sport=40000, dport=9) -> bytes:
    return bytes(eth(type_=ETH_IPV6) / IPv6(src=CLIENT6, dst=SERVER6) / UDP(sport=sport, dport=dport) / Raw(payload))


def ipv6_raw(next_header: int, payload: bytes) -> bytes:
    return bytes(eth(type_=ETH_IPV6) / IPv6(src=CLIENT6, dst=SERVER6, nh=next_header, plen=len(payload)) / Raw(payload))


def with_checksum6(next_header: int, data: bytes, checksum_offset: int) -> bytes:
    """Fills in the upper-layer checksum of CLIENT6 -> SERVER6 data, however short, so it is not a second defect."""
    pseudo = (socket.inet_pton(socket.AF_INET6, CLIENT6) + socket.inet_pton(socket.AF_INET6, SERVER6)
              + struct.pack("!IxxxB", len(data), next_header))
    f = bytearray(data)
    f[checksum_offset:checksum_offset + 2] = b"\0\0"
    f[checksum_offset:checksum_offset + 2] = struct.pack("!H", inet_checksum(pseudo + bytes(f)))
    return bytes(f)


def udp6_bytes(payload: bytes, sport=40000, dport=9) -> bytes:
    """A UDP header + payload whose checksum is right for CLIENT6 -> SERVER6, to put behind raw extension headers."""
    return bytes(IPv6(src=CLIENT6, dst=SERVER6) / UDP(sport=sport, dport=dport) / Raw(payload))[40:]


# ---------------------------------------------------------------------------------------------------------
# Reference parser: the rules from src/FastPath.Core/Packets/DropReason.cs and the parsing notes.

def classify(frame: bytes):
    if len(frame) < 14:
        return "ethernet_truncated"
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    offset, tags = 14, 0
    while ethertype in VLAN_TYPES:
        if tags == 2:
            return "vlan_too_many_tags"
        if len(frame) < offset + 4:
            return "vlan_truncated"
        ethertype = struct.unpack_from("!H", frame, offset + 2)[0]
        offset += 4
        tags += 1
    if ethertype == ETH_IPV4:
        return classify_ipv4(frame[offset:])
    if ethertype == ETH_IPV6:
        return classify_ipv6(frame[offset:])
    return None


def classify_ipv4(p: bytes):
    if len(p) < 20:
        return "ipv4_truncated"
    if p[0] >> 4 != 4:
        return "ipv4_bad_version"
    header_length = (p[0] & 0x0F) * 4
    if header_length < 20:
        return "ipv4_bad_header_length"
    if header_length > len(p):
        return "ipv4_header_exceeds_frame"
    i = 20
    while i < header_length:
        kind = p[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= header_length or p[i + 1] < 2 or i + p[i + 1] > header_length:
            return "ipv4_bad_options"
        i += p[i + 1]
    if not ipv4_header_verifies(p[:header_length]):
        return "ipv4_bad_checksum"
    total_length = struct.unpack_from("!H", p, 2)[0]
    if total_length < header_length:
        return "ipv4_total_length_below_header"
    if total_length > len(p):
        return "ipv4_total_length_exceeds_frame"
    fragment_offset = struct.unpack_from("!H", p, 6)[0] & 0x1FFF
    if fragment_offset * 8 + (total_length - header_length) > 65535:
        return "ipv4_fragment_too_large"
    if fragment_offset != 0:
        return None
    return classify_l4(p[9], p[header_length:total_length], v6=False)


def ipv6_address_receivable(source: bytes, destination: bytes) -> bool:
    loopback = bytes(15) + b"\x01"
    if source[0] == 0xFF or loopback in (source, destination):
        return False
    return destination[0] != 0xFF or destination[1] & 0x0F > 1


def hop_by_hop_options_valid(header: bytes) -> bool:
    """ip6_parse_tlv's checks of hop-by-hop options, as PacketParser.HopByHopOptionsValid has them."""
    padding, options, i = 0, 0, 2
    while i < len(header):
        if header[i] == 0:
            padding += 1
            if padding > 7:
                return False
            i += 1
            continue
        if len(header) - i < 2 or header[i + 1] + 2 > len(header) - i:
            return False
        kind, length = header[i], header[i + 1] + 2
        if kind == 1:
            padding += length
            if padding > 7 or any(header[i + 2:i + length]):
                return False
        else:
            options += 1
            if options > 8:
                return False
            if kind == 5:
                valid = length == 4
            elif kind == 0x31:
                valid = (40 + i) % 4 == 0
            elif kind in (0x07, 0xC2):
                valid = False
            else:
                valid = kind & 0xC0 == 0
            if not valid:
                return False
            padding = 0
        i += length
    return True


def classify_ipv6(p: bytes):
    if len(p) < 40:
        return "ipv6_truncated"
    if p[0] >> 4 != 6:
        return "ipv6_bad_version"
    if not ipv6_address_receivable(p[8:24], p[24:40]):
        return "ipv6_bad_address"
    payload_length = struct.unpack_from("!H", p, 4)[0]
    if 40 + payload_length > len(p):
        return "ipv6_payload_exceeds_frame"
    end = 40 + payload_length
    next_header, position, fragment_offset = p[6], 40, 0
    while next_header in (0, 43, 44, 51, 60):
        if position + 2 > end:
            return "ipv6_extension_header_truncated"
        if next_header == 44:
            length = 8
        elif next_header == 51:
            length = (p[position + 1] + 2) * 4
        else:
            length = (p[position + 1] + 1) * 8
        if position + length > end:
            return "ipv6_extension_header_truncated"
        if next_header == 0 and position == 40 and not hop_by_hop_options_valid(p[position:position + length]):
            return "ipv6_bad_hop_by_hop_options"
        if next_header == 44:
            fragment_offset = struct.unpack_from("!H", p, position + 2)[0] >> 3
            if fragment_offset * 8 + (end - position - 8) > 65535:
                return "ipv6_fragment_too_large"
        next_header = p[position]
        position += length
    if fragment_offset != 0:
        return None
    return classify_l4(next_header, p[position:end], v6=True)


def classify_l4(protocol: int, segment: bytes, v6: bool):
    if protocol == 6:
        if len(segment) < 20:
            return "tcp_truncated"
        data_offset = segment[12] >> 4
        if data_offset < 5 or data_offset * 4 > len(segment):
            return "tcp_bad_data_offset"
    elif protocol == 17:
        if len(segment) < 8:
            return "udp_truncated"
        length = struct.unpack_from("!H", segment, 4)[0]
        if length < 8 or length > len(segment):
            return "udp_bad_length"
    elif protocol == 1 and not v6:
        if len(segment) < 8:
            return "icmp_truncated"
    elif protocol == 58 and v6:
        if len(segment) < 8:
            return "icmpv6_truncated"
    return None


# ---------------------------------------------------------------------------------------------------------
# Valid frames. Short ones are padded to the 60-byte Ethernet minimum as a NIC delivers them, so the
# dataplane must size IP and L4 by their length fields, not by the frame.

def valid_frames():
    frames = []

    def add(what, packet):
        frames.append((what, bytes(packet), None))

    tcp4 = eth() / IP(src=CLIENT4, dst=SERVER4, id=0x1000, flags="DF")
    tcp4r = eth(MAC_A, MAC_B) / IP(src=SERVER4, dst=CLIENT4, id=0x2000, flags="DF")
    syn_options = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1000, 0)), ("NOP", None), ("WScale", 7)]
    add("ipv4 tcp syn", tcp4 / TCP(sport=49152, dport=80, flags="S", seq=1000, window=64240, options=syn_options))
    add("ipv4 tcp syn-ack", tcp4r / TCP(sport=80, dport=49152, flags="SA", seq=5000, ack=1001, window=65160,
                                        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (2000, 1000)),
                                                 ("NOP", None), ("WScale", 7)]))
    add("ipv4 tcp ack", tcp4 / TCP(sport=49152, dport=80, flags="A", seq=1001, ack=5001, window=502))
    request = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    add("ipv4 tcp data", tcp4 / TCP(sport=49152, dport=80, flags="PA", seq=1001, ack=5001, window=502) / Raw(request))
    add("ipv4 tcp fin", tcp4 / TCP(sport=49152, dport=80, flags="FA", seq=1001 + len(request), ack=5001, window=502))
    add("ipv4 tcp rst", tcp4r / TCP(sport=80, dport=49152, flags="R", seq=5001, window=0))

    dns4 = eth() / IP(src=CLIENT4, dst=DNS4, id=0x3000)
    dns4r = eth(MAC_A, MAC_B) / IP(src=DNS4, dst=CLIENT4, id=0x3001)
    add("ipv4 udp dns query", dns4 / UDP(sport=53000, dport=53) / DNS(id=0x1234, rd=1, qd=DNSQR(qname="example.com", qtype="A")))
    add("ipv4 udp dns response", dns4r / UDP(sport=53, dport=53000) / DNS(
        id=0x1234, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.com", qtype="A"),
        an=DNSRR(rrname="example.com", type="A", ttl=300, rdata="198.51.100.80")))

    ping_data = bytes(range(48))
    add("ipv4 icmp echo request", eth() / IP(src=CLIENT4, dst=SERVER4, id=0x4001) / ICMP(type=8, id=0x77, seq=1) / Raw(ping_data))
    add("ipv4 icmp echo reply", eth(MAC_A, MAC_B) / IP(src=SERVER4, dst=CLIENT4, id=0x4002) / ICMP(type=0, id=0x77, seq=1) / Raw(ping_data))
    add("ipv4 record route option (ping -R)",
        eth() / IP(src=CLIENT4, dst=SERVER4, id=0x4003, options=[IPOption_RR(routers=["0.0.0.0"] * 9)])
        / ICMP(type=8, id=0x78, seq=1) / Raw(ping_data))

    # ping -s 1600: a first fragment with the ICMP header and a last fragment at offset 1480.
    big_ping = IP(src=CLIENT4, dst=SERVER4, id=0x5000) / ICMP(type=8, id=0x79, seq=1) / Raw(bytes(i & 0xFF for i in range(1600)))
    first, last = fragment(big_ping, fragsize=1480)
    add("ipv4 first fragment", eth() / first)
    add("ipv4 non-first fragment", eth() / last)

    add("802.1q ipv4 tcp syn", eth(type_=0x8100) / Dot1Q(vlan=100, prio=3, type=ETH_IPV4)
        / IP(src=CLIENT4, dst=SERVER4, id=0x6000, flags="DF") / TCP(sport=49153, dport=443, flags="S", seq=7000, options=[("MSS", 1460)]))
    add("qinq 802.1ad+802.1q ipv4 udp", eth(type_=0x88A8) / Dot1AD(vlan=10, type=0x8100) / Dot1Q(vlan=20, type=ETH_IPV4)
        / IP(src=CLIENT4, dst=SERVER4, id=0x6001) / UDP(sport=514, dport=514) / Raw(b"<13>Nov 14 22:13:20 fastpath demo: hello"))
    add("0x9100+802.1q ipv6 udp", eth(type_=0x9100) / Dot1Q(vlan=30, type=0x8100) / Dot1Q(vlan=40, type=ETH_IPV6)
        / IPv6(src=CLIENT6, dst=SERVER6) / UDP(sport=40001, dport=9) / Raw(bytes(16)))

    ip6 = eth(type_=ETH_IPV6) / IPv6(src=CLIENT6, dst=SERVER6)
    ip6r = eth(MAC_A, MAC_B, ETH_IPV6) / IPv6(src=SERVER6, dst=CLIENT6)
    add("ipv6 tcp syn", ip6 / TCP(sport=49154, dport=443, flags="S", seq=9000, window=64800,
                                  options=[("MSS", 1440), ("SAckOK", b""), ("WScale", 7)]))
    add("ipv6 udp dns query", ip6 / UDP(sport=53001, dport=53) / DNS(id=0x4321, rd=1, qd=DNSQR(qname="example.com", qtype="AAAA")))
    add("icmpv6 echo request", ip6 / ICMPv6EchoRequest(id=0x88, seq=1, data=ping_data))
    add("icmpv6 echo reply", ip6r / ICMPv6EchoReply(id=0x88, seq=1, data=ping_data))
    add("ipv6 hop-by-hop + udp", ip6 / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")]) / UDP(sport=40002, dport=9) / Raw(b"hop-by-hop"))
    add("ipv6 routing (srh) + udp", ip6 / IPv6ExtHdrSegmentRouting(addresses=[SERVER6, "2001:db8:2::1"], segleft=0)
        / UDP(sport=40003, dport=9) / Raw(b"segment routing"))
    add("ipv6 destination options + udp", ip6 / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")]) / UDP(sport=40004, dport=9) / Raw(b"dest opts"))

    big_ping6 = IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(id=0xABCD) / ICMPv6EchoRequest(id=0x89, seq=1, data=bytes(i & 0xFF for i in range(1400)))
    first6, last6 = fragment6(big_ping6, 1280)
    add("ipv6 first fragment", eth(type_=ETH_IPV6) / first6)
    add("ipv6 non-first fragment", eth(type_=ETH_IPV6) / last6)

    icmp6 = bytes(IPv6(src=CLIENT6, dst=SERVER6) / ICMPv6EchoRequest(id=0x8A, seq=1, data=ping_data))[40:]
    add("ipv6 ah + icmpv6", ipv6_raw(51, ah_header(58, spi=0x1000, seq=1) + icmp6))

    add("arp request", eth("ff:ff:ff:ff:ff:ff", MAC_A, 0x0806) / ARP(op=1, hwsrc=MAC_A, psrc=CLIENT4, hwdst="00:00:00:00:00:00", pdst=ROUTER4))
    add("arp reply", eth(MAC_A, MAC_B, 0x0806) / ARP(op=2, hwsrc=MAC_B, psrc=ROUTER4, hwdst=MAC_A, pdst=CLIENT4))
    add("802.3/llc stp bpdu", Dot3(dst="01:80:c2:00:00:00", src=MAC_A) / LLC(dsap=0x42, ssap=0x42, ctrl=3)
        / STP(rootid=32768, rootmac=MAC_A, bridgeid=32768, bridgemac=MAC_A, portid=0x8001))
    add("ipv4 gre (ipv4 icmp inside)", eth() / IP(src=CLIENT4, dst=SERVER4, id=0x7000) / GRE(proto=ETH_IPV4)
        / IP(src="192.0.2.100", dst="198.51.100.100", id=0x7001) / ICMP(type=8, id=0x7A, seq=1) / Raw(b"tunnelled"))
    add("ipv4 esp", eth() / IP(src=CLIENT4, dst=SERVER4, id=0x7100) / ESP(spi=0x1001, seq=1, data=bytes(range(0x40, 0x60))))
    add("ipv4 sctp init", eth() / IP(src=CLIENT4, dst=SERVER4, id=0x7200)
        / SCTP(sport=5000, dport=5000, tag=0) / SCTPChunkInit(init_tag=0x01020304, a_rwnd=65535, n_out_streams=10, n_in_streams=10, init_tsn=1))

    return [(what, frame.ljust(60, b"\0"), None) for what, frame, _ in frames]


# ---------------------------------------------------------------------------------------------------------
# Malformed frames: one per parser drop reason, each with only that defect.

def malformed_frames():
    frames = []

    def add(reason, frame, pad=True):
        # Frames whose defect is their length are left as short as the defect needs.
        frames.append((reason, frame.ljust(60, b"\0") if pad else frame, reason))

    udp4 = ipv4_udp(b"twelve bytes")  # 14 + 20 + 8 + 12 = 54 bytes
    udp6 = ipv6_udp(b"twelve bytes")  # 14 + 40 + 8 + 12 = 74 bytes

    add("ethernet_truncated", udp4[:13], pad=False)
    add("vlan_truncated", bytes(eth(type_=0x8100)) + b"\x00\x64", pad=False)
    add("vlan_too_many_tags", bytes(eth(type_=0x88A8) / Dot1AD(vlan=10, type=0x8100) / Dot1Q(vlan=20, type=0x8100)
                                    / Dot1Q(vlan=30, type=ETH_IPV4)) + udp4[14:])

    add("ipv4_truncated", udp4[:14 + 19], pad=False)
    add("ipv4_bad_version", edit_ipv4(udp4, 14, version=6))
    add("ipv4_bad_header_length", edit_ipv4(udp4, 14, ihl=4))
    # IHL 15 claims 60 header bytes; the frame holds 20 + 8 + 4 after the Ethernet header.
    short = ipv4_udp(b"four")
    add("ipv4_header_exceeds_frame", edit_ipv4(short, 14, ihl=15), pad=False)
    # NOP, then a record-route option whose length 11 runs past the 4 option bytes IHL 6 leaves.
    options = bytes([0x01, 0x07, 0x0B, 0x04])
    with_options = udp4[:34] + options + udp4[34:]
    add("ipv4_bad_options", edit_ipv4(with_options, 14, ihl=6, total_length=len(with_options) - 14))
    bad = bytearray(ipv4_udp(b"bad checksum", ident=0x4001))
    struct.pack_into("!H", bad, 24, struct.unpack_from("!H", bad, 24)[0] ^ 0x0F0F)
    add("ipv4_bad_checksum", bytes(bad))
    add("ipv4_total_length_below_header", edit_ipv4(udp4, 14, total_length=16))
    add("ipv4_total_length_exceeds_frame", edit_ipv4(udp4, 14, total_length=len(udp4) - 14 + 200), pad=False)
    # A last fragment at offset 8190 * 8 = 65520 carrying 24 bytes ends at 65544.
    tail = bytes(eth() / IP(src=CLIENT4, dst=SERVER4, id=0x4002, proto=17, frag=8190) / Raw(bytes(range(24))))
    add("ipv4_fragment_too_large", tail)

    add("ipv6_truncated", udp6[:14 + 39], pad=False)
    bad6 = bytearray(udp6)
    bad6[14] = 0x40 | (bad6[14] & 0x0F)
    add("ipv6_bad_version", bytes(bad6))
    long6 = bytearray(udp6)
    struct.pack_into("!H", long6, 18, struct.unpack_from("!H", long6, 18)[0] + 64)
    add("ipv6_payload_exceeds_frame", bytes(long6), pad=False)
    # A destination options header claiming (1 + 1) * 8 = 16 bytes in an 8-byte payload.
    add("ipv6_extension_header_truncated", ipv6_raw(60, bytes([17, 1, 1, 4, 0, 0, 0, 0])))
    add("ipv6_bad_address", bytes(eth(type_=ETH_IPV6) / IPv6(src="ff02::1", dst=SERVER6) / UDP(sport=40006, dport=9) / Raw(b"multicast source")))
    # An unknown hop-by-hop option whose type (01 in its top bits) says "discard the packet".
    add("ipv6_bad_hop_by_hop_options", ipv6_raw(0, bytes([17, 0, 0x7E, 4, 0, 0, 0, 0]) + udp6_bytes(b"discard")))
    # A last fragment at offset 65520 carrying 24 bytes ends at 65544.
    add("ipv6_fragment_too_large", ipv6_raw(44, struct.pack("!BBHI", 17, 0, 8190 << 3, 0xABCE) + bytes(range(24))))

    tcp_head = bytes(TCP(sport=49155, dport=80, flags="S", seq=1))[:12]  # ports, sequence and ack only
    add("tcp_truncated", bytes(eth() / IP(src=CLIENT4, dst=SERVER4, id=0x4003, proto=6) / Raw(tcp_head)))
    # Data offset 15 claims 60 header bytes of a 24-byte segment.
    add("tcp_bad_data_offset", bytes(eth(type_=ETH_IPV6) / IPv6(src=CLIENT6, dst=SERVER6)
                                     / TCP(sport=49156, dport=80, flags="PA", seq=1, ack=1, dataofs=15) / Raw(b"data")))
    add("udp_truncated", ipv6_raw(17, struct.pack("!HHH", 40005, 9, 8)))  # the checksum field is what is missing
    udp_long = bytearray(udp4)
    struct.pack_into("!H", udp_long, 14 + 20 + 4, 200)  # the datagram is only 20 bytes
    add("udp_bad_length", bytes(udp_long))
    add("icmp_truncated", bytes(eth() / IP(src=CLIENT4, dst=SERVER4, id=0x4004, proto=1) / Raw(b"\x08\x00\xf7\xff")))
    add("icmpv6_truncated", ipv6_raw(58, with_checksum6(58, b"\x80\x00\x00\x00", 2)))

    return frames


# ---------------------------------------------------------------------------------------------------------

def write_pcap(path, frames):
    with open(path, "wb") as out:
        # Classic pcap, little-endian, microseconds, version 2.4, snaplen 262144, LINKTYPE_ETHERNET.
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for index, frame in enumerate(frames):
            microseconds = index * 1000
            seconds = FIRST_SECOND + microseconds // 1_000_000
            out.write(struct.pack("<IIII", seconds, microseconds % 1_000_000, len(frame), len(frame)))
            out.write(frame)


def main():
    valid = valid_frames()
    malformed = malformed_frames()

    if sorted(reason for _, _, reason in malformed) != sorted(PARSER_REASONS):
        sys.exit("malformed frames do not cover each parser drop reason exactly once")
    # The reference parser verifies IPv4 header checksums, so this also proves every valid frame's checksum.
    for what, frame, expected in valid + malformed:
        actual = classify(frame)
        if actual != expected:
            sys.exit(f"{what}: reference parser says {actual}, expected {expected}")

    frames = valid + malformed
    random.Random(SHUFFLE_SEED).shuffle(frames)

    write_pcap(PCAP_PATH, [frame for _, frame, _ in frames])
    with open(TSV_PATH, "w", newline="\n") as tsv:
        for index, (_, _, reason) in enumerate(frames, start=1):
            tsv.write(f"{index}\t{'drop' if reason else 'forward'}\t{reason or '-'}\n")

    size = os.path.getsize(PCAP_PATH)
    if size >= MAX_BYTES:
        sys.exit(f"{PCAP_PATH} is {size} bytes, over the {MAX_BYTES}-byte budget")
    for index, (what, frame, _) in enumerate(frames, start=1):
        print(f"{index:3} {len(frame):5}  {what}")
    print(f"{len(frames)} frames ({len(malformed)} dropped), {size} bytes -> {PCAP_PATH}")


if __name__ == "__main__":
    main()
