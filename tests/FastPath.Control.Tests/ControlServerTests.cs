// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>The socket itself: its file, its permissions, and clients that misbehave.</summary>
public sealed class ControlServerTests
{
    /// <summary>"MODE UID GID" of a file, as stat(1) prints them.</summary>
    private static string Stat(string path)
    {
        var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%a %u %g", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return output;
    }

    private static (string Uid, string Gid) Me()
    {
        string directory = TemporaryDirectory.Create();
        try
        {
            var parts = Stat(directory).Split(' ');
            return (parts[1], parts[2]);
        }
        finally
        {
            Directory.Delete(directory);
        }
    }

    /// <summary>Sends raw bytes as a client would and returns everything the server answers.</summary>
    private static string Raw(ServerFixture fixture, byte[] request, bool closeAfterSending = false)
    {
        return fixture.Call(_ =>
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(fixture.SocketPath));
            socket.Send(request);
            if (closeAfterSending)
                socket.Shutdown(SocketShutdown.Send);
            using var answer = new MemoryStream();
            var chunk = new byte[4096];
            try
            {
                int n;
                while ((n = socket.Receive(chunk)) > 0)
                    answer.Write(chunk, 0, n);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset && answer.Length > 0)
            {
                // The server answered without reading the whole request: Linux reports the reset after the answer.
            }
            return Encoding.UTF8.GetString(answer.ToArray());
        });
    }

    [Fact]
    public void TheSocketIsOwnerOnlyByDefault()
    {
        using var fixture = new ServerFixture();
        var (uid, gid) = Me();
        Assert.Equal($"600 {uid} {gid}", Stat(fixture.SocketPath));
    }

    [Fact]
    public void ModeAndGroupAreAppliedAsAsked()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "chown to another group needs root");
        using var fixture = new ServerFixture(permissions: SocketPermissions.Parse(["--control-perms", "0660", "--control-gid=4242"]));
        var (uid, _) = Me();
        Assert.Equal($"660 {uid} 4242", Stat(fixture.SocketPath));
        Assert.True(fixture.Call(c => c.Read("/proc/fastpath/hz")).IsOk);
    }

    [Fact]
    public void TheModeIsAppliedWithoutRoot()
    {
        using var fixture = new ServerFixture(permissions: SocketPermissions.OwnerOnly with { Mode = SocketPermissions.ParseMode("660") });
        Assert.StartsWith("660 ", Stat(fixture.SocketPath));
    }

    [Fact]
    public void AStaleSocketFileIsReplacedAndDisposeRemovesTheFile()
    {
        string directory = TemporaryDirectory.Create();
        string path = Path.Combine(directory, "control.sock");
        try
        {
            // What a killed daemon leaves: the socket file, with nobody listening. (A .NET socket removes its
            // file when disposed, so another process binds it and exits.)
            var binder = Process.Start("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path]);
            binder.WaitForExit();
            Assert.Equal(0, binder.ExitCode);
            Assert.True(File.Exists(path));

            var server = new ControlServer(path, SocketPermissions.OwnerOnly, new SingleShardControl(null));
            server.Start();
            Assert.StartsWith("600 ", Stat(path));
            server.Dispose();
            Assert.False(File.Exists(path));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A mistyped --control naming an ordinary file: refused, and the file is still there (it used to be deleted as a stale socket).</summary>
    [Fact]
    public void AFileThatIsNotASocketIsRefusedAndKept()
    {
        string directory = TemporaryDirectory.Create();
        string path = Path.Combine(directory, "important.txt");
        try
        {
            File.WriteAllText(path, "data\n");
            using var server = new ControlServer(path, SocketPermissions.OwnerOnly, new SingleShardControl(null));
            var error = Assert.Throws<IOException>(server.Start);
            Assert.Equal($"control socket {path}: exists and is not a socket", error.Message);
            Assert.Equal("data\n", File.ReadAllText(path));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ASecondServerOnALiveSocketIsRefusedAndLeavesTheFirstAlone()
    {
        using var fixture = new ServerFixture();
        using var second = new ControlServer(fixture.SocketPath, SocketPermissions.OwnerOnly, new SingleShardControl(null));
        var error = Assert.Throws<InvalidOperationException>(second.Start);
        Assert.Contains("another server is listening", error.Message);
        Assert.Contains(fixture.SocketPath, error.Message);

        second.Dispose();
        Assert.True(File.Exists(fixture.SocketPath));
        fixture.Server.ServeOnce(0); // the probe's connection: it hung up at once, nothing to answer
        Assert.Equal("250\n", fixture.Call(c => c.Read("/proc/fastpath/hz")).Text);
    }

    /// <summary>A client that closes its side in the middle of a request still gets an answer: EINVAL, and nothing is applied.</summary>
    [Theory]
    [InlineData("read /proc/fastpath/hz")]
    [InlineData("write /proc/fastpath/hz 10\n+1.2.3.4")]
    public void ARequestCutShortByTheClientIsAnsweredEinval(string request)
    {
        using var fixture = new ServerFixture();
        string answer = Raw(fixture, Encoding.UTF8.GetBytes(request), closeAfterSending: true);
        Assert.StartsWith("ERR 22 EINVAL ", answer);
        Assert.Contains("the client closed its side", answer);
    }

    [Fact]
    public void ASilentClientCostsTheServerOnlyItsTimeout()
    {
        using var fixture = new ServerFixture(clientTimeout: TimeSpan.FromMilliseconds(300));
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Connect(new UnixDomainSocketEndPoint(fixture.SocketPath));
        silent.Send("read /proc/fastpath/h"u8.ToArray()); // half a header, then nothing

        var clock = Stopwatch.StartNew();
        Assert.True(fixture.Server.ServeOnce(1000));
        Assert.InRange(clock.ElapsedMilliseconds, 250, 2000);

        var answer = new byte[256];
        int n = silent.Receive(answer);
        Assert.StartsWith("ERR 110 ETIMEDOUT ", Encoding.UTF8.GetString(answer, 0, n));
        Assert.Equal("250\n", fixture.Call(c => c.Read("/proc/fastpath/hz")).Text);
    }

    [Fact]
    public void AClientThatDoesNotReadItsAnswerCostsOnlyTheTimeoutAndBigAnswersArriveWhole()
    {
        using var fixture = new ServerFixture(clientTimeout: TimeSpan.FromMilliseconds(300));
        string big = new('x', 4 << 20); // far more than a socket buffer holds
        fixture.Server.Commands.Register("read", "/proc/fastpath/big", "", "a large file", (_, _) => ControlResponse.Ok(big));
        using var reluctant = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        reluctant.Connect(new UnixDomainSocketEndPoint(fixture.SocketPath));
        reluctant.Send("read /proc/fastpath/big\n"u8.ToArray());

        var clock = Stopwatch.StartNew();
        Assert.True(fixture.Server.ServeOnce(1000));
        Assert.InRange(clock.ElapsedMilliseconds, 250, 2000);

        Assert.Equal(big, fixture.Call(c => c.Read("/proc/fastpath/big")).Text);
    }

    [Fact]
    public void ClientsThatHangUpEarlyAreIgnored()
    {
        using var fixture = new ServerFixture();
        using (var early = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            early.Connect(new UnixDomainSocketEndPoint(fixture.SocketPath));
            early.Send("write /proc/net/xt_recent/SSH 10\n+19"u8.ToArray());
        }
        var clock = Stopwatch.StartNew();
        Assert.True(fixture.Server.ServeOnce(1000));
        Assert.True(clock.ElapsedMilliseconds < 1000);
        Assert.Equal("", fixture.Call(c => c.Read("/proc/net/xt_recent/SSH")).Text); // the half write was not applied

        using (var gone = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            gone.Connect(new UnixDomainSocketEndPoint(fixture.SocketPath));
            gone.Send("read /proc/fastpath/counters\n"u8.ToArray()); // asks, then leaves before the answer
        }
        Assert.True(fixture.Server.ServeOnce(1000));
        Assert.True(fixture.Call(c => c.Read("/proc/fastpath/hz")).IsOk);
    }

    [Fact]
    public void ARequestOverTheLimitIsEMSGSIZE()
    {
        using var fixture = new ServerFixture();
        var response = fixture.Call(c => c.Write("/proc/net/xt_recent/SSH", new byte[ControlWire.MaxRequestBytes]));
        Assert.Equal(ControlError.EMSGSIZE, response.Error);

        string header = Raw(fixture, Encoding.UTF8.GetBytes("read /" + new string('a', ControlWire.MaxRequestBytes)));
        Assert.StartsWith("ERR 90 EMSGSIZE ", header);
    }

    [Fact]
    public void MalformedHeadersAreEINVAL()
    {
        using var fixture = new ServerFixture();
        Assert.Equal("ERR 22 EINVAL empty request (expected 'VERB [PATH [ARG ...]]'; try 'help')\n", Raw(fixture, "\n"u8.ToArray()));
        Assert.StartsWith("ERR 22 EINVAL a write is 'write PATH LENGTH'", Raw(fixture, "write /proc/net/xt_recent/SSH\n"u8.ToArray()));
        Assert.StartsWith("ERR 22 EINVAL a write is 'write PATH LENGTH'", Raw(fixture, "write /proc/net/xt_recent/SSH -1\n"u8.ToArray()));
        Assert.StartsWith("ERR 22 EINVAL bad %-escape", Raw(fixture, "read /proc/net/xt_recent/%zz\n"u8.ToArray()));
        Assert.StartsWith("ERR 22 EINVAL the request header is not UTF-8", Raw(fixture, [.. "read /"u8, 0xff, (byte)'\n']));
    }

    [Fact]
    public void TheWireFormatIsPlainText()
    {
        using var fixture = new ServerFixture();
        Assert.Equal("OK\n250\n", Raw(fixture, "read /proc/fastpath/hz\n"u8.ToArray()));
        Assert.Equal("OK\n", Raw(fixture, "write /proc/net/xt_recent/SSH 11\n+192.0.2.1\n"u8.ToArray(), closeAfterSending: true));
        Assert.StartsWith("OK\nsrc=192.0.2.1 ttl: 0 ", Raw(fixture, "read /proc/net/xt_recent/SSH\r\n"u8.ToArray()));
        Assert.Equal("ERR 2 ENOENT no recent table named 'a b'\n", Raw(fixture, "read /proc/net/xt_recent/a%20b\n"u8.ToArray()));
    }

    [Fact]
    public void UnknownVerbsAndPathsSayWhatIsWrong()
    {
        using var fixture = new ServerFixture();
        var verb = fixture.Call(c => c.Send(new ControlRequest("delete", "/proc/net/xt_recent/SSH")));
        Assert.Equal(ControlError.EINVAL, verb.Error);
        Assert.Equal("unknown verb 'delete' (verbs: help, list, read, write, show, reload, run)", verb.Message);

        var path = fixture.Call(c => c.Read("/proc/net/ip_tables_names"));
        Assert.Equal(ControlError.ENOENT, path.Error);
        Assert.Equal("no such path for read: '/proc/net/ip_tables_names'; see help", path.Message);

        var readOnly = fixture.Call(c => c.Write("/proc/fastpath/jiffies", "1"u8.ToArray()));
        Assert.Equal(ControlError.EINVAL, readOnly.Error);
        Assert.Equal("'/proc/fastpath/jiffies' takes read, not write", readOnly.Message);

        var directory = fixture.Call(c => c.Read("/proc/net/xt_recent"));
        Assert.Equal((ControlError.EISDIR, "'/proc/net/xt_recent' is a directory: ls it"), (directory.Error, directory.Message));

        var arguments = fixture.Call(c => c.Send(new ControlRequest("read", "/proc/fastpath/hz", "now")));
        Assert.Equal(ControlError.EINVAL, arguments.Error);
        Assert.Equal("'read /proc/fastpath/hz' takes no arguments, got 'now'", arguments.Message);
    }

    [Fact]
    public void HelpListsEveryRegisteredCommandAndNewOnesCanBeRegistered()
    {
        using var fixture = new ServerFixture();
        fixture.Server.Commands.RegisterPrefix("read", "/proc/sys/net/core/", "KEY", "", "a sysctl (a later feature)",
            (_, key) => ControlResponse.Ok(key + "\n"));
        var help = fixture.Call(c => c.Help());
        Assert.True(help.IsOk);
        string[] lines = help.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(fixture.Server.Commands.Commands.Count, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("read /proc/net/xt_recent/NAME ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("write /proc/net/xt_recent/NAME ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("show /proc/net/xt_recent/NAME [json] ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("reload ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("read /proc/sys/net/core/KEY ", StringComparison.Ordinal));
        Assert.Equal("somaxconn\n", fixture.Call(c => c.Read("/proc/sys/net/core/somaxconn")).Text);
        Assert.Throws<ArgumentException>(() => fixture.Server.Commands.Register("read", "/proc/fastpath/hz", "", "twice", (_, _) => ControlResponse.Ok()));

        fixture.Server.Commands.Register("nfct", "timeout", "add NAME [ATTR ...]", "any number of arguments",
            (request, _) => ControlResponse.Ok(string.Join(',', request.Args)));
        Assert.Equal("add,web,inet,tcp,established,100",
            fixture.Call(c => c.Send(new ControlRequest("nfct", "timeout", "add", "web", "inet", "tcp", "established", "100"))).Text);
    }

    [Fact]
    public void AHandlerThatThrowsAnswersEIO()
    {
        using var fixture = new ServerFixture();
        fixture.Server.Commands.Register("read", "/proc/fastpath/broken", "", "always fails", (_, _) => throw new InvalidOperationException("boom"));
        var response = fixture.Call(c => c.Read("/proc/fastpath/broken"));
        Assert.Equal(ControlError.EIO, response.Error);
        Assert.Contains("boom", response.Message);
        Assert.True(fixture.Call(c => c.Read("/proc/fastpath/hz")).IsOk);
    }

    [Fact]
    public void AWorkerThatDoesNotAnswerInTimeIsETIMEDOUT()
    {
        using var fixture = new ServerFixture();
        fixture.Server.Commands.Register("read", "/proc/fastpath/slow", "", "a worker too busy to answer",
            (_, _) => throw new TimeoutException("worker 1 did not run the control action within 8 s"));
        var response = fixture.Call(c => c.Read("/proc/fastpath/slow"));
        Assert.Equal((ControlError.ETIMEDOUT, "worker 1 did not run the control action within 8 s"), (response.Error, response.Message));
    }

    [Fact]
    public void ReloadReportsFileAndLineAndKeepsTheRunningRules()
    {
        using var fixture = new ServerFixture();
        File.WriteAllText(fixture.RulesFile, "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m recent --set --name NEW\nCOMMIT\n");
        var ok = fixture.Call(c => c.Reload());
        Assert.True(ok.IsOk, ok.Message);
        Assert.Equal("1 rules, 1 recent tables\n", ok.Text);
        Assert.Equal("NEW\n", fixture.Call(c => c.List("/proc/net/xt_recent")).Text);

        File.WriteAllText(fixture.RulesFile, "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m bogus\nCOMMIT\n");
        var failed = fixture.Call(c => c.Reload());
        Assert.Equal(ControlError.EINVAL, failed.Error);
        Assert.Equal($"{fixture.RulesFile}:3: match '-m bogus' is not supported", failed.Message);
        Assert.Equal("NEW\n", fixture.Call(c => c.List("/proc/net/xt_recent")).Text);
    }

    [Fact]
    public void ServeOnceReturnsFalseWhenNobodyCalls()
    {
        using var fixture = new ServerFixture();
        var clock = Stopwatch.StartNew();
        Assert.False(fixture.Server.ServeOnce(50));
        Assert.InRange(clock.ElapsedMilliseconds, 40, 1000);
    }

    [Fact]
    public void AClientWithNoServerGetsAClearError()
    {
        var client = new ControlClient("/tmp/fpctl-nonexistent/control.sock");
        var error = Assert.Throws<ControlConnectionException>(() => client.Read("/proc/fastpath/hz"));
        Assert.Equal("cannot connect to /tmp/fpctl-nonexistent/control.sock: No such file or directory (is fastpath running, with its control socket there?)", error.Message);
    }
}
