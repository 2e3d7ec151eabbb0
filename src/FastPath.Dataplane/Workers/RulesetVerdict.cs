// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// The iptables ruleset as a worker's verdict stage: raw PREROUTING, then the filter chain, with this
/// worker's shards of the recent tables and its counters. The output port is the input port's peer
/// (bump-in-the-wire). A reload replaces the state on the worker's own thread (<see cref="InstallPending"/>); the
/// state before it is kept so a packet suspended under the old ruleset finishes under it, as in the kernel,
/// where a packet sees one ruleset from its first rule to its verdict. The workers take a reload one after the
/// other: a packet suspended under the new ruleset that reaches a worker still on the old one has that worker
/// install the new one first.
/// </summary>
public struct RulesetVerdict : IVerdictStage
{
    private RulesetState _state;
    private RulesetState? _previous;
    private readonly int[] _peers;
    private readonly VerdictTrace? _trace;
    private readonly PendingRuleset? _reloads;
    private readonly ulong _packetClockSweepTick; // jiffies; 0 when a management thread asks for sweeps
    private ulong _nextPacketClockSweep;
    private long _latestArrival;                  // nanoseconds: the packet clock never goes back for a fresh packet

    /// <param name="packetClockSweepTick">Offline, where no management thread runs: ask for a sweep of the connections each time the packets' clock has moved on by this many jiffies.</param>
    /// <param name="reloads">Where reloads publish the next ruleset, shared by all workers (live only).</param>
    public RulesetVerdict(RulesetState state, int[] peers, VerdictTrace? trace = null, ulong packetClockSweepTick = 0, PendingRuleset? reloads = null)
    {
        _state = state;
        _peers = peers;
        _trace = trace;
        _reloads = reloads;
        _packetClockSweepTick = packetClockSweepTick;
    }

    public readonly RulesetState State => _state;

    private void Replace(RulesetState next)
    {
        _previous = _state;
        _state = next;
    }

    /// <summary>
    /// Installs the ruleset <see cref="PendingRuleset"/> holds for the generation after this worker's, if it is not
    /// installed already (a packet suspended under it may have had it installed before the mailbox's turn).
    /// </summary>
    public void InstallPending()
    {
        if (_reloads?.For(_state.Generation + 1) is { } next)
            Replace(_state.Successor(next));
    }

    public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor)
    {
        var state = _state;
        if (cursor.IsSuspended && cursor.Generation != state.Generation)
            state = StateForReload(ref cursor);
        // The packet's arrival time travels with it, so a resumed evaluation sees the clock the first worker saw. A
        // fresh packet stamped before one already seen (a capture merged from several, or reordered) is decided at
        // the latest time seen, as the kernel's jiffies never go back: it cannot shorten a connection's life.
        long arrival = timestampNanoseconds;
        if (!cursor.IsSuspended)
        {
            if (arrival < _latestArrival)
                arrival = _latestArrival;
            else
                _latestArrival = arrival;
        }
        ulong now = Jiffies.FromNanoseconds(arrival);
        if (_packetClockSweepTick != 0 && now >= _nextPacketClockSweep)
            RequestPacketClockSweep(now);
        var verdict = state.Evaluate(ref packet, frame, inPort, _peers[inPort], now, ref cursor, out var decision);
        if (_trace is { } trace && verdict != RuleVerdict.Continue)
            trace.Decided(timestampNanoseconds, verdict == RuleVerdict.Accept, decision);
        return (Verdict)verdict; // the two enums number their values alike (RulesetVerdictTests checks it)
    }

    /// <summary>
    /// The state a cursor suspended under another generation resumes under (a rare path, kept out of the packet
    /// loop): the previous one; the next one, installed now, if another worker took the reload first; or after two
    /// reloads the current one, from where <see cref="EvaluationCursor.RestartUnder"/> puts it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private RulesetState StateForReload(ref EvaluationCursor cursor)
    {
        if (_previous?.Generation == cursor.Generation)
            return _previous;
        if (cursor.Generation == _state.Generation + 1)
        {
            InstallPending();
            if (_state.Generation == cursor.Generation)
                return _state;
        }
        cursor.RestartUnder(_state);
        return _state;
    }

    private void RequestPacketClockSweep(ulong now)
    {
        _state.Conntrack?.RequestSweep(now);
        _nextPacketClockSweep = now + _packetClockSweepTick;
    }

    public readonly void Prepare(ref ParsedPacket packet, ref EvaluationCursor cursor) => _state.Prepare(ref packet, ref cursor);

    public void Malformed(DropReason reason, int inPort, long timestampNanoseconds) => _trace?.Malformed(timestampNanoseconds, reason);

    /// <summary>
    /// With connection tracking of its family, the owner of the packet's connection: tracking then happens where the packet
    /// lands. Otherwise, when every recent match of the packet's family looks up one key, the owner of that key:
    /// the packet is then decided where it lands, with no handoff mid-evaluation. Otherwise the owner of its flow.
    /// </summary>
    public readonly int Owner(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int workers)
    {
        var state = _state;
        if (state.Tracks(packet.L3))
            return state.Conntrack!.OwnerOf(packet, frame);
        var ruleset = state.Ruleset;
        if ((packet.L3 == L3Kind.IPv4 ? ruleset.IPv4Steering : ruleset.IPv6Steering) is { } key)
            return state.Shards.OwnerOf((key.Side == RecentSide.Source ? packet.Source : packet.Destination).And(key.Mask));
        return FlowSteering.OwnerOf(ref packet, workers);
    }

    /// <summary>
    /// The RSS that delivers frames where <see cref="Owner"/> would steer them: by one address when the ruleset
    /// tracks nothing and every recent match looks up that address unmasked (the owner of a key is the queue a
    /// device hashing only that address picks, <see cref="RecentShardMap.OwnerOf"/>), by flow otherwise. A reload
    /// does not change it: frames then still meet their owners through the handoff rings.
    /// </summary>
    public static RssFields RssFieldsFor(CompiledRuleset ruleset, bool trackAlways)
    {
        if (trackAlways || ruleset.UsesConntrack)
            return RssFields.Flow;
        var v4 = ruleset.IPv4Steering;
        var v6 = ruleset.IPv6Steering;
        var probe = InetAddress.FromIPv4(uint.MaxValue);
        bool unmasked = (v4 is null || v4.Value.Mask.And(probe).Equals(probe)) && (v6 is null || v6.Value.Mask.Equals(InetAddress.AllOnes));
        var side = (v4 ?? v6)?.Side;
        if (side is null || !unmasked || (v4 is { } a && v6 is { } b && a.Side != b.Side))
            return RssFields.Flow;
        return side == RecentSide.Source ? RssFields.SourceAddress : RssFields.DestinationAddress;
    }

    /// <summary>The sweep of this worker's connections that management asked for, a slice per loop turn.</summary>
    public readonly void Housekeeping() => _state.Conntrack?.SweepPending(SweepSlotsPerTurn);

    public readonly bool Abandon(ref EvaluationCursor cursor, out int holder, out int token) => _state.AbandonEvaluation(ref cursor, out holder, out token);

    public readonly void ForgetAbandoned(int token) => _state.ForgetAbandonedConnection(token);

    /// <summary>Every slot of this worker's connection table may be an unconfirmed connection whose packet is abandoned elsewhere.</summary>
    public readonly int AbandonCapacity => _state.Conntrack?.Table.Capacity ?? 0;

    public readonly bool Defragments(L3Kind family) => _state.Tracks(family);

    public readonly VerdictTrace? Trace => _trace;

    /// <summary>Slots one loop turn looks at: a few microseconds, so a pass over a large table spreads over many turns.</summary>
    public const int SweepSlotsPerTurn = 4096;
}