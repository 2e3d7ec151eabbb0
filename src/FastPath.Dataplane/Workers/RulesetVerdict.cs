// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// The iptables ruleset as a worker's verdict stage: raw PREROUTING, then the filter chain, with this
/// worker's recent tables and counters. The output port is the input port's peer (bump-in-the-wire).
/// </summary>
public struct RulesetVerdict : IVerdictStage
{
    private readonly RulesetState _state;
    private readonly int[] _peers;
    private readonly VerdictTrace? _trace;

    public RulesetVerdict(RulesetState state, int[] peers, VerdictTrace? trace = null)
    {
        _state = state;
        _peers = peers;
        _trace = trace;
    }

    public readonly RulesetState State => _state;

    public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor)
    {
        // The packet's arrival time travels with it, so a resumed evaluation sees the clock the first worker saw.
        var verdict = _state.Evaluate(ref packet, frame, inPort, _peers[inPort], Jiffies.FromNanoseconds(timestampNanoseconds), ref cursor, out var decision);
        if (verdict == RuleVerdict.Continue)
            return Verdict.Continue;
        _trace?.Decided(timestampNanoseconds, verdict == RuleVerdict.Accept, decision);
        return verdict == RuleVerdict.Accept ? Verdict.Accept : Verdict.Drop;
    }

    public void Malformed(DropReason reason, int inPort, long timestampNanoseconds) => _trace?.Malformed(timestampNanoseconds, reason);
}
