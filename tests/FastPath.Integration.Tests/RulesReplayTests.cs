// SPDX-License-Identifier: MIT
using Xunit;

namespace FastPath.Integration.Tests;

/// <summary>"What would this ruleset have done to my capture?" — offline replays with --rules, --trace and `fastpath check`.</summary>
public sealed class RulesReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastpath-rules-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Sources A, B, C, then A again, one SYN each, 10 ms apart.</summary>
    private string ThreeSourcesThenTheFirstAgain()
    {
        string path = Path.Combine(_dir, "abca.pcap");
        using var writer = FastPath.Dataplane.Pcap.PcapFileWriter.Create(path, FastPath.Dataplane.Pcap.PcapFileHeader.Ethernet(nanosecond: true));
        string[] sources = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"];
        for (int i = 0; i < sources.Length; i++)
        {
            byte[] frame = FastPath.Testing.TestFrames.Ethernet(FastPath.Testing.TestFrames.EtherTypeIPv4,
                FastPath.Testing.TestFrames.Ipv4(6, FastPath.Testing.TestFrames.Tcp(40000, 22), sources[i], "192.0.2.1"));
            writer.Write(frame, (uint)frame.Length, 1_700_000_000_000_000_000L + i * 10_000_000L);
        }
        return path;
    }

    [Theory]
    [InlineData(new string[0], "DROP")]                                              // 100 entries: A is still there
    [InlineData(new[] { "--recent-capacity", "2" }, "ACCEPT")]                       // C evicted A
    [InlineData(new[] { "--recent-table", "SEEN:capacity=2" }, "ACCEPT")]
    [InlineData(new[] { "--recent-table", "SEEN:capacity=2", "--recent-capacity", "50", "--recent-table", "OTHER:capacity=1" }, "ACCEPT")]
    [InlineData(new[] { "--recent-capacity", "2", "--recent-table", "SEEN:capacity=3" }, "DROP")]
    public void RecentTableSizesAreSetForAllTablesOrForOne(string[] sizing, string lastVerdict)
    {
        string rules = WriteFile("seen.rules", """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m recent --rcheck --name SEEN --rsource -j DROP
            -A FORWARD -m recent --set --name SEEN --rsource
            COMMIT
            """);
        string trace = Path.Combine(_dir, "trace.tsv");
        var (code, _, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", ThreeSourcesThenTheFirstAgain(), "--pcap-out", Path.Combine(_dir, "out.pcap"), "--rules", rules, "--trace", trace, .. sizing],
            TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var verdicts = File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')[2]).ToList();
        Assert.Equal(["ACCEPT", "ACCEPT", "ACCEPT", lastVerdict], verdicts);
    }

    [Fact]
    public void LogRulesWriteTheKernelsLinesToTheLogFileOrStandardError()
    {
        string rules = WriteFile("log.rules", """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m recent --rcheck --name SEEN --rsource -j LOG --log-prefix "again: " --log-level info
            -A FORWARD -m recent --set --name SEEN --rsource
            COMMIT
            """);
        string log = Path.Combine(_dir, "fastpath.log");
        string[] run = ["run", "--pcap-in", ThreeSourcesThenTheFirstAgain(), "--pcap-out", Path.Combine(_dir, "out.pcap"), "--rules", rules];
        var (code, stdout, stderr) = FastPathProcess.Run([.. run, "--log", log], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        string line = Assert.Single(File.ReadAllLines(log));
        Assert.Matches(@"^<6>\[\d+\.\d{6}\] again: IN=pcap-in OUT=pcap-out MAC=([0-9a-f]{2}:){13}[0-9a-f]{2} SRC=\S+ DST=\S+ LEN=\d+ ", line);
        Assert.Contains($"log: 1 line(s) written to {log}, 0 lost", stdout);

        (code, _, stderr) = FastPathProcess.Run(run, TimeSpan.FromSeconds(60));
        Assert.Equal(0, code);
        Assert.Contains(line, stderr.Split('\n'));
    }

    [Theory]
    [InlineData("--recent-capacity", "0", "expected a whole number from 1")]
    [InlineData("--recent-stamps", "65537", "stamps must be from 0 to 65536")]
    [InlineData("--recent-hash-size", "100", "a power of two")]
    [InlineData("--recent-table", "SEEN", "expected NAME:capacity=N")]
    [InlineData("--recent-table", "SEEN:size=3", "unknown recent table setting 'size'")]
    public void BadRecentTableSizesAreRefused(string option, string value, string message)
    {
        var (code, _, stderr) = FastPathProcess.Run(["run", "--pcap-in", "x.pcap", "--pcap-out", "y.pcap", option, value], TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void TheTraceNamesTheRuleThatDecidedEveryFrameAndDroppedFramesAreNotForwarded()
    {
        string rules = WriteFile("v4.rules", """
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -p tcp -m tcp --dport 80 -m recent --update --seconds 60 --hitcount 2 --name WEB --rsource -j DROP
            -A FORWARD -p tcp -m tcp --dport 80 -m recent --set --name WEB --rsource
            -A FORWARD -p udp -m udp --dport 53 -j DROP
            COMMIT
            """);
        string rules6 = WriteFile("v6.rules", "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p ipv6-icmp -j ACCEPT\nCOMMIT\n");
        string input = TestEnvironment.Sample("mixed.pcap");
        string output = Path.Combine(_dir, "out.pcap");
        string trace = Path.Combine(_dir, "trace.tsv");

        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", input, "--pcap-out", output, "--rules", rules, "--rules6", rules6, "--trace", trace], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var lines = File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();
        var frames = CaptureFile.ReadFrames(input);
        Assert.Equal(frames.Count, lines.Count);
        Assert.Equal(Enumerable.Range(1, frames.Count).Select(i => i.ToString()), lines.Select(l => l[0]));
        // Every malformed frame of the sample is in the trace under its reason.
        var expectations = CaptureFile.ReadExpectations(TestEnvironment.Sample("mixed.expected.tsv"));
        foreach (var e in expectations.Where(e => !e.Forward))
            Assert.Equal(["DROP", $"malformed:{e.Reason}"], lines[e.Index - 1][2..]);
        // The output is exactly the frames the trace accepted.
        var accepted = lines.Select((l, i) => (l, i)).Where(x => x.l[2] == "ACCEPT").Select(x => x.i).ToHashSet();
        Assert.Equal(CaptureFile.FilterRecords(input, accepted.Contains), File.ReadAllBytes(output));
        // The rules decided frames of both families: IPv4 DNS dropped by rule 3, IPv6 by its policy or its ICMPv6 rule.
        Assert.Contains(lines, l => l[2] == "DROP" && l[3] == "filter:FORWARD:3");
        Assert.Contains(lines, l => l[2] == "ACCEPT" && l[3] == "filter:FORWARD:policy");
        Assert.Contains(lines, l => l[2] == "DROP" && l[3] == "ip6:filter:FORWARD:policy");
        Assert.Contains(lines, l => l[2] == "ACCEPT" && l[3] == "ip6:filter:FORWARD:1");
        Assert.Contains("rule counters", stdout);
    }

    [Fact]
    public void ATcpFragmentEightBytesInIsTracedAsTheChainsHotdropAndCountedByNothing()
    {
        string rules = WriteFile("ssh.rules", "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        string input = Path.Combine(_dir, "fragments.pcap");
        using (var writer = FastPath.Dataplane.Pcap.PcapFileWriter.Create(input, FastPath.Dataplane.Pcap.PcapFileHeader.Ethernet(nanosecond: true)))
        {
            foreach (int offset in new[] { 8, 16 })
            {
                byte[] frame = FastPath.Testing.TestFrames.Ethernet(FastPath.Testing.TestFrames.EtherTypeIPv4,
                    FastPath.Testing.TestFrames.Ipv4(6, new byte[16], "10.0.0.1", "192.0.2.1", fragmentOffset: offset));
                writer.Write(frame, (uint)frame.Length, 1_700_000_000_000_000_000L + offset);
            }
        }
        string trace = Path.Combine(_dir, "trace.tsv");

        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", input, "--pcap-out", Path.Combine(_dir, "out.pcap"), "--rules", rules, "--trace", trace], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var lines = File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')[2..]).ToList();
        Assert.Equal([["DROP", "filter:FORWARD:hotdrop"], ["ACCEPT", "filter:FORWARD:policy"]], lines);
        Assert.Single(CaptureFile.ReadFrames(Path.Combine(_dir, "out.pcap")));
        Assert.Matches(@"filter:FORWARD +policy ACCEPT +1 ", stdout);
    }

    [Fact]
    public void CheckAcceptsGoodRulesAndNamesTheLineOfBadOnes()
    {
        string good = WriteFile("good.rules", "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m recent --rcheck --seconds 10 --name X -j DROP\nCOMMIT\n");
        string bad = WriteFile("bad.rules", "*filter\n:FORWARD ACCEPT [0:0]\n\n-A FORWARD -m recent --rcheck --hitcount 70000 -j DROP\nCOMMIT\n");

        var ok = FastPathProcess.Run(["check", "--rules", good], TimeSpan.FromSeconds(30));
        Assert.Equal(0, ok.ExitCode);
        Assert.Contains("rules OK: 1 rule(s)", ok.Stdout);

        var refused = FastPathProcess.Run(["check", "--rules", bad], TimeSpan.FromSeconds(30));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"{bad}:4: recent: hitcount (70000) is larger than allowed maximum (65535)", refused.Stderr);
    }

    [Fact]
    public void TheBundledSshGuardRulesReplayTheSample()
    {
        string trace = Path.Combine(_dir, "guard.tsv");
        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", TestEnvironment.Sample("mixed.pcap"), "--pcap-out", Path.Combine(_dir, "guard.pcap"),
             "--rules", TestEnvironment.Sample("ssh-guard.rules"), "--trace", trace], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("filter:SSHGUARD:2", stdout);
        Assert.Equal(CaptureFile.ReadFrames(TestEnvironment.Sample("mixed.pcap")).Count, File.ReadAllLines(trace).Length - 1);
    }

    [Fact]
    public void ARunWithABadRulesFileDoesNotStart()
    {
        string bad = WriteFile("bad.rules", "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j NOWHERE\nCOMMIT\n");
        string output = Path.Combine(_dir, "never.pcap");
        var (code, _, stderr) = FastPathProcess.Run(["run", "--pcap-in", TestEnvironment.Sample("mixed.pcap"), "--pcap-out", output, "--rules", bad], TimeSpan.FromSeconds(30));
        Assert.Equal(1, code);
        Assert.Contains($"{bad}:3: chain 'NOWHERE' does not exist", stderr);
        Assert.False(File.Exists(output));
    }
}
