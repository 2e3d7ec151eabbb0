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

    /// <summary>-G, --get: the one connection whose tuple is given, as the kernel's ctnetlink_get_conntrack finds it.</summary>
    Get,

    /// <summary>
    /// -h, --help, or a line without a command (none, or only words that are no option): conntrack's usage, then with
    /// -h and -p the protocol module's help.
    /// </summary>
    Usage,

    /// <summary>-V, --version: conntrack's name and version.</summary>
    Version,

    /// <summary>-S, --stats: the per-cpu statistics, a line per worker (of expectations with the expect table).</summary>
    Stats,
}

/// <summary>
/// conntrack 1.4.7's output types (-o, --output, its parse_parameter list in its order). Listings honour
/// <see cref="Xml"/>, <see cref="Extended"/> and <see cref="Id"/>; the others change nothing in a listing of
/// FastPath's: timestamp and userspace are for events only, ktimestamp prints the kernel's start and stop stamps,
/// which FastPath does not keep (as a kernel with nf_conntrack_timestamp 0), labels prints labels, which FastPath
/// sets none of. Save prints each connection as the conntrack command line that would make it, and takes no other type.
/// </summary>
[Flags]
public enum ConntrackOutput
{
    None = 0,
    Xml = 1,
    Extended = 2,
    Timestamp = 4,
    Id = 8,
    KernelTimestamp = 16,
    Labels = 32,

    /// <summary>Parsed, and worth nothing in conntrack 1.4.7 (its bit is 0).</summary>
    Userspace = 0,
    Save = 64,
}

/// <summary>
/// The connection status bits -u (--status) names, with the kernel's values (IPS_*): conntrack 1.4.7's parse_parameter
/// list, in its order, is ASSURED, SEEN_REPLY, UNSET (no bit), FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD. FastPath's
/// connections have only <see cref="SeenReply"/> and <see cref="Assured"/> of them.
/// </summary>
[Flags]
public enum ConntrackStatus : uint
{
    Unset = 0,
    Expected = 1 << 0,
    SeenReply = 1 << 1,
    Assured = 1 << 2,
    FixedTimeout = 1 << 10,
    Offload = 1 << 14,
    HardwareOffload = 1 << 15,
}

/// <summary>What conntrack prints on stderr while it reads its options, before anything else (conntrack's exact lines in <see cref="ConntrackQuery.WarningText"/>).</summary>
public enum ConntrackWarning
{
    /// <summary>-o with a prefix of SRC_NAT (any case: "s", "src_nat"), which conntrack passes over.</summary>
    IgnoringSourceNat,

    /// <summary>-o with a prefix of DST_NAT ("d").</summary>
    IgnoringDestinationNat,

    /// <summary>-o labels: conntrack loads its label map, /etc/xtables/connlabel.conf, and says so when it cannot open it.</summary>
    LabelMap,
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
/// (-p, -f, -s, -d, -r, -q, -u, and after -p the protocol module's ports, --state, ICMP type, code and id), -G with a
/// tuple, -o (see <see cref="ConntrackOutput"/>), -i (-D and -G), -F, -C, -S,
/// FastPath's own --timeout-policy NAME filter, --policy-counts and --json (with -L and --policy-counts); each on
/// the conntrack table or, as conntrack allows them, on expect (-L, -D, -F, -C, -S), dying and unconfirmed (-L). The
/// line is read as conntrack reads it: with getopt_long over conntrack's whole option table (<see cref="Getopt"/>),
/// values as conntrack reads them, and conntrack's checks in its order. Errors carry conntrack's message; an option
/// conntrack takes that FastPath does not serve is refused, once conntrack's own checks passed, as not served.
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

    /// <summary>
    /// The original tuple's layer-4 words as libnetfilter_conntrack keeps them, which -G sends whichever module wrote
    /// them: a port (GRE key) and the ICMP id share the source word; a port and the ICMP type (high byte, first on the
    /// wire) and code (low byte) the destination word. "-p tcp --dport 22 -p icmp" asks for ICMP type 0, code 22.
    /// </summary>
    public (ushort Source, ushort Destination) TupleLayer4 { get; init; }

    public string? TimeoutPolicy { get; init; }

    /// <summary>
    /// -u: the status bits named without '!', every -u given or-ed together (conntrack's ATTR_STATUS, which it
    /// compares itself with -L and -D: a connection must have them all); null without -u. No bit at all (UNSET)
    /// selects every connection for -D.
    /// </summary>
    public ConntrackStatus? Status { get; init; }

    /// <summary>
    /// -u: the mask of the status filter conntrack sends the kernel with -L (CTA_STATUS_MASK, <see cref="Status"/>
    /// being the value): the bits named after '!', or while there are none the bits named so far. The kernel shows
    /// a connection whose status under the mask is the value, and refuses an empty mask (<see cref="ListRefusal"/>).
    /// </summary>
    public ConntrackStatus StatusMask { get; init; }

    /// <summary>
    /// What -h adds after the usage for the last -p: "Proto `NAME' help:" and its module's lines, NAME being the
    /// module's, or for a protocol without one the name getprotobynumber gives its number ("unknown" for none).
    /// </summary>
    public string? ProtocolHelp { get; init; }

    /// <summary>-o's types, every -o given or-ed together.</summary>
    public ConntrackOutput Output { get; init; }

    /// <summary>-i, --id: the connection id (<see cref="FlowView.Id"/>), strtoul's, base 0, cut to 32 bits.</summary>
    public uint? Id { get; init; }

    /// <summary>
    /// -m, --mark VALUE[/MASK] (conntrack's parse_u32_mask: strtoul's, base 0, cut to 32 bits; without a mask all ones):
    /// a connection passes when its mark under the mask is the value, unmasked (FastPath's marks are all 0).
    /// </summary>
    public (uint Value, uint Mask)? Mark { get; init; }

    /// <summary>
    /// -w/--zone, --orig-zone and --reply-zone (strtoul's, base 0, cut to 16 bits; the last of each counts): FastPath's
    /// connections are in zone 0 in both directions, so one passes only when every zone given is 0.
    /// </summary>
    public (ushort? Zone, ushort? Original, ushort? Reply) Zones { get; init; }

    /// <summary>The file conntrack's label map is read from (libnetfilter_conntrack's CONNLABEL_CFG).</summary>
    public const string LabelMapPath = "/etc/xtables/connlabel.conf";

    /// <summary>conntrack's line on stderr for a warning; null for the label map when it opens.</summary>
    public static string? WarningText(ConntrackWarning warning) => warning switch
    {
        ConntrackWarning.IgnoringSourceNat => "WARNING: ignoring SRC_NAT, use --src-nat instead",
        ConntrackWarning.IgnoringDestinationNat => "WARNING: ignoring DST_NAT, use --dst-nat instead",
        _ => LabelMapError() is { } reason ? "nfct_labelmap_new: " + reason : null,
    };

    // perror's text for fopen(CONNLABEL_CFG, "re"), as far as .NET tells the reasons apart.
    private static string? LabelMapError()
    {
        try
        {
            using var file = File.OpenRead(LabelMapPath);
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return ControlError.EACCES.StrError;
        }
        catch (IOException)
        {
            return ControlError.ENOENT.StrError;
        }
    }

    /// <summary>
    /// The message of a failure conntrack reports with exit status 1 and no <see cref="TryHelp"/> (its OTHER_PROBLEM):
    /// what the kernel refused, and -o save with another type.
    /// </summary>
    public static bool IsOtherProblem(string message) =>
        message.StartsWith(OperationFailed, StringComparison.Ordinal) || message == SaveCombined;

    private const string SaveCombined = "cannot combine save output with any other output type, use -o save only";

    /// <summary>Parses the arguments after "conntrack"; on failure <paramref name="error"/> is conntrack's message without its prefix.</summary>
    public static ConntrackQuery? Parse(IReadOnlyList<string> args, ProtocolNames protocols, out string error) =>
        Parse(args, protocols, out error, out _);

    /// <summary>The same, with the warnings conntrack printed before it stopped, whether or not the line was refused.</summary>
    public static ConntrackQuery? Parse(IReadOnlyList<string> args, ProtocolNames protocols, out string error, out IReadOnlyList<ConntrackWarning> warnings)
    {
        error = "";
        var printed = new List<ConntrackWarning>();
        warnings = printed;
        var getopt = new Getopt(["conntrack", .. args], ConntrackOptions.Short, ConntrackOptions.Long);
        var query = new ConntrackQuery();
        int? command = null;
        string commandOption = "";
        var flags = new HashSet<int>();
        var module = ProtocolModule.Generic;
        int merges = 0, moduleFlags = 0;
        L3Kind? family = null;
        InetAddress? sourceAddress = null, destinationAddress = null, sourceMask = null, destinationMask = null;
        string? unserved = null;
        bool idWithoutValue = false;
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
                    if (!TryProtocol(value, protocols, out int protocol, out module))
                        return Fail($"`{value}' unsupported protocol", out error);
                    getopt.LongOptions.AddRange(module.LongOptions(++merges * ConntrackOptions.ModuleOffset));
                    flags.Add(c);
                    string helpName = module != ProtocolModule.Generic ? module.Name : protocols.TryGetName(protocol, out string official) ? official : "unknown";
                    query = query with { Protocol = unchecked((byte)protocol), ProtocolHelp = $"Proto `{helpName}' help:\n{module.Help}" };
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
                case 's' or 'd' or 'r' or 'q' or '{' or '}' or '[' or ']':
                    if (!TryAddress(value, out var address, out L3Kind addressFamily, out int mask))
                        return Fail($"Invalid IP address `{value}'", out error);
                    if ((family ??= addressFamily) != addressFamily)
                        return Fail("mismatched address family", out error);
                    if (mask != NoMask && c is 'r' or 'q' or '{' or '}')
                        return Fail($"CIDR notation unavailable for `--{ConntrackOptions.Long.First(o => o.Val == c).Name}'", out error);
                    if (mask == InvalidMask)
                        return Fail("Invalid netmask", out error);
                    flags.Add(c);
                    // A prefix shorter than the address is a mask as well, which not every command takes; a whole
                    // one (or none) leaves the mask an earlier -s or --mask-src set, as conntrack does.
                    bool shortPrefix = c is 's' or 'd' && mask != NoMask && mask < (addressFamily == L3Kind.IPv6 ? 128 : 32);
                    if (shortPrefix)
                        flags.Add(c == 's' ? '{' : '}');
                    switch (c)
                    {
                        case 's':
                            sourceAddress = address;
                            sourceMask = shortPrefix ? InetAddress.PrefixMask(mask) : sourceMask;
                            break;
                        case 'd':
                            destinationAddress = address;
                            destinationMask = shortPrefix ? InetAddress.PrefixMask(mask) : destinationMask;
                            break;
                        case '{':
                            sourceMask = address;
                            break;
                        case '}':
                            destinationMask = address;
                            break;
                        case 'r':
                            query = query with { ReplySource = address };
                            break;
                        case 'q':
                            query = query with { ReplyDestination = address };
                            break;
                        default:
                            // An expectation's tuple: illegal with every command FastPath serves, read all the same.
                            break;
                    }
                    break;
                case 'u':
                    // conntrack's parse_parameter_mask: an item after '!' goes to the mask; a mask still empty
                    // after this -u takes the bits named so far.
                    uint status = (uint)(query.Status ?? ConntrackStatus.Unset), statusMask = (uint)query.StatusMask;
                    if (!TryParameter(value, s_statusNames, negatable: true, ref status, ref statusMask, printed, out error))
                        return null;
                    flags.Add(c);
                    query = query with { Status = (ConntrackStatus)status, StatusMask = (ConntrackStatus)(statusMask == 0 ? status : statusMask) };
                    break;
                case 'e':
                    // Events are not served, and -e is illegal with every command FastPath serves; conntrack reads
                    // its list first all the same, so a bad one is refused for that (and SRC_NAT warned about).
                    uint events = 0, noEventNegation = 0;
                    if (!TryParameter(value, s_eventNames, negatable: false, ref events, ref noEventNegation, printed, out error))
                        return null;
                    flags.Add(c);
                    unserved ??= getopt.Option;
                    break;
                case 'o':
                    uint outputBits = (uint)query.Output, noNegation = 0;
                    if (!TryParameter(value, s_outputTypes, negatable: false, ref outputBits, ref noNegation, printed, out error))
                        return null;
                    var output = (ConntrackOutput)outputBits;
                    if (output.HasFlag(ConntrackOutput.Labels))
                        printed.Add(ConntrackWarning.LabelMap);
                    if (output.HasFlag(ConntrackOutput.Save) && output != ConntrackOutput.Save)
                        return Fail(SaveCombined, out error);
                    flags.Add(c);
                    query = query with { Output = output };
                    break;
                case 'i':
                    // --id takes its value only as --id=N (conntrack 1.4.7 then crashes); -i always has one.
                    flags.Add(c);
                    if (getopt.Optarg is null)
                        idWithoutValue = true;
                    else
                        query = query with { Id = unchecked((uint)CNumberText.Strtoul(value, out _, out _)) };
                    break;
                case 'm':
                    flags.Add(c);
                    ulong mark = CNumberText.Strtoul(value, out int markEnd, out _);
                    uint markMask = markEnd < value.Length && value[markEnd] == '/' ? unchecked((uint)CNumberText.Strtoul(value.AsSpan(markEnd + 1), out _, out _)) : uint.MaxValue;
                    query = query with { Mark = (unchecked((uint)mark), markMask) };
                    break;
                case 'w' or '(' or ')':
                    flags.Add(c);
                    ushort zone = unchecked((ushort)CNumberText.Strtoul(value, out _, out _));
                    query = query with
                    {
                        Zones = c switch
                        {
                            'w' => query.Zones with { Zone = zone },
                            '(' => query.Zones with { Original = zone },
                            _ => query.Zones with { Reply = zone },
                        },
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
            'G' => ConntrackAction.Get,
            'S' => ConntrackAction.Stats,
            'h' => ConntrackAction.Usage,
            'V' => ConntrackAction.Version,
            ConntrackOptions.PolicyCounts => ConntrackAction.PolicyCounts,
            _ => null,
        };
        if (command is not null && action is null)
            return Fail(NotServed(commandOption), out error); // its legal options are not known here
        if (query.Json && action is not (ConntrackAction.List or ConntrackAction.PolicyCounts))
            return Fail("unknown option `--json'", out error); // FastPath's --json is for listings; conntrack knows none
        if (query.Json && flags.Contains('o'))
            return Fail("cannot combine --json with --output", out error); // two formats for one listing
        if (action == ConntrackAction.PolicyCounts && flags.Contains('o'))
            return Fail("Illegal option `--output' with this command", out error); // FastPath's own counts have one format
        bool expect = query.Table == ConntrackTable.Expect;
        var row = action switch
        {
            null => Legal.NoCommand,
            ConntrackAction.List when expect => Legal.ExpectList,
            ConntrackAction.List or ConntrackAction.PolicyCounts => Legal.List,
            ConntrackAction.Delete or ConntrackAction.Get when expect => Legal.ExpectByTuple,
            ConntrackAction.Delete => Legal.Delete,
            ConntrackAction.Get => Legal.Get,
            ConntrackAction.Flush => expect ? Legal.None : Legal.Flush,
            ConntrackAction.Usage => Legal.Help,
            ConntrackAction.Version => Legal.Version,
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
        // GET's undecided pairs: one of them whole, else the first given in part names what is missing.
        if (row == Legal.Get && !(flags.Contains('s') && flags.Contains('d')) && !(flags.Contains('r') && flags.Contains('q')))
        {
            return flags.Contains('s') || flags.Contains('d') || !(flags.Contains('r') || flags.Contains('q'))
                ? Fail("you have to specify `--src' and `--dst'", out error)
                : Fail("you have to specify `--reply-src' and `--reply-dst'", out error);
        }
        // FastPath's own filter: on connections, which expectations are not.
        if (query.TimeoutPolicy is not null && (row & (Legal.List | Legal.Delete)) == 0)
            return Fail("Illegal option `--timeout-policy' with this command", out error);
        if (row != Legal.Help && !CheckModule(module, moduleFlags, row, out error))
            return null;
        // On the connection table only: conntrack builds no filter for dying and unconfirmed.
        if (query.Table == ConntrackTable.Conntrack && flags.Contains('{') && !flags.Contains('s'))
            return Fail("Can't use --mask-src without --src", out error);
        if (query.Table == ConntrackTable.Conntrack && flags.Contains('}') && !flags.Contains('d'))
            return Fail("Can't use --mask-dst without --dst", out error);
        if (idWithoutValue)
            return Fail("option `--id' requires an argument", out error);
        if (unserved is not null)
            return Fail(NotServed(unserved), out error);
        return query with
        {
            Action = action ?? ConntrackAction.Usage, Family = family,
            Source = Network(sourceAddress, sourceMask, family), Destination = Network(destinationAddress, destinationMask, family),
        };
    }

    // The last module's own check (only -L, -D and -G get here with -p), by its own names: with -L and -D its masks,
    // expectation tuples, vtags and role are illegal; -G takes its ports (GRE's keys) as pairs, the original or the
    // reply one whole, its state and SCTP's vtags, and needs ICMP's type and code; -D and -G expect need the tuple's
    // four ports and take nothing else.
    private static bool CheckModule(ProtocolModule module, int moduleFlags, Legal row, out string error)
    {
        error = "";
        for (int bit = 0; bit < module.FlagCount; bit++)
        {
            bool set = (moduleFlags & (1 << bit)) != 0;
            ModuleOption? sets = bit < module.Bits.Length ? module.Bits[bit].Sets : null;
            string flag = bit < module.Bits.Length ? module.Bits[bit].Flag : "(null)";
            bool isPort = sets is ModuleOption.SourcePort or ModuleOption.DestinationPort or ModuleOption.ReplySourcePort or ModuleOption.ReplyDestinationPort;
            bool legal, required = false;
            if (row == Legal.ExpectByTuple)
            {
                required = isPort;
                legal = required;
            }
            else if (row == Legal.Get)
            {
                required = sets is ModuleOption.IcmpType or ModuleOption.IcmpCode;
                legal = isPort || required || sets is ModuleOption.State or ModuleOption.IcmpId or ModuleOption.VerificationTag;
            }
            else
            {
                legal = sets is not (null or ModuleOption.Role or ModuleOption.NoFilter or ModuleOption.VerificationTag);
            }
            if (!set && required)
                return Refuse($"You need to supply the `--{flag}' option for this command", out error);
            if (set && !legal)
                return Refuse($"Illegal option `--{flag}' with this command", out error);
        }
        if (row != Legal.Get || module.GetPairs is not { } pairs)
            return true;
        int original = PairBits(module, ModuleOption.SourcePort, ModuleOption.DestinationPort);
        int reply = PairBits(module, ModuleOption.ReplySourcePort, ModuleOption.ReplyDestinationPort);
        if ((moduleFlags & original) == original || (moduleFlags & reply) == reply)
            return true;
        bool replyInPart = (moduleFlags & original) == 0 && (moduleFlags & reply) != 0;
        return Refuse($"you have to specify {(replyInPart ? pairs.Reply : pairs.Original)}", out error);
    }

    private static int PairBits(ProtocolModule module, ModuleOption first, ModuleOption second) =>
        module.Bits.Select((b, bit) => b.Sets == first || b.Sets == second ? 1 << bit : 0).Sum();

    // conntrack's parse_parameter (-o, PARSE_OUTPUT) and parse_parameter_mask (-u, PARSE_STATUS): a comma-separated
    // list of prefixes, in any case, of its names (the first one the prefix names, in its order), each adding its
    // bits, with prefixes of SRC_NAT and DST_NAT passed over with a warning first; with parse_parameter_mask an item
    // after '!' adds to negated instead. An empty item or one that names nothing is "Bad parameter" with the rest of
    // the list from that item on (after its '!').
    private static bool TryParameter(
        string value, (string Name, uint Bits)[] names, bool negatable, ref uint bits, ref uint negated, List<ConntrackWarning> printed, out string error)
    {
        error = "";
        string rest = value;
        while (true)
        {
            bool isNegated = negatable && rest.StartsWith('!');
            if (isNegated)
                rest = rest[1..];
            int comma = rest.IndexOf(',');
            string item = comma < 0 ? rest : rest[..comma];
            if (item.Length == 0 || !TryParameterItem(item, names, ref isNegated ? ref negated : ref bits, printed))
                return Refuse($"Bad parameter `{rest}'", out error);
            if (comma < 0)
                return true;
            rest = rest[(comma + 1)..];
        }
    }

    private static readonly (string Name, uint Bits)[] s_statusNames =
    [
        ("ASSURED", (uint)ConntrackStatus.Assured), ("SEEN_REPLY", (uint)ConntrackStatus.SeenReply), ("UNSET", (uint)ConntrackStatus.Unset),
        ("FIXED_TIMEOUT", (uint)ConntrackStatus.FixedTimeout), ("EXPECTED", (uint)ConntrackStatus.Expected),
        ("OFFLOAD", (uint)ConntrackStatus.Offload), ("HW_OFFLOAD", (uint)ConntrackStatus.HardwareOffload),
    ];

    // conntrack's event names (PARSE_EVENT): the bits only tell them apart, nothing uses them.
    private static readonly (string Name, uint Bits)[] s_eventNames = [("ALL", 7), ("NEW", 1), ("UPDATES", 2), ("DESTROY", 4)];

    private static readonly (string Name, uint Bits)[] s_outputTypes =
    [
        ("xml", (uint)ConntrackOutput.Xml), ("extended", (uint)ConntrackOutput.Extended), ("timestamp", (uint)ConntrackOutput.Timestamp),
        ("id", (uint)ConntrackOutput.Id), ("ktimestamp", (uint)ConntrackOutput.KernelTimestamp), ("labels", (uint)ConntrackOutput.Labels),
        ("userspace", (uint)ConntrackOutput.Userspace), ("save", (uint)ConntrackOutput.Save),
    ];

    private static bool TryParameterItem(string item, (string Name, uint Bits)[] names, ref uint bits, List<ConntrackWarning> printed)
    {
        static bool Prefix(string item, string name) => item.Length <= name.Length && Ascii.EqualsIgnoreCase(item, name.AsSpan(0, item.Length));
        if (Prefix(item, "SRC_NAT") || Prefix(item, "DST_NAT"))
        {
            printed.Add(Prefix(item, "SRC_NAT") ? ConntrackWarning.IgnoringSourceNat : ConntrackWarning.IgnoringDestinationNat);
            return true;
        }
        foreach (var (name, named) in names)
        {
            if (Prefix(item, name))
            {
                bits |= named;
                return true;
            }
        }
        return false;
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
                return query with { SourcePort = (ushort)number, TupleLayer4 = query.TupleLayer4 with { Source = (ushort)number } };
            case ModuleOption.DestinationPort:
                return query with { DestinationPort = (ushort)number, TupleLayer4 = query.TupleLayer4 with { Destination = (ushort)number } };
            case ModuleOption.ReplySourcePort:
                return query with { ReplySourcePort = (ushort)number, ReplyProtocol = module.Number };
            case ModuleOption.ReplyDestinationPort:
                return query with { ReplyDestinationPort = (ushort)number, ReplyProtocol = module.Number };
            case ModuleOption.IcmpType or ModuleOption.IcmpCode or ModuleOption.IcmpId:
                var (source, destination) = query.TupleLayer4;
                query = option switch
                {
                    ModuleOption.IcmpType => query with { IcmpType = (byte)number, TupleLayer4 = (source, (ushort)((byte)number << 8 | (destination & 0xFF))) },
                    ModuleOption.IcmpCode => query with { IcmpCode = (byte)number, TupleLayer4 = (source, (ushort)((destination & 0xFF00) | (byte)number)) },
                    _ => query with { IcmpId = (ushort)number, TupleLayer4 = ((ushort)number, destination) },
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
        && (TimeoutPolicy is null || flow.TimeoutPolicy == TimeoutPolicy)
        && (Id is null || flow.Id == Id)
        && (Mark is not var (mark, mask) || (flow.Mark & mask) == mark)
        && (Zones.Zone ?? flow.Zone) == flow.Zone && (Zones.Original ?? flow.Zone) == flow.Zone && (Zones.Reply ?? flow.Zone) == flow.Zone
        && (Status is not { } status || StatusSelects(StatusOf(flow), status));

    // conntrack's own comparison (every bit given), and for -L the kernel's filter as well.
    private bool StatusSelects(ConntrackStatus has, ConntrackStatus given) =>
        (has & given) == given && (Action == ConntrackAction.Delete || (has & StatusMask) == given);

    // A listed connection's status bits that -u can name (CONFIRMED, which every listed one has, it cannot).
    private static ConntrackStatus StatusOf(FlowView flow) =>
        (flow.SeenReply ? ConntrackStatus.SeenReply : ConntrackStatus.Unset) | (flow.Assured ? ConntrackStatus.Assured : ConntrackStatus.Unset);

    /// <summary>
    /// -L (and --policy-counts, its count) on the conntrack table: the kernel's refusal of the dump conntrack asks
    /// for, as conntrack reports it after "Operation failed: "; null when the kernel dumps, and for other commands. With -u conntrack sends
    /// a status filter, and Linux refuses its mask when empty (-u UNSET, only SRC_NAT and DST_NAT prefixes, !UNSET)
    /// with EINVAL; -D filters in conntrack itself.
    /// </summary>
    public (ControlError Errno, string Reason)? ListRefusal() =>
        Action is ConntrackAction.List or ConntrackAction.PolicyCounts && Table == ConntrackTable.Conntrack
        && Status is not null && StatusMask == ConntrackStatus.Unset ? (ControlError.EINVAL, InvalidParameters) : null;

    /// <summary>
    /// -G: why the request fails before any connection is looked up, as conntrack reports it after "Operation
    /// failed: ", with the errno the socket carries; null when the kernel looks the tuple up. libnetfilter_conntrack
    /// refuses a request without an original address (only -r and -q given: "invalid parameters"), and fails to build
    /// one whose reply ports come without a reply address, leaving whatever errno it had (TCP's module: "No data
    /// available"; the others': "Success"); the kernel refuses an ICMP type without an inverse (nf_conntrack_proto_icmp's
    /// invmap: echo, timestamp, information and address mask requests and replies; ICMPv6's echo and node information).
    /// </summary>
    public (ControlError Errno, string Reason)? GetRefusal()
    {
        if (Source is null && Destination is null)
            return (ControlError.EINVAL, InvalidParameters);
        if ((ReplySourcePort ?? ReplyDestinationPort) is not null && ReplySource is null && ReplyDestination is null)
            return ReplyProtocol == 6 ? (ControlError.FromNumber(61), "No data available") : (ControlError.EINVAL, "Success");
        int icmpType = TupleLayer4.Destination >> 8;
        bool inverse = Protocol switch
        {
            1 => icmpType is 0 or 8 or 13 or 14 or 15 or 16 or 17 or 18,
            58 => icmpType is 128 or 129 or 139 or 140,
            _ => true,
        };
        return inverse ? null : (ControlError.EINVAL, InvalidParameters);
    }

    /// <summary>conntrack's words for EINVAL from the kernel.</summary>
    public const string InvalidParameters = "invalid parameters";

    /// <summary>
    /// -G: whether the connection is the one the kernel's lookup finds for the original tuple conntrack sends (what
    /// was not given is 0; the layer-4 fields from <see cref="TupleLayer4"/>): the tuple in either of its directions,
    /// as nf_conntrack_find_get hashes both. Ports and GRE keys count for the protocols the kernel keys on them (DCCP
    /// is generic since Linux 6.16); ICMP's type, code and id for ICMP and ICMPv6. conntrack then shows it only if <see cref="Matches"/>: a connection found by its reply
    /// tuple fails on the original addresses, and is not shown.
    /// </summary>
    public bool IsGetTarget(FlowView flow)
    {
        if (flow.Family != Family || flow.Protocol != Protocol)
            return false;
        bool ports = FlowTable.HasPorts(flow.Protocol) || flow.Protocol == ProtocolModule.Gre;
        bool icmp = flow.Protocol is 1 or 58;
        var (source, destination) = TupleLayer4;
        var tuple = new FlowTuple(
            Source?.Address ?? default, Destination?.Address ?? default,
            ports ? source : (ushort)0, ports ? destination : (ushort)0,
            icmp ? (byte)(destination >> 8) : (byte)0, icmp ? (byte)destination : (byte)0, icmp ? source : (ushort)0);
        return flow.Original == tuple || flow.Reply == tuple;
    }

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

    // A command or option of conntrack's that FastPath does not serve (events, -I, -U, -A, -z, marks, zones, labels,
    // NAT, masks, ...), named as written: conntrack's "unknown option" would tell the user it does not exist.
    private static string NotServed(string option) => $"option `{option}' is not served by FastPath";

    private static ConntrackQuery? Fail(string message, out string error)
    {
        error = message;
        return null;
    }

    private static bool Refuse(string message, out string error)
    {
        error = message;
        return false;
    }

    // conntrack's findproto: a protocol module's name in any case ("TCP", "Udp") loads the module and its options;
    // another name getprotobyname knows ("esp", "ipv6-icmp") gives its number, which conntrack cuts to the byte it
    // sends ("mptcp", 262, is 6) and -h names whole, with the generic module, which has no options; else a number as
    // strtoul reads it whole (base 0: "0x11" and "+17" are 17, "017" is 15, "-0" is 0; at most 255), with its
    // protocol's module if any.
    private static bool TryProtocol(string text, ProtocolNames protocols, out int protocol, out ProtocolModule module)
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
        if (protocols.TryGetNumber(text, out protocol))
            return true;
        ulong value = CNumberText.Strtoul(text, out int end, out _);
        protocol = unchecked((byte)value);
        if (value > byte.MaxValue || end == 0 || end != text.Length)
            return false;
        int number = protocol;
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

    // The network an address and the last mask given (a short prefix or --mask-src, any bits; else the whole
    // address) select, kept masked so that a match is one And and one compare.
    private static (InetAddress Address, InetAddress Mask)? Network(InetAddress? address, InetAddress? mask, L3Kind? family)
    {
        if (address is not { } given)
            return null;
        var bits = mask ?? InetAddress.PrefixMask(family == L3Kind.IPv6 ? 128 : 32);
        return (given.And(bits), bits);
    }
}
