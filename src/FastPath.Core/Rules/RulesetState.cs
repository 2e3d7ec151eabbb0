// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

public enum RuleVerdict : byte
{
    Accept,
    Drop,
}

/// <summary>
/// What decided a packet: a rule (its id), or the policy of a built-in chain (rule id -1). When no table
/// applies (no rules for the family, or a non-IP frame) both are -1 and the packet is accepted.
/// </summary>
public readonly record struct Decision(int RuleId, int ChainId)
{
    public static Decision Default => new(-1, -1);

    public string Describe(CompiledRuleset ruleset) =>
        RuleId >= 0 ? ruleset.Rules[RuleId].QualifiedName
        : ChainId >= 0 ? $"{ruleset.Chains[ChainId].QualifiedName}:policy"
        : "-";
}

/// <summary>
/// One worker's side of the ruleset: its recent tables (or its shard of them), rule and policy counters and
/// the jump stack. Touched only by the owning worker; counters are read by others without synchronisation
/// (aligned 64-bit values, a little stale at worst).
/// </summary>
public sealed class RulesetState
{
    private readonly CompiledRuleset _ruleset;
    private readonly CompiledChain[] _stackChains;
    private readonly int[] _stackPositions;

    public RulesetState(CompiledRuleset ruleset, int recentCapacity = 100, int recentHashBuckets = 0)
    {
        _ruleset = ruleset;
        RecentTables = ruleset.RecentTables
            .Select(t => new RecentTable(t.Name, t.Mask, recentCapacity, t.StampSlots, recentHashBuckets))
            .ToArray();
        RulePackets = new long[ruleset.Rules.Count];
        RuleBytes = new long[ruleset.Rules.Count];
        PolicyPackets = new long[ruleset.Chains.Count];
        PolicyBytes = new long[ruleset.Chains.Count];
        // A jump never revisits a chain on the stack (loops are refused at load), so depth <= chains.
        _stackChains = new CompiledChain[ruleset.Chains.Count + 1];
        _stackPositions = new int[ruleset.Chains.Count + 1];
    }

    public CompiledRuleset Ruleset => _ruleset;
    public RecentTable[] RecentTables { get; }
    public long[] RulePackets { get; }
    public long[] RuleBytes { get; }
    public long[] PolicyPackets { get; }
    public long[] PolicyBytes { get; }

    /// <summary>
    /// raw PREROUTING, then the filter chain, as the kernel orders them for crossing traffic. Non-IP frames
    /// are not IP netfilter's business and are accepted.
    /// </summary>
    public RuleVerdict Evaluate(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, out Decision decision)
    {
        decision = Decision.Default;
        if (packet.L3 == L3Kind.None)
            return RuleVerdict.Accept;
        var family = packet.L3 == L3Kind.IPv4 ? _ruleset.IPv4 : _ruleset.IPv6;
        if (family.Raw is { } raw && Traverse(raw, ref packet, frame, inPort, outPort, now, out decision) == RuleVerdict.Drop)
            return RuleVerdict.Drop;
        if (family.Filter is { } filter)
            return Traverse(filter, ref packet, frame, inPort, outPort, now, out decision);
        return RuleVerdict.Accept;
    }

    private RuleVerdict Traverse(CompiledChain entry, ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, out Decision decision)
    {
        var chain = entry;
        int position = 0, depth = 0;
        while (true)
        {
            if (position >= chain.Rules.Length)
            {
                // The end of a built-in chain, or of a user chain with nothing to return to (reached by -g from the built-in one).
                if (chain.Policy is not null || depth == 0)
                    return Policy(entry, packet.IpLength, out decision);
                depth--;
                chain = _stackChains[depth];
                position = _stackPositions[depth];
                continue;
            }
            var rule = chain.Rules[position];
            if (!Matches(rule, ref packet, frame, inPort, outPort, now))
            {
                position++;
                continue;
            }
            RulePackets[rule.Id]++;
            RuleBytes[rule.Id] += packet.IpLength;
            switch (rule.Rule.Target)
            {
                case TargetKind.Accept:
                    decision = new Decision(rule.Id, chain.Id);
                    return RuleVerdict.Accept;
                case TargetKind.Drop:
                    decision = new Decision(rule.Id, chain.Id);
                    return RuleVerdict.Drop;
                case TargetKind.Return:
                    if (depth == 0)
                        return Policy(entry, packet.IpLength, out decision);
                    depth--;
                    chain = _stackChains[depth];
                    position = _stackPositions[depth];
                    break;
                case TargetKind.Jump:
                    _stackChains[depth] = chain;
                    _stackPositions[depth] = position + 1;
                    depth++;
                    chain = rule.TargetChain!;
                    position = 0;
                    break;
                case TargetKind.Goto:
                    chain = rule.TargetChain!;
                    position = 0;
                    break;
                default:
                    position++;
                    break;
            }
        }
    }

    private RuleVerdict Policy(CompiledChain entry, int bytes, out Decision decision)
    {
        PolicyPackets[entry.Id]++;
        PolicyBytes[entry.Id] += bytes;
        decision = new Decision(-1, entry.Id);
        return entry.Policy == TargetKind.Drop ? RuleVerdict.Drop : RuleVerdict.Accept;
    }

    /// <summary>ip_packet_match (protocol, addresses, interfaces), then the -m matches in the rule's order.</summary>
    private bool Matches(CompiledRule compiled, ref ParsedPacket p, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now)
    {
        // "-p all" (0) checks nothing, even inverted, as in the kernel.
        if (compiled.Protocol != 0 && (p.Protocol == compiled.Protocol) == compiled.ProtocolInvert)
            return false;
        if (compiled.HasSource && compiled.Source.Contains(p.Source) == compiled.SourceInvert)
            return false;
        if (compiled.HasDestination && compiled.Destination.Contains(p.Destination) == compiled.DestinationInvert)
            return false;
        if (compiled.InPorts is { } inPorts && !inPorts[inPort])
            return false;
        if (compiled.OutPorts is { } outPorts && !outPorts[outPort])
            return false;

        var r = compiled.Rule;
        int recent = 0;
        var modules = compiled.Modules;
        for (int m = 0; m < modules.Length; m++)
        {
            switch (modules[m])
            {
                case MatchModule.Tcp or MatchModule.Udp:
                    // Port and flag matches never match a non-first fragment, inverted or not.
                    if (p.Fragment == FragmentKind.NonFirst || !PortsMatch(r, ref p))
                        return false;
                    break;
                case MatchModule.Icmp:
                    if (p.Fragment == FragmentKind.NonFirst)
                        return false;
                    var icmp = r.IcmpType!.Value; // the parser insists on --icmp-type, as iptables does
                    bool typeMatches = icmp.Value.Type == 255
                        || (p.IcmpType == icmp.Value.Type && (icmp.Value.Code < 0 || p.IcmpCode == icmp.Value.Code));
                    if (typeMatches == icmp.Invert)
                        return false;
                    break;
                case MatchModule.Multiport:
                    if (p.Fragment == FragmentKind.NonFirst || r.Multiport is { } mp && mp.Value.Matches(p.SourcePort, p.DestinationPort) == mp.Invert)
                        return false;
                    break;
                case MatchModule.Mac:
                    if (r.MacSource is { } mac && frame.Slice(6, 6).SequenceEqual(mac.Value) == mac.Invert)
                        return false;
                    break;
                case MatchModule.Recent:
                    var options = compiled.Recent[recent];
                    var table = RecentTables[compiled.RecentTables[recent]];
                    recent++;
                    var address = options.Side == RecentSide.Source ? p.Source : p.Destination;
                    if (!table.Match(options, address, p.L3 == L3Kind.IPv6, p.Ttl, now))
                        return false;
                    break;
            }
        }
        return true;
    }

    private static bool PortsMatch(Rule r, ref ParsedPacket p)
    {
        if (r.SourcePort is { } sport && sport.Value.Contains(p.SourcePort) == sport.Invert)
            return false;
        if (r.DestinationPort is { } dport && dport.Value.Contains(p.DestinationPort) == dport.Invert)
            return false;
        if (r.TcpFlags is { } flags && ((p.TcpFlags & flags.Value.Mask) == flags.Value.Compare) == flags.Invert)
            return false;
        return true;
    }
}
