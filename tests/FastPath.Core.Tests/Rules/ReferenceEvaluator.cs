// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// x_tables' traversal read straight off the parsed <see cref="Rule"/> records, with a list-based xt_recent:
/// slow and obvious, so that the compiled walk of <see cref="RulesetState"/> (flattened rules, hash chains,
/// sharded cursors) can be held against it. Names rules, chains and tables the way
/// <see cref="Decision.Describe"/> and the proc file do.
/// </summary>
internal sealed class ReferenceEvaluator
{
    private readonly FamilyRuleset _ipv4;
    private readonly FamilyRuleset _ipv6;
    private readonly IReadOnlyList<string> _portNames;
    private readonly Dictionary<string, ReferenceRecentTable> _tables = [];

    public ReferenceEvaluator(FamilyRuleset ipv4, FamilyRuleset ipv6, CompiledRuleset compiled, int recentCapacity)
    {
        _ipv4 = ipv4;
        _ipv6 = ipv6;
        _portNames = compiled.PortNames;
        // Which rule creates a table and how many stamps it needs is the compiler's business, not the walk's.
        foreach (var spec in compiled.RecentTables)
            _tables[spec.Name] = new ReferenceRecentTable(spec.Mask, recentCapacity, spec.StampSlots);
    }

    /// <summary>Packets per rule and per built-in chain policy, by qualified name ("filter:FORWARD:2", "ip6:filter:FORWARD:policy").</summary>
    public Dictionary<string, long> Packets { get; } = [];

    public Dictionary<string, long> Bytes { get; } = [];

    /// <summary>The table's entries from least to most recently used, as proc lines.</summary>
    public List<string> Contents(string table) => _tables[table].ProcLines();

    public RuleVerdict Evaluate(in ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now, out string decidedBy)
    {
        decidedBy = "-";
        if (packet.L3 == L3Kind.None)
            return RuleVerdict.Accept;
        var family = packet.L3 == L3Kind.IPv4 ? _ipv4 : _ipv6;
        string prefix = packet.L3 == L3Kind.IPv6 ? "ip6:" : "";
        foreach (var (kind, entryName) in new[] { (TableKind.Raw, "PREROUTING"), (TableKind.Filter, "FORWARD") })
        {
            if (!family.Tables.TryGetValue(kind, out var table) || !table.Chains.TryGetValue(entryName, out var entry))
                continue;
            string tablePrefix = $"{prefix}{(kind == TableKind.Raw ? "raw" : "filter")}:";
            var verdict = Traverse(table, entry, tablePrefix, packet, frame, inPort, outPort, now, out decidedBy);
            if (verdict == RuleVerdict.Drop)
                return verdict;
        }
        return RuleVerdict.Accept;
    }

    private RuleVerdict Traverse(TableDefinition table, ChainDefinition entry, string tablePrefix, in ParsedPacket packet, ReadOnlySpan<byte> frame,
        int inPort, int outPort, ulong now, out string decidedBy)
    {
        var returns = new Stack<(ChainDefinition Chain, int Position)>();
        var chain = entry;
        int position = 0;
        while (true)
        {
            if (position >= chain.Rules.Count)
            {
                if (chain.Policy is not null || returns.Count == 0)
                    return Policy(entry, tablePrefix, packet.IpLength, out decidedBy);
                (chain, position) = returns.Pop();
                continue;
            }
            var rule = chain.Rules[position];
            if (!Matches(rule, packet, frame, inPort, outPort, now))
            {
                position++;
                continue;
            }
            string name = $"{tablePrefix}{chain.Name}:{rule.Number}";
            Count(name, packet.IpLength);
            switch (rule.Target)
            {
                case TargetKind.Accept or TargetKind.Drop:
                    decidedBy = name;
                    return rule.Target == TargetKind.Accept ? RuleVerdict.Accept : RuleVerdict.Drop;
                case TargetKind.Return:
                    if (returns.Count == 0)
                        return Policy(entry, tablePrefix, packet.IpLength, out decidedBy);
                    (chain, position) = returns.Pop();
                    break;
                case TargetKind.Jump:
                    returns.Push((chain, position + 1));
                    chain = table.Chains[rule.TargetChain!];
                    position = 0;
                    break;
                case TargetKind.Goto:
                    chain = table.Chains[rule.TargetChain!];
                    position = 0;
                    break;
                default:
                    position++;
                    break;
            }
        }
    }

    private RuleVerdict Policy(ChainDefinition entry, string tablePrefix, int bytes, out string decidedBy)
    {
        decidedBy = $"{tablePrefix}{entry.Name}:policy";
        Count(decidedBy, bytes);
        return entry.Policy == TargetKind.Drop ? RuleVerdict.Drop : RuleVerdict.Accept;
    }

    private void Count(string name, int bytes)
    {
        Packets[name] = Packets.GetValueOrDefault(name) + 1;
        Bytes[name] = Bytes.GetValueOrDefault(name) + bytes;
    }

    /// <summary>ip_packet_match, then every -m match in the rule's order (recent has side effects).</summary>
    private bool Matches(Rule r, in ParsedPacket p, ReadOnlySpan<byte> frame, int inPort, int outPort, ulong now)
    {
        if (r.Protocol is { } protocol && protocol.Value != 0 && (p.Protocol == protocol.Value) == protocol.Invert)
            return false;
        if (r.Source is { } source && source.Value.Contains(p.Source) == source.Invert)
            return false;
        if (r.Destination is { } destination && destination.Value.Contains(p.Destination) == destination.Invert)
            return false;
        if (r.InInterface is { } inInterface && inInterface.Value.Matches(_portNames[inPort]) == inInterface.Invert)
            return false;
        if (r.OutInterface is { } outInterface && outInterface.Value.Matches(_portNames[outPort]) == outInterface.Invert)
            return false;
        int recent = 0;
        foreach (var module in r.Modules)
        {
            bool nonFirstFragment = p.Fragment == FragmentKind.NonFirst;
            bool passes = module switch
            {
                MatchModule.Tcp or MatchModule.Udp => !nonFirstFragment
                    && (r.SourcePort is not { } sport || sport.Value.Contains(p.SourcePort) != sport.Invert)
                    && (r.DestinationPort is not { } dport || dport.Value.Contains(p.DestinationPort) != dport.Invert)
                    && (r.TcpFlags is not { } flags || ((p.TcpFlags & flags.Value.Mask) == flags.Value.Compare) != flags.Invert),
                MatchModule.Icmp => !nonFirstFragment && IcmpMatches(r.IcmpType!.Value, p),
                MatchModule.Multiport => !nonFirstFragment && r.Multiport!.Value.Value.Matches(p.SourcePort, p.DestinationPort) != r.Multiport.Value.Invert,
                MatchModule.Mac => frame.Slice(6, 6).SequenceEqual(r.MacSource!.Value.Value) != r.MacSource.Value.Invert,
                MatchModule.Recent => RecentMatches(r.Recent[recent++], p, now),
                _ => true,
            };
            if (!passes)
                return false;
        }
        return true;
    }

    /// <summary>ipt_icmp takes type 255 as any type; ip6t_icmp6 has no such wildcard.</summary>
    private static bool IcmpMatches(Inverted<(byte Type, short Code)> icmp, in ParsedPacket p)
    {
        bool typeMatches = (icmp.Value.Type == 255 && p.L3 == L3Kind.IPv4)
            || (p.IcmpType == icmp.Value.Type && (icmp.Value.Code < 0 || p.IcmpCode == icmp.Value.Code));
        return typeMatches != icmp.Invert;
    }

    private bool RecentMatches(RecentOptions options, in ParsedPacket p, ulong now) =>
        _tables[options.Name].Match(options, options.Side == RecentSide.Source ? p.Source : p.Destination, p.L3 == L3Kind.IPv6, p.Ttl, now);
}

/// <summary>The kernel's xt_recent as a list from least to most recently used, searched from the front.</summary>
internal sealed class ReferenceRecentTable(InetAddress mask, int capacity, int stampSlots)
{
    private readonly List<Entry> _lru = [];

    public List<string> ProcLines() => _lru.Select(e =>
        new RecentEntryView(e.Address, e.IsIPv6, e.Ttl, e.Stamps[(e.Index - 1) & (stampSlots - 1)], e.Index, e.Stamps[..e.StampCount]).ProcLine()).ToList();

    public bool Match(RecentOptions options, InetAddress address, bool ipv6, byte ttl, ulong now)
    {
        var key = address.And(mask);
        byte lookupTtl = options.Ttl ? ttl : (byte)0;
        var entry = _lru.Find(e => e.IsIPv6 == ipv6 && e.Address == key && (lookupTtl == e.Ttl || lookupTtl == 0 || e.Ttl == 0));
        bool matched = options.Invert;
        if (entry is null)
        {
            if (options.Command != RecentCommand.Set)
                return matched;
            if (_lru.Count >= capacity)
                _lru.RemoveAt(0);
            var created = new Entry { Address = key, IsIPv6 = ipv6, Ttl = ttl, Stamps = new ulong[stampSlots], Index = 1, StampCount = 1 };
            created.Stamps[0] = now;
            _lru.Add(created);
            return !matched;
        }
        switch (options.Command)
        {
            case RecentCommand.Set:
                matched = !matched;
                break;
            case RecentCommand.Remove:
                _lru.Remove(entry);
                return !matched;
            default:
                ulong oldest = now - unchecked(options.Seconds * (uint)Jiffies.Hz);
                uint hits = 0;
                for (int i = 0; i < entry.StampCount; i++)
                {
                    if (options.Seconds != 0 && Jiffies.After(oldest, entry.Stamps[i]))
                        continue;
                    if (options.HitCount == 0 || ++hits >= options.HitCount)
                    {
                        matched = !matched;
                        break;
                    }
                }
                // recent_entry_reap: only the least recently used entry, spared if a matching --update refreshes it.
                if (options.Reap && !(_lru[0] == entry && options.Command == RecentCommand.Update && matched))
                {
                    var head = _lru[0];
                    if (Jiffies.After(oldest, head.Stamps[(head.Index - 1) & (stampSlots - 1)]))
                        _lru.RemoveAt(0);
                }
                break;
        }
        if (options.Command == RecentCommand.Set || (options.Command == RecentCommand.Update && matched))
        {
            int slot = entry.Index & (stampSlots - 1);
            entry.Stamps[slot] = now;
            entry.Index = (ushort)(slot + 1);
            entry.StampCount = Math.Max(entry.StampCount, entry.Index);
            entry.Ttl = ttl;
            _lru.Remove(entry);
            _lru.Add(entry);
        }
        return matched;
    }

    private sealed class Entry
    {
        public InetAddress Address;
        public bool IsIPv6;
        public byte Ttl;
        public ulong[] Stamps = [];
        public int Index;
        public int StampCount;
    }
}
