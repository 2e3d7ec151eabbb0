// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Packets;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// One worker's counters in one pinned array with a cache line of padding at each end, so two workers'
/// counters never share a line. Owner: the worker writes with plain increments. Readers (stats, control)
/// read with <see cref="Volatile"/> and accept a value a few packets old; aligned 64-bit reads never tear on x64.
/// </summary>
public sealed class WorkerCounters
{
    private const int Padding = 8; // one 64-byte line of longs
    private const int PerPort = 6;
    private const int RxPackets = 0, RxBytes = 1, TxPackets = 2, TxBytes = 3, Dropped = 4, HandedOff = 5;

    private readonly long[] _slots;
    private readonly int _ports;
    private readonly int _reasonBase;
    private readonly int _generalBase;

    public WorkerCounters(int ports)
    {
        _ports = ports;
        _reasonBase = Padding + ports * PerPort;
        _generalBase = _reasonBase + DropReasons.Count;
        _slots = GC.AllocateArray<long>(_generalBase + GeneralCount + Padding, pinned: true);
    }

    private const int GeneralCount = 3;
    private const int Polls = 0, BusyPolls = 1, HandoffReceived = 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountRx(int port, long packets, long bytes)
    {
        int b = Padding + port * PerPort;
        _slots[b + RxPackets] += packets;
        _slots[b + RxBytes] += bytes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountTx(int port, long packets, long bytes)
    {
        int b = Padding + port * PerPort;
        _slots[b + TxPackets] += packets;
        _slots[b + TxBytes] += bytes;
    }

    /// <summary>A frame received on <paramref name="port"/> that will not leave, and why.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountDrop(int port, DropReason reason, long packets = 1)
    {
        _slots[Padding + port * PerPort + Dropped] += packets;
        _slots[_reasonBase + (int)reason] += packets;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountHandoff(int port) => _slots[Padding + port * PerPort + HandedOff]++;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountHandoffReceived(long packets) => _slots[_generalBase + HandoffReceived] += packets;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountPoll(bool busy)
    {
        _slots[_generalBase + Polls]++;
        if (busy)
            _slots[_generalBase + BusyPolls]++;
    }

    public int Ports => _ports;

    public long ReadRxPackets(int port) => Read(Padding + port * PerPort + RxPackets);
    public long ReadRxBytes(int port) => Read(Padding + port * PerPort + RxBytes);
    public long ReadTxPackets(int port) => Read(Padding + port * PerPort + TxPackets);
    public long ReadTxBytes(int port) => Read(Padding + port * PerPort + TxBytes);
    public long ReadDropped(int port) => Read(Padding + port * PerPort + Dropped);
    public long ReadHandedOff(int port) => Read(Padding + port * PerPort + HandedOff);
    public long ReadDrops(DropReason reason) => Read(_reasonBase + (int)reason);
    public long ReadPolls() => Read(_generalBase + Polls);
    public long ReadBusyPolls() => Read(_generalBase + BusyPolls);
    public long ReadHandoffReceived() => Read(_generalBase + HandoffReceived);

    private long Read(int slot) => Volatile.Read(ref _slots[slot]);
}
