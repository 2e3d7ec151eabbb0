// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// Rules as users write them by hand, read as iptables-legacy-restore v1.8.9 reads them. Every case was run
/// through iptables-legacy-restore (and ip6tables-legacy-restore) in a scratch network namespace: accepted ones
/// were restored and read back with iptables-save, whose numbers the expectations repeat; refused ones carry
/// iptables' own message. Service and protocol names come from Debian's netbase /etc/services and
/// /etc/protocols, as iptables reads them.
/// </summary>
public class IptablesRestoreSyntaxTests
{
    private static Rule[] Rules(string rules, L3Kind family = L3Kind.IPv4) =>
        [.. RulesetParser.Parse($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n", "hand.rules", family)
            .Tables[TableKind.Filter].Chains["FORWARD"].Rules];

    private static InetAddress Address(string text) => InetAddress.TryParse(text, out var address, out _) ? address : throw new ArgumentException(text);

    private static string NumericAddress(Inverted<AddressPrefix>? prefix)
    {
        Span<byte> bytes = stackalloc byte[16];
        prefix!.Value.Value.Address.CopyTo(bytes);
        return new System.Net.IPAddress(bytes[..4]).ToString();
    }

    private static Rule Rule(string options, L3Kind family = L3Kind.IPv4) => Rules($"-A FORWARD {options}", family).Single();

    private static RulesetException Refused(string options, L3Kind family = L3Kind.IPv4) =>
        Assert.Throws<RulesetException>(() => Rules($"-A FORWARD {options}", family));

    /// <summary>-p: a number in C notation, any case, /etc/protocols names (iptables-save prints them: "-p vrrp").</summary>
    [Theory]
    [InlineData("-p vrrp", 112)]
    [InlineData("-p ospf", 89)]
    [InlineData("-p ipencap", 4)]
    [InlineData("-p ip", 0)]
    [InlineData("-p TCP", 6)]
    [InlineData("-p 0x11", 17)]
    [InlineData("-p 017", 15)]
    [InlineData("-p mh", 135)]
    public void ProtocolsAreNumbersOrNames(string options, int protocol) =>
        Assert.Equal((byte)protocol, Rule(options).Protocol!.Value.Value);

    [Theory]
    [InlineData("-p ipv6-frag", 44)]
    [InlineData("-p icmp", 1)]
    [InlineData("-p ipv6-icmp", 58)]
    public void Ip6tablesTakesEveryProtocolName(string options, int protocol) =>
        Assert.Equal((byte)protocol, Rule(options, L3Kind.IPv6).Protocol!.Value.Value);

    [Theory]
    [InlineData("! -p all", "rule would never match protocol")]
    [InlineData("! -p 0", "rule would never match protocol")]
    [InlineData("-p 256", "unknown protocol \"256\" specified")]
    [InlineData("-p nosuch", "unknown protocol \"nosuch\" specified")]
    public void BadProtocolsAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    /// <summary>
    /// libxt_tcp reads a port in C notation or as a tcp service; libxt_udp as getaddrinfo does (decimal, cut to 16
    /// bits, or a service of any protocol) and keeps a reversed range, which then matches nothing.
    /// </summary>
    [Theory]
    [InlineData("-p tcp --dport 022", 18, 18)]
    [InlineData("-p tcp --dport 0x16", 22, 22)]
    [InlineData("-p tcp --dport \" 22\"", 22, 22)]
    [InlineData("-p tcp --dport +22", 22, 22)]
    [InlineData("-p tcp --dport ssh", 22, 22)]
    [InlineData("-p tcp --sport http:https", 80, 443)]
    [InlineData("-p tcp --dport ftp-data:", 20, 65535)]
    [InlineData("-p udp --dport domain", 53, 53)]
    [InlineData("-p udp --dport http-alt", 8080, 8080)]
    [InlineData("-p udp --dport 010", 10, 10)]
    [InlineData("-p udp --dport 00080", 80, 80)]
    [InlineData("-p udp --dport 65536", 0, 0)]
    [InlineData("-p udp --dport 1024:1", 1024, 1)]
    [InlineData("-p udp --dport bootps:bootpc", 67, 68)]
    public void PortsAreReadAsTheMatchReadsThem(string options, int first, int last) =>
        Assert.Equal(new PortRange((ushort)first, (ushort)last), Rule(options).DestinationPort?.Value ?? Rule(options).SourcePort!.Value.Value);

    [Theory]
    [InlineData("-p tcp --dport 1024:1", "invalid portrange (min > max)")]
    [InlineData("-p tcp --dport 00080:0443", "invalid port/service `00080' specified")]
    [InlineData("-p tcp --dport bootps", "invalid port/service `bootps' specified")]
    [InlineData("-p tcp --dport 65536", "invalid port/service `65536' specified")]
    [InlineData("-p udp --dport 0x10", "Port \"0x10\" does not resolve to anything.")]
    [InlineData("-p udp --dport -1", "Port \"-1\" does not resolve to anything.")]
    [InlineData("-p udp --dport 1:2:3", "udp: Too many components for option \"--destination-port\" (max: 2)")]
    public void BadPortsAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    [Theory]
    [InlineData("-p tcp -m multiport --dports ssh,smtp", "22,25")]
    [InlineData("-p tcp -m multiport --dports 010,0x10", "8,16")]
    [InlineData("-p udp -m multiport --dports domain,ntp", "53,123")]
    [InlineData("-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15")]
    [InlineData("-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15", "1:2,3,4,5,6,7,8,9,10,11,12,13,14,15")]
    public void MultiportPortsAreNumbersOrServicesOfTheRulesProtocol(string options, string ports) =>
        Assert.Equal(ports, string.Join(',', Rule(options).Multiport!.Value.Value.Ports.Select(p => p.First == p.Last ? $"{p.First}" : $"{p.First}:{p.Last}")));

    [Theory]
    [InlineData("-p tcp -m multiport --dports 5:1", "invalid portrange specified")]
    [InlineData("-p tcp -m multiport --dports 22:22", "invalid portrange specified")]
    [InlineData("-p tcp -m multiport --dports 1:", "invalid port/service `' specified")]
    [InlineData("-p tcp -m multiport --dports 00080", "invalid port/service `00080' specified")]
    [InlineData("-p udp -m multiport --dports ssh", "invalid port/service `ssh' specified")]
    [InlineData("-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "too many ports specified")]
    [InlineData("-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "too many ports specified")]
    [InlineData("-p tcp -m multiport", "multiport expection an option")]
    [InlineData("-m multiport --dports 22 -p tcp", "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")]
    public void BadMultiportsAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    /// <summary>An option no loaded match knows loads the match -p names: "-p tcp --syn", "-p icmp --icmp-type 8".</summary>
    [Fact]
    public void TheProtocolsMatchIsLoadedByItsOptions()
    {
        var syn = Rule("-p tcp --syn -j ACCEPT");
        Assert.Equal([MatchModule.Tcp], syn.Modules);
        Assert.Equal(((byte)0x17, (byte)0x02), syn.TcpFlags!.Value.Value);
        Assert.Equal(((byte)0x12, (byte)0x02), Rule("-p 6 --tcp-flags syn,,ACK, SYN").TcpFlags!.Value.Value);
        Assert.Equal([MatchModule.Comment, MatchModule.Tcp], Rule("-p tcp -m comment --comment c ! --syn").Modules);
        Assert.Equal(((byte)8, (short)-1), Rule("-p icmp --icmp-type echo-request").IcmpType!.Value.Value);
        Assert.Equal(((byte)128, (short)-1), Rule("-p ipv6-icmp --icmpv6-type 128", L3Kind.IPv6).IcmpType!.Value.Value);
        Assert.Contains("needs '-m tcp'", Refused("-p udp --syn").Message);
        Assert.Contains("the sctp match's here, and FastPath does not support that match", Refused("-p sctp --dport 22").Message);
    }

    /// <summary>libipt_icmp / libip6t_icmp6: any case, the beginning of one name, or TYPE[/CODE] in C notation.</summary>
    [Theory]
    [InlineData("ping", 8, -1)]
    [InlineData("pong", 0, -1)]
    [InlineData("Echo-Req", 8, -1)]
    [InlineData("port-unreachable", 3, 3)]
    [InlineData("host-prohibited", 3, 10)]
    [InlineData("TOS-host-redirect", 5, 3)]
    [InlineData("ttl-zero-during-transit", 11, 0)]
    [InlineData("0x8", 8, -1)]
    [InlineData("010", 8, -1)]
    [InlineData("3/0x1", 3, 1)]
    [InlineData("3/255", 3, 255)]
    [InlineData("any", 255, -1)]
    public void IcmpTypesAreNamesOrNumbers(string type, int number, int code) =>
        Assert.Equal(((byte)number, (short)code), Rule($"-p icmp -m icmp --icmp-type {type}").IcmpType!.Value.Value);

    [Theory]
    [InlineData("no-route", 1, 0)]
    [InlineData("failed-policy", 1, 5)]
    [InlineData("reject-route", 1, 6)]
    [InlineData("ping", 128, -1)]
    [InlineData("neighbor-advertisement", 136, -1)]
    [InlineData("255", 255, -1)]
    public void Icmpv6TypesAreNamesOrNumbers(string type, int number, int code) =>
        Assert.Equal(((byte)number, (short)code), Rule($"-p ipv6-icmp -m icmp6 --icmpv6-type {type}", L3Kind.IPv6).IcmpType!.Value.Value);

    [Theory]
    [InlineData("-p icmp --icmp-type echo", "Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?")]
    [InlineData("-p icmp --icmp-type 3/256", "Unknown ICMP code `3/256'")]
    [InlineData("-p icmp --icmp-type 8/", "Unknown ICMP code `8/'")]
    [InlineData("-p icmp --icmp-type 256", "Unknown ICMP type `256'")]
    public void BadIcmpTypesAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    [Fact]
    public void Ip6tablesHasNoAnyIcmpv6Type() =>
        Assert.Contains("Unknown ICMPv6 type `any'", Refused("-p ipv6-icmp --icmpv6-type any", L3Kind.IPv6).Message);

    /// <summary>
    /// ipt_icmp takes type 255 for any type; ip6t_icmp6 matches type 255 only. And a reversed udp port range
    /// (kept by libxt_udp) matches no port, not the ports outside it.
    /// </summary>
    [Fact]
    public void Icmpv6Type255AndReversedPortRangesMatchAsInTheKernel()
    {
        var v4 = RulesetParser.Parse("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp -m icmp --icmp-type 255 -j DROP\n"
            + "-A FORWARD -p udp -m udp --dport 1024:1 -j DROP\nCOMMIT\n", "v4.rules", L3Kind.IPv4);
        var v6 = RulesetParser.Parse("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 255 -j DROP\nCOMMIT\n", "v6.rules", L3Kind.IPv6);
        var compiled = new CompiledRuleset(v4, v6, ["wan0", "lan0"]);
        var state = new RulesetState(compiled, RecentTableSizing.WithCapacity(6));

        RuleVerdict Verdict(byte[] frame)
        {
            var parsed = default(ParsedPacket);
            Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
            return state.Evaluate(ref parsed, frame, 0, 1, 0, out _);
        }

        Assert.Equal(RuleVerdict.Drop, Verdict(Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0), "10.0.0.1", "10.0.0.2"))));
        Assert.Equal(RuleVerdict.Accept, Verdict(Ethernet(EtherTypeIPv6, Ipv6(58, Icmp(128, 0), "2001:db8::1", "2001:db8::2"))));
        Assert.Equal(RuleVerdict.Drop, Verdict(Ethernet(EtherTypeIPv6, Ipv6(58, Icmp(255, 0), "2001:db8::1", "2001:db8::2"))));
        foreach (ushort port in (ushort[])[0, 1, 2, 500, 1023, 1024, 1025, 65535])
            Assert.Equal(RuleVerdict.Accept, Verdict(Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40000, port), "10.0.0.1", "10.0.0.2"))));
    }

    /// <summary>xtables_numeric_to_ipaddr: one to four parts, each a number in C notation; then inet_aton's forms.</summary>
    [Theory]
    [InlineData("-s 10/8", "10.0.0.0", 8)]
    [InlineData("-s 10.1/16", "10.1.0.0", 16)]
    [InlineData("-s 0/0", "0.0.0.0", 0)]
    [InlineData("-s any/0", "0.0.0.0", 0)]
    [InlineData("-s 10.0.0.010", "10.0.0.8", 32)]
    [InlineData("-s 0x0a.0.0.1", "10.0.0.1", 32)]
    [InlineData("-s 1.2.3", "1.2.3.0", 32)]
    [InlineData("-s 4294967295", "255.255.255.255", 32)]
    [InlineData("-s 10.0.0.1/024", "10.0.0.0", 20)]
    [InlineData("-s 1.2.3.4/0x18", "1.2.3.0", 24)]
    [InlineData("-s 1.2.3.4/255.255.0.0", "1.2.0.0", 16)]
    public void Ipv4AddressesAreReadAsXtablesReadsThem(string options, string address, int prefix)
    {
        var source = Rule(options).Source!.Value.Value;
        Assert.Equal(new AddressPrefix(Address(address), InetAddress.PrefixMask(prefix)), source);
    }

    [Theory]
    [InlineData("-s 2001:db8::1/ffff:ffff::", "2001:db8::", 32)]
    [InlineData("-s 2001:db8::1/010", "2000::", 8)]
    [InlineData("-s ::1/0", "::", 0)]
    public void Ipv6MasksMayBeWrittenOut(string options, string address, int prefix) =>
        Assert.Equal(new AddressPrefix(Address(address), InetAddress.PrefixMask(prefix)), Rule(options, L3Kind.IPv6).Source!.Value.Value);

    [Theory]
    [InlineData("-s 10.0.0.1/08", "invalid mask `08' specified")]
    [InlineData("-s 10.0.0.1/33", "invalid mask `33' specified")]
    [InlineData("-s 10.0.0.1/255.255", "invalid mask `255.255' specified")]
    [InlineData("-s 256.0.0.1", "host/network `256.0.0.1' not found")]
    [InlineData("-s localhost", "host/network `localhost' not found")]
    [InlineData("! -s 1.2.3.4,5.6.7.8", "! not allowed with multiple source or destination IP addresses")]
    public void BadAddressesAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    [Fact]
    public void Ip6MaskInCNotationIsRefusedWhenItIsNotANumber() =>
        Assert.Contains("invalid mask `048' specified", Refused("-s 2001:db8::1/048", L3Kind.IPv6).Message);

    /// <summary>A comma-separated -s or -d adds one rule per address, for each source every destination.</summary>
    [Fact]
    public void AddressListsAddOneRulePerPair()
    {
        var rules = Rules("-A FORWARD -j DROP\n-A FORWARD -s 1.2.3.4,5.6.7.0/24 -d 9.9.9.9,8.8.8.8 -p tcp --dport 22 -j ACCEPT\n-A FORWARD -s 1.2.3.4,1.2.3.4");
        Assert.Equal([1, 2, 3, 4, 5, 6, 7], rules.Select(r => r.Number));
        Assert.Equal([5, 6, 6, 6, 6, 7, 7], rules.Select(r => r.Line));
        Assert.Equal([("1.2.3.4", "9.9.9.9"), ("1.2.3.4", "8.8.8.8"), ("5.6.7.0", "9.9.9.9"), ("5.6.7.0", "8.8.8.8")],
            rules[1..5].Select(r => (NumericAddress(r.Source), NumericAddress(r.Destination))));
        Assert.All(rules[1..5], r => Assert.Equal(new PortRange(22, 22), r.DestinationPort!.Value.Value));
        Assert.Equal(rules[5] with { Number = 7 }, rules[6]);
    }

    [Theory]
    [InlineData("-j ACCEPT -j DROP", "multiple -j flags not allowed")]
    [InlineData("-j ACCEPT -g X", "multiple -j flags not allowed")]
    [InlineData("-m comment -j ACCEPT", "comment: option \"--comment\" must be specified")]
    public void BadTargetsAndCommentsAreRefused(string options, string message) => Assert.Contains(message, Refused(options).Message);

    [Fact]
    public void InputInterfaceIsRefusedInOutput()
    {
        var e = Assert.Throws<RulesetException>(() => RulesetParser.Parse("*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -i eth0\nCOMMIT\n", "out.rules", L3Kind.IPv4));
        Assert.Contains("Can't use -i with OUTPUT", e.Message);
    }

    [Fact]
    public void AnEmptyQuotedWordIsAnEmptyComment() => Assert.Equal("", Rule("-m comment --comment \"\" -j ACCEPT").Comment);

    [Fact]
    public void ALongCommentIsCutTo255Bytes() =>
        Assert.Equal(new string('x', 255), Rule($"-m comment --comment {new string('x', 300)}").Comment);

    /// <summary>
    /// iptables parses options with getopt_long: "-m multiport --dport 22,23" is --dports (the beginning of one
    /// option), "--dport=22" is --dport 22. FastPath refuses both forms, saying what to write.
    /// </summary>
    [Theory]
    [InlineData("-p tcp -m multiport --dport 22,23", "multiport's '--dports'")]
    [InlineData("-p udp -m multiport --sport 53", "multiport's '--sports'")]
    [InlineData("-p tcp -m multiport --port 22", "multiport's '--ports'")]
    [InlineData("-p tcp --dport=22", "FastPath needs '--NAME VALUE'")]
    public void GetoptFormsAreRefusedWithWhatToWrite(string options, string message) => Assert.Contains(message, Refused(options).Message);
}
