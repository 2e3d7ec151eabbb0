// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// ICMP errors quoting damaged or unusual packets of tracked flows against the kernel, live: a quoted header with a
/// bad checksum, a wrong total length or version, options, a fragment, ports cut short; errors with a bad checksum
/// or an unknown code, the wrong way, nested. RELATED, INVALID or NEW alike, and the same connections after.
/// </summary>
public sealed class IcmpErrorQuoteLiveDifferentialTests
{
    private const string Client = "172.16.0.10", Server = "198.18.0.1";

    private const string Rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j DROP
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        -A FORWARD -m conntrack --ctstate NEW
        -A FORWARD -m conntrack --ctstate UNTRACKED
        COMMIT

        """;

    private const string Quote = $"IPerror(src='{Client}', dst='{Server}'";
    private const string QuotedUdp = "UDPerror(sport=44000, dport=5353)/Raw(b'dns?')";

    private static Frame Error(string icmp, string quote, bool reply = true) =>
        Scapy("icmp-error", Client, 5353, Server, $"IP(src='{(reply ? Server : Client)}', dst='{(reply ? Client : Server)}')/{icmp}/{quote}", reply: reply, lost: true);

    [Fact]
    public void ErrorsQuotingDamagedPackets()
    {
        var dns = new Flow("udp", Client, 44000, Server, 5353);
        var web = new Flow("tcp", Client, 44001, Server, 80);
        Compare(Rules, null,
        [
            dns.Send(payload: 10), dns.Answer(payload: 10), web.Send("S"), web.Answer("SA"), web.Send("A"),
            Error("ICMP(type=3, code=3)", Quote + ")/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", chksum=0x1234)/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", len=2000)/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", len=20)/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", version=6)/" + QuotedUdp),       // not checked: RELATED
            Error("ICMP(type=3, code=3)", Quote + ", version=0)/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", ihl=4)/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", flags='MF')/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", frag=10, proto=17)/Raw(b'x'*8)"),
            Error("ICMP(type=3, code=3)", Quote + ", proto=17)/Raw(b'\\xab\\xe0\\x14\\xe9')"), // the ports alone
            Error("ICMP(type=3, code=3)", Quote + ", proto=17)/Raw(b'\\xab\\xe0\\x14')"),
            Error("ICMP(type=3, code=3)", Quote + ", options=[Raw(bytes.fromhex('94040000'))])/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ", options=[Raw(bytes.fromhex('9e080000'))])/" + QuotedUdp),
            Error("ICMP(type=3, code=3, chksum=0x1234)", Quote + ")/" + QuotedUdp),
            Error("ICMP(type=3, code=99)", Quote + ")/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ")/" + QuotedUdp, reply: false),
            Error("ICMP(type=11, code=0)", Quote + ")/TCPerror(sport=44001, dport=80, flags='S', seq=1000)"),
            Error("ICMP(type=11, code=0)", Quote + ")/TCPerror(sport=44001, dport=80, flags='S', seq=1000, dataofs=2)"),
            Error("ICMP(type=11, code=0)", $"IPerror(src='{Server}', dst='{Client}')/" + QuotedUdp),
            Error("ICMP(type=3, code=4, nexthopmtu=100)", Quote + ")/" + QuotedUdp),
            Error("ICMP(type=12)", Quote + ")/" + QuotedUdp),
            Error("ICMP(type=3, code=3)", Quote + ")/ICMPerror(type=3, code=3)/" + Quote + ")/" + QuotedUdp),
            ConntrackList(),
        ], workerCounts: [1, 2]);
    }
}
