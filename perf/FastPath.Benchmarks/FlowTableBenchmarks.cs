// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Testing;

namespace FastPath.Benchmarks;

/// <summary>
/// One worker's connection table (<see cref="FlowTable"/>) holding 1K or 1M TCP connections in a table of twice
/// that capacity (as `perf/run.sh conntrack` sizes it), in random order per operation:
/// <see cref="Find"/> looks a tuple up; <see cref="TrackEstablished"/> is the whole nf_conntrack_in of a packet of
/// an answered connection (segment read, lookup, TCP state machine, timeout refresh); <see cref="Churn"/> keeps
/// the table at size while connections come and go: a new connection picked up from an ACK, tracked and
/// confirmed, and the oldest one killed by a RST (unanswered, so the RST deletes it); <see cref="NewDropped"/>
/// is a new connection whose first packet the rules drop (tracked, then abandoned). Mean is per packet.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class FlowTableBenchmarks
{
    private const int PacketsPerInvoke = 4096;
    private const ulong Now = 1000; // jiffies; every timeout is minutes long, so nothing expires while it runs

    private readonly TimeoutPolicySnapshot _timeouts = new TimeoutPolicyRegistry().Current;
    private FlowTable _table = null!;
    private TcpFlows _flows = null!;
    private int[] _order = [];
    private int _next;

    [Params(1024, 1_048_576)]
    public int Connections { get; set; }

    /// <summary>Every connection answered (both directions tracked), probed in a random order of packets of either direction.</summary>
    [GlobalSetup(Targets = new[] { nameof(Find), nameof(TrackEstablished) })]
    public void SetupEstablished()
    {
        _flows = TcpFlows.Build(Connections, bothDirections: true);
        _table = new FlowTable(2 * Connections);
        for (int i = 0; i < _flows.Count; i++)
            TrackAndConfirm(i);
        if (_table.Count != Connections)
            throw new InvalidOperationException($"{_table.Count} connections instead of {Connections}");
        _order = Shuffled(_flows.Count);
    }

    /// <summary>Connections 0..N-1 held; churn step k adds connection N + k and kills connection k, over a pool of 2N.</summary>
    [GlobalSetup(Target = nameof(Churn))]
    public void SetupChurn()
    {
        _flows = TcpFlows.Build(2 * Connections, bothDirections: false);
        _table = new FlowTable(2 * Connections);
        for (int i = 0; i < Connections; i++)
            TrackAndConfirm(i);
        Churn();
        if (_table.Count != Connections)
            throw new InvalidOperationException($"churn left {_table.Count} connections instead of {Connections}");
    }

    /// <summary>The connections of the first half of a pool are held; packets of the second half come and are dropped.</summary>
    [GlobalSetup(Target = nameof(NewDropped))]
    public void SetupNewDropped()
    {
        _flows = TcpFlows.Build(2 * Connections, bothDirections: false);
        _table = new FlowTable(2 * Connections);
        for (int i = 0; i < Connections; i++)
            TrackAndConfirm(i);
        _order = Shuffled(Connections);
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public int Find()
    {
        int found = 0;
        for (int i = 0; i < PacketsPerInvoke; i++)
        {
            if (_table.Find(_flows.Keys[NextInOrder()], Now, out _) != FlowTable.NoFlow)
                found++;
        }
        return found;
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public int TrackEstablished()
    {
        int established = 0;
        for (int i = 0; i < PacketsPerInvoke; i++)
        {
            int p = NextInOrder();
            if (_table.Track(_flows.Packets[p], _flows.Frames[p], Now, _timeouts).State == CtState.Established)
                established++;
        }
        return established;
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public void Churn()
    {
        int pool = _flows.Count;
        for (int i = 0; i < PacketsPerInvoke; i++)
        {
            int oldest = _next;
            int fresh = oldest + Connections < pool ? oldest + Connections : oldest + Connections - pool;
            TrackAndConfirm(fresh);
            if (_table.Track(_flows.Resets[oldest], _flows.ResetFrames[oldest], Now, _timeouts).Disposition != TrackDisposition.NoFlow)
                throw new InvalidOperationException("the RST did not end the connection");
            _next = oldest + 1 == pool ? 0 : oldest + 1;
        }
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public void NewDropped()
    {
        for (int i = 0; i < PacketsPerInvoke; i++)
        {
            int p = Connections + NextInOrder();
            var result = _table.Track(_flows.Packets[p], _flows.Frames[p], Now, _timeouts);
            _table.Abandon(result.Flow);
        }
    }

    private void TrackAndConfirm(int packet)
    {
        var result = _table.Track(_flows.Packets[packet], _flows.Frames[packet], Now, _timeouts);
        if (result.Disposition == TrackDisposition.Unconfirmed && !_table.Confirm(result.Flow, Now))
            throw new InvalidOperationException($"packet {packet} clashed");
    }

    private int NextInOrder()
    {
        int at = _next;
        _next = at + 1 == _order.Length ? 0 : at + 1;
        return _order[at];
    }

    private static int[] Shuffled(int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(42).Shuffle(order);
        return order;
    }
}

/// <summary>
/// The cost of the expiry sweep per slot, over a full table of 1M connections: one pass (what a worker does in
/// 4096-slot slices after each management tick) when nothing has expired, and when half the connections have and
/// are deleted. Each iteration puts the expired half back first, so it measures one pass.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[InvocationCount(1)]
public class FlowTableSweepBenchmarks
{
    private const int Connections = 1_048_576;
    private const ulong Old = 1000, Young = Old + 100_000; // jiffies at creation of each half
    private readonly TimeoutPolicySnapshot _timeouts = new TimeoutPolicyRegistry().Current;
    private FlowTable _table = null!;
    private TcpFlows _flows = null!;
    private ulong _sweepAt;

    [GlobalSetup]
    public void Setup()
    {
        _flows = TcpFlows.Build(Connections, bothDirections: false);
        _table = new FlowTable(Connections);
        for (int i = 0; i < Connections; i += 2)
            Add(i + 1, Young);
    }

    /// <summary>
    /// An unanswered connection picked up mid-stream gets the UNACKNOWLEDGED timeout (kernel index 11, 300 s): the
    /// old half has expired at this time, the young half has not.
    /// </summary>
    private ulong HalfExpiredAt => Old + TcpTracker.Timeout(_timeouts, 0, kernelIndex: 11);

    [IterationSetup(Target = nameof(NothingExpired))]
    public void RefillNothingExpired() => Refill(sweepAt: Old);

    [IterationSetup(Target = nameof(HalfExpired))]
    public void RefillHalfExpired() => Refill(HalfExpiredAt);

    [Benchmark(OperationsPerInvoke = Connections)]
    public int NothingExpired() => _table.Sweep(_sweepAt, Connections);

    [Benchmark(OperationsPerInvoke = Connections)]
    public int HalfExpired() => _table.Sweep(_sweepAt, Connections);

    private void Refill(ulong sweepAt)
    {
        for (int i = 0; i < Connections; i += 2)
        {
            if (_table.Find(_flows.Keys[i], Old, out _) == FlowTable.NoFlow)
                Add(i, Old);
        }
        if (_table.Count != Connections)
            throw new InvalidOperationException($"{_table.Count} connections instead of {Connections}");
        _sweepAt = sweepAt;
    }

    private void Add(int packet, ulong now)
    {
        var result = _table.Track(_flows.Packets[packet], _flows.Frames[packet], now, _timeouts);
        _table.Confirm(result.Flow, now);
    }
}

/// <summary>
/// Parsed TCP ACK segments of distinct connections (4 per client address, as in `perf/run.sh conntrack`), their
/// tuples, and the same segments with RST set. With both directions, packet 2i is flow i's client segment and
/// 2i + 1 the server's answer.
/// </summary>
internal sealed class TcpFlows
{
    public required byte[][] Frames { get; init; }
    public required ParsedPacket[] Packets { get; init; }
    public required ConnectionKey[] Keys { get; init; }
    public required byte[][] ResetFrames { get; init; }
    public required ParsedPacket[] Resets { get; init; }

    public int Count => Frames.Length;

    public static TcpFlows Build(int flows, bool bothDirections)
    {
        var frames = SyntheticTraffic.Build(new TrafficProfile
        {
            Flows = flows, Sources = Math.Max(1, flows / 4), Protocol = 6, DestinationPort = 22, BothDirections = bothDirections,
        }).ToArray();
        // The TCP flags byte of an untagged IPv4 frame: Ethernet 14 + IPv4 20 + 13.
        var resets = frames.Select(f =>
        {
            var reset = (byte[])f.Clone();
            reset[47] = TcpSegment.Rst | TcpSegment.AckFlag;
            return reset;
        }).ToArray();
        var packets = Parse(frames);
        return new TcpFlows
        {
            Frames = frames,
            Packets = packets,
            Keys = packets.Select(p => new ConnectionKey(p.L3, p.Protocol, p.Source, p.Destination, p.SourcePort, p.DestinationPort)).ToArray(),
            ResetFrames = resets,
            Resets = Parse(resets),
        };
    }

    private static ParsedPacket[] Parse(byte[][] frames)
    {
        var packets = new ParsedPacket[frames.Length];
        for (int i = 0; i < frames.Length; i++)
        {
            if (PacketParser.Parse(frames[i], ref packets[i]) != DropReason.None)
                throw new InvalidOperationException($"frame {i} does not parse");
        }
        return packets;
    }
}
