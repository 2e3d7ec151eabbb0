// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Text;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>The fastpathctl executable, run as a user would against a live server.</summary>
public sealed class FastpathctlTests : IDisposable
{
    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    /// <summary>
    /// Runs `dotnet fastpathctl.dll ARGS` while this thread serves the socket; returns (exit code, stdout, stderr).
    /// <paramref name="redirection"/> is a shell redirection applied to it instead (">/dev/full").
    /// </summary>
    private (int ExitCode, string Stdout, string Stderr) Run(string[] args, string? stdin = null, string? socketVariable = null, string? redirection = null)
    {
        var info = new ProcessStartInfo(redirection is null ? "dotnet" : "sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        if (redirection is not null)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"exec dotnet \"$@\" {redirection}");
            info.ArgumentList.Add("sh");
        }
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fastpathctl.dll"));
        foreach (string a in args)
            info.ArgumentList.Add(a);
        info.Environment[ControlClient.SocketEnvironmentVariable] = socketVariable;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!process.HasExited && DateTime.UtcNow < deadline)
            _fixture.Server.ServeOnce(20);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), "fastpathctl did not exit");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void CatPrintsTheTableAndTheSocketCanComeFromTheEnvironment()
    {
        _fixture.Backend.Now = 777;
        Assert.True(_fixture.Call(c => c.Write("/proc/net/xt_recent/SSH", "+192.0.2.5"u8.ToArray())).IsOk);
        var (code, stdout, stderr) = Run(["cat", "/proc/net/xt_recent/SSH"], socketVariable: _fixture.SocketPath);
        Assert.Equal("", stderr);
        Assert.Equal(0, code);
        Assert.Equal("src=192.0.2.5 ttl: 0 last_seen: 777 oldest_pkt: 1 777\n", stdout);
    }

    /// <summary>As nfct and conntrack: output that cannot be written changes neither what was done nor the exit status, and is no crash.</summary>
    [Theory]
    [InlineData(">/dev/full")]
    [InlineData(">&-")]
    [InlineData("2>&- >/dev/full")]
    public void OutputThatCannotBeWrittenIsNoCrash(string redirection)
    {
        Assert.True(_fixture.Call(c => c.Write("/proc/net/xt_recent/SSH", "+192.0.2.5"u8.ToArray())).IsOk);
        var (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "cat", "/proc/net/xt_recent/SSH"], redirection: redirection);
        Assert.Equal("", stderr);
        Assert.Equal(0, code);
        var (refused, _, refusedStderr) = Run(["--socket", _fixture.SocketPath, "cat", "/proc/net/xt_recent/NOPE"], redirection: "2>/dev/full");
        Assert.Equal(("", 1), (refusedStderr, refused));
    }

    /// <summary>A socket path no socket can have, or a path that is no socket, says so (an empty or long one used to crash).</summary>
    [Theory]
    [InlineData("", "cannot connect to '': not a usable socket path (1 to 107 bytes)")]
    [InlineData("/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "not a usable socket path (1 to 107 bytes)")]
    [InlineData("/tmp", "cannot connect to /tmp: Is a directory")]
    [InlineData("/etc/passwd", "cannot connect to /etc/passwd: not a socket")]
    public void AnUnusableSocketPathIsAConnectionError(string path, string message)
    {
        var (code, stdout, stderr) = Run([$"--socket={path}", "jiffies"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.StartsWith("fastpathctl: ", stderr);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void AnErrorGoesToStderrWithExitStatus1()
    {
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "cat", "/proc/net/xt_recent/NOPE"]);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal("fastpathctl: /proc/net/xt_recent/NOPE: No such file or directory (no recent table named 'NOPE')\n", stderr);

        (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "write", "/proc/net/xt_recent/SSH", "+192.0.2.1\n" + new string('x', 40)]);
        Assert.Equal(1, code);
        Assert.StartsWith("fastpathctl: /proc/net/xt_recent/SSH: Illegal seek (", stderr);
    }

    [Fact]
    public void WriteSendsStandardInputAsOneWriteAndShowPrintsJson()
    {
        var (code, _, stderr) = Run(["--socket=" + _fixture.SocketPath, "write", "/proc/net/xt_recent/SSH", "-"], stdin: "+2001:db8::9\n");
        Assert.Equal("", stderr);
        Assert.Equal(0, code);
        (code, var stdout, _) = Run(["--socket", _fixture.SocketPath, "show", "recent", "SSH", "--json"]);
        Assert.Equal(0, code);
        Assert.Contains("\"address\": \"2001:0db8:0000:0000:0000:0000:0000:0009\"", stdout);
        (code, stdout, _) = Run(["--socket", _fixture.SocketPath, "jiffies"]);
        Assert.Equal((0, "1000000\n"), (code, stdout));
    }

    [Fact]
    public void UsageAndConnectionErrorsExitWith2()
    {
        var (code, stdout, _) = Run(["--help"]);
        Assert.Equal(0, code);
        Assert.StartsWith("fastpathctl - ", stdout);
        foreach (string command in new[] { "cat", "ls", "write", "show", "jiffies", "reload", "help", "--socket", "FASTPATH_SOCKET" })
            Assert.Contains(command, stdout);

        (code, _, var stderr) = Run(["--socket", _fixture.SocketPath, "frobnicate"]);
        Assert.Equal(2, code);
        Assert.Equal("fastpathctl: unknown command 'frobnicate' (see fastpathctl --help)\n", stderr);
        (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "show", "recent"]);
        Assert.Equal(2, code);
        (code, _, stderr) = Run(["--socket", Path.Combine(_fixture.Directory, "nobody.sock"), "jiffies"]);
        Assert.Equal(2, code);
        Assert.StartsWith($"fastpathctl: cannot connect to {Path.Combine(_fixture.Directory, "nobody.sock")}: ", stderr);
    }

    [Fact]
    public void ConntrackListsOnStdoutWithConntracksSummaryOnStderr()
    {
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4UdpFrame(40000, 53));
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4TcpFrame(40002, 443));
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-p", "udp"]);
        Assert.Equal(0, code);
        Assert.Equal("udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40000 mark=0 use=1\n", stdout);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "--json"]);
        Assert.Equal((0, ""), (code, stderr));
        Assert.StartsWith("{", stdout);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "--sport", "5"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): unknown option `--sport'\nTry `conntrack -h' or 'conntrack --help' for more information.\n", stderr);

        // getopt_long's abbreviations: conntrack (opterr 0) prints no getopt message, only its own.
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "--du", "--p", "udp", "--dp=53"]);
        Assert.Equal(0, code);
        Assert.StartsWith("udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 ", stdout);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-p", "tcp", "--st", "ESTABLISHED"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): unknown option `--st'\nTry `conntrack -h' or 'conntrack --help' for more information.\n", stderr);
    }

    /// <summary>-G and -o end as conntrack's: the summary counts connections (not XML lines), -G that shows none fails, warnings come first.</summary>
    [Fact]
    public void ConntrackGetAndOutputEndAsConntrackDoes()
    {
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4UdpFrame(40000, 53));
        string[] get = ["--socket", _fixture.SocketPath, "conntrack", "-G", "-s", "10.0.0.1", "-d", "192.168.1.20", "-p", "udp", "--sport", "40000", "--dport"];
        var (code, stdout, stderr) = Run([.. get, "53"]);
        Assert.Equal(0, code);
        Assert.EndsWith(" use=2\n", stdout);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run([.. get, "54"]);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): Operation failed: such conntrack doesn't exist\n", stderr);

        (code, stdout, stderr) = Run([.. get, "53", "-i", "5"]);
        Assert.Equal((1, "", "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n"), (code, stdout, stderr));

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-o", "s,xml"]);
        Assert.Equal(0, code);
        Assert.Equal(4, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("WARNING: ignoring SRC_NAT, use --src-nat instead\nconntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-o", "xml,save"]);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): cannot combine save output with any other output type, use -o save only\n", stderr);
    }

    /// <summary>conntrack takes "-s 1.2.3" (inet_aton) and "--dport 0x10" (atoi: port 0), and refuses a bad prefix with status 2.</summary>
    [Fact]
    public void ConntrackFilterValuesEndAsConntracksDo()
    {
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4UdpFrame(40000, 53));
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-s", "1.2.3"]);
        Assert.Equal((0, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-p", "udp", "--dport", "0x10"]);
        Assert.Equal((0, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-s", "10.1", "-p", "udp", "--dport", "53abc"]);
        Assert.Equal(0, code);
        Assert.StartsWith("udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 ", stdout);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-s", "10.0.0.1/33"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): Invalid netmask\nTry `conntrack -h' or 'conntrack --help' for more information.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "-s", "1.2.3.4.5"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): Invalid IP address `1.2.3.4.5'\nTry `conntrack -h' or 'conntrack --help' for more information.\n", stderr);
    }

    [Fact]
    public void ConntrackDeleteAndFlushEndAsConntrackDoes()
    {
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4UdpFrame(40000, 53));
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4TcpFrame(40002, 443));
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-D", "-p", "udp"]);
        Assert.Equal(0, code);
        Assert.StartsWith("udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 ", stdout);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.\n", stderr);

        // Deleting nothing is conntrack's exit status 1, with the count all the same.
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-D", "-p", "udp"]);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-F"]);
        Assert.Equal((0, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.\n", stderr);
        Assert.Equal(0, _fixture.Backend.Flows.Count);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-F", "-s", "10.0.0.1"]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Equal("conntrack v1.4.7 (conntrack-tools): Illegal option `--src' with this command\nTry `conntrack -h' or 'conntrack --help' for more information.\n", stderr);
    }

    /// <summary>The other tables, empty here, with conntrack's summaries and exit statuses (each checked against conntrack 1.4.7 in a namespace).</summary>
    [Fact]
    public void ConntrackTablesOtherThanConntrackEndAsConntrackDoes()
    {
        _fixture.Backend.Track(FastPath.Testing.TestFrames.Ipv4UdpFrame(40000, 53));
        const string Prefix = "conntrack v1.4.7 (conntrack-tools): ";
        const string Try = "Try `conntrack -h' or 'conntrack --help' for more information.\n";
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "expect"]);
        Assert.Equal((0, "", Prefix + "0 expectations have been shown.\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-L", "dying"]);
        Assert.Equal((0, "", Prefix + "0 flow entries have been shown.\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-C", "expect"]);
        Assert.Equal((0, "0\n", ""), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-F", "expect"]);
        Assert.Equal((0, "", Prefix + "expectation table has been emptied.\n"), (code, stdout, stderr));
        Assert.Equal(1, _fixture.Backend.Flows.Count);
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-D", "expect"]);
        Assert.Equal((2, "", Prefix + "You need to supply the `--src' option for this command\n" + Try), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-D", "expect", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "esp"]);
        Assert.Equal((1, "", Prefix + "Operation failed: No such file or directory\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-D", "expect", "-s", "::1", "-d", "::2", "-p", "icmpv6"]);
        Assert.Equal((1, "", Prefix + "Operation failed: invalid parameters\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", "-C", "unconfirmed"]);
        Assert.Equal((2, "", Prefix + "Can't do that command with tables `dying' and `unconfirmed'\n" + Try), (code, stdout, stderr));

        // No command: conntrack prints its usage with status 0, and so does FastPath; -V its version.
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack"]);
        Assert.Equal((0, ""), (code, stderr));
        Assert.StartsWith("Command line interface for the connection tracking system. Version 1.4.7\n", stdout);
        Assert.Equal((0, "conntrack v1.4.7 (conntrack-tools)\n", ""), Run(["--socket", _fixture.SocketPath, "conntrack", "-V"]));
    }

    /// <summary>What FastPath does not serve fails at once, saying so, with a usage error's status: -E never waits for events.</summary>
    [Theory]
    [InlineData("-E")]
    [InlineData("-E", "-o", "timestamp")]
    [InlineData("-I", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "udp", "--sport", "1", "--dport", "2", "-t", "30")]
    [InlineData("-U", "-m", "1")]
    [InlineData("-L", "-z")]
    [InlineData("-L", "--label", "foo")]
    public void ConntrackCommandsFastPathDoesNotServeFailClearly(params string[] args)
    {
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "conntrack", .. args]);
        Assert.Equal((2, ""), (code, stdout));
        Assert.Matches("^conntrack v1\\.4\\.7 \\(conntrack-tools\\): option `-[-a-zA-Z]+' is not served by FastPath\nTry ", stderr);
    }

    /// <summary>nfct's usage errors have two lines; the socket's one-line message used to join them (found live, against nfct).</summary>
    [Fact]
    public void NfctErrorsArePrintedAsNfctPrintsThem()
    {
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "timeout", "x"]);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal("nfct v1.4.7: Unknown command: timeout\nUsage: nfct command subsystem [parameters]...\n", stderr);

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "delete", "timeout", "nope"]);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal("nfct v1.4.7: netlink error: No such file or directory\n", stderr);

        // The helper subsystem: what reaches the kernel is EINVAL, as from a kernel without nfnetlink_cthelper.
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "helper", "add", "ftp", "inet", "tcp"]);
        Assert.Equal((1, "", "nfct v1.4.7: netlink error: Invalid argument\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "helper", "default-set"]);
        Assert.Equal((1, "", "nfct v1.4.7: Unknown command: default-set\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n"),
            (code, stdout, stderr));

        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct"]); // nfct's usage, not fastpathctl's
        Assert.Equal((1, "", "Usage: nfct command subsystem [parameters]...\n"), (code, stdout, stderr));
    }

    /// <summary>
    /// nfct takes empty words as it takes any other (found against nfct: fastpathctl used to refuse them): the
    /// empty command is list, the empty name a name like another, an empty value atoi's 0.
    /// </summary>
    [Fact]
    public void NfctTakesEmptyArguments()
    {
        var (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "add", "timeout", "", "inet", "udp", "replied", ""]);
        Assert.Equal((0, "", ""), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "", ""]);
        Assert.Equal((0, ""), (code, stderr));
        Assert.Equal(". = {\n\t.l3proto = 2,\n\t.l4proto = 17,\n\t.policy = {\n\t\t.UNREPLIED = 30,\n\t\t.REPLIED = 0,\n\t},\n};\n", stdout);
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "get", "timeout", "", ""]);
        Assert.Equal((1, "", "nfct v1.4.7: too many arguments\n"), (code, stdout, stderr));
        (code, stdout, stderr) = Run(["--socket", _fixture.SocketPath, "nfct", "delete", "", ""]);
        Assert.Equal((0, "", ""), (code, stdout, stderr));
        Assert.Empty(_fixture.Backend.Timeouts.Dump());
    }

    [Fact]
    public void SysctlsReadAndWriteThroughCatAndWrite()
    {
        const string udp = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout";
        var (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "write", udp, "50"]);
        Assert.Equal((0, ""), (code, stderr));
        (code, var stdout, _) = Run(["--socket", _fixture.SocketPath, "cat", udp]);
        Assert.Equal((0, "50\n"), (code, stdout));
        (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "write", udp, "abc"]);
        Assert.Equal(1, code);
        Assert.StartsWith($"fastpathctl: {udp}: Invalid argument (", stderr);
        (code, _, stderr) = Run(["--socket", _fixture.SocketPath, "write", "/proc/sys/net/netfilter/nf_conntrack_count", "1"]);
        Assert.Equal(1, code);
        Assert.StartsWith("fastpathctl: /proc/sys/net/netfilter/nf_conntrack_count: Permission denied", stderr);
        (code, stdout, _) = Run(["--socket", _fixture.SocketPath, "ls", "/proc/sys/net/netfilter"]);
        Assert.Equal(0, code);
        Assert.StartsWith("nf_conntrack_acct\nnf_conntrack_buckets\nnf_conntrack_checksum\nnf_conntrack_count\n", stdout);
    }
}
