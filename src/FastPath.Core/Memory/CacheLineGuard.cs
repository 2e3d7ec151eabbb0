// SPDX-License-Identifier: MIT
namespace FastPath.Core.Memory;

/// <summary>
/// Spacing between the objects of different workers. The runtime lays objects out in the order one thread
/// allocates them, on the ordinary heap and on the pinned one, so the objects of worker 1 (set up right after
/// worker 0's) would otherwise share cache lines with the last ones of worker 0: every write of one worker would
/// then take the line from the other (false sharing). An object holding per-worker state creates a guard before
/// its other allocations and another after them, and keeps both.
/// </summary>
public sealed class CacheLineGuard
{
    /// <summary>Two cache lines: also keeps the adjacent-line prefetcher from pairing two workers' lines.</summary>
    public const int Bytes = 128;

    private readonly byte[] _heap = new byte[Bytes];
    private readonly byte[] _pinned = GC.AllocateArray<byte>(Bytes, pinned: true);
}
