// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Conntrack.Tracking;

namespace FastPath.Core.Rules;

/// <summary>Where a suspended evaluation stands, in the kernel's order for a crossing packet.</summary>
public enum EvaluationStage : byte
{
    /// <summary>Not suspended: evaluation starts at raw PREROUTING.</summary>
    Fresh,
    Raw,

    /// <summary>Connection tracking, on the worker owning the packet's connection.</summary>
    Conntrack,

    /// <summary>The filter chain from its first rule (after connection tracking, or restarted after two reloads).</summary>
    FilterStart,
    Filter,

    /// <summary>Decided; the owner of the packet's new connection confirms it (accepted) or forgets it (dropped).</summary>
    Confirm,
}

/// <summary>What raw's -j CT left on a packet for connection tracking (the kernel's conntrack template).</summary>
public enum CtTemplateKind : byte
{
    None,

    /// <summary>-j CT: the connection takes <see cref="PacketConntrack.TemplatePolicyId"/> (0: the defaults).</summary>
    Template,

    /// <summary>-j CT --notrack: the packet stays UNTRACKED.</summary>
    NoTrack,
}

/// <summary>
/// A packet's connection as the rules see it (the kernel's nf_ct_get: the conntrack and ctinfo), the template raw
/// set, and where a new connection waits for its first packet's verdict. It travels in the
/// <see cref="EvaluationCursor"/>, so a match on another worker reads what the connection's owner found.
/// </summary>
public struct PacketConntrack
{
    internal CtStateMask State;          // one bit: the packet's ctstate
    internal bool HasConnection;         // a conntrack is attached (not INVALID, not UNTRACKED)
    internal FlowDirection Direction;
    internal CtStatusMask Status;
    internal byte Protocol;              // the connection tuple's L4 protocol (--ctproto)
    internal uint ExpiresSeconds;        // nf_ct_expires / HZ as the filter sees it
    internal CtTemplateKind Template;
    internal int TemplatePolicyId;
    internal int FlowOwner;              // the shard holding Flow
    internal int Flow;                   // the packet's unconfirmed connection, or FlowTable.NoFlow
    internal RuleVerdict Settled;        // the verdict travelling back to the Confirm stage
    internal int SettledRule;
    internal int SettledChain;
}

/// <summary>
/// Where a packet's rule evaluation stopped because the next recent match needs an address another
/// worker's shard owns: the entry chain, the chain and rule, the match inside the rule, and the jump stack.
/// It travels with the packet on the SPSC handoff ring and the owner resumes from it, so the matches
/// already evaluated (and their side effects) are not repeated. A plain value type: copying it is the
/// whole handoff.
/// </summary>
public struct EvaluationCursor
{
    /// <summary>Jumps a suspended evaluation can carry; deeper rulesets are refused when tables are sharded.</summary>
    public const int MaxJumpDepth = 16;

    /// <summary>The worker that owns the address the suspended match looks up.</summary>
    public int Owner;

    /// <summary>The <see cref="RulesetState.Generation"/> the evaluation was suspended under.</summary>
    public int Generation;

    internal EvaluationStage Stage;
    internal byte Recent;       // index among the rule's recent matches of the one to resume with
    internal byte Depth;
    internal ushort Chain;
    internal ushort Position;
    internal JumpStack Stack;   // (chain << 16) | position to return to, per depth (as uint)
    internal PacketConntrack Ct;

    // The shard owning the packet's recent key (-1: not known) and the generation whose rules define that key.
    private int _keyOwner;
    private int _keyOwnerGeneration;

    public readonly bool IsSuspended => Stage != EvaluationStage.Fresh;

    /// <summary>The packet's connection as the last stage left it (for traces and tests).</summary>
    public readonly CtStateMask CtState => Ct.State;

    /// <summary>
    /// A cursor for a packet not evaluated yet. Only the stage and what raw's matches read before connection
    /// tracking runs (no conntrack, no template) are set: the rest is written before it is read, so starting a
    /// packet costs a few stores instead of clearing the jump stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Start(out EvaluationCursor cursor)
    {
        Unsafe.SkipInit(out cursor);
        cursor.Stage = EvaluationStage.Fresh;
        cursor.Ct.State = CtStateMask.Invalid;
        cursor.Ct.HasConnection = false;
        cursor.Ct.Template = CtTemplateKind.None;
        cursor.Ct.Flow = FlowTable.NoFlow; // no new connection to settle, even if a reload turns tracking on mid-way
        cursor._keyOwner = -1;
    }

    /// <summary>
    /// Notes which shard owns the key every recent match of the packet's family looks up under the rules of
    /// <paramref name="generation"/>. Ownership is the same on every worker, so the note travels with the cursor.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void NoteKeyOwner(int shard, int generation) => (_keyOwner, _keyOwnerGeneration) = (shard, generation);

    /// <summary>Whether a note says <paramref name="shard"/> owns the packet's recent key under the rules of <paramref name="generation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly bool KeyOwnedBy(int shard, int generation) => _keyOwner == shard && _keyOwnerGeneration == generation;

    /// <summary>
    /// For a packet suspended under a ruleset that is gone (two reloads while it travelled): what it has done
    /// to connections stays, the chain it was in starts again from its first rule under <paramref name="current"/>.
    /// A packet still in raw starts afresh; one waiting for tracking or confirmation goes on, as those stages do
    /// not depend on the rules.
    /// </summary>
    public void RestartUnder(RulesetState current)
    {
        Generation = current.Generation;
        if (Stage == EvaluationStage.Raw)
            Start(out this);
        else if (Stage == EvaluationStage.Filter)
            Stage = EvaluationStage.FilterStart;
    }

    /// <summary>Refuses a ruleset whose evaluation state would not fit: too deep, or too big for 16-bit chain and rule indexes.</summary>
    public static void CheckFits(CompiledRuleset ruleset)
    {
        if (ruleset.MaxJumpDepth > MaxJumpDepth)
            throw new ArgumentException($"the ruleset nests user chains {ruleset.MaxJumpDepth} deep; with recent tables shared out between workers at most {MaxJumpDepth} are supported");
        if (ruleset.Chains.Count > ushort.MaxValue || ruleset.Chains.Any(c => c.Rules.Length > ushort.MaxValue)
            || ruleset.Rules.Any(r => r.Recent.Length > byte.MaxValue))
            throw new ArgumentException($"with recent tables shared out between workers a ruleset holds at most {ushort.MaxValue} chains of {ushort.MaxValue} rules, each with at most {byte.MaxValue} recent matches");
    }

    [InlineArray(MaxJumpDepth)]
    internal struct JumpStack
    {
        private uint _element;
    }
}
