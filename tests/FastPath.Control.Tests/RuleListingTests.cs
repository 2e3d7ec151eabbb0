// SPDX-License-Identifier: MIT
using FastPath.Control.Rules;
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// The counters listing against what the real `iptables-legacy -L -v -x -n` v1.8.9 printed for the same rules
/// (TestData: listing-v4.rules and listing-v6.rules, restored with -c in a scratch network namespace).
/// </summary>
public sealed class RuleListingTests
{
    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", name);

    private static SingleShardControl Backend() => new(TestData("listing-v4.rules"), TestData("listing-v6.rules"));

    [Theory]
    [InlineData(L3Kind.IPv4, TableKind.Raw, "listing-v4-raw.txt")]
    [InlineData(L3Kind.IPv4, TableKind.Filter, "listing-v4-filter.txt")]
    [InlineData(L3Kind.IPv6, TableKind.Raw, "listing-v6-raw.txt")]
    [InlineData(L3Kind.IPv6, TableKind.Filter, "listing-v6-filter.txt")]
    public void EachTableIsWhatIptablesPrints(L3Kind family, TableKind table, string captured)
    {
        var backend = Backend();
        string listing = RuleListing.FormatTable(backend.Ruleset, family, table, backend.ReadCounters());
        Assert.Equal(File.ReadAllText(TestData(captured)), listing);
    }

    /// <summary>Lines iptables-legacy v1.8.9 printed for these rules (-L -v -x -n, in a scratch namespace, nfct's policy "web" present).</summary>
    [Fact]
    public void ConntrackMatchesAndCtTargetsAreListedAsIptablesPrintsThem()
    {
        const string rules = """
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p tcp -m tcp --dport 80 -j CT --timeout web
            -A PREROUTING -p udp -j CT --notrack
            -A PREROUTING -p udp -j NOTRACK
            -A PREROUTING -p tcp -j CT
            -A PREROUTING -p udp -j CT --notrack --helper 0123456789abcdefgh --timeout web --zone-orig 6 --zone 5
            -A PREROUTING -p udp -j CT --ctevents secmark,new,destroy --expevents new --zone-reply mark --notrack
            -A PREROUTING -p udp -j CT --notrack --zone 0x0
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m state --state NEW,ESTABLISHED -j ACCEPT
            -A FORWARD -m state ! --state NEW -j ACCEPT
            -A FORWARD -m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT -j ACCEPT
            -A FORWARD -m conntrack ! --ctstate NEW --ctproto 17 ! --ctstatus ASSURED,CONFIRMED --ctexpire 10:20 --ctdir REPLY -j DROP
            COMMIT
            """;
        var registry = new FastPath.Core.Conntrack.Timeouts.TimeoutPolicyRegistry();
        registry.Create("web", 2, 6, new Dictionary<int, uint> { [3] = 100 });
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "ct.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), [], timeouts: registry);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        string raw = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Raw, counters);
        string filter = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters);
        string[] expectedRaw =
        [
            "       0        0 CT         6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80 CT timeout web",
            "       0        0 CT         17   --  *      *       0.0.0.0/0            0.0.0.0/0            CT notrack",
            "       0        0 CT         17   --  *      *       0.0.0.0/0            0.0.0.0/0            NOTRACK",
            "       0        0 CT         6    --  *      *       0.0.0.0/0            0.0.0.0/0            CT",
            "       0        0 CT         17   --  *      *       0.0.0.0/0            0.0.0.0/0            CT notrack helper 0123456789abcde timeout web zone-orig 5",
            "       0        0 CT         17   --  *      *       0.0.0.0/0            0.0.0.0/0            CT notrack ctevents new,destroy,secmark expevents new zone-reply mark",
            "       0        0 CT         17   --  *      *       0.0.0.0/0            0.0.0.0/0            CT notrack",
        ];
        string[] expectedFilter =
        [
            "       0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            state NEW,ESTABLISHED",
            "       0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            ! state NEW",
            "       0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT",
            "       0        0 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            ! ctstate NEW ctproto 17 ! ctstatus ASSURED,CONFIRMED ctexpire 10:20 ctdir REPLY",
        ];
        Assert.Equal(expectedRaw, raw.Split('\n').Where(l => l.Contains(" CT ", StringComparison.Ordinal)));
        Assert.Equal(expectedFilter, filter.Split('\n').Where(l => l.Contains("state", StringComparison.Ordinal)));
    }

    /// <summary>Lines iptables-legacy v1.8.9 printed for these rules (-L -n, in a scratch namespace).</summary>
    [Fact]
    public void LimitsAreListedAsIptablesPrintsThem()
    {
        const string rules = """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m limit --limit 5/min -j ACCEPT
            -A FORWARD -m limit --limit 3/hour --limit-burst 10 -j ACCEPT
            -A FORWARD -m limit --limit 7/sec -j ACCEPT
            -A FORWARD -m limit --limit 20000/day --limit-burst 10000 -j ACCEPT
            -A FORWARD -m limit --limit 3/Minu -j ACCEPT
            -A FORWARD -m limit --limit 7 -j ACCEPT
            -A FORWARD -m limit -j ACCEPT
            COMMIT
            """;
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "limit.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), []);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        string filter = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters);
        Assert.Equal(
            ["avg 5/min burst 5", "avg 3/hour burst 10", "avg 7/sec burst 5", "avg 20000/day burst 10000", "avg 3/min burst 5", "avg 7/sec burst 5", "avg 3/hour burst 5"],
            filter.Split('\n').Where(l => l.Contains(" limit: ", StringComparison.Ordinal)).Select(l => l[(l.IndexOf(" limit: ", StringComparison.Ordinal) + 8)..]));
    }

    /// <summary>The kernel's counters are u64: -c 2^63 - 1 and one more 40-byte packet list as 9223372036854775808 9223372036854775847.</summary>
    [Fact]
    public void CountersPast2To63ListUnsigned()
    {
        const string rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n";
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "big.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), []);
        var counters = new RuleCounters([unchecked(long.MaxValue + 1)], [unchecked(long.MaxValue + 40)], [unchecked(long.MaxValue + 1), 0, 0], [-1, 0, 0]);
        string filter = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters);
        Assert.Contains("9223372036854775808 9223372036854775847 ACCEPT", filter);
        Assert.Contains("(policy ACCEPT 9223372036854775808 packets, 18446744073709551615 bytes)", filter);
    }

    /// <summary>Lines iptables-legacy and ip6tables-legacy v1.8.9 printed for these rules (-L -n, in a scratch namespace).</summary>
    [Fact]
    public void AddressRangesAndLengthsAreListedAsIptablesPrintsThem()
    {
        const string v4 = """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m iprange --src-range 10.0.0.1-10.0.0.9 -j ACCEPT
            -A FORWARD -m iprange ! --dst-range 10.0.0.5-10.0.0.1 -j ACCEPT
            -A FORWARD -m iprange --src-range 10.0.0.1 -j ACCEPT
            -A FORWARD -m iprange --src-range 10.0.0.1-10.0.0.9 --dst-range 192.168.0.1-192.168.0.255 -j ACCEPT
            -A FORWARD -m iprange ! --src-range 10.0.0.1 ! --dst-range 10.0.0.2 -j ACCEPT
            -A FORWARD -m iprange --src-range 10.1-10.2 -j ACCEPT
            -A FORWARD -m length --length 100 -j ACCEPT
            -A FORWARD -m length ! --length 60:1500 -j ACCEPT
            -A FORWARD -m length --length :100 -j ACCEPT
            -A FORWARD -m length --length 100: -j ACCEPT
            -A FORWARD -m length --length 200:100 -j ACCEPT
            -A FORWARD -m length --length 0x10 -j ACCEPT
            COMMIT
            """;
        const string v6 = """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m iprange --src-range 2001:db8::1-2001:db8::ff -m length --length 100 -j ACCEPT
            COMMIT
            """;
        var ruleset = new CompiledRuleset(RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4), RulesetParser.Parse(v6, "v6.rules", L3Kind.IPv6), []);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        static IEnumerable<string> Matches(string table) => table.Split('\n').Where(l => l.StartsWith(' ') && l.Contains("ACCEPT", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf("/0 ", l.IndexOf("/0 ", StringComparison.Ordinal) + 3, StringComparison.Ordinal) + 3)..].Trim());
        Assert.Equal(
            [
                "source IP range 10.0.0.1-10.0.0.9", "destination IP range ! 10.0.0.5-10.0.0.1", "source IP range 10.0.0.1-10.0.0.1",
                "source IP range 10.0.0.1-10.0.0.9 destination IP range 192.168.0.1-192.168.0.255",
                "source IP range ! 10.0.0.1-10.0.0.1 destination IP range ! 10.0.0.2-10.0.0.2", "source IP range 10.1.0.0-10.2.0.0",
                "length 100", "length !60:1500", "length 0:100", "length 100:65535", "length 200:100", "length 16",
            ],
            Matches(RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters)));
        Assert.Equal(["source IP range 2001:db8::1-2001:db8::ff length 100"], Matches(RuleListing.FormatTable(ruleset, L3Kind.IPv6, TableKind.Filter, counters)));
    }

    /// <summary>Lines iptables-legacy v1.8.9 printed for these rules (-L -v -x -n, in a scratch namespace).</summary>
    [Fact]
    public void LogTargetsAreListedAsIptablesPrintsThem()
    {
        const string rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH --mask 255.255.255.255 --rsource -j LOG --log-prefix "SSH brute: " --log-level 6
            -A FORWARD -p tcp -m tcp --dport 22 -j LOG
            -A FORWARD -j LOG --log-prefix x --log-level 7 --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode
            -A FORWARD -j LOG --log-prefix "a\"b"
            COMMIT
            """;
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "log.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), []);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        string[] expected =
        [
            "       0        0 LOG        6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 recent: UPDATE seconds: 60 hit_count: 4 name: SSH side: source mask: 255.255.255.255 LOG flags 0 level 6 prefix \"SSH brute: \"",
            "       0        0 LOG        6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 LOG flags 0 level 4",
            "       0        0 LOG        0    --  *      *       0.0.0.0/0            0.0.0.0/0            LOG flags 47 level 7 prefix \"x\"",
            "       0        0 LOG        0    --  *      *       0.0.0.0/0            0.0.0.0/0            LOG flags 0 level 4 prefix \"a\"b\"",
        ];
        string filter = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters);
        Assert.Equal(expected, filter.Split('\n').Where(l => l.Contains(" LOG ", StringComparison.Ordinal)));
    }

    /// <summary>
    /// libxt_recent prints --seconds with "%d": from 2^31 on the listing shows it negative (iptables-legacy v1.8.9
    /// in a scratch namespace listed these rules so).
    /// </summary>
    [Fact]
    public void RecentSecondsFromTwoToTheThirtyFirstAreListedNegative()
    {
        const string rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m recent --rcheck --seconds 4294967295 --reap --name BIG --mask 255.255.255.255 --rsource
            -A FORWARD -m recent ! --update --seconds 2147483648 --hitcount 3 --rttl --name BIG --mask 255.0.255.0 --rdest
            -A FORWARD -m recent --update --seconds 2147483647 --name BIG --mask 255.0.255.0 --rdest
            COMMIT
            """;
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "big.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), []);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        Assert.Equal(
        [
            "recent: CHECK seconds: -1 reap name: BIG side: source mask: 255.255.255.255",
            "! recent: UPDATE seconds: -2147483648 hit_count: 3 TTL-Match name: BIG side: dest mask: 255.0.255.0",
            "recent: UPDATE seconds: 2147483647 name: BIG side: dest mask: 255.0.255.0",
        ], RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters).Split('\n')
            .Where(l => l.Contains("recent:", StringComparison.Ordinal))
            .Select(l => l[(l.LastIndexOf("0.0.0.0/0", StringComparison.Ordinal) + 9)..].Trim()));
    }

    [Fact]
    public void TheCountersFileListsEveryTableOfBothFamilies()
    {
        using var fixture = new ServerFixture(File.ReadAllText(TestData("listing-v4.rules")), File.ReadAllText(TestData("listing-v6.rules")));
        string expected = string.Join("\n",
            "# iptables -t raw -L -v -x -n\n" + File.ReadAllText(TestData("listing-v4-raw.txt")),
            "# iptables -t filter -L -v -x -n\n" + File.ReadAllText(TestData("listing-v4-filter.txt")),
            "# ip6tables -t raw -L -v -x -n\n" + File.ReadAllText(TestData("listing-v6-raw.txt")),
            "# ip6tables -t filter -L -v -x -n\n" + File.ReadAllText(TestData("listing-v6-filter.txt")));

        var read = fixture.Call(c => c.Read("/proc/fastpath/counters"));
        Assert.True(read.IsOk, read.Message);
        Assert.Equal(expected, read.Text);
        Assert.Equal(expected, fixture.Call(c => c.Show("/proc/fastpath/counters")).Text);
    }

    [Fact]
    public void TrafficMovesTheRuleAndPolicyCounters()
    {
        using var fixture = new ServerFixture();
        for (int i = 0; i < 3; i++)
            fixture.Backend.Evaluate(RecentProcTests.Syn("192.0.2.1"));
        fixture.Backend.Evaluate(Testing.TestFrames.Ethernet(Testing.TestFrames.EtherTypeIPv4,
            Testing.TestFrames.Ipv4(17, Testing.TestFrames.Udp(5353, 53), "192.0.2.2", "198.51.100.1")));
        string listing = fixture.Call(c => c.Read("/proc/fastpath/counters")).Text;
        Assert.Equal(
            """
            # iptables -t raw -L -v -x -n
            Chain PREROUTING (policy ACCEPT 4 packets, 148 bytes)
                pkts      bytes target     prot opt in     out     source               destination         
                   0        0 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 recent: UPDATE seconds: 60 hit_count: 4 TTL-Match name: SSH side: source mask: 255.255.255.255
                   3      120            6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 recent: SET name: SSH side: source mask: 255.255.255.255
                   0        0            17   --  *      *       0.0.0.0/0            0.0.0.0/0            recent: CHECK name: DNS side: source mask: 255.255.255.255

            Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
                pkts      bytes target     prot opt in     out     source               destination         

            """.ReplaceLineEndings("\n"),
            listing);
    }

    /// <summary>
    /// Lines iptables-legacy v1.8.9 printed for these rules (-L -v -x -n, in a scratch namespace): printf pads
    /// "%-6s" by bytes, so a two-byte letter gets one space less; a comment keeps its first 255 bytes.
    /// </summary>
    [Fact]
    public void InterfacesArePaddedByBytesAndLongCommentsAreCut()
    {
        string rules = $"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -i é\n-A FORWARD -m comment --comment {new string('x', 300)} -j ACCEPT\nCOMMIT\n";
        var ruleset = new CompiledRuleset(RulesetParser.Parse(rules, "pad.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), []);
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        string[] lines = RuleListing.FormatTable(ruleset, L3Kind.IPv4, TableKind.Filter, counters).Split('\n');
        int forward = Array.IndexOf(lines, "Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)");
        Assert.Equal("       0        0            0    --  é     *       0.0.0.0/0            0.0.0.0/0           ", lines[forward + 2]);
        Assert.Equal($"       0        0 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* {new string('x', 255)} */", lines[forward + 3]);
    }
}
