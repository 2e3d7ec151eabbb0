// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Rules;

namespace FastPath.Daemon;

/// <summary>Loads --rules / --rules6 (and checks them for `fastpath check`), and prints rule counters.</summary>
internal static class RulesFiles
{
    /// <summary>Both families' rulesets, or null when neither file was given. Throws <see cref="RulesetException"/> with file:line.</summary>
    public static (FamilyRuleset V4, FamilyRuleset V6)? Load(RunOptions options)
    {
        if (!options.HasRules)
            return null;
        var v4 = options.Rules is { } p4 ? RulesetParser.ParseFile(p4, L3Kind.IPv4) : FamilyRuleset.Empty(L3Kind.IPv4);
        var v6 = options.Rules6 is { } p6 ? RulesetParser.ParseFile(p6, L3Kind.IPv6) : FamilyRuleset.Empty(L3Kind.IPv6);
        return (v4, v6);
    }
}

/// <summary>The rule and policy counters at the end of a run, summed over the workers.</summary>
internal static class RuleCounterReport
{
    public static void Print(TextWriter output, CompiledRuleset ruleset, IReadOnlyList<RulesetState> states)
    {
        output.WriteLine("  rule counters (packets bytes, like iptables -L -v -x):");
        foreach (var chain in ruleset.Chains)
        {
            if (chain.Policy is { } policy)
                output.WriteLine($"    {chain.QualifiedName,-32} policy {policy.ToString().ToUpperInvariant(),-6} {Total(states, s => s.PolicyPackets[chain.Id]),10} {Total(states, s => s.PolicyBytes[chain.Id]),12}");
            foreach (var rule in chain.Rules)
                output.WriteLine($"    {rule.QualifiedName,-32} {"",13} {Total(states, s => s.RulePackets[rule.Id]),10} {Total(states, s => s.RuleBytes[rule.Id]),12}  (line {rule.Rule.Line})");
        }
        output.Flush();
    }

    // The kernel's counters are u64: summed and shown unsigned, they go on past 2^63 - 1 where a long turns negative.
    private static ulong Total(IReadOnlyList<RulesetState> states, Func<RulesetState, long> counter)
    {
        ulong total = 0;
        foreach (var state in states)
            total = unchecked(total + (ulong)counter(state));
        return total;
    }
}

/// <summary>The connection tables at the end of a run, summed over the workers.</summary>
internal static class ConntrackReport
{
    public static void Print(TextWriter output, IReadOnlyList<ConnectionTracker> trackers)
    {
        output.WriteLine($"  conntrack: {trackers.Sum(t => t.Table.Count)} connection(s) held, limit {trackers.Sum(t => t.Table.Limit)}; "
            + $"early drops {trackers.Sum(t => t.Table.EarlyDrops)}, table full {trackers.Sum(t => t.Table.TableFullDrops)}, clashes {trackers.Sum(t => t.Table.ClashDrops)}");
        output.Flush();
    }
}
