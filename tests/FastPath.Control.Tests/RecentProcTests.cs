// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core.Recent;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>/proc/net/xt_recent over the socket: what the kernel's proc files answer, errno for errno.</summary>
public sealed class RecentProcTests : IDisposable
{
    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private ControlResponse Write(string table, string data) =>
        _fixture.Call(c => c.Write($"/proc/net/xt_recent/{table}", Encoding.UTF8.GetBytes(data)));

    private string Read(string table)
    {
        var response = _fixture.Call(c => c.Read($"/proc/net/xt_recent/{table}"));
        Assert.True(response.IsOk, response.Message);
        return response.Text;
    }

    /// <summary>As a raw read of the kernel's directory gives them: by length, then by bytes (the rules create SSH first).</summary>
    [Fact]
    public void ListNamesTheTablesInProcfsOrder()
    {
        var response = _fixture.Call(c => c.List("/proc/net/xt_recent"));
        Assert.True(response.IsOk);
        Assert.Equal("DNS\nSSH\n", response.Text);
        Assert.Equal("DNS\nSSH\n", _fixture.Call(c => c.List("/proc/net/xt_recent/")).Text);
    }

    /// <summary>Paths resolve as the kernel resolves them when a file is opened (Linux 6.18, /proc/net/xt_recent).</summary>
    [Fact]
    public void PathsResolveAsOpeningTheFileWould()
    {
        Assert.True(_fixture.Call(c => c.Read("/proc/net/xt_recent/../xt_recent//SSH")).IsOk);
        Assert.True(_fixture.Call(c => c.Read("/proc/net/./xt_recent/./SSH")).IsOk);
        Assert.Equal(ControlError.ENOTDIR, _fixture.Call(c => c.Read("/proc/net/xt_recent/SSH/")).Error);
        Assert.Equal(ControlError.ENOTDIR, _fixture.Call(c => c.Write("/proc/net/xt_recent/SSH/", "/"u8.ToArray())).Error);
        Assert.Equal(ControlError.ENOENT, _fixture.Call(c => c.Read("/proc/net/xt_recent/NOPE/")).Error);
        Assert.Equal(ControlError.EISDIR, _fixture.Call(c => c.Write("/proc/net/xt_recent/", "/"u8.ToArray())).Error);
        Assert.Equal(ControlError.EISDIR, _fixture.Call(c => c.Read("/proc/net/xt_recent")).Error);
    }

    [Fact]
    public void ReadPrintsTheKernelsLinesWithIPv6FullyExpanded()
    {
        _fixture.Backend.Now = 5000;
        Assert.True(Write("SSH", "+192.0.2.1\n").IsOk);
        _fixture.Backend.Now = 5250;
        Assert.True(Write("SSH", "+2001:db8::7").IsOk);
        Assert.True(Write("SSH", "+192.0.2.1").IsOk);
        Assert.Equal(
            "src=2001:0db8:0000:0000:0000:0000:0000:0007 ttl: 0 last_seen: 5250 oldest_pkt: 1 5250\n"
            + "src=192.0.2.1 ttl: 0 last_seen: 5250 oldest_pkt: 2 5000, 5250\n",
            Read("SSH"));
        Assert.Equal("", Read("DNS"));
    }

    [Fact]
    public void AMissingTableIsENOENTForReadWriteAndShow()
    {
        foreach (var response in new[]
        {
            _fixture.Call(c => c.Read("/proc/net/xt_recent/NOPE")),
            _fixture.Call(c => c.Show("/proc/net/xt_recent/NOPE")),
            Write("NOPE", "+192.0.2.1"),
            Write("NOPE", "garbage"), // the missing file fails before the write is parsed
            Write("NOPE", ""),
        })
        {
            Assert.Equal(ControlError.ENOENT, response.Error);
            Assert.Equal("no recent table named 'NOPE'", response.Message);
        }
    }

    [Theory]
    [InlineData("192.0.2.1")]        // no command character
    [InlineData("+192.0.2")]         // three octets
    [InlineData("+192.0.2.256")]
    [InlineData("+ 192.0.2.1")]      // no spaces
    [InlineData("+2001:db8::g")]
    [InlineData("+1::2::3")]         // "::" twice
    [InlineData("+fe80::1%eth0")]    // no zone
    [InlineData("\n")]
    public void BadInputIsEINVALAndChangesNothing(string data)
    {
        Assert.True(Write("SSH", "+198.51.100.9").IsOk);
        var response = Write("SSH", data);
        Assert.Equal(ControlError.EINVAL, response.Error);
        Assert.NotEmpty(response.Message);
        Assert.StartsWith("src=198.51.100.9 ", Read("SSH"));
    }

    [Theory]
    [InlineData("+10.0.0.1 ", "'+10.0.0.1 ': not an IPv4 address as the kernel reads it (in4_pton)")]
    [InlineData("\n+1.2.3.4", "a write is +ADDR, -ADDR or /, got '\\n+1.2.3.4'")]
    [InlineData("+::1\t\u0001\\", "'+::1\\t\\x01\\\\': not an IPv6 address as the kernel reads it (in6_pton)")]
    public void ARefusedWriteIsQuotedAsCWouldQuoteIt(string data, string message)
    {
        var response = Write("SSH", data);
        Assert.Equal((ControlError.EINVAL, message), (response.Error, response.Message));
    }

    [Fact]
    public void TheKernelsParserRulesHoldOverTheSocket()
    {
        Assert.True(Write("SSH", "+010.000.002.001\nanything after the newline").IsOk); // leading zeros are decimal
        Assert.True(Write("SSH", "+::ffff:192.0.2.9").IsOk);
        Assert.True(Write("SSH", "+0:0:0:0:0:0:0:1\0tail").IsOk);
        Assert.Equal(
            "src=10.0.2.1 ttl: 0 last_seen: 1000000 oldest_pkt: 1 1000000\n"
            + "src=0000:0000:0000:0000:0000:ffff:c000:0209 ttl: 0 last_seen: 1000000 oldest_pkt: 1 1000000\n"
            + "src=0000:0000:0000:0000:0000:0000:0000:0001 ttl: 0 last_seen: 1000000 oldest_pkt: 1 1000000\n",
            Read("SSH"));
    }

    [Fact]
    public void AnEmptyWriteSucceedsAndDoesNothing()
    {
        Assert.True(Write("SSH", "+192.0.2.1").IsOk);
        var response = Write("SSH", "");
        Assert.True(response.IsOk);
        Assert.Empty(response.Body);
        Assert.StartsWith("src=192.0.2.1 ", Read("SSH"));
    }

    [Fact]
    public void AWriteOver47BytesIsAppliedAndAnswersESPIPE()
    {
        string data = "+192.0.2.44\n" + new string('x', 36); // 48 bytes: the kernel reads 47 of them
        Assert.Equal(48, data.Length);
        var response = Write("SSH", data);
        Assert.Equal(ControlError.ESPIPE, response.Error);
        Assert.Equal("Illegal seek", response.Error!.StrError);
        Assert.StartsWith("src=192.0.2.44 ", Read("SSH"));

        Assert.True(Write("SSH", "+192.0.2.45\n" + new string('x', 35)).IsOk); // exactly 47
    }

    [Fact]
    public void MinusRemovesOneAddressAndSlashFlushes()
    {
        foreach (string address in new[] { "+192.0.2.1", "+192.0.2.2", "+2001:db8::1" })
            Assert.True(Write("SSH", address).IsOk);
        Assert.True(Write("SSH", "-192.0.2.1").IsOk);
        Assert.True(Write("SSH", "-192.0.2.99").IsOk); // a missing entry is no error
        Assert.DoesNotContain("192.0.2.1 ", Read("SSH"));
        Assert.Equal(2, Read("SSH").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        Assert.True(Write("SSH", "/ and whatever follows").IsOk);
        Assert.Equal("", Read("SSH"));
    }

    [Fact]
    public void AFlushOver47BytesGoesOnWithTheRestAsAWriteOfItsOwn()
    {
        // The kernel leaves the file offset at 0 after "/", so echo's next write of the rest is parsed afresh.
        Assert.True(Write("SSH", "+192.0.2.1").IsOk);
        Assert.True(Write("SSH", "/" + new string('x', 46) + "+192.0.2.2").IsOk);
        Assert.StartsWith("src=192.0.2.2 ", Read("SSH"));
        Assert.Single(Read("SSH").Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var response = Write("SSH", "/" + new string('x', 50)); // flushed, then "xxxx" is refused
        Assert.Equal(ControlError.EINVAL, response.Error);
        Assert.Contains("'xxxx'", response.Message);
        Assert.Equal("", Read("SSH"));
    }

    [Fact]
    public void AColonAfterANulLeavesTheWriteIPv4()
    {
        Assert.True(Write("SSH", "+192.0.2.3\0::").IsOk);
        Assert.StartsWith("src=192.0.2.3 ", Read("SSH"));
    }

    [Fact]
    public void AProcEntryHasTtlZeroSoItMatchesAnyRttlCheck()
    {
        Assert.True(Write("SSH", "+192.0.2.7").IsOk);
        // --rttl with a proc entry (TTL 0): the kernel's wildcard, so the fourth SYN within the minute is dropped.
        for (int i = 0; i < 3; i++)
            _fixture.Backend.Evaluate(Syn("192.0.2.7", ttl: 33));
        Assert.Equal(Core.Rules.RuleVerdict.Drop, _fixture.Backend.Evaluate(Syn("192.0.2.7", ttl: 33)));
        Assert.Contains("src=192.0.2.7 ttl: 33 ", Read("SSH"));
    }

    [Fact]
    public void JiffiesAndHzAreReadable()
    {
        _fixture.Backend.Now = 123_456_789;
        Assert.Equal("123456789\n", _fixture.Call(c => c.Read("/proc/fastpath/jiffies")).Text);
        Assert.Equal($"{Jiffies.Hz}\n", _fixture.Call(c => c.Read("/proc/fastpath/hz")).Text);
        Assert.Equal("250\n", _fixture.Call(c => c.Read("/proc/fastpath/hz")).Text);
    }

    internal static byte[] Syn(string source, byte ttl = 64) =>
        Testing.TestFrames.Ethernet(Testing.TestFrames.EtherTypeIPv4,
            Testing.TestFrames.Ipv4(6, Testing.TestFrames.Tcp(40000, 22, 0x02), source, "198.51.100.1", ttl: ttl));
}
