// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Packets;
using PacketDotNet;

namespace FastPath.Benchmarks;

/// <summary>
/// <see cref="PacketParser.Parse"/> against PacketDotNet on the same bytes, per packet kind. Both return the same
/// digest of the transport header (ports, or ICMP type and echo id), checked in setup, so they do the same job and
/// the ratio column (per <see cref="Kind"/>: BenchmarkDotNet groups a baseline by its params) compares like with like.
/// </summary>
[MemoryDiagnoser]
public class ParserBenchmarks
{
    private byte[] _frame = [];

    [ParamsAllValues]
    public PacketKind Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _frame = BenchmarkFrames.Build(Kind);
        BenchmarkFrames.ParseOrThrow(_frame, Kind.ToString());
        int fastPath = FastPath();
        int packetDotNet = PacketDotNet();
        if (fastPath != packetDotNet)
            throw new InvalidOperationException($"{Kind}: FastPath digest {fastPath:x} but PacketDotNet {packetDotNet:x}");
    }

    [Benchmark(Baseline = true)]
    public int PacketDotNet()
    {
        IPPacket? ip = Packet.ParsePacket(LinkLayers.Ethernet, _frame).Extract<IPPacket>();
        if (ip is null)
            return -1;

        // PacketDotNet walks IPv6 extension headers but leaves a fragment's payload as bytes, even the first
        // fragment that starts with the UDP header; a classifier built on it has to decode that header itself.
        Packet? transport = ip.PayloadPacket;
        if (transport is null && ip.HasPayloadData)
        {
            transport = ip.Protocol switch
            {
                ProtocolType.Tcp => new TcpPacket(ip.PayloadDataSegment, ip),
                ProtocolType.Udp => new UdpPacket(ip.PayloadDataSegment, ip),
                _ => null,
            };
        }

        return transport switch
        {
            TcpPacket tcp => Digest(tcp.SourcePort, tcp.DestinationPort, 0, 0),
            UdpPacket udp => Digest(udp.SourcePort, udp.DestinationPort, 0, 0),
            IcmpV4Packet icmp => Digest(0, 0, (byte)((ushort)icmp.TypeCode >> 8), icmp.Id),
            _ => -1,
        };
    }

    [Benchmark]
    public int FastPath()
    {
        var packet = default(ParsedPacket);
        DropReason reason = PacketParser.Parse(_frame, ref packet);
        if (reason != DropReason.None)
            return -1;
        return Digest(packet.SourcePort, packet.DestinationPort, packet.IcmpType, packet.IcmpId);
    }

    private static int Digest(ushort sourcePort, ushort destinationPort, byte icmpType, ushort icmpId)
        => (sourcePort << 16 | destinationPort) ^ (icmpType << 24 | icmpId);
}
