// SPDX-License-Identifier: MIT
using FastPath.Core.Recent;
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>Proc writes against the running kernel's xt_recent: errno for errno, entry for entry.</summary>
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
        "/" + new string('x', 46) + "+192.0.2.60", "/" + new string('x', 60), "+192.0.2.61",
        "/", "+203.0.113.9", "/ignored", "+203.0.113.10", "+10.0.0.1\n+10.0.0.2", "-10.0.0.1 ", "+\n1.2.3.4",
        "+1.2.3.4\0junk", "+192.0.2.300", "+0192.0.2.1", "+4294967295", "+2001:db8:0:0:0:0:0:1", "+2001:db8::0:1",
        "+192.0.2.50\0::", "-192.0.2.51\0:", "+192.0.2.52\0junk:",
    ];

    [Fact]
    public void ProcWritesGiveTheKernelsErrnosAndEntries() =>
        Compare(
            [V4(9, new RecentOptions { Name = "DIFF", Command = RecentCommand.Check })],
            [.. Writes.Select(text => new Write("DIFF", text)), new List("DIFF")]);
}
