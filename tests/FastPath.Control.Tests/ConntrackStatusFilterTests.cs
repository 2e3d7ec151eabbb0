// SPDX-License-Identifier: MIT
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Testing;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// -u, --status, as conntrack 1.4.7 (Debian 12) reads it and Linux 6.18 filters with it. Every expected answer is
/// what the real conntrack answered in a network namespace, listing or deleting four TCP connections made with
/// conntrack -I, one per status FastPath can show (<see cref="s_flows"/>); a sweep of 222 such lines matched
/// FastPath's answers but for the commands and options FastPath does not serve. -L sends the kernel a status
/// filter (value: the bits named without '!', mask: the bits named after '!' or else the value as it stood after the
/// first -u that named any) and compares the value itself too; -D compares only the value, so "!" and UNSET select
/// every connection there.
/// </summary>
public sealed class ConntrackStatusFilterTests : IDisposable
{
    private static readonly ProtocolNames s_protocols = ProtocolNames.Parse("tcp\t6\tTCP\nudp\t17\tUDP\n");

    private static readonly (string Name, FlowView Flow)[] s_flows =
    [
        ("assured", Flow(1, 2, seenReply: false, assured: true)), // conntrack -I ... -u ASSURED: [UNREPLIED] and [ASSURED]
        ("seen", Flow(3, 4, seenReply: true, assured: false)),
        ("both", Flow(5, 6, seenReply: true, assured: true)),
        ("none", Flow(7, 8, seenReply: false, assured: false, "SYN_SENT")),
    ];

    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static FlowView Flow(ushort sourcePort, ushort destinationPort, bool seenReply, bool assured, string state = "ESTABLISHED")
    {
        Assert.True(InetAddress.TryParse("10.0.0.1", out var client, out _));
        Assert.True(InetAddress.TryParse("10.0.0.2", out var server, out _));
        return new FlowView(L3Kind.IPv4, 6, new FlowTuple(client, server, sourcePort, destinationPort, 0, 0, 0),
            new FlowTuple(server, client, destinationPort, sourcePort, 0, 0, 0), state, 100, seenReply, assured, 0, 0, 0, 0, null);
    }

    private static ConntrackQuery? Parse(string line, out string error) =>
        ConntrackQuery.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries), s_protocols, out error);

    private static string Selected(string line)
    {
        var query = Parse(line, out string error);
        Assert.True(query is not null, error);
        Assert.Null(query.ListRefusal());
        return string.Join(' ', s_flows.Where(f => query.Matches(f.Flow)).Select(f => f.Name));
    }

    // parse_parameter_mask over ASSURED, SEEN_REPLY, UNSET, FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD: case-blind
    // prefixes, a comma list of them, several -u adding up; a list is all of its bits; the other four bits are never
    // set on a FastPath connection (nor on these), so they select none; prefixes of SRC_NAT and DST_NAT ("s", "d")
    // are passed over with conntrack's warning.
    [Theory]
    [InlineData("-L -u ASSURED", "assured both")]
    [InlineData("-L -u SEEN_REPLY", "seen both")]
    [InlineData("-L -u FIXED_TIMEOUT", "")]
    [InlineData("-L -u EXPECTED", "")]
    [InlineData("-L -u OFFLOAD", "")]
    [InlineData("-L -u HW_OFFLOAD", "")]
    [InlineData("-L -u a", "assured both")]
    [InlineData("-L -u A", "assured both")]
    [InlineData("-L -u as", "assured both")]
    [InlineData("-L -u assured", "assured both")]
    [InlineData("-L -u Assured", "assured both")]
    [InlineData("-L -u se", "seen both")]
    [InlineData("-L -u SE", "seen both")]
    [InlineData("-L -u seen", "seen both")]
    [InlineData("-L -u f", "")]
    [InlineData("-L -u e", "")]
    [InlineData("-L -u o", "")]
    [InlineData("-L -u h", "")]
    [InlineData("-L -u hw", "")]
    [InlineData("-L -u A,S", "assured both")]
    [InlineData("-L -u S,A", "assured both")]
    [InlineData("-L -u A,SE", "both")]
    [InlineData("-L -u SE,A", "both")]
    [InlineData("-L -u A,U", "assured both")]
    [InlineData("-L -u U,A", "assured both")]
    [InlineData("-L -u ASSURED,SEEN_REPLY", "both")]
    [InlineData("-L -u SEEN_REPLY,ASSURED", "both")]
    [InlineData("-L -u ASSURED,SEEN_REPLY,FIXED_TIMEOUT", "")]
    [InlineData("-L -u s,a", "assured both")]
    [InlineData("-L -u d,se", "seen both")]
    [InlineData("-L -u a,e", "")]
    [InlineData("-L -u HW_OFFLOAD,ASSURED", "")]
    [InlineData("-D -u ASSURED", "assured both")]
    [InlineData("-D -u SEEN_REPLY", "seen both")]
    [InlineData("-D -u UNSET", "assured seen both none")]
    [InlineData("-D -u A,SE", "both")]
    [InlineData("-D -u s", "assured seen both none")]
    [InlineData("-D -u FIXED", "")]
    [InlineData("-D -u u,a", "assured both")]
    [InlineData("-L -u A -u SE", "")]
    [InlineData("-L -u SE -u A", "")]
    [InlineData("-L -u A -u U", "assured both")]
    [InlineData("-L --status A", "assured both")]
    [InlineData("-L --status=A", "assured both")]
    [InlineData("-L --statu SE", "seen both")]
    [InlineData("-L -uA", "assured both")]
    [InlineData("-L -uSE,A", "both")]
    [InlineData("-L -p tcp -u A", "assured both")]
    [InlineData("-L -p udp -u A", "")]
    [InlineData("-L -p tcp --sport 1 -u A", "assured")]
    [InlineData("-L -p tcp --state ESTABLISHED -u SE", "seen both")]
    [InlineData("-L -f ipv4 -u A", "assured both")]
    [InlineData("-L -f ipv6 -u A", "")]
    [InlineData("-L -s 10.0.0.1 -u SE", "seen both")]
    [InlineData("-L -s 10.0.0.9 -u SE", "")]
    [InlineData("-L -r 10.0.0.2 -u A", "assured both")]
    [InlineData("-L -u A -o id", "assured both")]
    [InlineData("-L -u A -o xml", "assured both")]
    [InlineData("-L -u f -o xml", "")]
    [InlineData("-D -u U -o xml", "assured seen both none")]
    [InlineData("-D -u A -i 5", "")]
    [InlineData("-L conntrack -u A", "assured both")]
    [InlineData("-L -u A conntrack", "assured both")]
    [InlineData("-L -u A -- -u x", "assured both")]
    [InlineData("-D -p tcp --dport 2 -u A,u", "assured")]
    [InlineData("-D -u A -s 10.0.0.9", "")]
    [InlineData("-L -u !ASSURED", "seen none")]
    [InlineData("-L -u !A,SE", "")]
    [InlineData("-L -u SE,!A", "")]
    [InlineData("-L -u !A,!SE", "none")]
    [InlineData("-L -u A,!A", "assured both")]
    [InlineData("-L -u !SE", "assured none")]
    [InlineData("-L -u !se,!a", "none")]
    [InlineData("-L -u !hw", "assured seen both none")]
    [InlineData("-L -u !f,A", "")]
    [InlineData("-L -u A,!f", "")]
    [InlineData("-L -u A -u !SE", "assured")]
    [InlineData("-D -u A -u !SE", "assured both")]
    [InlineData("-L -u !SE -u A", "")]
    [InlineData("-D -u !SE -u A", "assured both")]
    [InlineData("-L -u SE -u !A", "seen")]
    [InlineData("-D -u SE -u !A", "seen both")]
    [InlineData("-D -u A -u SE", "both")]
    [InlineData("-L -u U -u A -u SE", "")]
    [InlineData("-D -u U -u A -u SE", "both")]
    [InlineData("-D -u A -u U", "assured both")]
    [InlineData("-L -u !A -u !SE", "none")]
    [InlineData("-D -u !A -u !SE", "assured seen both none")]
    [InlineData("-L -u !A -u SE", "")]
    [InlineData("-D -u !A -u SE", "seen both")]
    [InlineData("-L -u U -u !A", "seen none")]
    [InlineData("-D -u U -u !A", "assured seen both none")]
    [InlineData("-L -u s -u A", "assured both")]
    [InlineData("-D -u s -u A", "assured both")]
    [InlineData("-L -u A -u A", "assured both")]
    [InlineData("-D -u A -u A", "assured both")]
    [InlineData("-L -u SE -u SE,!U", "seen both")]
    [InlineData("-D -u SE -u SE,!U", "seen both")]
    [InlineData("-D -u !ASSURED", "assured seen both none")]
    [InlineData("-D -u !U", "assured seen both none")]
    [InlineData("-D -u !A,!SE", "assured seen both none")]
    [InlineData("-D -u !A,SE", "seen both")]
    [InlineData("-L -p tcp --state ESTABLISHED -u !A", "seen")]
    [InlineData("-L -u !A -o xml", "seen none")]
    [InlineData("-L -u !A -f ipv6", "")]
    public void StatusSelectsAsConntrackAndTheKernelSelect(string line, string selected) => Assert.Equal(selected, Selected(line));

    // Read while the options are read (a bad value before a later bad option), then checked against the command:
    // -u is legal with -L (every table but expect) and -D on the conntrack table only.
    [Theory]
    [InlineData("-L -u ASSUREDX", "Bad parameter `ASSUREDX'")]
    [InlineData("-L -u SEEN_REPLY_", "Bad parameter `SEEN_REPLY_'")]
    [InlineData("-L -u x", "Bad parameter `x'")]
    [InlineData("-L -u CONFIRMED", "Bad parameter `CONFIRMED'")]
    [InlineData("-L -u NAT", "Bad parameter `NAT'")]
    [InlineData("-L -u DYING", "Bad parameter `DYING'")]
    [InlineData("-L -u A,x", "Bad parameter `x'")]
    [InlineData("-L -u x,A", "Bad parameter `x,A'")]
    [InlineData("-L -u x,y", "Bad parameter `x,y'")]
    [InlineData("-L -u A,,SE", "Bad parameter `,SE'")]
    [InlineData("-L -u ,A", "Bad parameter `,A'")]
    [InlineData("-L -u A,", "Bad parameter `'")]
    [InlineData("-L -u -1", "Bad parameter `-1'")]
    [InlineData("-L -u 1", "Bad parameter `1'")]
    [InlineData("-L -u 4", "Bad parameter `4'")]
    [InlineData("-L -u 0x4", "Bad parameter `0x4'")]
    [InlineData("-D -u x", "Bad parameter `x'")]
    [InlineData("-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-C -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-F -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-L expect -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-D expect -s 10.0.0.1 -d 10.0.0.2 -p tcp -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -u x", "Bad parameter `x'")]
    [InlineData("-C -u x", "Bad parameter `x'")]
    [InlineData("-F -u x", "Bad parameter `x'")]
    [InlineData("-L expect -u x", "Bad parameter `x'")]
    [InlineData("-D expect -s 10.0.0.1 -d 10.0.0.2 -p tcp -u x", "Bad parameter `x'")]
    [InlineData("-L dying -u x", "Bad parameter `x'")]
    [InlineData("-L unconfirmed -u x", "Bad parameter `x'")]
    [InlineData("-u x", "Bad parameter `x'")]
    [InlineData("-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -u s", "Illegal option `--status' with this command")]
    [InlineData("-C -u s", "Illegal option `--status' with this command")]
    [InlineData("-F -u s", "Illegal option `--status' with this command")]
    [InlineData("-L expect -u s", "Illegal option `--status' with this command")]
    [InlineData("-D expect -s 10.0.0.1 -d 10.0.0.2 -p tcp -u s", "Illegal option `--status' with this command")]
    [InlineData("-u s", "Illegal option `--status' with this command")]
    [InlineData("-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-C -u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-F -u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-L expect -u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-D expect -s 10.0.0.1 -d 10.0.0.2 -p tcp -u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-u UNSET", "Illegal option `--status' with this command")]
    [InlineData("-L -u A -u x", "Bad parameter `x'")]
    [InlineData("-L -u x -s bad", "Bad parameter `x'")]
    [InlineData("-L -s bad -u x", "Invalid IP address `bad'")]
    [InlineData("-L --stat A", "unknown option `--stat'")]
    [InlineData("-L --sta A", "unknown option `--sta'")]
    [InlineData("-L -u", "option `-u' requires an argument")]
    [InlineData("-L --status", "option `--status' requires an argument")]
    [InlineData("-L -u A -o x,bogus", "Bad parameter `bogus'")]
    [InlineData("-L -u bogus -o xml", "Bad parameter `bogus'")]
    [InlineData("-L -u A -i 5", "Illegal option `--id' with this command")]
    [InlineData("-L -u A -L", "Invalid commands combination")]
    [InlineData("-L -D -u A", "Invalid commands combination")]
    [InlineData("-G -u x -p tcp", "Bad parameter `x'")]
    [InlineData("-L -u A -p tcp --mask-port-src 1", "Illegal option `--mask-port-src' with this command")]
    [InlineData("-L -u !", "Bad parameter `'")]
    [InlineData("-L -u !,A", "Bad parameter `,A'")]
    [InlineData("-L -u A,!", "Bad parameter `'")]
    [InlineData("-L -u !!A", "Bad parameter `!A'")]
    [InlineData("-L -u !x", "Bad parameter `x'")]
    [InlineData("-L -u !x,A", "Bad parameter `x,A'")]
    [InlineData("-L -u A,!x", "Bad parameter `x'")]
    [InlineData("-D -u !x", "Bad parameter `x'")]
    [InlineData("-D -u !", "Bad parameter `'")]
    [InlineData("-C -u !x", "Bad parameter `x'")]
    [InlineData("-L -o !xml", "Bad parameter `!xml'")]
    [InlineData("-L -o xml,!id", "Bad parameter `!id'")]
    public void StatusIsRefusedAsConntrackRefusesIt(string line, string message)
    {
        Assert.Null(Parse(line, out string error));
        Assert.Equal(message, error);
    }

    // No bit in the kernel's mask: Linux refuses the dump with EINVAL, which conntrack reports as an operation that
    // failed (exit status 1, no hint); -L dying and unconfirmed send no filter.
    [Theory]
    [InlineData("-L -u UNSET")]
    [InlineData("-L -u s")]
    [InlineData("-L -u S")]
    [InlineData("-L -u u")]
    [InlineData("-L -u U")]
    [InlineData("-L -u unset")]
    [InlineData("-L -u SRC_NAT")]
    [InlineData("-L -u src_nat")]
    [InlineData("-L -u d")]
    [InlineData("-L -u DST_NAT")]
    [InlineData("-L -u dst")]
    [InlineData("-L -u sr")]
    [InlineData("-L -u U,U")]
    [InlineData("-L -u s,d")]
    [InlineData("-L -u U -u U")]
    [InlineData("-L -u s -u d")]
    [InlineData("-L -p tcp --state SYN_SENT -u U")]
    [InlineData("-L -f ipv6 -u U")]
    [InlineData("-L -u U -s 10.0.0.9")]
    [InlineData("-L -u U -o xml")]
    [InlineData("-L -o s -u d")]
    [InlineData("-L -u !U")]
    [InlineData("-L -u !s")]
    public void ListingWithAnEmptyStatusMaskFailsAsTheKernelRefusesIt(string line)
    {
        var query = Parse(line, out string error);
        Assert.True(query is not null, error);
        Assert.Equal((ControlError.EINVAL, ConntrackQuery.InvalidParameters), query.ListRefusal());
        var response = Conntrack(line);
        Assert.False(response.IsOk);
        Assert.Equal(ConntrackQuery.MessagePrefix + ConntrackQuery.OperationFailed + ConntrackQuery.InvalidParameters, response.Message);
    }

    // Through the control socket: -D compares only the value, so UNSET deletes every connection; the tables that
    // are always empty answer as without -u; --policy-counts counts what -L would list, and fails where it fails.
    [Fact]
    public void TheControlSocketAnswersStatusFiltersAsConntrack()
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        Assert.Equal("", Conntrack("-L dying -u UNSET").Text);
        Assert.Equal("", Conntrack("-L -u SEEN_REPLY").Text);
        Assert.Contains("[UNREPLIED]", Conntrack("-L -u !SEEN_REPLY").Text);
        Assert.False(Conntrack("--policy-counts -u UNSET").IsOk);
        Assert.Equal(Conntrack("--policy-counts").Text, Conntrack("--policy-counts -u !ASSURED").Text);
        Assert.Contains("dport=53", Conntrack("-D -u UNSET").Text);
        Assert.Empty(_fixture.Backend.ListFlows()!);
    }

    [Fact]
    public void NamesOfNatArePassedOverWithConntracksWarnings()
    {
        var query = ConntrackQuery.Parse(["-L", "-u", "!s,A", "-u", "dst"], s_protocols, out _, out var warnings)!;
        Assert.Equal([ConntrackWarning.IgnoringSourceNat, ConntrackWarning.IgnoringDestinationNat], warnings);
        Assert.Equal(ConntrackStatus.Assured, query.Status);
        Assert.Equal(ConntrackStatus.Assured, query.StatusMask);
    }

    private ControlResponse Conntrack(string line) =>
        _fixture.Call(c => c.Send(new ControlRequest(ConntrackCommands.Verb, ConntrackCommands.Path, line.Split(' ', StringSplitOptions.RemoveEmptyEntries))));
}
