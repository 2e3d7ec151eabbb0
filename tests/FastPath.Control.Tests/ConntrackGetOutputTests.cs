// SPDX-License-Identifier: MIT
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Testing;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>
/// conntrack -G and -o as conntrack 1.4.7 (Debian 12) answers them on Linux 6.18: every expected answer here is what
/// the real conntrack printed in a network namespace, for the same connections (a live fastpath and the kernel were
/// compared line by line over a sweep of such command lines; ids and timeouts aside, they agreed).
/// </summary>
public sealed class ConntrackGetOutputTests : IDisposable
{
    private const string Tuple = "-s 10.0.0.1 -d 192.168.1.20 -p udp --sport 40000 --dport 53";
    private static readonly ProtocolNames s_protocols = ProtocolNames.Parse("tcp\t6\tTCP\nudp\t17\tUDP\nesp\t50\tIPSEC-ESP\n");
    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static string Refused(string line)
    {
        Assert.Null(ConntrackQuery.Parse(Words(line), s_protocols, out string error));
        return error;
    }

    private ControlResponse Conntrack(string line) =>
        _fixture.Call(c => c.Send(new ControlRequest(ConntrackCommands.Verb, ConntrackCommands.Path, Words(line))));

    // GET's row: -p compulsory, the original or the reply addresses as a pair, -i, -o and -l optional, nothing else;
    // then the module's: ports (GRE's keys) as a pair, ICMP's type and code compulsory; -G expect as -D expect.
    [Theory]
    [InlineData("-G", "You need to supply the `--protonum' option for this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2", "You need to supply the `--protonum' option for this command")]
    [InlineData("-G -p tcp", "you have to specify `--src' and `--dst'")]
    [InlineData("-G -s 10.0.0.1 -p tcp --sport 1 --dport 2", "you have to specify `--src' and `--dst'")]
    [InlineData("-G -s 10.0.0.1 -r 10.0.0.2 -p tcp --sport 1 --dport 2", "you have to specify `--src' and `--dst'")]
    [InlineData("-G -r 10.0.0.2 -p tcp --sport 1 --dport 2", "you have to specify `--reply-src' and `--reply-dst'")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp", "you have to specify `--sport' and `--dport'")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1", "you have to specify `--sport' and `--dport'")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --reply-port-src 22", "you have to specify `--reply-src-port' and `--reply-dst-port'")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p dccp --reply-port-src 22", "you have to specify `--reply-port-src' and `--report-port-dst'")]
    [InlineData("-G -s 1.1.1.1 -d 2.2.2.2 -p gre", "you have to specify `--srckey' and `--dstkey'")]
    [InlineData("-G -s 1.1.1.1 -d 2.2.2.2 -p gre --reply-key-src 2", "you have to specify `--reply-src-key' and `--reply-dst-key'")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p icmp", "You need to supply the `--icmp-type' option for this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p icmp --icmp-type 8 --icmp-id 77", "You need to supply the `--icmp-code' option for this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2 -f ipv4", "Illegal option `--family' with this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2 -m 0", "Illegal option `--mark' with this command")]
    [InlineData("-G -s 10.0.0.1/24 -d 10.0.0.2 -p tcp --sport 1 --dport 2", "Illegal option `--mask-src' with this command")]
    [InlineData("-G -p tcp -t 5", "Illegal option `--timeout' with this command")]
    [InlineData("-G -p tcp -u ASSURED", "Illegal option `--status' with this command")]
    [InlineData("-G -z", "You need to supply the `--protonum' option for this command")]
    [InlineData("-G -p tcp -z", "Illegal option `--zero' with this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2 --mask-port-src 1", "Illegal option `--mask-port-src' with this command")]
    [InlineData("-G -s 10.0.0.1 -d 10.0.0.2 -p dccp --sport 1 --dport 2 --role client", "Illegal option `--role' with this command")]
    [InlineData("-G expect", "You need to supply the `--src' option for this command")]
    [InlineData("-G expect -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2", "You need to supply the `--reply-port-src' option for this command")]
    [InlineData("-G expect -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2 --reply-port-src 1 --reply-port-dst 2 -o xml", "Illegal option `--output' with this command")]
    [InlineData("-G dying", "Can't do that command with tables `dying' and `unconfirmed'")]
    [InlineData("-G -L", "Invalid commands combination")]
    public void GetChecksItsOptionsAsConntrackDoes(string line, string message) => Assert.Equal(message, Refused(line));

    // parse_parameter: a comma list of case-blind prefixes, the first type named in conntrack's order; SRC_NAT and
    // DST_NAT prefixes warn and are passed over; "Bad parameter" quotes the rest of the list.
    [Theory]
    [InlineData("xml", ConntrackOutput.Xml)]
    [InlineData("x", ConntrackOutput.Xml)]
    [InlineData("XmL,ID", ConntrackOutput.Xml | ConntrackOutput.Id)]
    [InlineData("e", ConntrackOutput.Extended)]
    [InlineData("Ext", ConntrackOutput.Extended)]
    [InlineData("i", ConntrackOutput.Id)]
    [InlineData("t", ConntrackOutput.Timestamp)]
    [InlineData("k", ConntrackOutput.KernelTimestamp)]
    [InlineData("l", ConntrackOutput.Labels)]
    [InlineData("u", ConntrackOutput.None)]
    [InlineData("s", ConntrackOutput.None)]
    [InlineData("dst_nat,xml", ConntrackOutput.Xml)]
    [InlineData("x,e,i,t,k,u", ConntrackOutput.Xml | ConntrackOutput.Extended | ConntrackOutput.Id | ConntrackOutput.Timestamp | ConntrackOutput.KernelTimestamp)]
    public void OutputTypesAreReadAsParseParameterReadsThem(string value, ConntrackOutput output) =>
        Assert.Equal(output, ConntrackQuery.Parse(["-L", "-o", value], s_protocols, out _)!.Output);

    [Theory]
    [InlineData("-L -o xml,", "Bad parameter `'")]
    [InlineData("-L -o ,xml", "Bad parameter `,xml'")]
    [InlineData("-L -o xml,,id", "Bad parameter `,id'")]
    [InlineData("-L -o xmlx", "Bad parameter `xmlx'")]
    [InlineData("-L -o bogus,xml", "Bad parameter `bogus,xml'")]
    [InlineData("-L -o xml,bogus,id", "Bad parameter `bogus,id'")]
    [InlineData("-L -o opts", "Bad parameter `opts'")]
    [InlineData("-L -o bogus -p bogus", "Bad parameter `bogus'")]
    [InlineData("-L -p bogus -o bogus", "`bogus' unsupported protocol")]
    [InlineData("-L -o", "option `-o' requires an argument")]
    [InlineData("-C -o xml", "Illegal option `--output' with this command")]
    [InlineData("-F -o xml", "Illegal option `--output' with this command")]
    [InlineData("-o xml", "Illegal option `--output' with this command")]
    [InlineData("-L -o xml,save", "cannot combine save output with any other output type, use -o save only")]
    [InlineData("-L --json -o xml", "cannot combine --json with --output")]
    [InlineData("--policy-counts -o xml", "Illegal option `--output' with this command")]
    public void OutputValuesAndPlacesAreCheckedAsConntrackChecksThem(string line, string message) => Assert.Equal(message, Refused(line));

    [Fact]
    public void WarningsAreKeptInTheOrderConntrackPrintsThemEvenWhenTheLineIsRefused()
    {
        ConntrackQuery.Parse(Words("-L -o s -o d,bogus"), s_protocols, out string error, out var warnings);
        Assert.Equal("Bad parameter `bogus'", error);
        Assert.Equal([ConntrackWarning.IgnoringSourceNat, ConntrackWarning.IgnoringDestinationNat], warnings);
        ConntrackQuery.Parse(Words("-L -o labels -o xml"), s_protocols, out _, out warnings);
        Assert.Equal([ConntrackWarning.LabelMap, ConntrackWarning.LabelMap], warnings); // conntrack loads its label map at each -o once labels is on
        Assert.Equal("WARNING: ignoring SRC_NAT, use --src-nat instead", ConntrackQuery.WarningText(ConntrackWarning.IgnoringSourceNat));
    }

    [Fact]
    public void GetFindsTheConnectionByItsTupleAndShowsItWithTheReferenceTheLookupHolds()
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        _fixture.Backend.Track(TestFrames.Ipv4TcpFrame(40002, 443));
        const string Line = "udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40000 mark=0 use=";
        Assert.Equal(Line + "2\n", Conntrack("-G " + Tuple).Text);
        Assert.Equal(Line + "2\n", Conntrack($"-G {Tuple} -r 192.168.1.20 -q 10.0.0.1 --reply-port-src 53 --reply-port-dst 40000").Text);
        Assert.Equal(Line + "1\n", Conntrack("-L -p udp").Text);

        // Found by its reply tuple, or with a filter it fails: conntrack shows nothing (0 shown, exit status 1).
        Assert.Equal("", Conntrack("-G -s 192.168.1.20 -d 10.0.0.1 -p udp --sport 53 --dport 40000").Text);
        Assert.True(Conntrack("-G -s 192.168.1.20 -d 10.0.0.1 -p udp --sport 53 --dport 40000").IsOk);
        Assert.Equal("", Conntrack($"-G {Tuple} -r 10.9.9.9").Text);
        Assert.Equal("", Conntrack($"-G {Tuple} -i 5").Text);
    }

    [Fact]
    public void GetLooksUpThePortsAnIcmpTypeAndCodeWroteAfterTheProtocolChanged()
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        // --icmp-type 0 and --icmp-code 53 write port 53, --icmp-id 40000 the source port: the UDP connection is found.
        Assert.Contains("sport=40000 dport=53", Conntrack("-G -s 10.0.0.1 -d 192.168.1.20 -p icmp --icmp-type 0 --icmp-code 53 --icmp-id 40000 -p udp").Text);
    }

    [Theory]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p udp --sport 40000 --dport 54", "such conntrack doesn't exist")]
    [InlineData("-G -s 10.0.0.1 -r 192.168.1.20 -q 10.0.0.1 -p udp --sport 40000 --dport 53", "such conntrack doesn't exist")] // no -d: 0.0.0.0
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p esp", "such conntrack doesn't exist")]
    [InlineData("-G -r 192.168.1.20 -q 10.0.0.1 -p udp --reply-port-src 53 --reply-port-dst 40000", "invalid parameters")]
    [InlineData("-G -r 192.168.1.20 -q 10.0.0.1 -p 50", "invalid parameters")]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p icmp --icmp-type 3 --icmp-code 0 --icmp-id 77", "invalid parameters")]
    [InlineData("-G -s ::1 -d ::2 -p icmpv6 --icmpv6-type 1 --icmpv6-code 0 --icmpv6-id 5", "invalid parameters")]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p tcp --reply-port-src 22 --reply-port-dst 1000", "No data available")]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p udp --reply-port-src 53 --reply-port-dst 40000", "Success")]
    [InlineData("-G -s 1.1.1.1 -d 2.2.2.2 -p gre --srckey 1 --reply-key-src 2 --reply-key-dst 1", "Success")]
    [InlineData("-G expect -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1 --dport 2 --reply-port-src 1 --reply-port-dst 2", "No such file or directory")]
    // Another module's ports fill ICMP's type, code and id (the words they share): type 0 (port 22's high byte) has an
    // inverse, type 0x50 (port 0x5000) has none; found live against conntrack and the kernel.
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p tcp --sport 41004 --dport 22 -p icmp --icmp-code 3", "such conntrack doesn't exist")]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p tcp --sport 1 --dport 20480 -p icmp", "invalid parameters")]
    [InlineData("-G -s 10.0.0.1 -d 192.168.1.20 -p tcp --dport 22 -p icmp --icmp-type 44", "invalid parameters")]
    public void GetFailsAsTheKernelAndLibnetfilterConntrackFail(string line, string reason)
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        var response = Conntrack(line);
        Assert.False(response.IsOk);
        Assert.Equal(ConntrackQuery.MessagePrefix + ConntrackQuery.OperationFailed + reason, response.Message);
    }

    [Fact]
    public void OutputExtendedIdAndXmlPrintWhatConntrackPrints()
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        uint id = _fixture.Backend.ListFlows()![0].Id;
        Assert.NotEqual(0u, id);
        Assert.Equal(
            $"ipv4     2 udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40000 mark=0 use=1 id={id}\n",
            Conntrack("-L -o extended,id").Text);
        string flow = "<flow><meta direction=\"original\"><layer3 protonum=\"2\" protoname=\"ipv4\"><src>10.0.0.1</src><dst>192.168.1.20</dst></layer3>"
            + "<layer4 protonum=\"17\" protoname=\"udp\"><sport>40000</sport><dport>53</dport></layer4></meta>"
            + "<meta direction=\"reply\"><layer3 protonum=\"2\" protoname=\"ipv4\"><src>192.168.1.20</src><dst>10.0.0.1</dst></layer3>"
            + "<layer4 protonum=\"17\" protoname=\"udp\"><sport>53</sport><dport>40000</dport></layer4></meta>"
            + $"<meta direction=\"independent\"><timeout>30</timeout><mark>0</mark><use>USE</use><id>{id}</id><unreplied/></meta></flow>\n";
        const string Header = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n";
        // -L: header, flows, footer; extended changes nothing in XML; nothing at all without a connection.
        Assert.Equal(Header + flow.Replace("USE", "1") + "</conntrack>\n", Conntrack("-L -o xml,extended").Text);
        Assert.Equal("", Conntrack("-L -p tcp -o xml").Text);
        Assert.Equal("", Conntrack("-L expect -o xml").Text);
        // -G: the header and no footer; -D: neither.
        Assert.Equal(Header + flow.Replace("USE", "2"), Conntrack($"-G {Tuple} -o xml").Text);
        Assert.Equal(flow.Replace("USE", "1"), Conntrack("-D -o xml").Text);
    }

    [Fact]
    public void XmlNamesSctpStatesWithTcpsNamesAsLibnetfilterConntrackDoes()
    {
        // ESTABLISHED is SCTP's state 4, TCP's FIN_WAIT: conntrack -L -o xml printed <state>FIN_WAIT</state>.
        var sctp = new Core.Conntrack.Tracking.FlowView(Core.Packets.L3Kind.IPv4, 132, default, default, "ESTABLISHED", 10, false, false, 0, 0, 0, 0, null);
        Assert.Contains("<state>FIN_WAIT</state>", ConntrackFormat.XmlLine(sctp, held: false));
    }
}
