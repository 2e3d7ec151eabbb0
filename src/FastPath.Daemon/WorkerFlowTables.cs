// SPDX-License-Identifier: MIT
using FastPath.Control;
using FastPath.Core;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Recent;

namespace FastPath.Daemon;

/// <summary>
/// What the nf_conntrack_* sysctls and conntrack -S read and write of every worker's connection table: the limit
/// (each table holding its share), the counts, the checksum and TCP switches, the statistics. Written by the thread
/// that owns the control (management, or the start-up before any worker runs); each table publishes a write to its
/// worker. No tables (a dataplane that tracks nothing) answers null and ENOSYS, as a kernel without conntrack would.
/// </summary>
internal sealed class WorkerFlowTables(IReadOnlyList<FlowTable> tables) : IConntrackTables
{
    public int? ConntrackCount => Tracked ? tables.Sum(t => t.Count) : null;

    public int? ConntrackBuckets => Tracked ? tables.Sum(t => t.Buckets) : null;

    public int? ConntrackMax => Tracked ? tables.Sum(t => t.Limit) : null;

    /// <summary>nf_conntrack_max: each worker's table takes its share, up to what it preallocated (--conntrack-max).</summary>
    public Errno SetConntrackMax(int max)
    {
        if (!Tracked)
            return Errno.ENOSYS;
        int share = new RecentShardMap(0, tables.Count).ShardCapacity(max);
        if (max < 1 || share > tables.Min(t => t.Capacity))
            return Errno.EINVAL;
        foreach (var table in tables)
            table.Limit = share;
        return Errno.None;
    }

    public IReadOnlyList<ConntrackStatistics>? ConntrackStatistics => Tracked ? tables.Select(t => t.Statistics).ToList() : null;

    public TcpSettings? ConntrackTcpSettings => Tracked ? tables[0].TcpSettings : null;

    public Errno SetConntrackTcpSettings(TcpSettings settings)
    {
        foreach (var table in tables)
            table.TcpSettings = settings;
        return Tracked ? Errno.None : Errno.ENOSYS;
    }

    public bool? ConntrackChecksum => Tracked ? tables[0].VerifiesChecksums : null;

    public Errno SetConntrackChecksum(bool verify)
    {
        foreach (var table in tables)
            table.VerifiesChecksums = verify;
        return Tracked ? Errno.None : Errno.ENOSYS;
    }

    public bool? ConntrackTimestamps => Tracked ? tables[0].Timestamps : null;

    public Errno SetConntrackTimestamps(bool on)
    {
        foreach (var table in tables)
            table.Timestamps = on;
        return Tracked ? Errno.None : Errno.ENOSYS;
    }

    public Errno SetConntrackAccounting(bool on)
    {
        foreach (var table in tables)
            table.Accounting = on;
        return Tracked ? Errno.None : Errno.ENOSYS;
    }

    private bool Tracked => tables.Count > 0;
}
