// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Logging;
using FastPath.Core.Memory;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

public enum RuleVerdict : byte
{
    Accept,
    Drop,

    /// <summary>Not decided yet: the evaluation continues on the worker the cursor names.</summary>
    Continue,

    /// <summary>Dropped by connection tracking: the table is full and nothing could be evicted.</summary>
    ConntrackTableFull,

    /// <summary>Dropped by connection tracking: a TCP connection's first packet lost the race to confirm it (insert_failed).</summary>
    ConntrackClash,
}

/// <summary>
/// What decided a packet: a rule (its id), or the policy of a built-in chain (rule id -1). When no table
/// applies (no rules for the family, or a non-IP frame) both are -1 and the packet is accepted.
/// </summary>
public readonly record struct Decision(int RuleId, int ChainId)
{
    public static Decision Default => new(-1, -1);

    /// <summary>Connection tracking dropped the packet: the table was full (rule id -2).</summary>
    public static Decision ConntrackTableFull => new(-2, -1);

    /// <summary>Connection tracking dropped the packet: its new TCP connection lost the race to be confirmed (rule id -3).</summary>
    public static Decision ConntrackClash => new(-3, -1);

    /// <summary>A match in the chain could not look at the packet and dropped it, counted by no rule (rule id -4; the kernel's hotdrop).</summary>
    public static Decision Hotdrop(int chainId) => new(HotdropRuleId, chainId);

    public bool IsHotdrop => RuleId == HotdropRuleId;

    private const int HotdropRuleId = -4;

    /// <summary>"filter:FORWARD:3", "filter:FORWARD:policy", "filter:FORWARD:hotdrop", "conntrack:table_full", "conntrack:clash" or "-".</summary>
    public string Describe(CompiledRuleset ruleset) =>
        RuleId >= 0 ? ruleset.Rules[RuleId].QualifiedName
        : ChainId >= 0 ? $"{ruleset.Chains[ChainId].QualifiedName}:{(IsHotdrop ? "hotdrop" : "policy")}"
        : Unruled;

    /// <summary>How a decision that no rule or policy made is named.</summary>
    public string Unruled => RuleId == ConntrackTableFull.RuleId ? "conntrack:table_full" : RuleId == ConntrackClash.RuleId ? "conntrack:clash" : "-";
}

/// <summary>
/// One worker's side of the ruleset: its shard of every recent table, rule and policy counters and the
/// jump stack. Touched only by the owning worker; counters are read by others without synchronisation
/// (aligned 64-bit values, a little stale at worst). With more than one shard, a recent match whose
/// address another shard owns suspends the evaluation into an <see cref="EvaluationCursor"/> for the
/// owner to resume (docs/design/recent-sharding.md). Connection tracking runs between raw and filter on the
/// worker owning the packet's connection, and a new connection goes back there to be confirmed or forgotten
/// once the packet is decided (docs/design/conntrack.md).
/// </summary>
public sealed class RulesetState
{
    private readonly CompiledRuleset _ruleset;
    private readonly RecentShardMap _shards;
    private readonly RecentTableSizing _sizing;
    private readonly ConnectionTracker? _conntrack;
    private readonly PacketLog? _log;
    // By family: the ruleset's rules of that family use conntrack, or tracking is always on.
    private readonly bool _trackingIPv4;
    private readonly bool _trackingIPv6;
    private readonly RateLimit[] _limits;    // by rule id: this worker's bucket of each -m limit rule (empty without one)
    private readonly int[] _stackChains;     // ids, not references: a push stores no GC reference
    private readonly int[] _stackPositions;
    private readonly FamilyKey? _ipv4Key;  // null unless every recent match of the family looks up one key, and Prepare has work with it
    private readonly FamilyKey? _ipv6Key;
    // This worker's allocations start and end with a guard: its counters and tables share no cache line with another worker's.
    private readonly CacheLineGuard _leadingGuard;
    private readonly CacheLineGuard _trailingGuard;

    /// <param name="sizing">Entries, stamps and hash buckets per table (default: the kernel's); a table's entries are shared out between the shards.</param>
    /// <param name="conntrack">This worker's connections; without it no connection is tracked and every packet is INVALID to -m conntrack.</param>
    /// <param name="log">Where this worker's -j LOG rules write; without it they only count.</param>
    public RulesetState(CompiledRuleset ruleset, RecentTableSizing? sizing = null, RecentShardMap? shards = null, ConnectionTracker? conntrack = null,
        PacketLog? log = null)
        : this(ruleset, sizing ?? RecentTableSizing.Kernel, shards ?? RecentShardMap.Single, conntrack, log, generation: 0, previous: null)
    {
    }

    private RulesetState(CompiledRuleset ruleset, RecentTableSizing sizing, RecentShardMap shards, ConnectionTracker? conntrack, PacketLog? log,
        int generation, RulesetState? previous)
    {
        _leadingGuard = new();
        _ruleset = ruleset;
        _shards = shards;
        _sizing = sizing;
        _conntrack = conntrack;
        _log = log;
        if (conntrack is not null && conntrack.Shard != shards.Index)
            throw new ArgumentException("the connection tracker and the recent tables belong to different workers");
        _trackingIPv4 = conntrack is not null && (conntrack.TrackAlways || ruleset.UsesConntrackFor(L3Kind.IPv4));
        _trackingIPv6 = conntrack is not null && (conntrack.TrackAlways || ruleset.UsesConntrackFor(L3Kind.IPv6));
        Generation = generation;
        if (_shards.IsSharded)
            EvaluationCursor.CheckFits(ruleset);
        RecentTables = ruleset.RecentTables.Select(spec =>
        {
            var size = sizing.For(spec.Name);
            int stampSlots = size.StampSlotsFor(spec.StampSlots, spec.MaxHitCount);
            // Like iptables-restore in the kernel: a table the new rules still name keeps its entries and its
            // mask, unless the restore released its last reference on the way; one needing more stamps is flushed
            // and grown.
            var kept = previous?.RecentTables.FirstOrDefault(t => t.Name == spec.Name);
            if (kept is null || !ruleset.KeepsRecentTable(previous!._ruleset, spec.Name))
                return new RecentTable(spec.Name, spec.Mask, _shards.ShardCapacity(size.Capacity), stampSlots, size.HashBuckets);
            kept.EnsureStampSlots(stampSlots);
            return kept;
        }).ToArray();
        _ipv4Key = FamilyKeyOf(L3Kind.IPv4);
        _ipv6Key = FamilyKeyOf(L3Kind.IPv6);
        RulePackets = new long[ruleset.Rules.Count];
        RuleBytes = new long[ruleset.Rules.Count];
        // A rule restored with -c PACKETS BYTES starts with them (counted once, by the first shard).
        if (shards.Index == 0)
        {
            foreach (var rule in ruleset.Rules.Where(r => r.Rule.CountersSet))
                (RulePackets[rule.Id], RuleBytes[rule.Id]) = (rule.Rule.InitialPackets, rule.Rule.InitialBytes);
        }
        PolicyPackets = new long[ruleset.Chains.Count];
        PolicyBytes = new long[ruleset.Chains.Count];
        _limits = ruleset.Rules.Any(r => r.Rule.Limit is not null) ? new RateLimit[ruleset.Rules.Count] : [];
        // A jump never revisits a chain on the stack (loops are refused at load), so depth <= chains.
        _stackChains = new int[ruleset.Chains.Count + 1];
        _stackPositions = new int[ruleset.Chains.Count + 1];
        if (previous is not null)
            CarryKeptTables(previous);
        _trailingGuard = new();
    }

    /// <summary>
    /// The state for a replacement ruleset on the same worker: recent tables the new rules name carry over
    /// (entries, mask) unless iptables-restore would have destroyed them on the way
    /// (<see cref="CompiledRuleset.KeepsRecentTable"/>), others are gone, counters start at zero but in a table the
    /// new rules kept as it was. Its <see cref="Generation"/> is one more, so a packet suspended under this state can
    /// still be resumed under it.
    /// </summary>
    public RulesetState Successor(CompiledRuleset next) =>
        new(next, _sizing, _shards, _conntrack, _log, Generation + 1, this);

    /// <summary>
    /// The counters and -m limit buckets of the chains of a table the new rules kept as it was: iptables-restore
    /// leaves a table its file does not name alone (<see cref="FamilyRuleset.Over"/>).
    /// </summary>
    private void CarryKeptTables(RulesetState previous)
    {
        foreach (var chain in _ruleset.Chains.Where(_ruleset.Keeps))
        {
            var before = previous._ruleset.Chains.Single(c => c.Family == chain.Family && c.Table == chain.Table && c.Name == chain.Name);
            (PolicyPackets[chain.Id], PolicyBytes[chain.Id]) = (previous.PolicyPackets[before.Id], previous.PolicyBytes[before.Id]);
            for (int i = 0; i < chain.Rules.Length; i++)
            {
                int from = before.Rules[i].Id, to = chain.Rules[i].Id;
                (RulePackets[to], RuleBytes[to]) = (previous.RulePackets[from], previous.RuleBytes[from]);
                if (chain.Rules[i].Rule.Limit is not null)
                    _limits[to] = previous._limits[from];
            }
        }
    }

    /// <summary>Counts ruleset replacements; a suspended cursor remembers the generation it was suspended under.</summary>
    public int Generation { get; }

    public CompiledRuleset Ruleset => _ruleset;
    public RecentShardMap Shards => _shards;

    /// <summary>This worker's -j LOG output, kept by <see cref="Successor"/>; null when LOG rules only count.</summary>
    public PacketLog? Log => _log;

    /// <summary>This worker's connection tracking, kept by <see cref="Successor"/>; null when the dataplane tracks nothing.</summary>
    public ConnectionTracker? Conntrack => _conntrack;

    /// <summary>Whether packets are tracked under this ruleset: the tracker exists, and a rule uses it or tracking is always on.</summary>
    public bool Tracking => _trackingIPv4 || _trackingIPv6;

    /// <summary>Whether packets of the family are tracked (and their fragments reassembled first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Tracks(L3Kind family) => family == L3Kind.IPv4 ? _trackingIPv4 : family == L3Kind.IPv6 && _trackingIPv6;

    /// <summary>This worker's shard of each table, by <see cref="CompiledRuleset.RecentTables"/> index.</summary>
    public RecentTable[] RecentTables { get; }
    public long[] RulePackets { get; }
    public long[] RuleBytes { get; }
    public long[] PolicyPackets { get; }
    public long[] PolicyBytes { get; }

    /// <summary>
    /// Prepares a fresh packet's evaluation; called for a whole burst before any of it is evaluated. It starts
    /// loading what the walk will look up, so the burst's cache misses overlap: the packet's connection's hash
    /// bucket when packets are tracked, and the recent-table buckets of its key when every recent match of its
    /// family looks up one key (<see cref="CompiledRuleset.IPv4Steering"/>). With the tables shared out between
    /// workers it also notes in <paramref name="cursor"/> which shard owns that key: the walk then skips the
    /// ownership test at each recent match, which inside the rule scan costs a call and the registers around it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prepare(ref ParsedPacket packet, ref EvaluationCursor cursor)
    {
        if (Tracks(packet.L3))
            _conntrack!.Table.PrefetchBucket(packet);
        var key = packet.L3 == L3Kind.IPv4 ? _ipv4Key : packet.L3 == L3Kind.IPv6 ? _ipv6Key : null;
        if (key is null)
            return;
        ref readonly var address = ref key.Side == RecentSide.Source ? ref packet.Source : ref packet.Destination;
        if (key.LargeTables is { } large)
        {
            foreach (var table in large)
                table.PrefetchBucket(address, packet.L3 == L3Kind.IPv6);
        }
        if (_shards.IsSharded)
            cursor.NoteKeyOwner(_shards.OwnerOf(address.And(key.Mask)), Generation);
    }

    /// <summary>
    /// The key every recent match of a family looks up: its side and the mask of its tables as this state holds
    /// them (a table kept across a reload keeps its mask), and the tables too large to stay in a core's cache (null: none).
    /// </summary>
    private sealed record FamilyKey(RecentSide Side, InetAddress Mask, RecentTable[]? LargeTables);

    /// <summary>
    /// A table smaller than this stays in a core's L2 cache (512 KB on Zen 2 and 3, 1 MB on Zen 4, 1.25 MB and
    /// more on recent Intel cores), where prefetching its buckets only costs time.
    /// </summary>
    public const long PrefetchedTableBytes = 1 << 20;

    private FamilyKey? FamilyKeyOf(L3Kind family)
    {
        var steps = _ruleset.Rules.Where(r => r.Family == family).SelectMany(r => r.Recent).ToList();
        var keys = steps.Select(step => (step.Side, RecentTables[step.Table].Mask)).Distinct().ToList();
        if (keys.Count != 1)
            return null;
        var large = steps.Select(step => RecentTables[step.Table]).Where(table => table.FootprintBytes >= PrefetchedTableBytes).Distinct().ToArray();
        if (large.Length == 0 && !_shards.IsSharded)
            return null;
        return new(keys[0].Side, keys[0].Mask, large.Length == 0 ? null : large);
    }

    /// <summary>Evaluates a packet from start to verdict on an unsharded state (one worker owns every table).</summary>
    public RuleVerdict Evaluate(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, out Decision decision)
    {
        if (_shards.IsSharded)
            throw new InvalidOperationException("a sharded ruleset state evaluates with a cursor");
        EvaluationCursor.Start(out var cursor);
        return Evaluate(ref packet, frame, inPort, outPort, now, ref cursor, out decision);
    }

    /// <summary>
    /// raw PREROUTING, connection tracking, then the filter chain, as the kernel orders them for crossing traffic.
    /// Non-IP frames are not IP netfilter's business and are accepted. Starts afresh, or resumes a suspended
    /// <paramref name="cursor"/>; returns <see cref="RuleVerdict.Continue"/> with the cursor filled in when the
    /// next step belongs to the shard <see cref="EvaluationCursor.Owner"/>: a recent match on an address it
    /// owns, the packet's connection, or the confirmation of a new connection once the packet is decided.
    /// </summary>
    public RuleVerdict Evaluate(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, ref EvaluationCursor cursor, out Decision decision)
    {
        decision = Decision.Default;
        if (packet.L3 == L3Kind.None)
            return RuleVerdict.Accept;
        var family = packet.L3 == L3Kind.IPv4 ? _ruleset.IPv4 : _ruleset.IPv6;
        bool tracking = packet.L3 == L3Kind.IPv4 ? _trackingIPv4 : _trackingIPv6;
        var walk = new PacketWalk(ref packet, frame, inPort, outPort, now, ref cursor.Ct);
        walk.KeyOwned = _shards.IsSharded && cursor.KeyOwnedBy(_shards.Index, Generation);
        var stage = cursor.Stage;
        RuleVerdict verdict;
        if (stage <= EvaluationStage.Raw)
        {
            if (family.Raw is not null)
            {
                verdict = Enter(family.Raw, EvaluationStage.Raw, ref walk, ref cursor, out decision);
                if (verdict != RuleVerdict.Accept)
                    return verdict;
            }
            stage = EvaluationStage.Conntrack;
        }
        if (stage == EvaluationStage.Conntrack)
        {
            if (tracking)
            {
                verdict = TrackConnection(ref walk, ref cursor, out decision);
                if (verdict != RuleVerdict.Accept)
                    return verdict;
            }
            stage = EvaluationStage.FilterStart;
        }
        if (stage == EvaluationStage.Confirm)
            return ConfirmConnection(ref cursor, now, out decision);
        if (stage == EvaluationStage.FilterStart)
            cursor.Stage = EvaluationStage.Fresh;
        verdict = family.Filter is null ? RuleVerdict.Accept : Enter(family.Filter, EvaluationStage.Filter, ref walk, ref cursor, out decision);
        if (verdict == RuleVerdict.Continue || !tracking || cursor.Ct.Flow == FlowTable.NoFlow)
            return verdict;
        return SettleConnection(verdict, ref cursor, now, ref decision);
    }

    /// <summary>
    /// nf_conntrack_in on the shard owning the packet's connection: -j CT --notrack leaves the packet UNTRACKED;
    /// otherwise the table finds or creates the connection and what the filter's conntrack matches read is filled
    /// in. A new connection waits unconfirmed in <see cref="PacketConntrack.Flow"/>.
    /// </summary>
    private RuleVerdict TrackConnection(ref PacketWalk walk, ref EvaluationCursor cursor, out Decision decision)
    {
        decision = Decision.Default;
        ref var ct = ref cursor.Ct;
        ct.Flow = FlowTable.NoFlow;
        if (ct.Template == CtTemplateKind.NoTrack)
            return RuleVerdict.Accept;
        var tracker = _conntrack!;
        int owner = tracker.OwnerOf(walk.Packet, walk.Frame);
        if (owner != tracker.Shard)
        {
            cursor.Stage = EvaluationStage.Conntrack;
            cursor.Generation = Generation;
            cursor.Owner = owner;
            return RuleVerdict.Continue;
        }
        cursor.Stage = EvaluationStage.Fresh;
        var table = tracker.Table;
        int policyId = ct.Template == CtTemplateKind.Template ? ct.TemplatePolicyId : 0;
        var result = table.Track(walk.Packet, walk.Frame, walk.Now, tracker.Timeouts.Current, policyId);
        if (result.Disposition == TrackDisposition.TableFull)
        {
            decision = Decision.ConntrackTableFull;
            return RuleVerdict.ConntrackTableFull;
        }
        ct.State = result.State switch
        {
            CtState.New => CtStateMask.New,
            CtState.Established => CtStateMask.Established,
            CtState.Related => CtStateMask.Related,
            CtState.Untracked => CtStateMask.Untracked,
            _ => CtStateMask.Invalid,
        };
        ct.HasConnection = result.State is CtState.New or CtState.Established or CtState.Related;
        ct.Direction = result.Direction;
        if (result.Flow == FlowTable.NoFlow)
        {
            // A connection a RST has just ended (nf_ct_kill_acct): the packet keeps it as it was, and it is gone.
            ct.Protocol = walk.Packet.Protocol;
            (ct.Status, ct.ExpiresSeconds) = result.Disposition == TrackDisposition.Killed
                ? (StatusOf(table.KilledStatus), (uint)Math.Min(table.KilledSecondsLeft, uint.MaxValue))
                : (CtStatusMask.Confirmed, 0u);
            return RuleVerdict.Accept;
        }
        ref readonly var flow = ref table[result.Flow];
        ct.Protocol = flow.Original.Protocol;
        if (result.Disposition == TrackDisposition.Unconfirmed)
        {
            // Not yet in the table: unconfirmed. Until its confirmation the kernel's timer holds the timeout itself, not
            // a deadline, and nf_ct_expires still subtracts the 32-bit jiffies from it: --ctexpire reads what is left of
            // that difference, 0 once the jiffies count passes the timeout (a quirk copied as the kernel computes it).
            int left = (int)((uint)(flow.Deadline - walk.Now) - (uint)walk.Now);
            (ct.Status, ct.ExpiresSeconds) = (CtStatusMask.None, left > 0 ? (uint)(left / Jiffies.Hz) : 0);
            (ct.Flow, ct.FlowOwner) = (result.Flow, tracker.Shard);
            return RuleVerdict.Accept;
        }
        ct.Status = StatusOf(flow.Status);
        ct.ExpiresSeconds = (uint)Math.Min(flow.SecondsLeft(walk.Now), uint.MaxValue);
        return RuleVerdict.Accept;
    }

    // A confirmed connection's status bits as --ctstatus reads them.
    private static CtStatusMask StatusOf(FlowStatus status) => CtStatusMask.Confirmed
        | ((status & FlowStatus.SeenReply) != 0 ? CtStatusMask.SeenReply : 0)
        | ((status & FlowStatus.Assured) != 0 ? CtStatusMask.Assured : 0);

    /// <summary>The packet is decided: its new connection is confirmed (accepted) or forgotten (dropped) by the shard holding it.</summary>
    private RuleVerdict SettleConnection(RuleVerdict verdict, ref EvaluationCursor cursor, ulong now, ref Decision decision)
    {
        ref var ct = ref cursor.Ct;
        if (ct.FlowOwner != _shards.Index)
        {
            (ct.Settled, ct.SettledRule, ct.SettledChain) = (verdict, decision.RuleId, decision.ChainId);
            cursor.Stage = EvaluationStage.Confirm;
            cursor.Generation = Generation;
            cursor.Owner = ct.FlowOwner;
            decision = Decision.Default;
            return RuleVerdict.Continue;
        }
        return Settle(verdict, ref ct, now, ref decision);
    }

    /// <summary>The Confirm stage on the shard holding the new connection: whatever ruleset is current, it only settles the connection.</summary>
    public RuleVerdict ConfirmConnection(ref EvaluationCursor cursor, ulong now, out Decision decision)
    {
        ref var ct = ref cursor.Ct;
        decision = new Decision(ct.SettledRule, ct.SettledChain);
        cursor.Stage = EvaluationStage.Fresh;
        return Settle(ct.Settled, ref ct, now, ref decision);
    }

    /// <summary>
    /// The packet is dropped before its evaluation finished (the next worker's ring was full). A new connection it
    /// created waits unconfirmed on the shard that tracked it; the kernel frees such a connection with its skb.
    /// On this shard it is forgotten at once; on another, true names that shard and the connection, for
    /// <see cref="ForgetAbandonedConnection"/> there.
    /// </summary>
    public bool AbandonEvaluation(ref EvaluationCursor cursor, out int holder, out int flow)
    {
        ref var ct = ref cursor.Ct;
        (holder, flow) = (ct.FlowOwner, ct.Flow);
        ct.Flow = FlowTable.NoFlow;
        if (flow == FlowTable.NoFlow)
            return false;
        if (holder != _shards.Index)
            return true;
        _conntrack!.Table.Abandon(flow);
        return false;
    }

    /// <summary>Forgets this shard's unconfirmed connection whose packet another worker had to drop (<see cref="AbandonEvaluation"/>).</summary>
    public void ForgetAbandonedConnection(int flow) => _conntrack!.Table.Abandon(flow);

    private RuleVerdict Settle(RuleVerdict verdict, ref PacketConntrack ct, ulong now, ref Decision decision)
    {
        var table = _conntrack!.Table;
        int flow = ct.Flow;
        ct.Flow = FlowTable.NoFlow;
        if (verdict != RuleVerdict.Accept)
        {
            table.Abandon(flow);
            return verdict;
        }
        if (table.Confirm(flow, now) || ct.Protocol != 6)
            return RuleVerdict.Accept;
        // __nf_conntrack_confirm: another packet confirmed the same tuple first; TCP cannot share it, so this one is dropped.
        decision = Decision.ConntrackClash;
        return RuleVerdict.ConntrackClash;
    }

    /// <summary>
    /// What one evaluation reads besides the rules, in one place on the caller's stack: the walk and its calls
    /// pass one reference instead of six arguments, most of which the common rules never read.
    /// </summary>
    private ref struct PacketWalk(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, ref PacketConntrack ct)
    {
        public readonly ref ParsedPacket Packet = ref packet;
        public readonly ref PacketConntrack Ct = ref ct;
        public readonly ReadOnlySpan<byte> Frame = frame;
        public readonly int InPort = inPort;
        public readonly int OutPort = outPort;
        public readonly ulong Now = now;

        // Prepare found this shard owns the key every recent match of the packet's family looks up.
        public bool KeyOwned;

        // The last recent key this shard found it owns: the next match on the same key (the usual case) skips the hash.
        public InetAddress OwnedKey;
        public bool HasOwnedKey;

        // A match dropped the packet on the spot (the kernel's hotdrop): the rule it stopped in neither matches nor counts.
        public bool Hotdropped;
    }

    /// <summary>
    /// The common walk in a straight line: a fresh packet whose first match in the entry chain accepts or drops
    /// it, or that reaches the policy. The rest (a matching rule that jumps, returns, goes to or only counts, or
    /// a suspended walk to resume) continues in <see cref="Traverse"/>: out of the common path, its jump stack
    /// and resume state no longer take the registers the rule scan needs (about 2 ns a packet).
    /// A call of its own, so that the worker's burst loop compiles the same whatever the JIT's inlining budget.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private RuleVerdict Enter(CompiledChain entry, EvaluationStage stage, ref PacketWalk walk, ref EvaluationCursor cursor, out Decision decision)
    {
        if (cursor.Stage == stage)
            return Traverse(entry, stage, ref walk, ref cursor, -1, out decision);
        var rules = entry.Rules;
        int matched = FirstMatch(rules, 0, ref walk.Packet, ref walk, ref cursor);
        if ((uint)matched < (uint)rules.Length)
        {
            var rule = rules[matched];
            if (walk.Hotdropped)
                return Hotdrop(entry, out decision);
            if (rule.Target is not (TargetKind.Accept or TargetKind.Drop))
                return Traverse(entry, stage, ref walk, ref cursor, matched, out decision);
            CountMatch(rule, walk.Packet.IpLength);
            decision = new Decision(rule.Id, entry.Id);
            return rule.Target == TargetKind.Accept ? RuleVerdict.Accept : RuleVerdict.Drop;
        }
        if (matched < 0)
            return Suspend(ref cursor, stage, entry, ~matched, 0, out decision);
        return Policy(entry, walk.Packet.IpLength, out decision);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountMatch(CompiledRule rule, int bytes)
    {
        RulePackets[rule.Id]++;
        RuleBytes[rule.Id] += bytes;
    }

    /// <summary>
    /// x_tables' walk of one entry chain and the user chains it reaches, from its first rule, from the entry
    /// chain's rule <paramref name="matched"/> (known to match, its target still to be taken), or from where
    /// <paramref name="cursor"/> stopped. Locals need no zeroing: each is written before it is read.
    /// </summary>
    [SkipLocalsInit]
    private RuleVerdict Traverse(CompiledChain entry, EvaluationStage stage, ref PacketWalk walk, ref EvaluationCursor cursor, int matched, out Decision decision)
    {
        var chain = entry;
        int position = 0, depth = 0;
        if (cursor.Stage == stage)
        {
            var resumed = Resume(ref walk, ref cursor);
            (chain, position, depth) = (resumed.Chain, resumed.Position, resumed.Depth);
            if (resumed.Match == MatchResult.Elsewhere)
                return Suspend(ref cursor, stage, chain, position, depth, out decision);
            if (resumed.Match == MatchResult.Match)
                matched = position;
            else
                position++;
        }
        var rules = chain.Rules;
        while (true)
        {
            if (matched < 0)
            {
                matched = FirstMatch(rules, position, ref walk.Packet, ref walk, ref cursor);
                if (matched < 0)
                    return Suspend(ref cursor, stage, chain, ~matched, depth, out decision);
                if (matched >= rules.Length)
                {
                    matched = -1;
                    // The end of a built-in chain, or of a user chain with nothing to return to (reached by -g from the built-in one).
                    if (chain.IsBuiltin || depth == 0)
                        return Policy(entry, walk.Packet.IpLength, out decision);
                    depth--;
                    chain = _ruleset.ChainsById[_stackChains[depth]];
                    rules = chain.Rules;
                    position = _stackPositions[depth];
                    continue;
                }
            }
            position = matched;
            matched = -1;
            if (walk.Hotdropped)
                return Hotdrop(chain, out decision);
            var rule = rules[position];
            CountMatch(rule, walk.Packet.IpLength);
            switch (rule.Target)
            {
                case TargetKind.Accept:
                    decision = new Decision(rule.Id, chain.Id);
                    return RuleVerdict.Accept;
                case TargetKind.Drop:
                    decision = new Decision(rule.Id, chain.Id);
                    return RuleVerdict.Drop;
                case TargetKind.Return:
                    if (depth == 0)
                        return Policy(entry, walk.Packet.IpLength, out decision);
                    depth--;
                    chain = _ruleset.ChainsById[_stackChains[depth]];
                    rules = chain.Rules;
                    position = _stackPositions[depth];
                    break;
                case TargetKind.Jump:
                    _stackChains[depth] = chain.Id;
                    _stackPositions[depth] = position + 1;
                    depth++;
                    chain = rule.TargetChain!;
                    rules = chain.Rules;
                    position = 0;
                    break;
                case TargetKind.Goto:
                    chain = rule.TargetChain!;
                    rules = chain.Rules;
                    position = 0;
                    break;
                case TargetKind.Ct:
                    ApplyCtTarget(rule, ref walk.Ct);
                    position++;
                    break;
                case TargetKind.Log:
                    WriteLog(rule, ref walk);
                    position++;
                    break;
                default:
                    position++;
                    break;
            }
        }
    }

    /// <summary>xt_LOG: a line about the packet, then the next rule. There is an output device in FORWARD only.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteLog(CompiledRule rule, ref PacketWalk walk) =>
        _log?.Write(rule.Rule.Log!, walk.Packet, walk.Frame, walk.InPort, rule.Forwarding ? walk.OutPort : -1, walk.Now);

    /// <summary>
    /// xt_CT: a packet that already carries a template (or --notrack) keeps it. Until tracking runs, raw's
    /// conntrack matches see the template as a NEW conntrack (confirmed, expiring now) and --notrack as UNTRACKED.
    /// </summary>
    private static void ApplyCtTarget(CompiledRule rule, ref PacketConntrack ct)
    {
        if (ct.Template != CtTemplateKind.None)
            return;
        ct.Template = rule.CtTemplate;
        ct.TemplatePolicyId = rule.CtPolicyId;
        bool untracked = rule.CtTemplate == CtTemplateKind.NoTrack;
        ct.State = untracked ? CtStateMask.Untracked : CtStateMask.New;
        ct.HasConnection = !untracked;
        (ct.Direction, ct.Status, ct.ExpiresSeconds, ct.Protocol) = (FlowDirection.Original, CtStatusMask.Confirmed, 0, 0);
    }

    /// <summary>Where a suspended evaluation stood, and the outcome of the recent match it resumes with.</summary>
    private readonly record struct ResumePoint(CompiledChain Chain, int Position, int Depth, MatchResult Match);

    /// <summary>Restores the chain, rule and jump stack of a suspended evaluation and runs the rule's remaining matches.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ResumePoint Resume(ref PacketWalk walk, ref EvaluationCursor cursor)
    {
        var chain = _ruleset.ChainsById[cursor.Chain];
        int position = cursor.Position, depth = cursor.Depth;
        for (int d = 0; d < depth; d++)
        {
            _stackChains[d] = (int)(cursor.Stack[d] >> 16);
            _stackPositions[d] = (int)(cursor.Stack[d] & 0xFFFF);
        }
        cursor.Stage = EvaluationStage.Fresh;
        // The rule passed everything before the recent match it stopped at.
        var match = MatchRecent(chain.Rules[position], cursor.Recent, ref walk.Packet, ref walk, ref cursor);
        return new ResumePoint(chain, position, depth, match);
    }

    /// <summary>
    /// The position of the first rule from <paramref name="position"/> on that matches; the chain's length when
    /// none does; the complement (~position) of a rule whose next recent match belongs to another shard.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FirstMatch(CompiledRule[] rules, int position, ref ParsedPacket p, ref PacketWalk walk, ref EvaluationCursor cursor)
    {
        for (; (uint)position < (uint)rules.Length; position++)
        {
            var rule = rules[position];
            if (!Passes(rule, rule.Checks, ref p, ref walk))
                continue;
            if (rule.Recent.Length == 0 || walk.Hotdropped)
                return position;
            var match = MatchRecent(rule, 0, ref p, ref walk, ref cursor);
            if (match == MatchResult.Match)
                return position;
            if (match == MatchResult.Elsewhere)
                return ~position;
        }
        return position;
    }

    /// <summary>Records where evaluation stands; MatchRecent has already filled in the recent match and the owner.</summary>
    private RuleVerdict Suspend(ref EvaluationCursor cursor, EvaluationStage stage, CompiledChain chain, int position, int depth, out Decision decision)
    {
        cursor.Stage = stage;
        cursor.Generation = Generation;
        cursor.Chain = (ushort)chain.Id;
        cursor.Position = (ushort)position;
        cursor.Depth = (byte)depth;
        for (int d = 0; d < depth; d++)
            cursor.Stack[d] = ((uint)_stackChains[d] << 16) | (uint)_stackPositions[d];
        decision = Decision.Default;
        return RuleVerdict.Continue;
    }

    /// <summary>ipt_do_table after a hotdrop: the packet is dropped where the walk stands, counted by no rule and no policy.</summary>
    private static RuleVerdict Hotdrop(CompiledChain chain, out Decision decision)
    {
        decision = Decision.Hotdrop(chain.Id);
        return RuleVerdict.Drop;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RuleVerdict Policy(CompiledChain entry, int bytes, out Decision decision)
    {
        PolicyPackets[entry.Id]++;
        PolicyBytes[entry.Id] += bytes;
        decision = new Decision(-1, entry.Id);
        return entry.PolicyVerdict;
    }

    private enum MatchResult : byte
    {
        NoMatch,
        Match,
        /// <summary>A recent match needs another shard's table; the cursor names the match and the owner.</summary>
        Elsewhere,
    }

    /// <summary>
    /// The rule's recent matches from <paramref name="first"/> on, each followed by the pure checks between it
    /// and the next one; everything before <paramref name="first"/> has passed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MatchResult MatchRecent(CompiledRule rule, int first, ref ParsedPacket p, ref PacketWalk walk, ref EvaluationCursor cursor)
    {
        var steps = rule.Recent;
        for (int r = first; r < steps.Length; r++)
        {
            ref readonly var step = ref steps[r];
            var table = RecentTables[step.Table];
            ref readonly var address = ref step.Side == RecentSide.Source ? ref p.Source : ref p.Destination;
            if (_shards.IsSharded && !walk.KeyOwned && !OwnsKey(table, address, r, ref walk, ref cursor))
                return MatchResult.Elsewhere;
            if (!table.Match(step.Match, address, p.L3 == L3Kind.IPv6, p.Ttl, walk.Now))
                return MatchResult.NoMatch;
            if (step.ChecksAfter != RuleChecks.None)
            {
                if (!Passes(rule, step.ChecksAfter, ref p, ref walk))
                    return MatchResult.NoMatch;
                if (walk.Hotdropped)
                    return MatchResult.Match;
            }
        }
        return MatchResult.Match;
    }

    /// <summary>Whether this shard owns the table's key for <paramref name="address"/>; if not, names the owner and the recent match in the cursor.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool OwnsKey(RecentTable table, in InetAddress address, int recent, ref PacketWalk walk, ref EvaluationCursor cursor)
    {
        var key = address.And(table.Mask);
        if (walk.HasOwnedKey && walk.OwnedKey.Equals(key))
            return true;
        int owner = _shards.OwnerOf(key);
        if (owner == _shards.Index)
        {
            (walk.OwnedKey, walk.HasOwnedKey) = (key, true);
            return true;
        }
        cursor.Owner = owner;
        cursor.Recent = (byte)recent;
        return false;
    }

    /// <summary>
    /// The pure tests named by <paramref name="checks"/> (ip_packet_match and the -m matches other than recent):
    /// the common ones inline, the others in one call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Passes(CompiledRule rule, RuleChecks checks, ref ParsedPacket p, ref PacketWalk walk)
    {
        if ((checks & RuleChecks.UpperLayer) != 0 && p.UpperLayerUnknown)
            return HotdropsUnknownUpperLayer(rule, ref p, ref walk);
        if ((checks & RuleChecks.Multiport) != 0 && p.L4Length < MultiportBytes && p.Fragment != FragmentKind.NonFirst)
            return HotdropsTinygram(rule, ref p, ref walk);
        if ((checks & RuleChecks.Protocol) != 0 && (p.Protocol == rule.Protocol) == rule.ProtocolInvert)
            return false;
        if ((checks & RuleChecks.Source) != 0 && rule.Source.Contains(p.Source) == rule.SourceInvert)
            return false;
        if ((checks & RuleChecks.Destination) != 0 && rule.Destination.Contains(p.Destination) == rule.DestinationInvert)
            return false;
        if ((checks & RuleChecks.FirstFragment) != 0 && p.Fragment == FragmentKind.NonFirst)
            return HotdropsFragment(rule, ref p, ref walk);
        if ((checks & RuleChecks.SourcePort) != 0 && ((uint)(p.SourcePort - rule.SourcePortFirst) <= rule.SourcePortSpan) == rule.SourcePortInvert)
            return false;
        if ((checks & RuleChecks.DestinationPort) != 0 && ((uint)(p.DestinationPort - rule.DestinationPortFirst) <= rule.DestinationPortSpan) == rule.DestinationPortInvert)
            return false;
        if ((checks & RuleChecks.TcpFlags) != 0 && ((p.TcpFlags & rule.TcpFlagsMask) == rule.TcpFlagsCompare) == rule.TcpFlagsInvert)
            return false;
        if ((checks & RuleChecks.CtState) != 0 && ((walk.Ct.State & rule.CtStates) != 0) == rule.CtStateInvert)
            return false;
        return (checks & RuleChecks.LessCommon) == 0 || PassesLessCommon(rule, checks, ref p, ref walk);
    }

    // multiport_mt reads the 4 bytes of ports of a packet that is not a later fragment, and drops one too short to have
    // them on the spot ("evil offset=0 tinygram"), once the matches before it in the rule pass. TCP and UDP headers cut
    // short never get here (the parser drops them); SCTP, DCCP and UDP-Lite ones do.
    private bool HotdropsTinygram(CompiledRule rule, ref ParsedPacket p, ref PacketWalk walk) =>
        HotdropIfPassing(rule, rule.ChecksBeforeMultiport, ref p, ref walk);

    private const int MultiportBytes = 4;

    // ip6_packet_match compares addresses and interfaces before it looks for the protocol; when they pass and
    // ipv6_find_hdr fails (reporting offset 0), the packet is dropped on the spot.
    private bool HotdropsUnknownUpperLayer(CompiledRule rule, ref ParsedPacket p, ref PacketWalk walk) =>
        HotdropIfPassing(rule, rule.Checks & (RuleChecks.Source | RuleChecks.Destination | RuleChecks.InInterface | RuleChecks.OutInterface), ref p, ref walk);

    /// <summary>
    /// A match that cannot look at the packet drops it (hotdrop) when the checks before it in the rule, <paramref name="before"/>,
    /// pass: the walk is marked and the rule stops here (true), and its callers end the walk with DROP. Otherwise the
    /// rule does not match (false). Out of line: these packets are rare.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool HotdropIfPassing(CompiledRule rule, RuleChecks before, ref ParsedPacket p, ref PacketWalk walk)
    {
        if (!Passes(rule, before, ref p, ref walk))
            return false;
        walk.Hotdropped = true;
        return true;
    }

    /// <summary>
    /// A non-first fragment never matches tcp, udp, icmp or multiport; but tcp_mt drops an IPv4 fragment that starts
    /// 8 bytes in ("evil TCP offset=1 frag": it could rewrite the flags of a first fragment already let through),
    /// if the matches before it in the rule let it get that far (<see cref="HotdropIfPassing"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool HotdropsFragment(CompiledRule rule, ref ParsedPacket p, ref PacketWalk walk) =>
        rule.HotdropsTcpFragmentAtEight && p.FragmentOffset == 8 && HotdropIfPassing(rule, rule.ChecksBeforeTcpMatch, ref p, ref walk);

    // eth_type_trans from the destination address; a frame addressed to one station is one the kernel would route as its own.
    private static PacketType PacketTypeOf(ReadOnlySpan<byte> frame) =>
        (frame[0] & 1) == 0 ? PacketType.Unicast
        : BinaryPrimitives.ReadUInt32LittleEndian(frame) == uint.MaxValue && BinaryPrimitives.ReadUInt16LittleEndian(frame[4..]) == ushort.MaxValue ? PacketType.Broadcast
        : PacketType.Multicast;

    private static bool InRange(in InetAddress address, UInt128 first, UInt128 last)
    {
        var value = address.Numeric;
        return value >= first && value <= last;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool PassesLessCommon(CompiledRule rule, RuleChecks checks, ref ParsedPacket p, ref PacketWalk walk)
    {
        if ((checks & RuleChecks.InInterface) != 0 && !rule.InPorts[walk.InPort])
            return false;
        if ((checks & RuleChecks.OutInterface) != 0 && !rule.OutPorts[walk.OutPort])
            return false;
        if ((checks & RuleChecks.Fragment) != 0 && (p.Fragment == FragmentKind.NonFirst) == rule.FragmentInvert)
            return false;
        if ((checks & RuleChecks.IcmpType) != 0)
        {
            bool typeMatches = rule.IcmpAnyType
                || (p.IcmpType == rule.IcmpType && (rule.IcmpCode < 0 || p.IcmpCode == rule.IcmpCode));
            if (typeMatches == rule.IcmpInvert)
                return false;
        }
        if ((checks & RuleChecks.Multiport) != 0 && rule.Multiport!.Matches(p.SourcePort, p.DestinationPort) == rule.MultiportInvert)
            return false;
        if ((checks & RuleChecks.Conntrack) != 0)
        {
            foreach (ref readonly var match in rule.Conntrack.AsSpan())
            {
                if (!match.Matches(walk.Ct))
                    return false;
            }
        }
        if ((checks & RuleChecks.MacSource) != 0)
        {
            var frame = walk.Frame;
            bool same = BinaryPrimitives.ReadUInt32LittleEndian(frame.Slice(6, 4)) == rule.MacSourceLow
                && BinaryPrimitives.ReadUInt16LittleEndian(frame.Slice(10, 2)) == rule.MacSourceHigh;
            if (same == rule.MacSourceInvert)
                return false;
        }
        if ((checks & RuleChecks.SourceRange) != 0 && InRange(p.Source, rule.SourceRangeFirst, rule.SourceRangeLast) == rule.SourceRangeInvert)
            return false;
        if ((checks & RuleChecks.DestinationRange) != 0 && InRange(p.Destination, rule.DestinationRangeFirst, rule.DestinationRangeLast) == rule.DestinationRangeInvert)
            return false;
        if ((checks & RuleChecks.Length) != 0 && (p.IpLength >= rule.LengthMin && p.IpLength <= rule.LengthMax) == rule.LengthInvert)
            return false;
        if ((checks & RuleChecks.Ttl) != 0 && !rule.Ttl!.Matches(rule.Forwarding ? (byte)(p.Ttl - 1) : p.Ttl))
            return false;
        if ((checks & RuleChecks.PacketType) != 0 && (PacketTypeOf(walk.Frame) == rule.PacketType) == rule.PacketTypeInvert)
            return false;
        // Last: xt_limit takes a credit only from a packet every match before it let through (on this worker's bucket).
        return (checks & RuleChecks.Limit) == 0 || _limits[rule.Id].Take(rule.LimitCost, rule.LimitCap, walk.Now);
    }
}
