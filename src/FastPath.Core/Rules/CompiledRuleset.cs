// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
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
        ChainsById = chains.ToArray();
        Chains = ChainsById;
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
            .SelectMany(r => r.Recent.Select(step => new RecentKey(step.Side, RecentTables[step.Table].Mask)))
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

    /// <summary><see cref="Chains"/> as an array, for resuming an evaluation without interface calls.</summary>
    internal CompiledChain[] ChainsById { get; }

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
                        rule.TargetChain is { } t ? byName[t] : null, Ports(rule.InInterface), Ports(rule.OutInterface));
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

    /// <summary>A built-in chain (it has a policy); the end of a user chain returns instead.</summary>
    internal readonly bool IsBuiltin = policy is not null;

    /// <summary>What the policy of a built-in chain decides.</summary>
    internal readonly RuleVerdict PolicyVerdict = policy == TargetKind.Drop ? RuleVerdict.Drop : RuleVerdict.Accept;

    /// <summary>"filter:FORWARD", or "ip6:filter:FORWARD" for ip6tables — how traces and counters name the chain.</summary>
    public string QualifiedName => $"{(Family == L3Kind.IPv6 ? "ip6:" : "")}{(Table == TableKind.Raw ? "raw" : "filter")}:{Name}";
}

public sealed class CompiledRule
{
    public CompiledRule(int id, L3Kind family, TableKind table, Rule rule, int[] recentTables, CompiledChain? target, bool[]? inPorts, bool[]? outPorts)
    {
        Id = id;
        Family = family;
        Table = table;
        Rule = rule;
        Target = rule.Target;
        TargetChain = target;
        InPorts = inPorts ?? [];
        OutPorts = outPorts ?? [];

        // ip_packet_match; "-p all" (0) checks nothing, even inverted, as in the kernel.
        var checks = RuleChecks.None;
        if (rule.Protocol is { Value: not 0 } protocol)
            (checks, Protocol, ProtocolInvert) = (checks | RuleChecks.Protocol, protocol.Value, protocol.Invert);
        if (rule.Source is { } source)
            (checks, Source, SourceInvert) = (checks | RuleChecks.Source, source.Value, source.Invert);
        if (rule.Destination is { } destination)
            (checks, Destination, DestinationInvert) = (checks | RuleChecks.Destination, destination.Value, destination.Invert);
        if (inPorts is not null)
            checks |= RuleChecks.InInterface;
        if (outPorts is not null)
            checks |= RuleChecks.OutInterface;

        if (rule.SourcePort is { } sport)
            (SourcePortFirst, SourcePortSpan, SourcePortInvert) = (sport.Value.First, (uint)(sport.Value.Last - sport.Value.First), sport.Invert);
        if (rule.DestinationPort is { } dport)
            (DestinationPortFirst, DestinationPortSpan, DestinationPortInvert) = (dport.Value.First, (uint)(dport.Value.Last - dport.Value.First), dport.Invert);
        if (rule.TcpFlags is { } flags)
            (TcpFlagsMask, TcpFlagsCompare, TcpFlagsInvert) = (flags.Value.Mask, flags.Value.Compare, flags.Invert);
        if (rule.IcmpType is { } icmp)
            (IcmpType, IcmpCode, IcmpInvert) = (icmp.Value.Type, icmp.Value.Code, icmp.Invert);
        if (rule.Multiport is { } multiport)
        {
            MultiportDirection = multiport.Value.Direction;
            MultiportPorts = multiport.Value.Ports.ToArray();
            MultiportInvert = multiport.Invert;
        }
        if (rule.MacSource is { } mac)
        {
            MacSourceLow = BinaryPrimitives.ReadUInt32LittleEndian(mac.Value);
            MacSourceHigh = BinaryPrimitives.ReadUInt16LittleEndian(mac.Value.AsSpan(4));
            MacSourceInvert = mac.Invert;
        }

        // The -m matches in the rule's order: the pure ones before the first recent match join ip_packet_match,
        // those after a recent match run after it (its side effects happen whatever they say).
        var recent = new RecentStep[rule.Recent.Count];
        int r = -1;
        foreach (var module in rule.Modules)
        {
            var adds = module switch
            {
                MatchModule.Tcp or MatchModule.Udp => RuleChecks.FirstFragment
                    | (rule.SourcePort is null ? 0 : RuleChecks.SourcePort)
                    | (rule.DestinationPort is null ? 0 : RuleChecks.DestinationPort)
                    | (rule.TcpFlags is null ? 0 : RuleChecks.TcpFlags),
                MatchModule.Icmp => RuleChecks.FirstFragment | (rule.IcmpType is null ? 0 : RuleChecks.IcmpType),
                MatchModule.Multiport => RuleChecks.FirstFragment | (rule.Multiport is null ? 0 : RuleChecks.Multiport),
                MatchModule.Mac => rule.MacSource is null ? 0 : RuleChecks.MacSource,
                _ => RuleChecks.None,
            };
            if (module == MatchModule.Recent)
            {
                r++;
                recent[r] = new RecentStep(new RecentMatch(rule.Recent[r]), recentTables[r], rule.Recent[r].Side, RuleChecks.None);
            }
            else if (r < 0)
                checks |= adds;
            else
                recent[r] = recent[r] with { ChecksAfter = recent[r].ChecksAfter | adds };
        }
        Checks = checks;
        Recent = recent;
    }

    public int Id { get; }
    public L3Kind Family { get; }
    public TableKind Table { get; }
    public Rule Rule { get; }

    // Everything the packet path reads, flattened into plain fields (no Nullable or record reads) and arrays
    // (no IReadOnlyList, whose enumerator would allocate). A field is only read when Checks says so.

    /// <summary>What to test before the first recent match (or before deciding, without one).</summary>
    internal readonly RuleChecks Checks;

    /// <summary>The recent matches in the rule's order, each with the checks that follow it.</summary>
    internal readonly RecentStep[] Recent;

    internal readonly TargetKind Target;
    internal readonly CompiledChain? TargetChain;

    internal readonly byte Protocol;
    internal readonly bool ProtocolInvert;
    internal readonly AddressPrefix Source;
    internal readonly bool SourceInvert;
    internal readonly AddressPrefix Destination;
    internal readonly bool DestinationInvert;
    internal readonly bool[] InPorts;   // by port index: whether -i matches ('!' applied)
    internal readonly bool[] OutPorts;

    // A port range as (first, last - first): one unsigned compare tells whether a port is inside.
    internal readonly ushort SourcePortFirst;
    internal readonly uint SourcePortSpan;
    internal readonly bool SourcePortInvert;
    internal readonly ushort DestinationPortFirst;
    internal readonly uint DestinationPortSpan;
    internal readonly bool DestinationPortInvert;
    internal readonly byte TcpFlagsMask;
    internal readonly byte TcpFlagsCompare;
    internal readonly bool TcpFlagsInvert;
    internal readonly byte IcmpType;    // 255: any type
    internal readonly short IcmpCode;   // -1: any code
    internal readonly bool IcmpInvert;
    internal readonly MultiportDirection MultiportDirection;
    internal readonly PortRange[] MultiportPorts = [];
    internal readonly bool MultiportInvert;
    internal readonly uint MacSourceLow;     // bytes 0..3 of --mac-source as a little-endian load
    internal readonly ushort MacSourceHigh;  // bytes 4..5
    internal readonly bool MacSourceInvert;

    /// <summary>"filter:FORWARD:3" (IPv6: "ip6:filter:FORWARD:3") — table, chain and 1-based rule number, as traces print it.</summary>
    public string QualifiedName => $"{(Family == L3Kind.IPv6 ? "ip6:" : "")}{(Table == TableKind.Raw ? "raw" : "filter")}:{Rule.Chain}:{Rule.Number}";
}

/// <summary>The pure tests of a rule, one bit each; a rule's walk tests only the bits it has.</summary>
[Flags]
internal enum RuleChecks : ushort
{
    None = 0,
    Protocol = 1 << 0,
    Source = 1 << 1,
    Destination = 1 << 2,
    InInterface = 1 << 3,
    OutInterface = 1 << 4,
    /// <summary>tcp, udp, icmp and multiport never match a non-first fragment, inverted or not.</summary>
    FirstFragment = 1 << 5,
    SourcePort = 1 << 6,
    DestinationPort = 1 << 7,
    TcpFlags = 1 << 8,
    IcmpType = 1 << 9,
    Multiport = 1 << 10,
    MacSource = 1 << 11,

    /// <summary>The tests the walk makes in a call of their own (see RulesetState.Passes).</summary>
    LessCommon = InInterface | OutInterface | IcmpType | Multiport | MacSource,
}

/// <summary>One recent match of a rule: its options, its table (by ruleset index), and the pure checks that follow it.</summary>
internal readonly record struct RecentStep(RecentMatch Match, int Table, RecentSide Side, RuleChecks ChecksAfter);
