// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Testing;
using Xunit;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>Frames for the tracker tests, and a table driven packet by packet with a clock the test advances.</summary>
internal static class TrackingFrames
{
    public const string Client = TestFrames.Client4;
    public const string Server = TestFrames.Server4;
    public const ushort ClientPort = 40000;
    public const ushort ServerPort = 443;

    public static byte[] Tcp(bool fromClient, byte flags, uint seq, uint ack, ushort window = 65535, int dataLength = 0, byte[]? options = null)
    {
        byte[] tcp = TestFrames.Tcp(fromClient ? ClientPort : ServerPort, fromClient ? ServerPort : ClientPort, flags, options, new byte[dataLength]);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), ack);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), window);
        return Ip(6, tcp, fromClient);
    }

    public static byte[] Udp(bool fromClient, int dataLength = 0)
        => Ip(17, TestFrames.Udp(fromClient ? ClientPort : (ushort)53, fromClient ? (ushort)53 : ClientPort, new byte[dataLength]), fromClient);

    /// <summary>An SCTP packet between the client's and the server's ports.</summary>
    public static byte[] Sctp(bool fromClient, uint verificationTag, params byte[][] chunks)
        => Ip(SctpTracker.Protocol, TestFrames.Sctp(fromClient ? ClientPort : ServerPort, fromClient ? ServerPort : ClientPort, verificationTag, chunks), fromClient);

    public static byte[] Ip(byte protocol, byte[] payload, bool fromClient)
        => TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(protocol, payload, fromClient ? Client : Server, fromClient ? Server : Client));

    public static ParsedPacket Parse(byte[] frame)
    {
        var packet = default(ParsedPacket);
        Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref packet));
        return packet;
    }

    public static uint Seconds(uint seconds) => seconds * (uint)FastPath.Core.Recent.Jiffies.Hz;
}

/// <summary>A flow table, a clock in jiffies and the default timeouts; every accepted new connection is confirmed.</summary>
internal sealed class TrackingHarness(int capacity = 64, TimeoutPolicySnapshot? timeouts = null, int policyId = 0, int buckets = 0)
{
    public FlowTable Table { get; } = new(capacity, buckets);
    public TimeoutPolicySnapshot Timeouts { get; set; } = timeouts ?? new TimeoutPolicyRegistry().Current;
    public ulong Now { get; set; } = 1_000_000;

    public TrackResult Send(byte[] frame, bool accept = true)
    {
        var packet = TrackingFrames.Parse(frame);
        var result = Table.Track(packet, frame, Now, Timeouts, policyId);
        if (result.Disposition == TrackDisposition.Unconfirmed)
        {
            if (accept)
                Table.Confirm(result.Flow, Now);
            else
                Table.Abandon(result.Flow);
        }
        return result;
    }

    /// <summary>Jiffies left on a connection's timer.</summary>
    public ulong Remaining(int flow) => Table[flow].Deadline - Now;
}
