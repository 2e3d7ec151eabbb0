// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Core.Packets;

/// <summary>
/// The per-packet header parser: Ethernet, up to two VLAN tags, IPv4 or IPv6 (with its extension headers)
/// and the first L4 header. It accepts and drops what the Linux receive path accepts and drops, so that FastPath
/// can sit in front of a kernel without changing what reaches it.
/// </summary>
public static class PacketParser
{
    private const int EthernetHeaderLength = 14;
    private const int VlanTagLength = 4;
    private const int MaxVlanTags = 2;
    private const int Ipv4MinHeaderLength = 20;
    private const int Ipv6HeaderLength = 40;
    private const int MaxHopByHopOptions = 8; // net.ipv6.max_hbh_opts_number
    private const int MaxIpPacket = 65535;

    private const ushort EtherTypeIPv4 = 0x0800;
    private const ushort EtherTypeIPv6 = 0x86DD;
    private const ushort EtherTypeVlan = 0x8100;     // 802.1Q
    private const ushort EtherTypeQinQ = 0x88A8;     // 802.1ad service tag
    private const ushort EtherTypeQinQOld = 0x9100;  // pre-standard QinQ, still seen on old switches

    private const byte ProtoHopByHop = 0;
    private const byte ProtoIcmp = 1;
    private const byte ProtoTcp = 6;
    private const byte ProtoUdp = 17;
    private const byte ProtoDccp = 33;
    private const byte ProtoRouting = 43;
    private const byte ProtoFragment = 44;
    private const byte ProtoAh = 51;
    private const byte ProtoIcmpv6 = 58;
    private const byte ProtoDestinationOptions = 60;
    private const byte ProtoSctp = 132;

    private const byte HopByHopPad1 = 0x00;
    private const byte HopByHopPadN = 0x01;
    private const byte HopByHopRouterAlert = 0x05;
    private const byte HopByHopCalipso = 0x07;
    private const byte HopByHopIoam = 0x31;
    private const byte HopByHopJumbo = 0xC2;
    private const byte ProtoUdpLite = 136;

    /// <summary>
    /// Parses <paramref name="frame"/> into <paramref name="packet"/>, which is fully overwritten. Returns
    /// <see cref="DropReason.None"/> when the frame is acceptable (non-IP frames included: they are forwarded),
    /// otherwise the first defect found. Never throws and never allocates.
    /// </summary>
    public static DropReason Parse(ReadOnlySpan<byte> frame, ref ParsedPacket packet)
    {
        packet = default;

        if (frame.Length < EthernetHeaderLength)
        {
            return DropReason.EthernetTruncated;
        }

        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(12));
        int offset = EthernetHeaderLength;

        // Tags are rare on the fast path: one predictable branch when there are none.
        if (IsVlanTag(etherType))
        {
            int tags = 0;
            do
            {
                if (tags == MaxVlanTags)
                {
                    return DropReason.VlanTooManyTags;
                }

                if (frame.Length < offset + VlanTagLength)
                {
                    return DropReason.VlanTruncated;
                }

                ushort vid = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(offset)) & 0x0FFF);
                if (tags == 0)
                {
                    packet.OuterVlanId = vid;
                }
                else
                {
                    packet.InnerVlanId = vid;
                }

                etherType = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(offset + 2));
                offset += VlanTagLength;
                tags++;
            }
            while (IsVlanTag(etherType));

            packet.VlanCount = (byte)tags;
        }

        packet.EtherType = etherType;
        packet.L3Offset = offset;

        if (etherType == EtherTypeIPv4)
        {
            return ParseIPv4(frame, offset, ref packet);
        }

        if (etherType == EtherTypeIPv6)
        {
            return ParseIPv6(frame, offset, ref packet);
        }

        // ARP, 802.3 length field (< 0x0600), LLDP, MPLS...: not ours to judge.
        return DropReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsVlanTag(ushort etherType)
        => etherType == EtherTypeVlan || etherType == EtherTypeQinQ || etherType == EtherTypeQinQOld;

    private static DropReason ParseIPv4(ReadOnlySpan<byte> frame, int l3Offset, ref ParsedPacket packet)
    {
        ReadOnlySpan<byte> ip = frame.Slice(l3Offset);
        if (ip.Length < Ipv4MinHeaderLength)
        {
            return DropReason.Ipv4Truncated;
        }

        byte versionIhl = ip[0];
        if ((versionIhl >> 4) != 4)
        {
            return DropReason.Ipv4BadVersion;
        }

        int headerLength = (versionIhl & 0x0F) * 4;
        if (headerLength < Ipv4MinHeaderLength)
        {
            return DropReason.Ipv4BadHeaderLength;
        }

        if (headerLength > ip.Length)
        {
            return DropReason.Ipv4HeaderExceedsFrame;
        }

        ReadOnlySpan<byte> header = ip.Slice(0, headerLength);
        if (headerLength > Ipv4MinHeaderLength && !Ipv4OptionsValid(header.Slice(Ipv4MinHeaderLength)))
        {
            return DropReason.Ipv4BadOptions;
        }

        bool checksumOk = headerLength == Ipv4MinHeaderLength
            ? InternetChecksum.VerifyIpv4HeaderWithoutOptions(header)
            : InternetChecksum.Verify(header);
        if (!checksumOk)
        {
            return DropReason.Ipv4BadChecksum;
        }

        // The header is at least 20 bytes (checked above): read its fixed fields without further bounds checks.
        ref byte h = ref MemoryMarshal.GetReference(header);
        int totalLength = ReadBigEndian16(ref h, 2);
        if (totalLength < headerLength)
        {
            return DropReason.Ipv4TotalLengthBelowHeader;
        }

        // Anything past the total length is Ethernet padding (frames below 60 bytes) and is ignored.
        if (totalLength > ip.Length)
        {
            return DropReason.Ipv4TotalLengthExceedsFrame;
        }

        packet.L3 = L3Kind.IPv4;
        packet.Tos = Unsafe.Add(ref h, 1);
        packet.Ttl = Unsafe.Add(ref h, 8);
        byte protocol = Unsafe.Add(ref h, 9);
        packet.Protocol = protocol;
        packet.IpLength = totalLength;
        packet.Source = InetAddress.FromIPv4Unchecked(ref Unsafe.Add(ref h, 12));
        packet.Destination = InetAddress.FromIPv4Unchecked(ref Unsafe.Add(ref h, 16));

        int payloadLength = totalLength - headerLength;
        int flagsOffset = ReadBigEndian16(ref h, 6);
        if ((flagsOffset & 0x3FFF) != 0) // MF set or a non-zero offset
        {
            int fragmentOffset = (flagsOffset & 0x1FFF) * 8;
            packet.FragmentOffset = (ushort)fragmentOffset;
            packet.Fragment = fragmentOffset != 0 ? FragmentKind.NonFirst : FragmentKind.First;
            // Refused with the fragment known as one: a defragmenting worker queues it anyway, as ip_frag_queue does.
            if (fragmentOffset + payloadLength > MaxIpPacket)
            {
                return DropReason.Ipv4FragmentTooLarge;
            }

            if (fragmentOffset != 0)
            {
                return DropReason.None; // no L4 header in here
            }
        }

        return ParseL4(ip.Slice(headerLength, payloadLength), l3Offset + headerLength, protocol, isIPv6: false, ref packet);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ReadBigEndian16(ref byte start, int offset)
    {
        ushort value = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, offset));
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    private const byte Ipv4OptionRecordRoute = 0x07;
    private const byte Ipv4OptionTimestamp = 0x44;
    private const byte Ipv4OptionLooseSourceRoute = 0x83;
    private const byte Ipv4OptionStrictSourceRoute = 0x89;
    private const byte Ipv4OptionCipso = 0x86;
    private const byte Ipv4OptionRouterAlert = 0x94;
    private const int TimestampAndAddress = 1;
    private const int TimestampPrespecified = 3;

    // What ip_rcv_options refuses (after raw PREROUTING, when the kernel routes the packet): ip_options_compile's
    // checks on a received packet, then any source route (net.ipv4.conf.*.accept_source_route is 0 by default).
    // EOL ends the list, NOP is one byte, every other option carries a length that is at least 2 and stays inside
    // the header. Record route: one only, at least 3 bytes, a pointer of at least 4 and, while it points inside the
    // option, room for an address there. Timestamp: one only, at least 4 bytes, a pointer of at least 5; while it
    // points inside the option, room for a timestamp there (for an address and a timestamp with flags 1 and 3);
    // once it points past the option, an overflow count of 15 (unless flag 3) can count no more. Router alert: at
    // least 4 bytes. CIPSO: cipso_v4_validate finds no DOI (none is configured). Security, stream ID and unknown
    // options are taken as they are.
    private static bool Ipv4OptionsValid(ReadOnlySpan<byte> options)
    {
        bool recordRoute = false, timestamp = false;
        int i = 0;
        while (i < options.Length)
        {
            byte type = options[i];
            if (type == 0)
            {
                break;
            }

            if (type == 1)
            {
                i++;
                continue;
            }

            if (i + 1 >= options.Length)
            {
                return false;
            }

            int length = options[i + 1];
            if (length < 2 || length > options.Length - i)
            {
                return false;
            }

            ReadOnlySpan<byte> option = options.Slice(i, length);
            switch (type)
            {
                case Ipv4OptionLooseSourceRoute or Ipv4OptionStrictSourceRoute or Ipv4OptionCipso:
                    return false;

                case Ipv4OptionRecordRoute:
                    if (recordRoute || length < 3 || option[2] < 4 || (option[2] <= length && option[2] + 3 > length))
                    {
                        return false;
                    }

                    recordRoute = true;
                    break;

                case Ipv4OptionTimestamp:
                    if (timestamp || length < 4 || !TimestampOptionValid(option))
                    {
                        return false;
                    }

                    timestamp = true;
                    break;

                case Ipv4OptionRouterAlert when length < 4:
                    return false;
            }

            i += length;
        }

        return true;
    }

    // The timestamp option's pointer and flags, as ip_options_compile reads them (the option is at least 4 bytes).
    private static bool TimestampOptionValid(ReadOnlySpan<byte> option)
    {
        int pointer = option[2];
        int flags = option[3] & 0x0F;
        if (pointer < 5)
        {
            return false;
        }

        if (pointer <= option.Length)
        {
            int room = flags is TimestampAndAddress or TimestampPrespecified ? 8 : 4;
            return pointer + room - 1 <= option.Length;
        }

        return flags == TimestampPrespecified || (option[3] >> 4) != 15;
    }

    private static DropReason ParseIPv6(ReadOnlySpan<byte> frame, int l3Offset, ref ParsedPacket packet)
    {
        ReadOnlySpan<byte> ip = frame.Slice(l3Offset);
        if (ip.Length < Ipv6HeaderLength)
        {
            return DropReason.Ipv6Truncated;
        }

        uint versionClassFlow = BinaryPrimitives.ReadUInt32BigEndian(ip);
        if ((versionClassFlow >> 28) != 6)
        {
            return DropReason.Ipv6BadVersion;
        }

        if (!Ipv6AddressesReceivable(ip.Slice(8, 16), ip.Slice(24, 16)))
        {
            return DropReason.Ipv6BadAddress;
        }

        // Jumbograms (payload length 0 plus a hop-by-hop jumbo option) are out of scope: the length is taken literally.
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(ip.Slice(4));
        int end = Ipv6HeaderLength + payloadLength;
        if (end > ip.Length)
        {
            return DropReason.Ipv6PayloadExceedsFrame;
        }

        packet.L3 = L3Kind.IPv6;
        packet.Tos = (byte)(versionClassFlow >> 20);
        packet.Ttl = ip[7];
        packet.IpLength = end;
        packet.Source = InetAddress.FromIPv6(ip.Slice(8, 16));
        packet.Destination = InetAddress.FromIPv6(ip.Slice(24, 16));

        ip = ip.Slice(0, end);
        byte next = ip[6];
        int position = Ipv6HeaderLength;

        // The walk has no limit but the payload, as the kernel's ipv6_skip_exthdr and ipv6_find_hdr, and takes a
        // hop-by-hop header anywhere: only one right after the fixed header is the receive path's business.
        while (IsIpv6ExtensionHeader(next))
        {
            // Every extension header is at least 8 bytes; the length byte sits at +1 in all of them.
            if (end - position < 8)
            {
                return DropReason.Ipv6ExtensionHeaderTruncated;
            }

            int length = next switch
            {
                ProtoFragment => 8,
                ProtoAh => (ip[position + 1] + 2) * 4,
                _ => (ip[position + 1] + 1) * 8,
            };

            if (length > end - position)
            {
                return DropReason.Ipv6ExtensionHeaderTruncated;
            }

            if (next == ProtoHopByHop && position == Ipv6HeaderLength && !HopByHopOptionsValid(ip.Slice(position, length)))
            {
                return DropReason.Ipv6BadHopByHopOptions;
            }

            if (next == ProtoFragment)
            {
                int field = BinaryPrimitives.ReadUInt16BigEndian(ip.Slice(position + 2));
                int fragmentOffset = field & 0xFFF8;

                // Same bound as ip6_frag_queue: the reassembled payload must fit the 16-bit payload length.
                if (fragmentOffset + (end - position - 8) > MaxIpPacket)
                {
                    return DropReason.Ipv6FragmentTooLarge;
                }

                if (fragmentOffset != 0)
                {
                    packet.Fragment = FragmentKind.NonFirst;
                    packet.FragmentOffset = (ushort)fragmentOffset;
                    packet.Protocol = ip[position];
                    packet.UpperLayerUnknown = IsIpv6ExtensionHeader(ip[position]);
                    return DropReason.None; // no L4 header in here
                }

                // Offset 0 without M is an atomic fragment (RFC 6946): a whole packet, not a fragment.
                if ((field & 1) != 0)
                {
                    packet.Fragment = FragmentKind.First;
                }
            }

            next = ip[position];
            position += length;
        }

        packet.Protocol = next;
        return ParseL4(ip.Slice(position), l3Offset + position, next, isIPv6: true, ref packet);
    }

    // ip6_rcv_core drops these before any netfilter hook: a multicast source, the loopback address at either end
    // (from anything but a loopback device), a multicast destination of the reserved scope 0 or the
    // interface-local scope 1 (from another node).
    private static bool Ipv6AddressesReceivable(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination)
    {
        if (source[0] == 0xFF || IsIpv6Loopback(source) || IsIpv6Loopback(destination))
        {
            return false;
        }

        return destination[0] != 0xFF || (destination[1] & 0x0F) > 1;
    }

    private static bool IsIpv6Loopback(ReadOnlySpan<byte> address)
        => BinaryPrimitives.ReadUInt64BigEndian(address) == 0 && BinaryPrimitives.ReadUInt64BigEndian(address.Slice(8)) == 1;

    // ipv6_parse_hopopts (ip6_parse_tlv) runs before PREROUTING and drops the packet when a hop-by-hop header has: an
    // option running past the header; more than 7 bytes of padding in a row, or PadN bytes that are not zero; more than
    // net.ipv6.max_hbh_opts_number (8) other options; an unknown option whose type asks for a discard (top bits not
    // 00); a router alert whose value is not 2 bytes; a jumbo payload option (it needs a payload of more than 65535
    // bytes); a CALIPSO option (no CALIPSO domain is configured); an IOAM option not 4-byte aligned (a well aligned
    // one is ignored, IOAM being off by default).
    private static bool HopByHopOptionsValid(ReadOnlySpan<byte> header)
    {
        int padding = 0;
        int options = 0;
        int offset = 2;
        while (offset < header.Length)
        {
            byte type = header[offset];
            if (type == HopByHopPad1)
            {
                if (++padding > 7)
                {
                    return false;
                }

                offset++;
                continue;
            }

            if (header.Length - offset < 2)
            {
                return false;
            }

            int length = header[offset + 1] + 2;
            if (length > header.Length - offset)
            {
                return false;
            }

            if (type == HopByHopPadN)
            {
                padding += length;
                if (padding > 7 || header.Slice(offset + 2, length - 2).ContainsAnyExcept((byte)0))
                {
                    return false;
                }
            }
            else
            {
                bool valid = ++options <= MaxHopByHopOptions && type switch
                {
                    HopByHopRouterAlert => length == 4,
                    HopByHopIoam => ((Ipv6HeaderLength + offset) & 3) == 0,
                    HopByHopJumbo or HopByHopCalipso => false,
                    _ => (type & 0xC0) == 0,
                };
                if (!valid)
                {
                    return false;
                }

                padding = 0;
            }

            offset += length;
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsIpv6ExtensionHeader(byte next)
        => next is ProtoHopByHop or ProtoRouting or ProtoFragment or ProtoAh or ProtoDestinationOptions;

    // l4 spans exactly the IP payload after the network headers, so every length check below ignores frame padding.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason ParseL4(ReadOnlySpan<byte> l4, int l4Offset, byte protocol, bool isIPv6, ref ParsedPacket packet)
    {
        packet.L4Offset = l4Offset;
        packet.L4Length = l4.Length;

        switch (protocol)
        {
            case ProtoTcp:
                return ParseTcp(l4, ref packet);

            case ProtoUdp:
                return ParseUdp(l4, ref packet);

            case ProtoIcmp when !isIPv6:
                return ParseIcmp(l4, ref packet, L4Kind.Icmp, DropReason.IcmpTruncated);

            case ProtoIcmpv6 when isIPv6:
                return ParseIcmp(l4, ref packet, L4Kind.Icmpv6, DropReason.Icmpv6Truncated);

            default:
                packet.L4 = L4Kind.Generic;
                if ((protocol == ProtoSctp || protocol == ProtoUdpLite || protocol == ProtoDccp) && l4.Length >= 4)
                {
                    packet.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(l4);
                    packet.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(l4.Slice(2));
                }

                return DropReason.None;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason ParseTcp(ReadOnlySpan<byte> tcp, ref ParsedPacket packet)
    {
        if (tcp.Length < 20)
        {
            return DropReason.TcpTruncated;
        }

        ref byte t = ref MemoryMarshal.GetReference(tcp); // at least 20 bytes, checked above
        int headerLength = (Unsafe.Add(ref t, 12) >> 4) * 4;
        if (headerLength < 20 || headerLength > tcp.Length)
        {
            return DropReason.TcpBadDataOffset;
        }

        packet.L4 = L4Kind.Tcp;
        packet.SourcePort = ReadBigEndian16(ref t, 0);
        packet.DestinationPort = ReadBigEndian16(ref t, 2);
        packet.TcpFlags = Unsafe.Add(ref t, 13);
        packet.TcpHeaderLength = headerLength;
        return DropReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason ParseUdp(ReadOnlySpan<byte> udp, ref ParsedPacket packet)
    {
        if (udp.Length < 8)
        {
            return DropReason.UdpTruncated;
        }

        // In a first fragment the length covers the whole reassembled datagram, not this fragment.
        ref byte u = ref MemoryMarshal.GetReference(udp); // at least 8 bytes, checked above
        int length = ReadBigEndian16(ref u, 4);
        if (length < 8 || (length > udp.Length && packet.Fragment != FragmentKind.First))
        {
            return DropReason.UdpBadLength;
        }

        packet.L4 = L4Kind.Udp;
        packet.SourcePort = ReadBigEndian16(ref u, 0);
        packet.DestinationPort = ReadBigEndian16(ref u, 2);
        return DropReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason ParseIcmp(ReadOnlySpan<byte> icmp, ref ParsedPacket packet, L4Kind kind, DropReason truncated)
    {
        if (icmp.Length < 8)
        {
            return truncated;
        }

        byte type = icmp[0];
        packet.L4 = kind;
        packet.IcmpType = type;
        packet.IcmpCode = icmp[1];
        if (kind == L4Kind.Icmp ? IsIcmpQuery(type) : IsIcmpv6Query(type))
        {
            packet.IcmpId = BinaryPrimitives.ReadUInt16BigEndian(icmp.Slice(4));
        }

        return DropReason.None;
    }

    // The queries and answers conntrack keys on their identifier (icmp_pkt_to_tuple, valid_new and invmap): echo,
    // timestamp, information and address mask for ICMP; echo and node information for ICMPv6.
    private static bool IsIcmpQuery(byte type) => type is 0 or 8 or 13 or 14 or 15 or 16 or 17 or 18;

    private static bool IsIcmpv6Query(byte type) => type is 128 or 129 or 139 or 140;
}
