// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Testing;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// The lines of /proc/net/nf_conntrack and conntrack -L against lines captured from Linux 6.18 and conntrack 1.4.7
/// in a network namespace (veth pair, -m conntrack rules, flows made with Python sockets and scapy).
/// </summary>
public sealed class ConntrackFormatTests
{
    private const ulong Now = 5_000_000;

    private static FlowView View(string source, string destination, byte protocol, ushort sport, ushort dport, long seconds,
        TcpState tcp = TcpState.None, FlowStatus status = FlowStatus.None, ulong[]? counters = null, string? policy = null)
    {
        var a = TestFrames.Address(source);
        var family = source.Contains(':') ? L3Kind.IPv6 : L3Kind.IPv4;
        var flow = new Flow
        {
            Original = new ConnectionKey(family, protocol, a, TestFrames.Address(destination), sport, dport),
            Deadline = Now + (ulong)(seconds * Jiffies.Hz) + 100, // a little over, as a live timer is
            Status = status,
        };
        flow.Tcp.State = tcp;
        if (counters is [var op, var ob, var rp, var rb])
            (flow.OriginalPackets, flow.OriginalBytes, flow.ReplyPackets, flow.ReplyBytes) = (op, ob, rp, rb);
        return FlowView.Of(flow, Now, policy);
    }

    private static FlowView EstablishedTcp => View("10.77.0.1", "10.77.0.2", 6, 50594, 5555, 431997, TcpState.Established,
        FlowStatus.SeenReply | FlowStatus.Assured, [4, 221, 3, 166]);

    private static FlowView UnrepliedUdp => View("10.77.0.1", "10.77.0.2", 17, 59419, 5999, 27, counters: [1, 32, 0, 0]);

    private static FlowView Icmpv6Echo => View("fd77::1", "fd77::2", 58, 17185, ConnectionKey.IcmpQuery(128, 0), 27,
        status: FlowStatus.SeenReply, counters: [1, 56, 1, 56]);

    private static FlowView Esp => View("10.77.0.1", "10.77.0.2", 50, 0, 0, 599, counters: [1, 36, 0, 0]);

    [Fact]
    public void ProcLinesWithAccountingAreTheKernels()
    {
        Assert.Equal("ipv4     2 tcp      6 431997 ESTABLISHED src=10.77.0.1 dst=10.77.0.2 sport=50594 dport=5555 packets=4 bytes=221 src=10.77.0.2 dst=10.77.0.1 sport=5555 dport=50594 packets=3 bytes=166 [ASSURED] mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(EstablishedTcp with { Accounted = true }));
        Assert.Equal("ipv4     2 udp      17 27 src=10.77.0.1 dst=10.77.0.2 sport=59419 dport=5999 packets=1 bytes=32 [UNREPLIED] src=10.77.0.2 dst=10.77.0.1 sport=5999 dport=59419 packets=0 bytes=0 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(UnrepliedUdp with { Accounted = true }));
        Assert.Equal("ipv6     10 icmpv6   58 27 src=fd77:0000:0000:0000:0000:0000:0000:0001 dst=fd77:0000:0000:0000:0000:0000:0000:0002 type=128 code=0 id=17185 packets=1 bytes=56 src=fd77:0000:0000:0000:0000:0000:0000:0002 dst=fd77:0000:0000:0000:0000:0000:0000:0001 type=129 code=0 id=17185 packets=1 bytes=56 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(Icmpv6Echo with { Accounted = true }));
        Assert.Equal("ipv4     2 unknown  50 599 src=10.77.0.1 dst=10.77.0.2 packets=1 bytes=36 [UNREPLIED] src=10.77.0.2 dst=10.77.0.1 packets=0 bytes=0 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(Esp with { Accounted = true }));
    }

    /// <summary>
    /// Linux 6.18 in a namespace, three DCCP packets between two addresses (ports 1000 and 1001 to 2000, and one
    /// of 2 bytes): one connection of the generic tracker, named so by the proc file, while conntrack names the
    /// protocol and prints the ports it does not have as 0.
    /// </summary>
    [Fact]
    public void DccpIsTheGenericTrackersInTheProcFileAndHasZeroPortsInConntracks()
    {
        var dccp = View("172.16.0.10", "198.18.0.1", 33, 0, 0, 599, counters: [3, 94, 0, 0]);
        Assert.Equal("ipv4     2 unknown  33 599 src=172.16.0.10 dst=198.18.0.1 packets=3 bytes=94 [UNREPLIED] src=198.18.0.1 dst=172.16.0.10 packets=0 bytes=0 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(dccp with { Accounted = true }));
        Assert.Equal("dccp     33 599 src=172.16.0.10 dst=198.18.0.1 sport=0 dport=0 packets=3 bytes=94 [UNREPLIED] src=198.18.0.1 dst=172.16.0.10 sport=0 dport=0 packets=0 bytes=0 mark=0 use=1\n",
            ConntrackFormat.ToolLine(dccp with { Accounted = true }));
        Assert.Contains("<layer4 protonum=\"33\" protoname=\"dccp\"><sport>0</sport><dport>0</dport></layer4>", ConntrackFormat.XmlLine(dccp with { Accounted = true }, held: false));
    }

    [Fact]
    public void SaveLinesAreTheCommandLinesConntrackPrints()
    {
        Assert.Equal("-A -t 431997 -u SEEN_REPLY,ASSURED -s 10.77.0.1 -d 10.77.0.2 -r 10.77.0.2 -q 10.77.0.1 -p tcp --sport 50594 --dport 5555 --reply-port-src 5555 --reply-port-dst 50594 --state ESTABLISHED\n",
            ConntrackFormat.SaveLine(EstablishedTcp, ConntrackAction.List));
        Assert.Equal("-D -t 27 -u UNSET -s 10.77.0.1 -d 10.77.0.2 -r 10.77.0.2 -q 10.77.0.1 -p udp --sport 59419 --dport 5999 --reply-port-src 5999 --reply-port-dst 59419\n",
            ConntrackFormat.SaveLine(UnrepliedUdp, ConntrackAction.Delete));
        Assert.Equal("-A -t 27 -u SEEN_REPLY -s fd77::1 -d fd77::2 -r fd77::2 -q fd77::1 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 17185\n",
            ConntrackFormat.SaveLine(Icmpv6Echo, ConntrackAction.List));
        Assert.Equal("-A -t 599 -u UNSET -s 10.77.0.1 -d 10.77.0.2 -r 10.77.0.2 -q 10.77.0.1 -p 50\n", ConntrackFormat.SaveLine(Esp, ConntrackAction.List));
    }

    [Fact]
    public void ProcLinesWithoutAccountingAreTheKernels()
    {
        var synSent = View("10.77.0.1", "10.77.0.2", 6, 35124, 6000, 117, TcpState.SynSent);
        Assert.Equal("ipv4     2 tcp      6 117 SYN_SENT src=10.77.0.1 dst=10.77.0.2 sport=35124 dport=6000 [UNREPLIED] src=10.77.0.2 dst=10.77.0.1 sport=6000 dport=35124 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(synSent));
        var echo = View("10.77.0.1", "10.77.0.2", 1, 4660, ConnectionKey.IcmpQuery(8, 0), 27, status: FlowStatus.SeenReply);
        Assert.Equal("ipv4     2 icmp     1 27 src=10.77.0.1 dst=10.77.0.2 type=8 code=0 id=4660 src=10.77.0.2 dst=10.77.0.1 type=0 code=0 id=4660 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(echo));
    }

    [Fact]
    public void ToolLinesAreConntracksAndNameThePolicyLast()
    {
        Assert.Equal("tcp      6 431997 ESTABLISHED src=10.77.0.1 dst=10.77.0.2 sport=50594 dport=5555 packets=4 bytes=221 src=10.77.0.2 dst=10.77.0.1 sport=5555 dport=50594 packets=3 bytes=166 [ASSURED] mark=0 use=1\n",
            ConntrackFormat.ToolLine(EstablishedTcp with { Accounted = true }));
        Assert.Equal("icmpv6   58 27 src=fd77::1 dst=fd77::2 type=128 code=0 id=17185 packets=1 bytes=56 src=fd77::2 dst=fd77::1 type=129 code=0 id=17185 packets=1 bytes=56 mark=0 use=1\n",
            ConntrackFormat.ToolLine(Icmpv6Echo with { Accounted = true }));
        Assert.Equal("unknown  50 599 src=10.77.0.1 dst=10.77.0.2 packets=1 bytes=36 [UNREPLIED] src=10.77.0.2 dst=10.77.0.1 packets=0 bytes=0 mark=0 use=1\n",
            ConntrackFormat.ToolLine(Esp with { Accounted = true }));

        var withPolicy = View("10.77.0.1", "10.77.0.2", 17, 59419, 5999, 27, counters: [1, 32, 0, 0], policy: "udp short");
        Assert.EndsWith(" mark=0 use=1 timeout-policy=udp short\n", ConntrackFormat.ToolLine(withPolicy with { Accounted = true }));
    }

    /// <summary>
    /// A connection created while nf_conntrack_timestamp was 1, 2.5 s before: /proc/net/nf_conntrack's delta-time is the
    /// whole seconds since its start, conntrack's the seconds of now less those of the start; -o ktimestamp adds
    /// [start=ctime] to the line and the start in nanoseconds to XML, except for what -D deleted (Linux 6.18, conntrack 1.4.7).
    /// </summary>
    [Fact]
    public void TimestampedConnectionsShowDeltaTimeAndTheirStart()
    {
        var flow = new Flow
        {
            Original = new ConnectionKey(L3Kind.IPv4, 17, TestFrames.Address("1.1.1.1"), TestFrames.Address("2.2.2.2"), 1, 2),
            Deadline = Now + 97 * Jiffies.Hz + 100,
            CreatedAt = Now - (2 * Jiffies.Hz + Jiffies.Hz / 2),
            Status = FlowStatus.Timestamped,
        };
        var view = FlowView.Of(flow, Now, policyName: null);
        var now = new DateTimeOffset(2026, 12, 3, 16, 42, 32, 300, TimeSpan.Zero);
        var start = now.AddMilliseconds(-2500);
        var local = TimeZoneInfo.ConvertTime(start, TimeZoneInfo.Local);
        string ctime = string.Create(CultureInfo.InvariantCulture, $"{local:ddd MMM} {local.Day,2} {local:HH:mm:ss yyyy}");

        Assert.Equal("ipv4     2 udp      17 97 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 zone=0 delta-time=2 use=2\n",
            ConntrackFormat.ProcLine(view));
        Assert.Equal("udp      17 97 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 delta-time=3 use=1\n",
            ConntrackFormat.Lines([view], ConntrackOutput.None, ConntrackAction.List, now));
        Assert.Equal($"udp      17 97 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 delta-time=3 [start={ctime}] use=2\n",
            ConntrackFormat.Lines([view], ConntrackOutput.KernelTimestamp, ConntrackAction.Get, now));
        Assert.Equal("udp      17 97 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 delta-time=3 use=1\n",
            ConntrackFormat.Lines([view], ConntrackOutput.KernelTimestamp, ConntrackAction.Delete, now));
        Assert.EndsWith($"<unreplied/><timestamp><start>{start.ToUnixTimeMilliseconds() * 1_000_000}</start></timestamp><deltatime>3</deltatime></meta></flow>\n",
            ConntrackFormat.XmlLine(view, held: false, ConntrackOutput.Xml | ConntrackOutput.KernelTimestamp, now));
        Assert.EndsWith("<unreplied/><deltatime>3</deltatime></meta></flow>\n",
            ConntrackFormat.Lines([view], ConntrackOutput.Xml | ConntrackOutput.KernelTimestamp, ConntrackAction.Delete, now));
    }

    [Fact]
    public void ToolLinesWithoutAccountingHaveNoCounters()
    {
        // conntrack 1.4.7 on Linux 6.18 with nf_conntrack_acct 0, the kernel's default.
        Assert.Equal("tcp      6 431997 ESTABLISHED src=10.77.0.1 dst=10.77.0.2 sport=50594 dport=5555 src=10.77.0.2 dst=10.77.0.1 sport=5555 dport=50594 [ASSURED] mark=0 use=1\n",
            ConntrackFormat.ToolLine(EstablishedTcp));
        Assert.Equal("unknown  50 599 src=10.77.0.1 dst=10.77.0.2 [UNREPLIED] src=10.77.0.2 dst=10.77.0.1 mark=0 use=1\n",
            ConntrackFormat.ToolLine(Esp));
    }

    /// <summary>A GRE v0 packet (an ICMP echo inside) and an SCTP INIT from scapy, tracked by a table, listed one jiffy later.</summary>
    [Fact]
    public void GreAndSctpConnectionsAreListedAsTheKernelListsThem()
    {
        var registry = new FastPath.Core.Conntrack.Timeouts.TimeoutPolicyRegistry();
        var table = new FlowTable(16);
        byte[] inner = TestFrames.Ipv4(1, TestFrames.Icmp(8, 0), "1.1.1.1", "2.2.2.2");
        byte[][] frames =
        [
            TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(47, TestFrames.Gre(TestFrames.EtherTypeIPv4, inner), "10.88.0.1", "10.88.0.2")),
            TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(132, TestFrames.Sctp(5000, 6000, 0, TestFrames.SctpInit(1, 0x1234)), "10.88.0.1", "10.88.0.2")),
        ];
        foreach (var frame in frames)
        {
            var packet = default(ParsedPacket);
            Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref packet));
            var result = table.Track(packet, frame, Now, registry.Current);
            Assert.Equal(TrackDisposition.Unconfirmed, result.Disposition);
            Assert.True(table.Confirm(result.Flow, Now));
        }
        var flows = new List<FlowView>();
        table.Snapshot(Now + 1, registry.Current, flows);
        var gre = flows.Single(f => f.Protocol == 47);
        var sctp = flows.Single(f => f.Protocol == 132);

        Assert.Equal("ipv4     2 gre      47 29 timeout=30, stream_timeout=180 src=10.88.0.1 dst=10.88.0.2 srckey=0x0 dstkey=0x0 packets=1 bytes=52 [UNREPLIED] src=10.88.0.2 dst=10.88.0.1 srckey=0x0 dstkey=0x0 packets=0 bytes=0 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(gre with { Accounted = true }));
        Assert.Equal("ipv4     2 sctp     132 9 CLOSED src=10.88.0.1 dst=10.88.0.2 sport=5000 dport=6000 packets=1 bytes=52 [UNREPLIED] src=10.88.0.2 dst=10.88.0.1 sport=6000 dport=5000 packets=0 bytes=0 mark=0 zone=0 use=2\n",
            ConntrackFormat.ProcLine(sctp with { Accounted = true }));
        Assert.Equal("gre      47 29 src=10.88.0.1 dst=10.88.0.2 srckey=0x0 dstkey=0x0 packets=1 bytes=52 [UNREPLIED] src=10.88.0.2 dst=10.88.0.1 srckey=0x0 dstkey=0x0 packets=0 bytes=0 mark=0 use=1\n",
            ConntrackFormat.ToolLine(gre with { Accounted = true }));
        // -o save, as conntrack 1.4.7 printed the same packets' connections (the tag 0x1234 twice through ntohl).
        Assert.Equal("-A -t 29 -u UNSET -s 10.88.0.1 -d 10.88.0.2 -r 10.88.0.2 -q 10.88.0.1 -p gre --srckey 0 --dstkey 0 --reply-key-src 0 --reply-key-dst 0\n",
            ConntrackFormat.SaveLine(gre, ConntrackAction.List));
        Assert.Equal("-A -t 9 -u UNSET -s 10.88.0.1 -d 10.88.0.2 -r 10.88.0.2 -q 10.88.0.1 -p sctp --sport 5000 --dport 6000 --reply-port-src 6000 --reply-port-dst 5000 --state CLOSED --orig-vtag 0 --reply-vtag 873594880\n",
            ConntrackFormat.SaveLine(sctp, ConntrackAction.Get));
        Assert.Equal("sctp     132 9 CLOSED src=10.88.0.1 dst=10.88.0.2 sport=5000 dport=6000 packets=1 bytes=52 [UNREPLIED] src=10.88.0.2 dst=10.88.0.1 sport=6000 dport=5000 packets=0 bytes=0 mark=0 use=1\n",
            ConntrackFormat.ToolLine(sctp with { Accounted = true }));
    }

    [Fact]
    public void AnExpiredConnectionShowsZeroSecondsAndAPartSecondRoundsDown()
    {
        var flow = new Flow { Original = new ConnectionKey(L3Kind.IPv4, 17, TestFrames.Address("10.0.0.1"), TestFrames.Address("10.0.0.2"), 1, 2), Deadline = Now + Jiffies.Hz - 1 };
        Assert.Equal(0, FlowView.Of(flow, Now, null).TimeoutSeconds);
        Assert.Equal(0, FlowView.Of(flow, Now + 10_000, null).TimeoutSeconds);
        flow.Deadline = Now + (2 * Jiffies.Hz) + 249;
        Assert.Equal(2, FlowView.Of(flow, Now, null).TimeoutSeconds);
    }

    // The expected texts are what glibc's inet_ntop printed for these addresses (through Python's socket.inet_ntop).
    [Theory]
    [InlineData("fd77::1", "fd77::1")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("2001:db8::1:0:0:1", "2001:db8::1:0:0:1")]
    [InlineData("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")]
    [InlineData("2001:0:0:1::1", "2001:0:0:1::1")]
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]
    [InlineData("::192.0.2.1", "::192.0.2.1")]
    [InlineData("fe80::", "fe80::")]
    [InlineData("1:0:0:2:0:0:0:3", "1:0:0:2::3")]
    public void Ipv6IsCompressedAsGlibcsInetNtop(string address, string expected) =>
        Assert.Equal(expected, ConntrackFormat.InetNtop6(System.Net.IPAddress.Parse(address).GetAddressBytes()));
}
