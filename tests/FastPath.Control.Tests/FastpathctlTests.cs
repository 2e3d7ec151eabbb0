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

    /// <summary>Runs `dotnet fastpathctl.dll ARGS` while this thread serves the socket; returns (exit code, stdout, stderr).</summary>
    private (int ExitCode, string Stdout, string Stderr) Run(string[] args, string? stdin = null, string? socketVariable = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
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
}
