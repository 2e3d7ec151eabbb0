// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Memory;
using FastPath.Core.Packets;
using FastPath.Core.Rules;

namespace FastPath.Core.Logging;

/// <summary>
/// What a -j LOG rule saw of one packet: the rule's options, where the packet came in (and went out), its time, and a
/// copy of its Ethernet addresses and first IP bytes, so that the frame itself can go on before the line is written.
/// </summary>
public struct PacketLogRecord
{
    /// <summary>IP bytes kept: the headers of IPv4 with options, ICMP and the quoted packet's headers, or IPv6 with extension headers.</summary>
    public const int NetworkBytes = 320;

    public LogTarget Target;
    public ulong Jiffies;
    public short InPort;          // a port index, or -1
    public short OutPort;         // a port index, or -1 (raw PREROUTING, or the host's INPUT chain)
    public L3Kind Family;
    public ushort VlanProtocol;   // the outer tag's TPID, 0 without one
    public ushort VlanId;
    public int PacketLength;      // the IP packet's length (the kernel's skb->len at the hook)
    public int Captured;          // IP bytes held in Network
    public MacHeader Mac;         // destination, source, the ethertype of the IP packet
    public NetworkHeaders Network;

    [InlineArray(14)]
    public struct MacHeader
    {
        private byte _first;
    }

    [InlineArray(NetworkBytes)]
    public struct NetworkHeaders
    {
        private byte _first;
    }
}

/// <summary>
/// One worker's -j LOG output. Live, the worker queues a <see cref="PacketLogRecord"/> on a preallocated ring and the
/// management thread drains it into the log (<see cref="Drain"/>); a full ring loses the line and counts it in
/// <see cref="Lost"/>, as workers never wait. Offline (<see cref="Immediate"/>), there is no management thread and no
/// line rate to keep: the worker writes the line itself, so a replay loses none and keeps their order. Either way the
/// line is formatted into a buffer of its own (<see cref="PacketLogLine"/>): nothing is allocated per packet.
/// Records hold the <see cref="LogTarget"/> of their rule, so a line queued before a reload still reads its rule's options.
/// </summary>
public sealed class PacketLog
{
    /// <summary>Records a live worker's ring holds (about 350 KB).</summary>
    public const int QueuedRecords = 1024;

    private readonly CacheLineGuard _leadingGuard = new();
    private readonly SpscRing<PacketLogRecord>? _ring;
    private readonly Stream? _immediate;
    private readonly PacketLogLine _line;
    private PacketLogRecord _scratch;
    private readonly CacheLineGuard _trailingGuard;

    private PacketLog(IReadOnlyList<string> ports, int capacity, Stream? immediate)
    {
        _line = new PacketLogLine(ports);
        _ring = immediate is null ? new SpscRing<PacketLogRecord>(capacity) : null;
        _immediate = immediate;
        _trailingGuard = new();
    }

    /// <summary>A live worker's log: records wait on a ring for <see cref="Drain"/>.</summary>
    public static PacketLog Queued(IReadOnlyList<string> ports, int capacity = QueuedRecords) => new(ports, capacity, null);

    /// <summary>An offline worker's log: each line is written to <paramref name="output"/> as the rule meets its packet.</summary>
    public static PacketLog Immediate(IReadOnlyList<string> ports, Stream output) => new(ports, 0, output);

    /// <summary>Lines written (by the worker offline, by <see cref="Drain"/> live).</summary>
    public long Written { get; private set; }

    /// <summary>Lines lost because the ring was full (written by the worker; others read a stale value at worst).</summary>
    public long Lost { get; private set; }

    /// <summary>The packet a LOG rule matched, at <paramref name="jiffies"/>; <paramref name="outPort"/> is -1 where the kernel has no output device.</summary>
    public void Write(LogTarget target, in ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong jiffies)
    {
        Capture(ref _scratch, target, packet, frame, inPort, outPort, jiffies);
        if (_immediate is { } output)
        {
            output.Write(_line.Format(_scratch));
            Written++;
        }
        else if (!_ring!.TryEnqueue(_scratch))
        {
            Lost++;
        }
    }

    /// <summary>Writes the queued lines to <paramref name="output"/>; the management thread's side of the ring.</summary>
    public int Drain(Stream output)
    {
        var ring = _ring ?? throw new InvalidOperationException("an immediate log has nothing queued");
        int drained = 0;
        while (ring.TryDequeue(out var record))
        {
            output.Write(_line.Format(record));
            drained++;
        }
        Written += drained;
        return drained;
    }

    private static void Capture(ref PacketLogRecord record, LogTarget target, in ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong jiffies)
    {
        record.Target = target;
        record.Jiffies = jiffies;
        record.InPort = (short)inPort;
        record.OutPort = (short)outPort;
        record.Family = packet.L3;
        record.PacketLength = packet.IpLength;
        // The kernel shows the Ethernet header as it is once a VLAN tag is taken off: addresses, then the IP ethertype.
        Span<byte> mac = record.Mac;
        frame[..12].CopyTo(mac);
        mac[12] = (byte)(packet.EtherType >> 8);
        mac[13] = (byte)packet.EtherType;
        record.VlanProtocol = packet.VlanCount > 0 ? (ushort)(frame[12] << 8 | frame[13]) : (ushort)0;
        record.VlanId = packet.OuterVlanId;
        int captured = Math.Min(Math.Min(packet.IpLength, frame.Length - packet.L3Offset), PacketLogRecord.NetworkBytes);
        Span<byte> network = record.Network;
        frame.Slice(packet.L3Offset, captured).CopyTo(network);
        record.Captured = captured;
        // In FORWARD the kernel's ip_forward and ip6_forward have already taken one off the TTL (hop limit), and its
        // line shows that; FastPath forwards the packet as it came, but logs what the kernel would.
        int ttlAt = packet.L3 == L3Kind.IPv4 ? 8 : 7;
        if (outPort >= 0 && captured > ttlAt)
            network[ttlAt] = (byte)(network[ttlAt] - 1);
    }
}
