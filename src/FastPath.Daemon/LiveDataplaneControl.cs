// SPDX-License-Identifier: MIT
using FastPath.Control;
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane;
using FastPath.Dataplane.Native;
using FastPath.Dataplane.Workers;

namespace FastPath.Daemon;

/// <summary>
/// The control server's view of a running dataplane. Called on the management thread only; it never touches
/// a worker's shard itself: reads, writes and ruleset replacement are posted to the workers' mailboxes and
/// run on their own threads between two polls. Counters are read directly (one writer each, 64-bit aligned).
/// </summary>
internal sealed class LiveDataplaneControl : IDataplaneControl
{
    // A worker runs a posted action at its next loop turn, microseconds away; on a machine whose cores other busy
    // threads share, the scheduler was seen to keep a worker's turn 2 s away. Below the client's 10 s, so that an
    // operator hears of a worker that never comes back.
    private static readonly TimeSpan WorkerTimeout = TimeSpan.FromSeconds(8);

    private readonly DataplaneHost<RulesetVerdict> _host;
    private readonly RunOptions _options;
    private readonly IReadOnlyList<string> _portNames;
    private readonly RulesetState[] _states; // each worker's current state, as last installed by this thread
    private readonly PendingRuleset _reloads; // shared with the workers' verdict stages
    private readonly WorkerFlowTables _tables;

    public LiveDataplaneControl(DataplaneHost<RulesetVerdict> host, RulesetState[] states, PendingRuleset reloads, RunOptions options,
        IReadOnlyList<string> portNames, TimeoutPolicyRegistry timeouts)
    {
        _host = host;
        _states = states;
        _reloads = reloads;
        _options = options;
        _portNames = portNames;
        Timeouts = timeouts;
        _tables = new WorkerFlowTables(states.Select(s => s.Conntrack!.Table).ToArray());
    }

    /// <summary>The timeout policies: nfct on the control socket changes them, -j CT --timeout rules hold references.</summary>
    public TimeoutPolicyRegistry Timeouts { get; }

    /// <summary>Management's expiry tick: each worker sweeps its own connections, a slice per loop turn, never waited for.</summary>
    public void RequestConntrackSweeps()
    {
        ulong now = NowJiffies;
        foreach (var state in _states)
            state.Conntrack?.RequestSweep(now);
    }

    public CompiledRuleset Ruleset => _states[0].Ruleset;

    /// <summary>The states the workers run now (for the final counters).</summary>
    public IReadOnlyList<RulesetState> States => _states;

    /// <summary>The clock packets are stamped with (DPDK's TSC), in jiffies.</summary>
    public ulong NowJiffies => Jiffies.FromNanoseconds(Eal.NowNanoseconds());

    public IReadOnlyList<RecentEntryView>? ReadRecentTable(string name)
    {
        int table = TableId(name);
        if (table < 0)
            return null;
        var shards = new List<RecentEntryView>[_states.Length];
        _host.RunOnWorkers(w => (ref RulesetVerdict verdict) => shards[w] = verdict.State.RecentTables[table].Entries().ToList(), WorkerTimeout);
        return shards.SelectMany(s => s).ToList();
    }

    public Errno WriteRecentTable(string name, RecentProcWrite write)
    {
        int table = TableId(name);
        if (table < 0)
            return Errno.ENOENT;
        if (write.Kind == RecentProcWriteKind.Nothing)
            return Errno.None;
        ulong now = NowJiffies;
        // "/" empties every shard; an address goes to the shard owning it (writes are not masked, nor are their keys).
        int owner = write.Kind == RecentProcWriteKind.Flush ? -1 : _states[0].Shards.OwnerOf(write.Address);
        _host.RunOnWorkers(w => (ref RulesetVerdict verdict) =>
        {
            if (owner < 0 || owner == w)
                write.ApplyTo(verdict.State.RecentTables[table], now);
        }, WorkerTimeout);
        return Errno.None;
    }

    public RuleCounters ReadCounters()
    {
        var ruleset = Ruleset;
        var counters = new RuleCounters(new long[ruleset.Rules.Count], new long[ruleset.Rules.Count], new long[ruleset.Chains.Count], new long[ruleset.Chains.Count]);
        foreach (var state in _states)
        {
            for (int r = 0; r < ruleset.Rules.Count; r++)
            {
                counters.RulePackets[r] += Volatile.Read(ref state.RulePackets[r]);
                counters.RuleBytes[r] += Volatile.Read(ref state.RuleBytes[r]);
            }
            for (int c = 0; c < ruleset.Chains.Count; c++)
            {
                counters.PolicyPackets[c] += Volatile.Read(ref state.PolicyPackets[c]);
                counters.PolicyBytes[c] += Volatile.Read(ref state.PolicyBytes[c]);
            }
        }
        return counters;
    }

    /// <summary>
    /// iptables-restore for the running dataplane: the files are parsed and compiled here; only a ruleset that
    /// loads completely replaces the old one, on every worker, keeping the recent tables the new rules name.
    /// </summary>
    public ControlResult Reload()
    {
        if (!_options.HasRules)
            return new ControlResult(Errno.EINVAL, "no rules file was given at start-up (--rules/--rules6): nothing to reload");
        // A reload runs on the management thread: a FIFO would block it, and every control call and SIGTERM with it.
        foreach (var path in new[] { _options.Rules, _options.Rules6 })
        {
            switch (path is null ? UnixFileKind.Missing : UnixFile.Kind(path))
            {
                case UnixFileKind.Directory:
                    return new ControlResult(Errno.EISDIR, $"{path}: Is a directory");
                case UnixFileKind.Socket or UnixFileKind.Fifo or UnixFileKind.Other:
                    return new ControlResult(Errno.EINVAL, $"{path}: not a regular file: a reload re-reads the rules files given at start-up");
            }
        }
        CompiledRuleset next;
        try
        {
            var (v4, v6) = RulesFiles.Load(_options)!.Value;
            // As iptables-restore: a table a file leaves out keeps its rules.
            next = new CompiledRuleset(v4.Over(Ruleset.IPv4Rules), v6.Over(Ruleset.IPv6Rules), _portNames, _options.FilterInput, Timeouts);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new ControlResult(Errno.ENOENT, e.Message);
        }
        catch (Exception e) when (e is RulesetException or ArgumentException or IOException)
        {
            return new ControlResult(Errno.EINVAL, e.Message);
        }
        if (_states.Length > 1)
        {
            try
            {
                EvaluationCursor.CheckFits(next);
            }
            catch (ArgumentException e)
            {
                next.ReleaseTimeoutPolicies();
                return new ControlResult(Errno.EINVAL, e.Message);
            }
        }
        var previous = Ruleset;
        // Published first: a worker may have to install it before its mailbox turn, for a packet another worker
        // suspended under it.
        _reloads.Publish(_states[0].Generation + 1, next);
        _host.RunOnWorkers(w => (ref RulesetVerdict verdict) =>
        {
            verdict.InstallPending();
            _states[w] = verdict.State;
            if (verdict.State.Ruleset != next)
                throw new InvalidOperationException($"the worker runs generation {verdict.State.Generation}, not the one reloaded");
        }, WorkerTimeout);
        // As iptables-restore: the new rules took their policy references before the old ones give theirs back.
        previous.ReleaseTimeoutPolicies();
        return new ControlResult(Errno.None, $"{next.Rules.Count} rule(s), {next.RecentTables.Count} recent table(s)");
    }

    /// <summary>Buckets a worker lists or deletes from per mailbox turn: a few hundred microseconds, so a large table never stalls its worker for long.</summary>
    private const int ListingBucketsPerTurn = 16384;

    public IReadOnlyList<FlowView>? ListFlows()
    {
        ulong now = NowJiffies;
        var timeouts = Timeouts.Current;
        return SliceByWorker((FlowTable table, List<FlowView> into, ref int bucket) =>
            table.Snapshot(now, timeouts, into, ref bucket, ListingBucketsPerTurn));
    }

    public IReadOnlyList<FlowView>? DeleteFlows(Func<FlowView, bool> matches)
    {
        ulong now = NowJiffies;
        var timeouts = Timeouts.Current;
        return SliceByWorker((FlowTable table, List<FlowView> into, ref int bucket) =>
            table.Delete(now, timeouts, matches, into, ref bucket, ListingBucketsPerTurn));
    }

    /// <summary>One pass of a listing or a deletion over a worker's table, a slice per mailbox turn; true once done.</summary>
    private delegate bool TableSlice(FlowTable table, List<FlowView> into, ref int bucket);

    /// <summary>Runs <paramref name="slice"/> on every worker's own table until each is done; the views, worker after worker.</summary>
    private List<FlowView> SliceByWorker(TableSlice slice)
    {
        var shards = Enumerable.Range(0, _states.Length).Select(_ => new List<FlowView>()).ToArray();
        var cursors = new int[_states.Length];
        var done = new bool[_states.Length];
        while (!done.All(d => d))
        {
            _host.RunOnWorkers(w => (ref RulesetVerdict verdict) =>
            {
                if (!done[w])
                    done[w] = slice(verdict.State.Conntrack!.Table, shards[w], ref cursors[w]);
            }, WorkerTimeout);
        }
        return shards.SelectMany(s => s).ToList();
    }

    // Live, every worker has its table from the start (a reload may start using it), so the paths are always served.
    public int? ConntrackCount => _tables.ConntrackCount;

    public int? ConntrackBuckets => _tables.ConntrackBuckets;

    public int? ConntrackMax => _tables.ConntrackMax;

    public Errno SetConntrackMax(int max) => _tables.SetConntrackMax(max);

    public IReadOnlyList<ConntrackStatistics>? ConntrackStatistics => _tables.ConntrackStatistics;

    public TcpSettings? ConntrackTcpSettings => _tables.ConntrackTcpSettings;

    public Errno SetConntrackTcpSettings(TcpSettings settings) => _tables.SetConntrackTcpSettings(settings);

    public bool? ConntrackChecksum => _tables.ConntrackChecksum;

    public Errno SetConntrackChecksum(bool verify) => _tables.SetConntrackChecksum(verify);

    public bool? ConntrackTimestamps => _tables.ConntrackTimestamps;

    public Errno SetConntrackTimestamps(bool on) => _tables.SetConntrackTimestamps(on);

    public Errno SetConntrackAccounting(bool on) => _tables.SetConntrackAccounting(on);

    private int TableId(string name)
    {
        var tables = Ruleset.RecentTables;
        for (int t = 0; t < tables.Count; t++)
        {
            if (tables[t].Name == name)
                return t;
        }
        return -1;
    }
}
