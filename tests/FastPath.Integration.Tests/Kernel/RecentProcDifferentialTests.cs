// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FastPath.Core;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// The same proc writes against the running kernel's xt_recent (in a network namespace this test creates,
/// with an iptables-legacy rule that creates the table) and against FastPath's table: errno for errno,
/// entry for entry.
/// </summary>
public sealed class RecentProcDifferentialTests
{
    private static readonly string[] Writes =
    [
        "+192.0.2.1", "+192.0.2.1\n", "+192.0.2.1", "+01.002.3.4", "+1.2.3", "+1.2.3.4.5", "+1.2.3.256", "+ 1.2.3.4",
        "+1.2.3.4 ", "+1.2.3.4\njunk", "x1.2.3.4", "-9.9.9.9", "+0.0.0.0", "+255.255.255.255", "+1..2.3", "+",
        "", "-", "+::1", "+2001:db8::1", "+2001:DB8::1", "+::ffff:1.2.3.4", "+1::2::3", "+::", "+fe80::1%eth0",
        "+0000:0000:0000:0000:0000:ffff:255.255.255.255", "+0000:0000:0000:0000:0000:ffff:255.255.255.00255",
        "+0000:0000:0000:0000:0000:ffff:255.255.255.255X", "+1:2:3:4:5:6:7:8", "+1:2:3:4:5:6:7:8:9", "+1:2:3:4:5:6:7",
        "+1:2:3:4:5:6:7::", "+::2:3:4:5:6:7:8", "+12345::1", "+1:2:3:4:5:6:1.2.3.4", "+::1.2.3.4", "+a.b.c.d",
        "-192.0.2.1", "-192.0.2.1", "+198.51.100.7", "+198.51.100.7", "+198.51.100.7", "-2001:db8::1",
        "/", "+203.0.113.9", "/ignored", "+203.0.113.10", "+10.0.0.1\n+10.0.0.2", "-10.0.0.1 ", "+\n1.2.3.4",
        "+1.2.3.4\0junk", "+192.0.2.300", "+0192.0.2.1", "+4294967295", "+2001:db8:0:0:0:0:0:1", "+2001:db8::0:1",
    ];

    [Fact]
    public void ProcWritesGiveTheKernelsErrnosAndEntries()
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable());
        using var ns = new NetworkNamespace();
        TestEnvironment.RunChecked("ip", "netns", "exec", ns.Name, "iptables-legacy", "-A", "INPUT", "-m", "recent", "--name", "DIFF", "--rcheck");
        var kernel = RunKernel(ns, "/proc/net/xt_recent/DIFF");

        var table = new RecentTable("DIFF", InetAddress.AllOnes);
        var errnos = new List<int>();
        ulong now = 1000;
        foreach (string text in Writes)
        {
            Errno errno = RecentProcWrite.TryParse(Encoding.Latin1.GetBytes(text), out var write);
            if (errno == Errno.None && text.Length > 0)
            {
                write.ApplyTo(table, now++);
                errno = write.ResultAfterApply;
            }
            errnos.Add((int)errno);
        }

        for (int i = 0; i < Writes.Length; i++)
            Assert.True(kernel.Errnos[i] == errnos[i], $"write {i} {JsonSerializer.Serialize(Writes[i])}: kernel errno {kernel.Errnos[i]}, FastPath {errnos[i]}");
        Assert.Equal(Summarise(kernel.Listing), Summarise(string.Join("\n", table.Entries().Select(e => e.ProcLine()))));
    }

    /// <summary>Each line without its jiffies values (the clocks differ): address, ttl, oldest_pkt and how many stamps.</summary>
    private static List<string> Summarise(string listing) =>
        listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line =>
            {
                var fields = line.Split(' ');
                // src=ADDR ttl: N last_seen: J oldest_pkt: I s1, s2, ...
                return $"{fields[0]} ttl={fields[2]} oldest_pkt={fields[6]} stamps={fields.Length - 7}";
            })
            .Order()
            .ToList();

    private static (int[] Errnos, string Listing) RunKernel(NetworkNamespace ns, string procPath)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", ns.Name, TestEnvironment.Python, Path.Combine(AppContext.BaseDirectory, "Kernel", "kernel_recent_proc.py"), procPath })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        p.StandardInput.Write(JsonSerializer.Serialize(Writes));
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, error);
        using var json = JsonDocument.Parse(output);
        return (json.RootElement.GetProperty("errnos").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            json.RootElement.GetProperty("listing").GetString()!);
    }
}
