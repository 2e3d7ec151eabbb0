// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Packets;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Packets;

/// <summary>
/// Exactly one case per parser drop reason. Each case is a frame with that one defect and a control frame, the
/// same frame without the defect, which must be accepted: this shows the defect alone causes the drop.
/// </summary>
public class PacketParserDropTests
{
    private const byte Tcp6 = 6;
    private const byte Udp17 = 17;

    public static TheoryData<DropReason, byte[], byte[]> DefectFrames => BuildDefectFrames();

    [Theory]
    [MemberData(nameof(DefectFrames))]
    public void EachDefectIsDroppedWithItsOwnReason(DropReason reason, byte[] defective, byte[] control)
    {
        var packet = default(ParsedPacket);
        Assert.Equal(DropReason.None, PacketParser.Parse(control, ref packet));
        Assert.Equal(reason, PacketParser.Parse(defective, ref packet));
    }

    [Fact]
    public void EveryParserDropReasonHasExactlyOneDefectFrame()
    {
        DropReason[] parserReasons = Enum.GetValues<DropReason>()
            .Where(r => r >= DropReason.EthernetTruncated && r <= DropReason.Icmpv6Truncated)
            .ToArray();
        DropReason[] covered = BuildDefectFrames().Select(row => row.Data.Item1).ToArray();

        Assert.Equal(parserReasons.Length, covered.Distinct().Count());   // no reason tested twice
        Assert.Equal(parserReasons.Order(), covered.Order());             // and none left out
    }

    private static TheoryData<DropReason, byte[], byte[]> BuildDefectFrames()
    {
        var data = new TheoryData<DropReason, byte[], byte[]>();
        void Add(DropReason reason, byte[] defective, byte[] control) => data.Add(reason, defective, control);

        // Layer 2
        byte[] bareArp = Ethernet(EtherTypeArp, []);
        Add(DropReason.EthernetTruncated, Cut(bareArp, 13), bareArp);

        byte[] taggedArp = Ethernet(EtherTypeArp, [], (Tpid8021Q, 7));
        Add(DropReason.VlanTruncated, Cut(taggedArp, 16), taggedArp);

        byte[] ipv4Tcp = Ipv4(Tcp6, Tcp(40000, 443));
        Add(
            DropReason.VlanTooManyTags,
            Ethernet(EtherTypeIPv4, ipv4Tcp, (Tpid8021AD, 1), (Tpid8021Q, 2), (Tpid8021Q, 3)),
            Ethernet(EtherTypeIPv4, ipv4Tcp, (Tpid8021AD, 1), (Tpid8021Q, 2)));

        // IPv4
        byte[] noPayload = Ethernet(EtherTypeIPv4, Ipv4(59, []));
        Add(DropReason.Ipv4Truncated, Cut(noPayload, 14 + 19), noPayload);

        byte[] tcp = Tcp(40000, 443);
        Add(
            DropReason.Ipv4BadVersion,
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp, patch: h => h[0] = 0x55)),
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp)));

        Add(
            DropReason.Ipv4BadHeaderLength,
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp, patch: h => h[0] = 0x44)),
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp)));

        // IHL 6 with the frame cut inside the option word: the header runs past the frame.
        byte[] withOption = Ethernet(EtherTypeIPv4, Ipv4(59, [], options: [0x94, 4, 0, 0]));
        Add(DropReason.Ipv4HeaderExceedsFrame, Cut(withOption, 14 + 22), withOption);

        // Router alert claiming 5 bytes in a 4-byte option area.
        Add(
            DropReason.Ipv4BadOptions,
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp, options: [0x94, 5, 0, 0])),
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp, options: [0x94, 4, 0, 0])));

        byte[] badChecksum = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp));
        badChecksum[14 + 11] ^= 0x01;
        Add(DropReason.Ipv4BadChecksum, badChecksum, Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp)));

        Add(
            DropReason.Ipv4TotalLengthBelowHeader,
            Ethernet(EtherTypeIPv4, Ipv4(59, [], patch: h => SetUInt16(h, 2, 19))),
            Ethernet(EtherTypeIPv4, Ipv4(59, [])));

        Add(
            DropReason.Ipv4TotalLengthExceedsFrame,
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp, patch: h => SetUInt16(h, 2, 41))),
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcp)));

        // The last fragment of a datagram: 65512 + 28 ends at 65540, while 65504 + 28 = 65532 still fits.
        byte[] udpTail = Udp(1, 2, new byte[20]);
        Add(
            DropReason.Ipv4FragmentTooLarge,
            Ethernet(EtherTypeIPv4, Ipv4(Udp17, udpTail, fragmentOffset: 65512)),
            Ethernet(EtherTypeIPv4, Ipv4(Udp17, udpTail, fragmentOffset: 65504)));

        // IPv6
        byte[] ipv6NoPayload = Ethernet(EtherTypeIPv6, Ipv6(59, []));
        Add(DropReason.Ipv6Truncated, Cut(ipv6NoPayload, 14 + 39), ipv6NoPayload);

        byte[] badVersion6 = Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2)));
        badVersion6[14] = (byte)(0x40 | (badVersion6[14] & 0x0F));
        Add(DropReason.Ipv6BadVersion, badVersion6, Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2))));

        byte[] longPayload = Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2)));
        SetUInt16(longPayload, 14 + 4, 9);
        Add(DropReason.Ipv6PayloadExceedsFrame, longPayload, Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2))));

        // Destination options claiming 16 bytes in an 8-byte payload (the frame has the bytes, the payload does not).
        byte[] longOptions = DestinationOptions(59);
        longOptions[1] = 1;
        Add(
            DropReason.Ipv6ExtensionHeaderTruncated,
            Concat(Ethernet(EtherTypeIPv6, Ipv6(60, longOptions)), new byte[8]),
            Concat(Ethernet(EtherTypeIPv6, Ipv6(60, DestinationOptions(59))), new byte[8]));

        Add(
            DropReason.Ipv6BadAddress,
            Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2), source: "ff02::1")),
            Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2), source: "2001:db8::1")));

        // An unknown option whose type says "discard" (top bits 01); 00 says "skip".
        byte[] discard = HopByHop(Udp17);
        discard[2] = 0x7E;
        byte[] skip = HopByHop(Udp17);
        skip[2] = 0x1E;
        Add(
            DropReason.Ipv6BadHopByHopOptions,
            Ethernet(EtherTypeIPv6, Ipv6(0, Concat(discard, Udp(1, 2)))),
            Ethernet(EtherTypeIPv6, Ipv6(0, Concat(skip, Udp(1, 2)))));

        // 65528 + 16 ends at 65544; 65512 + 16 = 65528 still fits.
        Add(
            DropReason.Ipv6FragmentTooLarge,
            Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(Udp17, offset: 65528, more: false), new byte[16]))),
            Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(Udp17, offset: 65512, more: false), new byte[16]))));

        // Layer 4
        byte[] tcpHeader = Tcp(40000, 443);
        Add(
            DropReason.TcpTruncated,
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Cut(tcpHeader, 19))),
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcpHeader)));

        // Data offset 6 (24 bytes) on a 20-byte segment; the Ethernet padding that follows does not count.
        byte[] longOffset = Tcp(40000, 443);
        longOffset[12] = 6 << 4;
        Add(
            DropReason.TcpBadDataOffset,
            PadToMinimum(Ethernet(EtherTypeIPv4, Ipv4(Tcp6, longOffset))),
            PadToMinimum(Ethernet(EtherTypeIPv4, Ipv4(Tcp6, tcpHeader))));

        byte[] udpHeader = Udp(1, 2);
        Add(
            DropReason.UdpTruncated,
            Ethernet(EtherTypeIPv4, Ipv4(Udp17, Cut(udpHeader, 7))),
            Ethernet(EtherTypeIPv4, Ipv4(Udp17, udpHeader)));

        // UDP length 9 on an 8-byte datagram; the Ethernet padding that follows does not count.
        byte[] longUdp = Udp(1, 2);
        SetUInt16(longUdp, 4, 9);
        Add(
            DropReason.UdpBadLength,
            PadToMinimum(Ethernet(EtherTypeIPv4, Ipv4(Udp17, longUdp))),
            PadToMinimum(Ethernet(EtherTypeIPv4, Ipv4(Udp17, udpHeader))));

        byte[] echo = Icmp(8, 0, id: 1, sequence: 1);
        Add(
            DropReason.IcmpTruncated,
            Ethernet(EtherTypeIPv4, Ipv4(1, Cut(echo, 7))),
            Ethernet(EtherTypeIPv4, Ipv4(1, echo)));

        byte[] echo6 = Icmp(128, 0, id: 1, sequence: 1);
        Add(
            DropReason.Icmpv6Truncated,
            Ethernet(EtherTypeIPv6, Ipv6(58, Cut(echo6, 7))),
            Ethernet(EtherTypeIPv6, Ipv6(58, echo6)));

        return data;
    }

    private static void SetUInt16(byte[] bytes, int offset, ushort value)
        => BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(offset), value);
}
