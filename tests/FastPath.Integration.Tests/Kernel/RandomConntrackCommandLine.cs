// SPDX-License-Identifier: MIT
namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Seeded random conntrack command lines over the connections of <see cref="ConntrackCommandLineLiveDifferentialTests"/>:
/// a command (short, long, abbreviated, or none; sometimes a table after it, sometimes a second command), then
/// filters in any order (-p by name, number or odd case; addresses with and without prefixes, in both families;
/// ports under every name; --state; ICMP fields; -u; -f; -o), each written as a short option, a long one, a unique
/// prefix of a long one or with "=VALUE", sometimes clustered, given twice, missing its value, or replaced by junk.
/// No line changes what it does not delete: -I, -U, -A, -E (which waits for events), -z and the options FastPath does
/// not serve (labels, NAT) are left out, as are marks and zones (compared in MarkAndZoneFiltersMatchConntrack); -F only
/// names the other tables.
/// </summary>
internal sealed class RandomConntrackCommandLine(int seed, ConntrackCommandLineLiveDifferentialTests.Connection[] connections)
{
    private readonly Random _random = new(seed);

    // A command's spellings: getopt_long takes any prefix that names one option ("--st" names both --stats and --status).
    private static readonly (string[] Spellings, int Weight)[] s_commands =
    [
        (["-L", "--dump", "--du", "-L", "-L"], 8), (["-G", "--get", "--g"], 3), (["-D", "--delete", "--del"], 3),
        (["-C", "--count", "--cou"], 1), (["-S", "--stats", "--stat", "--st"], 1), (["-h", "--help", "--he"], 1),
        (["-V", "--version", "--v"], 1), (["-F", "--flush", "--fl"], 1),
    ];

    private static readonly string[] s_tables = ["conntrack", "expect", "dying", "unconfirmed", "conn", "e", "d", "u", "ct", "foo", "Conntrack"];

    private static readonly string[] s_otherTables = ["expect", "e", "exp", "dying", "unconfirmed", "unc", "foo"];

    private static readonly string[] s_protocols = ["tcp", "udp", "icmp", "TCP", "Udp", "6", "17", "1", "0x6", "017", "icmpv6", "ipv6-icmp", "58", "esp", "gre", "sctp", "dccp", "udplite", "255", "256", "foo", "-1", "tcpx"];

    private static readonly string[] s_addresses =
    [
        "172.16.0.10", "172.16.0.11", "198.18.0.1", "198.18.0.2", "172.16.0.0/24", "172.16.0.10/32", "198.18.0.0/16", "0.0.0.0/0",
        "172.16.0.10/33", "172.16.0.0/", "172.16.1", "2001:db8:1::10", "2001:db8:1::/64", "2001:db8:ffff::1", "2001:db8:ffff::1/128",
        "::/0", "10.0.0.1", "1.2.3.4.5", "foo", "2001:db8::1::2", "172.16.0.10/24", "172.16.0.10/-1", "2001:db8:1::10/129",
    ];

    private static readonly string[] s_masks = ["255.255.255.0", "255.255.0.0", "0.0.0.0", "255.0.255.0", "255.255.255.255", "ffff:ffff::", "::", "255.0.0.0/8", "x"];

    private static readonly string[] s_ports = ["80", "443", "22", "53", "123", "8080", "41000", "41001", "42001", "43000", "0", "65536", "abc", "0x50", "80x", "-1"];

    private static readonly string[] s_states =
    [
        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "TIME_WAIT", "FIN_WAIT", "CLOSE_WAIT", "CLOSE", "LAST_ACK", "NONE", "LISTEN",
        "SYN_SENT2", "established", "Established", "ESTABLISHED,SYN_SENT", "FOO", "OPEN",
    ];

    private static readonly string[] s_statuses = ["ASSURED", "SEEN_REPLY", "!ASSURED", "a,se", "!SEEN_REPLY", "UNSET", "bogus", "A,!S", "FIXED_TIMEOUT", "!a,!se", "EXPECTED"];

    private static readonly string[] s_families = ["ipv4", "ipv6", "ipv5", "inet", "IPV4", "ipv4x", "ipv6,ipv4"];

    private static readonly string[] s_outputs = ["extended", "id", "xml", "ktimestamp", "save", "extended,id", "timestamp", "xml,ext", "e", "bogus", "userspace", "id,xml,extended", "EXTENDED", "xml,,id", "labels", "s", "xml,d"];

    private static readonly string[] s_ids = ["1", "0", "abc", "0x10"];

    /// <summary>Words that are no option anywhere: stray arguments, and options that no table or getopt knows.</summary>
    private static readonly string[] s_junk = ["-x", "--bogus", "junk", "-", "--", "-Lx", "--=", "--orig", "--reply", "--mask", "--tuple-s", "-0"];

    /// <summary>The line's arguments, after "conntrack".</summary>
    public string[] Next()
    {
        var pieces = new List<List<string>>();
        if (_random.Next(10) != 0)
            pieces.Add(Command());
        if (_random.Next(12) == 0)
            pieces.Add(Command()); // two commands: "Invalid commands combination", or a table word taken for an option's
        string command = pieces.Count > 0 ? pieces[0][0] : "";
        if (command.StartsWith("-G", StringComparison.Ordinal) || command.StartsWith("--g", StringComparison.Ordinal))
            pieces.AddRange(GetTuple());
        int filters = _random.Next(0, 5);
        for (int i = 0; i < filters; i++)
            pieces.Add(Filter());
        if (_random.Next(8) == 0 && pieces.Count > 0)
            pieces.Add([.. pieces[_random.Next(pieces.Count)]]); // given twice
        if (_random.Next(12) == 0)
            pieces.Add([Pick(s_junk)]);
        // Options in any order, the command included: getopt moves no option, and conntrack reads the command wherever it is.
        if (_random.Next(3) == 0)
            Shuffle(pieces);
        var line = pieces.SelectMany(p => p).ToList();
        if (_random.Next(15) == 0 && line.Count > 1)
            line.RemoveAt(line.Count - 1); // the last option's value missing, or the last option gone
        return [.. line];
    }

    private List<string> Command()
    {
        int total = s_commands.Sum(c => c.Weight), pick = _random.Next(total);
        var spellings = s_commands.First(c => (pick -= c.Weight) < 0).Spellings;
        var command = new List<string> { Pick(spellings) };
        // -F empties the connection table: only the others (or a name that is none) here; the test flushes last.
        if (spellings[0] == "-F")
            command.Add(Pick(s_otherTables));
        else if (_random.Next(4) == 0)
            command.Add(Pick(s_tables));
        return command;
    }

    /// <summary>-G's tuple: a connection's, as given in its original direction, its reply direction, or with a port off by one.</summary>
    private List<string>[] GetTuple()
    {
        var c = connections[_random.Next(connections.Length)];
        bool reply = _random.Next(4) == 0;
        var (source, destination) = reply ? (c.Server, c.Client) : (c.Client, c.Server);
        var (sourcePort, destinationPort) = reply ? (c.ServerPort, c.ClientPort) : (c.ClientPort, c.ServerPort);
        if (_random.Next(5) == 0)
            destinationPort++;
        var tuple = new List<List<string>> { Option("s", "orig-src", source), Option("d", "orig-dst", destination), Option("p", "protonum", c.Protocol) };
        if (c.Protocol == "icmp")
        {
            tuple.Add(["--icmp-type", _random.Next(5) == 0 ? "0" : "8"]);
            tuple.Add(["--icmp-code", "0"]);
            tuple.Add(["--icmp-id", $"{c.ClientPort}"]);
        }
        else
        {
            tuple.Add([Pick(["--sport", "--orig-port-src", "--sp"]), $"{sourcePort}"]);
            tuple.Add([Pick(["--dport", "--orig-port-dst", "--dp"]), $"{destinationPort}"]);
        }
        // -G takes either pair whole: sometimes one part of one is left out.
        if (_random.Next(6) == 0)
            tuple.RemoveAt(_random.Next(tuple.Count));
        if (_random.Next(3) == 0)
            Shuffle(tuple);
        return [.. tuple];
    }

    private List<string> Filter() => _random.Next(15) switch
    {
        13 => Option("e", Pick(["event-mask", "event-m"]), Pick(["NEW", "ALL", "new,destroy", "UPDATES", "bogus", "NEW,,DESTROY"])),
        12 => [Pick(["--mask-src", "--mask-dst", "--mask-s", "--mask-src"]), Pick(s_masks)],
        0 or 1 => Option("p", Pick(["protonum", "proto", "p", "protonum"]), Pick(s_protocols)),
        2 => Option("s", Pick(["orig-src", "src", "orig-s"]), Pick(s_addresses)),
        3 => Option("d", Pick(["orig-dst", "dst", "orig-d"]), Pick(s_addresses)),
        4 => Option("r", Pick(["reply-src", "reply-s"]), Pick(s_addresses)),
        5 => Option("q", Pick(["reply-dst", "reply-d"]), Pick(s_addresses)),
        6 => ProtocolThen(Pick(["--sport", "--dport", "--orig-port-src", "--orig-port-dst", "--reply-port-src", "--reply-port-dst", "--sp", "--dp", "--orig-port-s", "--reply-port-d"]), Pick(s_ports)),
        7 => ProtocolThen("--state", Pick(s_states)),
        8 => ProtocolThen(Pick(["--icmp-type", "--icmp-code", "--icmp-id", "--icmpv6-type"]), Pick(["8", "0", "777", "778", "3", "x"])),
        9 => Option("u", Pick(["status", "stat", "status"]), Pick(s_statuses)),
        10 => Option("f", Pick(["family", "fam"]), Pick(s_families)),
        11 => Option("o", Pick(["output", "out"]), Pick(s_outputs)),
        // --id takes its value only as --id=N: conntrack 1.4.7 crashes on "--id N" (strtoul of NULL).
        _ => _random.Next(3) switch { 0 => ["-i", Pick(s_ids)], 1 => ["-i" + Pick(s_ids)], _ => ["--id=" + Pick(s_ids)] },
    };

    /// <summary>A protocol option, usually after the -p whose module defines it (without one getopt knows no such option).</summary>
    private List<string> ProtocolThen(string option, string value)
    {
        var piece = new List<string>();
        if (_random.Next(5) != 0)
            piece.AddRange(["-p", option.StartsWith("--icmpv6", StringComparison.Ordinal) ? "icmpv6" : option.StartsWith("--icmp", StringComparison.Ordinal) ? "icmp" : Pick(["tcp", "udp", "tcp", "6"])]);
        piece.AddRange(_random.Next(6) == 0 ? [$"{option}={value}"] : [option, value]);
        return piece;
    }

    /// <summary>An option with a value, spelled "-x V", "-xV", "--name V" or "--name=V".</summary>
    private List<string> Option(string shortName, string longName, string value) => _random.Next(6) switch
    {
        0 => [$"-{shortName}{value}"],
        1 => [$"--{longName}", value],
        2 => [$"--{longName}={value}"],
        _ => [$"-{shortName}", value],
    };

    private T Pick<T>(T[] choices) => choices[_random.Next(choices.Length)];

    private void Shuffle<T>(List<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
