// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// getprotobyname over the protocols database, which is how nfct reads a layer-4 protocol: the official name or
/// any alias, case-sensitively, the first line that has it wins ("tcp", "TCP", "ipv6-icmp", "IPv6-ICMP",
/// "UDPLite" work; "Tcp" does not).
/// </summary>
public sealed class ProtocolNames
{
    private readonly Dictionary<string, int> _numbers;
    private readonly Dictionary<int, string> _names;

    private ProtocolNames(Dictionary<string, int> numbers, Dictionary<int, string> names) => (_numbers, _names) = (numbers, names);

    /// <summary>/etc/protocols when there is one (as nfct reads it), else the entries of Debian's netbase that matter here.</summary>
    public static ProtocolNames Installed { get; } = File.Exists("/etc/protocols")
        ? Parse(File.ReadAllText("/etc/protocols"))
        : Parse(Fallback);

    /// <summary>Reads protocols(5) text: "name number aliases... # comment" per line.</summary>
    public static ProtocolNames Parse(string text)
    {
        var numbers = new Dictionary<string, int>(StringComparer.Ordinal);
        var officialNames = new Dictionary<int, string>();
        foreach (var (names, number) in NetDbLines.Entries(text))
        {
            if (!int.TryParse(number, System.Globalization.NumberStyles.None, null, out int value))
                continue;
            foreach (string name in names)
                numbers.TryAdd(name, value);
            officialNames.TryAdd(value, names[0]);
        }
        return new ProtocolNames(numbers, officialNames);
    }

    /// <summary>The protocol number of a name or alias, as getprotobyname finds it.</summary>
    public bool TryGetNumber(string name, out int number) => _numbers.TryGetValue(name, out number);

    /// <summary>The official name of the first line with the number, as getprotobynumber finds it.</summary>
    public bool TryGetName(int number, out string name) => _names.TryGetValue(number, out name!);

    private const string Fallback = """
        ip	0	IP
        hopopt	0	HOPOPT
        icmp	1	ICMP
        igmp	2	IGMP
        tcp	6	TCP
        udp	17	UDP
        dccp	33	DCCP
        ipv6	41	IPv6
        gre	47	GRE
        esp	50	IPSEC-ESP
        ah	51	IPSEC-AH
        ipv6-icmp 58	IPv6-ICMP
        sctp	132	SCTP
        udplite	136	UDPLite
        mptcp	262	MPTCP
        """;
}
