// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// One nfct command line (conntrack-tools 1.4.7, `nfct COMMAND timeout ...` or the older `nfct timeout COMMAND
/// ...`, and the same for `helper`), parsed as nfct parses it: what it would ask of the kernel, or what it prints
/// before asking anything.
/// </summary>
public abstract record NfctCommand
{
    /// <summary>The conntrack-tools release whose grammar and messages these are.</summary>
    public const string Version = "1.4.7";

    /// <summary>What every nfct message starts with.</summary>
    public const string MessagePrefix = "nfct v" + Version + ": ";

    /// <summary>CTNL_TIMEOUT_NAME_MAX less the NUL: libnetfilter_cttimeout silently cuts a longer name to this.</summary>
    public const int NameBytes = 31;

    // nfct's tables, in its order: the first entry the argument is a prefix of wins ("d" is delete, "def"
    // default-set, "" list). nfct also lists a "help" subsystem, which no argument can reach: any prefix of
    // "help" is a prefix of "helper", which comes first.
    private static readonly string[] s_commands = ["list", "add", "delete", "get", "flush", "disable", "default-set", "default-get"];
    private static readonly string[] s_subsystems = ["timeout", "helper", "version"];

    /// <summary>
    /// Parses the arguments after the program name. <paramref name="programName"/> is nfct's argv[0], which its
    /// usage lines print; <paramref name="protocols"/> resolves layer-4 names (default: /etc/protocols).
    /// </summary>
    public static NfctCommand Parse(IReadOnlyList<string> arguments, string programName = "nfct", ProtocolNames? protocols = null)
    {
        string[] argv = [programName, .. arguments];
        string usage = $"Usage: {programName} command subsystem [parameters]...\n";
        if (argv.Length < 3)
            return new NfctRefused(usage);
        string? command = Match(s_commands, argv[1]);
        string? subsystem;
        if (command is null)
        {
            // The older order, subsystem first, which nfct still takes.
            subsystem = Match(s_subsystems, argv[1]);
            if (subsystem is null)
                return new NfctRefused($"{MessagePrefix}Unknown subsystem: {argv[1]}\n{usage}");
            command = Match(s_commands, argv[2]);
            if (command is null)
                return new NfctRefused($"{MessagePrefix}Unknown command: {argv[1]}\n{usage}");
        }
        else
        {
            // nfct names argv[1] here too, although argv[2] is the word it did not know.
            subsystem = Match(s_subsystems, argv[2]);
            if (subsystem is null)
                return new NfctRefused($"{MessagePrefix}Unknown subsystem: {argv[1]}\n{usage}");
        }
        return subsystem switch
        {
            "version" => new NfctShowVersion(),
            "helper" => ParseHelper(command, argv),
            _ => ParseTimeout(command, argv, protocols ?? ProtocolNames.Installed),
        };
    }

    private static NfctCommand ParseTimeout(string command, string[] argv, ProtocolNames protocols)
    {
        int argc = argv.Length;
        switch (command)
        {
            case "list":
                return argc > 3 ? TooManyArguments : new NfctListTimeouts();
            case "flush":
                return argc > 3 ? TooManyArguments : new NfctFlushTimeouts();
            case "get":
            case "delete":
                if (argc < 4)
                    return Refused("missing timeout policy name");
                if (argc > 4)
                    return TooManyArguments;
                return command == "get" ? new NfctGetTimeout(PolicyName(argv[3])) : new NfctDeleteTimeout(PolicyName(argv[3]));
            case "add":
            {
                if (argc < 6)
                    return Refused("missing parameters\nsyntax: nfct add timeout name family protocol state1 timeout1 ...");
                var refusal = ParsePolicy(argv.AsSpan(4), protocols, out ushort l3, out byte l4, out var seconds);
                return (NfctCommand?)refusal ?? new NfctAddTimeout(PolicyName(argv[3]), l3, l4, seconds);
            }
            case "default-set":
            {
                if (argc < 6)
                    return Refused("missing parameters\nsyntax: nfct default-set timeout family protocol state1 timeout1...");
                var refusal = ParsePolicy(argv.AsSpan(3), protocols, out ushort l3, out byte l4, out var seconds);
                return (NfctCommand?)refusal ?? new NfctSetDefaults(l3, l4, seconds);
            }
            case "default-get":
            {
                // Arguments after the protocol are ignored.
                if (argc < 5)
                    return Refused("missing parameters\nsyntax: nfct default-get timeout family protocol");
                if (ParseL3(argv[3], out ushort l3) is { } badL3)
                    return badL3;
                if (ParseL4(argv[4], protocols, out int l4) is { } badL4)
                    return badL4;
                return new NfctGetDefaults(l3, unchecked((byte)l4));
            }
            default:
                return new NfctRefused(
                    $"{MessagePrefix}Missing command\n{argv[0]} <list|add|delete|get|default-set|default-get|flush> timeout [<parameters>, ...]\n");
        }
    }

    /// <summary>
    /// nfct's helper extension (src/nfct-extensions/helper.c). Family and protocol are optional for get and delete;
    /// add and disable need both, and a helper nfct itself has for that protocol (<see cref="UserspaceHelpers"/>),
    /// and ignore words after them.
    /// </summary>
    private static NfctCommand ParseHelper(string command, string[] argv)
    {
        int argc = argv.Length;
        ushort l3 = 0;
        byte l4 = 0;
        switch (command)
        {
            case "list":
            case "flush":
                return argc > 3 ? TooManyArguments : new NfctHelperRequest(command);
            case "get":
            case "delete":
                if (argc < 4)
                    return Refused("missing helper policy name");
                if (argc > 6)
                    return TooManyArguments;
                if (argc >= 5 && ParseL3(argv[4], out l3) is { } badFamily)
                    return badFamily;
                if (argc == 6 && ParseHelperL4(argv[5], out l4) is { } badProtocol)
                    return badProtocol;
                return new NfctHelperRequest(command, argv[3], l3, l4);
            case "add":
            case "disable":
                if (argc < 6)
                    return Refused($"missing parameters\nsyntax: nfct {command} helper name family protocol");
                if (ParseL3(argv[4], out l3) is { } badL3)
                    return badL3;
                if (ParseHelperL4(argv[5], out l4) is { } badL4)
                    return badL4;
                if (!UserspaceHelpers.Contains((argv[3], l4)))
                    return Refused("that helper is not supported");
                return new NfctHelperRequest(command, argv[3], l3, l4);
            default:
                // nfct names argv[2] here, which is the subsystem word in the `nfct COMMAND helper` order.
                return new NfctRefused($"{MessagePrefix}Unknown command: {argv[2]}\n{MessagePrefix}Missing command\n" +
                    $"{argv[0]} helper list|add|delete|disable|get|flush [parameters...]\n");
        }
    }

    /// <summary>
    /// The helpers nfct finds as ct_helper_NAME.so in conntrackd's library directory (Debian's conntrackd 1.4.7),
    /// each with the protocols it registers: nfct refuses add and disable for any other name or protocol.
    /// </summary>
    private static readonly HashSet<(string Name, byte Protocol)> UserspaceHelpers =
    [
        ("amanda", 17), ("dhcpv6", 17), ("ftp", 6), ("mdns", 17), ("rpc", 6), ("rpc", 17),
        ("sane", 6), ("slp", 17), ("ssdp", 6), ("ssdp", 17), ("tftp", 17), ("tns", 6),
    ];

    /// <summary>The helper extension takes exactly "tcp" or "udp", without getprotobyname.</summary>
    private static NfctRefused? ParseHelperL4(string word, out byte l4)
    {
        l4 = word switch { "tcp" => 6, "udp" => 17, _ => 0 };
        return l4 == 0 ? Refused("unsupported layer 4 protocol") : null;
    }

    /// <summary>
    /// nfct_cmd_timeout_parse: "inet|inet6 PROTOCOL [STATE VALUE]...". A state is looked up among nfct's names for
    /// the protocol; its value goes through atoi. No state at all means no CTA_TIMEOUT_DATA (null).
    /// </summary>
    private static NfctRefused? ParsePolicy(ReadOnlySpan<string> args, ProtocolNames protocols, out ushort l3, out byte l4,
        out IReadOnlyDictionary<int, uint>? seconds)
    {
        l4 = 0;
        seconds = null;
        if (ParseL3(args[0], out l3) is { } badL3)
            return badL3;
        if (ParseL4(args[1], protocols, out int protocol) is { } badL4)
            return badL4;
        string protocolName = args[1];
        var values = new Dictionary<int, uint>();
        // nfct_perror appends strerror(errno) when errno is set, and a strtol that overflowed left ERANGE there.
        string? staleErrno = null;
        var rest = args[2..];
        for (; rest.Length > 1; rest = rest[2..])
        {
            int state = NfctStateNames.IndexOf(protocol, rest[0]);
            if (state < 0)
                return new NfctRefused($"{MessagePrefix}Wrong state name: `{rest[0]}' for protocol `{protocolName}'\n");
            values[state] = unchecked((uint)CNumberText.Atoi(rest[1], out bool outOfRange));
            if (outOfRange)
                staleErrno = Errnos.Message(Errno.ERANGE);
        }
        if (rest.Length > 0)
            return Refused("missing value for this timeout", staleErrno);
        l4 = unchecked((byte)protocol);
        seconds = values.Count > 0 ? values : null;
        return null;
    }

    private static NfctRefused? ParseL3(string word, out ushort l3)
    {
        l3 = word switch { "inet" => TimeoutPolicyRegistry.InetFamily, "inet6" => TimeoutPolicyRegistry.Inet6Family, _ => 0 };
        return l3 == 0 ? Refused("unknown layer 3 protocol") : null;
    }

    /// <summary>getprotobyname first; "icmpv6" (Debian says ipv6-icmp) and "generic" (255) as nfct's own fallbacks.</summary>
    private static NfctRefused? ParseL4(string word, ProtocolNames protocols, out int protocol)
    {
        if (protocols.TryGetNumber(word, out protocol))
            return null;
        protocol = word switch { "icmpv6" => 58, "generic" => TimeoutProtocols.GenericNumber, _ => -1 };
        return protocol < 0 ? Refused("unknown layer 4 protocol") : null;
    }

    private static string? Match(string[] table, string word)
    {
        foreach (string entry in table)
        {
            if (entry.StartsWith(word, StringComparison.Ordinal))
                return entry;
        }
        return null;
    }

    /// <summary>The name as libnetfilter_cttimeout keeps it: at most 31 bytes (<see cref="Utf8Text.CutToBytes"/>).</summary>
    internal static string PolicyName(string name) => Utf8Text.CutToBytes(name, NameBytes);

    /// <summary>nfct_perror: the message, and strerror(errno) after it when errno is set.</summary>
    private static NfctRefused Refused(string message, string? strerror = null) =>
        new(strerror is null ? $"{MessagePrefix}{message}\n" : $"{MessagePrefix}{message}: {strerror}\n");

    private static NfctRefused TooManyArguments => Refused("too many arguments");
}

/// <summary>`nfct list timeout`: a dump of every policy.</summary>
public sealed record NfctListTimeouts : NfctCommand;

/// <summary>`nfct get timeout NAME`.</summary>
public sealed record NfctGetTimeout(string Name) : NfctCommand;

/// <summary>`nfct add timeout NAME FAMILY PROTOCOL [STATE VALUE]...`: a create without NLM_F_EXCL or NLM_F_REPLACE.</summary>
public sealed record NfctAddTimeout(string Name, ushort L3Protocol, byte L4Protocol, IReadOnlyDictionary<int, uint>? Seconds) : NfctCommand;

/// <summary>`nfct delete timeout NAME`.</summary>
public sealed record NfctDeleteTimeout(string Name) : NfctCommand;

/// <summary>`nfct flush timeout`: a delete without a name.</summary>
public sealed record NfctFlushTimeouts : NfctCommand;

/// <summary>`nfct default-set timeout FAMILY PROTOCOL STATE VALUE...`.</summary>
public sealed record NfctSetDefaults(ushort L3Protocol, byte L4Protocol, IReadOnlyDictionary<int, uint>? Seconds) : NfctCommand;

/// <summary>`nfct default-get timeout FAMILY PROTOCOL`.</summary>
public sealed record NfctGetDefaults(ushort L3Protocol, byte L4Protocol) : NfctCommand;

/// <summary>`nfct version` under any command.</summary>
public sealed record NfctShowVersion : NfctCommand;

/// <summary>
/// A helper command nfct sends to nfnetlink_cthelper: list, flush, get and delete (NAME, and optionally family and
/// protocol; 0 when absent), add and disable (all three). FastPath has no cthelper subsystem.
/// </summary>
public sealed record NfctHelperRequest(string Command, string? Name = null, ushort L3Protocol = 0, byte L4Protocol = 0) : NfctCommand;

/// <summary>nfct stops before asking the kernel anything: <see cref="Error"/> is what it prints on stderr.</summary>
public sealed record NfctRefused(string Error) : NfctCommand;
