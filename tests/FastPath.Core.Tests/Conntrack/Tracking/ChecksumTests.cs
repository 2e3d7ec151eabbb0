// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Testing;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>
/// nf_conntrack_checksum: with it on (the default) a packet whose transport checksum does not hold is INVALID and
/// touches no connection; with it off the checksum is not read. Expected states were taken from Linux 6.18 over a
/// veth pair (conntrack -S and ctstate counters in a namespace).
/// </summary>
public sealed class ChecksumTests
{
    private const int EthernetLength = 14, Ipv4Length = 20, Ipv6Length = 40;

    public static TheoryData<string> Protocols => ["tcp", "udp", "icmp", "icmpv6", "sctp", "tcp6", "udp6"];

    [Theory]
    [MemberData(nameof(Protocols))]
    public void APacketWithAWrongChecksumIsInvalidAndOpensNothing(string protocol)
    {
        var (frame, checksumAt) = Opening(protocol);
        var h = new TrackingHarness();
        Assert.Equal(CtState.New, h.Send(frame, accept: false).State); // the frame as built is valid

        frame[checksumAt] ^= 0x5A;
        Assert.Equal(CtState.Invalid, h.Send(frame).State);
        Assert.Equal(0, h.Table.Count);
        // icmp_error and icmpv6_error count theirs as error; the other trackers as invalid.
        bool icmp = protocol.StartsWith("icmp", StringComparison.Ordinal);
        Assert.Equal((icmp ? 0 : 1, icmp ? 1 : 0), (h.Table.Statistics.Invalid, h.Table.Statistics.Errors));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void WithTheSysctlOffTheChecksumIsNotRead(string protocol)
    {
        var (frame, checksumAt) = Opening(protocol);
        frame[checksumAt] ^= 0x5A;
        var h = new TrackingHarness();
        h.Table.VerifiesChecksums = false;
        Assert.Equal(CtState.New, h.Send(frame).State);
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void AWrongChecksumLeavesAnExistingConnectionAlone()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(fromClient: true, TcpSegment.Syn, seq: 100, ack: 0)).Flow;
        h.Now += 1000;
        byte[] synAck = Tcp(fromClient: false, TcpSegment.Syn | TcpSegment.AckFlag, seq: 500, ack: 101);
        synAck[EthernetLength + Ipv4Length + 16] ^= 1;
        Assert.Equal(CtState.Invalid, h.Send(synAck).State);
        Assert.Equal(TcpState.SynSent, h.Table[flow].Tcp.State);
        Assert.False(h.Table[flow].IsAssured);

        synAck[EthernetLength + Ipv4Length + 16] ^= 1;
        Assert.Equal(CtState.Established, h.Send(synAck).State);
        Assert.Equal(TcpState.SynRecv, h.Table[flow].Tcp.State);
    }

    // udp_error does not check a checksum of 0, over IPv6 too (where UDP may not leave it out): seen on 6.18.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AUdpDatagramSentWithoutAChecksumIsTracked(bool ipv6)
    {
        byte[] frame = ipv6 ? Ip6(17, TestFrames.Udp(ClientPort, 53, new byte[5])) : Udp(fromClient: true, dataLength: 5);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(EthernetLength + (ipv6 ? Ipv6Length : Ipv4Length) + 6)));
        Assert.Equal(CtState.New, new TrackingHarness().Send(frame).State);
    }

    [Fact]
    public void AnIcmpv6NeighbourSolicitationWithAWrongChecksumIsInvalidNotUntracked()
    {
        byte[] frame = Ip6(58, TestFrames.Icmp(135, 0));
        var h = new TrackingHarness();
        Assert.Equal(CtState.Untracked, h.Send(frame).State);
        frame[EthernetLength + Ipv6Length + 2] ^= 0x5A;
        Assert.Equal(CtState.Invalid, h.Send(frame).State);
    }

    // udplite_error sums the coverage under UDP's pseudo-header (IPPROTO_UDP), not UDP-Lite's: Linux 6.18 marks a
    // datagram checksummed as RFC 3828 says INVALID and tracks one checksummed with protocol 17.
    [Theory]
    [InlineData(17, 0, true, CtState.New)]
    [InlineData(17, 8, true, CtState.New)]
    [InlineData(136, 0, true, CtState.Invalid)]
    [InlineData(136, 0, false, CtState.New)]
    [InlineData(17, 4, true, CtState.Invalid)]   // coverage shorter than the header
    [InlineData(17, 4, false, CtState.Invalid)]
    [InlineData(17, 40, false, CtState.Invalid)] // coverage past the datagram
    public void UdpLiteIsCheckedAsTheKernelChecksIt(byte pseudoProtocol, int coverage, bool verify, CtState expected)
    {
        var h = new TrackingHarness();
        h.Table.VerifiesChecksums = verify;
        Assert.Equal(expected, h.Send(UdpLite(pseudoProtocol, coverage, "hello world"u8)).State);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UdpLiteWithoutAChecksumIsInvalid(bool verify)
    {
        byte[] frame = UdpLite(17, 0, "hello world"u8);
        frame.AsSpan(EthernetLength + Ipv4Length + 6, 2).Clear();
        var h = new TrackingHarness();
        h.Table.VerifiesChecksums = verify;
        Assert.Equal(CtState.Invalid, h.Send(frame).State);
    }

    [Fact]
    public void TheSctpChecksumIsTheCrc32cOfRfc9260()
    {
        // 32 bytes of zeros: RFC 3720 B.4's first vector (the field at 8..12 is zero anyway).
        Assert.Equal(0x8a9136aau, SctpTracker.Checksum(new byte[32]));
        // An INIT as scapy writes it, CRC32c stored little-endian at 8..12.
        byte[] init = Convert.FromHexString("9c4001bb00000000a5d1e5a301000014000012340000ffff000a000a00000001");
        Assert.True(SctpTracker.ChecksumHolds(init));
        init[20] ^= 1;
        Assert.False(SctpTracker.ChecksumHolds(init));
    }

    private static (byte[] Frame, int ChecksumAt) Opening(string protocol)
    {
        int l4v4 = EthernetLength + Ipv4Length, l4v6 = EthernetLength + Ipv6Length;
        return protocol switch
        {
            "tcp" => (Tcp(fromClient: true, TcpSegment.Syn, seq: 100, ack: 0), l4v4 + 16),
            "udp" => (WithUdpChecksum(Udp(fromClient: true, dataLength: 5), l4v4), l4v4 + 6),
            "icmp" => (Ip(1, TestFrames.Icmp(8, 0, id: 7), fromClient: true), l4v4 + 2),
            "icmpv6" => (Ip6(58, TestFrames.Icmp(128, 0, id: 7)), l4v6 + 2),
            "sctp" => (Sctp(fromClient: true, 0, TestFrames.SctpInit(1, 0x1234)), l4v4 + 8),
            "tcp6" => (Ip6(6, TestFrames.Tcp(ClientPort, ServerPort, TcpSegment.Syn)), l4v6 + 16),
            _ => (WithUdpChecksum(Ip6(17, TestFrames.Udp(ClientPort, 53, new byte[5])), l4v6), l4v6 + 6),
        };
    }

    private static byte[] Ip6(byte protocol, byte[] payload)
        => TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(protocol, payload));

    // A UDP datagram with the checksum a sender that fills it in writes.
    private static byte[] WithUdpChecksum(byte[] frame, int l4)
    {
        bool v6 = l4 == EthernetLength + Ipv6Length;
        var addresses = frame.AsSpan(v6 ? EthernetLength + 8 : EthernetLength + 12, v6 ? 32 : 8);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(l4 + 6), PseudoHeaderChecksum(addresses, 17, frame.AsSpan(l4), frame.Length - l4));
        return frame;
    }

    // A UDP-Lite datagram (protocol 136) whose checksum covers `coverage` bytes (0: all) under a pseudo-header naming pseudoProtocol.
    private static byte[] UdpLite(byte pseudoProtocol, int coverage, ReadOnlySpan<byte> data)
    {
        byte[] datagram = TestFrames.Udp(ClientPort, 5000, data.ToArray());
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)coverage);
        byte[] frame = Ip(UdpTracker.UdpLiteProtocol, datagram, fromClient: true);
        int l4 = EthernetLength + Ipv4Length;
        int covered = coverage is 0 or > 100 ? datagram.Length : Math.Min(coverage, datagram.Length);
        ushort checksum = PseudoHeaderChecksum(frame.AsSpan(EthernetLength + 12, 8), pseudoProtocol, frame.AsSpan(l4, covered), datagram.Length);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(l4 + 6), checksum);
        return frame;
    }

    private static ushort PseudoHeaderChecksum(ReadOnlySpan<byte> addresses, byte protocol, ReadOnlySpan<byte> covered, int length)
    {
        byte[] pseudo = [.. addresses, 0, 0, (byte)(length >> 8), (byte)length, 0, 0, 0, protocol, .. covered];
        ushort checksum = InternetChecksum.Compute(pseudo);
        return checksum == 0 ? (ushort)0xFFFF : checksum; // 0 would mean "no checksum"
    }
}
