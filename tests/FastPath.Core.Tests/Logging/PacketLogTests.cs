// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core.Logging;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Logging;

/// <summary>
/// -j LOG's line, field by field as nf_log_syslog writes it (nf_log_ip_packet, nf_log_ip6_packet), and the per-worker
/// log that carries it: written at once offline, queued for the management thread live, never allocating.
/// </summary>
public class PacketLogTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];
    private const string Mac4 = "MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00";
    private const string Mac6 = "MAC=02:00:00:00:00:02:02:00:00:00:00:01:86:dd";
    private const string Client6Full = "2001:0db8:0000:0000:0000:0000:0000:0001";
    private const string Server6Full = "2001:0db8:0000:0001:0000:0000:0000:0020";

    private static string Line(LogTarget target, byte[] frame, int outPort = 1, ulong jiffies = 0)
    {
        var output = new MemoryStream();
        var log = PacketLog.Immediate(Ports, output);
        var packet = Parse(frame);
        log.Write(target, packet, frame, 0, outPort, jiffies);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>In FORWARD the line shows the TTL ip_forward has already decremented (the frame FastPath forwards keeps its own).</summary>
    [Fact]
    public void ATcpSegmentWithItsSequenceAndOptions()
    {
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22, flags: 0x02, options: [2, 4, 5, 0xB4, 1, 1, 4, 2], sequence: 1000), tos: 0x10));
        var target = new LogTarget(6, "SSH: ", LogFlags.TcpSequence | LogFlags.TcpOptions);
        Assert.Equal(
            $"<6>[100.004000] SSH: IN=wan0 OUT=lan0 {Mac4} SRC=10.0.0.1 DST=192.168.1.20 LEN=48 TOS=0x10 PREC=0x00 TTL=63 ID=4660 "
            + "PROTO=TCP SPT=40000 DPT=22 SEQ=1000 ACK=0 WINDOW=65535 RES=0x00 SYN URGP=0 OPT (020405B401010402) \n",
            Line(target, frame, jiffies: 100 * (ulong)Jiffies.Hz + 1));
    }

    [Fact]
    public void TheReservedBitsAndAccurateEcnsFlagAreShownApart()
    {
        var segment = Tcp(1, 2, flags: 0xD1);
        segment[12] |= 0x03; // AE, and the lowest of the three reserved bits left
        var line = Line(new LogTarget(4, "", LogFlags.None), Ethernet(EtherTypeIPv4, Ipv4(6, segment)));
        Assert.Contains(" WINDOW=65535 RES=0x08 AE CWR ECE ACK FIN URGP=0 \n", line);
    }

    [Fact]
    public void AnIcmpErrorShowsThePacketItQuotesOnceAndNoOutputDeviceBeforeRouting()
    {
        var quoted = Cut(Ipv4(6, Tcp(40000, 22)), 28);
        var frame = Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(3, 4, id: 0, sequence: 1400, data: quoted), source: Server4, destination: Client4));
        Assert.Equal(
            $"<4>[0.000000] IN=wan0 OUT= {Mac4} SRC=192.168.1.20 DST=10.0.0.1 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP TYPE=3 CODE=4 "
            + "[SRC=10.0.0.1 DST=192.168.1.20 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=TCP INCOMPLETE [8 bytes] ] MTU=1400 \n",
            Line(new LogTarget(4, "", LogFlags.None), frame, outPort: -1));
    }

    [Fact]
    public void AnEchoRequestAndALaterFragmentAndIpOptions()
    {
        var echo = Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(8, 0, id: 77, sequence: 3), options: [7, 3, 4, 0]));
        Assert.EndsWith(" ID=4660 OPT (07030400) PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ=3 \n", Line(new LogTarget(4, "", LogFlags.IpOptions), echo));
        var later = Ethernet(EtherTypeIPv4, Ipv4(17, new byte[16], fragmentOffset: 24));
        Assert.EndsWith(" LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=4660 FRAG:3 PROTO=UDP \n", Line(new LogTarget(4, "", LogFlags.None), later, outPort: -1));
    }

    [Fact]
    public void Ipv6ExtensionHeadersAreShownWithIpOptions()
    {
        var frame = Ethernet(EtherTypeIPv6, Ipv6(0, Concat(HopByHop(44), Fragment(17, 0, more: true), Udp(1, 2, new byte[4]))));
        Assert.Equal(
            $"<4>[0.000000] IN=wan0 OUT=lan0 {Mac6} SRC={Client6Full} DST={Server6Full} LEN=68 TC=0 HOPLIMIT=63 FLOWLBL=0 "
            + "OPT ( ) OPT ( FRAG:0 INCOMPLETE ID:0000cafe ) PROTO=UDP SPT=1 DPT=2 LEN=12 \n",
            Line(new LogTarget(4, "", LogFlags.IpOptions), frame));
        // The fragment header is shown either way; --log-ip-options only adds the brackets and the options headers' own.
        Assert.EndsWith(" FLOWLBL=0 FRAG:0 INCOMPLETE ID:0000cafe PROTO=UDP SPT=1 DPT=2 LEN=12 \n", Line(new LogTarget(4, "", LogFlags.None), frame));
    }

    [Fact]
    public void AnIcmpv6ErrorShowsThePacketItQuotesAndTheMtu()
    {
        var quoted = Ipv6(17, Udp(1, 2));
        var frame = Ethernet(EtherTypeIPv6, Ipv6(58, Icmp(2, 0, id: 0, sequence: 1280, data: quoted), source: Server6, destination: Client6, trafficClass: 0x20, flowLabel: 12345));
        Assert.EndsWith(
            $" SRC={Server6Full} DST={Client6Full} LEN=96 TC=32 HOPLIMIT=63 FLOWLBL=12345 PROTO=ICMPv6 TYPE=2 CODE=0 "
            + $"[SRC={Client6Full} DST={Server6Full} LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=1 DPT=2 LEN=8 ] MTU=1280 \n",
            Line(new LogTarget(4, "", LogFlags.None), frame));
    }

    [Fact]
    public void MacDecodeNamesTheAddressesAndTheVlanTag()
    {
        var frame = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(5353, 53)), (0x8100, 5));
        Assert.Contains(" OUT=lan0 MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:02 VPROTO=8100 VID=5 MACPROTO=0800 SRC=10.0.0.1 ",
            Line(new LogTarget(4, "", LogFlags.MacDecode), frame));
    }

    [Fact]
    public void ALiveWorkersQueueLosesWhatDoesNotFitAndCountsIt()
    {
        var log = PacketLog.Queued(Ports, capacity: 2);
        var frame = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(5353, 53)));
        var packet = Parse(frame);
        var target = new LogTarget(4, "dns ", LogFlags.None);
        for (int i = 0; i < 3; i++)
            log.Write(target, packet, frame, 1, 0, (ulong)i);
        var output = new MemoryStream();
        Assert.Equal(2, log.Drain(output));
        Assert.Equal((2, 1), (log.Written, log.Lost));
        string[] lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["<4>[0.000000] dns IN=lan0 OUT=wan0 ", "<4>[0.004000] dns IN=lan0 OUT=wan0 "], lines.Select(l => l[..l.IndexOf("MAC=", StringComparison.Ordinal)]));
    }

    [Fact]
    public void WritingALineAllocatesNothing()
    {
        var output = new MemoryStream(1 << 20);
        var log = PacketLog.Immediate(Ports, output);
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22)));
        var packet = Parse(frame);
        var target = new LogTarget(4, "ssh ", LogFlags.TcpSequence | LogFlags.TcpOptions | LogFlags.IpOptions);
        log.Write(target, packet, frame, 0, 1, 0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
            log.Write(target, packet, frame, 0, 1, (ulong)i);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(101, log.Written);
    }

    [Fact]
    public void ALogRuleWritesAndCountsAndTheNextRuleDecides()
    {
        const string rules = """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --dport 22 -j LOG --log-prefix "ssh "
            -A FORWARD -p tcp -m tcp --dport 22 -j DROP
            COMMIT
            """;
        var output = new MemoryStream();
        var compiled = new CompiledRuleset(RulesetParser.Parse(rules, "log.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports);
        var state = new RulesetState(compiled, log: PacketLog.Immediate(Ports, output));
        var frame = Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40000, 22)));
        var packet = Parse(frame);
        Assert.Equal(RuleVerdict.Drop, state.Evaluate(ref packet, frame, 0, 1, 0, out var decision));
        Assert.Equal(compiled.Rules[1].Id, decision.RuleId);
        Assert.Equal(1, state.RulePackets[compiled.Rules[0].Id]);
        Assert.StartsWith("<4>[0.000000] ssh IN=wan0 OUT=lan0 MAC=", Encoding.UTF8.GetString(output.ToArray()));
    }
}
