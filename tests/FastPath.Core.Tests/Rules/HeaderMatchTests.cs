// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// The matches on a packet's headers: -m iprange (iprange_mt4, iprange_mt6: the addresses in numeric order), -m length
/// (xt_length: the IP packet's length, IPv6's header included), -m ttl and -m hl (xt_ttl, xt_hl: in FORWARD the TTL
/// ip_forward has already decremented), -m pkttype (the destination MAC's kind).
/// </summary>
public class HeaderMatchTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];

    private static RuleVerdict Verdict(string match, byte[] frame, L3Kind family = L3Kind.IPv4, string table = "filter")
    {
        string chain = table == "raw" ? "PREROUTING" : "FORWARD";
        string rules = $"*{table}\n:{chain} ACCEPT [0:0]\n-A {chain} {match} -j DROP\nCOMMIT\n";
        var ruleset = RulesetParser.Parse(rules, "t.rules", family);
        var compiled = family == L3Kind.IPv4
            ? new CompiledRuleset(ruleset, FamilyRuleset.Empty(L3Kind.IPv6), Ports)
            : new CompiledRuleset(FamilyRuleset.Empty(L3Kind.IPv4), ruleset, Ports);
        var packet = Parse(frame);
        return new RulesetState(compiled).Evaluate(ref packet, frame, 0, 1, 0, out _);
    }

    private static byte[] From4(string source) => Ethernet(EtherTypeIPv4, Ipv4(17, Udp(1, 2), source: source));

    [Theory]
    [InlineData("-m iprange --src-range 10.0.0.1-10.0.0.9", "10.0.0.1", RuleVerdict.Drop)]
    [InlineData("-m iprange --src-range 10.0.0.1-10.0.0.9", "10.0.0.9", RuleVerdict.Drop)]
    [InlineData("-m iprange --src-range 10.0.0.1-10.0.0.9", "10.0.0.10", RuleVerdict.Accept)]
    [InlineData("-m iprange --src-range 9.255.255.255-10.0.0.0", "10.0.0.0", RuleVerdict.Drop)]
    [InlineData("-m iprange ! --src-range 10.0.0.1-10.0.0.9", "10.0.0.10", RuleVerdict.Drop)]
    [InlineData("-m iprange --src-range 10.0.0.9-10.0.0.1", "10.0.0.5", RuleVerdict.Accept)]     // reversed: never
    [InlineData("-m iprange ! --src-range 10.0.0.9-10.0.0.1", "10.0.0.5", RuleVerdict.Drop)]
    [InlineData("-m iprange --dst-range 192.168.1.0-192.168.1.255", "10.0.0.1", RuleVerdict.Drop)]
    [InlineData("-m iprange --src-range 10.0.0.1 --dst-range 192.168.2.0-192.168.2.9", "10.0.0.1", RuleVerdict.Accept)]
    public void AnIpv4RangeComparesAddressesAsNumbers(string match, string source, RuleVerdict verdict) =>
        Assert.Equal(verdict, Verdict(match, From4(source)));

    [Theory]
    [InlineData("2001:db8::1", RuleVerdict.Drop)]
    [InlineData("2001:db8::ff", RuleVerdict.Drop)]
    [InlineData("2001:db8::100", RuleVerdict.Accept)]
    [InlineData("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", RuleVerdict.Accept)]
    public void AnIpv6RangeComparesAll128Bits(string source, RuleVerdict verdict) =>
        Assert.Equal(verdict, Verdict("-m iprange --src-range 2001:db8::1-2001:db8::ff", Ethernet(EtherTypeIPv6, Ipv6(17, Udp(1, 2), source: source)), L3Kind.IPv6));

    [Theory]
    [InlineData("-m length --length 36", 8, RuleVerdict.Drop)]          // 20 + 8 + 8
    [InlineData("-m length --length 37:", 8, RuleVerdict.Accept)]
    [InlineData("-m length --length :36", 8, RuleVerdict.Drop)]
    [InlineData("-m length ! --length 0:36", 8, RuleVerdict.Accept)]
    [InlineData("-m length ! --length 0:36", 9, RuleVerdict.Drop)]
    [InlineData("-m length --length 50:40", 0, RuleVerdict.Accept)]     // reversed: never
    public void TheLengthIsTheIpv4TotalLength(string match, int data, RuleVerdict verdict) =>
        Assert.Equal(verdict, Verdict(match, PadToMinimum(Ethernet(EtherTypeIPv4, Ipv4(17, Udp(1, 2, new byte[data]))))));

    [Fact]
    public void AnIpv6LengthCountsTheFixedHeader() =>
        Assert.Equal(RuleVerdict.Drop, Verdict("-m length --length 56", Ethernet(EtherTypeIPv6, Ipv6(17, Udp(1, 2, new byte[8]))), L3Kind.IPv6));

    [Theory]
    [InlineData("-m ttl --ttl-eq 64", "raw", RuleVerdict.Drop)]
    [InlineData("-m ttl --ttl-eq 64", "filter", RuleVerdict.Accept)]     // FORWARD sees 63
    [InlineData("-m ttl --ttl-eq 63", "filter", RuleVerdict.Drop)]
    [InlineData("-m ttl ! --ttl-eq 63", "filter", RuleVerdict.Accept)]
    [InlineData("-m ttl --ttl-lt 64", "filter", RuleVerdict.Drop)]
    [InlineData("-m ttl --ttl-gt 63", "raw", RuleVerdict.Drop)]
    [InlineData("-m ttl --ttl-gt 63", "filter", RuleVerdict.Accept)]
    public void TheTtlMatchSeesForwardingsDecrement(string match, string table, RuleVerdict verdict) =>
        Assert.Equal(verdict, Verdict(match, From4(Client4), table: table));

    [Fact]
    public void TheHopLimitMatchToo()
    {
        var frame = Ethernet(EtherTypeIPv6, Ipv6(17, Udp(1, 2), hopLimit: 10));
        Assert.Equal(RuleVerdict.Drop, Verdict("-m hl --hl-eq 9", frame, L3Kind.IPv6));
        Assert.Equal(RuleVerdict.Drop, Verdict("-m hl --hl-eq 10", frame, L3Kind.IPv6, "raw"));
        Assert.Equal(RuleVerdict.Accept, Verdict("-m hl --hl-lt 9", frame, L3Kind.IPv6));
    }

    [Theory]
    [InlineData("unicast", new byte[] { 0x02, 0, 0, 0, 0, 0x02 }, RuleVerdict.Drop)]
    [InlineData("broadcast", new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, RuleVerdict.Drop)]
    [InlineData("multicast", new byte[] { 0x01, 0x00, 0x5e, 0, 0, 1 }, RuleVerdict.Drop)]
    [InlineData("multicast", new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, RuleVerdict.Accept)]
    [InlineData("otherhost", new byte[] { 0x02, 0, 0, 0, 0, 0x02 }, RuleVerdict.Accept)]
    public void ThePacketTypeIsTheDestinationAddresssKind(string type, byte[] destination, RuleVerdict verdict)
    {
        var frame = From4(Client4);
        destination.CopyTo(frame, 0);
        Assert.Equal(verdict, Verdict($"-m pkttype --pkt-type {type}", frame));
    }
}
