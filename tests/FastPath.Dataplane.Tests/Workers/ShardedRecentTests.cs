// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Dataplane.Tests.Workers;

/// <summary>Recent tables shared out between running workers: frames travel to the owner of their key mid-evaluation.</summary>
public class ShardedRecentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private const string SshGuard = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH --rsource -j DROP
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource
        COMMIT
        """;

    /// <summary>300 sources, 20 SSH attempts each, 50 ms apart per source; every frame distinct (its source port).</summary>
    private static (List<byte[]> Frames, List<long> Times) Attempts()
    {
        var frames = new List<byte[]>();
        var times = new List<long>();
        for (int round = 0; round < 20; round++)
        {
            for (int s = 0; s < 300; s++)
            {
                frames.Add(Ethernet(EtherTypeIPv4, Ipv4(6, Tcp((ushort)(10000 + round), 22), $"10.0.{s / 250}.{s % 250 + 1}", "192.0.2.1")));
                times.Add(1_000_000_000L + round * 50_000_000L + s * 100_000L);
            }
        }
        return (frames, times);
    }

    private static (HashSet<string> Forwarded, DataplaneHost<RulesetVerdict> Host, RulesetState[] States) Run(int workers, bool softwareSteering = false)
    {
        var (frames, times) = Attempts();
        // Each source's attempts arrive in order on one queue, so nothing reorders a source's attempts; its key
        // may belong to any worker. Queues that count as flow-hashed get no software steering.
        var a = new MemoryPort("a", workers, hashesFlowsToQueues: !softwareSteering) { CaptureTransmitted = true };
        var b = new MemoryPort("b", workers, hashesFlowsToQueues: !softwareSteering) { CaptureTransmitted = true };
        for (int q = 0; q < workers; q++)
        {
            var mine = Enumerable.Range(0, frames.Count).Where(i => (i % 300) % workers == q).ToList();
            a.Load(q, mine.Select(i => frames[i]).ToList(), mine.Select(i => times[i]).ToList());
        }
        var compiled = new CompiledRuleset(RulesetParser.Parse(SshGuard, "ssh.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"]);
        var states = Enumerable.Range(0, workers).Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(1000), shards: new RecentShardMap(w, workers))).ToArray();
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = workers }, w => new RulesetVerdict(states[w], [1, 0]));
        host.RunToCompletion(Timeout);
        return (b.Transmitted.Select(f => Convert.ToHexString(f.Bytes)).ToHashSet(), host, states);
    }

    [Fact]
    public void TwoWorkersForwardWhatOneWorkerForwards()
    {
        var (single, _, _) = Run(workers: 1);
        var (sharded, host, states) = Run(workers: 2);

        // Per source the attempts reach the owner in arrival order, so the verdicts are the single table's.
        Assert.Equal(300 * 4, single.Count);
        Assert.Equal(single.Order(), sharded.Order());
        var c = host.ReadCounters();
        Assert.True(c.HandedOff.Sum() > 1000, "about half the keys belong to the other worker");
        Assert.Equal(c.HandedOff.Sum(), c.HandoffReceivedByWorker.Sum());
        Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
        Assert.Equal(300 * 16, c.Drops(DropReason.RuleDrop));
        // Each worker stored only the sources it owns, and together all of them.
        Assert.Equal(300, states.Sum(s => s.RecentTables[0].Count));
        foreach (var state in states)
            Assert.All(state.RecentTables[0].Entries(), e => Assert.Equal(state.Shards.Index, state.Shards.OwnerOf(e.Address)));
    }

    [Fact]
    public void SoftwareSteeringSendsAFrameStraightToTheOwnerOfItsOnlyKey()
    {
        var (single, _, _) = Run(workers: 1);
        var (steered, host, states) = Run(workers: 2, softwareSteering: true);

        Assert.Equal(single.Order(), steered.Order());
        // Every recent match keys on the source: a frame moves once, on arrival, if its source is the other
        // worker's, and never mid-evaluation.
        var (frames, _) = Attempts();
        int arrivingElsewhere = Enumerable.Range(0, frames.Count).Count(i =>
        {
            var parsed = default(ParsedPacket);
            PacketParser.Parse(frames[i], ref parsed);
            return states[0].Shards.OwnerOf(parsed.Source) != (i % 300) % 2;
        });
        Assert.Equal(arrivingElsewhere, host.ReadCounters().HandedOff.Sum());
    }

    [Fact]
    public void StopWaitsForFramesStillTravellingBetweenShards()
    {
        const int Workers = 2;
        var (frames, times) = Attempts();
        var a = new MemoryPort("a", Workers);
        var b = new MemoryPort("b", Workers);
        for (int q = 0; q < Workers; q++)
            a.Load(q, frames, times, loop: true, loopPeriod: 2_000_000_000L);
        var compiled = new CompiledRuleset(RulesetParser.Parse(SshGuard, "ssh.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"]);
        var states = Enumerable.Range(0, Workers).Select(w => new RulesetState(compiled, shards: new RecentShardMap(w, Workers))).ToArray();
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = Workers }, w => new RulesetVerdict(states[w], [1, 0]));

        host.Start();
        SpinWait.SpinUntil(() => host.ReadCounters().HandedOff.Sum() > 200_000, Timeout);
        host.RequestStop();
        Assert.True(host.Join(Timeout));

        // Every frame received was forwarded or dropped under a reason: none was left in a ring at exit.
        var c = host.ReadCounters();
        Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
        Assert.Equal(c.HandedOff.Sum(), c.HandoffReceivedByWorker.Sum());
    }

    /// <summary>
    /// Reloads while frames travel between two running workers, which take each reload one after the other. Every
    /// frame moves mid-rule (its source and destination belong to different shards) and is decided under one
    /// ruleset: per generation, the frames that entered FORWARD are the frames that finished the two-key rule and
    /// reached the verdict. Every other generation drops everything and names one more table.
    /// </summary>
    [Fact]
    public void AFrameTravellingThroughReloadsIsDecidedUnderTheRulesetItStartedUnder()
    {
        const int Workers = 2;
        const int Reloads = 24;
        var map = new RecentShardMap(0, Workers);
        var sources = Enumerable.Range(1, 254).Select(i => $"10.0.0.{i}").ToList();
        var crossing = sources.SelectMany(s => sources.Select(d => (s, d)))
            .Where(p => map.OwnerOf(Address(p.s)) != map.OwnerOf(Address(p.d))).Take(64).ToList();
        var frames = crossing.Select((p, i) => Ethernet(EtherTypeIPv4, Ipv4(6, Tcp((ushort)(10000 + i), 80), p.s, p.d))).ToList();
        var a = new MemoryPort("a", Workers, hashesFlowsToQueues: true); // no steering on arrival: every move is mid-evaluation
        var b = new MemoryPort("b", Workers, hashesFlowsToQueues: true);
        for (int q = 0; q < Workers; q++)
            a.Load(q, frames, loop: true, loopPeriod: 1_000_000_000L);

        static CompiledRuleset Generation(int g) => new(RulesetParser.Parse($"""
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -p tcp
            {(g % 2 == 1 ? "-A FORWARD -m recent --rcheck --name ODD --rdest" : "-A FORWARD -p udp")}
            -A FORWARD -m recent --set --name S --rsource -m recent --set --name D --rdest
            -A FORWARD -j {(g % 2 == 1 ? "DROP" : "ACCEPT")}
            COMMIT
            """, "reload.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"]);

        var reloads = new PendingRuleset();
        var states = Enumerable.Range(0, Workers).Select(w => new RulesetState(Generation(0), shards: new RecentShardMap(w, Workers))).ToArray();
        var installed = states.ToList(); // every generation's state on every worker, for its counters
        // Large rings: a frame dropped for a full ring ends its evaluation half-way (counted below).
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = Workers, HandoffRingSize = 1 << 18 },
            w => new RulesetVerdict(states[w], [1, 0], reloads: reloads));
        host.Start();
        int generation = 0;
        while (generation < Reloads)
        {
            var next = Generation(++generation);
            reloads.Publish(generation, next);
            host.RunOnWorkers(w => (ref RulesetVerdict verdict) =>
            {
                verdict.InstallPending();
                lock (installed)
                    installed.Add(verdict.State);
            }, Timeout);
            WaitForTravellers(host);
        }
        host.RequestStop();
        Assert.True(host.Join(Timeout));

        var c = host.ReadCounters();
        // Every frame that was not dropped for a full ring moved at least once, and many twice. With unpaced traffic
        // a worker the scheduler holds back fills its ring, so ring-full drops are common on a loaded machine.
        long finished = c.RxPackets[0] - c.Drops(DropReason.HandoffRingFull);
        Assert.True(c.HandedOff.Sum() > finished,
            $"frames move mid-rule: {c.RxPackets[0]} received, {finished} not dropped for a full ring, {c.HandedOff.Sum()} handoffs");
        Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
        Assert.Equal(c.Dropped[0], c.Drops(DropReason.RuleDrop) + c.Drops(DropReason.HandoffRingFull));
        Assert.Equal(c.HandedOff.Sum(), c.HandoffReceivedByWorker.Sum());
        Assert.Equal(Reloads + 1, installed.Select(s => s.Generation).Distinct().Count());
        long unfinished = 0;
        foreach (var byGeneration in installed.GroupBy(s => s.Generation))
        {
            long entered = byGeneration.Sum(s => s.RulePackets[0]);
            long decided = byGeneration.Sum(s => s.RulePackets[3]);
            Assert.Equal(decided, byGeneration.Sum(s => s.RulePackets[2]));
            unfinished += entered - decided;
        }
        // Started under one generation and finished under another would count as entered twice.
        Assert.Equal(c.Drops(DropReason.HandoffRingFull), unfinished);
        Assert.Equal(c.RxPackets[0], installed.Sum(s => s.RulePackets[0]));
    }

    /// <summary>
    /// Waits until the frames travelling when the reload finished are decided (each has at most three moves left):
    /// one that sat in a ring through two reloads would restart under the newest (<see cref="EvaluationCursor.RestartUnder"/>).
    /// </summary>
    private static void WaitForTravellers(DataplaneHost<RulesetVerdict> host)
    {
        var workers = host.Workers;
        for (int move = 0; move < 4; move++)
        {
            long toFirst = workers[1].Counters.ReadHandedOff(0), toSecond = workers[0].Counters.ReadHandedOff(0);
            Assert.True(SpinWait.SpinUntil(() => workers[0].Counters.ReadHandoffReceived() >= toFirst
                && workers[1].Counters.ReadHandoffReceived() >= toSecond, Timeout));
        }
    }
}
