// SPDX-License-Identifier: MIT
using System.Text.RegularExpressions;
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Integration.Tests;

/// <summary>`fastpath run --pcap-in ... --pcap-out ...` on the bundled sample, the way README's first command runs it.</summary>
public sealed class OfflineReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastpath-offline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ForwardedCaptureIsTheInputMinusTheDroppedFramesByteForByte()
    {
        string input = TestEnvironment.Sample("mixed.pcap");
        string output = Path.Combine(_dir, "out.pcap");
        var expectations = CaptureFile.ReadExpectations(TestEnvironment.Sample("mixed.expected.tsv"));

        var (code, stdout, stderr) = FastPathProcess.Run(["run", "--pcap-in", input, "--pcap-out", output], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var forwarded = expectations.Where(e => e.Forward).Select(e => e.Index - 1).ToHashSet();
        Assert.Equal(CaptureFile.FilterRecords(input, forwarded.Contains), File.ReadAllBytes(output));

        // Every drop is counted under its own reason, once per malformed frame in the sample.
        foreach (var group in expectations.Where(e => !e.Forward).GroupBy(e => e.Reason))
            Assert.Matches(new Regex($@"^\s+{group.Key}\s+{group.Count()}$", RegexOptions.Multiline), stdout);
        Assert.Contains($"drops by reason: {expectations.Count(e => !e.Forward)}", stdout);
    }

    [Fact]
    public void TheSampleHasOneMalformedFramePerParserDropReason()
    {
        var reasons = CaptureFile.ReadExpectations(TestEnvironment.Sample("mixed.expected.tsv"))
            .Where(e => !e.Forward).Select(e => e.Reason).Order().ToList();
        var parserReasons = Enumerable.Range(1, (int)DropReason.Icmpv6Truncated)
            .Select(r => DropReasons.Name((DropReason)r)).Order().ToList();
        Assert.Equal(parserReasons, reasons);
    }

    [Fact]
    public void TheBundledConfigRunsTheMainJob()
    {
        string config = Path.Combine(_dir, "job.conf");
        // A '#' inside a value is part of it; one after a blank starts a comment.
        string output = Path.Combine(_dir, "job#1.pcap");
        File.WriteAllText(config, $"# test job\npcap-in = {TestEnvironment.Sample("mixed.pcap")}\npcap-out = {output} # the kept frames\n");
        var (code, stdout, stderr) = FastPathProcess.Run(["run", "--config", config], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Contains("summary: offline replay", stdout);
        Assert.True(new FileInfo(output).Length > 24);
    }

    [Theory]
    [InlineData("workerz = 2", "unknown option 'workerz'")]
    [InlineData("pcap-out =", "option 'pcap-out' needs a value")]
    [InlineData("sysctl = nf_conntrack_udp_timeout=x", "sysctl = nf_conntrack_udp_timeout=x: Invalid argument")]
    public void ABadConfigLineIsReportedWithFileAndLine(string line, string message)
    {
        string config = Path.Combine(_dir, "bad.conf");
        File.WriteAllText(config, $"pcap-in = {TestEnvironment.Sample("mixed.pcap")}\n\n{line}\n");
        var (code, _, stderr) = FastPathProcess.Run(["run", "--config", config, "--pcap-out", Path.Combine(_dir, "out.pcap")], TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        Assert.Contains($"{config}:3: {message}", stderr);
    }

    /// <summary>Options after --config override the file's: --pair and --eal replace its pairs and EAL arguments instead of adding to them.</summary>
    [Fact]
    public void PairsAndEalArgumentsAfterTheConfigReplaceItsOwn()
    {
        string config = Path.Combine(_dir, "live.conf");
        File.WriteAllText(config, "eal = --no-huge --vdev=net_null0 --vdev=net_null1\npair = net_null0,net_null1\n");
        var options = FastPath.Daemon.RunOptions.Parse(["--config", config, "--pair", "net_null1,net_null2", "--pair", "net_null0,net_null3", "--eal", "--no-pci"]);
        Assert.Equal([("net_null1", "net_null2"), ("net_null0", "net_null3")], options.Pairs);
        Assert.Equal(["--no-pci"], options.EalArguments);
        Assert.Equal([("net_null0", "net_null1")], FastPath.Daemon.RunOptions.Parse(["--config", config]).Pairs);
    }

    /// <summary>Seconds a TimeSpan cannot hold failed a live run after its workers started: now a usage error at once.</summary>
    [Theory]
    [InlineData("--duration", "NaN", "expected seconds, more than 0 and up to 1000000000, got 'NaN'")]
    [InlineData("--duration", "1e300", "expected seconds, more than 0 and up to 1000000000, got '1e300'")]
    [InlineData("--stats-interval", "-1", "expected seconds from 0 up to 1000000000, got '-1'")]
    public void SecondsOutOfRangeAreAUsageError(string option, string value, string message)
    {
        var (code, _, stderr) = FastPathProcess.Run(["run", "--eal", "--no-huge", "--pair", "net_null0,net_null1", option, value], TimeSpan.FromSeconds(30));
        Assert.Equal((2, $"fastpath: {option}: {message}\n"), (code, stderr));
    }

    /// <summary>More workers than cores, or a core the process may not run on, is refused before DPDK takes the ports (it ran fewer workers, or failed with the ports open).</summary>
    [Theory]
    [InlineData("--workers", "128", "--workers 128: this process may run on ")]
    [InlineData("--cores", "1000", "--cores: core 1000 is not one this process may run on (")]
    public void ALiveRunAsksOnlyForCoresItMayRunOn(string option, string value, string message)
    {
        var (code, stdout, stderr) = FastPathProcess.Run(["run", "--eal", "--no-huge", "--pair", "net_null0,net_null1", option, value], TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        Assert.StartsWith($"fastpath: {message}", stderr);
        Assert.DoesNotContain("port ", stdout);
    }

    /// <summary>A capture cut short (as one tcpdump is still writing): the frames before the damage are written and summed up, then the damage ends the run with status 1.</summary>
    [Fact]
    public void ADamagedCaptureIsSummedUpToTheDamageThenFails()
    {
        byte[] whole = File.ReadAllBytes(TestEnvironment.Sample("mixed.pcap"));
        string damaged = Path.Combine(_dir, "damaged.pcap"), output = Path.Combine(_dir, "out.pcap");
        File.WriteAllBytes(damaged, whole[..^10]);
        var (code, stdout, stderr) = FastPathProcess.Run(["run", "--pcap-in", damaged, "--pcap-out", output], TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.StartsWith($"fastpath: {damaged}: at byte offset ", stderr);
        Assert.Contains("record 57 is cut short", stderr);
        Assert.Contains("summary: offline replay", stdout);
        Assert.Matches(@"\n\s+pcap-in\s+56\s", stdout);
    }

    /// <summary>--pcap-out - is standard output, as tcpdump -w - is: the capture alone goes there, the summary to standard error.</summary>
    [Fact]
    public void ACaptureToStandardOutputLeavesTheSummaryToStandardError()
    {
        string input = TestEnvironment.Sample("mixed.pcap");
        string file = Path.Combine(_dir, "file.pcap"), piped = Path.Combine(_dir, "piped.pcap"), summary = Path.Combine(_dir, "summary.txt");
        var (code, _, stderr) = FastPathProcess.Run(["run", "--pcap-in", input, "--pcap-out", file], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, stderr);
        TestEnvironment.RunChecked("sh", "-c", $"dotnet '{FastPathProcess.ExecutablePath}' run --pcap-in '{input}' --pcap-out - > '{piped}' 2> '{summary}'");
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(piped));
        Assert.Contains("summary: offline replay", File.ReadAllText(summary));
    }

    /// <summary>A control socket path that cannot be one is refused before DPDK takes the ports, and the file there is kept.</summary>
    [Fact]
    public void AControlPathThatIsNoSocketIsRefusedBeforeThePortsOpen()
    {
        string file = Path.Combine(_dir, "important.txt");
        File.WriteAllText(file, "data\n");
        var (code, stdout, stderr) = FastPathProcess.Run(["run", "--eal", "--no-huge", "--pair", "net_null0,net_null1", "--control", file], TimeSpan.FromSeconds(30));
        Assert.Equal((1, $"fastpath: control socket {file}: exists and is not a socket\n"), (code, stderr));
        Assert.DoesNotContain("port ", stdout);
        Assert.Equal("data\n", File.ReadAllText(file));
    }

    /// <summary>A capture from a pipe cannot be mapped into memory: refused, where it used to crash.</summary>
    [Fact]
    public void ACaptureFromAPipeIsRefused()
    {
        string fifo = Path.Combine(_dir, "capture.fifo");
        TestEnvironment.RunChecked("mkfifo", fifo);
        var (code, _, stderr) = FastPathProcess.Run(["run", "--pcap-in", fifo, "--pcap-out", Path.Combine(_dir, "out.pcap")], TimeSpan.FromSeconds(30));
        Assert.Equal((1, $"fastpath: {fifo}: not a regular file: FastPath maps the capture into memory (write it to a file first)\n"), (code, stderr));
    }

    /// <summary>A file an option names that cannot be opened is a runtime failure, exit status 1, the option named; not a usage error.</summary>
    [Theory]
    [InlineData("--trace")]
    [InlineData("--log")]
    [InlineData("--config")]
    [InlineData("--timeout-policies")]
    public void AFileAnOptionCannotOpenFailsWithStatusOneNamingTheOption(string option)
    {
        string unusable = Path.Combine(_dir, "no-such-directory", "file");
        var (code, _, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", TestEnvironment.Sample("mixed.pcap"), "--pcap-out", Path.Combine(_dir, "out.pcap"),
             "--rules", TestEnvironment.Sample("ssh-guard.rules"), option, unusable], TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.StartsWith($"fastpath: {option}: ", stderr);
        Assert.Contains(unusable, stderr);
    }

    [Theory]
    [InlineData("a pair needs two different ports, got 'net_null0' twice", "--pair", "net_null0,net_null0")]
    [InlineData("port 'net_null1' is already in a pair", "--pair", "net_null0,net_null1", "--pair", "net_null1,net_null2")]
    public void ABadPairIsAUsageError(string message, params string[] pairs)
    {
        var (code, _, stderr) = FastPathProcess.Run(["run", "--eal", "--no-huge", .. pairs], TimeSpan.FromSeconds(30));
        Assert.Equal(2, code);
        Assert.Contains($"--pair: {message}", stderr);
    }

    /// <summary>Writing an output truncates or appends to it: the input named again, by any name, is refused before anything is opened, and stays whole.</summary>
    [Theory]
    [InlineData("--pcap-out")]
    [InlineData("--trace")]
    [InlineData("--log")]
    public void TheInputAsAnOutputIsRefusedAndTheCaptureKept(string option)
    {
        string copy = Path.Combine(_dir, "copy.pcap");
        File.Copy(TestEnvironment.Sample("mixed.pcap"), copy);
        string link = Path.Combine(_dir, "link.pcap");
        File.CreateSymbolicLink(link, copy);
        string hardLink = Path.Combine(_dir, "hard.pcap");
        TestEnvironment.RunChecked("ln", copy, hardLink);

        foreach (string output in new[] { copy, link, hardLink, Path.Combine(_dir, ".", "copy.pcap") })
        {
            string[] outputs = option == "--pcap-out" ? [option, output] : ["--pcap-out", Path.Combine(_dir, "out.pcap"), option, output];
            var (code, _, stderr) = FastPathProcess.Run(
                ["run", "--pcap-in", copy, "--rules", TestEnvironment.Sample("ssh-guard.rules"), .. outputs], TimeSpan.FromSeconds(30));
            Assert.Equal(2, code);
            Assert.Contains($"{option} {output} is the --pcap-in file", stderr);
        }
        Assert.Equal(File.ReadAllBytes(TestEnvironment.Sample("mixed.pcap")), File.ReadAllBytes(copy));
    }

    /// <summary>--trace without rules still tells every frame's fate: accepted with no rule, or the parser's drop.</summary>
    [Fact]
    public void ATraceWithoutRulesTellsEveryFrame()
    {
        string trace = Path.Combine(_dir, "trace.tsv");
        var expectations = CaptureFile.ReadExpectations(TestEnvironment.Sample("mixed.expected.tsv"));
        var (code, _, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", TestEnvironment.Sample("mixed.pcap"), "--pcap-out", Path.Combine(_dir, "o.pcap"), "--trace", trace], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}: {stderr}");
        var lines = File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();
        Assert.Equal(expectations.Count, lines.Count);
        Assert.Equal(expectations.Count(e => e.Forward), lines.Count(f => f[2] == "ACCEPT"));
        Assert.All(lines.Where(f => f[2] == "DROP"), f => Assert.StartsWith("malformed:", f[3]));
    }

    [Fact]
    public void AMissingCaptureIsAClearError()
    {
        var (code, _, stderr) = FastPathProcess.Run(["run", "--pcap-in", Path.Combine(_dir, "nope.pcap"), "--pcap-out", Path.Combine(_dir, "o.pcap")], TimeSpan.FromSeconds(30));
        Assert.Equal(1, code);
        Assert.Contains("nope.pcap", stderr);
    }

    [Fact]
    public void HelpDocumentsEveryOption()
    {
        var (code, stdout, _) = FastPathProcess.Run(["run", "--help"], TimeSpan.FromSeconds(30));
        Assert.Equal(0, code);
        foreach (var option in FastPath.Daemon.RunOptions.Table)
            Assert.Contains($"--{option.Name} {option.Argument}", stdout);
    }

    /// <summary>Asked for, the help is the output (status 0); without a command it is a usage error's message, on standard error (status 2).</summary>
    [Fact]
    public void HelpAskedForGoesToStandardOutputAndAMissingCommandToStandardError()
    {
        var asked = FastPathProcess.Run(["--help"], TimeSpan.FromSeconds(30));
        Assert.Equal((0, ""), (asked.ExitCode, asked.Stderr));
        Assert.StartsWith("fastpath - ", asked.Stdout);
        var missing = FastPathProcess.Run([], TimeSpan.FromSeconds(30));
        Assert.Equal((2, ""), (missing.ExitCode, missing.Stdout));
        Assert.Equal(asked.Stdout, missing.Stderr);
    }
}
