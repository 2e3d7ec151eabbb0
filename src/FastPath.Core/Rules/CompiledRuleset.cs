// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>
/// The rulesets of both families resolved against the dataplane's port names: chains by index, interface
/// matches as a per-port table, recent matches by table number. Immutable and shared by every worker; the
/// per-worker mutable state (recent tables, counters) lives in <see cref="RulesetState"/>.
/// </summary>
public sealed class CompiledRuleset
{
    public CompiledRuleset(FamilyRuleset ipv4, FamilyRuleset ipv6, IReadOnlyList<string> portNames, bool filterInputChain = false)
    {
        PortNames = portNames;
        FilterChainName = filterInputChain ? "INPUT" : "FORWARD";
        var recentTables = new List<RecentTableSpec>();
        var rules = new List<CompiledRule>();
        var chains = new List<CompiledChain>();
        IPv4 = Compile(ipv4, recentTables, rules, chains);
        IPv6 = Compile(ipv6, recentTables, rules, chains);
        RecentTables = recentTables;
        Rules = rules;
        Chains = chains;
        var depths = new int?[chains.Count];
        MaxJumpDepth = chains.Count == 0 ? 0 : chains.Max(c => JumpDepth(c, depths));
        IPv4Steering = SteeringOf(L3Kind.IPv4);
        IPv6Steering = SteeringOf(L3Kind.IPv6);
    }

    /// <summary>
    /// The one recent key every recent match of a family's rules looks up, when there is one (all on the same
    /// side, all tables with the same mask): steering a packet to that key's owner on arrival decides it there
    /// without a handoff mid-evaluation. Null when the family has no recent match or several kinds of key.
    /// </summary>
    public RecentKey? IPv4Steering { get; }

    /// <inheritdoc cref="IPv4Steering"/>
    public RecentKey? IPv6Steering { get; }

    private RecentKey? SteeringOf(L3Kind family)
    {
        var keys = Rules.Where(r => r.Family == family)
            .SelectMany(r => r.Rule.Recent.Select((options, i) => new RecentKey(options.Side, RecentTables[r.RecentTables[i]].Mask)))
            .Distinct()
            .ToList();
        return keys.Count == 1 ? keys[0] : null;
    }

    /// <summary>The most user-chain jumps (-j) that can be pending at once, over every entry chain.</summary>
    public int MaxJumpDepth { get; }

    // Jumps push a return point and gotos do not; loops were refused when the ruleset was parsed.
    private static int JumpDepth(CompiledChain chain, int?[] depths)
    {
        if (depths[chain.Id] is int known)
            return known;
        int deepest = 0;
        foreach (var rule in chain.Rules)
        {
            if (rule.TargetChain is { } target)
                deepest = Math.Max(deepest, JumpDepth(target, depths) + (rule.Rule.Target == TargetKind.Jump ? 1 : 0));
        }
        depths[chain.Id] = deepest;
        return deepest;
    }

    public IReadOnlyList<string> PortNames { get; }

    /// <summary>FORWARD, or INPUT when the host's INPUT chain is applied to crossing traffic.</summary>
    public string FilterChainName { get; }

    internal CompiledFamily IPv4 { get; }
    internal CompiledFamily IPv6 { get; }

    /// <summary>Every rule by its id (the index into per-worker counters).</summary>
    public IReadOnlyList<CompiledRule> Rules { get; }

    /// <summary>Every chain by its id; built-in chains' policy counters are indexed by chain id.</summary>
    public IReadOnlyList<CompiledChain> Chains { get; }

    /// <summary>The recent tables the rules name, in the order the kernel would create them.</summary>
    public IReadOnlyList<RecentTableSpec> RecentTables { get; }

    private CompiledFamily Compile(FamilyRuleset ruleset, List<RecentTableSpec> recentTables, List<CompiledRule> allRules, List<CompiledChain> allChains)
    {
        CompiledChain? raw = null, filter = null;
        // In commit order, as iptables-restore loads them: the first rule naming a recent table creates it (and fixes its mask).
        foreach (var kind in ruleset.CommitOrder)
        {
            if (!ruleset.Tables.TryGetValue(kind, out var table))
                continue;
            var byName = new Dictionary<string, CompiledChain>();
            foreach (var chain in table.Chains.Values)
            {
                var compiled = new CompiledChain(allChains.Count, ruleset.Family, kind, chain.Name, chain.Policy);
                allChains.Add(compiled);
                byName[chain.Name] = compiled;
            }
            foreach (var chain in table.Chains.Values)
            {
                var compiledRules = new List<CompiledRule>();
                foreach (var rule in chain.Rules)
                {
                    var recentIds = rule.Recent.Select(r => RecentTableId(r, recentTables)).ToArray();
                    var compiled = new CompiledRule(allRules.Count, ruleset.Family, kind, rule, recentIds,
                        rule.TargetChain is { } t ? byName[t] : null,
                        Ports(rule.InInterface), Ports(rule.OutInterface));
                    allRules.Add(compiled);
                    compiledRules.Add(compiled);
                }
                byName[chain.Name].Rules = compiledRules.ToArray();
            }
            if (kind == TableKind.Raw)
                byName.TryGetValue("PREROUTING", out raw);
            else
                byName.TryGetValue(FilterChainName, out filter);
        }
        return new CompiledFamily(raw, filter);
    }

    /// <summary>Whether each port matches -i/-o (the '!' applied), or null when the rule has no such match.</summary>
    private bool[]? Ports(Inverted<InterfaceName>? match) =>
        match is { } m ? PortNames.Select(p => m.Value.Matches(p) != m.Invert).ToArray() : null;

    /// <summary>
    /// Tables are created by the first rule naming them, which also fixes the table's --mask; a later rule
    /// that needs more stamps grows them (the kernel flushes the table then; at load time it is empty).
    /// </summary>
    private static int RecentTableId(RecentOptions options, List<RecentTableSpec> tables)
    {
        int id = tables.FindIndex(t => t.Name == options.Name);
        if (id < 0)
        {
            tables.Add(new RecentTableSpec(options.Name, options.Mask, options.StampSlots, options.HitCount));
            return tables.Count - 1;
        }
        tables[id] = tables[id] with
        {
            StampSlots = Math.Max(tables[id].StampSlots, options.StampSlots),
            MaxHitCount = Math.Max(tables[id].MaxHitCount, options.HitCount),
        };
        return id;
    }
}

/// <summary>How a recent table is to be built: name, the creating rule's mask, timestamps per entry its rules need, their largest --hitcount.</summary>
public sealed record RecentTableSpec(string Name, InetAddress Mask, int StampSlots, uint MaxHitCount);

/// <summary>What a recent match looks up: the packet's source or destination, under its table's mask.</summary>
public readonly record struct RecentKey(RecentSide Side, InetAddress Mask);

/// <summary>The two entry chains of one family: raw PREROUTING and the filter chain (either may be absent).</summary>
internal sealed record CompiledFamily(CompiledChain? Raw, CompiledChain? Filter);

public sealed class CompiledChain(int id, L3Kind family, TableKind table, string name, TargetKind? policy)
{
    public int Id { get; } = id;
    public L3Kind Family { get; } = family;
    public TableKind Table { get; } = table;
    public string Name { get; } = name;
    public TargetKind? Policy { get; } = policy;
    public CompiledRule[] Rules { get; internal set; } = [];

    /// <summary>"filter:FORWARD", or "ip6:filter:FORWARD" for ip6tables — how traces and counters name the chain.</summary>
    public string QualifiedName => $"{(Family == L3Kind.IPv6 ? "ip6:" : "")}{(Table == TableKind.Raw ? "raw" : "filter")}:{Name}";
}

public sealed class CompiledRule(int id, L3Kind family, TableKind table, Rule rule, int[] recentTables, CompiledChain? target, bool[]? inPorts, bool[]? outPorts)
{
    public int Id { get; } = id;
    public L3Kind Family { get; } = family;
    public TableKind Table { get; } = table;
    public Rule Rule { get; } = rule;

    // The rule's matches flattened into plain fields, so the per-packet check reads only what the rule has
    // (no Nullable copies), and arrays instead of IReadOnlyLists, which would allocate an enumerator.
    internal readonly MatchModule[] Modules = rule.Modules.ToArray();
    internal readonly RecentOptions[] Recent = rule.Recent.ToArray();
    internal readonly byte Protocol = rule.Protocol?.Value ?? 0; // 0: no -p, or -p all (which checks nothing)
    internal readonly bool ProtocolInvert = rule.Protocol?.Invert ?? false;
    internal readonly bool HasSource = rule.Source is not null;
    internal readonly AddressPrefix Source = rule.Source?.Value ?? default;
    internal readonly bool SourceInvert = rule.Source?.Invert ?? false;
    internal readonly bool HasDestination = rule.Destination is not null;
    internal readonly AddressPrefix Destination = rule.Destination?.Value ?? default;
    internal readonly bool DestinationInvert = rule.Destination?.Invert ?? false;
    internal int[] RecentTables { get; } = recentTables;
    internal CompiledChain? TargetChain { get; } = target;
    internal bool[]? InPorts { get; } = inPorts;
    internal bool[]? OutPorts { get; } = outPorts;

    /// <summary>"filter:FORWARD:3" (IPv6: "ip6:filter:FORWARD:3") — table, chain and 1-based rule number, as traces print it.</summary>
    public string QualifiedName => $"{(Family == L3Kind.IPv6 ? "ip6:" : "")}{(Table == TableKind.Raw ? "raw" : "filter")}:{Rule.Chain}:{Rule.Number}";
}
