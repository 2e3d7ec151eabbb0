// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Control.Rules;

/// <summary>
/// The running rules with their counters, byte for byte as `iptables -t TABLE -L -v -x -n` (and ip6tables)
/// v1.8.9 print them: print_header and print_firewall with their column widths (counters %8llu under a
/// 10-wide "bytes" heading, protocols as numbers under -n), then each match's print function in rule order.
/// Checked against the real iptables-legacy output (tests/FastPath.Control.Tests/TestData).
/// </summary>
public static class RuleListing
{
    /// <summary>
    /// Every table of both families, each under a "# iptables -t raw -L -v -x -n" line, separated by a blank line.
    /// </summary>
    public static string Format(CompiledRuleset ruleset, RuleCounters counters)
    {
        var sections = new List<string>();
        foreach (var family in new[] { L3Kind.IPv4, L3Kind.IPv6 })
        {
            foreach (var table in new[] { TableKind.Raw, TableKind.Filter })
            {
                if (!ruleset.Chains.Any(c => c.Family == family && c.Table == table))
                    continue;
                string command = $"{(family == L3Kind.IPv4 ? "iptables" : "ip6tables")} -t {TableName(table)} -L -v -x -n";
                sections.Add($"# {command}\n{FormatTable(ruleset, family, table, counters)}");
            }
        }
        return string.Join("\n", sections);
    }

    /// <summary>One table of one family: exactly what `iptables -t TABLE -L -v -x -n` prints.</summary>
    public static string FormatTable(CompiledRuleset ruleset, L3Kind family, TableKind table, RuleCounters counters)
    {
        var chains = ruleset.Chains.Where(c => c.Family == family && c.Table == table).ToList();
        var ordered = KernelChainOrder.Of(chains, c => c.Name, c => c.Policy is not null);
        var text = new StringBuilder();
        foreach (var chain in ordered)
        {
            if (text.Length > 0)
                text.Append('\n');
            AppendHeader(text, chain, chains, counters);
            foreach (var rule in chain.Rules)
                AppendRule(text, rule, counters);
        }
        return text.ToString();
    }

    private static string TableName(TableKind table) => table == TableKind.Raw ? "raw" : "filter";

    private static void AppendHeader(StringBuilder text, CompiledChain chain, List<CompiledChain> tableChains, RuleCounters counters)
    {
        text.Append("Chain ").Append(chain.Name);
        if (chain.Policy is { } policy)
        {
            text.Append(CultureInfo.InvariantCulture,
                $" (policy {TargetName(policy, null)} {(ulong)counters.PolicyPackets[chain.Id]} packets, {(ulong)counters.PolicyBytes[chain.Id]} bytes)\n");
        }
        else
        {
            int references = tableChains.SelectMany(c => c.Rules)
                .Count(r => r.Rule.Target is TargetKind.Jump or TargetKind.Goto && r.Rule.TargetChain == chain.Name);
            text.Append(CultureInfo.InvariantCulture, $" ({references} references)\n");
        }
        text.Append(CultureInfo.InvariantCulture,
            $"{"pkts",8} {"bytes",10} {"target",-9}  prot opt {"in",-6} {"out",-6}  {"source",-19}  {"destination",-19} \n");
    }

    private static void AppendRule(StringBuilder text, CompiledRule compiled, RuleCounters counters)
    {
        var rule = compiled.Rule;
        var family = compiled.Family;
        // The kernel's counters are u64: past 2^63 - 1 they go on counting up, where a long turns negative.
        text.Append(CultureInfo.InvariantCulture, $"{(ulong)counters.RulePackets[compiled.Id],8} {(ulong)counters.RuleBytes[compiled.Id],8} ");
        text.Append(Padded(TargetName(rule.Target, rule.TargetChain), 9)).Append(' ');
        text.Append(rule.Protocol is { Invert: true } ? '!' : ' ');
        text.Append(CultureInfo.InvariantCulture, $"{rule.Protocol?.Value ?? 0,-5}");
        // print_firewall's opt column: '!' or '-', then 'f' for -f or '-'.
        text.Append(rule.Fragment is { } fragment ? fragment.Invert ? "!f " : "-f " : "-- ");
        text.Append(' ').Append(Padded(Interface(rule.InInterface), 6)).Append(' ').Append(Padded(Interface(rule.OutInterface), 6)).Append(' ');
        AppendAddress(text, rule.Source, family);
        AppendAddress(text, rule.Destination, family);
        if (rule.Target == TargetKind.Goto)
            text.Append("[goto] ");
        int recent = 0, conntrack = 0;
        foreach (var module in rule.Modules)
        {
            switch (module)
            {
                case MatchModule.Tcp:
                    text.Append(" tcp");
                    AppendPorts(text, "spt", rule.SourcePort);
                    AppendPorts(text, "dpt", rule.DestinationPort);
                    if (rule.TcpFlags is { } flags && (flags.Value.Mask != 0 || flags.Invert))
                        text.Append(CultureInfo.InvariantCulture, $" flags:{(flags.Invert ? "!" : "")}0x{flags.Value.Mask:X2}/0x{flags.Value.Compare:X2}");
                    break;
                case MatchModule.Udp:
                    text.Append(" udp");
                    AppendPorts(text, "spt", rule.SourcePort);
                    AppendPorts(text, "dpt", rule.DestinationPort);
                    break;
                case MatchModule.Icmp:
                    AppendIcmp(text, rule.IcmpType!.Value, family);
                    break;
                case MatchModule.Multiport:
                    AppendMultiport(text, rule.Multiport!.Value);
                    break;
                case MatchModule.Mac:
                    var mac = rule.MacSource!.Value;
                    text.Append(" MAC").Append(mac.Invert ? " !" : "").Append(' ')
                        .Append(string.Join(':', mac.Value.Select(b => b.ToString("x2", CultureInfo.InvariantCulture))));
                    break;
                case MatchModule.Comment:
                    if (rule.Comment is { } comment)
                        text.Append(" /* ").Append(comment).Append(" */");
                    break;
                case MatchModule.Recent:
                    AppendRecent(text, rule.Recent[recent++], family);
                    break;
                case MatchModule.Conntrack:
                    AppendConntrack(text, rule.Conntrack[conntrack++]);
                    break;
                case MatchModule.Limit:
                    AppendLimit(text, rule.Limit!);
                    break;
                case MatchModule.IpRange:
                    AppendRange(text, "source", rule.SourceRange, family);
                    AppendRange(text, "destination", rule.DestinationRange, family);
                    break;
                case MatchModule.Ttl:
                    string name = family == L3Kind.IPv4 ? "TTL" : "HL";
                    var ttl = rule.Ttl!;
                    string comparison = ttl.Comparison switch { TtlComparison.Equal => "==", TtlComparison.NotEqual => "!=", TtlComparison.Less => "<", _ => ">" };
                    text.Append(CultureInfo.InvariantCulture, $" {name} match {name} {comparison} {ttl.Value}");
                    break;
                case MatchModule.PacketType:
                    var type = rule.PacketType!.Value;
                    text.Append(" PKTTYPE ").Append(type.Invert ? "!= " : "= ").Append(type.Value.ToString().ToLowerInvariant());
                    break;
                case MatchModule.Length:
                    var length = rule.Length!.Value;
                    text.Append(" length ").Append(length.Invert ? "!" : "").Append(CultureInfo.InvariantCulture, $"{length.Value.First}");
                    if (length.Value.Last != length.Value.First)
                        text.Append(CultureInfo.InvariantCulture, $":{length.Value.Last}");
                    break;
            }
        }
        if (rule.Ct is { } ct)
            AppendCt(text, ct);
        if (rule.Log is { } log)
        {
            // libxt_LOG's print: the switches as their number, the prefix unescaped.
            text.Append(CultureInfo.InvariantCulture, $" LOG flags {(byte)log.Flags} level {log.Level}");
            if (log.Prefix.Length > 0)
                text.Append(" prefix \"").Append(log.Prefix).Append('"');
        }
        text.Append('\n');
    }

    /// <summary>printf's "%-Ns": padded to N bytes, so a name in UTF-8 gets fewer spaces than it has characters.</summary>
    private static string Padded(string text, int width) => text + new string(' ', Math.Max(0, width - Encoding.UTF8.GetByteCount(text)));

    private static string TargetName(TargetKind target, string? chain) => target switch
    {
        TargetKind.Accept => "ACCEPT",
        TargetKind.Drop => "DROP",
        TargetKind.Return => "RETURN",
        TargetKind.Jump or TargetKind.Goto => chain!,
        TargetKind.Ct => "CT",
        TargetKind.Log => "LOG",
        _ => "",
    };

    /// <summary>libxt_CT's print: NOTRACK under its own name, otherwise CT with its options.</summary>
    private static void AppendRange(StringBuilder text, string side, Inverted<AddressRange>? range, L3Kind family)
    {
        if (range is not { } r)
            return;
        text.Append(' ').Append(side).Append(" IP range ").Append(r.Invert ? "! " : "")
            .Append(NumericAddress.Format(r.Value.First, family)).Append('-').Append(NumericAddress.Format(r.Value.Last, family));
    }

    private static readonly (string Name, uint Period)[] LimitUnits =
        [("day", LimitMatch.Scale * 86400), ("hour", LimitMatch.Scale * 3600), ("min", LimitMatch.Scale * 60), ("sec", LimitMatch.Scale)];

    /// <summary>libxt_limit's print_rate: the first unit, from the day down, that the next one would not show more exactly.</summary>
    private static void AppendLimit(StringBuilder text, LimitMatch limit)
    {
        uint average = limit.Average;
        int i = 1;
        while (i < LimitUnits.Length && average <= LimitUnits[i].Period && LimitUnits[i].Period / average >= LimitUnits[i].Period % average)
            i++;
        text.Append(CultureInfo.InvariantCulture, $" limit: avg {LimitUnits[i - 1].Period / average}/{LimitUnits[i - 1].Name} burst {limit.Burst}");
    }

    private static void AppendCt(StringBuilder text, CtTarget ct)
    {
        if (ct.Name == "NOTRACK")
        {
            text.Append(" NOTRACK");
            return;
        }
        text.Append(" CT");
        if (ct.NoTrack)
            text.Append(" notrack");
        if (ct.Helper is { Length: > 0 } helper)
            text.Append(" helper ").Append(helper);
        if (ct.TimeoutPolicy is { Length: > 0 } policy)
            text.Append(" timeout ").Append(policy);
        AppendEvents(" ctevents ", ct.CtEvents, CtTarget.CtEventNames);
        AppendEvents(" expevents ", ct.ExpEvents, CtTarget.ExpEventNames);
        // libxt_CT's ct_print_zone: only a zone other than 0, or "mark".
        if (ct.Zone is var (id, mark, original, reply) && (id != 0 || mark))
            text.Append(" zone").Append(original ? "-orig" : reply ? "-reply" : "").Append(mark ? " mark" : string.Create(CultureInfo.InvariantCulture, $" {id}"));

        void AppendEvents(string name, int bits, string[] names)
        {
            if (bits != 0)
                text.Append(name).Append(string.Join(',', names.Where((_, i) => (bits & (1 << i)) != 0)));
        }
    }

    private static readonly (CtStateMask Bit, string Name)[] CtStateOrder =
    [
        (CtStateMask.Invalid, "INVALID"), (CtStateMask.New, "NEW"), (CtStateMask.Related, "RELATED"),
        (CtStateMask.Established, "ESTABLISHED"), (CtStateMask.Untracked, "UNTRACKED"), (CtStateMask.Snat, "SNAT"), (CtStateMask.Dnat, "DNAT"),
    ];

    private static readonly (CtStatusMask Bit, string Name)[] CtStatusOrder =
    [
        (CtStatusMask.Expected, "EXPECTED"), (CtStatusMask.SeenReply, "SEEN_REPLY"), (CtStatusMask.Assured, "ASSURED"), (CtStatusMask.Confirmed, "CONFIRMED"),
    ];

    /// <summary>libxt_conntrack's print: "state" for -m state, "ct"-prefixed options for -m conntrack, "!" before an inverted one.</summary>
    private static void AppendConntrack(StringBuilder text, ConntrackMatch match)
    {
        string prefix = match.Module == "state" ? "" : "ct";
        if (match.State is { } state)
            text.Append(state.Invert ? " !" : "").Append(' ').Append(prefix).Append("state ")
                .Append(string.Join(',', CtStateOrder.Where(s => (state.Value & s.Bit) != 0).Select(s => s.Name)));
        if (match.Protocol is { } protocol)
            text.Append(protocol.Invert ? " !" : "").Append(CultureInfo.InvariantCulture, $" ctproto {protocol.Value}");
        if (match.Status is { } status)
        {
            var names = CtStatusOrder.Where(s => (status.Value & s.Bit) != 0).Select(s => s.Name).ToList();
            text.Append(status.Invert ? " !" : "").Append(" ctstatus ").Append(names.Count == 0 ? "NONE" : string.Join(',', names));
        }
        if (match.Expire is { } expire)
        {
            text.Append(expire.Invert ? " !" : "").Append(CultureInfo.InvariantCulture, $" ctexpire {expire.Value.Min}");
            if (expire.Value.Max != expire.Value.Min)
                text.Append(CultureInfo.InvariantCulture, $":{expire.Value.Max}");
        }
        if (match.Direction is { } direction)
            text.Append(" ctdir ").Append(direction.Value == FlowDirection.Original ? "ORIGINAL" : "REPLY");
    }

    /// <summary>"*" for any interface (under -n), "!" before an inverted one.</summary>
    private static string Interface(Inverted<InterfaceName>? match) =>
        match is { } m ? (m.Invert ? "!" : "") + m.Value.Name : "*";

    /// <summary>print_firewall: '!' or ' ', then ADDRESS/MASK left-aligned in 19 columns and a space.</summary>
    private static void AppendAddress(StringBuilder text, Inverted<AddressPrefix>? match, L3Kind family)
    {
        var prefix = match?.Value ?? default;
        string address = NumericAddress.Format(prefix.Address, family) + NumericAddress.MaskSuffix(prefix.Mask, family);
        text.Append(match is { Invert: true } ? '!' : ' ').Append(CultureInfo.InvariantCulture, $"{address,-19} ");
    }

    /// <summary>libxt_tcp / libxt_udp print_ports: nothing for the full range unless inverted.</summary>
    private static void AppendPorts(StringBuilder text, string name, Inverted<PortRange>? match)
    {
        if (match is not { } m || (m.Value.First == 0 && m.Value.Last == ushort.MaxValue && !m.Invert))
            return;
        string invert = m.Invert ? "!" : "";
        text.Append(' ').Append(name);
        if (m.Value.First == m.Value.Last)
            text.Append(CultureInfo.InvariantCulture, $":{invert}{m.Value.First}");
        else
            text.Append(CultureInfo.InvariantCulture, $"s:{invert}{m.Value.First}:{m.Value.Last}");
    }

    /// <summary>
    /// libipt_icmp / libip6t_icmp6 under -n: " icmp", then " !" when inverted, then "type N" with no space
    /// before it otherwise ("icmptype 8" — iptables prints it so), and " code N" when one code is matched.
    /// </summary>
    private static void AppendIcmp(StringBuilder text, Inverted<(byte Type, short Code)> icmp, L3Kind family)
    {
        text.Append(family == L3Kind.IPv4 ? " icmp" : " ipv6-icmp").Append(icmp.Invert ? " !" : "")
            .Append(CultureInfo.InvariantCulture, $"type {icmp.Value.Type}");
        if (icmp.Value.Code >= 0)
            text.Append(CultureInfo.InvariantCulture, $" code {icmp.Value.Code}");
    }

    /// <summary>libxt_multiport revision 1: " multiport dports 80,443,8000:8080", with " !" (hence two spaces) when inverted.</summary>
    private static void AppendMultiport(StringBuilder text, Inverted<MultiportMatch> multiport)
    {
        string direction = multiport.Value.Direction switch
        {
            MultiportDirection.Source => "sports",
            MultiportDirection.Destination => "dports",
            _ => "ports",
        };
        text.Append(" multiport ").Append(direction).Append(' ').Append(multiport.Invert ? " !" : "");
        text.Append(string.Join(',', multiport.Value.Ports.Select(p =>
            p.First == p.Last ? p.First.ToString(CultureInfo.InvariantCulture) : $"{p.First}:{p.Last}")));
    }

    /// <summary>libxt_recent recent_print, in its order of fields.</summary>
    private static void AppendRecent(StringBuilder text, RecentOptions recent, L3Kind family)
    {
        text.Append(recent.Invert ? " !" : "").Append(" recent:");
        text.Append(recent.Command switch
        {
            RecentCommand.Set => " SET",
            RecentCommand.Check => " CHECK",
            RecentCommand.Update => " UPDATE",
            _ => " REMOVE",
        });
        // printf's "%d" of the unsigned value: from 2^31 on it prints negative.
        if (recent.Seconds != 0)
            text.Append(CultureInfo.InvariantCulture, $" seconds: {unchecked((int)recent.Seconds)}");
        if (recent.Reap)
            text.Append(" reap");
        if (recent.HitCount != 0)
            text.Append(CultureInfo.InvariantCulture, $" hit_count: {recent.HitCount}");
        if (recent.Ttl)
            text.Append(" TTL-Match");
        text.Append(" name: ").Append(recent.Name);
        text.Append(recent.Side == RecentSide.Source ? " side: source" : " side: dest");
        text.Append(" mask: ").Append(NumericAddress.Format(recent.Mask, family));
    }
}
