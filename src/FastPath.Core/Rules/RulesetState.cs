// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

public enum RuleVerdict : byte
{
    Accept,
    Drop,

    /// <summary>Not decided yet: the evaluation continues on the worker the cursor names.</summary>
    Continue,
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
/// One worker's side of the ruleset: its shard of every recent table, rule and policy counters and the
/// jump stack. Touched only by the owning worker; counters are read by others without synchronisation
/// (aligned 64-bit values, a little stale at worst). With more than one shard, a recent match whose
/// address another shard owns suspends the evaluation into an <see cref="EvaluationCursor"/> for the
/// owner to resume (docs/design/recent-sharding.md).
/// </summary>
public sealed class RulesetState
{
    private readonly CompiledRuleset _ruleset;
    private readonly RecentShardMap _shards;
    private readonly RecentTableSizing _sizing;
    private readonly CompiledChain[] _stackChains;
    private readonly int[] _stackPositions;

    /// <param name="sizing">Entries, stamps and hash buckets per table (default: the kernel's); a table's entries are shared out between the shards.</param>
    public RulesetState(CompiledRuleset ruleset, RecentTableSizing? sizing = null, RecentShardMap? shards = null)
        : this(ruleset, sizing ?? RecentTableSizing.Kernel, shards ?? RecentShardMap.Single, generation: 0, previousTables: null)
    {
    }

    private RulesetState(CompiledRuleset ruleset, RecentTableSizing sizing, RecentShardMap shards, int generation, RecentTable[]? previousTables)
    {
        _ruleset = ruleset;
        _shards = shards;
        _sizing = sizing;
        Generation = generation;
        if (_shards.IsSharded)
            EvaluationCursor.CheckFits(ruleset);
        RecentTables = ruleset.RecentTables.Select(spec =>
        {
            var size = sizing.For(spec.Name);
            int stampSlots = size.StampSlotsFor(spec.StampSlots, spec.MaxHitCount);
            // Like iptables-restore in the kernel: a table the new rules still name keeps its entries and its
            // mask; one needing more stamps is flushed and grown.
            var kept = previousTables?.FirstOrDefault(t => t.Name == spec.Name);
            if (kept is null)
                return new RecentTable(spec.Name, spec.Mask, _shards.ShardCapacity(size.Capacity), stampSlots, size.HashBuckets);
            kept.EnsureStampSlots(stampSlots);
            return kept;
        }).ToArray();
        RulePackets = new long[ruleset.Rules.Count];
        RuleBytes = new long[ruleset.Rules.Count];
        PolicyPackets = new long[ruleset.Chains.Count];
        PolicyBytes = new long[ruleset.Chains.Count];
        // A jump never revisits a chain on the stack (loops are refused at load), so depth <= chains.
        _stackChains = new CompiledChain[ruleset.Chains.Count + 1];
        _stackPositions = new int[ruleset.Chains.Count + 1];
    }

    /// <summary>
    /// The state for a replacement ruleset on the same worker: recent tables the new rules name carry over
    /// (entries, mask), others are gone, counters start at zero. Its <see cref="Generation"/> is one more, so
    /// a packet suspended under this state can still be resumed under it.
    /// </summary>
    public RulesetState Successor(CompiledRuleset next) =>
        new(next, _sizing, _shards, Generation + 1, RecentTables);

    /// <summary>Counts ruleset replacements; a suspended cursor remembers the generation it was suspended under.</summary>
    public int Generation { get; }

    public CompiledRuleset Ruleset => _ruleset;
    public RecentShardMap Shards => _shards;

    /// <summary>This worker's shard of each table, by <see cref="CompiledRuleset.RecentTables"/> index.</summary>
    public RecentTable[] RecentTables { get; }
    public long[] RulePackets { get; }
    public long[] RuleBytes { get; }
    public long[] PolicyPackets { get; }
    public long[] PolicyBytes { get; }

    /// <summary>Evaluates a packet from start to verdict on an unsharded state (one worker owns every table).</summary>
    public RuleVerdict Evaluate(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, out Decision decision)
    {
        if (_shards.IsSharded)
            throw new InvalidOperationException("a sharded ruleset state evaluates with a cursor");
        var cursor = default(EvaluationCursor);
        return Evaluate(ref packet, frame, inPort, outPort, now, ref cursor, out decision);
    }

    /// <summary>
    /// raw PREROUTING, then the filter chain, as the kernel orders them for crossing traffic. Non-IP frames
    /// are not IP netfilter's business and are accepted. Starts afresh, or resumes a suspended
    /// <paramref name="cursor"/>; returns <see cref="RuleVerdict.Continue"/> with the cursor filled in when
    /// the next recent match belongs to the shard <see cref="EvaluationCursor.Owner"/>.
    /// </summary>
    public RuleVerdict Evaluate(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, ref EvaluationCursor cursor, out Decision decision)
    {
        decision = Decision.Default;
        if (packet.L3 == L3Kind.None)
            return RuleVerdict.Accept;
        var family = packet.L3 == L3Kind.IPv4 ? _ruleset.IPv4 : _ruleset.IPv6;
        if (cursor.Stage != EvaluationStage.Filter && family.Raw is { } raw)
        {
            var verdict = Traverse(raw, EvaluationStage.Raw, ref packet, frame, inPort, outPort, now, ref cursor, out decision);
            if (verdict != RuleVerdict.Accept)
                return verdict;
        }
        if (family.Filter is { } filter)
            return Traverse(filter, EvaluationStage.Filter, ref packet, frame, inPort, outPort, now, ref cursor, out decision);
        return RuleVerdict.Accept;
    }

    private RuleVerdict Traverse(CompiledChain entry, EvaluationStage stage, ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now,
        ref EvaluationCursor cursor, out Decision decision)
    {
        var chain = entry;
        int position = 0, depth = 0;
        int resumeModule = -1, resumeRecent = 0;
        if (cursor.Stage == stage)
        {
            chain = _ruleset.Chains[cursor.Chain];
            position = cursor.Position;
            depth = cursor.Depth;
            for (int d = 0; d < depth; d++)
            {
                _stackChains[d] = _ruleset.Chains[(int)(cursor.Stack[d] >> 16)];
                _stackPositions[d] = (int)(cursor.Stack[d] & 0xFFFF);
            }
            resumeModule = cursor.Module;
            resumeRecent = cursor.Recent;
            cursor.Stage = EvaluationStage.Fresh;
        }
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
            var match = Matches(rule, ref packet, frame, inPort, outPort, now, resumeModule, resumeRecent, ref cursor);
            resumeModule = -1;
            resumeRecent = 0;
            if (match == MatchResult.Elsewhere)
            {
                Suspend(ref cursor, stage, chain, position, depth);
                decision = Decision.Default;
                return RuleVerdict.Continue;
            }
            if (match == MatchResult.NoMatch)
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

    /// <summary>Records where evaluation stands; Matches has already filled in the module, recent index and owner.</summary>
    private void Suspend(ref EvaluationCursor cursor, EvaluationStage stage, CompiledChain chain, int position, int depth)
    {
        cursor.Stage = stage;
        cursor.Generation = Generation;
        cursor.Chain = (ushort)chain.Id;
        cursor.Position = (ushort)position;
        cursor.Depth = (byte)depth;
        for (int d = 0; d < depth; d++)
            cursor.Stack[d] = ((uint)_stackChains[d].Id << 16) | (uint)_stackPositions[d];
    }

    private RuleVerdict Policy(CompiledChain entry, int bytes, out Decision decision)
    {
        PolicyPackets[entry.Id]++;
        PolicyBytes[entry.Id] += bytes;
        decision = new Decision(-1, entry.Id);
        return entry.Policy == TargetKind.Drop ? RuleVerdict.Drop : RuleVerdict.Accept;
    }

    private enum MatchResult : byte
    {
        NoMatch,
        Match,
        /// <summary>A recent match needs another shard's table; the cursor names the module and owner.</summary>
        Elsewhere,
    }

    /// <summary>
    /// ip_packet_match (protocol, addresses, interfaces), then the -m matches in the rule's order. A resumed
    /// rule (<paramref name="resumeModule"/> ≥ 0) already passed everything before that match.
    /// </summary>
    private MatchResult Matches(CompiledRule compiled, ref ParsedPacket p, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now,
        int resumeModule, int resumeRecent, ref EvaluationCursor cursor)
    {
        if (resumeModule < 0)
        {
            // "-p all" (0) checks nothing, even inverted, as in the kernel.
            if (compiled.Protocol != 0 && (p.Protocol == compiled.Protocol) == compiled.ProtocolInvert)
                return MatchResult.NoMatch;
            if (compiled.HasSource && compiled.Source.Contains(p.Source) == compiled.SourceInvert)
                return MatchResult.NoMatch;
            if (compiled.HasDestination && compiled.Destination.Contains(p.Destination) == compiled.DestinationInvert)
                return MatchResult.NoMatch;
            if (compiled.InPorts is { } inPorts && !inPorts[inPort])
                return MatchResult.NoMatch;
            if (compiled.OutPorts is { } outPorts && !outPorts[outPort])
                return MatchResult.NoMatch;
        }

        var r = compiled.Rule;
        int recent = resumeRecent;
        var modules = compiled.Modules;
        for (int m = Math.Max(resumeModule, 0); m < modules.Length; m++)
        {
            switch (modules[m])
            {
                case MatchModule.Tcp or MatchModule.Udp:
                    // Port and flag matches never match a non-first fragment, inverted or not.
                    if (p.Fragment == FragmentKind.NonFirst || !PortsMatch(r, ref p))
                        return MatchResult.NoMatch;
                    break;
                case MatchModule.Icmp:
                    if (p.Fragment == FragmentKind.NonFirst)
                        return MatchResult.NoMatch;
                    var icmp = r.IcmpType!.Value; // the parser insists on --icmp-type, as iptables does
                    bool typeMatches = icmp.Value.Type == 255
                        || (p.IcmpType == icmp.Value.Type && (icmp.Value.Code < 0 || p.IcmpCode == icmp.Value.Code));
                    if (typeMatches == icmp.Invert)
                        return MatchResult.NoMatch;
                    break;
                case MatchModule.Multiport:
                    if (p.Fragment == FragmentKind.NonFirst || r.Multiport is { } mp && mp.Value.Matches(p.SourcePort, p.DestinationPort) == mp.Invert)
                        return MatchResult.NoMatch;
                    break;
                case MatchModule.Mac:
                    if (r.MacSource is { } mac && frame.Slice(6, 6).SequenceEqual(mac.Value) == mac.Invert)
                        return MatchResult.NoMatch;
                    break;
                case MatchModule.Recent:
                    var options = compiled.Recent[recent];
                    var table = RecentTables[compiled.RecentTables[recent]];
                    var address = options.Side == RecentSide.Source ? p.Source : p.Destination;
                    if (_shards.IsSharded)
                    {
                        int owner = _shards.OwnerOf(address.And(table.Mask));
                        if (owner != _shards.Index)
                        {
                            cursor.Owner = owner;
                            cursor.Module = (byte)m;
                            cursor.Recent = (byte)recent;
                            return MatchResult.Elsewhere;
                        }
                    }
                    recent++;
                    if (!table.Match(options, address, p.L3 == L3Kind.IPv6, p.Ttl, now))
                        return MatchResult.NoMatch;
                    break;
            }
        }
        return MatchResult.Match;
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
