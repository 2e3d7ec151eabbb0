// SPDX-License-Identifier: MIT
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// The ruleset a reload is installing, shared by every worker's verdict stage. The management thread publishes
/// it before posting the reload to the workers' mailboxes, which run it one after the other; a worker that meets
/// a packet suspended under it before its own mailbox turn installs it there and then (<see cref="RulesetVerdict"/>),
/// so the packet is decided under the ruleset it started under. One writer (management), read by the workers.
/// </summary>
public sealed class PendingRuleset
{
    private Published? _published;

    /// <summary>Makes <paramref name="ruleset"/> the one to install as generation <paramref name="generation"/>.</summary>
    public void Publish(int generation, CompiledRuleset ruleset) => Volatile.Write(ref _published, new Published(generation, ruleset));

    /// <summary>The published ruleset, if it is the one for <paramref name="generation"/>.</summary>
    public CompiledRuleset? For(int generation) => Volatile.Read(ref _published) is { } p && p.Generation == generation ? p.Ruleset : null;

    private sealed record Published(int Generation, CompiledRuleset Ruleset);
}
