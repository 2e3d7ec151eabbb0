// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Integration.Tests;

/// <summary>Offline replays with connection tracking: -j CT --timeout policies from --timeout-policies, the capture's clock expiring flows.</summary>
public sealed class ConntrackReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastpath-ct-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 53 -j CT --timeout dns
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -p udp -m udp --dport 53 -m conntrack --ctstate NEW -j ACCEPT
        COMMIT
        """;

    private const string Client = "10.0.0.1", Resolver = "192.0.2.53";

    private static byte[] Query() => Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40000, 53), Client, Resolver));

    private static byte[] Answer() => Ethernet(EtherTypeIPv4, Ipv4(17, Udp(53, 40000), Resolver, Client));

    /// <summary>Frames at the given seconds after the start of the capture.</summary>
    private string Capture(params (byte[] Frame, double Seconds)[] frames)
    {
        string path = Path.Combine(_dir, "in.pcap");
        using var writer = PcapFileWriter.Create(path, PcapFileHeader.Ethernet(nanosecond: true));
        foreach (var (frame, seconds) in frames)
            writer.Write(frame, (uint)frame.Length, 1_700_000_000_000_000_000L + (long)(seconds * 1e9));
        return path;
    }

    private (int Code, string Stdout, string Stderr, List<string> Trace) Replay(string capture, params string[] options)
    {
        string trace = Path.Combine(_dir, "trace.tsv");
        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", capture, "--pcap-out", Path.Combine(_dir, "out.pcap"), "--rules", WriteFile("ct.rules", Rules), "--trace", trace, .. options],
            TimeSpan.FromSeconds(60));
        var lines = File.Exists(trace) ? File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => string.Join(' ', l.Split('\t')[2..])).ToList() : [];
        return (code, stdout, stderr, lines);
    }

    [Fact]
    public void AnAnswerIsEstablishedUntilThePolicysTimeoutThenAnAnswerIsNewAndDropped()
    {
        string policies = WriteFile("policies.nfct", """
            # the resolver's answers have 5 s, replied or not
            nfct add timeout dns inet udp unreplied 5 replied 5
            """);
        string capture = Capture((Query(), 0), (Answer(), 1), (Answer(), 4), (Answer(), 10));
        var (code, stdout, stderr, trace) = Replay(capture, "--timeout-policies", policies);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal(
            [
                "ACCEPT filter:FORWARD:2",       // NEW from the client
                "ACCEPT filter:FORWARD:1",       // the answer: ESTABLISHED
                "ACCEPT filter:FORWARD:1",       // 3 s later: still within the policy's 5 s
                "DROP filter:FORWARD:policy",    // 6 s after that the flow is gone: NEW, and not from the client side
            ], trace);
        Assert.Contains("conntrack: 0 connection(s) held", stdout);
    }

    /// <summary>A capture whose clock goes back (merged from several): the late-stamped answer is decided at the latest time seen, as the kernel's clock never goes back.</summary>
    [Fact]
    public void AStampFromThePastDoesNotShortenAConnectionsLife()
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 5 replied 5\n");
        string capture = Capture((Query(), 0), (Answer(), 1), (Answer(), 4), (Answer(), 0.5), (Answer(), 8));
        var (code, _, stderr, trace) = Replay(capture, "--timeout-policies", policies);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        // Refreshed at 4 s (not at 0.5 s), the connection lives to 9 s: the answer at 8 s is still ESTABLISHED.
        Assert.Equal(["ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:1", "ACCEPT filter:FORWARD:1", "ACCEPT filter:FORWARD:1", "ACCEPT filter:FORWARD:1"], trace);
    }

    [Fact]
    public void AnAnswerWithinTwoSecondsKeepsTheUnrepliedTimeout()
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 120\n");
        string capture = Capture((Query(), 0), (Answer(), 1), (Answer(), 10));
        var (code, _, stderr, trace) = Replay(capture, "--timeout-policies", policies);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        // Replied within 2 s keeps the UNREPLIED timeout (120 s here), so the late answer is still ESTABLISHED.
        Assert.Equal(["ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:1", "ACCEPT filter:FORWARD:1"], trace);
    }

    /// <summary>
    /// As on a host whose sysctls are set at boot before any nfct script runs: a policy leaving UNREPLIED out takes
    /// --sysctl's nf_conntrack_udp_timeout (3 s), not the kernel's 30 s, so the answer at 5 s finds the flow gone.
    /// </summary>
    [Fact]
    public void APolicyTakesTheSysctlDefaultsForTheStatesItLeavesOut()
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp replied 5\n");
        string capture = Capture((Query(), 0), (Answer(), 1), (Answer(), 5));
        var (code, _, stderr, trace) = Replay(capture, "--timeout-policies", policies, "--sysctl", "nf_conntrack_udp_timeout=3");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal(["ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:1", "DROP filter:FORWARD:policy"], trace);
    }

    /// <summary>The limit comes from --conntrack-max (which also sizes the table) or from nf_conntrack_max; the summary shows the one in force.</summary>
    [Theory]
    [InlineData("--conntrack-max", "1")]
    [InlineData("--sysctl", "nf_conntrack_max=1")]
    public void AFullTableDropsNewConnectionsUnderTheirOwnReason(string option, string value)
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 60 replied 60\n");
        byte[] otherQuery = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40001, 53), Client, Resolver));
        byte[] otherReply = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(53, 40001), Resolver, Client));
        // The first connection is a stream (a reply, then a query after 2 s): ASSURED, so early drop spares it.
        string capture = Capture((Query(), 0), (Answer(), 0.5), (Query(), 3), (otherQuery, 4), (otherReply, 4.5));
        var (code, stdout, stderr, trace) = Replay(capture, "--timeout-policies", policies, option, value);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        // The other query and its answer would each open a connection: both find the table full.
        Assert.Equal(["ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:1", "ACCEPT filter:FORWARD:1", "DROP conntrack:table_full", "DROP conntrack:table_full"], trace);
        Assert.Matches(@"\n\s+conntrack_table_full\s+2\n", stdout);
        Assert.Contains("conntrack: 1 connection(s) held, limit 1; early drops 0, table full 2", stdout);
    }

    /// <summary>
    /// Fragments are reassembled before the rules, as the kernel's conntrack does: the query, fragmented and out of order,
    /// is decided once by its port and opens the connection the answer then finds; its fragments leave in offset order;
    /// each fragment has its trace line, numbered by its place in the capture, written when its datagram is decided.
    /// </summary>
    [Fact]
    public void FragmentsAreReassembledBeforeTheRulesAndEachHasItsTraceLine()
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 30 replied 30\n");
        byte[] udp = Udp(40000, 53, [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);
        byte[] Piece(int offset, int length, bool more, string source = Client) =>
            Ethernet(EtherTypeIPv4, Ipv4(17, udp.AsSpan(offset, length).ToArray(), source, Resolver, moreFragments: more, fragmentOffset: offset));
        byte[][] query = [Piece(0, 16, true), Piece(16, 16, true), Piece(32, 8, false)];
        string capture = Capture((query[2], 0), (query[0], 0.1), (Piece(16, 16, true, "10.0.0.9"), 0.15), (query[1], 0.2), (Answer(), 1));
        var (code, stdout, stderr, _) = Replay(capture, "--timeout-policies", policies);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var lines = File.ReadAllLines(Path.Combine(_dir, "trace.tsv")).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();
        Assert.Equal(
            [
                "4 ACCEPT filter:FORWARD:2",              // the fragment completing the query: NEW, to port 53
                "2 ACCEPT filter:FORWARD:2",              // the query's other fragments, in offset order
                "1 ACCEPT filter:FORWARD:2",
                "5 ACCEPT filter:FORWARD:1",              // the answer: ESTABLISHED
                "3 DROP malformed:reassembly_unfinished", // a datagram whose other fragments never came
            ], lines.Select(f => $"{f[0]} {f[2]} {f[3]}"));
        Assert.Equal([query[0], query[1], query[2], Answer()], CaptureFile.ReadFrames(Path.Combine(_dir, "out.pcap")));
        Assert.Matches(@"\n\s+reassembly_unfinished\s+1\n", stdout);
        Assert.Contains("conntrack: 1 connection(s) held", stdout);
    }

    /// <summary>
    /// net.ipv4.ipfrag_time set for the run: a query whose last fragment comes 12 s after its first is whole with the
    /// kernel's 30 s, and with 10 s its first two fragments time out and the last waits alone until the end.
    /// </summary>
    [Fact]
    public void IpfragTimeSetForTheRunDecidesWhenAnIpv4DatagramTimesOut()
    {
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 30\n");
        byte[] udp = Udp(40000, 53, [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);
        byte[] Piece(int offset, int length, bool more) =>
            Ethernet(EtherTypeIPv4, Ipv4(17, udp.AsSpan(offset, length).ToArray(), Client, Resolver, moreFragments: more, fragmentOffset: offset));
        string capture = Capture((Piece(0, 16, true), 0), (Piece(16, 16, true), 5), (Piece(32, 8, false), 12));

        var kernelDefault = Replay(capture, "--timeout-policies", policies);
        Assert.True(kernelDefault.Code == 0, $"exit {kernelDefault.Code}: {kernelDefault.Stderr}");
        Assert.Equal(["ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:2", "ACCEPT filter:FORWARD:2"], kernelDefault.Trace);

        foreach (string setting in new[] { "ipfrag_time=10", "net.ipv4.ipfrag_time=10" })
        {
            var shorter = Replay(capture, "--timeout-policies", policies, "--sysctl", setting);
            Assert.True(shorter.Code == 0, $"exit {shorter.Code}: {shorter.Stderr}");
            Assert.Equal(["DROP malformed:reassembly_timeout", "DROP malformed:reassembly_timeout", "DROP malformed:reassembly_unfinished"], shorter.Trace);
        }

        var refused = Replay(capture, "--timeout-policies", policies, "--sysctl", "net.ipv4.ipfrag_time=x");
        Assert.Contains("--sysctl net.ipv4.ipfrag_time=x: Invalid argument", refused.Stderr);
        var unknown = Replay(capture, "--timeout-policies", policies, "--sysctl", "net.ipv4.ip_forward=1");
        Assert.Contains("--sysctl net.ipv4.ip_forward=1: No such file or directory", unknown.Stderr);
    }

    [Fact]
    public void ConntrackAlwaysTracksAReplayWithoutRules()
    {
        string capture = Capture((Query(), 0), (Answer(), 1), (Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40001, 53), Client, Resolver)), 2));
        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", capture, "--pcap-out", Path.Combine(_dir, "out.pcap"), "--conntrack", "always"], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("conntrack: 2 connection(s) held", stdout);
        Assert.DoesNotContain("rule counters", stdout);
    }

    [Fact]
    public void AMissingPolicyOrABadPolicyLineStopsTheRunWithFileAndLine()
    {
        string capture = Capture((Query(), 0));
        var missing = Replay(capture);
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("ct.rules:3: no timeout policy named 'dns' (the kernel refuses the rule: No such file or directory)", missing.Stderr);

        string bad = WriteFile("bad.nfct", "add timeout dns inet udp unreplied 5\nadd timeout dns inet udp unreplied 6\n");
        var refused = Replay(capture, "--timeout-policies", bad);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("bad.nfct:2:", refused.Stderr);
        Assert.Contains("Device or resource busy", refused.Stderr);
    }

    /// <summary>
    /// A capture taken on a host whose NIC fills in checksums holds queries with a wrong one: INVALID to conntrack, as
    /// the kernel would see them, until --sysctl nf_conntrack_checksum=0 (and sysctl(8)'s spelling) turns the check
    /// off; a sysctl the kernel would refuse stops the run with its errno.
    /// </summary>
    [Fact]
    public void SysctlsSetAtStartDecideWhatTrackingChecks()
    {
        byte[] query = Ethernet(EtherTypeIPv4, Ipv4(17, Udp(40000, 53, [1, 2, 3]), Client, Resolver));
        query[14 + 20 + 6] = 0x12; // a UDP checksum, and a wrong one
        string policies = WriteFile("policies.nfct", "add timeout dns inet udp unreplied 30\n");
        string capture = Capture((query, 0));

        var checkedRun = Replay(capture, "--timeout-policies", policies);
        Assert.True(checkedRun.Code == 0, $"exit {checkedRun.Code}: {checkedRun.Stderr}");
        Assert.Equal(["DROP filter:FORWARD:policy"], checkedRun.Trace);

        foreach (string setting in new[] { "nf_conntrack_checksum=0", "net.netfilter.nf_conntrack_checksum=0" })
        {
            var unverified = Replay(capture, "--timeout-policies", policies, "--sysctl", setting);
            Assert.True(unverified.Code == 0, $"exit {unverified.Code}: {unverified.Stderr}");
            Assert.Equal(["ACCEPT filter:FORWARD:2"], unverified.Trace);
        }

        var refused = Replay(capture, "--timeout-policies", policies, "--sysctl", "nf_conntrack_checksum=2");
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("--sysctl nf_conntrack_checksum=2: Invalid argument", refused.Stderr);
        var unknown = Replay(capture, "--timeout-policies", policies, "--sysctl", "nf_conntrack_nope=1");
        Assert.Contains("--sysctl nf_conntrack_nope=1: No such file or directory", unknown.Stderr);
    }
}
