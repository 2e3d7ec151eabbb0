// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>-m limit's token bucket in xt_limit's units (HZ 250: 128 credits a jiffy), and the match in a rule.</summary>
public class RateLimitTests
{
    private const ulong Second = Jiffies.Hz;

    private static (uint Cost, uint Cap) Bucket(uint average, uint burst) => (RateLimit.ToCredits(average), RateLimit.ToCredits(average * burst));

    [Fact]
    public void CreditsAreTheKernelsAtHz250()
    {
        Assert.Equal(128u, RateLimit.CreditsPerJiffy);
        Assert.Equal(32_000u, RateLimit.ToCredits(LimitMatch.Scale));            // one second
        Assert.Equal(38_400_000u, RateLimit.ToCredits(LimitMatch.DefaultAverage)); // 3/hour: past 134217, user2credits divides first
    }

    [Fact]
    public void ABurstPassesThenOnePacketPerPeriod()
    {
        var (cost, cap) = Bucket(LimitMatch.Scale, 3); // 1/sec, burst 3
        var limit = new RateLimit();
        ulong t = 1_000_000;
        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => limit.Take(cost, cap, t)));
        Assert.False(limit.Take(cost, cap, t + Second - 1));
        Assert.True(limit.Take(cost, cap, t + Second));
        Assert.False(limit.Take(cost, cap, t + Second));
        // A long silence refills the bucket to the burst, no further.
        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => limit.Take(cost, cap, t + 100 * Second)));
    }

    [Fact]
    public void TheRefillWrapsIn32BitsAsInTheKernel()
    {
        var (cost, cap) = Bucket(LimitMatch.Scale, 1);
        var limit = new RateLimit();
        Assert.True(limit.Take(cost, cap, 0));
        // 2^25 jiffies of silence are 2^32 credits: the kernel's u32 sum wraps to nothing gained.
        Assert.False(limit.Take(cost, cap, 1UL << 25));
        Assert.True(limit.Take(cost, cap, (1UL << 25) + Second));
    }

    [Fact]
    public void AClockThatGoesBackGainsNothingAndLosesNothing()
    {
        var (cost, cap) = Bucket(LimitMatch.Scale, 1);
        var limit = new RateLimit();
        Assert.True(limit.Take(cost, cap, 10 * Second));
        Assert.False(limit.Take(cost, cap, 5 * Second));
        Assert.True(limit.Take(cost, cap, 11 * Second));
    }

    [Fact]
    public void TheLimitIsTheRulesLastTestAndTakesCreditOnlyFromPacketsTheOthersLetThrough()
    {
        const string rules = """
            *filter
            :FORWARD DROP [0:0]
            -A FORWARD -p tcp -m tcp --dport 22 -m limit --limit 1/min --limit-burst 2 -j ACCEPT
            COMMIT
            """;
        string[] ports = ["wan0", "lan0"];
        var compiled = new CompiledRuleset(RulesetParser.Parse(rules, "limit.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), ports);
        var state = new RulesetState(compiled);
        RuleVerdict Send(ushort port, ulong now)
        {
            var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, port)));
            var packet = Parse(frame);
            return state.Evaluate(ref packet, frame, 0, 1, now, out _);
        }
        Assert.Equal(RuleVerdict.Drop, Send(80, 0));
        Assert.Equal(RuleVerdict.Accept, Send(22, 0));
        Assert.Equal(RuleVerdict.Drop, Send(80, 0));
        Assert.Equal(RuleVerdict.Accept, Send(22, 0));
        Assert.Equal(RuleVerdict.Drop, Send(22, 0));
        Assert.Equal(RuleVerdict.Accept, Send(22, 60 * Second));
        // A replacement ruleset starts with full buckets, as iptables-restore's new rules do.
        state = state.Successor(compiled);
        Assert.Equal(RuleVerdict.Accept, Send(22, 60 * Second));
    }
}
