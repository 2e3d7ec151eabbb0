// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>
/// The rulesets of both families resolved against the dataplane's port names: chains by index, interface
/// matches as a per-port table, recent matches by table number. Immutable and shared by every worker; the
/// per-worker mutable state (recent tables, counters) lives in <see cref="RulesetState"/>.
/// A rule with -j CT --timeout holds a reference on its policy from here until <see cref="ReleaseTimeoutPolicies"/>,
/// as the kernel's rule does from checkentry to destroy.
/// </summary>
public sealed class CompiledRuleset
{
    private readonly TimeoutPolicyRegistry? _timeouts;
    private readonly List<TimeoutPolicy> _heldPolicies = [];

    /// <param name="timeouts">The timeout policies -j CT --timeout names; without it such a rule is refused (ENOENT).</param>
    /// <exception cref="RulesetException">A rule the kernel's checkentry would refuse; no policy reference is kept then.</exception>
    public CompiledRuleset(FamilyRuleset ipv4, FamilyRuleset ipv6, IReadOnlyList<string> portNames, bool filterInputChain = false,
        TimeoutPolicyRegistry? timeouts = null)
    {
        PortNames = portNames;
        FilterChainName = filterInputChain ? "INPUT" : "FORWARD";
        _timeouts = timeouts;
        IPv4Rules = ipv4;
        IPv6Rules = ipv6;
        var recentTables = new List<RecentTableSpec>();
        var rules = new List<CompiledRule>();
        var chains = new List<CompiledChain>();
        try
        {
            IPv4 = Compile(ipv4, recentTables, rules, chains);
            IPv6 = Compile(ipv6, recentTables, rules, chains);
        }
        catch (RulesetException)
        {
            ReleaseTimeoutPolicies();
            throw;
        }
        IPv4UsesConntrack = rules.Any(r => r.Family == L3Kind.IPv4 && NeedsConntrack(r));
        IPv6UsesConntrack = rules.Any(r => r.Family == L3Kind.IPv6 && NeedsConntrack(r));
        RecentTables = recentTables;
        Rules = rules;
        ChainsById = chains.ToArray();
        Chains = ChainsById;
        var depths = new int?[chains.Count];
        MaxJumpDepth = chains.Where(c => c.IsBuiltin).Select(c => JumpDepth(c, depths)).DefaultIfEmpty(0).Max();
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

    /// <summary>
    /// Whether a rule of either family reads or sets connection tracking (<see cref="UsesConntrackFor"/>).
    /// </summary>
    public bool UsesConntrack => IPv4UsesConntrack || IPv6UsesConntrack;

    /// <summary>
    /// Whether a rule of the family reads or sets connection tracking: -m conntrack, -m state, or -j CT other than
    /// --notrack. The kernel tracks (and defragments) a family's packets in a namespace only once such a rule of that
    /// family is loaded (nf_ct_netns_get in their checkentry; CT's --notrack and NOTRACK take no reference).
    /// </summary>
    public bool UsesConntrackFor(L3Kind family) => family == L3Kind.IPv4 ? IPv4UsesConntrack : IPv6UsesConntrack;

    private bool IPv4UsesConntrack { get; }
    private bool IPv6UsesConntrack { get; }

    private static bool NeedsConntrack(CompiledRule rule) =>
        rule.Rule.Conntrack.Count > 0 || (rule.Target == TargetKind.Ct && rule.Rule.Ct is { NoTrack: false });

    /// <summary>Gives back the policy references this ruleset's -j CT --timeout rules hold; once, when it is replaced or stops.</summary>
    public void ReleaseTimeoutPolicies()
    {
        foreach (var policy in _heldPolicies)
            _timeouts!.Release(policy);
        _heldPolicies.Clear();
    }

    /// <summary>The most user-chain jumps (-j) that can be pending at once, over every entry chain.</summary>
    public int MaxJumpDepth { get; }

    // Jumps push a return point and gotos do not. From a built-in chain: loops among chains it reaches were refused when
    // the ruleset was parsed, and chains it does not reach (a loop among them is allowed) are never entered.
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

    /// <summary>The IPv4 rules this ruleset was compiled from.</summary>
    public FamilyRuleset IPv4Rules { get; }

    /// <summary>The IPv6 rules this ruleset was compiled from.</summary>
    public FamilyRuleset IPv6Rules { get; }

    /// <summary>
    /// Whether <paramref name="chain"/> belongs to a table the file left out and this ruleset kept from the rules it
    /// replaces (<see cref="FamilyRuleset.Over"/>): then its rules are the previous ones, counters and all.
    /// </summary>
    public bool Keeps(CompiledChain chain) => (chain.Family == L3Kind.IPv4 ? IPv4Rules : IPv6Rules).Kept.Contains(chain.Table);

    /// <summary>
    /// Whether the recent table <paramref name="name"/>, which <paramref name="previous"/> names, lives on when this
    /// ruleset replaces it, as iptables-restore would replace it: one table (*raw, *filter) at a time in the order
    /// the file commits them, each table's new rules checked before its old ones are released, so a recent table
    /// whose last reference goes with one commit is destroyed, entries and all, even when a table committed later
    /// names it again (which creates it empty, with that rule's mask). A table the file leaves out keeps its old
    /// rules and their references (<see cref="FamilyRuleset.Over"/>). Both families are replaced at once
    /// (compatibility row 5b): a table either family's old or new rules name lives on.
    /// </summary>
    public bool KeepsRecentTable(CompiledRuleset previous, string name)
    {
        foreach (var (family, other, order) in new[] { (L3Kind.IPv4, L3Kind.IPv6, IPv4Rules.CommitOrder), (L3Kind.IPv6, L3Kind.IPv4, IPv6Rules.CommitOrder) })
        {
            if (Names(name, other, _ => true) || previous.Names(name, other, _ => true))
                continue;
            var committed = new HashSet<TableKind>();
            foreach (var kind in order)
            {
                committed.Add(kind);
                if (!Names(name, family, committed.Contains) && !previous.Names(name, family, k => !committed.Contains(k)))
                    return false;
            }
        }
        return true;
    }

    /// <summary>Whether a rule of <paramref name="family"/> in a table <paramref name="inTable"/> names the recent table <paramref name="name"/>.</summary>
    private bool Names(string name, L3Kind family, Func<TableKind, bool> inTable) =>
        Rules.Any(r => r.Family == family && inTable(r.Table) && r.Rule.Recent.Any(o => o.Name == name));

    private CompiledFamily Compile(FamilyRuleset ruleset, List<RecentTableSpec> recentTables, List<CompiledRule> allRules, List<CompiledChain> allChains)
    {
        CompiledChain? raw = null, filter = null;
        // In commit order, as iptables-restore loads them: the first rule naming a recent table creates it (and fixes its mask).
        foreach (var kind in ruleset.CommitOrder)
        {
            if (!ruleset.Tables.TryGetValue(kind, out var table))
                continue;
            // The kernel checks the rules, and so creates their recent tables, in its chain order, not the file's.
            foreach (var chain in KernelChainOrder.Of(table.Chains.Values, c => c.Name, c => c.Policy is not null))
            {
                foreach (var options in chain.Rules.SelectMany(rule => rule.Recent))
                    AddRecentTable(options, recentTables);
            }
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
                    // Every table this rule names exists by now, created in kernel order above.
                    var recentIds = rule.Recent.Select(r => recentTables.FindIndex(t => t.Name == r.Name)).ToArray();
                    int policyId = rule.Ct?.TimeoutPolicy is { } policyName && !rule.Ct.NoTrack
                        ? AcquirePolicy(policyName, ruleset, rule) : 0;
                    var compiled = new CompiledRule(allRules.Count, ruleset.Family, kind, rule, recentIds,
                        rule.TargetChain is { } t ? byName[t] : null, Ports(rule.InInterface), Ports(rule.OutInterface), policyId,
                        forwarding: kind == TableKind.Filter && FilterChainName == "FORWARD");
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

    /// <summary>
    /// xt_CT's checkentry for --timeout: the rule must pin its protocol (an inverted -p does not), and the policy
    /// must exist and fit the rule's family and protocol; the rule then holds a reference.
    /// </summary>
    private int AcquirePolicy(string name, FamilyRuleset ruleset, Rule rule)
    {
        byte protocol = rule.Protocol is { Invert: false } p ? p.Value : (byte)0;
        ushort family = ruleset.Family == L3Kind.IPv4 ? TimeoutPolicyRegistry.InetFamily : TimeoutPolicyRegistry.Inet6Family;
        TimeoutPolicy? policy = null;
        var errno = _timeouts is null ? Errno.ENOENT : _timeouts.AcquireForRule(name, family, protocol, out policy);
        if (errno == Errno.None)
        {
            if (policy is null)
                return 0;
            _heldPolicies.Add(policy);
            return policy.Id;
        }
        string why = errno == Errno.ENOENT ? $"no timeout policy named '{name}'"
            : protocol == 0 ? "CT --timeout needs the rule to match one protocol (-p)"
            : $"timeout policy '{name}' is not for {(ruleset.Family == L3Kind.IPv4 ? "inet" : "inet6")} {TimeoutProtocols.TrackerFor(protocol).Name}";
        throw new RulesetException(ruleset.Source, rule.Line, $"{why} (the kernel refuses the rule: {Errnos.Message(errno)})");
    }

    /// <summary>Whether each port matches -i/-o (the '!' applied), or null when the rule has no such match.</summary>
    private bool[]? Ports(Inverted<InterfaceName>? match) =>
        match is { } m ? PortNames.Select(p => m.Value.Matches(p) != m.Invert).ToArray() : null;

    /// <summary>
    /// Tables are created by the first rule naming them, which also fixes the table's --mask; a later rule
    /// that needs more stamps grows them (the kernel flushes the table then; at load time it is empty).
    /// </summary>
    private static void AddRecentTable(RecentOptions options, List<RecentTableSpec> tables)
    {
        int id = tables.FindIndex(t => t.Name == options.Name);
        if (id < 0)
        {
            tables.Add(new RecentTableSpec(options.Name, options.Mask, options.StampSlots, options.HitCount));
            return;
        }
        tables[id] = tables[id] with
        {
            StampSlots = Math.Max(tables[id].StampSlots, options.StampSlots),
            MaxHitCount = Math.Max(tables[id].MaxHitCount, options.HitCount),
        };
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
    /// <param name="forwarding">The rule is in FORWARD, which the kernel reaches after ip_forward took one off the TTL.</param>
    public CompiledRule(int id, L3Kind family, TableKind table, Rule rule, int[] recentTables, CompiledChain? target, bool[]? inPorts, bool[]? outPorts,
        int ctPolicyId = 0, bool forwarding = false)
    {
        Id = id;
        Family = family;
        Table = table;
        Rule = rule;
        Target = rule.Target;
        TargetChain = target;
        InPorts = inPorts ?? [];
        OutPorts = outPorts ?? [];
        if (rule.Ct is { } ct)
            (CtTemplate, CtPolicyId) = (ct.NoTrack ? CtTemplateKind.NoTrack : CtTemplateKind.Template, ct.NoTrack ? 0 : ctPolicyId);
        Conntrack = rule.Conntrack.Select(CompiledConntrackMatch.From).ToArray();
        // The stateful filter's usual rule ("--ctstate ESTABLISHED,RELATED", "--state NEW"): one state-only match, tested inline.
        bool stateOnly = Conntrack is [{ HasState: true, HasProtocol: false, HasStatus: false, HasExpire: false, HasDirection: false }];
        if (stateOnly)
            (CtStates, CtStateInvert) = (Conntrack[0].States, Conntrack[0].StateInvert);

        // ip_packet_match; "-p all" (0) checks nothing, even inverted, as in the kernel, but ip6_packet_match looks for the
        // upper-layer header whenever -p is given.
        var checks = RuleChecks.None;
        if (family == L3Kind.IPv6 && rule.Protocol is not null)
            checks |= RuleChecks.UpperLayer;
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
        if (rule.Fragment is { } fragment)
            (checks, FragmentInvert) = (checks | RuleChecks.Fragment, fragment.Invert);

        if (rule.SourcePort is { } sport)
            (SourcePortFirst, SourcePortSpan, SourcePortInvert) = (PortFirst(sport.Value), PortSpan(sport.Value), sport.Invert);
        if (rule.DestinationPort is { } dport)
            (DestinationPortFirst, DestinationPortSpan, DestinationPortInvert) = (PortFirst(dport.Value), PortSpan(dport.Value), dport.Invert);
        if (rule.TcpFlags is { } flags)
            (TcpFlagsMask, TcpFlagsCompare, TcpFlagsInvert) = (flags.Value.Mask, flags.Value.Compare, flags.Invert);
        if (rule.IcmpType is { } icmp)
            (IcmpType, IcmpAnyType, IcmpCode, IcmpInvert) = (icmp.Value.Type, family == L3Kind.IPv4 && icmp.Value.Type == 255, icmp.Value.Code, icmp.Invert);
        if (rule.Multiport is { } multiport)
            (Multiport, MultiportInvert) = (multiport.Value, multiport.Invert);
        if (rule.SourceRange is { } sourceRange)
            (SourceRangeFirst, SourceRangeLast, SourceRangeInvert) = (sourceRange.Value.First.Numeric, sourceRange.Value.Last.Numeric, sourceRange.Invert);
        if (rule.DestinationRange is { } destinationRange)
            (DestinationRangeFirst, DestinationRangeLast, DestinationRangeInvert) = (destinationRange.Value.First.Numeric, destinationRange.Value.Last.Numeric, destinationRange.Invert);
        if (rule.Length is { } length)
            (LengthMin, LengthMax, LengthInvert) = (length.Value.First, length.Value.Last, length.Invert);
        Forwarding = forwarding;
        Ttl = rule.Ttl;
        if (rule.PacketType is { } packetType)
            (PacketType, PacketTypeInvert) = (packetType.Value, packetType.Invert);
        if (rule.Limit is { } limit)
            (LimitCost, LimitCap) = (RateLimit.ToCredits(limit.Average), RateLimit.ToCredits(unchecked(limit.Average * limit.Burst)));
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
            // tcp_mt's drop of an IPv4 fragment 8 bytes in happens when the matches before it pass; one of them refusing
            // every non-first fragment (multiport, icmp) rules it out.
            var before = r < 0 ? checks : recent[r].ChecksAfter;
            if (module == MatchModule.Tcp && family == L3Kind.IPv4 && (before & RuleChecks.FirstFragment) == 0)
                (HotdropsTcpFragmentAtEight, ChecksBeforeTcpMatch) = (true, before);
            if (module == MatchModule.Multiport)
                ChecksBeforeMultiport = before;
            var adds = module switch
            {
                MatchModule.Tcp or MatchModule.Udp => RuleChecks.FirstFragment
                    | (rule.SourcePort is null ? 0 : RuleChecks.SourcePort)
                    | (rule.DestinationPort is null ? 0 : RuleChecks.DestinationPort)
                    | (rule.TcpFlags is null ? 0 : RuleChecks.TcpFlags),
                MatchModule.Icmp => RuleChecks.FirstFragment | (rule.IcmpType is null ? 0 : RuleChecks.IcmpType),
                MatchModule.Multiport => RuleChecks.FirstFragment | (rule.Multiport is null ? 0 : RuleChecks.Multiport),
                MatchModule.Mac => rule.MacSource is null ? 0 : RuleChecks.MacSource,
                MatchModule.Conntrack => stateOnly ? RuleChecks.CtState : RuleChecks.Conntrack,
                MatchModule.Limit => RuleChecks.Limit,
                MatchModule.IpRange => (rule.SourceRange is null ? 0 : RuleChecks.SourceRange) | (rule.DestinationRange is null ? 0 : RuleChecks.DestinationRange),
                MatchModule.Length => RuleChecks.Length,
                MatchModule.Ttl => RuleChecks.Ttl,
                MatchModule.PacketType => RuleChecks.PacketType,
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

    /// <summary>A port range's first port, or 65536 (no port) for a reversed range, which libxt_udp keeps and the kernel never matches.</summary>
    private static int PortFirst(PortRange range) => range.First <= range.Last ? range.First : ushort.MaxValue + 1;

    private static uint PortSpan(PortRange range) => range.First <= range.Last ? (uint)(range.Last - range.First) : 0;

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
    internal readonly CtTemplateKind CtTemplate;   // -j CT: what it sets
    internal readonly int CtPolicyId;              // -j CT --timeout: the policy's id (0: none)
    internal readonly CompiledConntrackMatch[] Conntrack;

    internal readonly byte Protocol;
    internal readonly bool ProtocolInvert;
    internal readonly AddressPrefix Source;
    internal readonly bool SourceInvert;
    internal readonly AddressPrefix Destination;
    internal readonly bool DestinationInvert;
    internal readonly bool FragmentInvert;
    internal readonly bool[] InPorts;   // by port index: whether -i matches ('!' applied)
    internal readonly bool[] OutPorts;

    // A port range as (first, last - first): one unsigned compare tells whether a port is inside.
    internal readonly int SourcePortFirst;      // a port range is (uint)(port - First) <= Span; First 65536 takes no port
    internal readonly uint SourcePortSpan;
    internal readonly bool SourcePortInvert;
    internal readonly int DestinationPortFirst;
    internal readonly uint DestinationPortSpan;
    internal readonly bool DestinationPortInvert;
    internal readonly byte TcpFlagsMask;
    internal readonly byte TcpFlagsCompare;
    internal readonly bool TcpFlagsInvert;
    internal readonly byte IcmpType;
    internal readonly bool IcmpAnyType; // iptables' type 255 ("any"); ip6tables has no such wildcard
    internal readonly short IcmpCode;   // -1: any code
    internal readonly bool IcmpInvert;
    internal readonly CtStateMask CtStates;  // RuleChecks.CtState: the one conntrack match's --ctstate / --state
    internal readonly bool CtStateInvert;
    internal readonly MultiportMatch? Multiport;
    internal readonly bool MultiportInvert;
    internal readonly uint MacSourceLow;     // bytes 0..3 of --mac-source as a little-endian load
    internal readonly ushort MacSourceHigh;  // bytes 4..5
    internal readonly bool MacSourceInvert;
    internal readonly UInt128 SourceRangeFirst;     // -m iprange, as InetAddress.Numeric values
    internal readonly UInt128 SourceRangeLast;
    internal readonly bool SourceRangeInvert;
    internal readonly UInt128 DestinationRangeFirst;
    internal readonly UInt128 DestinationRangeLast;
    internal readonly bool DestinationRangeInvert;
    internal readonly ushort LengthMin;             // -m length
    internal readonly ushort LengthMax;
    internal readonly bool LengthInvert;
    internal readonly bool Forwarding;            // in FORWARD: the kernel has an output device, and ip_forward took one off the TTL
    internal readonly TtlMatch? Ttl;              // -m ttl / -m hl
    internal readonly PacketType PacketType;      // -m pkttype
    internal readonly bool PacketTypeInvert;
    internal readonly uint LimitCost;        // -m limit: a packet's credits, and the bucket's size (xt_limit's cost and credit_cap)
    internal readonly uint LimitCap;
    internal readonly bool HotdropsTcpFragmentAtEight;   // an IPv4 -m tcp: drops a fragment at offset 8 once the checks before it pass
    internal readonly RuleChecks ChecksBeforeTcpMatch;
    internal readonly RuleChecks ChecksBeforeMultiport;  // -m multiport drops a packet without 4 bytes of ports once these pass

    /// <summary>"filter:FORWARD:3" (IPv6: "ip6:filter:FORWARD:3") — table, chain and 1-based rule number, as traces print it.</summary>
    public string QualifiedName => $"{(Family == L3Kind.IPv6 ? "ip6:" : "")}{(Table == TableKind.Raw ? "raw" : "filter")}:{Rule.Chain}:{Rule.Number}";
}

/// <summary>The pure tests of a rule, one bit each; a rule's walk tests only the bits it has.</summary>
[Flags]
internal enum RuleChecks : uint
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
    Conntrack = 1 << 12,
    /// <summary>A rule's only conntrack match tests the state alone (<see cref="CompiledRule.CtStates"/>).</summary>
    CtState = 1 << 13,
    /// <summary>-m limit, the rule's last match: tested after every other check of its set, since it takes a credit.</summary>
    Limit = 1 << 14,
    SourceRange = 1 << 15,
    DestinationRange = 1 << 16,
    Length = 1 << 17,
    Ttl = 1 << 18,
    PacketType = 1 << 19,
    /// <summary>ip6tables' -p (any, "all" too): ipv6_find_hdr must find the upper-layer protocol, or the packet is hotdropped.</summary>
    UpperLayer = 1 << 20,
    /// <summary>iptables' -f: the packet is a non-first fragment (with '!', it is not).</summary>
    Fragment = 1 << 21,

    /// <summary>The tests the walk makes in a call of their own (see RulesetState.Passes).</summary>
    LessCommon = InInterface | OutInterface | Fragment | IcmpType | Multiport | MacSource | Conntrack | Limit | SourceRange | DestinationRange | Length | Ttl | PacketType,
}

/// <summary>One -m conntrack / -m state flattened for the walk; an option is tested only when its Has flag is set.</summary>
internal readonly record struct CompiledConntrackMatch(
    bool HasState, CtStateMask States, bool StateInvert,
    bool HasProtocol, byte Protocol, bool ProtocolInvert,
    bool HasStatus, CtStatusMask Status, bool StatusInvert,
    bool HasExpire, uint ExpireMin, uint ExpireMax, bool ExpireInvert,
    bool HasDirection, FlowDirection Direction, bool DirectionInvert)
{
    public static CompiledConntrackMatch From(ConntrackMatch m) => new(
        m.State is not null, m.State?.Value ?? 0, m.State?.Invert ?? false,
        m.Protocol is not null, m.Protocol?.Value ?? 0, m.Protocol?.Invert ?? false,
        m.Status is not null, m.Status?.Value ?? 0, m.Status?.Invert ?? false,
        m.Expire is not null, m.Expire?.Value.Min ?? 0, m.Expire?.Value.Max ?? 0, m.Expire?.Invert ?? false,
        m.Direction is not null, m.Direction?.Value ?? FlowDirection.Original, m.Direction?.Invert ?? false);

    /// <summary>
    /// xt_conntrack's conntrack_mt: the state test (INVALID and UNTRACKED included); then, without a conntrack, the
    /// match holds only if it tested the state; otherwise direction, protocol, status and expiry, each with its '!'.
    /// A status mask of NONE never matches uninverted, as in the kernel.
    /// </summary>
    public bool Matches(in PacketConntrack ct)
    {
        if (HasState && ((States & ct.State) != 0) == StateInvert)
            return false;
        if (!ct.HasConnection)
            return HasState;
        if (HasDirection && (ct.Direction == Direction) == DirectionInvert)
            return false;
        if (HasProtocol && (ct.Protocol == Protocol) == ProtocolInvert)
            return false;
        if (HasStatus && ((Status & ct.Status) != 0) == StatusInvert)
            return false;
        return !HasExpire || (ct.ExpiresSeconds >= ExpireMin && ct.ExpiresSeconds <= ExpireMax) != ExpireInvert;
    }
}

/// <summary>One recent match of a rule: its options, its table (by ruleset index), and the pure checks that follow it.</summary>
internal readonly record struct RecentStep(RecentMatch Match, int Table, RecentSide Side, RuleChecks ChecksAfter);
