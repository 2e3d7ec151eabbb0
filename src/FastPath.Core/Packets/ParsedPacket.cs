// SPDX-License-Identifier: MIT
namespace FastPath.Core.Packets;

/// <summary>
/// What <see cref="PacketParser.Parse"/> learned about one frame. A plain mutable struct with public fields so
/// that a worker can keep one per burst slot and have the parser overwrite it in place, without copies.
/// </summary>
public struct ParsedPacket
{
    // Layer 2

    /// <summary>The innermost ethertype, after any VLAN tags.</summary>
    public ushort EtherType;

    /// <summary>Number of VLAN tags: 0, 1 or 2.</summary>
    public byte VlanCount;

    /// <summary>12-bit VID of the first (outer) tag, 0 when there is none.</summary>
    public ushort OuterVlanId;

    /// <summary>12-bit VID of the second (inner) tag, 0 when there is none.</summary>
    public ushort InnerVlanId;

    /// <summary>Byte offset of the IP header (the first byte after the L2 header) in the frame.</summary>
    public int L3Offset;

    // Layer 3

    public L3Kind L3;
    public InetAddress Source;
    public InetAddress Destination;

    /// <summary>The L4 protocol number, after the IPv6 extension-header walk.</summary>
    public byte Protocol;

    /// <summary>IPv4 TTL or IPv6 hop limit.</summary>
    public byte Ttl;

    /// <summary>IPv4 TOS or IPv6 traffic class.</summary>
    public byte Tos;

    /// <summary>IPv4 total length or 40 + IPv6 payload length: the bytes the kernel counts, frame padding excluded.</summary>
    public int IpLength;

    public FragmentKind Fragment;

    /// <summary>Fragment offset in bytes.</summary>
    public ushort FragmentOffset;

    // Layer 4

    public L4Kind L4;

    /// <summary>
    /// IPv6: a non-first fragment whose fragment header names an extension header next (hop-by-hop, routing, fragment, AH,
    /// destination options), where ipv6_find_hdr finds no upper-layer protocol: ip6tables hotdrops it at a rule with -p.
    /// </summary>
    public bool UpperLayerUnknown;

    /// <summary>Byte offset of the L4 header in the frame; 0 when <see cref="L4"/> is <see cref="L4Kind.None"/>.</summary>
    public int L4Offset;

    /// <summary>Bytes from <see cref="L4Offset"/> to the end of the IP payload (not the end of the frame).</summary>
    public int L4Length;

    /// <summary>TCP, UDP, and SCTP/UDPLITE/DCCP ports; 0 otherwise.</summary>
    public ushort SourcePort;

    /// <summary>TCP, UDP, and SCTP/UDPLITE/DCCP ports; 0 otherwise.</summary>
    public ushort DestinationPort;

    /// <summary>FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80.</summary>
    public byte TcpFlags;

    /// <summary>TCP data offset * 4.</summary>
    public int TcpHeaderLength;

    public byte IcmpType;
    public byte IcmpCode;

    /// <summary>
    /// Identifier of an ICMP query or its answer (echo 8/0, timestamp 13/14, information 15/16, address mask 17/18) and of
    /// ICMPv6 echo (128/129) and node information (139/140); 0 for every other message.
    /// </summary>
    public ushort IcmpId;
}
