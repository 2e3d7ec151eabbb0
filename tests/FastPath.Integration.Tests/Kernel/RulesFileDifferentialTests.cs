// SPDX-License-Identifier: MIT
using FastPath.Control;
using FastPath.Control.Rules;
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Rules as users write them by hand, through iptables-legacy-restore (ip6tables-legacy-restore) in a namespace of
/// their own and through FastPath's parser: FastPath loads exactly the files the real tool loads, and a loaded
/// file's filter table lists (-L -v -x -n) byte for byte as the kernel lists it — which shows how the tool read
/// each number, name and address.
/// </summary>
public sealed class RulesFileDifferentialTests
{
    public static TheoryData<bool, string> Cases => new()
    {
        // protocols: numbers in C notation, /etc/protocols names, any case, "! -p all"
        { false, "-p vrrp -j ACCEPT" }, { false, "-p ospf" }, { false, "-p TCP" }, { false, "-p 0x11" }, { false, "-p 017" },
        { false, "! -p all" }, { false, "-p 256" }, { true, "-p icmp" }, { true, "-p ipv6-frag" },
        // -f and its opt column; ip6tables has none
        { false, "-f -j DROP" }, { false, "! -f -p udp" }, { false, "-f -f" }, { true, "-f" },
        // ports: libxt_tcp (C notation, tcp services), libxt_udp (getaddrinfo), multiport
        { false, "-p tcp --dport 022" }, { false, "-p tcp --dport ssh" }, { false, "-p tcp --sport http:https" },
        { false, "-p tcp --dport 1024:1" }, { false, "-p tcp --dport bootps" }, { false, "-p tcp --dport \" 22\"" },
        { false, "-p udp --dport 010" }, { false, "-p udp --dport 1024:1" }, { false, "-p udp --dport http-alt" },
        { false, "-p udp --dport 65536" }, { false, "-p udp --dport 0x10" }, { false, "-p udp --dport 1:2:3" },
        { false, "-p tcp -m multiport --dports ssh,010,0x10" }, { false, "-p tcp -m multiport --dports 22:22" },
        { false, "-p udp -m multiport --dports ssh" }, { false, "-p tcp -m multiport" },
        { false, "-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15" },
        { false, "-p tcp -m multiport --dports 1:2,3,4,5,6,7,8,9,10,11,12,13,14,15,16" },
        // options of the match -p names, without -m
        { false, "-p tcp --syn -j ACCEPT" }, { false, "-p tcp ! --tcp-flags SYN,,ACK SYN" }, { false, "-p udp --syn" },
        { false, "-p icmp --icmp-type echo-request" }, { true, "-p ipv6-icmp --icmpv6-type neighbour-solicitation" },
        // ICMP names, codes, numbers
        { false, "-p icmp -m icmp --icmp-type port-unreachable" }, { false, "-p icmp -m icmp --icmp-type Echo-Req" },
        { false, "-p icmp -m icmp --icmp-type 0x3/010" }, { false, "-p icmp -m icmp --icmp-type echo" },
        { false, "-p icmp -m icmp ! --icmp-type any" }, { true, "-p ipv6-icmp -m icmp6 --icmpv6-type reject-route" },
        { true, "-p ipv6-icmp -m icmp6 --icmpv6-type 255" }, { true, "-p ipv6-icmp -m icmp6 --icmpv6-type any" },
        // addresses
        { false, "-s 10/8 -d 10.1/16" }, { false, "-s 10.0.0.010/024" }, { false, "-s 0x0a.0.0.1/0x18" }, { false, "-s 4294967295" },
        { false, "-s 10.0.0.1/255.0.255.0" }, { false, "-s 10.0.0.1/08" }, { false, "-s 10.0.0.1/255.255" }, { false, "-s any/0" },
        { false, "-s 1.2.3.4,5.6.7.0/24 -d 9.9.9.9,8.8.8.8 -j DROP" }, { false, "! -s 1.2.3.4,5.6.7.8" },
        { true, "-s 2001:db8::1/ffff:0:ffff::" }, { true, "-s 2001:db8::1/010,::1" }, { true, "-s 2001:db8::1/048" },
        // interfaces, targets, comments
        { false, "-i é -o eth+" }, { false, "! -i abcdefghijklmno" }, { false, "-i abcdefghijklmnop" },
        { false, "-j ACCEPT -j DROP" }, { false, "-m comment" }, { false, $"-m comment --comment {new string('c', 300)}" },
        { false, "-m comment --comment \"a \\\"quoted\\\" one\" -j ACCEPT" }, { false, "-m comment --comment a\"b c\"d" },
        // LOG and limit, as the recipes pair them
        { false, "-m limit --limit 5/min -j LOG --log-prefix \"iptables denied: \" --log-level 7" }, { false, "-j LOG --log-level warning --log-uid" },
        { false, "-j LOG --log-prefix 123456789012345678901234567890" }, { false, "-j LOG --log-level 8" }, { true, "-j LOG --log-tcp-options --log-ip-options" },
        { false, "-m limit --limit 3/hOUR --limit-burst 10" }, { false, "-m limit --limit 1/d" }, { false, "-m limit --limit 0x10/s" },
        { false, "-m limit --limit-burst 0" }, { false, "-m limit --limit 10000/s" }, { true, "-m limit --limit 7" },
        // address ranges and lengths
        { false, "-m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 10.1-10.2" }, { false, "-m iprange --src-range 010.0.0.1" },
        { false, "-m iprange --dst-range 10.0.0.9-10.0.0.1" }, { true, "-m iprange --src-range 2001:db8::1-2001:db8::ff" },
        { false, "-m length --length 0x10:" }, { false, "-m length ! --length 60:1500" }, { true, "-m length --length :1280" },
        // TTL, hop limit and packet type
        { false, "-m ttl ! --ttl-eq 64" }, { false, "-m ttl --ttl-lt 010" }, { false, "-m ttl --ttl-gt 250" },
        { true, "-m hl --hl-eq 0x10" }, { true, "-m hl --hl-gt 1 ! --hl-eq 3" }, { false, "-m hl --hl-eq 1" },
        { false, "-m pkttype --pkt-type host" }, { false, "-m pkttype ! --pkt-type MCAST" }, { true, "-m pkttype --pkt-type otherhost" },
    };

    /// <summary>
    /// -j CT in raw PREROUTING: beside --notrack xt_CT ignores --helper, the events and the zones, so the kernel loads
    /// them whatever they name; without it FastPath, which has no helpers, events or zones, refuses them (where the
    /// kernel takes a zone or events, and a helper it has: docs/cttimeout-compatibility.md). A name of
    /// more than 4 bytes after --timeout is left out (the kernel lists it cut, see KernelCutsTheTimeoutNamesOfRulesToFourBytes).
    /// </summary>
    public static TheoryData<bool, string> CtCases => new()
    {
        { false, "-p udp -j CT --notrack --helper ftp" }, { false, "-j CT --notrack --helper 0123456789abcdefgh" },
        { false, "-p udp -j CT --notrack --zone 5" }, { false, "-j CT --notrack --zone 0x10" }, { false, "-j CT --notrack --zone 0" },
        { false, "-j CT --notrack --zone-orig 6 --zone 5" }, { false, "-j CT --notrack --zone 5 --zone-reply 0" },
        { false, "-j CT --notrack --zone-reply mark" }, { false, "-j CT --notrack --zone 65536" }, { false, "-j CT --notrack --zone -0" },
        { false, "-j CT --notrack --ctevents destroy,new,secmark" }, { false, "-j CT --notrack --ctevents new,,destroy" },
        { false, "-j CT --notrack --ctevents NEW" }, { false, "-j CT --notrack --expevents new" }, { false, "-j CT --notrack --expevents destroy" },
        { false, "-j CT --ctevents new --notrack --ctevents new" }, { false, "-p udp -j CT --helper ftp --notrack --timeout nope" },
        { true, "-p udp -j CT --notrack --helper tftp --zone 7 --expevents new" },
        { false, "-p udp -j CT --helper ftp" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FastPathLoadsAndListsWhatIptablesRestoreDoes(bool ipv6, string options) =>
        CompareLoadAndListing(ipv6, TableKind.Filter, options);

    [Theory]
    [MemberData(nameof(CtCases))]
    public void FastPathLoadsAndListsTheCtTargetsIptablesRestoreDoes(bool ipv6, string options) =>
        CompareLoadAndListing(ipv6, TableKind.Raw, options);

    private static void CompareLoadAndListing(bool ipv6, TableKind table, string options)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable());
        string text = table == TableKind.Raw
            ? $"*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING {options}\nCOMMIT\n"
            : $"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD {options}\nCOMMIT\n";
        string tableName = table == TableKind.Raw ? "raw" : "filter";
        string path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        string? kernel;
        string kernelError;
        try
        {
            using var ns = new NetworkNamespace();
            string tool = ipv6 ? "ip6tables-legacy" : "iptables-legacy";
            var (exit, output) = ns.Exec($"{tool}-restore", path);
            kernelError = output;
            kernel = exit == 0 ? ns.Exec(tool, "-t", tableName, "-L", "-v", "-x", "-n").Output : null;
        }
        finally
        {
            File.Delete(path);
        }

        var family = ipv6 ? L3Kind.IPv6 : L3Kind.IPv4;
        string? fastPath;
        string fastPathError = "";
        try
        {
            var rules = RulesetParser.Parse(text, "hand.rules", family);
            var empty = FamilyRuleset.Empty(ipv6 ? L3Kind.IPv4 : L3Kind.IPv6);
            var compiled = ipv6 ? new CompiledRuleset(empty, rules, []) : new CompiledRuleset(rules, empty, []);
            var counters = new RuleCounters(new long[compiled.Rules.Count], new long[compiled.Rules.Count], new long[compiled.Chains.Count], new long[compiled.Chains.Count]);
            fastPath = RuleListing.FormatTable(compiled, family, table, counters);
        }
        catch (RulesetException e)
        {
            fastPath = null;
            fastPathError = e.Message;
        }

        Assert.True(kernel is null == fastPath is null, kernel is null
            ? $"iptables-restore refuses '{options}' ({kernelError.Trim()}), FastPath loads it"
            : $"iptables-restore loads '{options}', FastPath refuses it: {fastPathError}");
        if (kernel is not null)
            Assert.Equal(kernel.TrimEnd('\n'), fastPath!.TrimEnd('\n'));
    }
}
