// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>x_tables traversal over parsed frames, with injected jiffies.</summary>
public class RulesetStateTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];

    private static RulesetState Load(string filter, string? raw = null, string? ipv6 = null)
    {
        string v4 = (raw is null ? "" : $"*raw\n:PREROUTING ACCEPT [0:0]\n{raw}\nCOMMIT\n") + $"*filter\n{filter}\nCOMMIT\n";
        var ruleset = new CompiledRuleset(
            RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4),
            ipv6 is null ? FamilyRuleset.Empty(L3Kind.IPv6) : RulesetParser.Parse($"*filter\n{ipv6}\nCOMMIT\n", "v6.rules", L3Kind.IPv6),
            Ports);
        return new RulesetState(ruleset);
    }

    private static (RuleVerdict Verdict, string DecidedBy) Run(RulesetState state, byte[] frame, ulong now = 1000, int inPort = 0)
    {
        var parsed = default(ParsedPacket);
        Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
        var verdict = state.Evaluate(ref parsed, frame, inPort, 1 - inPort, now, out var decision);
        return (verdict, decision.Describe(state.Ruleset));
    }

    private static byte[] Syn(string source, ushort port = 22, byte ttl = 64) =>
        Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, port, 0x02), source, "198.51.100.1", ttl: ttl));

    [Fact]
    public void FirstMatchingRuleDecidesAndThePolicyCatchesTheRest()
    {
        var state = Load(":FORWARD DROP [0:0]\n-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT\n-A FORWARD -p tcp -j DROP");
        Assert.Equal((RuleVerdict.Accept, "filter:FORWARD:1"), Run(state, Syn("192.0.2.1", 80)));
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:2"), Run(state, Syn("192.0.2.1", 81)));
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:policy"), Run(state, Ipv4UdpFrame()));
        Assert.Equal([1L, 1L], state.RulePackets);
        Assert.Equal(40, state.RuleBytes[0]);
    }

    [Fact]
    public void JumpReturnAndGotoFollowXtables()
    {
        var state = Load("""
            :FORWARD ACCEPT [0:0]
            :CHECK - [0:0]
            :DEEP - [0:0]
            -A FORWARD -p tcp -j CHECK
            -A FORWARD -p tcp -m tcp --dport 23 -j DROP
            -A CHECK -p tcp -m tcp --dport 22 -g DEEP
            -A CHECK -p tcp -m tcp --dport 25 -j RETURN
            -A CHECK -p tcp -m tcp --dport 26 -j ACCEPT
            -A DEEP -s 192.0.2.66 -j DROP
            """);
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:2"), Run(state, Syn("192.0.2.1", 23)));     // CHECK falls through, back to FORWARD
        Assert.Equal((RuleVerdict.Accept, "filter:CHECK:3"), Run(state, Syn("192.0.2.1", 26)));
        Assert.Equal((RuleVerdict.Accept, "filter:FORWARD:policy"), Run(state, Syn("192.0.2.1", 25)));
        Assert.Equal((RuleVerdict.Drop, "filter:DEEP:1"), Run(state, Syn("192.0.2.66", 22)));
        // The end of a chain reached by -g returns to the chain that jumped to the goto's chain: FORWARD rule 2.
        Assert.Equal((RuleVerdict.Accept, "filter:FORWARD:policy"), Run(state, Syn("192.0.2.1", 22)));
    }

    [Fact]
    public void RawDropWinsAndRawAcceptStillGoesThroughFilter()
    {
        var state = Load(":FORWARD ACCEPT [0:0]\n-A FORWARD -s 192.0.2.2 -j DROP", raw: "-A PREROUTING -s 192.0.2.1 -j DROP\n-A PREROUTING -j ACCEPT");
        Assert.Equal((RuleVerdict.Drop, "raw:PREROUTING:1"), Run(state, Syn("192.0.2.1")));
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:1"), Run(state, Syn("192.0.2.2")));
        Assert.Equal((RuleVerdict.Accept, "filter:FORWARD:policy"), Run(state, Syn("192.0.2.3")));
    }

    [Fact]
    public void SshBruteForceLimiter()
    {
        var state = Load("""
            :FORWARD ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 3 --name SSH --rsource -j DROP
            -A FORWARD -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource -j ACCEPT
            """);
        ulong now = 1_000_000;
        for (int i = 0; i < 3; i++)
            Assert.Equal(RuleVerdict.Accept, Run(state, Syn("192.0.2.9"), now++).Verdict);
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:1"), Run(state, Syn("192.0.2.9"), now++));
        Assert.Equal(RuleVerdict.Accept, Run(state, Syn("192.0.2.10"), now++).Verdict);
        // A minute of silence: the updates kept the window sliding, so wait it out from the last one.
        Assert.Equal(RuleVerdict.Accept, Run(state, Syn("192.0.2.9"), now + 61 * Jiffies.Hz).Verdict);
    }

    [Fact]
    public void MatchesRunInTheRulesOrderSoRecentSideEffectsDependOnIt()
    {
        var setFirst = Load(":FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m recent --set --name T -m tcp --dport 22 -j ACCEPT");
        var portFirst = Load(":FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m tcp --dport 22 -m recent --set --name T -j ACCEPT");
        Run(setFirst, Syn("192.0.2.1", 80));
        Run(portFirst, Syn("192.0.2.1", 80));
        Assert.Equal(1, setFirst.RecentTables[0].Count);
        Assert.Equal(0, portFirst.RecentTables[0].Count);
    }

    [Fact]
    public void PortMatchesNeverMatchANonFirstFragmentEvenInverted()
    {
        var state = Load(":FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m tcp ! --dport 22 -j DROP\n-A FORWARD -p tcp -j DROP");
        byte[] tail = Ethernet(EtherTypeIPv4, Ipv4(6, new byte[24], "192.0.2.1", "198.51.100.1", fragmentOffset: 1480));
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:2"), Run(state, tail));
    }

    [Fact]
    public void InterfacesMatchByPortNameWithPlusAsAPrefix()
    {
        var state = Load(":FORWARD ACCEPT [0:0]\n-A FORWARD -i wan+ -j DROP\n-A FORWARD ! -i lan0 -j DROP");
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:1"), Run(state, Syn("192.0.2.1"), inPort: 0));
        Assert.Equal((RuleVerdict.Accept, "filter:FORWARD:policy"), Run(state, Syn("192.0.2.1"), inPort: 1));
    }

    [Fact]
    public void IPv6UsesTheIp6tablesRulesAndNonIPIsNotFilteredAtAll()
    {
        var state = Load(":FORWARD DROP [0:0]", ipv6: ":FORWARD ACCEPT [0:0]\n-A FORWARD -p udp -m udp --dport 53 -j DROP");
        Assert.Equal((RuleVerdict.Drop, "ip6:filter:FORWARD:1"), Run(state, Ipv6UdpFrame(destinationPort: 53)));
        Assert.Equal((RuleVerdict.Accept, "ip6:filter:FORWARD:policy"), Run(state, Ipv6UdpFrame(destinationPort: 54)));
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:policy"), Run(state, Ipv4UdpFrame()));
        byte[] arp = Ethernet(EtherTypeArp, new byte[28]);
        Assert.Equal((RuleVerdict.Accept, "-"), Run(state, arp));
    }

    [Fact]
    public void TheFirstRuleToNameATableFixesItsMaskAndTheLargestHitCountSizesIt()
    {
        var state = Load("""
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m recent --set --name NET --mask 255.255.255.0 --rsource
            -A FORWARD -m recent --rcheck --hitcount 40 --name NET --mask 255.255.0.0 --rsource
            """);
        var table = Assert.Single(state.RecentTables);
        Assert.Equal(64, table.StampSlots);
        Run(state, Syn("192.0.2.77"));
        Assert.Equal("192.0.2.0", table.Entries().Single().Address.Format(L3Kind.IPv4));
    }

    [Fact]
    public void TablesAreCreatedInTheKernelsChainOrderNotTheFilesOrder()
    {
        // libiptc puts user chains after the built-in ones, sorted by name: ALPHA's rule is checked first and
        // creates NET with its /32, although ZED is declared and filled first.
        var state = Load("""
            :ZED - [0:0]
            :ALPHA - [0:0]
            :FORWARD ACCEPT [0:0]
            -A ZED -m recent --set --name NET --mask 255.255.255.0 --rsource
            -A ALPHA -m recent --rcheck --name NET --mask 255.255.255.255 --rsource
            -A FORWARD -j ZED
            """);
        var table = Assert.Single(state.RecentTables);
        Run(state, Syn("192.0.2.77"));
        Assert.Equal("192.0.2.77", table.Entries().Single().Address.Format(L3Kind.IPv4));
    }

    private const string RawSets = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m recent --set --name MOVE --mask 255.255.255.0 --rsource
        COMMIT
        *filter
        :FORWARD ACCEPT [0:0]
        COMMIT
        """;

    private const string FilterChecks = """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -p tcp -m recent --rcheck --name MOVE --mask 255.255.255.255 --rsource -j DROP
        COMMIT
        """;

    private static CompiledRuleset Compile(string v4) =>
        new(RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports);

    /// <summary>
    /// iptables-restore replaces *raw, then *filter: when the table's only old rule is in raw and its new one in filter,
    /// raw's commit destroys it and filter's creates it empty, with the new rule's mask (seen live, Linux 6.18). Filter
    /// committed first keeps it: the old raw rule still holds it when the new filter rule is checked.
    /// </summary>
    [Theory]
    [InlineData("*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", true)]
    [InlineData("", false)]
    public void ARestoreThatReleasesATablesLastRuleBeforeNamingItAgainEmptiesIt(string rawFirst, bool emptied)
    {
        var state = new RulesetState(Compile(RawSets));
        Run(state, Syn("192.0.2.1"));
        string restore = rawFirst + FilterChecks + (rawFirst.Length == 0 ? "\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n" : "");

        var next = state.Successor(Compile(restore));

        var table = next.RecentTables.Single();
        Assert.Equal(emptied ? 0 : 1, table.Count);
        Assert.Equal(emptied ? "filter:FORWARD:policy" : "filter:FORWARD:1", Run(next, Syn("192.0.2.99")).DecidedBy);
    }

    /// <summary>
    /// iptables-restore replaces only the tables its file has: restored with *filter alone, raw keeps its rules, their
    /// counters and the recent table they name (seen live, Linux 6.18), while filter's rules start at zero.
    /// </summary>
    [Fact]
    public void ARestoreWithoutATableKeepsThatTablesRulesAndCounters()
    {
        var old = Compile(RawSets.Replace("COMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n", "COMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp\n"));
        var state = new RulesetState(old);
        Run(state, Syn("192.0.2.1"));
        var v4 = RulesetParser.Parse(FilterChecks, "v4.rules", L3Kind.IPv4).Over(old.IPv4Rules);

        var next = state.Successor(new CompiledRuleset(v4, FamilyRuleset.Empty(L3Kind.IPv6).Over(old.IPv6Rules), Ports));

        Assert.Equal(1, next.RecentTables.Single().Count);
        Assert.Equal((RuleVerdict.Drop, "filter:FORWARD:1"), Run(next, Syn("192.0.2.0")));
        var raw = next.Ruleset.Chains.Single(c => c.QualifiedName == "raw:PREROUTING");
        Assert.Equal(2, next.RulePackets[raw.Rules.Single().Id]);
        Assert.Equal(2, next.PolicyPackets[raw.Id]);
        Assert.Equal(0, next.PolicyPackets[next.Ruleset.Chains.Single(c => c.QualifiedName == "filter:FORWARD").Id]);
    }

    /// <summary>
    /// -c PACKETS BYTES in a rule is an option of the rule: the kernel's rule starts with those counters whether or not
    /// iptables-restore runs with -c; [packets:bytes] before a rule counts only with iptables-restore -c, and plain
    /// iptables-restore starts the rule at zero (iptables-legacy v1.8.9, Linux 6.18, in a scratch namespace).
    /// </summary>
    [Fact]
    public void ARuleStartsWithTheCountersItsDashCGivesOnTheFirstShardOnly()
    {
        var ruleset = Compile("""
            *filter
            :FORWARD ACCEPT [7:100]
            [3:33] -A FORWARD -p udp
            -A FORWARD -c 5 300 -p tcp
            -A FORWARD -p icmp --set-counters 9 99
            COMMIT
            """);
        var state = new RulesetState(ruleset);
        Run(state, Syn("192.0.2.1"));
        Assert.Equal([0L, 6L, 9L], state.RulePackets);
        Assert.Equal([0L, 340L, 99L], state.RuleBytes);
        Assert.Equal(1, state.PolicyPackets.Sum());                   // the syn alone: not the [7:100] of the file
        Assert.Equal([0L, 5L, 9L], new RulesetState(ruleset, shards: new RecentShardMap(0, 2)).RulePackets);
        Assert.Equal([0L, 0L, 0L], new RulesetState(ruleset, shards: new RecentShardMap(1, 2)).RulePackets);
    }

    [Fact]
    public void EvaluatingAllocatesNothing()
    {
        var state = Load("""
            :FORWARD ACCEPT [0:0]
            :GUARD - [0:0]
            -A FORWARD -p tcp -m multiport --dports 22,80,443 -m comment --comment "web and ssh" -j GUARD
            -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
            -A GUARD -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH -j DROP
            -A GUARD -p tcp -m tcp --dport 22 -m recent --set --name SSH
            -A GUARD -m mac --mac-source 02:00:00:00:00:09 -j DROP
            -A GUARD -j RETURN
            """);
        var frames = Enumerable.Range(0, 256).Select(i => Syn($"10.0.{i / 100}.{i % 100 + 1}", (ushort)(i % 2 == 0 ? 22 : 80))).ToArray();
        var parsed = new ParsedPacket[frames.Length];
        for (int i = 0; i < frames.Length; i++)
            PacketParser.Parse(frames[i], ref parsed[i]);
        for (int i = 0; i < frames.Length; i++)
            state.Evaluate(ref parsed[i], frames[i], 0, 1, 1000, out _); // warm up: tables fill, code is jitted

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 20; round++)
        {
            for (int i = 0; i < frames.Length; i++)
                state.Evaluate(ref parsed[i], frames[i], 0, 1, 1000 + (ulong)round, out _);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
