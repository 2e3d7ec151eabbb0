// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Rules;

namespace FastPath.Control.Conntrack;

/// <summary>What a conntrack command line asks for.</summary>
public enum ConntrackAction
{
    /// <summary>-L, --dump: the connections, one line each.</summary>
    List,

    /// <summary>-C, --count: nf_conntrack_count.</summary>
    Count,

    /// <summary>--policy-counts (FastPath's own): connections per timeout policy.</summary>
    PolicyCounts,

    /// <summary>-D, --delete: deletes the connections the filters select (all without filters) and prints them.</summary>
    Delete,

    /// <summary>-F, --flush: deletes every connection; takes no filter.</summary>
    Flush,
}

/// <summary>
/// A conntrack command line (conntrack-tools 1.4.7) as far as FastPath serves it: -L and -D with conntrack's filters
/// (-p, -f, -s, -d, and after -p the protocol's own --sport, --dport, --state), their values read as conntrack
/// reads them, -F, -C, and FastPath's own --timeout-policy NAME filter, --policy-counts and --json (with -L and
/// --policy-counts). Errors carry conntrack's message (for what conntrack also refuses, as conntrack 1.4.7 words it).
/// </summary>
public sealed record ConntrackQuery(
    ConntrackAction Action,
    bool Json,
    L3Kind? Family,
    byte? Protocol,
    (InetAddress Address, InetAddress Mask)? Source,
    (InetAddress Address, InetAddress Mask)? Destination,
    ushort? SourcePort,
    ushort? DestinationPort,
    string? State,
    string? TimeoutPolicy)
{
    /// <summary>The start of every conntrack message.</summary>
    public const string MessagePrefix = "conntrack v1.4.7 (conntrack-tools): ";

    /// <summary>The line conntrack adds on stderr after a usage error.</summary>
    public const string TryHelp = "Try `conntrack -h' or 'conntrack --help' for more information.";

    private static readonly string[] s_tcpStates =
        ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];

    private static readonly string[] s_sctpStates =
        ["NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"];

    /// <summary>Parses the arguments after "conntrack"; on failure <paramref name="error"/> is conntrack's message without its prefix.</summary>
    public static ConntrackQuery? Parse(IReadOnlyList<string> args, ProtocolNames protocols, out string error)
    {
        error = "";
        ConntrackAction? action = null;
        var query = new ConntrackQuery(ConntrackAction.List, false, null, null, null, null, null, null, null, null);
        L3Kind? addressFamily = null;
        bool protocolOptions = false;
        for (int i = 0; i < args.Count; i++)
        {
            string option = args[i];
            if (option is "-L" or "--dump" or "-C" or "--count" or "--policy-counts" or "-D" or "--delete" or "-F" or "--flush")
            {
                if (action is not null)
                    return Fail("Invalid commands combination", out error);
                action = option switch
                {
                    "-L" or "--dump" => ConntrackAction.List,
                    "-C" or "--count" => ConntrackAction.Count,
                    "-D" or "--delete" => ConntrackAction.Delete,
                    "-F" or "--flush" => ConntrackAction.Flush,
                    _ => ConntrackAction.PolicyCounts,
                };
                continue;
            }
            if (option == "--json")
            {
                query = query with { Json = true };
                continue;
            }
            if (!option.StartsWith('-'))
            {
                // conntrack reads a word after the command as the table to list; FastPath has only this one.
                if (option != "conntrack")
                    return Fail($"unknown type `{option}'", out error);
                continue;
            }
            if (!TakesValue(option, protocolOptions ? query.Protocol : null))
                return Fail($"unknown option `{option}'", out error);
            if (i + 1 >= args.Count)
                return Fail($"option `{option}' requires an argument", out error);
            string value = args[++i];
            switch (option)
            {
                case "-p" or "--proto" or "--protonum":
                    if (!TryProtocol(value, protocols, out byte protocol, out protocolOptions))
                        return Fail($"`{value}' unsupported protocol", out error);
                    query = query with { Protocol = protocol };
                    break;
                case "-f" or "--family":
                    // conntrack compares the first four characters only: "ipv4x" is ipv4.
                    L3Kind family = value.StartsWith("ipv4", StringComparison.Ordinal) ? L3Kind.IPv4
                        : value.StartsWith("ipv6", StringComparison.Ordinal) ? L3Kind.IPv6
                        : L3Kind.None;
                    if (family == L3Kind.None)
                        return Fail($"`{value}' unsupported protocol", out error);
                    if (addressFamily is { } seen && seen != family)
                        return Fail("mismatched address family", out error);
                    query = query with { Family = family };
                    break;
                case "-s" or "--src" or "--orig-src" or "-d" or "--dst" or "--orig-dst":
                    if (!TryNetwork(value, out var network, out L3Kind networkFamily, out bool validPrefix))
                        return Fail($"Invalid IP address `{value}'", out error);
                    if ((addressFamily ?? query.Family) is { } known && known != networkFamily)
                        return Fail("mismatched address family", out error);
                    if (!validPrefix)
                        return Fail("Invalid netmask", out error);
                    addressFamily = networkFamily;
                    query = option is "-s" or "--src" or "--orig-src" ? query with { Source = network } : query with { Destination = network };
                    break;
                case "--sport" or "--orig-port-src" or "--dport" or "--orig-port-dst":
                    // The protocol modules read a port with atoi and keep its low 16 bits: nothing is refused
                    // ("0x10", "abc" and "65536" are 0, "22abc" is 22, "-1" is 65535).
                    ushort port = unchecked((ushort)CNumberText.Atoi(value, out _));
                    query = option is "--sport" or "--orig-port-src" ? query with { SourcePort = port } : query with { DestinationPort = port };
                    break;
                case "--state":
                    bool tcp = query.Protocol == 6;
                    if (!(tcp ? s_tcpStates : s_sctpStates).Contains(value))
                        return Fail($"unknown {(tcp ? "TCP" : "SCTP")} state `{value}'", out error);
                    query = query with { State = value };
                    break;
                case "--timeout-policy":
                    query = query with { TimeoutPolicy = value };
                    break;
            }
        }
        if (action is null)
            return Fail("no command specified", out error);
        if (query.Json && action is ConntrackAction.Delete or ConntrackAction.Flush)
            return Fail("unknown option `--json'", out error); // FastPath's --json is for listings; conntrack knows none
        if (action == ConntrackAction.Flush && IllegalWithFlush(query) is { } illegal)
            return Fail($"Illegal option `{illegal}' with this command", out error);
        return query with { Action = action.Value, Family = query.Family ?? addressFamily };
    }

    // conntrack checks a command's options after reading them all and names the first illegal one in its option
    // table's order, by its long name (-p is --protonum). -F takes -f, and flushes every family all the same.
    private static string? IllegalWithFlush(ConntrackQuery query) =>
        query.Source is not null ? "--src"
        : query.Destination is not null ? "--dst"
        : query.Protocol is not null ? "--protonum"
        : query.TimeoutPolicy is not null ? "--timeout-policy"
        : null;

    /// <summary>Whether a connection passes every filter given.</summary>
    public bool Matches(FlowView flow) =>
        (Family is null || flow.Family == Family)
        && (Protocol is null || flow.Protocol == Protocol)
        && (Source is not { } source || flow.Original.Source.And(source.Mask) == source.Address)
        && (Destination is not { } destination || flow.Original.Destination.And(destination.Mask) == destination.Address)
        && (SourcePort is null || flow.Original.SourcePort == SourcePort)
        && (DestinationPort is null || flow.Original.DestinationPort == DestinationPort)
        && (State is null || flow.State == State)
        && (TimeoutPolicy is null || flow.TimeoutPolicy == TimeoutPolicy);

    private static ConntrackQuery? Fail(string message, out string error)
    {
        error = message;
        return null;
    }

    // Protocol options exist only once -p named a protocol that has them (conntrack loads them with the protocol).
    private static bool TakesValue(string option, byte? protocol) => option switch
    {
        "-p" or "--proto" or "--protonum" or "-f" or "--family" or "-s" or "--src" or "--orig-src" or "-d" or "--dst"
            or "--orig-dst" or "--timeout-policy" => true,
        "--sport" or "--orig-port-src" or "--dport" or "--orig-port-dst" => protocol is { } p && FlowTable.HasPorts(p),
        "--state" => protocol is 6 or 132,
        _ => false,
    };

    private static readonly (string Name, byte Number)[] s_protocolModules =
        [("tcp", 6), ("udp", 17), ("udplite", 136), ("icmp", 1), ("icmpv6", 58), ("sctp", 132), ("dccp", 33), ("gre", 47)];

    // conntrack's findproto: a protocol module's name in any case ("TCP", "Udp"), or a number as strtoul reads
    // it whole (base 0: "0x11" and "+17" are 17, "017" is 15, "-0" is 0; at most 255), loads the module and its
    // options; another name getprotobyname knows ("esp", "ipv6-icmp") gives its number, cut to the byte conntrack
    // sends ("mptcp", 262, is 6), with the generic module, which has no options.
    private static bool TryProtocol(string text, ProtocolNames protocols, out byte protocol, out bool withOptions)
    {
        withOptions = true;
        foreach (var (name, number) in s_protocolModules)
        {
            if (Ascii.EqualsIgnoreCase(name, text))
            {
                protocol = number;
                return true;
            }
        }
        if (protocols.TryGetNumber(text, out int known))
        {
            protocol = unchecked((byte)known);
            withOptions = false;
            return true;
        }
        ulong value = CNumberText.Strtoul(text, out int end, out _);
        protocol = unchecked((byte)value);
        return value <= byte.MaxValue && end > 0 && end == text.Length;
    }

    // conntrack's parse_addr: ADDR or ADDR/PREFIX, of which it reads only the first 45 bytes (it copies the value
    // into an INET6_ADDRSTRLEN buffer). The address is inet_aton's (any of its IPv4 forms, "1.2.3" is 1.2.0.3,
    // text after white space ignored) or else inet_pton's IPv6 (so a dotted quad inet_aton refused, "08.0.0.1",
    // is no address at all); the prefix is strtol's, base 10, over the rest ("/ 8" and "/+8" are 8, "/" alone is
    // 0), cut to an int. A bad prefix is reported after the family check. The address is kept masked so a match
    // is one And and one compare.
    private static bool TryNetwork(string text, out (InetAddress Address, InetAddress Mask) network, out L3Kind family, out bool validPrefix)
    {
        network = default;
        const int BufferBytes = 45;
        if (Encoding.UTF8.GetByteCount(text) > BufferBytes)
            text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text), 0, BufferBytes);
        int slash = text.IndexOf('/');
        int? prefix = null;
        validPrefix = true;
        if (slash >= 0)
        {
            var digits = text.AsSpan(slash + 1);
            prefix = unchecked((int)CNumberText.Strtol(digits, out int end, out _));
            validPrefix = prefix >= 0 && end == digits.Length;
            text = text[..slash];
        }
        InetAddress address;
        if (InetAtonText.TryParseToSpace(text, out uint v4))
        {
            address = InetAddress.FromIPv4(v4);
            family = L3Kind.IPv4;
        }
        else if (!InetAddress.TryParse(text, out address, out family) || family != L3Kind.IPv6)
        {
            return false;
        }
        int bits = family == L3Kind.IPv6 ? 128 : 32;
        if (prefix > bits)
            validPrefix = false;
        if (!validPrefix)
            return true;
        Span<byte> mask = stackalloc byte[16];
        for (int bit = 0; bit < (prefix ?? bits); bit++)
            mask[bit / 8] |= (byte)(0x80 >> (bit % 8));
        var maskAddress = family == L3Kind.IPv6 ? InetAddress.FromIPv6(mask) : InetAddress.FromIPv4(mask[..4]);
        network = (address.And(maskAddress), maskAddress);
        return true;
    }
}
