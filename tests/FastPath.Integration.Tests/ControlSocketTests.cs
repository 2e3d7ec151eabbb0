// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace FastPath.Integration.Tests;

/// <summary>
/// The control socket of a live `fastpath` with two workers, driven through the `fastpathctl` executable as
/// an operator or a script would: proc-file writes reach the owning worker's shard and come back in reads,
/// errnos and exit statuses are the kernel's and the CLI's, and a reload replaces the ruleset only when the
/// new file is good.
/// </summary>
public sealed class ControlSocketTests : IDisposable
{
    private const string Eal = "--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=warning";
    private readonly string _dir = Directory.CreateTempSubdirectory("fastpath-control-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Socket => Path.Combine(_dir, "control.sock");

    private (int Exit, string Stdout, string Stderr) Ctl(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fastpathctl.dll"));
        info.ArgumentList.Add("--socket");
        info.ArgumentList.Add(Socket);
        foreach (string a in arguments)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "fastpathctl hung");
        return (process.ExitCode, stdout.Result, stderr);
    }

    private string CtlOk(params string[] arguments)
    {
        var (exit, stdout, stderr) = Ctl(arguments);
        Assert.True(exit == 0, $"fastpathctl {string.Join(' ', arguments)}: exit {exit}: {stderr}");
        return stdout;
    }

    [Fact]
    public void ProcReadsWritesCountersAndReloadOnTwoWorkers()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        Assert.SkipWhen(Environment.ProcessorCount < 2, "two pinned workers need two cores");
        string rules = Path.Combine(_dir, "guard.rules");
        File.WriteAllText(rules, """
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --rsource -j DROP
            -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource
            COMMIT
            """);

        // net_ring ports are idle: this test is about the control path, not traffic.
        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{Eal} --vdev=net_ring0 --vdev=net_ring1", "--pair", "net_ring0,net_ring1",
            "--cores", "0,1", "--rules", rules, "--control", Socket, "--stats-interval", "0"]);
        Assert.True(fastpath.WaitForOutput("SIGINT, SIGTERM or SIGHUP stops", TimeSpan.FromSeconds(30)), $"fastpath did not start\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Assert.Contains($"control socket {Socket} (mode 0600)", fastpath.Stdout);
        Assert.Equal((0, "600\n"), TestEnvironment.Run("stat", "-c", "%a", Socket));

        Assert.Equal("SSH\n", CtlOk("ls", "/proc/net/xt_recent"));

        // Forty addresses land on both workers' shards; a read gathers them all, in the kernel's line format.
        for (int i = 1; i <= 40; i++)
            CtlOk("write", "/proc/net/xt_recent/SSH", $"+192.0.2.{i}");
        CtlOk("write", "/proc/net/xt_recent/SSH", "+2001:db8::1\n"); // echo's newline ends the address, as in the kernel
        var lines = CtlOk("cat", "/proc/net/xt_recent/SSH").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(41, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("src=2001:0db8:0000:0000:0000:0000:0000:0001 ttl: 0 last_seen: ", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Matches(@"^src=\S+ ttl: 0 last_seen: \d+ oldest_pkt: 1 \d+$", l));

        CtlOk("write", "/proc/net/xt_recent/SSH", "-192.0.2.7");
        Assert.DoesNotContain("src=192.0.2.7 ", CtlOk("cat", "/proc/net/xt_recent/SSH"));

        // The kernel's errnos, as the CLI reports them: a missing table, a bad address, an over-long write.
        var missing = Ctl("write", "/proc/net/xt_recent/NOPE", "+192.0.2.1");
        Assert.Equal(1, missing.Exit);
        Assert.Contains("No such file or directory", missing.Stderr);
        var bad = Ctl("write", "/proc/net/xt_recent/SSH", "+192.0.2.300");
        Assert.Equal(1, bad.Exit);
        Assert.Contains("Invalid argument", bad.Stderr);
        var tooLong = Ctl("write", "/proc/net/xt_recent/SSH", "+0000:0000:0000:0000:0000:ffff:255.255.255.00255");
        Assert.Equal(1, tooLong.Exit);
        Assert.Contains("Illegal seek", tooLong.Stderr);
        Assert.Contains("src=0000:0000:0000:0000:0000:ffff:ffff:ff19 ", CtlOk("cat", "/proc/net/xt_recent/SSH"));

        // The clock the stamps are in, and the JSON view with ages.
        ulong before = ulong.Parse(CtlOk("cat", "/proc/fastpath/jiffies"));
        Assert.Equal("250\n", CtlOk("cat", "/proc/fastpath/hz"));
        using (var json = JsonDocument.Parse(CtlOk("show", "recent", "SSH", "--json")))
        {
            var root = json.RootElement;
            Assert.Equal(250, root.GetProperty("hz").GetInt32());
            Assert.True(root.GetProperty("now_jiffies").GetUInt64() >= before);
            var entries = root.GetProperty("entries").EnumerateArray().ToList();
            Assert.Equal(41, entries.Count);
            Assert.All(entries, e => Assert.InRange(e.GetProperty("last_seen_age_seconds").GetDouble(), 0, 120));
        }

        // Counters as iptables -L -v -x -n lays them out.
        string counters = CtlOk("show", "counters");
        Assert.Contains("Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)", counters);
        Assert.Matches(@"\n\s+0\s+0 DROP\s+6\s+--\s+\*\s+\*\s+0\.0\.0\.0/0\s+0\.0\.0\.0/0\s+tcp dpt:22 recent: UPDATE seconds: 60 hit_count: 4 TTL-Match name: SSH side: source mask: 255\.255\.255\.255", counters);

        // A bad file is refused with file:line and the running ruleset stays.
        File.WriteAllText(rules, "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m recent --rcheck --name KNOCK --bogus\nCOMMIT\n");
        var refused = Ctl("reload");
        Assert.Equal(1, refused.Exit);
        Assert.Contains($"{rules}:3:", refused.Stderr);
        Assert.Equal("SSH\n", CtlOk("ls", "/proc/net/xt_recent"));

        // So is a file that is gone, as ENOENT naming it.
        File.Move(rules, rules + ".away");
        var gone = Ctl("reload");
        Assert.Equal(1, gone.Exit);
        Assert.Contains("No such file or directory", gone.Stderr);
        Assert.Contains(rules, gone.Stderr);
        // A FIFO in its place is refused at once: reading it would block the management thread.
        TestEnvironment.RunChecked("mkfifo", rules);
        var fifo = Ctl("reload");
        Assert.Equal(1, fifo.Exit);
        Assert.Contains($"{rules}: not a regular file", fifo.Stderr);
        File.Delete(rules);
        // A directory in its place: EISDIR.
        Directory.CreateDirectory(rules);
        var directory = Ctl("reload");
        Assert.Equal((1, $"fastpathctl: reload: Is a directory ({rules}: Is a directory)\n"), (directory.Exit, directory.Stderr));
        Directory.Delete(rules);
        File.Move(rules + ".away", rules);
        Assert.Equal("SSH\n", CtlOk("ls", "/proc/net/xt_recent"));

        // A good one replaces it; a table the new rules still name keeps its entries, as with iptables-restore.
        File.WriteAllText(rules, """
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -m recent --rcheck --name KNOCK --rsource -j ACCEPT
            -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource
            COMMIT
            """);
        CtlOk("reload");
        Assert.Equal("SSH\nKNOCK\n".Split('\n').Order(), CtlOk("ls", "/proc/net/xt_recent").Split('\n').Order());
        Assert.Equal(41, CtlOk("cat", "/proc/net/xt_recent/SSH").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // nfct's timeout subsystem, with nfct's messages and exit status.
        CtlOk("nfct", "add", "timeout", "slow-ssh", "inet", "tcp", "established", "7200");
        var again = Ctl("nfct", "add", "timeout", "slow-ssh", "inet", "tcp", "established", "100");
        Assert.Equal(1, again.Exit);
        Assert.Matches(@"^nfct v[\d.]+: netlink error: Device or resource busy\n$", again.Stderr);
        Assert.Contains(".ESTABLISHED = 7200,", CtlOk("nfct", "timeout", "list"));

        CtlOk("write", "/proc/net/xt_recent/SSH", "/");
        Assert.Equal("", CtlOk("cat", "/proc/net/xt_recent/SSH"));

        fastpath.Terminate();
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"exit {code}\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Assert.False(File.Exists(Socket), "the socket file outlived the daemon");
        var (afterExit, _, stderr) = Ctl("ls", "/proc/net/xt_recent");
        Assert.Equal(2, afterExit);
        Assert.NotEmpty(stderr);
    }
}
