// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using FastPath.Testing;

namespace FastPath.Benchmarks;

/// <summary>
/// The SSH-guard ruleset (perf/ssh-guard-bench.rules) on the two mixes of `perf/run.sh baseline`: 1K flows
/// from 256 sources through a 100-entry table (every packet misses twice, inserts and evicts), and 1M flows
/// from 64K sources through a 64K-entry table (every packet hits and is dropped). <see cref="Evaluate"/> is
/// the rule walk alone over frames parsed beforehand; <see cref="Worker"/> is one worker's whole loop over
/// in-memory ports, as `fastpath-throughput --port memory --workers 1` runs it but without threads. Mean is
/// per packet; Min is the column to compare when something else shares the machine.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class RulesetBenchmarks
{
    private const int PacketsPerInvoke = 4096;

    // perf/ssh-guard-bench.rules, inline so the benchmark does not depend on the working directory.
    private const string SshGuard = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --rsource -j DROP
        -A FORWARD -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource -j ACCEPT
        COMMIT
        """;

    private ParsedPacket[] _packets = [];
    private byte[][] _frames = [];
    private RulesetState _state = null!;
    private int _next;
    private long _pass;
    private MemoryPort? _in;
    private MemoryPort? _out;
    private Worker<RulesetVerdict> _worker = null!;

    [Params("1K/256/100", "1M/64K/64K")]
    public string Mix { get; set; } = "";

    private bool Big => Mix.StartsWith("1M", StringComparison.Ordinal);

    private CompiledRuleset Compile(string[] ports) =>
        new(RulesetParser.Parse(SshGuard, "ssh-guard-bench.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ports);

    private List<byte[]> Frames() =>
        SyntheticTraffic.Build(new TrafficProfile { Flows = Big ? 1 << 20 : 1024, Sources = Big ? 65536 : 256, Protocol = 6, DestinationPort = 22 });

    [GlobalSetup(Target = nameof(Evaluate))]
    public void SetupEvaluate()
    {
        _frames = Frames().ToArray();
        _packets = new ParsedPacket[_frames.Length];
        for (int i = 0; i < _frames.Length; i++)
        {
            if (PacketParser.Parse(_frames[i], ref _packets[i]) != DropReason.None)
                throw new InvalidOperationException($"frame {i} does not parse");
        }
        _state = new RulesetState(Compile(["mem0", "mem1"]), RecentTableSizing.WithCapacity(Big ? 65536 : 100));

        // Two passes to reach the steady state, then the packet path must not allocate.
        for (int i = 0; i < 2 * _frames.Length / PacketsPerInvoke + 2; i++)
            Evaluate();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Evaluate();
        if (GC.GetAllocatedBytesForCurrentThread() != before)
            throw new InvalidOperationException("the rule walk allocated");
    }

    [GlobalSetup(Target = nameof(Worker))]
    public void SetupWorker()
    {
        var frames = Frames();
        _in = new MemoryPort("mem0", queues: 1);
        _out = new MemoryPort("mem1", queues: 1);
        _in.Load(0, frames, loop: true, loopPeriod: 1_000_000);
        string[] names = ["mem0", "mem1"];
        var state = new RulesetState(Compile(names), RecentTableSizing.WithCapacity(Big ? 65536 : 100));
        var peers = DataplaneTopology.PeersOf(names, [(0, 1)]);
        var host = new DataplaneHost<RulesetVerdict>([_in, _out], [(0, 1)], new DataplaneOptions { Workers = 1 }, _ => new RulesetVerdict(state, peers));
        _worker = host.Workers[0];
        for (int i = 0; i < 2 * frames.Count / PacketsPerInvoke + 2; i++)
            Worker();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Worker();
        if (GC.GetAllocatedBytesForCurrentThread() != before)
            throw new InvalidOperationException("the worker loop allocated");
    }

    [GlobalCleanup(Target = nameof(Worker))]
    public void CleanupWorker()
    {
        _in?.Dispose();
        _out?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public int Evaluate()
    {
        var packets = _packets;
        var frames = _frames;
        var state = _state;
        int accepted = 0;
        int next = _next;
        for (int i = 0; i < PacketsPerInvoke; i++)
        {
            if (next == packets.Length)
            {
                next = 0;
                _pass++;
            }
            // As the memory port replays: one round per millisecond, a jiffy every 4 ms.
            ulong now = Jiffies.FromNanoseconds(_pass * 1_000_000 + next * 1000L);
            if (state.Evaluate(ref packets[next], frames[next], 0, 1, now, out _) == RuleVerdict.Accept)
                accepted++;
            next++;
        }
        _next = next;
        return accepted;
    }

    [Benchmark(OperationsPerInvoke = PacketsPerInvoke)]
    public void Worker()
    {
        for (int i = 0; i < PacketsPerInvoke / PacketBurst.Capacity; i++)
        {
            _worker.PollOnce();
            _worker.Flush();
        }
    }
}
