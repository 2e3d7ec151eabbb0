// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Core.Tests.Conntrack;

/// <summary>nfct 1.4.7's command-line grammar: word order, abbreviations, protocol and state names, atoi, messages.</summary>
public class NfctCommandTests
{
    /// <summary>The lines of Debian's /etc/protocols (netbase) the tests rely on.</summary>
    internal static readonly ProtocolNames Protocols = ProtocolNames.Parse("""
        # Internet (IP) protocols
        ip	0	IP		# internet protocol, pseudo protocol number
        hopopt	0	HOPOPT		# IPv6 Hop-by-Hop Option [RFC1883]
        icmp	1	ICMP		# internet control message protocol
        igmp	2	IGMP		# Internet Group Management
        tcp	6	TCP		# transmission control protocol
        udp	17	UDP		# user datagram protocol
        dccp	33	DCCP		# Datagram Congestion Control Prot. [RFC4340]
        gre	47	GRE		# General Routing Encapsulation
        ipv6-icmp 58	IPv6-ICMP	# ICMP for IPv6
        rspf	73	RSPF CPHB	# Radio Shortest Path First (officially CPHB)
        sctp	132	SCTP		# Stream Control Transmission Protocol
        udplite	136	UDPLite		# UDP-Lite [RFC3828]
        mptcp	262	MPTCP		# Multipath TCP connection
        """);

    private static NfctCommand Parse(params string[] arguments) => NfctCommand.Parse(arguments, "nfct", Protocols);

    private static string Refusal(params string[] arguments) => Assert.IsType<NfctRefused>(Parse(arguments)).Error;

    private const string Usage = "Usage: nfct command subsystem [parameters]...\n";

    [Theory]
    [InlineData("list", "timeout")]
    [InlineData("l", "timeout")]
    [InlineData("li", "t")]
    [InlineData("", "timeout")]
    [InlineData("list", "")]
    [InlineData("timeout", "list")]
    [InlineData("t", "l")]
    [InlineData("time", "")]
    public void ListAcceptsEitherOrderAndAnyPrefix(string first, string second) =>
        Assert.IsType<NfctListTimeouts>(Parse(first, second));

    [Theory]
    [InlineData("a", typeof(NfctAddTimeout))]
    [InlineData("add", typeof(NfctAddTimeout))]
    [InlineData("d", typeof(NfctDeleteTimeout))]
    [InlineData("del", typeof(NfctDeleteTimeout))]
    [InlineData("g", typeof(NfctGetTimeout))]
    [InlineData("f", typeof(NfctFlushTimeouts))]
    [InlineData("def", typeof(NfctSetDefaults))]
    [InlineData("default", typeof(NfctSetDefaults))]
    [InlineData("default-s", typeof(NfctSetDefaults))]
    [InlineData("default-g", typeof(NfctGetDefaults))]
    public void TheFirstCommandAnAbbreviationStartsWins(string word, Type command)
    {
        string[] rest = command == typeof(NfctAddTimeout) ? ["web", "inet", "tcp", "close", "1"]
            : command == typeof(NfctSetDefaults) ? ["inet", "tcp", "close", "1"]
            : command == typeof(NfctGetDefaults) ? ["inet", "tcp"]
            : command == typeof(NfctFlushTimeouts) ? []
            : ["web"];
        Assert.IsType(command, Parse([word, "timeout", .. rest]));
        Assert.IsType(command, Parse(["timeout", word, .. rest]));
    }

    [Fact]
    public void AddCarriesNameProtocolsAndStates()
    {
        var add = Assert.IsType<NfctAddTimeout>(Parse("add", "timeout", "test-tcp", "inet", "tcp", "established", "100", "close", "10", "close_wait", "10"));
        Assert.Equal("test-tcp", add.Name);
        Assert.Equal((ushort)2, add.L3Protocol);
        Assert.Equal((byte)6, add.L4Protocol);
        Assert.Equal(new Dictionary<int, uint> { [2] = 100, [7] = 10, [4] = 10 }, add.Seconds);
    }

    [Fact]
    public void WithoutStatesThereIsNoPolicyData()
    {
        var add = Assert.IsType<NfctAddTimeout>(Parse("add", "timeout", "web", "inet6", "udp"));
        Assert.Equal((ushort)10, add.L3Protocol);
        Assert.Null(add.Seconds);
    }

    [Fact]
    public void StateNamesFoldAsciiCaseAndTheLastValueOfAStateWins()
    {
        var add = Assert.IsType<NfctAddTimeout>(Parse("add", "timeout", "w", "inet", "tcp", "ESTABlished", "7", "syn_sent", "3", "ESTABLISHED", "9"));
        Assert.Equal(new Dictionary<int, uint> { [2] = 9, [0] = 3 }, add.Seconds);
        Assert.Equal("nfct v1.4.7: Wrong state name: `eſtablished' for protocol `tcp'\n",
            Refusal("add", "timeout", "w", "inet", "tcp", "eſtablished", "7"));
    }

    [Theory]
    [InlineData("tcp", 6)]
    [InlineData("TCP", 6)]
    [InlineData("udplite", 136)]
    [InlineData("UDPLite", 136)]
    [InlineData("icmp", 1)]
    [InlineData("ICMP", 1)]
    [InlineData("icmpv6", 58)]
    [InlineData("ipv6-icmp", 58)]
    [InlineData("IPv6-ICMP", 58)]
    [InlineData("generic", 255)]
    [InlineData("dccp", 33)]
    [InlineData("gre", 47)]
    [InlineData("sctp", 132)]
    [InlineData("ip", 0)]
    [InlineData("CPHB", 73)]
    [InlineData("mptcp", 6)] // 262 as the kernel's byte
    public void Layer4NamesComeFromTheProtocolsDatabase(string word, byte number) =>
        Assert.Equal(number, Assert.IsType<NfctGetDefaults>(Parse("default-get", "timeout", "inet", word)).L4Protocol);

    [Theory]
    [InlineData("Tcp")]
    [InlineData("6")]
    [InlineData("")]
    [InlineData("raw")]
    public void OtherLayer4NamesAreUnknown(string word) =>
        Assert.Equal("nfct v1.4.7: unknown layer 4 protocol\n", Refusal("default-get", "timeout", "inet", word));

    [Theory]
    [InlineData("ip")]
    [InlineData("INET")]
    [InlineData("inet4")]
    [InlineData("ipv6")]
    public void OnlyInetAndInet6AreLayer3Protocols(string word) =>
        Assert.Equal("nfct v1.4.7: unknown layer 3 protocol\n", Refusal("add", "timeout", "web", word, "tcp", "close", "1"));

    [Theory]
    [InlineData("dccp", "request", true)] // nfct knows DCCP's states; the kernel no longer does
    [InlineData("sctp", "shutdown_ack_sent", true)]
    [InlineData("sctp", "heartbeat_sent", false)] // the kernel has it, nfct does not
    [InlineData("gre", "replied", true)]
    [InlineData("udplite", "unreplied", true)]
    [InlineData("generic", "timeout", true)]
    [InlineData("igmp", "timeout", false)]
    [InlineData("ip", "timeout", false)]
    [InlineData("mptcp", "established", false)] // nfct looks 262 up, not 6
    [InlineData("tcp", "bogus", false)]
    public void StatesAreNfctsNamesForTheProtocol(string protocol, string state, bool known)
    {
        var command = Parse("add", "timeout", "x", "inet", protocol, state, "5");
        if (known)
            Assert.IsType<NfctAddTimeout>(command);
        else
            Assert.Equal($"nfct v1.4.7: Wrong state name: `{state}' for protocol `{protocol}'\n", Assert.IsType<NfctRefused>(command).Error);
    }

    [Theory]
    [InlineData("0", 0u)]
    [InlineData("100", 100u)]
    [InlineData("4294967295", 4294967295u)]
    [InlineData("4294967296", 0u)]
    [InlineData("-1", 4294967295u)]
    [InlineData("abc", 0u)]
    [InlineData("12abc", 12u)]
    [InlineData(" 7", 7u)]
    [InlineData("\t\n7", 7u)]
    [InlineData("+5", 5u)]
    [InlineData("0x10", 0u)]
    [InlineData("99999999999", 1215752191u)]
    [InlineData("2147483648", 2147483648u)]
    [InlineData("99999999999999999999", 4294967295u)]
    [InlineData("-99999999999999999999", 0u)]
    [InlineData("", 0u)]
    [InlineData("-", 0u)]
    // Checked against nfct by the command-line differential: C's isspace, one sign, decimal only, ASCII digits.
    [InlineData("\v5", 5u)]
    [InlineData("\f6", 6u)]
    [InlineData("\r7", 7u)]
    [InlineData("\u00a08", 0u)]
    [InlineData(" +9", 9u)]
    [InlineData("+-5", 0u)]
    [InlineData("-0", 0u)]
    [InlineData("007", 7u)]
    [InlineData("1e3", 1u)]
    [InlineData("٣", 0u)]
    public void ValuesGoThroughAtoi(string text, uint value)
    {
        var add = Assert.IsType<NfctAddTimeout>(Parse("add", "timeout", "g", "inet", "generic", "timeout", text));
        Assert.Equal(value, add.Seconds![0]);
    }

    [Fact]
    public void AMissingValueIsReportedWithTheErrnoAnEarlierOverflowLeft()
    {
        Assert.Equal("nfct v1.4.7: missing value for this timeout\n", Refusal("add", "timeout", "w", "inet", "tcp", "close", "5", "established"));
        Assert.Equal("nfct v1.4.7: missing value for this timeout\n", Refusal("add", "timeout", "w", "inet", "tcp", "bogus"));
        Assert.Equal("nfct v1.4.7: missing value for this timeout: Numerical result out of range\n",
            Refusal("add", "timeout", "w", "inet", "tcp", "close", "99999999999999999999", "established"));
        Assert.Equal("nfct v1.4.7: missing value for this timeout: Numerical result out of range\n",
            Refusal("default-set", "timeout", "inet", "tcp", "close", "-99999999999999999999", "close"));
    }

    [Theory]
    [InlineData("abcdefghijklmnopqrstuvwxyz01234", "abcdefghijklmnopqrstuvwxyz01234")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789ABCD", "abcdefghijklmnopqrstuvwxyz01234")]
    [InlineData("", "")]
    [InlineData("ééééééééééééééééé", "ééééééééééééééé")] // 34 bytes: cut at the last whole character within 31
    public void NamesAreCutTo31Bytes(string given, string kept)
    {
        Assert.Equal(kept, Assert.IsType<NfctGetTimeout>(Parse("get", "timeout", given)).Name);
        Assert.Equal(kept, Assert.IsType<NfctDeleteTimeout>(Parse("delete", "timeout", given)).Name);
        Assert.Equal(kept, Assert.IsType<NfctAddTimeout>(Parse("add", "timeout", given, "inet", "tcp", "close", "1")).Name);
    }

    [Fact]
    public void DefaultGetIgnoresWhatFollowsTheProtocol() =>
        Assert.IsType<NfctGetDefaults>(Parse("default-get", "timeout", "inet", "tcp", "extra", "more"));

    public static TheoryData<string[], string> Refusals => new()
    {
        { [], Usage },
        { ["list"], Usage },
        { ["timeout"], Usage },
        { ["x", "timeout"], "nfct v1.4.7: Unknown subsystem: x\n" + Usage },
        { ["list", "x"], "nfct v1.4.7: Unknown subsystem: list\n" + Usage },
        { ["timeout", "x"], "nfct v1.4.7: Unknown command: timeout\n" + Usage },
        { ["v", "timeout"], "nfct v1.4.7: Unknown command: v\n" + Usage },
        { ["help", "timeout"], "nfct v1.4.7: Unknown command: help\n" + Usage },
        { ["disable", "timeout"], "nfct v1.4.7: Missing command\nnfct <list|add|delete|get|default-set|default-get|flush> timeout [<parameters>, ...]\n" },
        { ["di", "t"], "nfct v1.4.7: Missing command\nnfct <list|add|delete|get|default-set|default-get|flush> timeout [<parameters>, ...]\n" },
        { ["list", "timeout", "extra"], "nfct v1.4.7: too many arguments\n" },
        { ["flush", "timeout", "extra"], "nfct v1.4.7: too many arguments\n" },
        { ["get", "timeout"], "nfct v1.4.7: missing timeout policy name\n" },
        { ["delete", "timeout"], "nfct v1.4.7: missing timeout policy name\n" },
        { ["get", "timeout", "a", "b"], "nfct v1.4.7: too many arguments\n" },
        { ["delete", "timeout", "a", "b"], "nfct v1.4.7: too many arguments\n" },
        { ["add", "timeout", "web", "inet"], "nfct v1.4.7: missing parameters\nsyntax: nfct add timeout name family protocol state1 timeout1 ...\n" },
        { ["default-set", "timeout", "inet", "tcp"], "nfct v1.4.7: missing parameters\nsyntax: nfct default-set timeout family protocol state1 timeout1...\n" },
        { ["default-get", "timeout", "inet"], "nfct v1.4.7: missing parameters\nsyntax: nfct default-get timeout family protocol\n" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void RefusalsPrintWhatNfctPrints(string[] arguments, string error) => Assert.Equal(error, Refusal(arguments));

    [Fact]
    public void UsageLinesNameTheProgram() =>
        Assert.Equal("Usage: /usr/sbin/nfct command subsystem [parameters]...\n",
            Assert.IsType<NfctRefused>(NfctCommand.Parse(["list"], "/usr/sbin/nfct", Protocols)).Error);

    [Theory]
    [InlineData("list", "version")]
    [InlineData("version", "list")]
    [InlineData("add", "v")]
    public void VersionWorksUnderAnyCommand(string first, string second) => Assert.IsType<NfctShowVersion>(Parse(first, second));

    [Fact]
    public void TheProtocolsDatabaseTakesTheFirstLineAndIgnoresComments()
    {
        var names = ProtocolNames.Parse("tcp 6 TCP # comment tcp2\ntcp 99\nbad x BAD\n  # nothing\nsctp\t132\tSCTP\n");
        Assert.True(names.TryGetNumber("tcp", out int tcp));
        Assert.Equal(6, tcp);
        Assert.False(names.TryGetNumber("tcp2", out _));
        Assert.False(names.TryGetNumber("BAD", out _));
        Assert.True(names.TryGetNumber("SCTP", out int sctp));
        Assert.Equal(132, sctp);
    }
}
