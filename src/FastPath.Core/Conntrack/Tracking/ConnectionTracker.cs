// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// One worker's connection tracking: its shard of the connections (a <see cref="FlowTable"/>), the timeout
/// policies every worker reads as immutable snapshots, and the sweep the management thread asks for. A
/// connection is owned by the worker <see cref="OwnerOf"/> names, in both directions; only that worker's thread
/// touches its table. The management thread only calls <see cref="RequestSweep"/> and reads counts.
/// </summary>
public sealed class ConnectionTracker
{
    private ulong _sweepRequestedAt; // jiffies; written by management, read by the worker
    private ulong _sweptFor;
    private int _sweepRemaining;

    /// <param name="capacity">This shard's connections: the dataplane's limit (nf_conntrack_max) shared out between the shards.</param>
    public ConnectionTracker(TimeoutPolicyRegistry timeouts, int capacity, int shard = 0, int shards = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, shards);
        Timeouts = timeouts;
        Table = new FlowTable(capacity) { Shard = shard };
        Shard = shard;
        Shards = shards;
    }

    public TimeoutPolicyRegistry Timeouts { get; }

    /// <summary>Track every packet even when no rule reads or sets conntrack (the kernel starts only once one does).</summary>
    public bool TrackAlways { get; init; }
    public FlowTable Table { get; }
    public int Shard { get; }
    public int Shards { get; }

    /// <summary>
    /// The shard owning the connection of a packet: the symmetric flow hash of what the tracker keys the connection
    /// on, so both directions agree and software steering by flow lands every packet on its owner. An ICMP error
    /// belongs to the connection it quotes, so it is placed by that connection's tuple.
    /// </summary>
    public int OwnerOf(in ParsedPacket packet, ReadOnlySpan<byte> frame)
    {
        if (Shards == 1)
            return 0;
        if (packet.L4 is L4Kind.Icmp or L4Kind.Icmpv6
            && IcmpTracker.Classify(packet.IcmpType, packet.L4 == L4Kind.Icmpv6, out _) == IcmpTracker.MessageKind.Error
            && packet.L4Offset + packet.L4Length <= frame.Length
            && IcmpTracker.TryReadQuotedKey(frame.Slice(packet.L4Offset, packet.L4Length), packet.L3, out var quoted, out _))
        {
            return OwnerOf(quoted);
        }
        // The parser reads DCCP's ports, but the tracker keys DCCP (like every protocol without ports) on addresses
        // alone: hashing the ports would place one connection on several shards.
        if (packet.L4 == L4Kind.Generic && !FlowTable.HasPorts(packet.Protocol) && (packet.SourcePort | packet.DestinationPort) != 0)
            return OwnerOfAddresses(packet);
        return ShardOf(FlowHash.Symmetric(packet));
    }

    /// <summary>The shard owning the connection with this tuple (in either direction).</summary>
    public int OwnerOf(in ConnectionKey key) => ShardOf(FlowHash.Symmetric(AsPacket(key)));

    private int ShardOf(uint hash) => (int)(((ulong)hash * (uint)Shards) >> 32);

    private int OwnerOfAddresses(ParsedPacket packet)
    {
        (packet.SourcePort, packet.DestinationPort) = (0, 0);
        return ShardOf(FlowHash.Symmetric(packet));
    }

    /// <summary>What the flow hash reads of a tuple, laid out as a packet carrying it.</summary>
    private static ParsedPacket AsPacket(in ConnectionKey quoted)
    {
        var packet = new ParsedPacket
        {
            L3 = quoted.Family,
            Source = quoted.Source,
            Destination = quoted.Destination,
            Protocol = quoted.Protocol,
        };
        if (ConnectionKey.IsIcmp(quoted.Protocol, quoted.Family))
        {
            packet.L4 = quoted.Family == L3Kind.IPv4 ? L4Kind.Icmp : L4Kind.Icmpv6;
            packet.IcmpId = quoted.SourcePort;
        }
        else if (FlowTable.HasPorts(quoted.Protocol))
        {
            // Not GRE's call ID: a packet's flow hash never reads it, so the tuple's must not either.
            packet.SourcePort = quoted.SourcePort;
            packet.DestinationPort = quoted.DestinationPort;
        }
        return packet;
    }

    /// <summary>Management's tick: asks the owning worker for one pass over its table at <paramref name="now"/> jiffies.</summary>
    public void RequestSweep(ulong now) => Volatile.Write(ref _sweepRequestedAt, now);

    /// <summary>
    /// The owning worker's share of the sweep: up to <paramref name="budget"/> slots of the pass management asked
    /// for last, and nothing once that pass is done. Returns the connections deleted.
    /// </summary>
    public int SweepPending(int budget)
    {
        ulong requested = Volatile.Read(ref _sweepRequestedAt);
        if (_sweepRemaining == 0)
        {
            if (requested == _sweptFor)
                return 0;
            _sweptFor = requested;
            _sweepRemaining = Table.Capacity;
        }
        int slots = Math.Min(budget, _sweepRemaining);
        _sweepRemaining -= slots;
        return Table.Sweep(requested, slots);
    }
}
