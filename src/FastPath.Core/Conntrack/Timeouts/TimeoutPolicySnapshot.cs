// SPDX-License-Identifier: MIT
using System.Collections.Frozen;
using System.Collections.Immutable;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// The timeout policies and per-protocol defaults at one generation: immutable. The registry publishes a new one
/// for every change; a worker reads <see cref="TimeoutPolicyRegistry.Current"/> once per burst and uses that
/// snapshot for the whole burst.
/// </summary>
public sealed class TimeoutPolicySnapshot
{
    /// <summary>Ids below this are looked up in an array, without hashing: every tracked packet looks one up.</summary>
    private const int ArrayIds = 1024;

    private readonly TimeoutPolicy?[] _byIdBelowArrayIds; // indexed by id: the policies with an id below ArrayIds
    private readonly FrozenDictionary<int, TimeoutPolicy> _byId;
    private readonly ImmutableArray<ImmutableArray<uint>> _defaults;

    internal TimeoutPolicySnapshot(long generation, ImmutableArray<TimeoutPolicy> policies, ImmutableArray<ImmutableArray<uint>> defaults)
    {
        Generation = generation;
        Policies = policies;
        _defaults = defaults;
        _byId = policies.ToFrozenDictionary(p => p.Id);
        _byIdBelowArrayIds = new TimeoutPolicy?[policies.IsEmpty ? 0 : Math.Min(policies.Max(p => p.Id) + 1, ArrayIds)];
        foreach (var policy in policies)
        {
            if (policy.Id < _byIdBelowArrayIds.Length)
                _byIdBelowArrayIds[policy.Id] = policy;
        }
    }

    /// <summary>No policies, and the defaults a fresh network namespace starts with.</summary>
    internal static TimeoutPolicySnapshot Initial { get; } = new(0, [], CompiledDefaults());

    /// <summary>Counts the changes since the registry was created; management knows a change is live when every worker has seen it.</summary>
    public long Generation { get; }

    /// <summary>In the kernel's list order: creation order; a replace keeps the place.</summary>
    public ImmutableArray<TimeoutPolicy> Policies { get; }

    internal ImmutableArray<ImmutableArray<uint>> Defaults => _defaults;

    public TimeoutPolicy? FindById(int id)
        => (uint)id < (uint)_byIdBelowArrayIds.Length ? _byIdBelowArrayIds[id] : _byId.GetValueOrDefault(id);

    public TimeoutPolicy? Find(string name)
    {
        foreach (var policy in Policies)
        {
            if (policy.Name == name)
                return policy;
        }
        return null;
    }

    /// <summary>The current default of every state of a tracker, in jiffies.</summary>
    public ImmutableArray<uint> DefaultJiffies(TimeoutProtocol protocol) => _defaults[protocol.DefaultsSlot];

    /// <summary>
    /// The timeout of a connection in a state: its policy's when it holds one that still exists, otherwise the
    /// tracker's current default (the kernel clears a deleted policy from its connections: ctnl_untimeout).
    /// </summary>
    public uint JiffiesFor(int policyId, TimeoutProtocol protocol, int state) => JiffiesFor(policyId, protocol)[state];

    /// <summary>
    /// Every state's timeout for a connection under a policy, as <see cref="JiffiesFor(int, TimeoutProtocol, int)"/>
    /// picks them: one lookup for the several states a TCP packet may read. Policy ids start at 1, so 0 (no
    /// policy) skips the lookup.
    /// </summary>
    public ImmutableArray<uint> JiffiesFor(int policyId, TimeoutProtocol protocol) =>
        policyId != 0 && FindById(policyId) is { } policy && policy.Protocol == protocol
            ? policy.Jiffies
            : _defaults[protocol.DefaultsSlot];

    private static ImmutableArray<ImmutableArray<uint>> CompiledDefaults()
    {
        var slots = new ImmutableArray<uint>[TimeoutProtocols.DefaultsSlots];
        foreach (var protocol in TimeoutProtocols.All)
            slots[protocol.DefaultsSlot] = [.. protocol.DefaultSeconds.Select(TimeoutJiffies.FromSeconds)];
        return [.. slots];
    }
}
