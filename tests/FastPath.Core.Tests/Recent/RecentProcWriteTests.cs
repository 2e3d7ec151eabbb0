// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using Xunit;

namespace FastPath.Core.Tests.Recent;

/// <summary>Proc writes, with the answers Linux 6.x gave to the same bytes (see docs/xt_recent-compatibility.md).</summary>
public class RecentProcWriteTests
{
    [Theory]
    [InlineData("+1.2.3.4", "1.2.3.4")]
    [InlineData("+1.2.3.4\n", "1.2.3.4")]
    [InlineData("+01.002.3.4", "1.2.3.4")]
    [InlineData("+1.2.3.4\njunk", "1.2.3.4")]
    [InlineData("+0.0.0.0", "0.0.0.0")]
    [InlineData("+::1", "0000:0000:0000:0000:0000:0000:0000:0001")]
    [InlineData("+::", "0000:0000:0000:0000:0000:0000:0000:0000")]
    [InlineData("+2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001")]
    [InlineData("+::ffff:1.2.3.4", "0000:0000:0000:0000:0000:ffff:0102:0304")]
    [InlineData("+0000:0000:0000:0000:0000:ffff:255.255.255.255", "0000:0000:0000:0000:0000:ffff:ffff:ffff")]
    [InlineData("+0000:0000:0000:0000:0000:0000:0000:0001", "0000:0000:0000:0000:0000:0000:0000:0001")]
    [InlineData("-9.9.9.9", "9.9.9.9")]
    public void AcceptedWrites(string input, string address)
    {
        Assert.Equal(Errno.None, RecentProcWrite.TryParse(Encoding.ASCII.GetBytes(input), out var write));
        Assert.Equal(address, write.Address.Format(write.IsIPv6 ? L3Kind.IPv6 : L3Kind.IPv4));
        Assert.Equal(input[0] == '+' ? RecentProcWriteKind.Add : RecentProcWriteKind.Remove, write.Kind);
    }

    [Theory]
    [InlineData("+1.2.3")]
    [InlineData("+1.2.3.4.5")]
    [InlineData("+1.2.3.256")]
    [InlineData("+ 1.2.3.4")]
    [InlineData("+1.2.3.4 ")]
    [InlineData("x1.2.3.4")]
    [InlineData("+1::2::3")]
    [InlineData("+fe80::1%eth0")]
    [InlineData("+")]
    [InlineData("+1..2.3")]
    [InlineData("+12345::1")]
    public void RefusedWritesAreEinval(string input) =>
        Assert.Equal(Errno.EINVAL, RecentProcWrite.TryParse(Encoding.ASCII.GetBytes(input), out _));

    [Fact]
    public void AnEmptyWriteSucceedsAndChangesNothing()
    {
        var table = new RecentTable("T", InetAddress.AllOnes);
        table.AddOrRefresh(InetAddress.FromIPv4(0x0A000001), false, 100);
        Assert.Equal(Errno.None, RecentProcWrite.TryParse(ReadOnlySpan<byte>.Empty, out var write));
        Assert.Equal(RecentProcWriteKind.Nothing, write.Kind);
        write.ApplyTo(table, 200);
        Assert.Single(table.Entries());
    }

    [Fact]
    public void SlashFlushesWhateverFollows()
    {
        Assert.Equal(Errno.None, RecentProcWrite.TryParse("/anything"u8, out var write));
        Assert.Equal(RecentProcWriteKind.Flush, write.Kind);
    }

    [Fact]
    public void OnlyTheFirst47BytesAreReadAndTheRestFailsWithEspipe()
    {
        // 48 characters: the kernel parses the first 47, "...255.0025",, adds ::ffff:ffff:ff19 and then
        // refuses the leftover byte, so `echo` reports "Illegal seek" although the entry was added.
        Assert.Equal(Errno.None, RecentProcWrite.TryParse("+0000:0000:0000:0000:0000:ffff:255.255.255.00255"u8, out var write));
        Assert.Equal("0000:0000:0000:0000:0000:ffff:ffff:ff19", write.Address.Format(L3Kind.IPv6));
        Assert.Equal(Errno.ESPIPE, write.ResultAfterApply);
        // The 47th byte is still inside the buffer: junk there is refused.
        Assert.Equal(Errno.EINVAL, RecentProcWrite.TryParse("+0000:0000:0000:0000:0000:ffff:255.255.255.255X"u8, out _));
        RecentProcWrite.TryParse("+1.2.3.4"u8, out var shortWrite);
        Assert.Equal(Errno.None, shortWrite.ResultAfterApply);
    }

    [Fact]
    public void WritesApplyUnmaskedWithTtlZeroAndRemovingAMissingAddressIsFine()
    {
        var table = new RecentTable("t", InetAddress.AllOnes);
        RecentProcWrite.TryParse("+192.0.2.1"u8, out var add);
        add.ApplyTo(table, 100);
        add.ApplyTo(table, 101);
        var entry = Assert.Single(table.Entries());
        Assert.Equal("src=192.0.2.1 ttl: 0 last_seen: 101 oldest_pkt: 2 100, 101", entry.ProcLine());
        RecentProcWrite.TryParse("-192.0.2.77"u8, out var removeMissing);
        removeMissing.ApplyTo(table, 102);
        Assert.Single(table.Entries());
        RecentProcWrite.TryParse("/"u8, out var flush);
        flush.ApplyTo(table, 103);
        Assert.Empty(table.Entries());
    }

    /// <summary>The kernel looks for the ':' that makes a write IPv6 with strnchr, which stops at a NUL.</summary>
    [Theory]
    [InlineData("+1.2.3.4\0::", RecentProcWriteKind.Add)]
    [InlineData("-1.2.3.4\0:", RecentProcWriteKind.Remove)]
    public void AColonAfterANulDoesNotMakeTheWriteIPv6(string input, RecentProcWriteKind kind)
    {
        Assert.Equal(Errno.None, RecentProcWrite.TryParse(Encoding.ASCII.GetBytes(input), out var write));
        Assert.Equal(kind, write.Kind);
        Assert.False(write.IsIPv6);
        Assert.Equal("1.2.3.4", write.Address.Format(L3Kind.IPv4));
    }

    /// <summary>
    /// A flush longer than the kernel's 47-byte buffer leaves the file offset at 0, so a writer's next write of the
    /// rest is parsed as a write of its own; an add longer than the buffer moved the offset, and the rest is ESPIPE.
    /// </summary>
    [Theory]
    [InlineData(46, "+192.0.2.7", Errno.None, "192.0.2.7")]
    [InlineData(46, "/+192.0.2.7", Errno.None, "")]
    [InlineData(46, "junk", Errno.EINVAL, "")]
    [InlineData(10, "+192.0.2.7", Errno.None, "")] // 21 bytes: one flush, the rest of the buffer is ignored
    [InlineData(46, "+192.0.2.7\nyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", Errno.ESPIPE, "192.0.2.7")]
    public void AWriterGoesOnWithTheRestOfALongFlushAsANewWrite(int padding, string rest, Errno result, string entries)
    {
        var table = new RecentTable("T", InetAddress.AllOnes);
        table.AddOrRefresh(InetAddress.FromIPv4(0xC0000263), false, 100);
        var writes = new List<RecentProcWriteKind>();
        var errno = RecentProcWrite.WriteAll(Encoding.ASCII.GetBytes("/" + new string('x', padding) + rest), write =>
        {
            writes.Add(write.Kind);
            write.ApplyTo(table, 200);
            return Errno.None;
        }, out _);
        Assert.Equal(result, errno);
        Assert.Equal(RecentProcWriteKind.Flush, writes[0]);
        Assert.Equal(entries, string.Join(",", table.Entries().Select(e => e.Address.Format(L3Kind.IPv4))));
    }

    [Fact]
    public void WriteAllStopsAtTheFirstErrorOfTheTableAndNamesWhereTheLastWriteBegan()
    {
        var errno = RecentProcWrite.WriteAll(Encoding.ASCII.GetBytes("/" + new string('x', 46) + "+192.0.2.7"), write =>
            write.Kind == RecentProcWriteKind.Flush ? Errno.ENOENT : Errno.None, out int lastAt);
        Assert.Equal(Errno.ENOENT, errno);
        Assert.Equal(0, lastAt);
        Assert.Equal(Errno.EINVAL, RecentProcWrite.WriteAll(Encoding.ASCII.GetBytes("/" + new string('x', 46) + "bad"), _ => Errno.None, out lastAt));
        Assert.Equal(RecentProcWrite.BufferSize, lastAt);
    }
}
