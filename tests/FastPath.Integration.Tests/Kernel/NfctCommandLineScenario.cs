// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Seeded nfct command lines that stress the command line rather than the registry: abbreviated, misspelt and
/// option-like command and subsystem words in either order, family and protocol words nfct may or may not take,
/// state names in odd case, repeated or without a value, values atoi reads in surprising ways, names around the
/// 31-byte limit or with spaces and non-ASCII text, missing and extra arguments. A small pool of names and valid
/// adds among them keep the registry busy, so that get, delete and flush meet policies that exist.
/// </summary>
internal sealed class NfctCommandLineScenario(int seed)
{
    private const string Name31 = "abcdefghijklmnopqrstuvwxyz01234";

    // Adds three times as often as flushes, so that the registry fills up between them.
    private static readonly string[] s_commands =
    [
        "list", "add", "add", "add", "delete", "delete", "get", "get", "flush", "default-set", "default-set", "default-get",
    ];
    private static readonly string[] s_oddWords =
    [
        "-h", "--help", "-v", "--version", "version", "help", "helper", "foo", "", " ", "--", "-", "disable", "LIST", "Add",
        "timeouts", "lists", "t", "v", "h",
    ];
    private static readonly string[] s_subsystems = ["timeout", "timeout", "timeout", "t", "ti", "time", ""];
    private static readonly string[] s_oddSubsystems =
    [
        "TIMEOUT", "Timeout", "timeouts", "timeout ", "helper", "help", "h", "version", "v", "foo", "-h", "--version",
    ];
    // No name is cut inside a character: nfct would cut its bytes there, FastPath before the character (NfctCommand.PolicyName).
    private static readonly string[] s_names =
    [
        "web", "web", "dns", "dns", "a", "", " ", Name31, Name31 + "5", Name31 + "56", "café", "two words", "ünïcödé",
        new string('a', 29) + "é", new string('a', 28) + "éxyz", new string('a', 27) + "😀", new string('x', 100), "😀",
        "tab\tname", "line\nbreak", "%", "a%20b", "%s%n", "-h", "inet", "WEB",
    ];
    private static readonly string[] s_families = ["inet", "inet6"];
    private static readonly string[] s_oddFamilies = ["ip", "ip6", "ipv4", "ipv6", "INET", "Inet6", "", "inet ", "2", "10", "unix", "inet4"];
    private static readonly string[] s_protocols =
    [
        "tcp", "tcp", "udp", "udplite", "UDPLite", "dccp", "sctp", "SCTP", "gre", "icmp", "icmpv6", "ipv6-icmp", "generic", "TCP",
    ];
    private static readonly string[] s_oddProtocols =
    [
        "Tcp", "6", "17", "DCCP", "IPv6-ICMP", "GENERIC", "igmp", "ip", "mptcp", "raw", "foo", "256", "-1", "255", "", " tcp", "tcp ",
        "HOPOPT", "esp", "IPSEC-ESP", "l2tp", "ethernet", "CPHB", "manet", "#", "ax.25", "MPTCP",
    ];
    private static readonly string[] s_values =
    [
        "0", "1", "5", "100", "600", "007", "0x10", "+5", "-1", "4294967295", "4294967296", "1e3", "", " ", " 5", "5 ", "\t9",
        "99999999999999999999", "-99999999999999999999", "2147483648", "-2147483649", "17179870", "٣", "5abc", "abc", "--5",
        "\v5", "\f5", "\r5", "\n5", "\u00a05", "+-5", " +5", "0005", "-0",
    ];
    private static readonly string[] s_oddStates = ["bogus", "", "established=5", "timeout", "TIMEOUT", "unreplied", "Closed", "retrans "];

    private readonly Random _random = new(seed);

    public NfctStep Next()
    {
        int roll = _random.Next(100);
        if (roll < 8)
            return new NfctStep([.. Words(_random.Next(4), () => Pick(s_oddWords))]);
        string command = Pick(s_commands);
        var (first, second) = (CommandWord(command), Mostly(s_subsystems, s_oddSubsystems));
        string[] head = _random.Next(4) == 0 ? [second, first] : [first, second];
        var parameters = Parameters(command);
        roll = _random.Next(100);
        if (roll < 10 && parameters.Count > 0)
            parameters.RemoveAt(parameters.Count - 1);
        else if (roll < 20)
            parameters.AddRange(Words(1 + _random.Next(2), () => Pick(["extra", "", "timeout", "1"])));
        return new NfctStep([.. head, .. parameters]);
    }

    /// <summary>The command spelt out, cut to a prefix (the empty one too), or not quite nfct's word.</summary>
    private string CommandWord(string command) => _random.Next(12) switch
    {
        < 7 => command,
        < 10 => command[.._random.Next(command.Length + 1)],
        10 => command.ToUpperInvariant(),
        _ => command + Pick(["x", "s", " ", "-"]),
    };

    private List<string> Parameters(string command) => command switch
    {
        "add" => [Pick(s_names), .. Policy()],
        "default-set" => Policy(),
        "default-get" => [Mostly(s_families, s_oddFamilies), Mostly(s_protocols, s_oddProtocols)],
        "get" or "delete" => [Pick(s_names)],
        _ => [],
    };

    /// <summary>FAMILY PROTOCOL [STATE VALUE]...: the states mostly nfct's own for the protocol, in any case.</summary>
    private List<string> Policy()
    {
        string protocol = Mostly(s_protocols, s_oddProtocols);
        var names = NfctStateNames.For(ProtocolNames.Installed.TryGetNumber(protocol, out int number) ? number
            : protocol == "generic" ? TimeoutProtocols.GenericNumber
            : protocol == "icmpv6" ? 58
            : -1);
        var words = new List<string> { Mostly(s_families, s_oddFamilies), protocol };
        int states = _random.Next(8) == 0 ? _random.Next(20) : _random.Next(5);
        for (int i = 0; i < states; i++)
        {
            words.Add(names.Length > 0 && _random.Next(6) != 0 ? Cased(Pick(names.ToArray())) : Pick(s_oddStates));
            words.Add(Pick(s_values));
        }
        return words;
    }

    private string Cased(string state) => _random.Next(4) switch
    {
        0 => state.ToLowerInvariant(),
        1 => state,
        2 => string.Concat(state.Select((c, i) => i % 2 == 0 ? char.ToLowerInvariant(c) : c)),
        _ => state.Replace('_', '-'),
    };

    private List<string> Words(int count, Func<string> word) => Enumerable.Range(0, count).Select(_ => word()).ToList();

    /// <summary>Mostly a word nfct takes, so that the line gets on to its later words; sometimes one it may not.</summary>
    private string Mostly(string[] usual, string[] odd) => _random.Next(6) == 0 ? Pick(odd) : Pick(usual);

    private T Pick<T>(T[] choices) => choices[_random.Next(choices.Length)];
}
