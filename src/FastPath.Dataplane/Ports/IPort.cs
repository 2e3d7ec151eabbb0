// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Ports;

/// <summary>
/// A packet port: DPDK device, pcap file or in-memory. Calls are per burst, never per packet. Each queue
/// has exactly one caller (the worker that owns it), so implementations need no synchronisation per queue.
/// </summary>
public interface IPort : IDisposable
{
    string Name { get; }
    int RxQueueCount { get; }
    int TxQueueCount { get; }

    /// <summary>
    /// True when the device itself spreads flows over its rx queues with a symmetric hash (RSS), so both
    /// directions of a connection arrive at the same worker without software steering.
    /// </summary>
    bool HashesFlowsToQueues { get; }

    /// <summary>Fills <paramref name="burst"/> from index 0 with up to <see cref="PacketBurst.Capacity"/> frames; returns the count.</summary>
    int Receive(int queue, PacketBurst burst);

    /// <summary>
    /// Offers the whole burst; returns how many leading references the port accepted (it owns them now).
    /// The caller keeps the rest and gives them back through <see cref="Release"/> or retries.
    /// </summary>
    int Transmit(int queue, PacketBurst burst);

    /// <summary>Returns the buffers behind references the caller will not transmit (drops).</summary>
    void Release(ReadOnlySpan<nint> handles);

    /// <summary>True once a finite source (a pcap file) has no more frames on this queue.</summary>
    bool IsExhausted(int queue);

    PortCounters ReadDeviceCounters();
}

/// <summary>What the device itself counted (DPDK port stats; the managed ports count the same things).</summary>
public readonly record struct PortCounters(ulong InPackets, ulong InBytes, ulong OutPackets, ulong OutBytes, ulong InMissed, ulong InErrors, ulong OutErrors);
