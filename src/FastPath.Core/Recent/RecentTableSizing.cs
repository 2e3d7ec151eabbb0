// SPDX-License-Identifier: MIT
using System.Numerics;

namespace FastPath.Core.Recent;

/// <summary>
/// The sizes of one recent table: entries (the kernel's ip_list_tot, default 100), timestamps kept per
/// entry (ip_pkt_list_tot; 0 sizes the ring from the rules' --hitcount as the kernel does) and hash buckets
/// (ip_list_hash_size; 0 picks the kernel's 1 &lt;&lt; fls(capacity)).
/// </summary>
public sealed record RecentTableSize(int Capacity = 100, int Stamps = 0, int HashBuckets = 0)
{
    /// <summary>XT_RECENT_MAX_NSTAMPS: a ring never holds more.</summary>
    public const int MaxStamps = 65536;

    /// <summary>
    /// The ring size for a table whose rules ask for at most <paramref name="maxHitCount"/> hits: the
    /// kernel's choice between ip_pkt_list_tot and --hitcount, each rounded up to a power of two.
    /// </summary>
    public int StampSlotsFor(int ruleStampSlots, uint maxHitCount) =>
        Stamps == 0 ? ruleStampSlots : (int)Math.Max(BitOperations.RoundUpToPowerOf2((uint)Stamps), BitOperations.RoundUpToPowerOf2(maxHitCount));

    /// <summary>Null when the sizes are usable, else what is wrong with them.</summary>
    public string? Problem() =>
        Capacity < 1 ? $"capacity must be at least 1, got {Capacity}"
        : Stamps < 0 || Stamps > MaxStamps ? $"stamps must be from 0 to {MaxStamps}, got {Stamps}"
        : HashBuckets < 0 || (HashBuckets != 0 && !BitOperations.IsPow2(HashBuckets)) ? $"hash buckets must be 0 (automatic) or a power of two, got {HashBuckets}"
        : null;
}

/// <summary>Recent table sizes for a dataplane: a default for every table, and overrides by table name.</summary>
public sealed class RecentTableSizing(RecentTableSize defaults, IReadOnlyDictionary<string, RecentTableSize>? perTable = null)
{
    /// <summary>The kernel's module defaults: 100 entries, rings sized from --hitcount, automatic hash size.</summary>
    public static RecentTableSizing Kernel { get; } = new(new RecentTableSize());

    /// <summary>Every table with <paramref name="capacity"/> entries and the kernel's other defaults.</summary>
    public static RecentTableSizing WithCapacity(int capacity) => new(new RecentTableSize(capacity));

    public RecentTableSize Defaults { get; } = defaults;

    public IReadOnlyDictionary<string, RecentTableSize> PerTable { get; } = perTable ?? new Dictionary<string, RecentTableSize>();

    public RecentTableSize For(string table) => PerTable.TryGetValue(table, out var size) ? size : Defaults;
}
