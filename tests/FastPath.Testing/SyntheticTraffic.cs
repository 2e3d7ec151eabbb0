// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Packets;
using static FastPath.Testing.TestFrames;

namespace FastPath.Testing;

/// <summary>What a synthetic traffic mix looks like (benchmarks and multi-worker tests).</summary>
public sealed record TrafficProfile
{
    /// <summary>Ethernet frame length without FCS; raised to the smallest frame a kind can have.</summary>
    public int FrameSize { get; init; } = 60;

    /// <summary>Distinct 5-tuples.</summary>
    public int Flows { get; init; } = 1024;

    /// <summary>Distinct source addresses the flows are spread over (at most <see cref="Flows"/>).</summary>
    public int Sources { get; init; } = 256;

    /// <summary>Share of flows that are IPv6, 0 to 1.</summary>
    public double Ipv6Share { get; init; }

    /// <summary>Share of flows that carry an 802.1Q tag, 0 to 1.</summary>
    public double VlanShare { get; init; }

    /// <summary>6 (TCP, ACK segments) or 17 (UDP).</summary>
    public byte Protocol { get; init; } = 17;

    public ushort DestinationPort { get; init; } = 80;

    /// <summary>Frames are built in the reply direction (server to client) instead.</summary>
    public bool Reverse { get; init; }

    /// <summary>
    /// Two frames per flow, one after the other: the client's segment, then the server's answer. TCP segments
    /// acknowledge each other's data (client from sequence 1000, server from 5000), as a connection picked up
    /// mid-stream looks to a connection tracker.
    /// </summary>
    public bool BothDirections { get; init; }

    public override string ToString() =>
        $"{FrameSize}B {Flows} flows {Sources} sources v6 {Ipv6Share:P0} vlan {VlanShare:P0} {(Protocol == 6 ? "tcp" : "udp")}";
}

/// <summary>Builds one frame per flow, deterministically: flow i always gets the same frame.</summary>
public static class SyntheticTraffic
{
    public static List<byte[]> Build(TrafficProfile profile)
    {
        int sources = Math.Clamp(profile.Sources, 1, profile.Flows);
        var frames = new List<byte[]>(profile.Flows);
        for (int i = 0; i < profile.Flows; i++)
        {
            // Spread the kinds evenly through the list instead of in blocks, so any prefix has the same mix.
            bool v6 = Spread(i, profile.Ipv6Share, 0x9E3779B9);
            bool vlan = Spread(i, profile.VlanShare, 0x85EBCA6B);
            int source = i % sources;
            ushort clientPort = (ushort)(1024 + (i / sources) % 60000);
            string client = v6 ? $"2001:db8:{source >> 16:x}:{source & 0xFFFF:x}::1" : $"10.{(source >> 16) & 0xFF}.{(source >> 8) & 0xFF}.{source & 0xFF}";
            string server = v6 ? "2001:db8:ffff::80" : "198.51.100.80";
            if (profile.BothDirections)
            {
                frames.Add(Frame(profile, v6, vlan, client, server, clientPort, reply: false));
                frames.Add(Frame(profile, v6, vlan, client, server, clientPort, reply: true));
            }
            else
            {
                frames.Add(Frame(profile, v6, vlan, client, server, clientPort, profile.Reverse));
            }
        }
        return frames;
    }

    /// <summary>The worker that owns a frame's flow, exactly as the dataplane's software steering picks it.</summary>
    public static int OwnerOf(byte[] frame, int workers)
    {
        var parsed = default(ParsedPacket);
        if (PacketParser.Parse(frame, ref parsed) != DropReason.None || parsed.L3 == L3Kind.None)
            return 0;
        return (int)(((ulong)FlowHash.Symmetric(parsed) * (uint)workers) >> 32);
    }

    private const uint ClientSequence = 1000, ServerSequence = 5000;

    private static byte[] Frame(TrafficProfile profile, bool v6, bool vlan, string client, string server, ushort clientPort, bool reply)
    {
        int l2 = 14 + (vlan ? 4 : 0);
        int l3 = v6 ? 40 : 20;
        int l4 = profile.Protocol == 6 ? 20 : 8;
        int data = Math.Max(0, profile.FrameSize - l2 - l3 - l4);
        var (sport, dport) = reply ? (profile.DestinationPort, clientPort) : (clientPort, profile.DestinationPort);
        var (src, dst) = reply ? (server, client) : (client, server);
        // One direction alone keeps the historical bytes (sequence 1000, no acknowledgment number).
        var (sequence, acknowledgment) = !profile.BothDirections ? (ClientSequence, 0u)
            : reply ? (ServerSequence, ClientSequence + (uint)data)
            : (ClientSequence, ServerSequence);
        byte[] transport = profile.Protocol == 6
            ? Tcp(sport, dport, flags: 0x10, data: new byte[data], sequence: sequence, acknowledgment: acknowledgment)
            : Udp(sport, dport, new byte[data]);
        byte[] ip = v6 ? Ipv6(profile.Protocol, transport, src, dst) : Ipv4(profile.Protocol, transport, src, dst);
        ushort etherType = v6 ? EtherTypeIPv6 : EtherTypeIPv4;
        return vlan ? Ethernet(etherType, ip, (Tpid8021Q, 100)) : Ethernet(etherType, ip);
    }

    private static bool Spread(int i, double share, uint salt)
    {
        if (share <= 0)
            return false;
        if (share >= 1)
            return true;
        uint h = BinaryPrimitives.ReverseEndianness((uint)i * salt);
        return h < share * uint.MaxValue;
    }
}
