// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Control;

/// <summary>
/// What the control server needs from the running dataplane. The daemon implements it by routing each call to
/// the worker shards over their command rings; every member is called on the management thread only.
/// </summary>
public interface IDataplaneControl : IConntrackTables
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

    // Connection tracking. The defaults say "not tracked here" (null, ENOSYS), so a dataplane without
    // conntrack serves the paths with ENOSYS instead of failing to build.

    /// <summary>
    /// Every worker's confirmed, unexpired connections at <see cref="NowJiffies"/> (<see cref="FlowTable.Snapshot"/>
    /// of each worker's table with the timeout snapshot that worker uses, one list after the other), or null
    /// when the dataplane tracks no connections.
    /// </summary>
    IReadOnlyList<FlowView>? ListFlows() => null;

    /// <summary>
    /// conntrack -D and -F: deletes every confirmed, unexpired connection <paramref name="matches"/> accepts, each on
    /// the worker owning it (<see cref="FlowTable.Delete"/>), and returns them as they were when deleted; null when the
    /// dataplane tracks no connections.
    /// </summary>
    IReadOnlyList<FlowView>? DeleteFlows(Func<FlowView, bool> matches) => null;
}

/// <summary>
/// The connection tables of all workers as the nf_conntrack_* sysctls and conntrack -S see them. The defaults say
/// "not tracked here" (null, ENOSYS).
/// </summary>
public interface IConntrackTables
{
    /// <summary>nf_conntrack_count: connections held by all workers (<see cref="FlowTable.Count"/> summed, unconfirmed ones included as the kernel counts them); null when not tracked.</summary>
    int? ConntrackCount => null;

    /// <summary>nf_conntrack_buckets: hash buckets of all workers' tables together; null when not tracked.</summary>
    int? ConntrackBuckets => null;

    /// <summary>nf_conntrack_max: the limit on connections of all workers together; null when not tracked.</summary>
    int? ConntrackMax => null;

    /// <summary>
    /// A write of nf_conntrack_max (already parsed as proc_dointvec does): from now on new connections beyond
    /// <paramref name="max"/> in all are early-dropped or refused as when the table is full. EINVAL for a value the
    /// dataplane cannot enforce (below 1, or above what its preallocated tables hold); ENOSYS when not tracked.
    /// </summary>
    Errno SetConntrackMax(int max) => Errno.ENOSYS;

    /// <summary>The TCP tracker's switches every worker uses (nf_conntrack_tcp_loose and the others); null when not tracked.</summary>
    TcpSettings? ConntrackTcpSettings => null;

    /// <summary>A write of one of nf_conntrack_tcp_loose, _be_liberal, _ignore_invalid_rst, _max_retrans: every worker uses <paramref name="settings"/> from its next packet; ENOSYS when not tracked.</summary>
    Errno SetConntrackTcpSettings(TcpSettings settings) => Errno.ENOSYS;

    /// <summary>Each worker's conntrack statistics, in worker order (conntrack -S's cpu rows); null when not tracked.</summary>
    IReadOnlyList<ConntrackStatistics>? ConntrackStatistics => null;

    /// <summary>nf_conntrack_checksum: whether tracking checks transport checksums (<see cref="FlowTable.VerifiesChecksums"/>); null when not tracked.</summary>
    bool? ConntrackChecksum => null;

    /// <summary>A write of nf_conntrack_checksum: every worker's table checks checksums from its next packet, or stops; ENOSYS when not tracked.</summary>
    Errno SetConntrackChecksum(bool verify) => Errno.ENOSYS;

    /// <summary>nf_conntrack_timestamp: whether new connections record their start (<see cref="FlowTable.Timestamps"/>); null when not tracked.</summary>
    bool? ConntrackTimestamps => null;

    /// <summary>A write of nf_conntrack_timestamp: every worker's table timestamps the connections it creates from its next packet, or stops; ENOSYS when not tracked.</summary>
    Errno SetConntrackTimestamps(bool on) => Errno.ENOSYS;

    /// <summary>A write of nf_conntrack_acct: every worker's table gives the connections it creates counters to show (<see cref="FlowTable.Accounting"/>), or stops; ENOSYS when not tracked.</summary>
    Errno SetConntrackAccounting(bool on) => Errno.ENOSYS;
}

/// <summary>Packet and byte counters: per rule (by rule id) and per built-in chain's policy (by chain id); each the bits of the kernel's u64, shown unsigned.</summary>
public sealed record RuleCounters(long[] RulePackets, long[] RuleBytes, long[] PolicyPackets, long[] PolicyBytes);

/// <summary>The outcome of a control operation: <see cref="Errno.None"/> is success.</summary>
public readonly record struct ControlResult(Errno Errno, string Message);
