// SPDX-License-Identifier: MIT
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// How conntrack 1.4.7 cuts its command line (getopt_long over its whole option table, with the protocol modules'
/// options merged in at each -p), its reply-tuple filters, and its checks after reading every option. Each case
/// was run through Debian 12's conntrack on Linux 6.18 in a network namespace, listing entries made with
/// conntrack -I that <see cref="s_flows"/> mirrors; the expected answer is what conntrack did.
/// </summary>
public class ConntrackCommandLineTests
{
    private static readonly ProtocolNames s_protocols = ProtocolNames.Parse("""
        tcp	6	TCP
        udp	17	UDP
        esp	50	IPSEC-ESP
        ipv6-icmp 58	IPv6-ICMP
        """);

    private static readonly (string Name, FlowView Flow)[] s_flows =
    [
        ("udp53", Flow(17, "10.0.0.1", "10.0.0.2", 1000, 53)),
        ("udp-nat", Flow(17, "10.0.0.1", "10.0.0.2", 1001, 16) with { Reply = Tuple("10.9.9.9", "10.0.0.1", 16, 1001) }),
        ("udp6", Flow(17, "::1", "::2", 5, 16)),
        ("tcp", Flow(6, "10.0.0.3", "10.0.0.4", 2000, 16, "ESTABLISHED")),
        ("tcp-syn2", Flow(6, "9.9.9.1", "9.9.9.2", 1, 2, "SYN_SENT2")),
        ("sctp", Flow(132, "3.3.3.3", "4.4.4.4", 7, 8, "ESTABLISHED")),
        ("udplite", Flow(136, "11.0.0.1", "11.0.0.2", 16, 17)),
        ("gre", Flow(47, "1.1.1.1", "2.2.2.2", 0, 0)),
        ("esp", Flow(50, "5.5.5.5", "6.6.6.6", 0, 0)),
        ("icmp", Flow(1, "7.7.7.7", "8.8.8.8", 0, 0) with
            { Original = Tuple("7.7.7.7", "8.8.8.8", 0, 0) with { IcmpType = 8, IcmpId = 1 }, Reply = Tuple("8.8.8.8", "7.7.7.7", 0, 0) with { IcmpId = 1 } }),
        ("icmp6", Flow(58, "::1", "::3", 0, 0) with
            { Original = Tuple("::1", "::3", 0, 0) with { IcmpType = 128, IcmpId = 5 }, Reply = Tuple("::3", "::1", 0, 0) with { IcmpType = 129, IcmpId = 5 } }),
    ];

    private static FlowTuple Tuple(string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        Assert.True(InetAddress.TryParse(source, out var from, out _));
        Assert.True(InetAddress.TryParse(destination, out var to, out _));
        return new FlowTuple(from, to, sourcePort, destinationPort, 0, 0, 0);
    }

    private static FlowView Flow(byte protocol, string source, string destination, ushort sourcePort, ushort destinationPort, string? state = null) =>
        new(source.Contains(':') ? L3Kind.IPv6 : L3Kind.IPv4, protocol, Tuple(source, destination, sourcePort, destinationPort),
            Tuple(destination, source, destinationPort, sourcePort), state, 100, false, false, 0, 0, 0, 0, null);

    private static ConntrackQuery? Parse(string line, out string error) =>
        ConntrackQuery.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries), s_protocols, out error);

    private static string Selected(string line)
    {
        var query = Parse(line, out string error);
        Assert.True(query is not null, error);
        return string.Join(' ', s_flows.Where(f => query.Matches(f.Flow)).Select(f => f.Name));
    }

    private static string Refused(string line)
    {
        Assert.Null(Parse(line, out string error));
        return error;
    }

    private const string All = "udp53 udp-nat udp6 tcp tcp-syn2 sctp udplite gre esp icmp icmp6";

    // getopt_long: values attached or after '=', long options by any unambiguous prefix; arguments that are not
    // options are passed over (after a command, one is its table), and "--" ends the options.
    [Theory]
    [InlineData("-L -p udp --dport=16", "udp-nat udp6")]
    [InlineData("-L -p udp --dp 16", "udp-nat udp6")]
    [InlineData("-L -p udp --dp=16", "udp-nat udp6")]
    [InlineData("-L -s10.0.0.1", "udp53 udp-nat")]
    [InlineData("-L -pudp --sp=1000", "udp53")]
    [InlineData("-L --p udp", "udp53 udp-nat udp6")]
    [InlineData("-L --pro udp", "udp53 udp-nat udp6")]
    [InlineData("-L --fam ipv6", "udp6 icmp6")]
    [InlineData("-L --family=ipv6", "udp6 icmp6")]
    [InlineData("-L --orig-s 10.0.0.1", "udp53 udp-nat")]
    [InlineData("-L --src=10.0.0.1/8", "udp53 udp-nat tcp")]
    [InlineData("-L --protonum=tcp --dport=16", "tcp")]
    [InlineData("-L -p tcp --orig-port-src=2000", "tcp")]
    [InlineData("-L -p tcp --sp 1 --dp 2", "tcp-syn2")]
    [InlineData("--du", All)]
    [InlineData("--dump=x -s 10.0.0.1", "udp53 udp-nat")]
    [InlineData("-Lexpect", All)]
    [InlineData("-Lp udp", All)]
    [InlineData("-LD", All)]
    [InlineData("-L conn", All)]
    [InlineData("-L c", All)]
    [InlineData("junk -L", All)]
    [InlineData("-L -p tcp junk", "tcp tcp-syn2")]
    [InlineData("-L -f ipv4 !", "udp53 udp-nat tcp tcp-syn2 sctp udplite gre esp icmp")]
    [InlineData("-L --", All)]
    [InlineData("-L -- -p tcp", All)]
    [InlineData("-L -- junk -xz", All)]
    public void TheCommandLineIsCutAsGetoptLongCutsIt(string line, string selected) => Assert.Equal(selected, Selected(line));

    // conntrack sets opterr to 0: getopt prints nothing, and conntrack names argv[optind - 1], which inside a
    // cluster of short options is still the argument before it, after the non-options getopt moved behind.
    [Theory]
    [InlineData("-L --dport=16", "unknown option `--dport=16'")]
    [InlineData("-L --d 1", "unknown option `--d'")]
    [InlineData("--d", "unknown option `--d'")]
    [InlineData("-L --s 1", "unknown option `--s'")]
    [InlineData("-L --sr 1", "unknown option `--sr'")]
    [InlineData("-L --f ipv6", "unknown option `--f'")]
    [InlineData("-L --or 1.2.3.4", "unknown option `--or'")]
    [InlineData("-L --orig 10.0.0.1", "unknown option `--orig'")]
    [InlineData("-L --reply 10.0.0.1", "unknown option `--reply'")]
    [InlineData("-L --rep 10.9.9.9", "unknown option `--rep'")]
    [InlineData("-L -p tcp --st ESTABLISHED", "unknown option `--st'")]
    [InlineData("-L -p tcp --sta ESTABLISHED", "unknown option `--sta'")]
    [InlineData("-L -p tcp --stat ESTABLISHED", "unknown option `--stat'")]
    [InlineData("-L -p tcp --sta=X", "unknown option `--sta=X'")]
    [InlineData("-L -p tcp --orig-port 16", "unknown option `--orig-port'")]
    [InlineData("-L -p tcp --reply-port 16", "unknown option `--reply-port'")]
    [InlineData("-L -p gre --s 1", "unknown option `--s'")]
    [InlineData("-L -p icmp --icmp 8", "unknown option `--icmp'")]
    [InlineData("-L --nosuch", "unknown option `--nosuch'")]
    [InlineData("-L --zero=1", "unknown option `--zero=1'")]
    [InlineData("--version=x", "unknown option `--version=x'")]
    [InlineData("-L --=x", "unknown option `--=x'")]
    [InlineData("-L -x", "unknown option `-x'")]
    [InlineData("-L -zx", "unknown option `-zx'")]
    [InlineData("-L -xz", "unknown option `-L'")]
    [InlineData("-xL", "unknown option `conntrack'")]
    [InlineData("-xs", "unknown option `conntrack'")]
    [InlineData("junk -x", "unknown option `-x'")]
    [InlineData("junk -xz", "unknown option `junk'")]
    [InlineData("a b -L -xz", "unknown option `b'")]
    [InlineData("-L -p tcp junk1 junk2 -xz", "unknown option `junk2'")]
    [InlineData("-L --src", "option `--src' requires an argument")]
    [InlineData("-L -s", "option `-s' requires an argument")]
    [InlineData("-L -p udp --sp", "option `--sp' requires an argument")]
    [InlineData("-L -zs", "option `-zs' requires an argument")]
    [InlineData("--dump -s", "option `-s' requires an argument")]
    [InlineData("-L -r", "option `-r' requires an argument")]
    [InlineData("-L --dst=", "Invalid IP address `'")]
    [InlineData("-sx", "Invalid IP address `x'")]
    [InlineData("-L junk", "unknown type `junk'")]
    [InlineData("-L conntrackx", "unknown type `conntrackx'")]
    [InlineData("-L a -- -xz", "unknown type `a'")]
    [InlineData("-L --dump", "Invalid commands combination")]
    [InlineData("-L -Ls", "Invalid commands combination")]
    [InlineData("-L -C", "Invalid commands combination")]
    [InlineData("-L -V", "Invalid commands combination")]
    [InlineData("-L -h", "Invalid commands combination")]
    public void GetoptErrorsAreConntracksOwn(string line, string message) => Assert.Equal(message, Refused(line));

    // -r and -q compare the reply tuple's addresses exactly; they set the family as -s and -d do.
    [Theory]
    [InlineData("-L -r 10.9.9.9", "udp-nat")]
    [InlineData("-L -r10.9.9.9", "udp-nat")]
    [InlineData("-L --reply-s 10.9.9.9", "udp-nat")]
    [InlineData("-L --reply-src=10.9.9.9", "udp-nat")]
    [InlineData("-L -r 10.0.0.2", "udp53")]
    [InlineData("-L -q 10.0.0.1", "udp53 udp-nat")]
    [InlineData("-L --reply-d 10.0.0.1", "udp53 udp-nat")]
    [InlineData("-L -q 10.0.0.1 -r 10.0.0.2", "udp53")]
    [InlineData("-L -r 10.9.9.9 -s 10.0.0.1", "udp-nat")]
    [InlineData("-L -r 10.0.0.2 -q 10.0.0.1 -s 10.0.0.1", "udp53")]
    [InlineData("-L -r 10.9.9", "")]
    [InlineData("-L -r ::2", "udp6")]
    [InlineData("-L -q ::1", "udp6 icmp6")]
    [InlineData("-L -r ::2 -s ::1 -q ::1", "udp6")]
    [InlineData("-L -r 1.2.3.4 --reply-src 10.9.9.9", "udp-nat")]
    [InlineData("-L -r 10.9.9.9 -r 1.2.3.4", "")]
    [InlineData("-L -p udp --reply-port-src 16", "udp-nat udp6")]
    [InlineData("-L -p udp --reply-port-dst 1001", "udp-nat")]
    [InlineData("-L -p udp --reply-port-s 53", "udp53")]
    [InlineData("-L -p udp --reply-port-src=53", "udp53")]
    [InlineData("-L -p udp --reply-port-dst 1001 -r 10.9.9.9", "udp-nat")]
    [InlineData("-L -p udp -r 10.9.9.9 --reply-port-dst 1000", "")]
    [InlineData("-L -p tcp --reply-port-src 16", "tcp")]
    [InlineData("-L -p tcp --reply-port-src 16 --reply-port-dst 2000", "tcp")]
    [InlineData("-L -p tcp --reply-port-d 16", "")]
    [InlineData("-L -p sctp --reply-port-src 8", "sctp")]
    [InlineData("-L -p udplite --sp 16 --reply-port-src 17", "udplite")]
    public void ReplyFiltersSelectByTheReplyTuple(string line, string selected) => Assert.Equal(selected, Selected(line));

    [Theory]
    [InlineData("-L -r 10.9.9.9/32", "CIDR notation unavailable for `--reply-src'")]
    [InlineData("-L -r 10.9.9.9/", "CIDR notation unavailable for `--reply-src'")]
    [InlineData("-L -r 10.9.9.9/99", "CIDR notation unavailable for `--reply-src'")]
    [InlineData("-L -r 10.9.9.9/x", "CIDR notation unavailable for `--reply-src'")]
    [InlineData("-L -q 10.0.0.1/8", "CIDR notation unavailable for `--reply-dst'")]
    [InlineData("-L -q 10.0.0.1/", "CIDR notation unavailable for `--reply-dst'")]
    [InlineData("-L --reply-dst 10.0.0.1/8", "CIDR notation unavailable for `--reply-dst'")]
    [InlineData("-L -r bad", "Invalid IP address `bad'")]
    [InlineData("-L -r bad/8", "Invalid IP address `bad/8'")]
    [InlineData("-L -r 10.9.9.9 -r bad", "Invalid IP address `bad'")]
    [InlineData("-L -f ipv4 -r ::2", "mismatched address family")]
    [InlineData("-L -r ::2 -f ipv4", "mismatched address family")]
    [InlineData("-L -f ipv4 -r ::2/64", "mismatched address family")]
    [InlineData("-L -r ::2/64 -f ipv4", "CIDR notation unavailable for `--reply-src'")]
    [InlineData("-L -s 10.0.0.1 -r ::2", "mismatched address family")]
    [InlineData("-L -r 1.2.3.4 -f ipv6", "mismatched address family")]
    [InlineData("-L -f ipv4 -f ipv6", "mismatched address family")]
    [InlineData("-L --reply-port-src 53", "unknown option `--reply-port-src'")]
    [InlineData("-L -p udp --reply-port 53", "unknown option `--reply-port'")]
    [InlineData("-L -p udp --reply-p 53", "unknown option `--reply-p'")]
    [InlineData("-L -p tcp --reply-port-src", "option `--reply-port-src' requires an argument")]
    [InlineData("-F -r 1.1.1.1", "Illegal option `--reply-src' with this command")]
    [InlineData("-F -q 1.1.1.1", "Illegal option `--reply-dst' with this command")]
    [InlineData("-F -r 1.1.1.1 -s 1.1.1.1", "Illegal option `--src' with this command")]
    [InlineData("-F -r 1.1.1.1 -p udp", "Illegal option `--reply-src' with this command")]
    [InlineData("-C -r 1.1.1.1", "Illegal option `--reply-src' with this command")]
    public void ReplyFiltersAreRefusedAsConntrackRefusesThem(string line, string message) => Assert.Equal(message, Refused(line));

    // Each -p merges its module's options in again; the last -p's module reads every protocol option, by the
    // option's number in the module that defined it, and the last -p's protocol is the one compared. Ports are
    // compared only under TCP, UDP, UDP-Lite, SCTP and DCCP (never GRE's keys), ICMP's fields under ICMP, a state
    // only on its own protocol's connections, reply ports under the protocol of the module that read them.
    [Theory]
    [InlineData("-L -p tcp --state LISTEN", "tcp-syn2")]
    [InlineData("-L -p icmp --icmp-type 8", "icmp")]
    [InlineData("-L -p icmp --icmp-type 0", "")]
    [InlineData("-L -p icmp --icmp-type=8", "icmp")]
    [InlineData("-L -p icmp --icmp-t 8", "icmp")]
    [InlineData("-L -p icmp --icmp-id 1 --icmp-code 0", "icmp")]
    [InlineData("-L -p icmp --icmp-c 0 --icmp-i 1", "icmp")]
    [InlineData("-L -p icmp --icmp-id 2", "")]
    [InlineData("-L -p icmp -r 8.8.8.8 --icmp-type 8", "icmp")]
    [InlineData("-L -p icmpv6 --icmpv6-type 128", "icmp6")]
    [InlineData("-L -p icmpv6 --icmpv6-type 129", "")]
    [InlineData("-L -p 58 --icmpv6-type 128", "icmp6")]
    [InlineData("-L -p dccp --state OPEN", "")]
    [InlineData("-L -p dccp --sport 1", "")]
    [InlineData("-L -p gre --srckey 5", "gre")]
    [InlineData("-L -p gre --reply-key-src 5", "gre")]
    [InlineData("-L -p 136 --dport 17", "udplite")]
    [InlineData("-L -p tcp -p udp --dport 16", "udp-nat udp6")]
    [InlineData("-L -p udp -p tcp --state ESTABLISHED", "tcp")]
    [InlineData("-L -p sctp -p tcp --dport 16", "tcp tcp-syn2")]
    [InlineData("-L -p sctp -p tcp --sport 2000", "tcp tcp-syn2")]
    [InlineData("-L -p tcp -p sctp --dport 16", "sctp")]
    [InlineData("-L -p sctp --sport 7 -p tcp --dport 16", "")]
    [InlineData("-L -p tcp --dport 16 -p udp", "udp-nat udp6")]
    [InlineData("-L -p tcp -p esp --dport 16", "esp")]
    [InlineData("-L -p tcp -p esp --dp 16", "esp")]
    [InlineData("-L -p tcp --dport 16 -p esp", "esp")]
    [InlineData("-L -p tcp -p esp --state NONE", "esp")]
    [InlineData("-L -p tcp --state NONE -p esp", "")]
    [InlineData("-L -p tcp --state ESTABLISHED -p sctp", "")]
    [InlineData("-L -p sctp --state ESTABLISHED -p tcp", "")]
    [InlineData("-L -p udp --dport 5 -p gre", "gre")]
    [InlineData("-L -p udp --dport 5 -p icmp", "icmp")]
    [InlineData("-L -p udp --reply-port-src 5 -p icmp", "")]
    [InlineData("-L -p udp --reply-port-src 16 -p esp", "")]
    [InlineData("-L -p tcp --reply-port-src 16 -p udp", "")]
    [InlineData("-L -p udp --reply-port-src 16 -p gre", "")]
    [InlineData("-L -p gre --reply-key-src 5 -p udp", "")]
    [InlineData("-L -p icmp --icmp-type 9 -p udp", "udp53 udp-nat udp6")]
    [InlineData("-L -p icmp -q 7.7.7.7 --icmp-type 9 -p udp", "")]
    [InlineData("-L -p tcp --mask-port-src 5 -p esp", "esp")]
    [InlineData("-L -p sctp --orig-vtag 5 -p esp", "esp")]
    [InlineData("-L -p sctp --orig-vtag 5 -p icmp", "icmp")]
    public void ProtocolOptionsAreReadByTheLastModule(string line, string selected) => Assert.Equal(selected, Selected(line));

    // conntrack's checks after reading every option: each option's legality with the command (no command allows
    // none), in its option table's order, then the last module's own, by its own names ("(null)" for a flag it
    // counts but does not name). Errors found while reading come first.
    [Theory]
    [InlineData("-L -p tcp --state established", "unknown TCP state `established'")]
    [InlineData("-L -p dccp --state BAD", "Unknown DCCP state `BAD'")]
    [InlineData("-L -p dccp --role x", "Unknown DCCP role `x'")]
    [InlineData("-L -p dccp --role CL", "Illegal option `--role' with this command")]
    [InlineData("-L -p dccp --ro c", "Illegal option `--role' with this command")]
    [InlineData("-L -p gre --sport 1", "unknown option `--sport'")]
    [InlineData("-L -p tcp -p udp --dp 16", "unknown option `--dp'")]
    [InlineData("-L -p tcp -p udp --state ESTABLISHED", "Illegal option `--tuple-port-src' with this command")]
    [InlineData("-L -p tcp --state ESTABLISHED -p udp", "Illegal option `--tuple-port-src' with this command")]
    [InlineData("-L -p tcp --mask-port-src 1", "Illegal option `--mask-port-src' with this command")]
    [InlineData("-L -p udp --tuple-port-src 1", "Illegal option `--tuple-port-src' with this command")]
    [InlineData("-L -p sctp --orig-vtag 5", "Illegal option `--orig-vtag' with this command")]
    [InlineData("-L -p sctp --orig-vtag 5 -p tcp", "Illegal option `--(null)' with this command")]
    [InlineData("-D -p tcp --mask-port-src 1 -s bad", "Invalid IP address `bad'")]
    [InlineData("-L -t 5", "Illegal option `--timeout' with this command")]
    [InlineData("-L --time 5", "Illegal option `--timeout' with this command")]
    [InlineData("-L -m 1 -t 5", "Illegal option `--timeout' with this command")]
    [InlineData("-L -e NEW", "Illegal option `--event-mask' with this command")]
    [InlineData("-L -i 5", "Illegal option `--id' with this command")]
    [InlineData("-L -[ 1.1.1.1", "Illegal option `--tuple-src' with this command")]
    [InlineData("-D -z", "Illegal option `--zero' with this command")]
    [InlineData("-D -c 1 -s 1.1.1.1", "Illegal option `--secmark' with this command")]
    [InlineData("-C -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-C -p tcp", "Illegal option `--protonum' with this command")]
    [InlineData("-C --timeout 5", "Illegal option `--timeout' with this command")]
    [InlineData("-s 1.2.3.4", "Illegal option `--src' with this command")]
    [InlineData("-p tcp --dport 5", "Illegal option `--protonum' with this command")]
    [InlineData("-r 1.1.1.1", "Illegal option `--reply-src' with this command")]
    [InlineData("-n", "Illegal option `--src-nat' with this command")]
    [InlineData("--json", "unknown option `--json'")]
    public void ConntracksChecksComeInItsOrder(string line, string message) => Assert.Equal(message, Refused(line));

    private const string Cannot = "Can't do that command with tables `dying' and `unconfirmed'";
    private const string TcpTuple = "-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2 --reply-port-src 3 --reply-port-dst 4";
    private const string Ports = "--sport 1 --dport 2 --reply-port-src 3 --reply-port-dst 4";

    private static (ConntrackAction, ConntrackTable) Read(string line)
    {
        var query = Parse(line, out string error);
        Assert.True(query is not null, error);
        return (query.Action, query.Table);
    }

    // The argument after a command is its table (check_type): any prefix of expect, conntrack, dying or
    // unconfirmed, compared in that order; a value attached to the command (-Lexpect, --dump=dying) is none,
    // and conntrack's table is the default. A line without a command gets the usage, as conntrack prints its own.
    [Theory]
    [InlineData("-L", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("-L e", ConntrackAction.List, ConntrackTable.Expect)]
    [InlineData("-L exp", ConntrackAction.List, ConntrackTable.Expect)]
    [InlineData("-L expect", ConntrackAction.List, ConntrackTable.Expect)]
    [InlineData("-L expect dying", ConntrackAction.List, ConntrackTable.Expect)]
    [InlineData("-L c", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("-L conntrack", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("-L d", ConntrackAction.List, ConntrackTable.Dying)]
    [InlineData("-L dying", ConntrackAction.List, ConntrackTable.Dying)]
    [InlineData("-L dying expect", ConntrackAction.List, ConntrackTable.Dying)]
    [InlineData("--dump dying", ConntrackAction.List, ConntrackTable.Dying)]
    [InlineData("-L u", ConntrackAction.List, ConntrackTable.Unconfirmed)]
    [InlineData("-L un", ConntrackAction.List, ConntrackTable.Unconfirmed)]
    [InlineData("-L unconfirmed", ConntrackAction.List, ConntrackTable.Unconfirmed)]
    [InlineData("-L !x", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("-Lexpect", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("--dump=expect", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("--dump=dying", ConntrackAction.List, ConntrackTable.Conntrack)]
    [InlineData("-Ddying", ConntrackAction.Delete, ConntrackTable.Conntrack)]
    [InlineData("--delete=dying", ConntrackAction.Delete, ConntrackTable.Conntrack)]
    [InlineData("-C expect", ConntrackAction.Count, ConntrackTable.Expect)]
    [InlineData("--count expect", ConntrackAction.Count, ConntrackTable.Expect)]
    [InlineData("-Cexpect", ConntrackAction.Count, ConntrackTable.Conntrack)]
    [InlineData("--count=expect", ConntrackAction.Count, ConntrackTable.Conntrack)]
    [InlineData("-F expect", ConntrackAction.Flush, ConntrackTable.Expect)]
    [InlineData("--flush expect", ConntrackAction.Flush, ConntrackTable.Expect)]
    [InlineData("-Fexpect", ConntrackAction.Flush, ConntrackTable.Conntrack)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("junk", ConntrackAction.Usage, ConntrackTable.Conntrack)]
    [InlineData("a b", ConntrackAction.Usage, ConntrackTable.Conntrack)]
    [InlineData("--", ConntrackAction.Usage, ConntrackTable.Conntrack)]
    [InlineData("-- -L", ConntrackAction.Usage, ConntrackTable.Conntrack)]
    public void TheTableIsAnyPrefixOfItsName(string line, ConntrackAction action, ConntrackTable table) =>
        Assert.Equal((action, table), Read(line));

    [Fact]
    public void AnEmptyTableNameIsExpectAndNoArgumentIsTheUsage()
    {
        // strncmp over no character: "" is a prefix of expect, the first name compared.
        Assert.Equal(ConntrackTable.Expect, ConntrackQuery.Parse(["-L", ""], s_protocols, out _)!.Table);
        Assert.Equal(ConntrackAction.Usage, ConntrackQuery.Parse([], s_protocols, out _)!.Action);
    }

    // Refused while reading, before any other command is looked at: a name that is no table's prefix, a command
    // other than -L on dying or unconfirmed, -U or -A on expectations. Errors found earlier on the line come first.
    [Theory]
    [InlineData("-L expectation", "unknown type `expectation'")]
    [InlineData("-L expectx", "unknown type `expectx'")]
    [InlineData("-L dyingx", "unknown type `dyingx'")]
    [InlineData("-L unconfirmedx", "unknown type `unconfirmedx'")]
    [InlineData("-L E", "unknown type `E'")]
    [InlineData("-L Expect", "unknown type `Expect'")]
    [InlineData("-L =e", "unknown type `=e'")]
    [InlineData("-D dying", Cannot)]
    [InlineData("-D unconfirmed", Cannot)]
    [InlineData("-F dying", Cannot)]
    [InlineData("-F u", Cannot)]
    [InlineData("-C d", Cannot)]
    [InlineData("-C unconfirmed", Cannot)]
    [InlineData("-E dying", Cannot)]
    [InlineData("-G dying", Cannot)]
    [InlineData("-V dying", Cannot)]
    [InlineData("-h unconfirmed", Cannot)]
    [InlineData("-S dying", Cannot)]
    [InlineData("-U dying", Cannot)]
    [InlineData("-A unconfirmed", Cannot)]
    [InlineData("-I dying -x", Cannot)]
    [InlineData("--delete dying", Cannot)]
    [InlineData("-D dying -s bad", Cannot)]
    [InlineData("-F dying -x", Cannot)]
    [InlineData("-F dying -s bad", Cannot)]
    [InlineData("-C dying --json", Cannot)]
    [InlineData("-t 5 -D dying", Cannot)]
    [InlineData("-p tcp -C dying", Cannot)]
    [InlineData("-L -D dying", Cannot)]
    [InlineData("-D dying -L", Cannot)]
    [InlineData("-L -C dying", Cannot)]
    [InlineData("-x -F dying", "unknown option `-x'")]
    [InlineData("-s bad -D dying", "Invalid IP address `bad'")]
    [InlineData("-L dying -L", "Invalid commands combination")]
    [InlineData("-L d -L", "Invalid commands combination")]
    [InlineData("-L -D expect", "Invalid commands combination")]
    [InlineData("-L expect -D", "Invalid commands combination")]
    [InlineData("-L -C expect", "Invalid commands combination")]
    [InlineData("-F expect -F", "Invalid commands combination")]
    [InlineData("-U expect", "Can't do --update on expectations")]
    [InlineData("-U e -x", "Can't do --update on expectations")]
    [InlineData("--update expect", "Can't do --update on expectations")]
    [InlineData("-L -U expect", "Can't do --update on expectations")]
    [InlineData("-U expect -L", "Can't do --update on expectations")]
    [InlineData("-U expect -s bad", "Can't do --update on expectations")]
    [InlineData("-A exp", "Can't do --add on expectations")]
    [InlineData("--add expect", "Can't do --add on expectations")]
    public void TablesAreRefusedAsConntrackRefusesThem(string line, string message) => Assert.Equal(message, Refused(line));

    // Each table's row of conntrack's legality table: -L dying and -L unconfirmed take -L's; -L expect takes -f
    // and -o only; -C and -F expect take nothing; -D expect needs -s, -d and -p, takes -r and -q (a prefix
    // shorter than the address is a mask, which it refuses), and the last module's own row then needs the
    // tuple's four ports (GRE's keys) and refuses everything else, ICMP's fields too, by the module's names.
    [Theory]
    [InlineData("-L dying -t 5", "Illegal option `--timeout' with this command")]
    [InlineData("-L unconfirmed -e NEW", "Illegal option `--event-mask' with this command")]
    [InlineData("-L dying --tuple-src 1.1.1.1", "Illegal option `--tuple-src' with this command")]
    [InlineData("-L u -i 5", "Illegal option `--id' with this command")]
    [InlineData("-L d -b 100000", "Illegal option `--buffer-size' with this command")]
    [InlineData("-L dying -p tcp --mask-port-src 1", "Illegal option `--mask-port-src' with this command")]
    [InlineData("-L dying -p tcp --state BAD", "unknown TCP state `BAD'")]
    [InlineData("-L unconfirmed -f ipv6 -s 1.1.1.1", "mismatched address family")]
    [InlineData("-L expect -s 1.1.1.1", "Illegal option `--src' with this command")]
    [InlineData("-L expect -s 1.1.1.1 -f ipv4", "Illegal option `--src' with this command")]
    [InlineData("-L expect -r 1.1.1.1", "Illegal option `--reply-src' with this command")]
    [InlineData("-L expect -p tcp", "Illegal option `--protonum' with this command")]
    [InlineData("-L expect -p tcp --mask-port-src 1", "Illegal option `--protonum' with this command")]
    [InlineData("-L expect -p tcp --state BAD", "unknown TCP state `BAD'")]
    [InlineData("-L expect -z", "Illegal option `--zero' with this command")]
    [InlineData("-L expect -m 1", "Illegal option `--mark' with this command")]
    [InlineData("-L expect --mask-src 255.0.0.0", "Illegal option `--mask-src' with this command")]
    [InlineData("-L expect -w 1", "Illegal option `--zone' with this command")]
    [InlineData("-L expect -f ipv4 -s ::1", "mismatched address family")]
    [InlineData("-L expect -f bad", "`bad' unsupported protocol")]
    [InlineData("-C expect -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-C expect -o extended", "Illegal option `--output' with this command")]
    [InlineData("-C expect -s 1.1.1.1", "Illegal option `--src' with this command")]
    [InlineData("-C expect -p tcp --state BAD", "unknown TCP state `BAD'")]
    [InlineData("-C expect -x", "unknown option `-x'")]
    [InlineData("-F expect -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-F expect -o extended", "Illegal option `--output' with this command")]
    [InlineData("-F expect -p esp", "Illegal option `--protonum' with this command")]
    [InlineData("-F expect -s bad", "Invalid IP address `bad'")]
    [InlineData("-D expect", "You need to supply the `--src' option for this command")]
    [InlineData("-D exp -d 2.2.2.2", "You need to supply the `--src' option for this command")]
    [InlineData("-D expect -f ipv4", "You need to supply the `--src' option for this command")]
    [InlineData("-D expect -p tcp --state ESTABLISHED", "You need to supply the `--src' option for this command")]
    [InlineData("-D expect -s 1.1.1.1", "You need to supply the `--dst' option for this command")]
    [InlineData("-D expect -s 1.1.1.1/8", "You need to supply the `--dst' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -t 5", "You need to supply the `--dst' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2", "You need to supply the `--protonum' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -t 5", "You need to supply the `--protonum' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -t 1", "Illegal option `--timeout' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -m 1", "Illegal option `--mark' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -i 5", "Illegal option `--id' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -o extended", "Illegal option `--output' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -w 1", "Illegal option `--zone' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp --orig-zone 1", "Illegal option `--orig-zone' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp --tuple-src 1.1.1.1", "Illegal option `--tuple-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp --mask-src 255.0.0.0", "Illegal option `--mask-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1/0 -d 2.2.2.2 -p esp", "Illegal option `--mask-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1/ -d 2.2.2.2 -p esp", "Illegal option `--mask-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2/8 -p esp", "Illegal option `--mask-dst' with this command")]
    [InlineData("-D expect -s ::1/64 -d ::2 -p esp", "Illegal option `--mask-src' with this command")]
    [InlineData("-D expect -s ::1/128 -d ::2/127 -p esp", "Illegal option `--mask-dst' with this command")]
    [InlineData("-D expect -s 1.1.1.1/8 -d 2.2.2.2 -p tcp", "Illegal option `--mask-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp", "You need to supply the `--sport' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p 6", "You need to supply the `--sport' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -p tcp", "You need to supply the `--sport' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2", "You need to supply the `--reply-port-src' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2 --reply-port-src 3", "You need to supply the `--reply-port-dst' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --state ESTABLISHED --sport 1", "You need to supply the `--dport' option for this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp -t 5 --state ESTABLISHED", "Illegal option `--timeout' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p 47", "You need to supply the `--srckey' option for this command")]
    [InlineData(TcpTuple + " --state ESTABLISHED", "Illegal option `--state' with this command")]
    [InlineData(TcpTuple + " --mask-port-src 5", "Illegal option `--mask-port-src' with this command")]
    [InlineData(TcpTuple + " --tuple-port-dst 5", "Illegal option `--tuple-port-dst' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p udp " + Ports + " --tuple-port-src 5", "Illegal option `--tuple-port-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p sctp " + Ports + " --orig-vtag 5", "Illegal option `--orig-vtag' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p dccp " + Ports + " --role client", "Illegal option `--role' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p dccp " + Ports + " --state OPEN", "Illegal option `--state' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p gre --srckey 1 --dstkey 2 --reply-key-src 3 --reply-key-dst 4 --mask-key-src 1", "Illegal option `--mask-key-src' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 8", "Illegal option `--icmp-type' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-code 0", "Illegal option `--icmp-code' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p icmpv6 --icmpv6-id 1", "Illegal option `--icmpv6-id' with this command")]
    [InlineData(TcpTuple + " -p icmp", "Illegal option `--icmp-type' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --reply-port-dst 4 -p icmp", "Illegal option `--(null)' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --tuple-port-dst 1 -p udp " + Ports, "Illegal option `--(null)' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p dccp --role client -p gre --srckey 1 --dstkey 2 --reply-key-src 3 --reply-key-dst 4", "Illegal option `--(null)' with this command")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p sctp --orig-vtag 1 -p tcp " + Ports, "You need to supply the `--sport' option for this command")]
    [InlineData("-D expect -p esp -s 1.1.1.1 -d 2.2.2.2 -r ::1", "mismatched address family")]
    [InlineData("-D expect -p tcp --state BAD", "unknown TCP state `BAD'")]
    [InlineData("-D expect -p dccp --role x", "Unknown DCCP role `x'")]
    [InlineData("-D expect -s 1.1.1.1/33", "Invalid netmask")]
    [InlineData("-D expect -s bad", "Invalid IP address `bad'")]
    public void EachTableHasItsRowOfLegalOptions(string line, string message) => Assert.Equal(message, Refused(line));

    // What conntrack lets through to the kernel: a listing of dying or unconfirmed connections with any of -L's
    // filters, of expectations with -f, and -D expect with a whole tuple (the kernel's answer is in
    // ConntrackCommandsTests).
    [Theory]
    [InlineData("-L dying -s 1.1.1.1 -p tcp --state ESTABLISHED --sport 1", ConntrackAction.List, ConntrackTable.Dying)]
    [InlineData("-L unconfirmed -r 1.1.1.1 -q 2.2.2.2 -f ipv4", ConntrackAction.List, ConntrackTable.Unconfirmed)]
    [InlineData("-L expect -f ipv6", ConntrackAction.List, ConntrackTable.Expect)]
    [InlineData(TcpTuple, ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData(TcpTuple + " -r 1.1.1.1 -q 2.2.2.2", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1/32 -d 2.2.2.2/32 -p esp", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s ::1/128 -d ::2 -p esp", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p icmp", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 -p esp", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p gre --srckey 1 --dstkey 2 --reply-key-src 3 --reply-key-dst 4", ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p sctp " + Ports, ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p dccp " + Ports, ConntrackAction.Delete, ConntrackTable.Expect)]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p udplite " + Ports, ConntrackAction.Delete, ConntrackTable.Expect)]
    public void WhatConntrackSendsToTheKernelIsAQuery(string line, ConntrackAction action, ConntrackTable table) =>
        Assert.Equal((action, table), Read(line));

    // FastPath's own: commands and options conntrack takes that FastPath does not serve are refused once conntrack's
    // checks passed, naming the option as written and saying so; FastPath's options are matched only when spelled
    // out, so they make none of conntrack's abbreviations ambiguous (--p is still --protonum).
    [Theory]
    [InlineData("-L -c 1", "option `-c' is not served by FastPath")]
    [InlineData("-L --secm 1", "option `--secm' is not served by FastPath")]
    [InlineData("-L -z", "option `-z' is not served by FastPath")]
    [InlineData("-L -a 1", "option `-a' is not served by FastPath")]
    [InlineData("-D -t 5 -s 1.1.1.1", "option `-t' is not served by FastPath")]
    [InlineData("-L --js", "unknown option `--js'")]
    [InlineData("-L --policy", "unknown option `--policy'")]
    [InlineData("-L --timeout-p x", "unknown option `--timeout-p'")]
    [InlineData("-C --json", "unknown option `--json'")]
    [InlineData("--timeout-policy web", "Illegal option `--timeout-policy' with this command")]
    [InlineData("-C --timeout-policy web", "Illegal option `--timeout-policy' with this command")]
    [InlineData("-L expect --timeout-policy web", "Illegal option `--timeout-policy' with this command")]
    [InlineData(TcpTuple + " --timeout-policy web", "Illegal option `--timeout-policy' with this command")]
    [InlineData("-C expect --json", "unknown option `--json'")]
    [InlineData("-F expect --json", "unknown option `--json'")]
    [InlineData("-E expect", "option `-E' is not served by FastPath")]
    [InlineData("-I expect", "option `-I' is not served by FastPath")]
    [InlineData("-U conntrack", "option `-U' is not served by FastPath")]
    [InlineData("-L dying -c 1", "option `-c' is not served by FastPath")]
    [InlineData("-D expect -s 1.1.1.1 -d 2.2.2.2 -p esp -a 1.1.1.1", "option `-a' is not served by FastPath")]
    [InlineData("-E", "option `-E' is not served by FastPath")]
    [InlineData("--event -p tcp", "option `--event' is not served by FastPath")]
    [InlineData("-A -s 1.1.1.1", "option `-A' is not served by FastPath")]
    [InlineData("-L -g 1.1.1.1", "option `-g' is not served by FastPath")]
    [InlineData("-L --label foo", "option `--label' is not served by FastPath")]
    [InlineData("-L --src-nat", "option `--src-nat' is not served by FastPath")]
    [InlineData("-L -j", "option `-j' is not served by FastPath")]
    public void WhatFastPathDoesNotServeIsRefused(string line, string message) => Assert.Equal(message, Refused(line));

    // --mask-src and --mask-dst: any bits, for the address of -s or -d given before or after; the last mask given
    // (a prefix shorter than the address, or the option) holds, and an address without one keeps it. Read off
    // conntrack 1.4.7 and Linux 6.18.
    [Theory]
    [InlineData("-L -s 10.0.0.0 --mask-src 255.255.255.0", "udp53 udp-nat tcp")]
    [InlineData("-L --mask-src 255.0.0.0 -s 10.9.9.9", "udp53 udp-nat tcp")]
    [InlineData("-L -s 10.0.0.0/8 -s 10.0.0.1", "udp53 udp-nat tcp")]
    [InlineData("-L -s 10.0.0.0/8 -s 10.0.0.1/32", "udp53 udp-nat tcp")]
    [InlineData("-L -s 10.0.0.0/8 --mask-src 255.255.255.255", "")]
    [InlineData("-L --mask-src 255.255.255.255 -s 10.0.0.0/8", "udp53 udp-nat tcp")]
    [InlineData("-L -s 1.0.1.1 --mask-src 255.0.255.255", "gre")]
    [InlineData("-L -s 9.8.7.6 --mask-src 0.0.0.0", "udp53 udp-nat tcp tcp-syn2 sctp udplite gre esp icmp")]
    [InlineData("-L -d 10.0.0.0 --mask-dst 255.255.255.0", "udp53 udp-nat tcp")]
    [InlineData("-L -s ::1 --mask-src ffff::", "udp6 icmp6")]
    public void MasksSelectWithAnyBits(string line, string selected) => Assert.Equal(selected, Selected(line));

    [Theory]
    [InlineData("-L unconfirmed --mask-src 255.0.0.0")]
    [InlineData("-L dying -r 1.1.1.1 --mask-dst 255.255.255.255")]
    public void AMaskWithoutItsAddressIsTakenForTheEmptyTables(string line) => Assert.Equal(ConntrackAction.List, Read(line).Item1);

    [Theory]
    [InlineData("-L --mask-src 255.0.0.0", "Can't use --mask-src without --src")]
    [InlineData("-D -s 1.1.1.1 --mask-dst 255.0.0.0", "Can't use --mask-dst without --dst")]
    [InlineData("-L --mask-src 255.0.0.0 --mask-dst 255.0.0.0 -d 1.1.1.1", "Can't use --mask-src without --src")]
    [InlineData("-L --mask-src 255.0.0.0/8 -s 1.1.1.1", "CIDR notation unavailable for `--mask-src'")]
    [InlineData("-L -s 1.1.1.1 --mask-src ::", "mismatched address family")]
    [InlineData("-L --mask-src x", "Invalid IP address `x'")]
    [InlineData("-C --mask-src 255.0.0.0", "Illegal option `--mask-src' with this command")]
    [InlineData("-L --mask-src 255.0.0.0 -p tcp --tuple-port-src 1", "Illegal option `--tuple-port-src' with this command")]
    [InlineData("-L --mask-src 255.0.0.0 -m 1", "Can't use --mask-src without --src")]
    public void MasksAreCheckedAsConntrackChecksThem(string line, string message) => Assert.Equal(message, Refused(line));

    // -e is illegal with every command FastPath serves, after conntrack has read its list of events.
    [Theory]
    [InlineData("-L -e NEW", "Illegal option `--event-mask' with this command")]
    [InlineData("-D --event-mask=all,Destroy", "Illegal option `--event-mask' with this command")]
    [InlineData("-L -e bogus", "Bad parameter `bogus'")]
    [InlineData("-L -e NEW,,x", "Bad parameter `,x'")]
    public void AnEventMaskIsReadThenRefused(string line, string message) => Assert.Equal(message, Refused(line));

    // So is an expectation's tuple, as an address (a missing one takes the next argument, as getopt does).
    [Theory]
    [InlineData("--tuple-s --count", "Invalid IP address `--count'")]
    [InlineData("-C expect --tuple-src 1.1.1.1", "Illegal option `--tuple-src' with this command")]
    [InlineData("-L --tuple-src ::1 -s 1.1.1.1", "mismatched address family")]
    [InlineData("-L --tuple-src 1.1.1.1/8", "Illegal option `--tuple-src' with this command")]
    [InlineData("-L --tuple-dst 1.1.1.1/33", "Invalid netmask")]
    public void AnExpectationTupleIsReadThenRefused(string line, string message) => Assert.Equal(message, Refused(line));

    // -h prints conntrack's usage and, for the last -p, its module's help; it takes -p and nothing else, and checks no
    // module option (their values still must read). -V takes nothing. Both take a table. Read off conntrack 1.4.7.
    [Theory]
    [InlineData("-h", null)]
    [InlineData("--he expect", null)]
    [InlineData("-h -p tcp --sport 1 --tuple-port-src 5", "Proto `tcp' help:")]
    [InlineData("-p TCP -h", "Proto `tcp' help:")]
    [InlineData("-h -p 6", "Proto `tcp' help:")]
    [InlineData("-h -p 0x11", "Proto `udp' help:")]
    [InlineData("-h -p tcp -p esp", "Proto `esp' help:")]
    [InlineData("-h -p 50", "Proto `esp' help:")]
    [InlineData("-h -p ipv6-icmp", "Proto `ipv6-icmp' help:")]
    [InlineData("-h -p 58", "Proto `icmpv6' help:")]
    [InlineData("-h -p esp -p 255", "Proto `unknown' help:")]
    [InlineData("-h -p icmp --icmp-type 8", "Proto `icmp' help:")]
    [InlineData("-h -p dccp --role client", "Proto `dccp' help:")]
    public void HelpTakesOnlyAProtocol(string line, string? help)
    {
        var query = Parse(line, out string error);
        Assert.True(query is not null, error);
        Assert.Equal(ConntrackAction.Usage, query.Action);
        Assert.Equal(help, query.ProtocolHelp?.Split('\n')[0]);
    }

    [Theory]
    [InlineData("-h -s 1.1.1.1", "Illegal option `--src' with this command")]
    [InlineData("-h -p tcp -s 1.1.1.1", "Illegal option `--src' with this command")]
    [InlineData("-h -o xml", "Illegal option `--output' with this command")]
    [InlineData("-h -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-h -p tcp --state FOO", "unknown TCP state `FOO'")]
    [InlineData("-h -p dccp --role x", "Unknown DCCP role `x'")]
    [InlineData("-h dying", Cannot)]
    [InlineData("-h -L", "Invalid commands combination")]
    [InlineData("-Vh", "Invalid commands combination")]
    [InlineData("-V -p tcp", "Illegal option `--protonum' with this command")]
    [InlineData("-V -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-V foo", "unknown type `foo'")]
    public void HelpAndVersionRefuseWhatConntrackRefuses(string line, string message) => Assert.Equal(message, Refused(line));

    [Theory]
    [InlineData("-V")]
    [InlineData("--v expect")]
    [InlineData("--version conntrack")]
    public void VersionTakesATable(string line) => Assert.Equal(ConntrackAction.Version, Read(line).Item1);

    [Fact]
    public void FastPathsOwnOptionsTakeTheirValuesAsLongOptionsDo()
    {
        Assert.Equal("web", Parse("-L --timeout-policy=web", out _)!.TimeoutPolicy);
        Assert.True(Parse("--policy-counts --json -p udp", out _)!.Json);
        Assert.Equal(ConntrackAction.PolicyCounts, Parse("junk --policy-counts", out _)!.Action);
        Assert.Equal(ConntrackTable.Conntrack, Parse("--policy-counts expect", out _)!.Table); // it takes no table
        Assert.True(Parse("-L expect --json", out _)!.Json);
        Assert.Equal("web", Parse("-L dying --timeout-policy web", out _)!.TimeoutPolicy);
    }

    [Fact]
    public void NoCommandLineMakesTheParserThrow()
    {
        // A control command never crashes the server: any mix of options, values, clusters, "=", "--" and
        // stray words is either a query or conntrack's error.
        string[] words =
        [
            "-L", "-D", "-F", "-C", "--policy-counts", "--json", "-p", "tcp", "udp", "icmp", "sctp", "dccp", "gre", "esp", "300",
            "-s", "-d", "-r", "-q", "-f", "ipv6", "10.0.0.1", "::1", "1.2.3/8", "--sport", "--dport", "--state", "ESTABLISHED",
            "--reply-port-src", "--icmp-type", "8", "--dp", "--d", "--", "-", "=", "--=", "-pudp", "-Lconn", "-zs", "junk",
            "--timeout-policy", "web", "--dport=", "-s1.2.3.4", "-xL", "--role", "client", "-t", "-i", "", "expect", "dying",
            "u", "e", "-U", "-E", "-Lexpect", "1.1.1.1/8", "--reply-port-dst", "5", "-u", "!s,A", "--status=SE,!x",
        ];
        var random = new Random(3);
        int queries = 0, refusals = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var line = Enumerable.Range(0, random.Next(0, 9)).Select(_ => words[random.Next(words.Length)]).ToList();
            if (ConntrackQuery.Parse(line, s_protocols, out string error) is null)
            {
                Assert.False(string.IsNullOrEmpty(error), string.Join(' ', line));
                refusals++;
            }
            else
            {
                queries++;
            }
        }
        Assert.True(queries > 500 && refusals > 500, $"{queries} queries, {refusals} refusals");
    }
}
