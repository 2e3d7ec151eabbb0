// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Packets;

public class FlowHashTests
{
    // Pinned values: rx-queue steering and any persisted state depend on the hash never changing.
    private const uint PinnedIpv4Tcp = 4113665354;
    private const uint PinnedIpv6Udp = 2479018631;

    public static TheoryData<string, byte[], byte[]> ReversedPairs => new()
    {
        {
            "ipv4 tcp",
            Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 443), Client4, Server4)),
            Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(443, 40000, flags: 0x12), Server4, Client4))
        },
        {
            "ipv4 udp, same port both sides",
            Ethernet(EtherTypeIPv4, Ipv4(17, Udp(53, 53), Client4, Server4)),
            Ethernet(EtherTypeIPv4, Ipv4(17, Udp(53, 53), Server4, Client4))
        },
        {
            "ipv4 icmp echo request / reply",
            Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0, id: 77, sequence: 1), Client4, Server4)),
            Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(0, 0, id: 77, sequence: 1), Server4, Client4))
        },
        {
            "ipv6 tcp",
            Ethernet(EtherTypeIPv6, Ipv6(6, Tcp(50000, 22), Client6, Server6)),
            Ethernet(EtherTypeIPv6, Ipv6(6, Tcp(22, 50000), Server6, Client6))
        },
        {
            "ipv6 udp, same address both sides",
            Ethernet(EtherTypeIPv6, Ipv6(17, Udp(1000, 2000), "2001:db8::7", "2001:db8::7")),
            Ethernet(EtherTypeIPv6, Ipv6(17, Udp(2000, 1000), "2001:db8::7", "2001:db8::7"))
        },
        {
            "ipv6 icmpv6 echo request / reply",
            Ethernet(EtherTypeIPv6, Ipv6(58, Icmp(128, 0, id: 3), Client6, Server6)),
            Ethernet(EtherTypeIPv6, Ipv6(58, Icmp(129, 0, id: 3), Server6, Client6))
        },
        {
            "sctp over vlan",
            Ethernet(EtherTypeIPv4, Ipv4(132, [0, 1, 0, 2, 0, 0, 0, 0], Client4, Server4), (Tpid8021Q, 10)),
            Ethernet(EtherTypeIPv4, Ipv4(132, [0, 2, 0, 1, 0, 0, 0, 0], Server4, Client4), (Tpid8021Q, 10))
        },
        {
            "esp",
            Ethernet(EtherTypeIPv4, Ipv4(50, new byte[16], Client4, Server4)),
            Ethernet(EtherTypeIPv4, Ipv4(50, new byte[16], Server4, Client4))
        },
    };

    [Theory]
    [MemberData(nameof(ReversedPairs))]
    public void BothDirectionsHashTheSame(string flow, byte[] forward, byte[] reverse)
    {
        _ = flow;
        uint there = FlowHash.Symmetric(PacketParserTests.ParseAccepted(forward));
        uint back = FlowHash.Symmetric(PacketParserTests.ParseAccepted(reverse));

        Assert.Equal(there, back);
    }

    [Fact]
    public void SwappingEveryEndpointFieldKeepsTheHash()
    {
        var random = new Random(1234);
        for (int i = 0; i < 1000; i++)
        {
            var packet = new ParsedPacket
            {
                L3 = i % 2 == 0 ? L3Kind.IPv4 : L3Kind.IPv6,
                L4 = L4Kind.Udp,
                Protocol = 17,
                Source = RandomAddress(random, i % 2 == 0),
                Destination = RandomAddress(random, i % 2 == 0),
                SourcePort = (ushort)random.Next(65536),
                DestinationPort = (ushort)random.Next(65536),
            };
            ParsedPacket reversed = packet;
            (reversed.Source, reversed.Destination) = (packet.Destination, packet.Source);
            (reversed.SourcePort, reversed.DestinationPort) = (packet.DestinationPort, packet.SourcePort);

            Assert.Equal(FlowHash.Symmetric(packet), FlowHash.Symmetric(reversed));
        }
    }

    [Fact]
    public void DifferentFlowsMostlyHashApart()
    {
        // 64K flows differing in one client port or one address byte, as a busy NAT or scan would produce.
        var hashes = new HashSet<uint>();
        var buckets = new int[256];
        int flows = 0;
        for (int host = 0; host < 16; host++)
        {
            for (int port = 0; port < 4096; port++)
            {
                var packet = new ParsedPacket
                {
                    L3 = L3Kind.IPv4,
                    L4 = L4Kind.Tcp,
                    Protocol = 6,
                    Source = InetAddress.FromIPv4(0x0A000000u + (uint)host),
                    Destination = InetAddress.FromIPv4(0xC0A80114u),
                    SourcePort = (ushort)(32768 + port),
                    DestinationPort = 443,
                };
                uint hash = FlowHash.Symmetric(packet);
                hashes.Add(hash);
                buckets[hash & 0xFF]++;
                flows++;
            }
        }

        // A uniform 32-bit hash collides about flows^2 / 2^33 = 0.5 times here.
        Assert.True(hashes.Count >= flows - 4, $"{flows - hashes.Count} collisions");

        // Low bits pick rx queues and table buckets: each of 256 buckets should hold 256 ± a few sigma (16).
        Assert.All(buckets, count => Assert.InRange(count, 256 - 80, 256 + 80));
    }

    [Fact]
    public void ProtocolFamilyAndPortsAllMatter()
    {
        var tcp = new ParsedPacket
        {
            L3 = L3Kind.IPv4,
            L4 = L4Kind.Tcp,
            Protocol = 6,
            Source = InetAddress.FromIPv4(0x0A000001),
            Destination = InetAddress.FromIPv4(0x0A000002),
            SourcePort = 1000,
            DestinationPort = 2000,
        };
        ParsedPacket udp = tcp;
        udp.L4 = L4Kind.Udp;
        udp.Protocol = 17;
        ParsedPacket otherPort = tcp;
        otherPort.SourcePort = 1001;
        ParsedPacket ipv6 = tcp;
        ipv6.L3 = L3Kind.IPv6;   // same 16 bytes, other family

        uint[] hashes = [FlowHash.Symmetric(tcp), FlowHash.Symmetric(udp), FlowHash.Symmetric(otherPort), FlowHash.Symmetric(ipv6)];

        Assert.Equal(hashes.Length, hashes.Distinct().Count());
    }

    [Fact]
    public void IcmpEchoHashesByIdentifier()
    {
        byte[] ping1 = Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0, id: 1)));
        byte[] ping1Later = Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0, id: 1, sequence: 99)));
        byte[] ping2 = Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0, id: 2)));

        uint first = FlowHash.Symmetric(PacketParserTests.ParseAccepted(ping1));

        Assert.Equal(first, FlowHash.Symmetric(PacketParserTests.ParseAccepted(ping1Later)));
        Assert.NotEqual(first, FlowHash.Symmetric(PacketParserTests.ParseAccepted(ping2)));
    }

    [Fact]
    public void NonIpHashesToZero()
    {
        ParsedPacket arp = PacketParserTests.ParseAccepted(PadToMinimum(Ethernet(EtherTypeArp, new byte[28])));

        Assert.Equal(0u, FlowHash.Symmetric(arp));
    }

    [Fact]
    public void HashIsStableAcrossProcesses()
    {
        ParsedPacket tcp = PacketParserTests.ParseAccepted(Ipv4TcpFrame(40000, 443));
        ParsedPacket udp6 = PacketParserTests.ParseAccepted(Ipv6UdpFrame(40000, 53));

        Assert.Equal(PinnedIpv4Tcp, FlowHash.Symmetric(tcp));
        Assert.Equal(PinnedIpv6Udp, FlowHash.Symmetric(udp6));
    }

    private static InetAddress RandomAddress(Random random, bool ipv4)
    {
        var bytes = new byte[ipv4 ? 4 : 16];
        random.NextBytes(bytes);

        // Often share a prefix so the address comparison has to look past the first half.
        if (!ipv4 && random.Next(2) == 0)
        {
            bytes.AsSpan(0, 8).Clear();
        }

        return ipv4 ? InetAddress.FromIPv4(bytes) : InetAddress.FromIPv6(bytes);
    }
}
