// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Memory;

namespace FastPath.Dataplane.Ports;

/// <summary>
/// A port over frames held in pinned managed memory, for tests and benchmarks. Each rx queue replays its
/// frames once (tests) or in an endless loop (benchmarks, where the timestamp advances by a fixed step per
/// frame). Transmitted frames are counted and, when <see cref="CaptureTransmitted"/> is set, copied out.
/// </summary>
public sealed unsafe class MemoryPort : IPort
{
    private readonly RxQueue[] _rx;
    private readonly TxQueue[] _tx;

    public MemoryPort(string name, int queues, bool hashesFlowsToQueues = false)
    {
        Name = name;
        _rx = new RxQueue[queues];
        _tx = new TxQueue[queues];
        for (int q = 0; q < queues; q++)
        {
            _rx[q] = new RxQueue();
            _tx[q] = new TxQueue();
        }
        HashesFlowsToQueues = hashesFlowsToQueues;
    }

    public string Name { get; }
    public int RxQueueCount => _rx.Length;
    public int TxQueueCount => _tx.Length;
    public bool HashesFlowsToQueues { get; }

    /// <summary>Copy every transmitted frame into <see cref="Transmitted"/> (tests; off for benchmarks).</summary>
    public bool CaptureTransmitted { get; init; }

    /// <summary>
    /// Loads the frames an rx queue will deliver. With <paramref name="loop"/> the queue never runs dry and
    /// frame k of round r carries timestamp <c>timestamps[k] + r * loopPeriod</c>.
    /// </summary>
    public void Load(int queue, IReadOnlyList<byte[]> frames, IReadOnlyList<long>? timestamps = null, bool loop = false, long loopPeriod = 0)
    {
        int total = 0;
        foreach (var f in frames)
            total += f.Length;
        var q = _rx[queue];
        q.Arena = GC.AllocateArray<byte>(Math.Max(total, 1), pinned: true);
        q.Offsets = new int[frames.Count];
        q.Lengths = new uint[frames.Count];
        q.Timestamps = new long[frames.Count];
        int offset = 0;
        for (int i = 0; i < frames.Count; i++)
        {
            frames[i].CopyTo(q.Arena, offset);
            q.Offsets[i] = offset;
            q.Lengths[i] = (uint)frames[i].Length;
            q.Timestamps[i] = timestamps?[i] ?? i * 1000L;
            offset += frames[i].Length;
        }
        q.Next = 0;
        q.Round = 0;
        q.Loop = loop;
        q.LoopPeriod = loopPeriod;
    }

    public int Receive(int queue, PacketBurst burst)
    {
        var q = _rx[queue];
        int count = 0;
        int frames = q.Offsets.Length;
        if (frames == 0)
        {
            burst.Count = 0;
            return 0;
        }
        byte* arena = (byte*)Unsafe.AsPointer(ref q.Arena[0]);
        nint* handles = burst.Handles;
        nint* data = burst.Data;
        uint* lengths = burst.Lengths;
        uint* wire = burst.WireLengths;
        long* stamps = burst.Timestamps;
        while (count < PacketBurst.Capacity)
        {
            if (q.Next == frames)
            {
                if (!q.Loop)
                    break;
                q.Next = 0;
                q.Round++;
            }
            int i = q.Next++;
            handles[count] = i;
            data[count] = (nint)(arena + q.Offsets[i]);
            lengths[count] = q.Lengths[i];
            wire[count] = q.Lengths[i];
            stamps[count] = q.Timestamps[i] + q.Round * q.LoopPeriod;
            count++;
        }
        q.Received += count;
        burst.Count = count;
        return count;
    }

    public int Transmit(int queue, PacketBurst burst)
    {
        var q = _tx[queue];
        int n = burst.Count;
        ulong bytes = 0;
        for (int i = 0; i < n; i++)
        {
            bytes += burst.Length(i);
            if (CaptureTransmitted)
                q.Captured.Add(new TransmittedFrame(queue, burst.Frame(i).ToArray(), burst.Timestamp(i)));
        }
        q.Packets += (ulong)n;
        q.Bytes += bytes;
        return n;
    }

    public void Release(ReadOnlySpan<nint> handles)
    {
    }

    public bool IsExhausted(int queue)
    {
        var q = _rx[queue];
        return !q.Loop && q.Next == q.Offsets.Length;
    }

    /// <summary>
    /// Everything transmitted, queue by queue in transmit order (only with <see cref="CaptureTransmitted"/>).
    /// Read it after the dataplane has stopped: the workers append without synchronisation.
    /// </summary>
    public IReadOnlyList<TransmittedFrame> Transmitted
    {
        get
        {
            var all = new List<TransmittedFrame>();
            foreach (var q in _tx)
                all.AddRange(q.Captured);
            return all;
        }
    }

    public PortCounters ReadDeviceCounters()
    {
        ulong inPackets = 0, outPackets = 0, outBytes = 0;
        foreach (var q in _rx)
            inPackets += (ulong)Volatile.Read(ref q.Received);
        foreach (var q in _tx)
        {
            outPackets += Volatile.Read(ref q.Packets);
            outBytes += Volatile.Read(ref q.Bytes);
        }
        return new PortCounters(inPackets, 0, outPackets, outBytes, 0, 0, 0);
    }

    public void Dispose()
    {
    }

    // Each queue is written by its own worker; the guards keep two workers' queues off a shared cache line.
    private sealed class RxQueue
    {
        private readonly CacheLineGuard _leadingGuard = new();
        public byte[] Arena = [];
        public int[] Offsets = [];
        public uint[] Lengths = [];
        public long[] Timestamps = [];
        public int Next;
        public long Round;
        public bool Loop;
        public long LoopPeriod;
        public long Received; // owner worker writes; readers take a possibly stale value
        private readonly CacheLineGuard _trailingGuard = new();
    }

    private sealed class TxQueue
    {
        private readonly CacheLineGuard _leadingGuard = new();
        public readonly List<TransmittedFrame> Captured = [];
        public ulong Packets; // owner worker writes; readers take a possibly stale value
        public ulong Bytes;
        private readonly CacheLineGuard _trailingGuard = new();
    }
}

public sealed record TransmittedFrame(int Queue, byte[] Bytes, long TimestampNanoseconds);
