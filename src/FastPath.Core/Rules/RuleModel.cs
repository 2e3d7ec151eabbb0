// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>The netfilter tables FastPath applies to crossing traffic, in the kernel's order.</summary>
public enum TableKind : byte
{
    Raw,    // PREROUTING, before connection tracking
    Filter, // FORWARD (or INPUT, when the host's INPUT chain is applied to crossing traffic)
}

public enum TargetKind : byte
{
    None,    // no -j: the rule only counts
    Accept,
    Drop,
    Return,
    Jump,    // -j CHAIN
    Goto,    // -g CHAIN
    Ct,      // -j CT (raw table): sets the packet's conntrack template and continues with the next rule
    Log,     // -j LOG: writes a line about the packet (nf_log_syslog) and continues with the next rule
}

/// <summary>An inclusive range of port numbers.</summary>
public readonly record struct PortRange(ushort First, ushort Last)
{
    public bool Contains(ushort port) => port >= First && port <= Last;
}

/// <summary>An address with a prefix (-s/-d): matches when the masked packet address equals the masked address.</summary>
public readonly record struct AddressPrefix(InetAddress Address, InetAddress Mask)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(in InetAddress address) => address.And(Mask) == Address;
}

/// <summary>-m iprange's --src-range/--dst-range: the addresses from <see cref="First"/> to <see cref="Last"/>, in numeric order; a reversed range matches nothing.</summary>
public readonly record struct AddressRange(InetAddress First, InetAddress Last);

/// <summary>An interface name as -i/-o take it: a trailing '+' makes it a prefix.</summary>
public readonly record struct InterfaceName(string Name)
{
    public bool Matches(string port) => Name.EndsWith('+') ? port.StartsWith(Name[..^1], StringComparison.Ordinal) : port == Name;
}

/// <summary>One match with its '!' (inversion) flag.</summary>
public readonly record struct Inverted<T>(T Value, bool Invert);

/// <summary>
/// One rule: every match it has must match (each possibly inverted); then the target applies. Parsed once,
/// shared read-only by every worker; counters live with the workers, not here.
/// </summary>
public sealed record Rule
{
    public required string Chain { get; init; }
    public required int Line { get; init; }           // line in the rules file, for errors and traces
    public required int Number { get; init; }         // 1-based position in its chain, as iptables -L --line-numbers
    public Inverted<byte>? Protocol { get; init; }    // -p (0 = all)
    public Inverted<bool>? Fragment { get; init; }    // -f: a non-first IPv4 fragment (Value is always true)
    public Inverted<AddressPrefix>? Source { get; init; }
    public Inverted<AddressPrefix>? Destination { get; init; }
    public Inverted<InterfaceName>? InInterface { get; init; }
    public Inverted<InterfaceName>? OutInterface { get; init; }
    public Inverted<PortRange>? SourcePort { get; init; }       // -m tcp/udp --sport
    public Inverted<PortRange>? DestinationPort { get; init; }  // -m tcp/udp --dport
    public Inverted<(byte Mask, byte Compare)>? TcpFlags { get; init; } // --tcp-flags / --syn
    public Inverted<(byte Type, short Code)>? IcmpType { get; init; }   // -m icmp/icmp6; Code -1 = any; Type 255 = any
    public Inverted<MultiportMatch>? Multiport { get; init; }
    public Inverted<byte[]>? MacSource { get; init; }
    public string? Comment { get; init; }                        // -m comment --comment, for listings
    public LimitMatch? Limit { get; init; }                      // -m limit
    public Inverted<AddressRange>? SourceRange { get; init; }    // -m iprange --src-range
    public Inverted<AddressRange>? DestinationRange { get; init; } // -m iprange --dst-range
    public Inverted<PortRange>? Length { get; init; }            // -m length --length: the IP packet's length
    public TtlMatch? Ttl { get; init; }                          // -m ttl (IPv4) or -m hl (IPv6)
    public Inverted<PacketType>? PacketType { get; init; }       // -m pkttype
    public IReadOnlyList<RecentOptions> Recent { get; init; } = [];

    /// <summary>Each -m conntrack and -m state, in the rule's order (all must match).</summary>
    public IReadOnlyList<ConntrackMatch> Conntrack { get; init; } = [];

    /// <summary>The -m matches in the order the rule gives them: x_tables evaluates them in that order, and recent has side effects.</summary>
    public IReadOnlyList<MatchModule> Modules { get; init; } = [];
    public TargetKind Target { get; init; }
    public string? TargetChain { get; init; }
    public CtTarget? Ct { get; init; }          // the options of -j CT / -j NOTRACK
    public LogTarget? Log { get; init; }        // the options of -j LOG
    public long InitialPackets { get; init; }   // [packets:bytes] or -c PACKETS BYTES from the file
    public long InitialBytes { get; init; }

    /// <summary>
    /// The counters came from -c/--set-counters in the rule, which the kernel's rule starts with however
    /// iptables-restore is run; [packets:bytes] before a rule only counts with iptables-restore -c.
    /// </summary>
    public bool CountersSet { get; init; }
}

/// <summary>A -m match module (the options of tcp/udp/icmp belong to the module that precedes them).</summary>
public enum MatchModule : byte
{
    Tcp,
    Udp,
    Icmp,
    Multiport,
    Mac,
    Comment,
    Recent,
    Conntrack, // -m conntrack or -m state
    Limit,
    IpRange,
    Length,
    Ttl,       // -m ttl or -m hl
    PacketType,
}

/// <summary>How -m ttl (--ttl-eq, ! --ttl-eq, --ttl-lt, --ttl-gt) and -m hl compare: xt_ttl's and xt_hl's modes.</summary>
public enum TtlComparison : byte
{
    Equal,
    NotEqual,
    Less,
    Greater,
}

public sealed record TtlMatch(TtlComparison Comparison, byte Value)
{
    public bool Matches(byte ttl) => Comparison switch
    {
        TtlComparison.Equal => ttl == Value,
        TtlComparison.NotEqual => ttl != Value,
        TtlComparison.Less => ttl < Value,
        _ => ttl > Value,
    };
}

/// <summary>The kernel's skb->pkt_type values -m pkttype names (PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST).</summary>
public enum PacketType : byte
{
    Unicast = 0,
    Broadcast = 1,
    Multicast = 2,
    OtherHost = 3,
}

/// <summary>
/// -m limit as libxt_limit hands it to the kernel: <see cref="Average"/> is the time between two packets in
/// 1/10000 s (XT_LIMIT_SCALE * seconds per unit / rate), <see cref="Burst"/> the bucket's size in packets.
/// </summary>
public sealed record LimitMatch(uint Average, uint Burst)
{
    public const uint Scale = 10000;
    public const uint DefaultBurst = 5;

    /// <summary>--limit's default, 3/hour.</summary>
    public const uint DefaultAverage = Scale * 3600 / 3;
}

/// <summary>The ct states -m conntrack --ctstate and -m state --state name (the kernel's XT_CONNTRACK_STATE bits).</summary>
[Flags]
public enum CtStateMask : byte
{
    None = 0,
    Invalid = 1,
    New = 2,
    Established = 4,
    Related = 8,
    Untracked = 16,
    Snat = 32,   // never set: FastPath does no NAT
    Dnat = 64,
}

/// <summary>The connection status bits --ctstatus names (IPS_EXPECTED, IPS_SEEN_REPLY, IPS_ASSURED, IPS_CONFIRMED).</summary>
[Flags]
public enum CtStatusMask : byte
{
    None = 0,
    Expected = 1,
    SeenReply = 2,
    Assured = 4,
    Confirmed = 8,
}

/// <summary>
/// One -m conntrack (or -m state, which only has <see cref="State"/>): each option present must hold, with its
/// own '!'. Module is "state" or "conntrack", for listings.
/// </summary>
public sealed record ConntrackMatch(string Module)
{
    public Inverted<CtStateMask>? State { get; init; }
    public Inverted<byte>? Protocol { get; init; }                     // --ctproto
    public Inverted<CtStatusMask>? Status { get; init; }               // --ctstatus
    public Inverted<(uint Min, uint Max)>? Expire { get; init; }       // --ctexpire, seconds
    public Inverted<FlowDirection>? Direction { get; init; }           // --ctdir
}

/// <summary>
/// -j CT's options: --notrack or --timeout NAME (a cttimeout policy); -j NOTRACK is CT --notrack under its own name.
/// --helper, --ctevents, --expevents and the zone options are kept only beside --notrack, where xt_CT's checkentry
/// ignores them (FastPath has no helpers, events or zones): they are listed as iptables lists them, and do nothing.
/// </summary>
public sealed record CtTarget(string Name, bool NoTrack, string? TimeoutPolicy)
{
    /// <summary>--helper NAME, cut to 15 bytes as xt_ct_target_info's field holds it.</summary>
    public string? Helper { get; init; }

    /// <summary>--ctevents: bit i is <see cref="CtEventNames"/>[i].</summary>
    public int CtEvents { get; init; }

    /// <summary>--expevents: bit i is <see cref="ExpEventNames"/>[i].</summary>
    public int ExpEvents { get; init; }

    /// <summary>The zone options: the last value given, "mark" once given, and the directions named (-orig before -reply when listed).</summary>
    public (ushort Id, bool Mark, bool Original, bool Reply) Zone { get; init; }

    /// <summary>libxt_CT's ct_event_tbl, in its order.</summary>
    public static readonly string[] CtEventNames = ["new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "natseqinfo", "secmark"];

    /// <summary>libxt_CT's exp_event_tbl.</summary>
    public static readonly string[] ExpEventNames = ["new"];
}

/// <summary>The switches of -j LOG (xt_LOG's XT_LOG_* bits; 0x10 is NFLOG's and unused here).</summary>
[Flags]
public enum LogFlags : byte
{
    None = 0,
    TcpSequence = 0x01,  // --log-tcp-sequence
    TcpOptions = 0x02,   // --log-tcp-options
    IpOptions = 0x04,    // --log-ip-options
    Uid = 0x08,          // --log-uid: a forwarded packet has no local socket, so it adds nothing
    MacDecode = 0x20,    // --log-macdecode
}

/// <summary>-j LOG's options: the syslog level (0-7, default 4 warning), the line's prefix (at most 29 bytes) and the switches.</summary>
public sealed record LogTarget(byte Level, string Prefix, LogFlags Flags)
{
    public const byte DefaultLevel = 4;
}

public enum MultiportDirection : byte
{
    Source,
    Destination,
    Either,
}

public sealed record MultiportMatch(MultiportDirection Direction, PortRange[] Ports)
{
    public bool Matches(ushort source, ushort destination)
    {
        foreach (var range in Ports)
        {
            bool hit = Direction switch
            {
                MultiportDirection.Source => range.Contains(source),
                MultiportDirection.Destination => range.Contains(destination),
                _ => range.Contains(source) || range.Contains(destination),
            };
            if (hit)
                return true;
        }
        return false;
    }
}

/// <summary>A chain: built-in ones have a policy (ACCEPT or DROP); user-defined ones return at their end.</summary>
public sealed record ChainDefinition(string Name, TargetKind? Policy, long PolicyPackets, long PolicyBytes, IReadOnlyList<Rule> Rules);

/// <summary>One table of one family, as one *table ... COMMIT block of iptables-save.</summary>
public sealed record TableDefinition(TableKind Kind, IReadOnlyDictionary<string, ChainDefinition> Chains);

/// <summary>The iptables-save (or ip6tables-save) file of one family.</summary>
/// <param name="CommitOrder">The tables in the order the file commits them: iptables-restore creates their recent tables in that order.</param>
public sealed record FamilyRuleset(L3Kind Family, string Source, IReadOnlyDictionary<TableKind, TableDefinition> Tables, IReadOnlyList<TableKind> CommitOrder)
{
    public static FamilyRuleset Empty(L3Kind family) => new(family, "(none)", new Dictionary<TableKind, TableDefinition>(), []);

    /// <summary>The tables this file left out and <see cref="Over"/> kept from the rules it replaces.</summary>
    public IReadOnlyCollection<TableKind> Kept { get; init; } = [];

    /// <summary>
    /// This file restored over <paramref name="previous"/> as iptables-restore restores it: a table the file leaves
    /// out keeps its rules (the same <see cref="TableDefinition"/>), ahead of the file's own in the commit order.
    /// </summary>
    public FamilyRuleset Over(FamilyRuleset previous)
    {
        var kept = previous.CommitOrder.Where(kind => !Tables.ContainsKey(kind)).ToList();
        if (kept.Count == 0)
            return this;
        var tables = new Dictionary<TableKind, TableDefinition>(Tables);
        foreach (var kind in kept)
            tables[kind] = previous.Tables[kind];
        return this with { Tables = tables, CommitOrder = [.. kept, .. CommitOrder], Kept = kept };
    }
}
