// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using static FastPath.Testing.TestFrames;

namespace FastPath.Benchmarks;

/// <summary>The frame shapes the parser suite measures, one per header path through <see cref="PacketParser"/>.</summary>
public enum PacketKind
{
    Ipv4Tcp,
    Ipv4Udp,
    Ipv4IcmpEcho,
    Ipv6Tcp,
    Ipv6Udp,
    VlanIpv4Tcp,
    QinQIpv4Udp,
    Ipv6HbhFragUdp,
}

public static class BenchmarkFrames
{
    private const byte ProtoHopByHop = 0;
    private const byte ProtoIcmp = 1;
    private const byte ProtoTcp = 6;
    private const byte ProtoUdp = 17;
    private const byte ProtoFragment = 44;

    public const ushort ClientPort = 40000;
    public const ushort ServerPort = 443;
    public const ushort EchoId = 0x4242;

    /// <summary>A frame as a NIC hands it over (padded to 60 bytes), with ports 40000 → 443 or echo id 0x4242.</summary>
    public static byte[] Build(PacketKind kind) => PadToMinimum(kind switch
    {
        PacketKind.Ipv4Tcp => Ethernet(EtherTypeIPv4, Ipv4(ProtoTcp, Tcp(ClientPort, ServerPort, flags: 0x10))),
        PacketKind.Ipv4Udp => Ethernet(EtherTypeIPv4, Ipv4(ProtoUdp, Udp(ClientPort, ServerPort, new byte[18]))),
        PacketKind.Ipv4IcmpEcho => Ethernet(EtherTypeIPv4, Ipv4(ProtoIcmp, Icmp(8, 0, EchoId, sequence: 1, data: new byte[56]))),
        PacketKind.Ipv6Tcp => Ethernet(EtherTypeIPv6, Ipv6(ProtoTcp, Tcp(ClientPort, ServerPort, flags: 0x10))),
        PacketKind.Ipv6Udp => Ethernet(EtherTypeIPv6, Ipv6(ProtoUdp, Udp(ClientPort, ServerPort, new byte[18]))),
        PacketKind.VlanIpv4Tcp => Ethernet(EtherTypeIPv4, Ipv4(ProtoTcp, Tcp(ClientPort, ServerPort, flags: 0x10)), (Tpid8021Q, 100)),
        PacketKind.QinQIpv4Udp => Ethernet(EtherTypeIPv4, Ipv4(ProtoUdp, Udp(ClientPort, ServerPort, new byte[18])), (Tpid8021AD, 200), (Tpid8021Q, 100)),
        PacketKind.Ipv6HbhFragUdp => Ethernet(EtherTypeIPv6, Ipv6(ProtoHopByHop, Concat(
            HopByHop(ProtoFragment),
            Fragment(ProtoUdp, offset: 0, more: true),
            Udp(ClientPort, ServerPort, new byte[64])))),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    });

    /// <summary>Parses <paramref name="frame"/> and insists it is accepted, so no suite measures a drop path by mistake.</summary>
    public static ParsedPacket ParseOrThrow(byte[] frame, string what)
    {
        var packet = default(ParsedPacket);
        DropReason reason = PacketParser.Parse(frame, ref packet);
        if (reason != DropReason.None)
            throw new InvalidOperationException($"{what}: the parser dropped the benchmark frame ({DropReasons.Name(reason)})");
        return packet;
    }
}
