// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Dataplane.Tests.Workers;

/// <summary>
/// Connection tracking on running workers: a frame is tracked on its connection's owner, its recent match runs on
/// its source's owner, and a new connection is confirmed back on its owner once the frame is accepted.
/// </summary>
public class ShardedConntrackWorkerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // Each source may open one DNS connection a minute; other new traffic is dropped and never confirmed.
    private const string DnsGuard = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 53 -j CT --timeout dns
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 2 --name DNS --rsource -j DROP
        -A FORWARD -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m recent --set --name DNS --rsource -j ACCEPT
        COMMIT
        """;

    private const int Sources = 200;
    private const int Rounds = 6;

    /// <summary>Per round and source: a query from a new port (to port 53, or to 54 every third round), then the same query again.</summary>
    private static List<(byte[] Frame, long Time, int Source)> Queries(int round)
    {
        var frames = new List<(byte[], long, int)>();
        for (int s = 0; s < Sources; s++)
        {
            ushort port = (ushort)(round % 3 == 2 ? 54 : 53);
            byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(17, Udp((ushort)(20000 + round), port), $"10.1.{s / 200}.{s % 200 + 1}", "192.0.2.53"));
            long time = 1_000_000_000L + round * 40_000_000L + s * 100_000L;
            frames.Add((frame, time, s));
            frames.Add((frame, time + 10_000_000L, s));
        }
        return frames;
    }

    /// <summary>
    /// Each round runs to completion before the next starts, as 40 ms apart on the wire they would: otherwise a
    /// source's later connection, decided where it arrived, could overtake its first one still travelling between
    /// workers, and which of the two the limit refuses would depend on the threads' timing.
    /// </summary>
    private static (RulesetState[] States, int Forwarded, long HandedOff, long HandoffsReceived, long[] Drops) Run(int workers, bool softwareSteering)
    {
        var states = States(workers, DnsGuard);
        int forwarded = 0;
        long handedOff = 0, received = 0;
        var drops = new long[Enum.GetValues<DropReason>().Length];
        for (int round = 0; round < Rounds; round++)
        {
            var frames = Queries(round);
            var a = new MemoryPort("a", workers, hashesFlowsToQueues: !softwareSteering) { CaptureTransmitted = true };
            var b = new MemoryPort("b", workers, hashesFlowsToQueues: !softwareSteering) { CaptureTransmitted = true };
            for (int q = 0; q < workers; q++)
            {
                var mine = frames.Where(f => f.Source % workers == q).ToList();
                a.Load(q, mine.Select(f => f.Frame).ToList(), mine.Select(f => f.Time).ToList());
            }
            var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = workers }, w => new RulesetVerdict(states[w], [1, 0]));
            host.RunToCompletion(Timeout);
            var c = host.ReadCounters();
            Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
            forwarded += b.Transmitted.Count;
            handedOff += c.HandedOff.Sum();
            received += c.HandoffReceivedByWorker.Sum();
            for (int r = 0; r < drops.Length; r++)
                drops[r] += c.DropsByReason[r];
        }
        return (states, forwarded, handedOff, received, drops);
    }

    private static RulesetState[] States(int workers, string rules)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("dns", TimeoutPolicyRegistry.InetFamily, 17, new Dictionary<int, uint> { [0] = 10 });
        var compiled = new CompiledRuleset(RulesetParser.Parse(rules, "test.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"], timeouts: registry);
        return Enumerable.Range(0, workers)
            .Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(1000), new RecentShardMap(w, workers), new ConnectionTracker(registry, 4096, w, workers)))
            .ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TwoWorkersTrackAndConfirmWhatOneWorkerDoes(bool softwareSteering)
    {
        var (single, forwardedBySingle, _, _, _) = Run(workers: 1, softwareSteering: false);
        var (states, forwarded, handedOff, handoffsReceived, drops) = Run(workers: 2, softwareSteering);

        // The first query of each source and its repeat (still NEW: no reply yet) pass; every later new connection
        // is over the limit or to port 54, is dropped, and is never confirmed.
        Assert.Equal(Sources * 2, forwardedBySingle);
        Assert.Equal(forwardedBySingle, forwarded);
        Assert.Equal(Sources, single[0].Conntrack!.Table.Count);
        Assert.Equal(Sources, states.Sum(s => s.Conntrack!.Table.Count));
        Assert.Equal(Sources, states.Sum(s => s.RecentTables[0].Count));

        Assert.True(handedOff > 500, $"only {handedOff} handoffs");
        Assert.Equal(handedOff, handoffsReceived);
        Assert.Equal(0, drops[(int)DropReason.ConntrackTableFull] + drops[(int)DropReason.ConntrackClash]);
        foreach (var state in states)
        {
            var table = state.Conntrack!.Table;
            for (int i = 0; i < table.Capacity; i++)
            {
                if (table.Find(table[i].Original, 0, out _) == i)
                    Assert.Equal(state.Shards.Index, state.Conntrack.OwnerOf(table[i].Original));
            }
        }
    }

    /// <summary>
    /// A frame dropped for a full handoff ring while its new connection waits unconfirmed frees that connection, as
    /// the kernel frees it with the skb: on the spot when this worker holds it, through the holder's abandon ring
    /// otherwise. Nothing stays behind in either table.
    /// </summary>
    [Fact]
    public void AFrameDroppedOnAFullRingFreesItsUnconfirmedConnection()
    {
        const string SeenGuard = """
            *filter
            :FORWARD DROP [0:0]
            -A FORWARD -m conntrack --ctstate NEW -m recent --set --name SEEN --rsource -j ACCEPT
            COMMIT
            """;
        var states = States(2, SeenGuard);
        // Worker 0 tracks 5 new connections whose source worker 1 owns, and worker 1 receives 3 that worker 0 tracks
        // and whose source worker 0 owns: each ring of 2 fills.
        var towardsOne = Frames(states, connectionOwner: 0, sourceOwner: 1).Take(5).ToList();
        var towardsZero = Frames(states, connectionOwner: 0, sourceOwner: 0).Take(3).ToList();
        var a = new MemoryPort("a", 2, hashesFlowsToQueues: true);
        var b = new MemoryPort("b", 2, hashesFlowsToQueues: true) { CaptureTransmitted = true };
        a.Load(0, towardsOne);
        a.Load(1, towardsZero);
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = 2, HandoffRingSize = 2 }, w => new RulesetVerdict(states[w], [1, 0]));
        var table = states[0].Conntrack!.Table;

        // Worker 0 hands 2 to worker 1; it drops 3, and forgets their connections at once.
        host.Workers[0].PollOnce();
        Assert.Equal(3, host.ReadCounters().Drops(DropReason.HandoffRingFull));
        Assert.Equal(2, table.Count);

        // Worker 1 hands 2 of its own to worker 0 (one more is dropped), then accepts worker 0's 2. Their way back
        // to be confirmed is full: they are dropped, and worker 0 is told to forget their connections.
        host.Workers[1].PollOnce();
        host.Workers[1].Flush();
        Assert.Equal(6, host.ReadCounters().Drops(DropReason.HandoffRingFull));
        Assert.Equal(2, table.Count);

        // Worker 0 forgets them and tracks, accepts and confirms the 2 it was handed.
        host.Workers[0].Flush();
        Assert.Equal(2, table.Count);
        var listed = new List<FlowView>();
        table.Snapshot(0, states[0].Conntrack!.Timeouts.Current, listed);
        Assert.Equal(2, listed.Count);
        Assert.Equal(0, states[1].Conntrack!.Table.Count);
        Assert.Equal(2, b.Transmitted.Count);
    }

    /// <summary>Endless new UDP connections from distinct sources whose connection and source owners are those given.</summary>
    private static IEnumerable<byte[]> Frames(RulesetState[] states, int connectionOwner, int sourceOwner)
    {
        for (int i = 1; ; i++)
        {
            byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40000, 53), $"10.2.{i / 250}.{i % 250 + 1}", "192.0.2.53"));
            var packet = default(ParsedPacket);
            Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref packet));
            if (states[0].Conntrack!.OwnerOf(packet, frame) == connectionOwner && states[0].Shards.OwnerOf(packet.Source) == sourceOwner)
                yield return frame;
        }
    }
}
