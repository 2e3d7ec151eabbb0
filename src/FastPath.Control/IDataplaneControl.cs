// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Control;

/// <summary>
/// What the control server needs from the running dataplane. The daemon implements it by routing each call to
/// the worker shards over their command rings; every member is called on the management thread only.
/// </summary>
public interface IDataplaneControl
{
    /// <summary>The running ruleset (table names, rules for listings).</summary>
    CompiledRuleset Ruleset { get; }

    /// <summary>The current time in jiffies (<see cref="Jiffies.Hz"/> per second).</summary>
    ulong NowJiffies { get; }

    /// <summary>Entries of one recent table, in the order the proc file shows them; null when no table has that name.</summary>
    IReadOnlyList<RecentEntryView>? ReadRecentTable(string name);

    /// <summary>Applies a parsed proc write to the named table; ENOENT (2) when no table has that name.</summary>
    Errno WriteRecentTable(string name, RecentProcWrite write);

    /// <summary>Rule and policy counters summed over all workers, indexed like <see cref="CompiledRuleset.Rules"/> / <see cref="CompiledRuleset.Chains"/>.</summary>
    RuleCounters ReadCounters();

    /// <summary>
    /// Re-reads the rules file(s) the dataplane was started with; on error the running ruleset stays and the
    /// message is "file:line: what is wrong".
    /// </summary>
    ControlResult Reload();
}

/// <summary>Packet and byte counters: per rule (by rule id) and per built-in chain's policy (by chain id).</summary>
public sealed record RuleCounters(long[] RulePackets, long[] RuleBytes, long[] PolicyPackets, long[] PolicyBytes);

/// <summary>The outcome of a control operation: <see cref="Errno.None"/> is success.</summary>
public readonly record struct ControlResult(Errno Errno, string Message);
