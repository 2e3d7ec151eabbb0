// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Control.Tests;

/// <summary>
/// The dataplane side of the control socket for tests, built from the real parts: the rules files parsed and
/// compiled as the daemon does, one <see cref="RulesetState"/> (one worker, no shards), a clock the test sets.
/// Counters include the files' [packets:bytes], as after `iptables-restore -c`. One real <see cref="FlowTable"/>
/// holds the connections of the frames given to <see cref="Track"/>, timed by the <see cref="Timeouts"/> registry.
/// </summary>
internal sealed class SingleShardControl : IDataplaneControl
{
    private static readonly string[] PortNames = ["wan0", "lan0"];

    private readonly string? _rulesFile;
    private readonly string? _rules6File;
    private FamilyRuleset _ipv4;
    private FamilyRuleset _ipv6;
    private RulesetState _state;
    private int _conntrackMax;

    public SingleShardControl(string? rulesFile, string? rules6File = null)
    {
        _rulesFile = rulesFile;
        _rules6File = rules6File;
        (_ipv4, _ipv6, _state) = Load();
        _conntrackMax = Flows.Capacity;
    }

    public TimeoutPolicyRegistry Timeouts { get; } = new();

    public FlowTable Flows { get; } = new(capacity: 64);

    public ulong Now { get; set; } = 1_000_000;

    public CompiledRuleset Ruleset => _state.Ruleset;

    public ulong NowJiffies => Now;

    public IReadOnlyList<RecentEntryView>? ReadRecentTable(string name) =>
        Table(name)?.Entries().ToList();

    public Errno WriteRecentTable(string name, RecentProcWrite write)
    {
        if (Table(name) is not { } table)
            return (Errno)ControlError.ENOENT.Number;
        write.ApplyTo(table, Now);
        return Errno.None;
    }

    public RuleCounters ReadCounters()
    {
        var rules = Ruleset.Rules;
        var chains = Ruleset.Chains;
        return new RuleCounters(
            rules.Select(r => (r.Rule.CountersSet ? 0 : r.Rule.InitialPackets) + _state.RulePackets[r.Id]).ToArray(),
            rules.Select(r => (r.Rule.CountersSet ? 0 : r.Rule.InitialBytes) + _state.RuleBytes[r.Id]).ToArray(),
            chains.Select(c => Definition(c).PolicyPackets + _state.PolicyPackets[c.Id]).ToArray(),
            chains.Select(c => Definition(c).PolicyBytes + _state.PolicyBytes[c.Id]).ToArray());
    }

    public ControlResult Reload()
    {
        try
        {
            (_ipv4, _ipv6, _state) = Load();
            return new ControlResult(Errno.None, $"{Ruleset.Rules.Count} rules, {Ruleset.RecentTables.Count} recent tables");
        }
        catch (RulesetException e)
        {
            return new ControlResult(Errno.EINVAL, e.Message);
        }
    }

    public IReadOnlyList<FlowView>? ListFlows()
    {
        var flows = new List<FlowView>();
        Flows.Snapshot(Now, Timeouts.Current, flows);
        return flows;
    }

    public IReadOnlyList<FlowView>? DeleteFlows(Func<FlowView, bool> matches)
    {
        var deleted = new List<FlowView>();
        int bucket = 0;
        Flows.Delete(Now, Timeouts.Current, matches, deleted, ref bucket, Flows.Buckets);
        return deleted;
    }

    public int? ConntrackCount => Flows.Count;

    public int? ConntrackBuckets => Flows.Buckets;

    public int? ConntrackMax => _conntrackMax;

    public Errno SetConntrackMax(int max)
    {
        if (max < 1 || max > Flows.Capacity)
            return Errno.EINVAL;
        _conntrackMax = max;
        return Errno.None;
    }

    public IReadOnlyList<ConntrackStatistics>? ConntrackStatistics => [Flows.Statistics];

    public TcpSettings? ConntrackTcpSettings => Flows.TcpSettings;

    public Errno SetConntrackTcpSettings(TcpSettings settings)
    {
        Flows.TcpSettings = settings;
        return Errno.None;
    }

    public bool? ConntrackChecksum => Flows.VerifiesChecksums;

    public Errno SetConntrackChecksum(bool verify)
    {
        Flows.VerifiesChecksums = verify;
        return Errno.None;
    }

    public bool? ConntrackTimestamps => Flows.Timestamps;

    public Errno SetConntrackTimestamps(bool on)
    {
        Flows.Timestamps = on;
        return Errno.None;
    }

    public Errno SetConntrackAccounting(bool on)
    {
        Flows.Accounting = on;
        return Errno.None;
    }

    /// <summary>Tracks one frame at <see cref="Now"/> as a worker would, a new connection taking <paramref name="policy"/>, and confirms it.</summary>
    public CtState Track(byte[] frame, string? policy = null)
    {
        var packet = default(ParsedPacket);
        PacketParser.Parse(frame, ref packet);
        var timeouts = Timeouts.Current;
        int policyId = policy is null ? 0 : timeouts.Find(policy)!.Id;
        var result = Flows.Track(packet, frame, Now, timeouts, policyId);
        if (result.Disposition == TrackDisposition.Unconfirmed)
            Flows.Confirm(result.Flow, Now);
        return result.State;
    }

    /// <summary>Runs one frame through the rules as the worker would (port 0 in, port 1 out) at <see cref="Now"/>.</summary>
    public RuleVerdict Evaluate(byte[] frame)
    {
        var packet = default(ParsedPacket);
        PacketParser.Parse(frame, ref packet);
        return _state.Evaluate(ref packet, frame, 0, 1, Now, out _);
    }

    private RecentTable? Table(string name) => _state.RecentTables.FirstOrDefault(t => t.Name == name);

    private ChainDefinition Definition(CompiledChain chain) =>
        (chain.Family == L3Kind.IPv4 ? _ipv4 : _ipv6).Tables[chain.Table].Chains[chain.Name];

    private (FamilyRuleset, FamilyRuleset, RulesetState) Load()
    {
        var ipv4 = _rulesFile is null ? FamilyRuleset.Empty(L3Kind.IPv4) : RulesetParser.ParseFile(_rulesFile, L3Kind.IPv4);
        var ipv6 = _rules6File is null ? FamilyRuleset.Empty(L3Kind.IPv6) : RulesetParser.ParseFile(_rules6File, L3Kind.IPv6);
        return (ipv4, ipv6, new RulesetState(new CompiledRuleset(ipv4, ipv6, PortNames)));
    }
}
