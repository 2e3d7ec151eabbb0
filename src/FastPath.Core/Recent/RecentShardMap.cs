// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>
/// Which worker owns which recent-table key: every (masked) address belongs to exactly one of
/// <see cref="Count"/> shards, the same one for every table, so a packet whose recent matches all look up
/// the same address moves at most once. <see cref="Index"/> is the shard of the worker holding this map.
/// </summary>
public readonly struct RecentShardMap
{
    public RecentShardMap(int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        Index = index;
        Count = count;
    }

    public static RecentShardMap Single => new(0, 1);

    public int Index { get; }
    public int Count { get; }

    public bool IsSharded => Count > 1;

    /// <summary>
    /// The shard owning <paramref name="key"/> (an address already masked by its table's mask): the queue a device
    /// whose RSS hashes only that address delivers it to, so frames steered that way need no handoff.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OwnerOf(in InetAddress key) => RssIndirection.QueueOf(ToeplitzHash.Symmetric.Address(key), Count);

    /// <summary>
    /// Each shard's share of a table of <paramref name="capacity"/> entries, rounded up: a recent table as a whole
    /// stays within about the configured size (ip_list_tot), as the kernel's does, and the connection tables
    /// together hold at least nf_conntrack_max.
    /// </summary>
    public int ShardCapacity(int capacity) => (capacity + Count - 1) / Count;
}
