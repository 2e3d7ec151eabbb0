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
        var registry = new TimeoutPolicyRegistry();
        registry.Create("dns", TimeoutPolicyRegistry.InetFamily, 17, new Dictionary<int, uint> { [0] = 10 });
        var compiled = new CompiledRuleset(RulesetParser.Parse(DnsGuard, "dns.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"], timeouts: registry);
        var states = Enumerable.Range(0, workers)
            .Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(1000), new RecentShardMap(w, workers), new ConnectionTracker(registry, 4096, w, workers)))
            .ToArray();
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
}
