// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// The iptables ruleset as a worker's verdict stage: raw PREROUTING, then the filter chain, with this
/// worker's shards of the recent tables and its counters. The output port is the input port's peer
/// (bump-in-the-wire). A reload replaces the state on the worker's own thread (<see cref="Replace"/>); the
/// state before it is kept so a packet suspended under the old ruleset finishes under it, as in the kernel,
/// where a packet sees one ruleset from its first rule to its verdict.
/// </summary>
public struct RulesetVerdict : IVerdictStage
{
    private RulesetState _state;
    private RulesetState? _previous;
    private readonly int[] _peers;
    private readonly VerdictTrace? _trace;

    public RulesetVerdict(RulesetState state, int[] peers, VerdictTrace? trace = null)
    {
        _state = state;
        _peers = peers;
        _trace = trace;
    }

    public readonly RulesetState State => _state;

    public void Replace(RulesetState next)
    {
        _previous = _state;
        _state = next;
    }

    public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor)
    {
        var state = _state;
        if (cursor.IsSuspended && cursor.Generation != state.Generation)
        {
            if (_previous?.Generation == cursor.Generation)
                state = _previous;
            else
                EvaluationCursor.Start(out cursor); // two reloads while it travelled (microseconds): start over under the current rules
        }
        // The packet's arrival time travels with it, so a resumed evaluation sees the clock the first worker saw.
        var verdict = state.Evaluate(ref packet, frame, inPort, _peers[inPort], Jiffies.FromNanoseconds(timestampNanoseconds), ref cursor, out var decision);
        if (verdict == RuleVerdict.Continue)
            return Verdict.Continue;
        _trace?.Decided(timestampNanoseconds, verdict == RuleVerdict.Accept, decision);
        return verdict == RuleVerdict.Accept ? Verdict.Accept : Verdict.Drop;
    }

    public void Malformed(DropReason reason, int inPort, long timestampNanoseconds) => _trace?.Malformed(timestampNanoseconds, reason);

    /// <summary>
    /// When every recent match of the packet's family looks up one key, the owner of that key: the packet is
    /// then decided where it lands, with no handoff mid-evaluation. Otherwise the owner of its flow.
    /// </summary>
    public readonly int Owner(ref ParsedPacket packet, int workers)
    {
        var ruleset = _state.Ruleset;
        if ((packet.L3 == L3Kind.IPv4 ? ruleset.IPv4Steering : ruleset.IPv6Steering) is { } key)
            return _state.Shards.OwnerOf((key.Side == RecentSide.Source ? packet.Source : packet.Destination).And(key.Mask));
        return FlowSteering.OwnerOf(ref packet, workers);
    }
}
