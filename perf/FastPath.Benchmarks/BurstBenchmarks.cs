// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Dataplane;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using FastPath.Testing;

namespace FastPath.Benchmarks;

/// <summary>
/// The real worker loop over in-memory ports: receive a burst of 32, parse, verdict, transmit on the peer.
/// The benchmark thread drives one worker directly (the host is never started), so nothing else runs and the
/// numbers are the worker's own. Mean is per packet; the ns/burst and Mpps columns restate it.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BurstConfig))]
public class BurstBenchmarks
{
    // Enough bursts that one invocation is microseconds long and the call overhead vanishes.
    private const int BurstsPerInvoke = 64;
    private const int PacketsPerInvoke = BurstsPerInvoke * PacketBurst.Capacity;

    private MemoryPort? _in;
    private MemoryPort? _out;
    private Worker<AcceptAll> _worker = null!;

    [Params(1024, 65536)]
    public int Flows { get; set; }

    [Params(0, 0.5)]
    public double Ipv6Share { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        List<byte[]> frames = SyntheticTraffic.Build(new TrafficProfile { Flows = Flows, FrameSize = 60, Ipv6Share = Ipv6Share });
        _in = new MemoryPort("in", queues: 1);
        _out = new MemoryPort("out", queues: 1);
        _in.Load(0, frames, loop: true, loopPeriod: frames.Count * 1000L);
        var host = new DataplaneHost<AcceptAll>([_in, _out], [(0, 1)], new DataplaneOptions { Workers = 1 }, _ => default);
        _worker = host.Workers[0];

        // One pass over every flow, then check it all crossed: a benchmark of the drop path would look just as fast.
        int bursts = (frames.Count + PacketBurst.Capacity - 1) / PacketBurst.Capacity;
        for (int i = 0; i < bursts; i++)
            Forward1();
        DataplaneCounters counters = host.ReadCounters();
        long received = counters.RxPackets[0];
        if (received != (long)bursts * PacketBurst.Capacity || counters.TxPackets[1] != received || counters.Dropped[0] != 0)
            throw new InvalidOperationException($"warm-up forwarded {counters.TxPackets[1]} of {received} frames, dropped {counters.Dropped[0]}");

        // The Allocated column divides by OperationsPerInvoke and would round a few bytes per burst down to
        // nothing, so count this thread's bytes over a second pass instead: the packet path must allocate none.
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < bursts; i++)
            Forward1();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated != 0)
            throw new InvalidOperationException($"{bursts} bursts allocated {allocated} bytes");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _in?.Dispose();
        _out?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public void Forward()
    {
        for (int i = 0; i < BurstsPerInvoke; i++)
            Forward1();
    }

    // One burst: the loopback source never runs dry, so PollOnce always takes a full 32.
    private void Forward1()
    {
        _worker.PollOnce();
        _worker.Flush();
    }
}
