// SPDX-License-Identifier: MIT
using System.Collections.Immutable;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// One named timeout policy (the kernel's struct nf_ct_timeout) as a snapshot holds it: immutable, so workers
/// may read it without locks; a change publishes a new object with the same <see cref="Id"/>.
/// </summary>
public sealed class TimeoutPolicy
{
    internal TimeoutPolicy(int id, string name, ushort l3Protocol, TimeoutProtocol protocol, ImmutableArray<uint> jiffies, int references)
    {
        Id = id;
        Name = name;
        L3Protocol = l3Protocol;
        Protocol = protocol;
        Jiffies = jiffies;
        References = references;
    }

    /// <summary>
    /// Stable for the policy's whole life (kept by an in-place replace, never reused after a delete): what a rule
    /// or a connection holds, so that a replace is seen and a deleted policy is not found.
    /// </summary>
    public int Id { get; }

    public string Name { get; }

    /// <summary>The layer-3 protocol it was created for (2 inet, 10 inet6; the kernel keeps whatever it is given).</summary>
    public ushort L3Protocol { get; }

    public TimeoutProtocol Protocol { get; }

    /// <summary>Per state, in ticks of <see cref="Recent.Jiffies.Hz"/>, as the kernel stores them.</summary>
    public ImmutableArray<uint> Jiffies { get; }

    /// <summary>How many rules (-j CT --timeout) hold the policy.</summary>
    public int References { get; }

    /// <summary>What the kernel reports as CTA_TIMEOUT_USE: its own list reference plus one per rule.</summary>
    public int Use => References + 1;

    /// <summary>The timeout of a state in seconds, as the kernel reports it (jiffies / HZ, rounded down).</summary>
    public uint Seconds(int state) => TimeoutJiffies.ToSeconds(Jiffies[state]);

    internal TimeoutPolicy WithJiffies(ImmutableArray<uint> jiffies) => new(Id, Name, L3Protocol, Protocol, jiffies, References);

    internal TimeoutPolicy WithReferences(int references) => new(Id, Name, L3Protocol, Protocol, Jiffies, references);
}

/// <summary>The default timeouts of one tracker as default-get reports them, with the layer-3 protocol asked for.</summary>
public sealed record TimeoutDefaults(ushort L3Protocol, TimeoutProtocol Protocol, ImmutableArray<uint> Jiffies)
{
    public uint Seconds(int state) => TimeoutJiffies.ToSeconds(Jiffies[state]);
}

/// <summary>The kernel's conversion between the seconds of a netlink request and the jiffies it stores.</summary>
public static class TimeoutJiffies
{
    /// <summary>
    /// seconds * HZ in 32-bit unsigned arithmetic, as the kernel's *_timeout_nlattr_to_obj computes it: a value
    /// above 2^32 / HZ wraps (4294967295 reads back as 17179868 at HZ = 250, 17179870 as 0).
    /// </summary>
    public static uint FromSeconds(uint seconds) => unchecked(seconds * (uint)Recent.Jiffies.Hz);

    public static uint ToSeconds(uint jiffies) => jiffies / (uint)Recent.Jiffies.Hz;
}
