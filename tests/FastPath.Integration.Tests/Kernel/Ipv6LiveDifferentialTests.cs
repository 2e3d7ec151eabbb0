// SPDX-License-Identifier: MIT
using Xunit;
using FastPath.Core.Recent;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// IPv6 against the kernel, live: extension headers before the upper-layer header, ICMPv6 messages of every kind
/// (queries, errors quoting tracked and unknown flows, neighbour discovery), recent tables on IPv6 addresses.
/// </summary>
public sealed class Ipv6LiveDifferentialTests
{
    private const string Client = "2001:db8:1::10", Server = "2001:db8:ffff::1";

    private const string NoIpv4Rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        COMMIT

        """;

    // The filter table of both classifiers: a counting rule per connection state, the test's own rules after.
    private const string StateCounter = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID
        -A FORWARD -m conntrack --ctstate NEW
        -A FORWARD -m conntrack --ctstate ESTABLISHED
        -A FORWARD -m conntrack --ctstate RELATED
        -A FORWARD -m conntrack --ctstate UNTRACKED

        """;

    // Counting rules only: each packet shows which protocol raw saw and which state filter saw.
    private const string Classifier = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name X6 --rsource
        -A PREROUTING -p tcp
        -A PREROUTING -p udp
        -A PREROUTING -p ipv6-icmp
        -A PREROUTING -p esp
        -A PREROUTING -p ah
        -A PREROUTING -p 59
        -A PREROUTING -p 253
        COMMIT

        """ + StateCounter + """
        -A FORWARD -p tcp -m recent --rcheck --name X6 --rsource
        COMMIT

        """;

    /// <summary>
    /// A SYN from port 41000 + <paramref name="n"/> behind <paramref name="headers"/>; with the <paramref name="checksum"/>
    /// of the plain segment where scapy would compute another (to a routing header's final address) or none (behind AH).
    /// </summary>
    private static Frame Tcp(int n, string headers, bool lost = false, int? checksum = null) =>
        Scapy("tcp", Client, 22, Server,
            $"IPv6(src='{Client}', dst='{Server}')/{headers}TCP(sport={41000 + n}, dport=22, flags='S'{(checksum is int c ? $", chksum={c}" : "")})", lost: lost)
            with { SourcePort = (ushort)(41000 + n) };

    [Fact]
    public void ExtensionHeadersBeforeTheUpperLayerHeader()
    {
        Compare(NoIpv4Rules, Classifier,
        [
            Tcp(0, ""),
            Tcp(1, "IPv6ExtHdrHopByHop()/"),
            Tcp(2, "IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1e, optdata=b'ab')])/"),
            Tcp(3, "IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x7e, optdata=b'ab')])/", lost: true),
            Tcp(4, "IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0xbe, optdata=b'ab')])/", lost: true),
            Tcp(5, "IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\\x01\\x00\\x00\\x00')])/", lost: true),
            Tcp(6, "IPv6ExtHdrHopByHop(options=[Pad1()]*14)/", lost: true),
            Tcp(7, "IPv6ExtHdrDestOpt()/"),
            Tcp(8, "IPv6ExtHdrRouting(type=0, addresses=['2001:db8:ffff::2'], segleft=0)/"),
            Tcp(9, "IPv6ExtHdrRouting(type=0, addresses=['2001:db8:ffff::2'], segleft=1)/", checksum: 0x9417),
            Tcp(10, "IPv6ExtHdrRouting(type=2, addresses=['2001:db8:ffff::2'], segleft=1)/", checksum: 0x9416),
            Tcp(11, "IPv6ExtHdrSegmentRouting(addresses=['2001:db8:ffff::2'], segleft=0)/"),
            Tcp(12, "IPv6ExtHdrDestOpt()/IPv6ExtHdrRouting(type=4, addresses=['2001:db8:ffff::2'], segleft=0)/IPv6ExtHdrDestOpt()/"),
            Tcp(14, "IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x7e, optdata=b'ab')])/"),
            Tcp(15, string.Concat(Enumerable.Repeat("IPv6ExtHdrDestOpt()/", 9))),
            Tcp(16, "AH(nh=6, payloadlen=4, spi=1, seq=1, icv=b'\\x00'*12)/", checksum: 0x9410),
            Scapy("esp", Client, 0, Server, $"IPv6(src='{Client}', dst='{Server}', nh=50)/Raw(b'\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x01' + b'x'*16)"),
            Scapy("esp", Client, 0, Server, $"IPv6(src='{Client}', dst='{Server}')/IPv6ExtHdrDestOpt(nh=50)/Raw(b'\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x01' + b'x'*16)"),
            Scapy("59", Client, 0, Server, $"IPv6(src='{Client}', dst='{Server}', nh=59)"),
            Scapy("59", Client, 0, Server, $"IPv6(src='{Client}', dst='{Server}')/IPv6ExtHdrDestOpt(nh=59)/Raw(b'trailing')"),
            Scapy("253", Client, 0, Server, $"IPv6(src='{Client}', dst='{Server}', nh=253)/Raw(b'experimental')"),
            Scapy("tcp", Client, 22, Server, $"IPv6(src='{Client}', dst='{Server}')/IPv6ExtHdrDestOpt(len=4)/TCP(sport=41030, dport=22, flags='S')", lost: true) with { SourcePort = 41030 },
            new List("X6"),
            ConntrackList(),
        ]);
    }

    /// <summary>
    /// Without IPv6 tracking, a non-first fragment whose fragment header names another extension header has no
    /// upper-layer protocol for ip6_packet_match to find: the first rule with -p drops it, counted by none (here "lost"
    /// on both sides); the recent rule before it still sets. One naming UDP or "no next header" goes on to be accepted.
    /// </summary>
    [Fact]
    public void FragmentsWithoutAnUpperLayerAreDroppedAtTheFirstRuleWithAProtocol()
    {
        const string rules6 = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m recent --set --name F6 --rsource
            -A FORWARD ! -p tcp -j ACCEPT
            COMMIT

            """;
        Frame Piece(string source, int next, bool lost) =>
            Scapy("fragment", source, 0, Server, $"IPv6(src='{source}', dst='{Server}')/IPv6ExtHdrFragment(offset=2, m=1, id=8, nh={next})/Raw(b'c'*16)", lost: lost);
        Compare(NoIpv4Rules, rules6,
        [
            Piece("2001:db8:1::20", 60, lost: true),
            Piece("2001:db8:1::21", 0, lost: true),
            Piece("2001:db8:1::22", 43, lost: true),
            Piece("2001:db8:1::23", 17, lost: false),
            Piece("2001:db8:1::24", 59, lost: false),
            new List("F6"),
        ]);
    }

    private static Frame Udp6(int n, string headers = "", string source = Client, string destination = Server, bool lost = false) =>
        Scapy("udp", source, 53, destination, $"IPv6(src='{source}', dst='{destination}')/{headers}UDP(sport={42000 + n}, dport=53)/Raw(b'q')", lost: lost)
            with { SourcePort = (ushort)(42000 + n) };

    /// <summary>A datagram behind a hop-by-hop header holding <paramref name="options"/> (hex) after its two bytes.</summary>
    private static Frame HopByHop(int n, string options)
    {
        string hex = options.Replace(" ", "", StringComparison.Ordinal);
        string header = $"11{(hex.Length / 2 + 2) / 8 - 1:x2}{hex}";
        string udp = $"bytes((IPv6(src='{Client}', dst='{Server}')/UDP(sport={43000 + n}, dport=53)/Raw(b'q'))[UDP])";
        return Scapy("udp", Client, 53, Server, $"IPv6(src='{Client}', dst='{Server}', nh=0)/Raw(bytes.fromhex('{header}') + {udp})", lost: true)
            with { SourcePort = (ushort)(43000 + n) };
    }

    // The cases of PacketParserTests.Ipv6HopByHopOptionsAreCheckedAsTheReceivePathChecksThem.
    private static readonly string[] s_hopByHopOptions =
    [
        "01 04 00 00 00 00", "00 00 00 00 00 00", "00 00 00 00 00 00 01 00 01 00 01 00 01 00", "01 04 01 00 00 00",
        "01 02 00 00 1e 00 1e 00 01 04 00 00 00 00", "01 02 00 00 1e 00 01 04 00 00 00 00 01 00",
        "1e 02 61 62 01 00", "7e 02 61 62 01 00", "be 02 61 62 01 00", "fe 02 61 62 01 00",
        "05 02 00 00 01 00", "05 04 00 00 00 00", "c2 04 00 01 11 70", "07 0a 00 00 00 00 00 00 00 00 00 00 01 00",
        "00 00 31 04 00 00 00 00 01 02 00 00 00 00", "31 04 00 00 00 00",
        "1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 01 04 00 00 00 00",
        "1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 01 02 00 00", "1e 05 00 00 00 00",
    ];

    /// <summary>
    /// What ip6_rcv_core drops before any hook: hop-by-hop options ip6_parse_tlv refuses, a multicast source,
    /// loopback at either end, a multicast destination of scope 0 or 1. The kernel's rules never count them.
    /// </summary>
    [Fact]
    public void TheReceivePathsDropsBeforePrerouting()
    {
        Compare(NoIpv4Rules, Classifier,
        [
            .. s_hopByHopOptions.Select((options, n) => HopByHop(n, options)),
            Udp6(0, "IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x7e, optdata=b'ab')])/"), // not read when forwarding
            Udp6(1, source: "ff02::1", lost: true),
            Udp6(2, source: "::1", lost: true),
            Udp6(3, destination: "::1", lost: true),
            Udp6(4, destination: "ff00::1", lost: true),
            Udp6(5, destination: "ff01::1", lost: true),
            Udp6(7, source: "::ffff:192.0.2.1"),
            Udp6(8, source: "::192.0.2.1"),
            Udp6(9, destination: "::ffff:192.0.2.1"),
            ConntrackList(),
        ]);
    }

    private const string Router = "2001:db8:ffff::fe";

    // Each ICMPv6 message: which icmp6 rules (names, numbers, type/code, inverted) raw counts, which state filter sees.
    private const string IcmpClassifier = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type echo-request
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type pong
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type port-unreachable
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type 1/3
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type packet-too-big
        -A PREROUTING -p ipv6-icmp -m icmp6 ! --icmpv6-type time-exceeded
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type parameter-problem
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type neighbor-s
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type REDIRECT
        -A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type 0x8b
        COMMIT

        """ + StateCounter + """
        -A FORWARD -m state --state RELATED
        COMMIT

        """;

    /// <summary>An ICMPv6 message from the client, as scapy writes it after the IPv6 header, or from the server if a <paramref name="reply"/>.</summary>
    private static Frame Icmp6(string message, bool reply = false, ushort id = 0) =>
        Scapy("icmpv6", Client, 0, Server, $"IPv6(src='{(reply ? Server : Client)}', dst='{(reply ? Client : Server)}', hlim=64)/{message}", reply: reply)
            with { SourcePort = id };

    /// <summary>An ICMPv6 error from <paramref name="from"/> to the client quoting <paramref name="quote"/> (an IPerror6 and what follows).</summary>
    private static Frame Error6(string message, string quote, string from = Server, bool reply = true) =>
        Scapy("icmpv6-error", Client, 0, Server, $"IPv6(src='{from}', dst='{(reply ? Client : Server)}')/{message}/{quote}", reply: reply);

    private static string QuotedUdp(ushort sport, ushort dport, string headers = "") =>
        $"IPerror6(src='{Client}', dst='{Server}')/{headers}UDPerror(sport={sport}, dport={dport})/Raw(b'dns?')";

    private static string QuotedTcp(ushort sport, ushort dport) =>
        $"IPerror6(src='{Client}', dst='{Server}')/TCPerror(sport={sport}, dport={dport}, flags='S', seq=1000)";

    [Fact]
    public void Icmpv6QueriesErrorsAndNeighbourDiscovery()
    {
        var dns = new Flow("udp", Client, 44000, Server, 5353);
        var web = new Flow("tcp", Client, 44001, Server, 80);
        Compare(NoIpv4Rules, IcmpClassifier,
        [
            dns.Send(payload: 10), dns.Answer(payload: 10),
            web.Send("S"), web.Answer("SA"),
            Icmp6("ICMPv6EchoRequest(id=7, seq=1)", id: 7),
            Icmp6("ICMPv6EchoReply(id=7, seq=1)", reply: true, id: 7),
            Icmp6("ICMPv6EchoReply(id=8, seq=1)", reply: true, id: 8),     // no request
            Icmp6("ICMPv6EchoRequest(id=7, seq=2)", reply: true, id: 7),   // the other way: a new one
            Icmp6("ICMPv6EchoReply(id=7, seq=2)", id: 7),                  // which this answers
            Icmp6("ICMPv6EchoReply(id=7, seq=3)", id: 7),
            Icmp6("ICMPv6EchoReply(id=9, seq=1)", id: 9),                  // an answer from the side asked nothing
            Icmp6("ICMPv6NIQueryNOOP(nonce=b'12345678')"),
            Icmp6("ICMPv6NIReplyNOOP(nonce=b'12345678')", reply: true),
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44000, 5353)),
            Error6("ICMPv6DestUnreach(code=3)", QuotedUdp(44000, 5353), from: Router),
            Error6("ICMPv6PacketTooBig(mtu=1280)", QuotedTcp(44001, 80), from: Router),
            Error6("ICMPv6TimeExceeded(code=0)", QuotedUdp(44000, 5353), from: Router),
            Error6("ICMPv6ParamProblem(code=1, ptr=40)", QuotedUdp(44000, 5353)),
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44009, 5353)),                    // no such flow
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44000, 5353), reply: false),      // the wrong way
            Error6("ICMPv6DestUnreach(code=4)", $"IPerror6(src='{Client}', dst='{Server}', nh=17)/Raw(b'\\xab\\xe0\\x14')"), // 3 bytes of ports
            Error6("ICMPv6DestUnreach(code=4)", $"IPerror6(src='{Client}', dst='{Server}', nh=17)/Raw(b'\\xab\\xe0\\x14\\xe9')"), // 4
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44000, 5353, "IPv6ExtHdrDestOpt()/")),
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44000, 5353, "IPv6ExtHdrHopByHop()/IPv6ExtHdrFragment(offset=0, m=1)/")),
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(44000, 5353, "IPv6ExtHdrFragment(offset=8, m=0)/")),
            Error6("ICMPv6TimeExceeded(code=0)", $"IPerror6(src='{Client}', dst='{Server}')/ICMPv6EchoRequest(id=7, seq=1)", from: Router),
            Error6("ICMPv6TimeExceeded(code=0)", $"IPerror6(src='{Client}', dst='{Server}')/ICMPv6EchoRequest(id=9, seq=1)", from: Router),
            Error6("ICMPv6Unknown(type=100, msgbody=b'\\x00'*4)", QuotedUdp(44000, 5353)),
            Error6("ICMPv6Unknown(type=127, msgbody=b'\\x00'*4)", QuotedUdp(44000, 5353)),
            Error6("ICMPv6Unknown(type=0, msgbody=b'\\x00'*4)", QuotedUdp(44000, 5353)),
            Icmp6("ICMPv6ND_NS(tgt='2001:db8:ffff::1')"),
            Icmp6("ICMPv6ND_NA(tgt='2001:db8:ffff::1')", reply: true),
            Icmp6("ICMPv6ND_RS()"),
            Icmp6("ICMPv6ND_RA()", reply: true),
            Icmp6("ICMPv6ND_Redirect(tgt='2001:db8:ffff::2', dst='2001:db8:ffff::3')", reply: true),
            Icmp6("ICMPv6MLQuery()", reply: true),
            Icmp6("ICMPv6MLReport()"),
            Icmp6("ICMPv6MLDone()"),
            Icmp6("ICMPv6MLReport2()"),
            .. new[] { 141, 142, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 200, 201, 255 }
                .Select(type => Icmp6($"ICMPv6Unknown(type={type}, msgbody=b'\\x00'*8)")),
            ConntrackList(),
            Conntrack("-L", "-f", "ipv6", "-p", "ipv6-icmp"),
            Conntrack("-D", "-f", "ipv6", "-s", Client, "-p", "udp"),
            ConntrackList(),
        ]);
    }

    // IPv6 texts the proc writes of RecentProcDifferentialTests leave out.
    private static readonly string[] s_ipv6Writes =
    [
        "+[2001:db8::1]", "+2001:db8::1/64", "+fe80::1%1", "+::1%", "+::%eth0", "+2001:0db8:0000:0000:0000:0000:0000:0002",
        "+02001:db8::3", "+2001:db8::00004", "+::ffff:1.2.3.4.5", "+::ffff:01.02.03.004", "+::ffff:1.2.3", "+1:::2", "+:1::",
        "+1::", "+::1:", "+2001:db8::1.2.3.4", "+2001:db8::g", "+ ::1", "+::1 ", "+::1\t", "+::1\n+::2", "+FFFF:ffff::",
        "+::0.0.0.0", "+::ffff:0:0", "+1:2:3:4:5:6:7::8", "+1:2:3:4:5:6::7:8", "+::1:2:3:4:5:6:7", "+1:2:3:4::5:6:7:8",
        "-::1", "-[::1]", "-2001:db8::3", "+2001:db8:1::10", "+0000:0000:0000:0000:0000:0000:0000:0000:1",
        "+000:000:000:000:000:000:000:0001", "+1:2:3:4:5:6:7:8\0::", "+1.2.3.4:", "+:", "+::::", "+1:2:3:4:5:6:7:8:",
        "+2001:db8::1::", "+::ffff:1.2.3.4%eth0", "+::ffff:255.255.255.255", "+::1.2.3.04", "+2001:db8:0:0:1:0:0:1",
    ];

    [Fact]
    public void RecentOnIpv6MasksHopLimitsAndProcWrites()
    {
        var half = new System.Net.IPAddress(Convert.FromHexString("ffffffffffffffff0000000000000000"));
        var mask = FastPath.Core.Packets.InetAddress.FromIPv6(half.GetAddressBytes());
        KernelRecentHarness.Compare(
        [
            V6(22, new() { Name = "M6", Command = RecentCommand.Set, Mask = mask }),
            V6(23, new() { Name = "M6", Command = RecentCommand.Check, Ttl = true, Mask = mask }),
            V6(24, new() { Name = "D6", Command = RecentCommand.Update, Side = RecentSide.Destination, Ttl = true, Seconds = 100, HitCount = 2 }),
            V6(25, new() { Name = "D6", Command = RecentCommand.Set, Side = RecentSide.Destination }),
            V6(26, new() { Name = "M6", Command = RecentCommand.Check, Seconds = 5, HitCount = 3 }),
        ],
        [
            Packet("2001:db8:1::10", 22),
            Packet("2001:db8:1::ffff", 23),                 // the same /64, the same hop limit
            Packet("2001:db8:1::20", 23, ttl: 63),
            Packet("2001:db8:2::10", 23),
            new Write("M6", "+2001:db8:2::10"),             // not masked, hop limit 0
            Packet("2001:db8:2::10", 23, ttl: 1),           // looked up masked: 2001:db8:2::
            Packet("2001:db8:2::", 23, ttl: 1),
            new Write("M6", "+2001:db8:2::"),
            Packet("2001:db8:2::", 23, ttl: 200),           // a proc entry's hop limit 0 matches any
            Packet("2001:db8:3::1", 22, ttl: 0),
            Packet("2001:db8:3::1", 23, ttl: 255),
            Packet("2001:db8:9::1", 25, ttl: 10, destination: "2001:db8:ffff::7"),
            Packet("2001:db8:9::2", 24, ttl: 10, destination: "2001:db8:ffff::7"),
            Packet("2001:db8:9::3", 25, ttl: 10, destination: "2001:db8:ffff::7"),
            Packet("2001:db8:9::4", 24, ttl: 10, destination: "2001:db8:ffff::7"),
            Packet("2001:db8:9::5", 24, ttl: 11, destination: "2001:db8:ffff::7"),
            Packet("2001:db8:1::1", 22),
            Packet("2001:db8:1::2", 26),                    // unmasked lookup in a masked table: no such entry
            Packet("2001:db8:1::", 26),
            .. s_ipv6Writes.Select(text => new Write("M6", text)),
            new List("M6"),
            new List("D6"),
        ]);
    }

    /// <summary>inet6 policies of the ICMPv6, generic and UDP trackers on flows with extension headers, and conntrack's -f ipv6 filters.</summary>
    [Fact]
    public void Inet6PoliciesOnIcmpv6GenericAndUdpBehindExtensionHeaders()
    {
        string rules6 = """
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p ipv6-icmp -j CT --timeout i6
            -A PREROUTING -p esp -j CT --timeout g6
            -A PREROUTING -p udp -j CT --timeout u6
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m conntrack --ctstate INVALID -j DROP
            -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
            -A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
            -A FORWARD -s 2001:db8:1::/64 -m conntrack --ctstate NEW -j ACCEPT
            COMMIT

            """;
        var dns = new Flow("udp", Client, 45000, Server, 53);
        string Esp(bool reply) => $"IPv6(src='{(reply ? Server : Client)}', dst='{(reply ? Client : Server)}', nh=50)/Raw(b'\\x00\\x00\\x10\\x01' + b'\\x00'*20)";
        string Udp(bool reply, string headers) =>
            $"IPv6(src='{(reply ? Server : Client)}', dst='{(reply ? Client : Server)}')/{headers}UDP(sport={(reply ? 53 : 45000)}, dport={(reply ? 45000 : 53)})/Raw(b'x'*9)";
        Compare(NoIpv4Rules, rules6,
        [
            Icmp6("ICMPv6EchoRequest(id=21, seq=1)", id: 21),
            Icmp6("ICMPv6EchoReply(id=21, seq=1)", reply: true, id: 21),
            Scapy("unknown", Client, 0, Server, Esp(reply: false)),
            Scapy("unknown", Client, 0, Server, Esp(reply: true), reply: true),
            Scapy("udp", Client, 53, Server, Udp(reply: false, "IPv6ExtHdrDestOpt()/IPv6ExtHdrRouting(type=4, addresses=['2001:db8:ffff::9'], segleft=0)/")) with { SourcePort = 45000 },
            Scapy("udp", Client, 53, Server, Udp(reply: true, "IPv6ExtHdrHopByHop(options=[RouterAlert()])/"), reply: true) with { SourcePort = 45000 },
            Error6("ICMPv6DestUnreach(code=4)", QuotedUdp(45000, 53, "IPv6ExtHdrDestOpt()/")),
            Icmp6("ICMPv6EchoRequest(id=22, seq=1)", reply: true, id: 22),         // from the server: NEW, not from the client network
            ConntrackList(),
            Conntrack("-L", "-f", "ipv6", "-p", "ipv6-icmp"),
            Conntrack("-L", "-f", "ipv6", "-s", Server),
            Conntrack("-L", "-f", "ipv4"),
            new ProcConntrackRead(),
            Conntrack("-D", "-f", "ipv6", "-p", "50"),
            Conntrack("-D", "-f", "ipv6", "-s", "2001:db8:1::/64", "-p", "udp"),
            ConntrackList(),
            new Sleep(2),
            dns.Send(payload: 3),
            ConntrackList(),
        ],
        [
            "add timeout i6 inet6 icmpv6 timeout 17",
            "add timeout g6 inet6 generic timeout 44",
            "add timeout u6 inet6 udp unreplied 21 replied 33",
        ]);
    }
}
