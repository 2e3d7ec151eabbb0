// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;
using static FastPath.Testing.TestFrames;

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

    /// <summary>
    /// A reload reaches the workers one at a time. A packet suspended under the new ruleset by a worker that already
    /// has it may reach one that does not yet: that worker installs the new ruleset then and there, so the packet is
    /// decided under the ruleset it started under (not restarted under the old one, repeating its matches).
    /// </summary>
    [Fact]
    public void APacketSuspendedUnderANewerRulesetIsFinishedUnderItByAWorkerTheReloadHasNotReachedYet()
    {
        const string Both = "-A FORWARD -m recent --set --name S --rsource -m recent --set --name D --rdest";
        var old = new CompiledRuleset(Filter(Both, L3Kind.IPv4), Filter("", L3Kind.IPv6), ["a", "b"]);
        var next = new CompiledRuleset(Filter(Both + "\n-A FORWARD -j DROP", L3Kind.IPv4), Filter("", L3Kind.IPv6), ["a", "b"]);
        var reloads = new PendingRuleset();
        var verdicts = Enumerable.Range(0, 2).Select(w => new RulesetVerdict(new RulesetState(old, shards: new RecentShardMap(w, 2)), [1, 0], reloads: reloads)).ToArray();
        var (source, destination) = OwnedBy(verdicts[0].State.Shards, 0, 1);
        reloads.Publish(verdicts[0].State.Generation + 1, next);
        verdicts[0].InstallPending(); // worker 1 has not run the reload yet

        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22), source, destination));
        var parsed = new ParsedPacket[1];
        PacketParser.Parse(frame, ref parsed[0]);
        EvaluationCursor.Start(out var cursor);
        int worker = 0;
        Verdict verdict;
        int steps = 0;
        while ((verdict = verdicts[worker].Decide(ref parsed[0], frame, 0, 1_000_000_000, ref cursor)) == Verdict.Continue && steps++ < 8)
            worker = cursor.Owner;

        Assert.Equal(Verdict.Drop, verdict);
        Assert.Equal(1, steps); // one move: to the owner of the destination, never back
        Assert.Equal(verdicts[0].State.Generation, verdicts[1].State.Generation);
        Assert.Single(verdicts[0].State.RecentTables[0].Entries().Single().Stamps); // S was set once, not again on a restart
        verdicts[1].InstallPending(); // the mailbox's turn comes: nothing more to do
        Assert.Equal(1, verdicts[1].State.Generation);
    }

    private static (string Source, string Destination) OwnedBy(RecentShardMap map, int sourceShard, int destinationShard)
    {
        var candidates = Enumerable.Range(1, 254).Select(i => $"10.0.0.{i}").ToList();
        return (candidates.First(a => map.OwnerOf(Address(a)) == sourceShard), candidates.First(a => map.OwnerOf(Address(a)) == destinationShard));
    }

    private static FamilyRuleset Filter(string rules, L3Kind family)
        => RulesetParser.Parse($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n", "test.rules", family);
}
