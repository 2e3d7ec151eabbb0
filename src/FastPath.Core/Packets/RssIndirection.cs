// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;

namespace FastPath.Core.Packets;

/// <summary>
/// How FastPath fills a device's RSS indirection table (RETA): the hash's low 6 bits pick one of 64 entries, and
/// entry e holds queue e·N/64, so each queue takes a contiguous block. A device's RETA (a multiple of 64 entries)
/// repeats that pattern, so a frame's queue depends only on its hash, whatever the device; software steering and
/// the recent tables' owners (<see cref="Recent.RecentShardMap"/>) use the same rule.
/// </summary>
public static class RssIndirection
{
    private const int EntryBits = 6;

    public const int Entries = 1 << EntryBits;

    /// <summary>The queue of <paramref name="queues"/> that an entry (or a hash) maps to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int QueueOf(uint hash, int queues) => (int)(((hash & (Entries - 1)) * (uint)queues) >> EntryBits);
}
