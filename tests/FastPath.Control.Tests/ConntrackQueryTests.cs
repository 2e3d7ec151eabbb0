// SPDX-License-Identifier: MIT
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// How conntrack 1.4.7 reads the values of its filters, each case checked against Debian 12's conntrack on Linux
/// 6.18 in a network namespace: what it accepts (and, listing entries made with conntrack -I, which connections
/// the value then selects) and what it refuses, with which message (always exit status 2 and the -h hint).
/// </summary>
public class ConntrackQueryTests
{
    // The lines of Debian's /etc/protocols these cases use.
    private static readonly ProtocolNames s_protocols = ProtocolNames.Parse("""
        ip	0	IP
        tcp	6	TCP
        udp	17	UDP
        gre	47	GRE
        esp	50	IPSEC-ESP
        ipv6-icmp 58	IPv6-ICMP
        mptcp	262	MPTCP
        """);

    private static ConntrackQuery Accepted(params string[] args)
    {
        var query = ConntrackQuery.Parse(args, s_protocols, out string error);
        Assert.True(query is not null, error);
        return query;
    }

    private static string Refused(params string[] args)
    {
        Assert.Null(ConntrackQuery.Parse(args, s_protocols, out string error));
        return error;
    }

    private static (InetAddress, InetAddress) Network(string address, int prefix)
    {
        Assert.True(InetAddress.TryParse(address, out var value, out var family));
        int bits = family == L3Kind.IPv6 ? 128 : 32;
        Span<byte> mask = stackalloc byte[16];
        for (int bit = 0; bit < prefix; bit++)
            mask[bit / 8] |= (byte)(0x80 >> (bit % 8));
        var maskAddress = bits == 128 ? InetAddress.FromIPv6(mask) : InetAddress.FromIPv4(mask[..4]);
        return (value.And(maskAddress), maskAddress);
    }

    [Theory]
    [InlineData("1.2.3", "1.2.0.3", 32)]
    [InlineData("127.1", "127.0.0.1", 32)]
    [InlineData("0x7f.1", "127.0.0.1", 32)]
    [InlineData("0X7F.1", "127.0.0.1", 32)]
    [InlineData("010.0.0.1", "8.0.0.1", 32)]
    [InlineData("1", "0.0.0.1", 32)]
    [InlineData("0", "0.0.0.0", 32)]
    [InlineData("127.127.1", "127.127.0.1", 32)]
    [InlineData("0x7f7f0001", "127.127.0.1", 32)]
    [InlineData("4294967295", "255.255.255.255", 32)]
    [InlineData("1.65539", "1.1.0.3", 32)]
    [InlineData("1.2.3.4 junk", "1.2.3.4", 32)]
    [InlineData("1.2.3.4 ", "1.2.3.4", 32)]
    [InlineData("1.2.3.4\tx", "1.2.3.4", 32)]
    [InlineData("1.2.3.4\vz", "1.2.3.4", 32)]
    [InlineData("1.2.3.4\rz", "1.2.3.4", 32)]
    [InlineData("1.2.3.4\n", "1.2.3.4", 32)]
    [InlineData("1.2.3\tx", "1.2.0.3", 32)]
    [InlineData("127.0.0.0/8", "127.0.0.0", 8)]
    [InlineData("127.1/8", "127.0.0.0", 8)]
    [InlineData("127.0.0.1/", "0.0.0.0", 0)]
    [InlineData("127.0.0.1/+8", "127.0.0.0", 8)]
    [InlineData("127.0.0.1/ 8", "127.0.0.0", 8)]
    [InlineData("127.0.0.1/\t8", "127.0.0.0", 8)]
    [InlineData("127.0.0.1/08", "127.0.0.0", 8)]
    [InlineData("127.0.0.1/-0", "0.0.0.0", 0)]
    [InlineData("127.0.0.1/32", "127.0.0.1", 32)]
    [InlineData("127.0.0.1/4294967304", "127.0.0.0", 8)]
    [InlineData("0/0", "0.0.0.0", 0)]
    [InlineData("1.2.3.4 x/8", "1.0.0.0", 8)]
    [InlineData("::1", "::1", 128)]
    [InlineData("::ffff:1.2.3.4", "::ffff:1.2.3.4", 128)]
    [InlineData("::FFFF:1.2.3.4", "::ffff:1.2.3.4", 128)]
    [InlineData("::ffff:7f00:1", "::ffff:127.0.0.1", 128)]
    [InlineData("2001:DB8::1", "2001:db8::1", 128)]
    [InlineData("2001:db8:0:0:0:0:0:1", "2001:db8::1", 128)]
    [InlineData("2001:0db8::1", "2001:db8::1", 128)]
    [InlineData("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", 128)]
    [InlineData("::1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7", 128)]
    [InlineData("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", 128)]
    [InlineData("::1.2.3.4", "::102:304", 128)]
    [InlineData("1::", "1::", 128)]
    [InlineData("::/0", "::", 0)]
    [InlineData("::1/128", "::1", 128)]
    [InlineData("2001:db8::/32", "2001:db8::", 32)]
    [InlineData("2001:db8::/ 32", "2001:db8::", 32)]
    [InlineData("1:2:3:4:5:6:7:8/64", "1:2:3:4::", 64)]
    [InlineData("0:0:0:0:0:0:0:0", "::", 128)]
    [InlineData("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", 128)]
    [InlineData("1:2:3:4:5::1.2.3.4", "1:2:3:4:5:0:102:304", 128)]
    [InlineData("::ffff:1.2.3.4/96", "::ffff:0.0.0.0", 96)]
    [InlineData("::1/-0", "::", 0)]
    [InlineData("::1/", "::", 0)]
    public void AddressesAreInetAtonOrInetPtonWithAStrtolPrefix(string value, string network, int prefix)
    {
        Assert.Equal(Network(network, prefix), Accepted("-L", "-s", value).Source);
        Assert.Equal(Network(network, prefix), Accepted("-L", "--orig-dst", value).Destination);
    }

    // conntrack copies the value into a 46-byte buffer: what lies past byte 45 (UTF-8) is never read.
    [Theory]
    [InlineData(38, "1.2.3.4", 32)]
    [InlineData(30, "1.0.0.0", 8)]
    public void OnlyTheFirst45BytesAreRead(int spaces, string network, int prefix) =>
        Assert.Equal(Network(network, prefix), Accepted("-L", "-s", "1.2.3.4" + new string(' ', spaces) + "/8").Source);

    [Fact]
    public void TheCutCountsBytesNotCharacters()
    {
        Assert.Equal(Network("1.2.3.4", 32), Accepted("-L", "-s", "1.2.3.4 " + new string('é', 20) + "/8").Source);
        Assert.Equal(Network("1.0.0.0", 8), Accepted("-L", "-s", "1.2.3.4 " + new string('é', 10) + "/8").Source);
        Assert.Equal(Network("1.2.3.4", 32), Accepted("-L", "-s", "1.2.3." + new string('0', 38) + "4x").Source);
        Assert.Equal("Invalid IP address `1.2.3." + new string('0', 37) + "4x'", Refused("-L", "-s", "1.2.3." + new string('0', 37) + "4x"));
        Assert.Equal(Network("0.0.0.0", 0), Accepted("-L", "-s", "1.2.3.4/" + new string('0', 37) + "8").Source);
        Assert.Equal(Network("1.0.0.0", 8), Accepted("-L", "-s", "1.2.3.4/" + new string('0', 36) + "8").Source);
    }

    [Theory]
    [InlineData("4294967296")]
    [InlineData("1.2.3.4junk")]
    [InlineData("1.2.3.4.")]
    [InlineData(" 1.2.3.4")]
    [InlineData("")]
    [InlineData("08.0.0.1")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.0.0.1")]
    [InlineData("1.16777216")]
    [InlineData("0x")]
    [InlineData("localhost")]
    [InlineData("1..2")]
    [InlineData("1. 2")]
    [InlineData("1.2.3.4x/8")]
    [InlineData("/8")]
    [InlineData("300.0.0.1/8")]
    [InlineData("::1 ")]
    [InlineData("::1 x")]
    [InlineData("::ffff:1.2.3")]
    [InlineData("::ffff:01.2.3.4")]
    [InlineData("::ffff:0x1.2.3.4")]
    [InlineData("02001:db8::1")]
    [InlineData("[::1]")]
    [InlineData("::1%lo")]
    [InlineData("fe80::1%1")]
    [InlineData(":::")]
    [InlineData("1::2::3")]
    [InlineData(":1::")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData(":: ")]
    [InlineData("::g")]
    [InlineData("::1:")]
    [InlineData("::1.2.3.4.5")]
    [InlineData("::256.1.1.1")]
    [InlineData("1::2:3:4:5:6:7:8")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("::1:2:3:4:5:6:7:8")]
    [InlineData("1:2:3:4::5:6:7:8")]
    [InlineData("::ffff:1.2.3.04")]
    [InlineData("00000::1")]
    [InlineData("::1.2.3.4:5")]
    [InlineData("::1.2.3")]
    [InlineData("1.2.3.4::")]
    [InlineData("::0x1")]
    [InlineData("::-1")]
    [InlineData("::+1")]
    [InlineData("1:2:3:4:5:6::1.2.3.4")]
    public void OtherAddressesAreInvalid(string value)
    {
        Assert.Equal($"Invalid IP address `{value}'", Refused("-L", "-s", value));
        Assert.Equal($"Invalid IP address `{value}'", Refused("-D", "-d", value));
    }

    [Theory]
    [InlineData("127.0.0.1/8 ")]
    [InlineData("127.0.0.1/33")]
    [InlineData("127.0.0.1/-1")]
    [InlineData("127.0.0.1/0x8")]
    [InlineData("127.0.0.1/8/9")]
    [InlineData("127.0.0.1/9999999999999999999999")]
    [InlineData("127.0.0.1/ ")]
    [InlineData("127.0.0.1/+")]
    [InlineData("1.2.3.4/8 x")]
    [InlineData("1.2.3.4/8x")]
    [InlineData("1.2.3.4/a")]
    [InlineData("::1/129")]
    [InlineData("fe80::1/64x")]
    public void OtherPrefixesAreAnInvalidNetmask(string value) => Assert.Equal("Invalid netmask", Refused("-L", "-s", value));

    [Fact]
    public void TheAddressIsCheckedThenTheFamilyThenThePrefix()
    {
        Assert.Equal("mismatched address family", Refused("-L", "-f", "ipv4", "-s", "::1/200"));
        Assert.Equal("Invalid netmask", Refused("-L", "-s", "1.2.3.4/99", "-f", "ipv6"));
        Assert.Equal("Invalid IP address `bad'", Refused("-L", "-s", "bad", "-s", "::1"));
        Assert.Equal("mismatched address family", Refused("-L", "-s", "::1", "-s", "1.2.3.4"));
        Assert.Equal("Invalid IP address `bad'", Refused("-L", "-s", "::1", "-d", "bad"));
    }

    [Theory]
    [InlineData("16", 16)]
    [InlineData("0x10", 0)]
    [InlineData("010", 10)]
    [InlineData("0016", 16)]
    [InlineData("65552", 16)]
    [InlineData("-65520", 16)]
    [InlineData("-1", 65535)]
    [InlineData("65535", 65535)]
    [InlineData("65536", 0)]
    [InlineData("0x10000", 0)]
    [InlineData("22abc", 22)]
    [InlineData("", 0)]
    [InlineData(" 16", 16)]
    [InlineData("+16", 16)]
    [InlineData("16 ", 16)]
    [InlineData("abc", 0)]
    [InlineData("99999999999999999999", 65535)]
    [InlineData("-99999999999999999999", 0)]
    [InlineData("4294967312", 16)]
    [InlineData("1e1", 1)]
    [InlineData("0b1", 0)]
    [InlineData("- 16", 0)]
    [InlineData("--16", 0)]
    [InlineData("1003.9", 1003)]
    public void PortsAreAtoiCutTo16Bits(string value, int port)
    {
        Assert.Equal((ushort)port, Accepted("-L", "-p", "udp", "--dport", value).DestinationPort);
        Assert.Equal((ushort)port, Accepted("-L", "-p", "tcp", "--orig-port-src", value).SourcePort);
    }

    [Fact]
    public void TheLastPortGivenWins() => Assert.Equal((ushort)22, Accepted("-L", "-p", "udp", "--dport", "16", "--dport", "22").DestinationPort);

    [Theory]
    [InlineData("tcp", 6)]
    [InlineData("TCP", 6)]
    [InlineData("Tcp", 6)]
    [InlineData("UDP", 17)]
    [InlineData("17", 17)]
    [InlineData("017", 15)]
    [InlineData("0x11", 17)]
    [InlineData("0X11", 17)]
    [InlineData(" 0x11", 17)]
    [InlineData(" 17", 17)]
    [InlineData("+17", 17)]
    [InlineData("0", 0)]
    [InlineData("-0", 0)]
    [InlineData("255", 255)]
    [InlineData("0xff", 255)]
    [InlineData("0x0", 0)]
    [InlineData("0377", 255)]
    [InlineData("0255", 173)]
    [InlineData("-18446744073709551615", 1)]
    [InlineData("esp", 50)]
    [InlineData("50", 50)]
    [InlineData("ip", 0)]
    [InlineData("ipv6-icmp", 58)]
    [InlineData("ICMPv6", 58)]
    [InlineData("GRE", 47)]
    [InlineData("mptcp", 6)]
    [InlineData("MPTCP", 6)]
    public void ProtocolsAreAModuleInAnyCaseAProtocolsNameOrAStrtoulNumber(string value, int protocol) =>
        Assert.Equal((byte)protocol, Accepted("-L", "-p", value).Protocol);

    [Theory]
    [InlineData("17abc")]
    [InlineData("17 ")]
    [InlineData("foo")]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("256")]
    [InlineData("262")]
    [InlineData("300")]
    [InlineData("0400")]
    [InlineData("1e1")]
    [InlineData("18446744073709551617")]
    [InlineData("0x")]
    [InlineData("08")]
    [InlineData(" ")]
    [InlineData("-0x11")]
    [InlineData("0x100")]
    [InlineData("ESP")]
    [InlineData("IPV6-CRYPT")]
    [InlineData("unknown")]
    public void OtherProtocolsAreUnsupported(string value) => Assert.Equal($"`{value}' unsupported protocol", Refused("-L", "-p", value));

    [Fact]
    public void AModuleGivesItsOptionsByNameInAnyCaseOrByNumber()
    {
        Assert.Equal(((byte)6, "ESTABLISHED"), Accepted("-L", "-p", "TCP", "--state", "ESTABLISHED").State);
        Assert.Equal(((byte)6, "ESTABLISHED"), Accepted("-L", "-p", "0x6", "--state", "ESTABLISHED").State);
        Assert.Equal((ushort)16, Accepted("-L", "-p", "Tcp", "--dport", "16").DestinationPort);
        Assert.Equal((ushort)16, Accepted("-L", "-p", "UDP", "--dport", "16").DestinationPort);
        Assert.Equal((ushort)1, Accepted("-L", "-p", "UDPlite", "--dport", "1").DestinationPort);
        Assert.Equal(((byte)132, "CLOSED"), Accepted("-L", "-p", "SCTP", "--state", "CLOSED").State);
        Assert.Equal("unknown option `--dport'", Refused("-L", "-p", "esp", "--dport", "1"));
        Assert.Equal("unknown option `--dport'", Refused("-L", "-p", "50", "--dport", "1"));
        Assert.Equal("unknown option `--state'", Refused("-L", "-p", "mptcp", "--state", "ESTABLISHED"));
    }

    [Theory]
    [InlineData("ipv4x", L3Kind.IPv4)]
    [InlineData("ipv6.", L3Kind.IPv6)]
    public void AFamilyIsItsFirstFourCharacters(string value, L3Kind family) => Assert.Equal(family, Accepted("-L", "-f", value).Family);

    [Theory]
    [InlineData("IPV6")]
    [InlineData("ipv")]
    [InlineData("")]
    [InlineData(" ipv4")]
    public void OtherFamiliesAreUnsupported(string value) => Assert.Equal($"`{value}' unsupported protocol", Refused("-L", "-f", value));
}
