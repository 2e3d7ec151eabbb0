// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;

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
/// (-p, -f, -s, -d, and after -p the protocol's own --sport, --dport, --state), -F, -C, and FastPath's own
/// --timeout-policy NAME filter, --policy-counts and --json (with -L and --policy-counts). Errors carry conntrack's
/// message (for what conntrack also refuses, as conntrack 1.4.7 words it).
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
                    L3Kind family = value switch { "ipv4" => L3Kind.IPv4, "ipv6" => L3Kind.IPv6, _ => L3Kind.None };
                    if (family == L3Kind.None)
                        return Fail($"`{value}' unsupported protocol", out error);
                    if (addressFamily is { } seen && seen != family)
                        return Fail("mismatched address family", out error);
                    query = query with { Family = family };
                    break;
                case "-s" or "--src" or "--orig-src" or "-d" or "--dst" or "--orig-dst":
                    if (!TryNetwork(value, out var network, out L3Kind networkFamily))
                        return Fail($"invalid IP address `{value}'", out error);
                    if ((addressFamily ?? query.Family) is { } known && known != networkFamily)
                        return Fail("mismatched address family", out error);
                    addressFamily = networkFamily;
                    query = option is "-s" or "--src" or "--orig-src" ? query with { Source = network } : query with { Destination = network };
                    break;
                case "--sport" or "--orig-port-src" or "--dport" or "--orig-port-dst":
                    if (!ushort.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                        return Fail($"invalid port `{value}'", out error);
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

    // conntrack's findproto: a protocol module's name, or a number, loads the module and its options; another name
    // getprotobyname knows ("TCP", "esp") gives the protocol number with the generic module, which has no options.
    private static bool TryProtocol(string text, ProtocolNames protocols, out byte protocol, out bool withOptions)
    {
        withOptions = true;
        foreach (var (name, number) in s_protocolModules)
        {
            if (name == text)
            {
                protocol = number;
                return true;
            }
        }
        if (protocols.TryGetNumber(text, out int known) && known is >= 0 and <= 255)
        {
            protocol = (byte)known;
            withOptions = false;
            return true;
        }
        return byte.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out protocol);
    }

    // ADDR or ADDR/PREFIX; the address is kept masked so a match is one And and one compare.
    private static bool TryNetwork(string text, out (InetAddress Address, InetAddress Mask) network, out L3Kind family)
    {
        network = default;
        int slash = text.IndexOf('/');
        if (!InetAddress.TryParse(slash < 0 ? text : text[..slash], out var address, out family))
            return false;
        int bits = family == L3Kind.IPv6 ? 128 : 32;
        int prefix = bits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
            return false;
        Span<byte> mask = stackalloc byte[16];
        for (int bit = 0; bit < prefix; bit++)
            mask[bit / 8] |= (byte)(0x80 >> (bit % 8));
        var maskAddress = family == L3Kind.IPv6 ? InetAddress.FromIPv6(mask) : InetAddress.FromIPv4(mask[..4]);
        network = (address.And(maskAddress), maskAddress);
        return true;
    }
}
