// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Dataplane.Native;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using FastPath.Testing;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Dataplane.Tests.Workers;

/// <summary>One test per drop reason the dataplane itself (not the parser) gives.</summary>
public class DataplaneDropTests
{
    [Fact]
    public void AChainedMbufIsDroppedAsMultiSegment()
    {
        var frame = Ipv4UdpFrame();
        var a = new ScriptedPort("a", [frame, frame]) { MultiSegmentIndex = 1 };
        var b = new ScriptedPort("b", []);
        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions(), _ => default);

        host.Workers[0].PollOnce();
        host.Workers[0].Flush();

        var c = host.ReadCounters();
        Assert.Equal(1, c.Drops(DropReason.MultiSegment));
        Assert.Equal(1, c.TxPackets[1]);
        Assert.Equal([1L], a.Released); // the chained frame's buffer went back to its port
    }

    [Fact]
    public void AFrameTheTxQueueRefusesIsDroppedAsTxQueueFull()
    {
        var frames = Enumerable.Range(0, 5).Select(i => Ipv4UdpFrame((ushort)(1000 + i))).ToList();
        var a = new ScriptedPort("a", frames);
        var b = new ScriptedPort("b", []) { TxAccepts = 3 };
        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions(), _ => default);

        host.Workers[0].PollOnce();
        host.Workers[0].Flush();

        var c = host.ReadCounters();
        Assert.Equal(3, c.TxPackets[1]);
        Assert.Equal(2, c.Drops(DropReason.TxQueueFull));
        Assert.Equal(2, c.Dropped[0]); // counted against the port the frames came in on
        Assert.Equal([3L, 4L], a.Released);
    }

    [Fact]
    public void AFrameForAnOwnerWhoseRingIsFullIsDroppedAsHandoffRingFull()
    {
        // Frames all owned by worker 1, received by worker 0 while worker 1 does not run: the ring of 2 fills.
        var owned = SyntheticTraffic.Build(new TrafficProfile { Flows = 64 }).Where(f => SyntheticTraffic.OwnerOf(f, 2) == 1).Take(5).ToList();
        var a = new MemoryPort("a", 2);
        var b = new MemoryPort("b", 2);
        a.Load(0, owned);
        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions { Workers = 2, HandoffRingSize = 2 }, _ => default);

        host.Workers[0].PollOnce();

        var c = host.ReadCounters();
        Assert.Equal(2, c.HandedOff[0]);
        Assert.Equal(3, c.Drops(DropReason.HandoffRingFull));
    }

    /// <summary>A one-queue port that delivers given frames, can mark one as chained and can refuse tx.</summary>
    private sealed unsafe class ScriptedPort(string name, IReadOnlyList<byte[]> frames) : IPort
    {
        private readonly byte[][] _pinned = frames.Select(f => GC.AllocateArray<byte>(f.Length, pinned: true)).ToArray();
        private bool _delivered;

        public int MultiSegmentIndex { get; init; } = -1;
        public int TxAccepts { get; init; } = int.MaxValue;
        public List<long> Released { get; } = [];

        public string Name => name;
        public int RxQueueCount => 1;
        public int TxQueueCount => 1;
        public bool HashesFlowsToQueues => false;

        public int Receive(int queue, PacketBurst burst)
        {
            burst.Count = 0;
            if (_delivered)
                return 0;
            _delivered = true;
            for (int i = 0; i < frames.Count; i++)
            {
                frames[i].CopyTo(_pinned[i], 0);
                uint length = (uint)frames[i].Length | (i == MultiSegmentIndex ? NativeMethods.LengthMultiSegment : 0);
                burst.Add(i, (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _pinned[i][0]), length, (uint)frames[i].Length, 0);
            }
            return burst.Count;
        }

        public int Transmit(int queue, PacketBurst burst) => Math.Min(burst.Count, TxAccepts);

        public void Release(ReadOnlySpan<nint> handles)
        {
            foreach (nint h in handles)
                Released.Add(h);
        }

        public bool IsExhausted(int queue) => _delivered;

        public PortCounters ReadDeviceCounters() => default;

        public void Dispose()
        {
        }
    }
}
