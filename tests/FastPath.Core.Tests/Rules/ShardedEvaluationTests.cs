// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// The consistency model of docs/design/recent-sharding.md: for a sequential packet stream, rule evaluation
/// over N shards that hand the cursor to each key's owner gives the verdicts, decisions, counters and
/// table contents of one global table — as long as no table fills up and no rule reaps.
/// </summary>
public class ShardedEvaluationTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];

    private const string SshGuard = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --rsource -j DROP
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource
        COMMIT
        """;

    // Two recent matches on different addresses in one rule (the packet moves mid-rule), user chains with
    // -j, -g and RETURN around recent matches, masks, and an inverted --update.
    private const string Knocking = """
        *filter
        :FORWARD DROP [0:0]
        :KNOCK - [0:0]
        :STAGE2 - [0:0]
        :CHECKED - [0:0]
        -A FORWARD -p tcp -m tcp --dport 1001 -m recent --set --name K1 --rsource -j DROP
        -A FORWARD -p tcp -m tcp --dport 1002 -j KNOCK
        -A FORWARD -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 30 --name K2 --rsource -m recent --set --name SEEN --rdest -j CHECKED
        -A FORWARD -p udp -m recent --update --name NET --mask 255.255.255.0 --rsource -j ACCEPT
        -A FORWARD -p udp -m recent --set --name NET --mask 255.255.255.0 --rsource
        -A FORWARD -p udp -m recent ! --update --seconds 5 --name FRESH --rdest -j DROP
        -A KNOCK -m recent --rcheck --seconds 10 --name K1 --rsource -g STAGE2
        -A KNOCK -m recent --remove --name K2 --rsource
        -A STAGE2 -m recent --set --name K2 --rsource -j RETURN
        -A CHECKED -m recent --rcheck --hitcount 3 --name SEEN --rdest -j DROP
        -A CHECKED -j ACCEPT
        COMMIT
        """;

    private const string Ipv6Shared = """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -p tcp -m recent --update --seconds 20 --hitcount 3 --name BOTH --rsource --mask ffff:ffff:ffff:ffff:: -j DROP
        -A FORWARD -p tcp -m recent --set --name BOTH --rsource --mask ffff:ffff:ffff:ffff::
        COMMIT
        """;

    private const string Ipv4Shared = """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -p tcp -m recent --update --seconds 20 --hitcount 3 --name BOTH --rsource -j DROP
        -A FORWARD -p tcp -m recent --set --name BOTH --rsource
        COMMIT
        """;

    private static CompiledRuleset Compile(string v4, string? v6 = null) => new(
        RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4),
        v6 is null ? FamilyRuleset.Empty(L3Kind.IPv6) : RulesetParser.Parse(v6, "v6.rules", L3Kind.IPv6),
        Ports);

    /// <summary>A stream mixing few and many sources, knocks, SSH, UDP and IPv6, with TTLs that change now and then.</summary>
    private static List<(byte[] Frame, ulong Now)> Stream(int seed, int count)
    {
        var random = new Random(seed);
        var stream = new List<(byte[], ulong)>();
        ulong now = 100_000;
        ushort[] tcpPorts = [22, 22, 22, 1001, 1002, 80];
        for (int i = 0; i < count; i++)
        {
            now += (ulong)random.Next(0, 50); // up to 0.2 s apart at HZ 250
            string source = $"10.{random.Next(0, 2)}.{random.Next(0, 2)}.{random.Next(1, 13)}";
            string destination = $"192.0.2.{random.Next(1, 12)}";
            byte ttl = (byte)(random.Next(0, 8) == 0 ? 63 : 64);
            byte[] frame = random.Next(0, 10) switch
            {
                < 6 => Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, tcpPorts[random.Next(tcpPorts.Length)]), source, destination, ttl: ttl)),
                < 8 => Ethernet(EtherTypeIPv4, Ipv4(17, Udp(5000, 53), source, destination, ttl: ttl)),
                _ => Ethernet(EtherTypeIPv6, Ipv6(6, Tcp(40000, 22), $"2001:db8:{random.Next(0, 3)}::{random.Next(1, 40):x}", "2001:db8:ffff::1", hopLimit: ttl)),
            };
            stream.Add((frame, now));
        }
        return stream;
    }

    /// <summary>
    /// Evaluates a frame arriving on <paramref name="firstWorker"/>, prepared there as a worker prepares its burst,
    /// moving it to each owner the cursor names until it is decided.
    /// </summary>
    internal static (RuleVerdict Verdict, Decision Decision, int Hops) RunSharded(RulesetState[] shards, byte[] frame, ulong now, int firstWorker)
    {
        var parsed = default(ParsedPacket);
        Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
        EvaluationCursor.Start(out var cursor);
        shards[firstWorker].Prepare(ref parsed, ref cursor);
        int worker = firstWorker, hops = 0;
        while (true)
        {
            var verdict = shards[worker].Evaluate(ref parsed, frame, 0, 1, now, ref cursor, out var decision);
            if (verdict != RuleVerdict.Continue)
                return (verdict, decision, hops);
            Assert.NotEqual(worker, cursor.Owner);
            worker = cursor.Owner;
            hops++;
        }
    }

    private static List<string> Contents(IEnumerable<RecentTable> shards) =>
        shards.SelectMany(t => t.Entries()).Select(e => e.ProcLine()).Order(StringComparer.Ordinal).ToList();

    public static TheoryData<string, string?, int> Rulesets => new()
    {
        { SshGuard, null, 2 },
        { SshGuard, null, 4 },
        { Knocking, null, 2 },
        { Knocking, null, 3 },
        { Ipv4Shared, Ipv6Shared, 2 },
    };

    [Theory]
    [MemberData(nameof(Rulesets))]
    public void ASequentialStreamGetsTheVerdictsOfOneGlobalTable(string v4, string? v6, int workers)
    {
        var ruleset = Compile(v4, v6);
        var global = new RulesetState(ruleset, RecentTableSizing.WithCapacity(10_000));
        var shards = Enumerable.Range(0, workers).Select(w => new RulesetState(ruleset, RecentTableSizing.WithCapacity(10_000), shards: new RecentShardMap(w, workers))).ToArray();
        var random = new Random(7);
        int hops = 0, drops = 0;
        foreach (var (frame, now) in Stream(seed: workers, count: 4000))
        {
            var parsed = default(ParsedPacket);
            PacketParser.Parse(frame, ref parsed);
            var expected = global.Evaluate(ref parsed, frame, 0, 1, now, out var expectedDecision);
            // The packet may arrive on any worker (RSS spreads flows, not sources).
            var actual = RunSharded(shards, frame, now, random.Next(workers));
            Assert.Equal((expected, expectedDecision), (actual.Verdict, actual.Decision));
            hops += actual.Hops;
            drops += expected == RuleVerdict.Drop ? 1 : 0;
        }

        Assert.True(hops > 400, $"only {hops} handoffs: the stream does not exercise the shards");
        Assert.True(drops > 50, $"only {drops} drops: the stream does not exercise the rules");
        for (int t = 0; t < ruleset.RecentTables.Count; t++)
            Assert.Equal(Contents([global.RecentTables[t]]), Contents(shards.Select(s => s.RecentTables[t])));
        for (int r = 0; r < ruleset.Rules.Count; r++)
        {
            Assert.Equal(global.RulePackets[r], shards.Sum(s => s.RulePackets[r]));
            Assert.Equal(global.RuleBytes[r], shards.Sum(s => s.RuleBytes[r]));
        }
        for (int c = 0; c < ruleset.Chains.Count; c++)
            Assert.Equal(global.PolicyPackets[c], shards.Sum(s => s.PolicyPackets[c]));
    }

    [Fact]
    public void SuspendingAndResumingAllocatesNothing()
    {
        var ruleset = Compile(Knocking);
        var shards = Enumerable.Range(0, 3).Select(w => new RulesetState(ruleset, shards: new RecentShardMap(w, 3))).ToArray();
        var stream = Stream(seed: 3, count: 600);
        var parsed = new ParsedPacket[stream.Count];
        for (int i = 0; i < stream.Count; i++)
            PacketParser.Parse(stream[i].Frame, ref parsed[i]);
        long before = 0;
        int hops = 0;
        for (int round = 0; round < 2; round++)
        {
            if (round == 1)
                before = GC.GetAllocatedBytesForCurrentThread(); // the first round jits the code and fills the tables
            for (int i = 0; i < stream.Count; i++)
            {
                EvaluationCursor.Start(out var cursor);
                int worker = i % 3;
                while (shards[worker].Evaluate(ref parsed[i], stream[i].Frame, 0, 1, stream[i].Now + (ulong)round, ref cursor, out _) == RuleVerdict.Continue)
                {
                    worker = cursor.Owner;
                    hops++;
                }
            }
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(hops > 100);
    }

    [Fact]
    public void EveryKeyIsOwnedByOneShardAndOnlyThatShardStoresIt()
    {
        var ruleset = Compile(SshGuard);
        var shards = Enumerable.Range(0, 4).Select(w => new RulesetState(ruleset, RecentTableSizing.WithCapacity(1000), shards: new RecentShardMap(w, 4))).ToArray();
        foreach (var (frame, now) in Stream(seed: 11, count: 2000))
            RunSharded(shards, frame, now, firstWorker: 0);

        for (int w = 0; w < shards.Length; w++)
        {
            var entries = shards[w].RecentTables[0].Entries().ToList();
            Assert.NotEmpty(entries);
            Assert.All(entries, e => Assert.Equal(w, shards[w].Shards.OwnerOf(e.Address)));
        }
    }

    [Fact]
    public void EachShardHoldsItsShareOfTheTableSize()
    {
        var ruleset = Compile(SshGuard);
        var shards = Enumerable.Range(0, 3).Select(w => new RulesetState(ruleset, RecentTableSizing.WithCapacity(29), shards: new RecentShardMap(w, 3))).ToArray();
        Assert.All(shards, s => Assert.Equal(10, s.RecentTables[0].Capacity));
        foreach (var (frame, now) in Stream(seed: 5, count: 3000))
            RunSharded(shards, frame, now, firstWorker: 1);
        // 48 sources knock on port 22: every shard fills and evicts from its own LRU list.
        Assert.All(shards, s => Assert.Equal(10, s.RecentTables[0].Count));
    }

    [Fact]
    public void AResumedEvaluationKeepsItsJumpStack()
    {
        var ruleset = Compile("""
            *filter
            :FORWARD ACCEPT [0:0]
            :A - [0:0]
            :B - [0:0]
            -A FORWARD -j A
            -A FORWARD -j DROP
            -A A -j B
            -A A -s 10.0.0.0/8 -j RETURN
            -A B -m recent --set --name T --rsource
            -A B -m recent --rcheck --name T --rdest -j ACCEPT
            COMMIT
            """);
        var shards = Enumerable.Range(0, 2).Select(w => new RulesetState(ruleset, shards: new RecentShardMap(w, 2))).ToArray();
        // Source and destination owned by different shards, so the packet moves inside B with A and FORWARD stacked.
        var (source, destination) = OwnedApart(shards[0].Shards);
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(1, 2), source, destination));
        var result = RunSharded(shards, frame, 1000, firstWorker: 0);
        Assert.True(result.Hops >= 1);
        // B falls through to A, A's RETURN (10/8) to FORWARD, whose next rule drops.
        Assert.Equal(RuleVerdict.Drop, result.Verdict);
        Assert.Equal("filter:FORWARD:2", result.Decision.Describe(ruleset));
    }

    [Fact]
    public void TooDeepARulesetIsRefusedWhenSharded()
    {
        var chains = Enumerable.Range(0, 18).Select(i => $":C{i} - [0:0]");
        var jumps = Enumerable.Range(0, 17).Select(i => $"-A C{i} -j C{i + 1}");
        var ruleset = Compile($"*filter\n:FORWARD ACCEPT [0:0]\n{string.Join('\n', chains)}\n-A FORWARD -j C0\n{string.Join('\n', jumps)}\n-A C17 -m recent --set\nCOMMIT\n");
        Assert.Equal(18, ruleset.MaxJumpDepth);
        var error = Assert.Throws<ArgumentException>(() => new RulesetState(ruleset, shards: new RecentShardMap(0, 2)));
        Assert.Contains("18 deep", error.Message);
        Assert.Equal(RuleVerdict.Accept, new RulesetState(ruleset).Evaluate(ref Parsed(Ipv4TcpFrame()), Ipv4TcpFrame(), 0, 1, 1, out _));
    }

    [Fact]
    public void AReloadedRulesetKeepsTheTablesItStillNamesAndStartsItsCountersAtZero()
    {
        var old = Compile(SshGuard);
        var state = new RulesetState(old, shards: new RecentShardMap(0, 2));
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22), OwnedBy(state.Shards, 0), "192.0.2.1"));
        Assert.Equal(RuleVerdict.Accept, RunSharded([state, new RulesetState(old, shards: new RecentShardMap(1, 2))], frame, 1000, 0).Verdict);
        var table = state.RecentTables[0];
        Assert.Equal(1, table.Count);

        var next = state.Successor(Compile(Knocking.Replace("--name K1", "--name SSH")));
        Assert.Equal(state.Generation + 1, next.Generation);
        Assert.Same(table, next.RecentTables.Single(t => t.Name == "SSH"));
        Assert.Equal(1, table.Count);
        Assert.All(next.RulePackets, p => Assert.Equal(0, p));
    }

    [Fact]
    public void AKeyOwnerNotedUnderOneGenerationIsNotTrustedUnderTheNext()
    {
        // The first rules look up the source, the reloaded ones the destination: a note about the source's owner
        // must not let the destination's lookup run on the wrong shard.
        var bySource = Compile(Ipv4Shared);
        var byDestination = Compile(Ipv4Shared.Replace("--rsource", "--rdest"));
        var shards = Enumerable.Range(0, 2).Select(w => new RulesetState(bySource, shards: new RecentShardMap(w, 2))).ToArray();
        var (source, destination) = OwnedApart(shards[0].Shards);
        int sourceOwner = shards[0].Shards.OwnerOf(Address(source));
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22), source, destination));
        var parsed = default(ParsedPacket);
        PacketParser.Parse(frame, ref parsed);
        EvaluationCursor.Start(out var cursor);
        shards[sourceOwner].Prepare(ref parsed, ref cursor);

        var reloaded = shards[sourceOwner].Successor(byDestination);
        var verdict = reloaded.Evaluate(ref parsed, frame, 0, 1, 1000, ref cursor, out _);

        Assert.Equal(RuleVerdict.Continue, verdict);
        Assert.Equal(1 - sourceOwner, cursor.Owner);
        Assert.Equal(0, reloaded.RecentTables[0].Count);
    }

    [Fact]
    public void ANoteThatTheKeyIsOwnedHereSkipsTheOwnershipTestAndAnyOtherNoteDoesNot()
    {
        var ruleset = Compile(Ipv4Shared);
        var state = new RulesetState(ruleset, shards: new RecentShardMap(0, 2));
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22), OwnedBy(state.Shards, 1), "192.0.2.1"));
        var parsed = default(ParsedPacket);
        PacketParser.Parse(frame, ref parsed);

        // Prepared here, the note names shard 1: the walk stops at the first recent match and names that owner.
        EvaluationCursor.Start(out var prepared);
        state.Prepare(ref parsed, ref prepared);
        Assert.Equal(RuleVerdict.Continue, state.Evaluate(ref parsed, frame, 0, 1, 1000, ref prepared, out _));
        Assert.Equal(1, prepared.Owner);
        // A note naming this shard under this generation is taken at its word (here a false one, to see it is read).
        EvaluationCursor.Start(out var noted);
        noted.NoteKeyOwner(0, state.Generation);
        Assert.Equal(RuleVerdict.Accept, state.Evaluate(ref parsed, frame, 0, 1, 1000, ref noted, out _));
        Assert.Equal(1, state.RecentTables[0].Count);
    }

    private static string OwnedBy(RecentShardMap map, int shard)
    {
        for (int i = 1; i < 255; i++)
        {
            if (map.OwnerOf(Address($"10.9.0.{i}")) == shard)
                return $"10.9.0.{i}";
        }
        throw new InvalidOperationException("no address on that shard");
    }

    private static ref ParsedPacket Parsed(byte[] frame)
    {
        var parsed = new ParsedPacket[1];
        PacketParser.Parse(frame, ref parsed[0]);
        return ref parsed[0];
    }

    private static (string Source, string Destination) OwnedApart(RecentShardMap map)
    {
        for (int i = 1; i < 255; i++)
        {
            if (map.OwnerOf(Address($"10.0.0.{i}")) != map.OwnerOf(Address("192.0.2.1")))
                return ($"10.0.0.{i}", "192.0.2.1");
        }
        throw new InvalidOperationException("no two addresses on different shards");
    }
}
