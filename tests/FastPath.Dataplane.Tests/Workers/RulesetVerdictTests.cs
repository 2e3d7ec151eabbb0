// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;

namespace FastPath.Dataplane.Tests.Workers;

public class RulesetVerdictTests
{
    /// <summary>RulesetVerdict.Decide turns the ruleset's verdict into the worker's with a cast: the two enums must agree value for value.</summary>
    [Fact]
    public void TheRulesetsVerdictsAndTheWorkersAreNumberedAlike()
    {
        Assert.Equal(Enum.GetNames<RuleVerdict>(), Enum.GetNames<Verdict>());
        foreach (var verdict in Enum.GetValues<RuleVerdict>())
            Assert.Equal(verdict.ToString(), ((Verdict)verdict).ToString());
    }

    [Theory]
    [InlineData("-A FORWARD -p tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH --rsource -j DROP\n-A FORWARD -p tcp --dport 22 -m recent --set --name SSH -j ACCEPT", "", RssFields.SourceAddress)]
    [InlineData("-A FORWARD -m recent --rcheck --rdest --name HOT -j DROP", "-A FORWARD -m recent --rcheck --rdest --name HOT -j DROP", RssFields.DestinationAddress)]
    [InlineData("-A FORWARD -m recent --set --name A --mask 255.255.255.255", "-A FORWARD -m recent --set --name A6 --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RssFields.SourceAddress)]
    [InlineData("-A FORWARD -m recent --set --name A --mask 255.255.255.0", "", RssFields.Flow)]
    [InlineData("-A FORWARD -m recent --set --name A --rsource\n-A FORWARD -m recent --rcheck --name B --rdest", "", RssFields.Flow)]
    [InlineData("-A FORWARD -m recent --set --name A --rsource", "-A FORWARD -m recent --set --name A --rdest", RssFields.Flow)]
    [InlineData("-A FORWARD -p tcp --dport 22 -j DROP", "", RssFields.Flow)]
    [InlineData("-A FORWARD -m conntrack --ctstate NEW -m recent --set --name A", "", RssFields.Flow)]
    public void TheDeviceHashesTheAddressEveryRecentMatchLooksUp(string v4Rules, string v6Rules, RssFields expected)
    {
        var compiled = new CompiledRuleset(Filter(v4Rules, L3Kind.IPv4), Filter(v6Rules, L3Kind.IPv6), ["a", "b"]);

        Assert.Equal(expected, RulesetVerdict.RssFieldsFor(compiled, trackAlways: false));
        Assert.Equal(RssFields.Flow, RulesetVerdict.RssFieldsFor(compiled, trackAlways: true));
    }

    private static FamilyRuleset Filter(string rules, L3Kind family)
        => RulesetParser.Parse($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n", "test.rules", family);
}
