// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// tcp_mt's "evil TCP offset=1 frag": an IPv4 fragment starting 8 bytes in would let its sender rewrite the TCP flags
/// of a first fragment already let through, so a tcp match that gets to look at one drops the packet on the spot
/// (hotdrop): no rule or policy counts it, and the rules after it never see it. Other non-first fragments, UDP ones,
/// IPv6 ones and rules whose earlier matches refuse the packet only fail to match. Seen in a namespace: iptables-legacy
/// FORWARD, policy ACCEPT, `-p tcp -m tcp --dport 22 -j ACCEPT`; a TCP fragment at offset 8 did not come out, one at
/// 16 and a UDP one at 8 did, and no counter moved for the first.
/// </summary>
public class FragmentHotdropTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];

    private const string Rules = """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -s 10.0.0.40/32 -p tcp -m tcp --dport 22 -j ACCEPT
        -A FORWARD -s 10.0.0.41/32 -p tcp -m recent --set --name FRAG --rsource -m tcp --dport 22 -j ACCEPT
        -A FORWARD -s 10.0.0.42/32 -p tcp -m multiport --dports 22 -m tcp --dport 22 -j ACCEPT
        -A FORWARD -s 10.0.0.43/32 -p tcp -m conntrack --ctstate NEW -m tcp --dport 22 -j ACCEPT
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
        COMMIT
        """;

    private static byte[] Ipv4Fragment(string source, byte protocol, int offset) =>
        Ethernet(EtherTypeIPv4, Ipv4(protocol, new byte[16], source: source, fragmentOffset: offset));

    private static (RuleVerdict Verdict, Decision Decision, RulesetState State, CompiledRuleset Ruleset) Decide(byte[] frame)
    {
        var compiled = new CompiledRuleset(RulesetParser.Parse(Rules, "t.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports);
        var state = new RulesetState(compiled, RecentTableSizing.WithCapacity(16));
        var packet = Parse(frame);
        var verdict = state.Evaluate(ref packet, frame, 0, 1, 1000, out var decision);
        return (verdict, decision, state, compiled);
    }

    [Fact]
    public void TheFirstTcpMatchReachedDropsAFragmentEightBytesInAndNothingCountsIt()
    {
        var (verdict, decision, state, ruleset) = Decide(Ipv4Fragment("10.0.0.40", 6, 8));

        Assert.Equal(RuleVerdict.Drop, verdict);
        Assert.True(decision.IsHotdrop);
        Assert.Equal("filter:FORWARD:hotdrop", decision.Describe(ruleset));
        Assert.All(state.RulePackets, n => Assert.Equal(0, n));
        Assert.All(state.PolicyPackets, n => Assert.Equal(0, n));
    }

    [Fact]
    public void ARecentMatchBeforeTheTcpMatchHasItsSideEffectFirst()
    {
        var (verdict, decision, state, _) = Decide(Ipv4Fragment("10.0.0.41", 6, 8));

        Assert.Equal(RuleVerdict.Drop, verdict);
        Assert.True(decision.IsHotdrop);
        Assert.Equal(1, state.RecentTables[0].Count);
    }

    [Theory]
    [InlineData("10.0.0.42", 6, 8)]   // multiport refuses every non-first fragment before the tcp match looks
    [InlineData("10.0.0.43", 6, 8)]   // the conntrack match before it fails (no tracking: INVALID)
    [InlineData("10.0.0.40", 6, 16)]  // only the fragment at 8 bytes is dropped
    [InlineData("10.0.0.40", 17, 8)]  // udp_mt has no such drop
    [InlineData("10.0.0.50", 6, 8)]   // no rule's earlier checks let it reach a tcp match
    public void OtherFragmentsOnlyFailToMatch(string source, byte protocol, int offset)
    {
        var (verdict, decision, state, _) = Decide(Ipv4Fragment(source, protocol, offset));

        Assert.Equal(RuleVerdict.Accept, verdict);
        Assert.False(decision.IsHotdrop);
        Assert.Equal(1, state.PolicyPackets.Sum());
        Assert.Equal(0, state.RecentTables[0].Count);
    }

    [Fact]
    public void Ip6tablesTcpMatchesOnlyFailOnFragments()
    {
        const string rules6 = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n";
        var compiled = new CompiledRuleset(FamilyRuleset.Empty(L3Kind.IPv4), RulesetParser.Parse(rules6, "t6.rules", L3Kind.IPv6), Ports);
        // ip6_packet_match hands tcp_mt the fragment offset in bytes, never 1: the drop cannot happen.
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(6, 8, more: true), new byte[16])));
        var packet = Parse(frame);

        Assert.Equal(RuleVerdict.Accept, new RulesetState(compiled).Evaluate(ref packet, frame, 0, 1, 0, out var decision));
        Assert.False(decision.IsHotdrop);
    }

    /// <summary>
    /// ip6_packet_match looks for the upper-layer protocol whenever -p is given ("all" too), after the addresses and
    /// interfaces; a non-first fragment whose fragment header names another extension header has none to find
    /// (ipv6_find_hdr: -ENOENT, offset 0), so the first such rule drops it unread. Rules before it still count and set;
    /// a fragment naming an upper-layer protocol or "no next header" is matched as usual. Seen on Linux 6.18 with
    /// `! -p tcp -j ACCEPT` in FORWARD: a fragment at offset 16 naming 60 did not come out and no counter moved.
    /// </summary>
    [Theory]
    [InlineData(60, true)]
    [InlineData(0, true)]
    [InlineData(43, true)]
    [InlineData(44, true)]
    [InlineData(51, true)]
    [InlineData(59, false)]
    [InlineData(50, false)]
    [InlineData(17, false)]
    public void Ip6tablesDropsAFragmentWithoutAnUpperLayerAtTheFirstRuleWithAProtocol(byte next, bool hotdropped)
    {
        const string rules6 = """
            *filter
            :FORWARD DROP [0:0]
            -A FORWARD -m recent --set --name SEEN
            -A FORWARD -s 2001:db8::99/128 -p all -j DROP
            -A FORWARD ! -p tcp -j ACCEPT
            COMMIT
            """;
        var compiled = new CompiledRuleset(FamilyRuleset.Empty(L3Kind.IPv4), RulesetParser.Parse(rules6, "t6.rules", L3Kind.IPv6), Ports);
        var state = new RulesetState(compiled, RecentTableSizing.WithCapacity(16));
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(next, 16, more: true), new byte[16])));
        var packet = Parse(frame);

        var verdict = state.Evaluate(ref packet, frame, 0, 1, 0, out var decision);

        Assert.Equal((hotdropped ? RuleVerdict.Drop : RuleVerdict.Accept, hotdropped), (verdict, decision.IsHotdrop));
        Assert.Equal([1, 0, hotdropped ? 0 : 1], state.RulePackets);
        Assert.Equal(0, state.PolicyPackets.Sum());
        Assert.Equal(1, state.RecentTables[0].Count);
    }

    /// <summary>
    /// multiport_mt drops a packet too short to hold 4 bytes of ports ("evil offset=0 tinygram") once the matches before
    /// it pass, inverted or not, whatever comes after it: seen on Linux 6.18 with SCTP, DCCP and UDP-Lite carrying 3
    /// bytes (no counter moved). A match before it that fails leaves the packet to the next rules.
    /// </summary>
    [Theory]
    [InlineData(132, 3, "10.0.0.1", true)]
    [InlineData(33, 3, "10.0.0.1", true)]
    [InlineData(136, 2, "10.0.0.1", true)]
    [InlineData(132, 3, "10.0.0.2", false)]  // -s 10.0.0.1 in the rules refuses it before multiport looks
    [InlineData(132, 8, "10.0.0.1", false)]  // ports there: no match (not 80), the policy takes it
    public void MultiportDropsAPacketWithoutItsPortsOnTheSpot(byte protocol, int length, string source, bool hotdropped)
    {
        string name = protocol switch { 132 => "sctp", 33 => "dccp", _ => "udplite" };
        string rules = $"""
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -s 10.0.0.1/32 -p {name} -m multiport ! --dports 80 -m length --length 9999 -j DROP
            COMMIT
            """;
        var compiled = new CompiledRuleset(RulesetParser.Parse(rules, "t.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports);
        var state = new RulesetState(compiled);
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(protocol, new byte[length], source: source));
        var packet = Parse(frame);

        var verdict = state.Evaluate(ref packet, frame, 0, 1, 0, out var decision);

        Assert.Equal((hotdropped ? RuleVerdict.Drop : RuleVerdict.Accept, hotdropped), (verdict, decision.IsHotdrop));
        Assert.Equal(0, state.RulePackets[0]);
        Assert.Equal(hotdropped ? 0 : 1, state.PolicyPackets.Sum());
    }
}
