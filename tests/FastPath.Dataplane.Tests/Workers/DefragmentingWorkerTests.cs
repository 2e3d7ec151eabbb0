// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
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
/// Workers reassemble fragments before connection tracking, as the kernel does wherever conntrack runs: the ruleset
/// decides each datagram once, by its ports, and its fragments leave together in offset order or not at all; with two
/// workers a datagram is gathered on one and decided on its connection's owner, which hands the queue back.
/// </summary>
public sealed class DefragmentingWorkerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private const string Stateful = """
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j DROP
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -p udp -m udp --dport 9 -j DROP
        COMMIT
        """;

    private const string Stateless = """
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -p udp
        COMMIT
        """;

    /// <summary>A 40-byte UDP datagram from <paramref name="source"/> in three fragments (offsets 0, 16, 32), identified by <paramref name="id"/>.</summary>
    private static byte[][] Fragments(string source, ushort port, ushort id)
    {
        byte[] udp = Udp(40000, port, [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);
        byte[] Piece(int offset, int length, bool more) => Ethernet(EtherTypeIPv4, Ipv4(17, udp.AsSpan(offset, length).ToArray(), source, "192.0.2.53",
            moreFragments: more, fragmentOffset: offset, patch: h => BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), id)));
        return [Piece(0, 16, true), Piece(16, 16, true), Piece(32, 8, false)];
    }

    private static (ushort Id, int Offset) Identify(byte[] frame) =>
        (BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(14 + 4)), (BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(14 + 6)) & 0x1FFF) * 8);

    private static (MemoryPort Out, DataplaneCounters Counters, DataplaneHost<RulesetVerdict> Host, RulesetState[] States) Run(
        string rules, int workers, bool softwareSteering, Func<int, int> queueOfFrame, IReadOnlyList<byte[]> frames)
    {
        var registry = new TimeoutPolicyRegistry();
        var compiled = new CompiledRuleset(RulesetParser.Parse(rules, "test.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"], timeouts: registry);
        var states = Enumerable.Range(0, workers)
            .Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(100), new RecentShardMap(w, workers), new ConnectionTracker(registry, 1024, w, workers)))
            .ToArray();
        var a = new MemoryPort("a", workers, hashesFlowsToQueues: !softwareSteering);
        var b = new MemoryPort("b", workers, hashesFlowsToQueues: !softwareSteering) { CaptureTransmitted = true };
        for (int q = 0; q < workers; q++)
        {
            var mine = Enumerable.Range(0, frames.Count).Where(i => queueOfFrame(i) == q).ToList();
            a.Load(q, mine.Select(i => frames[i]).ToList(), mine.Select(i => 1_000_000_000L + i * 1_000_000L).ToList());
        }
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = workers }, w => new RulesetVerdict(states[w], [1, 0]));
        host.RunToCompletion(Timeout);
        return (b, host.ReadCounters(), host, states);
    }

    [Fact]
    public void OneWorkerDecidesEachDatagramOnceAndSendsItsFragmentsInOffsetOrder()
    {
        var dns = Fragments("10.0.0.1", 53, 1);
        var discard = Fragments("10.0.0.1", 9, 2);
        var incomplete = Fragments("10.0.0.2", 53, 3);
        // Out of order and interleaved; the third datagram never gets its first fragment.
        byte[][] frames = [dns[2], discard[1], dns[0], discard[2], incomplete[1], discard[0], dns[1], incomplete[2]];
        var (output, counters, host, states) = Run(Stateful, 1, false, _ => 0, frames);

        // Without reassembly the INVALID rule would have dropped every non-first fragment.
        Assert.Equal([(1, 0), (1, 16), (1, 32)], output.Transmitted.Select(f => Identify(f.Bytes)).Select(x => ((int)x.Id, x.Offset)));
        Assert.Equal(dns, output.Transmitted.Select(f => f.Bytes));
        Assert.Equal(3, counters.DropsByReason[(int)DropReason.RuleDrop]);
        Assert.Equal(2, counters.DropsByReason[(int)DropReason.ReassemblyUnfinished]);
        Assert.Equal(frames.Length, counters.RxPackets[0]);
        Assert.Equal(counters.RxPackets[0], counters.TxPackets[1] + counters.Dropped[0]);
        // One connection: the datagram to port 53 (the one to port 9 was dropped, so never confirmed).
        Assert.Equal(1, states[0].Conntrack!.Table.Count);
        Assert.Equal(0, host.Workers[0].Defragmenter.QueuesInUse);
    }

    [Fact]
    public void AnIncompleteDatagramTimesOutWhenLaterFramesComeAfterItsTime()
    {
        var query = Fragments("10.0.0.1", 53, 1);
        var answer = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(53, 40000), "192.0.2.53", "10.0.0.1"));
        // Frame i arrives at 1 s + i ms; with 40,000 answers between them the last fragment comes 40 s after the first.
        byte[][] frames = [query[0], query[1], .. Enumerable.Repeat(answer, 40_000), query[2]];
        var (output, counters, host, _) = Run(Stateful, 1, false, _ => 0, frames);

        Assert.Equal(2, counters.DropsByReason[(int)DropReason.ReassemblyTimeout]);
        Assert.Equal(1, counters.DropsByReason[(int)DropReason.ReassemblyUnfinished]); // the last fragment, in a queue of its own
        Assert.Empty(output.Transmitted); // no query was decided, so every answer is NEW from the resolver: dropped
        Assert.Equal(0, host.Workers[0].Defragmenter.QueuesInUse);
    }

    /// <summary>
    /// An IPv6 first fragment whose end is off an 8-byte boundary goes on unreassembled: with software steering it is
    /// decided where its datagram was gathered, not sent to its connection's owner as a fresh fragment, which would
    /// send it back to be gathered again, for ever.
    /// </summary>
    [Fact]
    public void AFragmentPassedOnUnreassembledIsDecidedNotSteeredBackAndForth()
    {
        byte[] Misaligned(int i) => Ethernet(EtherTypeIPv6, Ipv6(44, [.. Fragment(17, 0, more: true, identification: (uint)i), .. Udp((ushort)(40000 + i), 53, [1, 2, 3, 4])],
            "2001:db8::1", "2001:db8::53"));
        var frames = Enumerable.Range(0, 16).Select(Misaligned).ToList();
        var (_, counters, host, _) = Run(Stateful, 2, true, i => i % 2, frames);

        Assert.Equal(16, counters.RxPackets[0]);
        Assert.Equal(counters.RxPackets[0], counters.TxPackets[1] + counters.Dropped[0]);
        Assert.Equal(0, counters.DropsByReason[(int)DropReason.ReassemblyUnfinished]);
        Assert.All(host.Workers, w => Assert.Equal(0, w.Defragmenter.QueuesInUse));
    }

    [Fact]
    public void WithoutConnectionTrackingFragmentsCrossOneByOne()
    {
        var dns = Fragments("10.0.0.1", 53, 1);
        var (output, counters, _, _) = Run(Stateless, 1, false, _ => 0, [dns[2], dns[1]]);
        // No ports in a non-first fragment: the policy drops them; nothing is held.
        Assert.Empty(output.Transmitted);
        Assert.Equal(2, counters.DropsByReason[(int)DropReason.RuleDrop]);
        Assert.Equal(0, counters.DropsByReason[(int)DropReason.ReassemblyUnfinished]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoWorkersGatherEachDatagramOnOneAndHandTheQueueBack(bool softwareSteering)
    {
        // 15 sources, each with a datagram to port 53 and one to port 9 (30 datagrams held at once: within one worker's
        // queues), fragments spread over both rx queues (with the device's hashing all on queue 0: the datagram's
        // connection owner is then worker 1 for about half).
        var frames = new List<byte[]>();
        var datagrams = Enumerable.Range(0, 15).SelectMany(s => new[] { Fragments($"10.1.0.{s + 1}", 53, (ushort)(2 * s)), Fragments($"10.1.0.{s + 1}", 9, (ushort)(2 * s + 1)) }).ToList();
        for (int piece = 2; piece >= 0; piece--)
            frames.AddRange(datagrams.Select(d => d[piece]));
        var (output, counters, host, states) = Run(Stateful, 2, softwareSteering, i => softwareSteering ? i % 2 : 0, frames);

        var sent = output.Transmitted.GroupBy(f => Identify(f.Bytes).Id).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(Enumerable.Range(0, 15).Select(s => (ushort)(2 * s)), sent.Keys.Order());
        foreach (var (id, fragments) in sent)
        {
            Assert.Equal([0, 16, 32], fragments.Select(f => Identify(f.Bytes).Offset));
            Assert.Single(fragments.Select(f => f.Queue).Distinct());
            Assert.Equal(datagrams[id], fragments.Select(f => f.Bytes));
        }
        Assert.Equal(45, counters.DropsByReason[(int)DropReason.RuleDrop]);
        Assert.Equal(counters.RxPackets[0], counters.TxPackets[1] + counters.Dropped[0]);
        Assert.Equal(15, states.Sum(s => s.Conntrack!.Table.Count));
        Assert.True(counters.HandedOff.Sum() > 0, "no datagram crossed between the workers");
        Assert.All(host.Workers, w => Assert.Equal(0, w.Defragmenter.QueuesInUse));
    }
}
