// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;

namespace FastPath.Core.Rules;

/// <summary>Which entry chain a suspended evaluation was in.</summary>
public enum EvaluationStage : byte
{
    /// <summary>Not suspended: evaluation starts at raw PREROUTING.</summary>
    Fresh,
    Raw,
    Filter,
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

    public readonly bool IsSuspended => Stage != EvaluationStage.Fresh;

    /// <summary>
    /// A cursor for a packet not evaluated yet. Only the stage is set: the rest is written before it is
    /// read, so starting a packet costs one store instead of clearing the jump stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Start(out EvaluationCursor cursor)
    {
        Unsafe.SkipInit(out cursor);
        cursor.Stage = EvaluationStage.Fresh;
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
