// SPDX-License-Identifier: MIT
using System.Text;
using System.Text.Json;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>show /proc/net/xt_recent/NAME: ages in seconds beside the jiffies, as text and as JSON.</summary>
public sealed class RecentViewTests : IDisposable
{
    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private void Add(string address, ulong at)
    {
        _fixture.Backend.Now = at;
        Assert.True(_fixture.Call(c => c.Write("/proc/net/xt_recent/SSH", Encoding.UTF8.GetBytes("+" + address))).IsOk);
    }

    [Fact]
    public void TheTextViewShowsAgesInSecondsWithThreeDecimals()
    {
        Add("192.0.2.1", 1000);
        Add("192.0.2.1", 2250);
        Add("2001:db8::1", 2500);
        _fixture.Backend.Now = 2813;
        var response = _fixture.Call(c => c.Show("/proc/net/xt_recent/SSH"));
        Assert.True(response.IsOk, response.Message);
        Assert.Equal(
            """
            table SSH: 2 entries, now 2813 jiffies (HZ 250)
            ADDRESS                                  TTL  HITS  LAST SEEN (s ago)  OLDEST STAMP (s ago)
            192.0.2.1                                  0     2              2.252                 7.252
            2001:0db8:0000:0000:0000:0000:0000:0001    0     1              1.252                 1.252

            """.ReplaceLineEndings("\n"),
            response.Text);
    }

    [Fact]
    public void TheJsonViewParsesBackAndSurvivesTheJiffiesWraparound()
    {
        Add("192.0.2.1", ulong.MaxValue - 249); // 250 jiffies before the wrap ...
        Add("2001:db8::1", 100);                // ... and 100 after it
        _fixture.Backend.Now = 350;
        var response = _fixture.Call(c => c.Show("/proc/net/xt_recent/SSH", "json"));
        Assert.True(response.IsOk, response.Message);

        using var json = JsonDocument.Parse(response.Text);
        var root = json.RootElement;
        Assert.Equal("SSH", root.GetProperty("table").GetString());
        Assert.Equal(250, root.GetProperty("hz").GetInt32());
        Assert.Equal(350UL, root.GetProperty("now_jiffies").GetUInt64());
        var entries = root.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(2, entries.Count);

        var v4 = entries[0];
        Assert.Equal("192.0.2.1", v4.GetProperty("address").GetString());
        Assert.Equal("ipv4", v4.GetProperty("family").GetString());
        Assert.Equal(0, v4.GetProperty("ttl").GetInt32());
        Assert.Equal(ulong.MaxValue - 249, v4.GetProperty("last_seen_jiffies").GetUInt64());
        Assert.Equal(2.4, v4.GetProperty("last_seen_age_seconds").GetDouble(), 9);
        Assert.Equal([ulong.MaxValue - 249], v4.GetProperty("stamps_jiffies").EnumerateArray().Select(e => e.GetUInt64()));
        Assert.Equal([2.4], v4.GetProperty("stamp_ages_seconds").EnumerateArray().Select(e => e.GetDouble()));

        var v6 = entries[1];
        Assert.Equal("2001:0db8:0000:0000:0000:0000:0000:0001", v6.GetProperty("address").GetString());
        Assert.Equal("ipv6", v6.GetProperty("family").GetString());
        Assert.Equal(1.0, v6.GetProperty("last_seen_age_seconds").GetDouble(), 9);
    }

    [Fact]
    public void AnEmptyTableAndAnUnknownViewOption()
    {
        var empty = _fixture.Call(c => c.Show("/proc/net/xt_recent/DNS"));
        Assert.StartsWith("table DNS: 0 entries, now 1000000 jiffies (HZ 250)\nADDRESS", empty.Text);
        var json = _fixture.Call(c => c.Show("/proc/net/xt_recent/DNS", "json"));
        Assert.Empty(JsonDocument.Parse(json.Text).RootElement.GetProperty("entries").EnumerateArray());

        var bad = _fixture.Call(c => c.Show("/proc/net/xt_recent/DNS", "yaml"));
        Assert.Equal(ControlError.EINVAL, bad.Error);
        Assert.Contains("yaml", bad.Message);
        var tooMany = _fixture.Call(c => c.Show("/proc/net/xt_recent/DNS", "json", "more"));
        Assert.Equal(ControlError.EINVAL, tooMany.Error);
    }
}
