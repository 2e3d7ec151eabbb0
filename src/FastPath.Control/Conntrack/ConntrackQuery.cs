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

    /// <summary>A line without a command (none, or only words that are no option): FastPath's usage, as conntrack prints its own.</summary>
    Usage,
}

/// <summary>
/// The table a command works on, named after the command by any prefix of its name, as conntrack's check_type
/// compares them (expect first, so an empty name is expect). FastPath keeps no expectation (it has no helper),
/// frees an expired connection at once (nothing is dying) and confirms a new one inside the worker's burst that
/// created it (nothing unconfirmed is ever visible): those three tables are empty whenever they are read.
/// </summary>
public enum ConntrackTable
{
    Conntrack,
    Expect,
    Dying,
    Unconfirmed,
}

/// <summary>
/// A conntrack command line (conntrack-tools 1.4.7) as far as FastPath serves it: -L and -D with conntrack's filters
/// (-p, -f, -s, -d, -r, -q, and after -p the protocol module's ports, --state, ICMP type, code and id), -F, -C,
/// FastPath's own --timeout-policy NAME filter, --policy-counts and --json (with -L and --policy-counts); each on
/// the conntrack table or, as conntrack allows them, on expect (-L, -D, -F, -C), dying and unconfirmed (-L). The
/// line is read as conntrack reads it: with getopt_long over conntrack's whole option table (<see cref="Getopt"/>),
/// values as conntrack reads them, and conntrack's checks in its order. Errors carry conntrack's message; an option
/// conntrack takes that FastPath does not serve is refused, once conntrack's own checks passed, as an unknown one.
/// </summary>
public sealed record ConntrackQuery
{
    /// <summary>The start of every conntrack message.</summary>
    public const string MessagePrefix = "conntrack v1.4.7 (conntrack-tools): ";

    /// <summary>The line conntrack adds on stderr after a usage error.</summary>
    public const string TryHelp = "Try `conntrack -h' or 'conntrack --help' for more information.";

    /// <summary>
    /// How conntrack's message starts when the kernel refused the request (its exit status 1, no <see cref="TryHelp"/>),
    /// whatever the errno: "Operation failed: invalid parameters" is EINVAL, yet no usage error.
    /// </summary>
    public const string OperationFailed = "Operation failed: ";

    // parse_addr's answers for the prefix: none given, or not a prefix.
    private const int NoMask = -1, InvalidMask = -2;

    public ConntrackAction Action { get; init; }

    public ConntrackTable Table { get; init; }

    public bool Json { get; init; }

    public L3Kind? Family { get; init; }

    public byte? Protocol { get; init; }

    public (InetAddress Address, InetAddress Mask)? Source { get; init; }

    public (InetAddress Address, InetAddress Mask)? Destination { get; init; }

    /// <summary>-r: the reply tuple's source, exactly (conntrack takes no prefix there).</summary>
    public InetAddress? ReplySource { get; init; }

    /// <summary>-q: the reply tuple's destination, exactly.</summary>
    public InetAddress? ReplyDestination { get; init; }

    public ushort? SourcePort { get; init; }

    public ushort? DestinationPort { get; init; }

    /// <summary>
    /// The protocol the reply tuple must have: the module's that read the last reply port, or an ICMP value given
    /// after -r or -q (conntrack sets the reply's protocol then, and compares under it).
    /// </summary>
    public byte? ReplyProtocol { get; init; }

    public ushort? ReplySourcePort { get; init; }

    public ushort? ReplyDestinationPort { get; init; }

    /// <summary>A state, as the kernel names it, of the protocol whose module read it (a TCP state selects no SCTP connection).</summary>
    public (byte Protocol, string Name)? State { get; init; }

    public byte? IcmpType { get; init; }

    public byte? IcmpCode { get; init; }

    public ushort? IcmpId { get; init; }

    public string? TimeoutPolicy { get; init; }

    /// <summary>Parses the arguments after "conntrack"; on failure <paramref name="error"/> is conntrack's message without its prefix.</summary>
    public static ConntrackQuery? Parse(IReadOnlyList<string> args, ProtocolNames protocols, out string error)
    {
        error = "";
        var getopt = new Getopt(["conntrack", .. args], ConntrackOptions.Short, ConntrackOptions.Long);
        var query = new ConntrackQuery();
        int? command = null;
        string commandOption = "";
        var flags = new HashSet<int>();
        var module = ProtocolModule.Generic;
        int merges = 0, moduleFlags = 0;
        L3Kind? family = null;
        string? unserved = null;
        for (int c; (c = getopt.Next()) != -1;)
        {
            string value = getopt.Optarg ?? "";
            switch (c)
            {
                case '?':
                    return Fail($"unknown option `{getopt.Argument(getopt.Optind - 1)}'", out error);
                case ':':
                    return Fail($"option `{getopt.Argument(getopt.Optind - 1)}' requires an argument", out error);
                case 'L' or 'D' or 'F' or 'C' or 'I' or 'U' or 'G' or 'E' or 'A' or 'S' or 'V' or 'h' or ConntrackOptions.PolicyCounts:
                    // conntrack reads the argument after one of its commands as the table, by any prefix of its
                    // name, and refuses at once what no table allows, before it looks at the other commands.
                    var table = ConntrackTable.Conntrack;
                    if (c != ConntrackOptions.PolicyCounts && TakeTable(getopt) is { } name)
                    {
                        if (TableNamed(name) is not { } found)
                            return Fail($"unknown type `{name}'", out error);
                        table = found;
                    }
                    if (table is ConntrackTable.Dying or ConntrackTable.Unconfirmed && c != 'L')
                        return Fail("Can't do that command with tables `dying' and `unconfirmed'", out error);
                    if (table == ConntrackTable.Expect && c is 'U' or 'A')
                        return Fail($"Can't do --{(c == 'U' ? "update" : "add")} on expectations", out error);
                    if (command is not null)
                        return Fail("Invalid commands combination", out error);
                    (command, commandOption) = (c, getopt.Option);
                    query = query with { Table = table };
                    break;
                case 'p':
                    if (!TryProtocol(value, protocols, out byte protocol, out module))
                        return Fail($"`{value}' unsupported protocol", out error);
                    getopt.LongOptions.AddRange(module.LongOptions(++merges * ConntrackOptions.ModuleOffset));
                    flags.Add(c);
                    query = query with { Protocol = protocol };
                    break;
                case 'f':
                    // conntrack compares the first four characters only: "ipv4x" is ipv4.
                    L3Kind named = value.StartsWith("ipv4", StringComparison.Ordinal) ? L3Kind.IPv4
                        : value.StartsWith("ipv6", StringComparison.Ordinal) ? L3Kind.IPv6
                        : L3Kind.None;
                    if (named == L3Kind.None)
                        return Fail($"`{value}' unsupported protocol", out error);
                    if ((family ??= named) != named)
                        return Fail("mismatched address family", out error);
                    flags.Add(c);
                    break;
                case 's' or 'd' or 'r' or 'q':
                    if (!TryAddress(value, out var address, out L3Kind addressFamily, out int mask))
                        return Fail($"Invalid IP address `{value}'", out error);
                    if ((family ??= addressFamily) != addressFamily)
                        return Fail("mismatched address family", out error);
                    if (mask != NoMask && c is 'r' or 'q')
                        return Fail($"CIDR notation unavailable for `--{ConntrackOptions.Long.First(o => o.Val == c).Name}'", out error);
                    if (mask == InvalidMask)
                        return Fail("Invalid netmask", out error);
                    flags.Add(c);
                    // A prefix shorter than the address is a mask as well, which not every command takes.
                    if (mask != NoMask && mask < (addressFamily == L3Kind.IPv6 ? 128 : 32))
                        flags.Add(c == 's' ? '{' : '}');
                    query = c switch
                    {
                        's' => query with { Source = Network(address, addressFamily, mask) },
                        'd' => query with { Destination = Network(address, addressFamily, mask) },
                        'r' => query with { ReplySource = address },
                        _ => query with { ReplyDestination = address },
                    };
                    break;
                case ConntrackOptions.Json:
                    query = query with { Json = true };
                    break;
                case ConntrackOptions.TimeoutPolicy:
                    query = query with { TimeoutPolicy = value };
                    break;
                case >= ConntrackOptions.ModuleOffset:
                    // The last -p's module reads every protocol option, whichever -p merged it in: conntrack hands it
                    // the option's val less its own offset, cut to a char, i.e. the val in the module that defined it.
                    int bit = c % ConntrackOptions.ModuleOffset - module.FirstVal;
                    if (bit < 0 || bit >= module.Bits.Length)
                        break;
                    moduleFlags |= 1 << bit;
                    if (ReadModuleOption(query, module, module.Bits[bit].Sets, value, out error) is not { } read)
                        return null;
                    query = read;
                    break;
                default:
                    // An option of conntrack's that FastPath does not serve: conntrack's checks below come first.
                    if (ConntrackOptions.Flags.Any(f => f.Val == c))
                        flags.Add(c);
                    unserved ??= getopt.Option;
                    break;
            }
        }
        ConntrackAction? action = command switch
        {
            'L' => ConntrackAction.List,
            'D' => ConntrackAction.Delete,
            'F' => ConntrackAction.Flush,
            'C' => ConntrackAction.Count,
            ConntrackOptions.PolicyCounts => ConntrackAction.PolicyCounts,
            _ => null,
        };
        if (command is not null && action is null)
            return Fail($"unknown option `{commandOption}'", out error); // a command FastPath does not serve: its legal options are not known here
        if (query.Json && action is not (ConntrackAction.List or ConntrackAction.PolicyCounts))
            return Fail("unknown option `--json'", out error); // FastPath's --json is for listings; conntrack knows none
        bool expect = query.Table == ConntrackTable.Expect;
        var row = action switch
        {
            null => Legal.NoCommand,
            ConntrackAction.List when expect => Legal.ExpectList,
            ConntrackAction.List or ConntrackAction.PolicyCounts => Legal.List,
            ConntrackAction.Delete => expect ? Legal.ExpectDelete : Legal.Delete,
            ConntrackAction.Flush => expect ? Legal.None : Legal.Flush,
            _ => Legal.None,
        };
        // conntrack's generic_opt_check: option by option in its table's order, a compulsory one missing or an
        // illegal one given, whichever comes first.
        foreach (var (val, name, allowed, required) in ConntrackOptions.Flags)
        {
            if (!flags.Contains(val) && (required & row) != 0)
                return Fail($"You need to supply the `--{name}' option for this command", out error);
            if (flags.Contains(val) && (allowed & row) == 0)
                return Fail($"Illegal option `--{name}' with this command", out error);
        }
        // FastPath's own filter: on connections, which expectations are not.
        if (query.TimeoutPolicy is not null && (row & (Legal.List | Legal.Delete)) == 0)
            return Fail("Illegal option `--timeout-policy' with this command", out error);
        // The last module's own check (only -L and -D get here with -p), by its own names: with -L and -D its
        // masks, expectation tuples, vtags and role are illegal; -D expect needs the tuple's four ports (GRE's
        // keys) and takes nothing else.
        for (int bit = 0; bit < module.FlagCount; bit++)
        {
            bool set = (moduleFlags & (1 << bit)) != 0;
            ModuleOption? sets = bit < module.Bits.Length ? module.Bits[bit].Sets : null;
            string flag = bit < module.Bits.Length ? module.Bits[bit].Flag : "(null)";
            bool legal, required = false;
            if (row == Legal.ExpectDelete)
            {
                required = sets is ModuleOption.SourcePort or ModuleOption.DestinationPort or ModuleOption.ReplySourcePort or ModuleOption.ReplyDestinationPort;
                legal = required;
            }
            else
            {
                legal = sets is not (null or ModuleOption.Role or ModuleOption.NoFilter);
            }
            if (!set && required)
                return Fail($"You need to supply the `--{flag}' option for this command", out error);
            if (set && !legal)
                return Fail($"Illegal option `--{flag}' with this command", out error);
        }
        if (unserved is not null)
            return Fail($"unknown option `{unserved}'", out error);
        return query with { Action = action ?? ConntrackAction.Usage, Family = family };
    }

    // check_type's comparisons, in its order: strncmp over the name's length, so any prefix names a table.
    private static ConntrackTable? TableNamed(string name) =>
        "expect".StartsWith(name, StringComparison.Ordinal) ? ConntrackTable.Expect
        : "conntrack".StartsWith(name, StringComparison.Ordinal) ? ConntrackTable.Conntrack
        : "dying".StartsWith(name, StringComparison.Ordinal) ? ConntrackTable.Dying
        : "unconfirmed".StartsWith(name, StringComparison.Ordinal) ? ConntrackTable.Unconfirmed
        : null;

    // conntrack's check_type: the argument after a command that took no value, unless it starts with '-' or '!'.
    private static string? TakeTable(Getopt getopt)
    {
        if (getopt.Optarg is not null || getopt.Optind >= getopt.Count)
            return null;
        string next = getopt.Argument(getopt.Optind);
        if (next.StartsWith('-') || next.StartsWith('!'))
            return null;
        getopt.Optind++;
        return next;
    }

    // A protocol module's parse_options. Numbers are atoi's cut to their field (GRE reads its keys with strtoul,
    // base 0), so no port is refused: "0x10", "abc" and "65536" are 0, "22abc" is 22, "-1" is 65535.
    private static ConntrackQuery? ReadModuleOption(ConntrackQuery query, ProtocolModule module, ModuleOption option, string value, out string error)
    {
        error = "";
        uint number = module.Number == ProtocolModule.Gre ? unchecked((uint)CNumberText.Strtoul(value, out _, out _)) : unchecked((uint)CNumberText.Atoi(value, out _));
        switch (option)
        {
            case ModuleOption.SourcePort:
                return query with { SourcePort = (ushort)number };
            case ModuleOption.DestinationPort:
                return query with { DestinationPort = (ushort)number };
            case ModuleOption.ReplySourcePort:
                return query with { ReplySourcePort = (ushort)number, ReplyProtocol = module.Number };
            case ModuleOption.ReplyDestinationPort:
                return query with { ReplyDestinationPort = (ushort)number, ReplyProtocol = module.Number };
            case ModuleOption.IcmpType or ModuleOption.IcmpCode or ModuleOption.IcmpId:
                query = option switch
                {
                    ModuleOption.IcmpType => query with { IcmpType = (byte)number },
                    ModuleOption.IcmpCode => query with { IcmpCode = (byte)number },
                    _ => query with { IcmpId = (ushort)number },
                };
                // After -r or -q the ICMP modules set the reply's protocol as well.
                return query.ReplySource is not null || query.ReplyDestination is not null ? query with { ReplyProtocol = module.Number } : query;
            case ModuleOption.State:
                // The kernel's names exactly; TCP's LISTEN, for kernels before 2.6.31, is today's SYN_SENT2.
                var (names, unknown) = module.States;
                string name = module.Number == 6 && value == "LISTEN" ? "SYN_SENT2" : value;
                if (!names.Contains(name))
                    return Fail($"{unknown} `{value}'", out error);
                return query with { State = (module.Number, name) };
            case ModuleOption.Role:
                bool role = "client".StartsWith(value, StringComparison.OrdinalIgnoreCase) || "server".StartsWith(value, StringComparison.OrdinalIgnoreCase);
                return role ? query : Fail($"Unknown DCCP role `{value}'", out error);
            default:
                return query;
        }
    }

    /// <summary>Whether a connection passes every filter given.</summary>
    public bool Matches(FlowView flow) =>
        (Family is null || flow.Family == Family)
        && (Protocol is null || flow.Protocol == Protocol)
        && (Source is not { } source || flow.Original.Source.And(source.Mask) == source.Address)
        && (Destination is not { } destination || flow.Original.Destination.And(destination.Mask) == destination.Address)
        && (ReplySource is null || flow.Reply.Source == ReplySource)
        && (ReplyDestination is null || flow.Reply.Destination == ReplyDestination)
        && (Protocol is not { } protocol || Layer4Matches(protocol, flow, flow.Original, SourcePort, DestinationPort))
        && (ReplyProtocol is not { } reply || (flow.Protocol == reply && Layer4Matches(reply, flow, flow.Reply, ReplySourcePort, ReplyDestinationPort)))
        && (State is not { } state || (flow.Protocol == state.Protocol && flow.State == state.Name))
        && (TimeoutPolicy is null || flow.TimeoutPolicy == TimeoutPolicy);

    // libnetfilter_conntrack compares a tuple's layer 4 under the protocol the filter has for it: ports for the
    // protocols keyed on them (a connection without ports, as DCCP's since Linux 6.16, then matches no port),
    // the ICMP type, code and id of the original direction for ICMP, nothing for another (GRE's keys neither).
    private bool Layer4Matches(byte protocol, FlowView flow, FlowTuple tuple, ushort? sourcePort, ushort? destinationPort) => protocol switch
    {
        6 or 17 or 136 or 132 or 33 => (sourcePort is null && destinationPort is null)
            || (FlowTable.HasPorts(flow.Protocol) && (sourcePort is null || tuple.SourcePort == sourcePort)
                && (destinationPort is null || tuple.DestinationPort == destinationPort)),
        1 or 58 => (IcmpType is null || flow.Original.IcmpType == IcmpType) && (IcmpCode is null || flow.Original.IcmpCode == IcmpCode)
            && (IcmpId is null || flow.Original.IcmpId == IcmpId),
        _ => true,
    };

    private static ConntrackQuery? Fail(string message, out string error)
    {
        error = message;
        return null;
    }

    // conntrack's findproto: a protocol module's name in any case ("TCP", "Udp") loads the module and its options;
    // another name getprotobyname knows ("esp", "ipv6-icmp") gives its number, cut to the byte conntrack sends
    // ("mptcp", 262, is 6), with the generic module, which has no options; else a number as strtoul reads it whole
    // (base 0: "0x11" and "+17" are 17, "017" is 15, "-0" is 0; at most 255), with its protocol's module if any.
    private static bool TryProtocol(string text, ProtocolNames protocols, out byte protocol, out ProtocolModule module)
    {
        foreach (var candidate in ProtocolModule.All)
        {
            if (Ascii.EqualsIgnoreCase(candidate.Name, text))
            {
                (protocol, module) = (candidate.Number, candidate);
                return true;
            }
        }
        module = ProtocolModule.Generic;
        if (protocols.TryGetNumber(text, out int known))
        {
            protocol = unchecked((byte)known);
            return true;
        }
        ulong value = CNumberText.Strtoul(text, out int end, out _);
        protocol = unchecked((byte)value);
        if (value > byte.MaxValue || end == 0 || end != text.Length)
            return false;
        byte number = protocol;
        module = ProtocolModule.All.FirstOrDefault(m => m.Number == number) ?? ProtocolModule.Generic;
        return true;
    }

    // conntrack's parse_addr: ADDR or ADDR/PREFIX, of which it reads only the first 45 bytes (it copies the value
    // into an INET6_ADDRSTRLEN buffer). The address is inet_aton's (any of its IPv4 forms, "1.2.3" is 1.2.0.3,
    // text after white space ignored) or else inet_pton's IPv6 (so a dotted quad inet_aton refused, "08.0.0.1",
    // is no address at all); the prefix is strtol's, base 10, over the rest ("/ 8" and "/+8" are 8, "/" alone is
    // 0), cut to an int, or InvalidMask. The caller checks the family before the prefix.
    private static bool TryAddress(string text, out InetAddress address, out L3Kind family, out int mask)
    {
        const int BufferBytes = 45;
        if (Encoding.UTF8.GetByteCount(text) > BufferBytes)
            text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text), 0, BufferBytes);
        int slash = text.IndexOf('/');
        mask = NoMask;
        if (slash >= 0)
        {
            var digits = text.AsSpan(slash + 1);
            mask = unchecked((int)CNumberText.Strtol(digits, out int end, out _));
            if (mask < 0 || end != digits.Length)
                mask = InvalidMask;
            text = text[..slash];
        }
        if (InetAtonText.TryParseToSpace(text, out uint v4))
        {
            address = InetAddress.FromIPv4(v4);
            family = L3Kind.IPv4;
        }
        else if (!InetAddress.TryParse(text, out address, out family) || family != L3Kind.IPv6)
        {
            return false;
        }
        if (mask > (family == L3Kind.IPv6 ? 128 : 32))
            mask = InvalidMask;
        return true;
    }

    // The network ADDR/PREFIX selects, kept masked so that a match is one And and one compare.
    private static (InetAddress Address, InetAddress Mask) Network(InetAddress address, L3Kind family, int mask)
    {
        var maskAddress = InetAddress.PrefixMask(mask != NoMask ? mask : family == L3Kind.IPv6 ? 128 : 32);
        return (address.And(maskAddress), maskAddress);
    }
}
