// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Globalization;
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane;
using FastPath.Dataplane.Native;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using FastPath.Testing;

namespace FastPath.Throughput;

/// <summary>
/// Pushes synthetic traffic through the real worker loop and reports Mpps per worker, ns per packet and
/// what the run allocated. One scenario per process, because DPDK allows one EAL per process.
///
///   memory    frames replayed in a loop from pinned memory, transmitted to a counting port
///   net_ring  two DPDK net_ring ports in a closed loop: each worker's frames circulate A -> B -> A forever
///   net_null  two DPDK net_null ports: rx allocates mbufs, tx frees them
/// </summary>
public static class Program
{
    private const string Usage = """
        usage: fastpath-throughput [options]
          --port memory|net_ring|net_null   the port kind (default memory)
          --workers N                       workers, pinned to the last N cores (default 1)
          --frame-size BYTES                Ethernet frame without FCS (default 60)
          --flows N                         distinct 5-tuples (default 1024)
          --sources N                       distinct source addresses (default 256)
          --ipv6-share X                    share of IPv6 flows, 0..1 (default 0)
          --vlan-share X                    share of 802.1Q-tagged flows, 0..1 (default 0)
          --protocol tcp|udp                transport of the synthetic flows (default udp; tcp sends ACK segments)
          --dport N                         their destination port (default 80)
          --directions 1|2                  2: each flow also answers (server to client), one frame per direction (default 1)
          --rules FILE                      an iptables-save ruleset as the verdict stage; -j CT --timeout may name the
                                            policy 'bench' (inet tcp, ESTABLISHED 300 s, the rest the kernel's defaults)
          --recent-capacity N               entries per recent table (default 100, the kernel's ip_list_tot)
          --conntrack-max N                 connections when the rules use conntrack, shared out between workers (default 1048576)
          --sweep-ms N                      request a sweep of every worker's connections every N ms, as the
                                            daemon's management tick does (default 0: never)
          --warmup SECONDS                  not measured (default 2)
          --duration SECONDS                measured (default 10)
        Prints one markdown table row (header with --header).
        """;

    public static int Main(string[] args)
    {
        var o = new Dictionary<string, string>
        {
            ["port"] = "memory", ["workers"] = "1", ["frame-size"] = "60", ["flows"] = "1024", ["sources"] = "256",
            ["ipv6-share"] = "0", ["vlan-share"] = "0", ["warmup"] = "2", ["duration"] = "10",
            ["protocol"] = "udp", ["dport"] = "80", ["rules"] = "", ["recent-capacity"] = "100",
            ["directions"] = "1", ["conntrack-max"] = "1048576", ["sweep-ms"] = "0",
        };
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--header")
            {
                Console.WriteLine(Result.Header);
                return 0;
            }
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || !o.ContainsKey(args[i][2..]) || i + 1 == args.Length)
            {
                Console.Error.Write(Usage);
                return 2;
            }
            o[args[i][2..]] = args[++i];
        }
        var profile = new TrafficProfile
        {
            FrameSize = Int(o["frame-size"]),
            Flows = Int(o["flows"]),
            Sources = Int(o["sources"]),
            Ipv6Share = Double(o["ipv6-share"]),
            VlanShare = Double(o["vlan-share"]),
            Protocol = o["protocol"] == "tcp" ? (byte)6 : (byte)17,
            DestinationPort = (ushort)Int(o["dport"]),
            BothDirections = Int(o["directions"]) == 2,
        };
        int workers = Int(o["workers"]);
        var rules = o["rules"].Length == 0 ? null : RulesetParser.ParseFile(o["rules"], L3Kind.IPv4);
        var conntrack = new ConntrackSettings(Int(o["conntrack-max"]), Int(o["sweep-ms"]));
        var scenario = new Scenario(o["port"], workers, profile, Double(o["warmup"]), Double(o["duration"]), rules, Int(o["recent-capacity"]), conntrack);
        Console.WriteLine(scenario.Run().ToString());
        return 0;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
    private static double Double(string s) => double.Parse(s, CultureInfo.InvariantCulture);
}

/// <summary>Connection tracking for a ruleset that uses it: the dataplane-wide limit, and the management tick (0: no sweeps).</summary>
internal sealed record ConntrackSettings(int Max, int SweepMilliseconds)
{
    /// <summary>The policy -j CT --timeout bench names: TCP connections stay 300 s once established (the kernel's default is 5 days).</summary>
    public const string PolicyName = "bench";

    public static TimeoutPolicyRegistry Timeouts()
    {
        var timeouts = new TimeoutPolicyRegistry();
        var established = new Dictionary<int, uint> { [TimeoutProtocols.Tcp.StateIndex("ESTABLISHED")] = 300 };
        if (timeouts.Create(PolicyName, TimeoutPolicyRegistry.InetFamily, TimeoutProtocols.Tcp.Number, established) != Errno.None)
            throw new InvalidOperationException($"cannot create the timeout policy '{PolicyName}'");
        return timeouts;
    }

    public override string ToString() =>
        $"ct max {Max}{(SweepMilliseconds > 0 ? $", sweep every {SweepMilliseconds} ms" : "")}";
}

internal sealed record Result(string Port, int Workers, TrafficProfile Profile, string Rules, double Seconds, long Packets, long[] PacketsPerWorker, long Allocated, int Collections, long Dropped)
{
    public const string Header =
        "| port | workers | frame | flows | sources | IPv6 | VLAN | rules | Mpps total | Mpps per worker | ns/packet per worker | dropped | allocated | GCs |\n" +
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    public override string ToString()
    {
        double mpps = Packets / Seconds / 1e6;
        string perWorker = string.Join(" / ", PacketsPerWorker.Select(p => (p / Seconds / 1e6).ToString("F2", CultureInfo.InvariantCulture)));
        string nsPerPacket = string.Join(" / ", PacketsPerWorker.Select(p => (p == 0 ? 0 : Seconds * 1e9 / p).ToString("F1", CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {Port} | {Workers} | {Profile.FrameSize} | {Profile.Flows} | {Profile.Sources} | {Profile.Ipv6Share:P0} | {Profile.VlanShare:P0} | {Rules} | {mpps:F2} | {perWorker} | {nsPerPacket} | {Dropped} | {Allocated} B | {Collections} |");
    }
}

internal sealed class Scenario(string port, int workers, TrafficProfile profile, double warmupSeconds, double seconds, FamilyRuleset? rules, int recentCapacity,
    ConntrackSettings conntrack)
{
    /// <summary>Frames per ring in the net_ring closed loop; two rings per worker stay far below their 1023 slots.</summary>
    private const int CirculatingPerRing = 256;

    public Result Run()
    {
        var frames = SyntheticTraffic.Build(profile);
        var names = port == "memory" ? new[] { "mem0", "mem1" } : [$"{port}0", $"{port}1"];
        var stages = rules is null ? null : BuildStages(names);
        // Like a device whose RSS FastPath configured for the ruleset (by the recent key, or by flow; see
        // docs/design/steering-and-handoff.md): each worker's queue carries the frames it would steer to itself, so
        // the measurement is the worker loop, not the handoff (the handoff has its own tests).
        var byOwner = Enumerable.Range(0, workers).Select(w => frames.Where(f => OwnerOf(f, stages) == w).ToList()).ToArray();
        var cores = Enumerable.Range(Environment.ProcessorCount - workers, workers).ToArray();
        return port switch
        {
            "memory" => RunMemory(names, byOwner, cores, stages),
            "net_ring" or "net_null" => RunDpdk(names, byOwner, cores, stages),
            _ => throw new ArgumentException($"unknown port kind '{port}'"),
        };
    }

    private int OwnerOf(byte[] frame, RulesetStages? stages)
    {
        var parsed = default(ParsedPacket);
        if (PacketParser.Parse(frame, ref parsed) != DropReason.None || parsed.L3 == L3Kind.None)
            return 0;
        return stages is null
            ? FlowSteering.OwnerOf(ref parsed, workers)
            : new RulesetVerdict(stages.States[0], stages.Peers).Owner(ref parsed, frame, workers);
    }

    private Result RunMemory(string[] names, List<byte[]>[] byOwner, int[] cores, RulesetStages? stages)
    {
        var a = new MemoryPort(names[0], workers, hashesFlowsToQueues: true);
        var b = new MemoryPort(names[1], workers, hashesFlowsToQueues: true);
        for (int w = 0; w < workers; w++)
            a.Load(w, byOwner[w], loop: true, loopPeriod: 1_000_000);
        return Run([a, b], new DataplaneOptions { Workers = workers, Cores = cores }, rxPort: 0, stages);
    }

    private Result RunDpdk(string[] names, List<byte[]>[] byOwner, int[] cores, RulesetStages? stages)
    {
        string a = names[0], b = names[1];
        Eal.Initialize(["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "--log-level=warning", $"--vdev={a}", $"--vdev={b}"]);
        using var pool = DpdkMempool.Create("bench", 65535);
        using var portA = DpdkPort.Open(a, workers, pool);
        using var portB = DpdkPort.Open(b, workers, pool);
        portA.Start();
        portB.Start();
        if (port == "net_ring")
        {
            // A net_ring queue's tx ring is its own rx ring: what we send on queue w of a port comes back on it.
            foreach (var p in new[] { portA, portB })
            {
                for (int w = 0; w < workers; w++)
                    Inject(pool, p, w, byOwner[w]);
            }
        }
        // In the closed loop every frame is counted once per port it crosses; net_null rx counts on both ports too.
        return Run([portA, portB], new DataplaneOptions { Workers = workers, Cores = cores, RegisterWithDpdk = true }, rxPort: -1, stages);
    }

    private static void Inject(DpdkMempool pool, DpdkPort port, int queue, List<byte[]> frames)
    {
        var burst = new PacketBurst();
        var mbufs = new nint[PacketBurst.Capacity];
        for (int sent = 0; sent < CirculatingPerRing; sent += PacketBurst.Capacity)
        {
            var chunk = Enumerable.Range(sent, PacketBurst.Capacity).Select(i => frames[i % frames.Count]).ToList();
            pool.AllocateCopies(chunk, mbufs);
            burst.Count = 0;
            foreach (nint m in mbufs)
                burst.Add(m, 0, 0, 0, 0);
            if (port.Transmit(queue, burst) != PacketBurst.Capacity)
                throw new InvalidOperationException($"could not seed {port.Name} queue {queue}");
        }
    }

    /// <summary>
    /// With no rules the empty verdict stage; otherwise the ruleset, each worker with its shard of the recent tables,
    /// its counters and, when the rules use conntrack, its shard of the connections.
    /// </summary>
    private Result Run(IPort[] ports, DataplaneOptions options, int rxPort, RulesetStages? stages)
    {
        if (stages is null)
            return Measure(new DataplaneHost<AcceptAll>(ports, [(0, 1)], options, _ => default), rxPort, trackers: []);
        return Measure(new DataplaneHost<RulesetVerdict>(ports, [(0, 1)], options, w => new RulesetVerdict(stages.States[w], stages.Peers)), rxPort, stages.Trackers);
    }

    private RulesetStages BuildStages(string[] names)
    {
        var timeouts = ConntrackSettings.Timeouts();
        var compiled = new CompiledRuleset(rules!, FamilyRuleset.Empty(L3Kind.IPv6), names, timeouts: timeouts);
        var trackers = compiled.UsesConntrack
            ? Enumerable.Range(0, workers).Select(w => new ConnectionTracker(timeouts, new RecentShardMap(w, workers).ShardCapacity(conntrack.Max), w, workers)).ToArray()
            : [];
        var states = Enumerable.Range(0, workers)
            .Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(recentCapacity), new RecentShardMap(w, workers), trackers.ElementAtOrDefault(w)))
            .ToArray();
        return new RulesetStages(states, trackers, DataplaneTopology.PeersOf(names, [(0, 1)]));
    }

    private sealed record RulesetStages(RulesetState[] States, ConnectionTracker[] Trackers, int[] Peers);

    /// <summary>Counts packets received (on <paramref name="rxPort"/>, or on every port when -1) over the measured window.</summary>
    private Result Measure<TVerdict>(DataplaneHost<TVerdict> host, int rxPort, ConnectionTracker[] trackers) where TVerdict : struct, IVerdictStage
    {
        var sinceStart = Stopwatch.StartNew();
        host.Start();
        Wait(warmupSeconds, sinceStart, trackers);
        var before = host.ReadCounters();
        int gcBefore = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long start = Stopwatch.GetTimestamp();
        Wait(seconds, sinceStart, trackers);
        double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        int collections = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gcBefore;
        var after = host.ReadCounters();
        host.RequestStop();
        host.Join(TimeSpan.FromSeconds(10));

        var perWorker = new long[workers];
        for (int w = 0; w < workers; w++)
        {
            for (int p = 0; p < after.PortNames.Length; p++)
            {
                if (rxPort < 0 || p == rxPort)
                    perWorker[w] += after.RxPacketsByWorker[w][p] - before.RxPacketsByWorker[w][p];
            }
        }
        long dropped = after.DropsByReason.Sum() - before.DropsByReason.Sum();
        string ruleset = rules is null ? "-" : Path.GetFileName(rules.Source);
        if (profile.BothDirections)
            ruleset += ", both directions";
        if (trackers.Length > 0)
            ruleset += $", {conntrack}";
        return new Result(port, workers, profile, ruleset, elapsed, perWorker.Sum(), perWorker, allocated, collections, dropped);
    }

    /// <summary>
    /// Sleeps like the daemon's management thread: with connection tracking and a sweep tick, it asks every worker
    /// for a sweep each tick, at the time since start in jiffies. The packets' clock (the memory port's replay
    /// stamps) stays within seconds of that, so nothing expires: the sweep only looks.
    /// </summary>
    private void Wait(double waitSeconds, Stopwatch sinceStart, ConnectionTracker[] trackers)
    {
        var end = sinceStart.Elapsed + TimeSpan.FromSeconds(waitSeconds);
        if (trackers.Length == 0 || conntrack.SweepMilliseconds == 0)
        {
            Thread.Sleep(end - sinceStart.Elapsed);
            return;
        }
        var tick = TimeSpan.FromMilliseconds(conntrack.SweepMilliseconds);
        for (var now = sinceStart.Elapsed; now < end; now = sinceStart.Elapsed)
        {
            ulong jiffies = Jiffies.FromNanoseconds((long)now.TotalNanoseconds);
            foreach (var tracker in trackers)
                tracker.RequestSweep(jiffies);
            var next = now + tick;
            Thread.Sleep((next < end ? next : end) - now);
        }
    }
}
