// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Core.Tests.Recent;

/// <summary>The kernel's recent_mt, step by step, with time injected in jiffies (HZ = 250).</summary>
public class RecentTableTests
{
    private const ulong T0 = 1_000_000;
    private const int Hz = Jiffies.Hz;

    private static readonly RecentOptions Set = new() { Name = "t", Command = RecentCommand.Set };
    private static readonly RecentOptions Check = new() { Name = "t", Command = RecentCommand.Check };
    private static readonly RecentOptions Update = new() { Name = "t", Command = RecentCommand.Update };
    private static readonly RecentOptions Remove = new() { Name = "t", Command = RecentCommand.Remove };

    private static InetAddress V4(string text) => InetAddress.TryParse(text, out var a, out _) ? a : throw new ArgumentException(text);

    private static RecentTable Table(int capacity = 100, int slots = 32, InetAddress? mask = null) =>
        new("t", mask ?? InetAddress.AllOnes, capacity, slots);

    private static bool Hit(RecentTable t, RecentOptions o, string address, ulong now, byte ttl = 64) =>
        t.Match(o, V4(address), ipv6: address.Contains(':'), ttl, now);

    [Fact]
    public void SetAlwaysMatchesAndCreatesTheEntry()
    {
        var t = Table();
        Assert.False(Hit(t, Check, "192.0.2.1", T0));
        Assert.True(Hit(t, Set, "192.0.2.1", T0));
        Assert.True(Hit(t, Set, "192.0.2.1", T0 + 1));
        Assert.True(Hit(t, Check, "192.0.2.1", T0 + 2));
        Assert.False(Hit(t, Check, "192.0.2.2", T0 + 2));
        var entry = Assert.Single(t.Entries());
        Assert.Equal([T0, T0 + 1], entry.Stamps);
    }

    [Fact]
    public void SecondsWindowIncludesItsOldestJiffy()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        var within10 = Check with { Seconds = 10 };
        Assert.True(Hit(t, within10, "192.0.2.1", T0 + 10 * Hz));
        Assert.False(Hit(t, within10, "192.0.2.1", T0 + 10 * Hz + 1));
    }

    [Fact]
    public void HitCountCountsStampsInsideTheWindow()
    {
        var t = Table();
        for (ulong i = 0; i < 3; i++)
            Hit(t, Set, "192.0.2.1", T0 + i * Hz);
        Assert.True(Hit(t, Check with { HitCount = 3 }, "192.0.2.1", T0 + 3 * Hz));
        Assert.False(Hit(t, Check with { HitCount = 4 }, "192.0.2.1", T0 + 3 * Hz));
        // Two of the three stamps are within the last 2 seconds at T0 + 3 s.
        Assert.True(Hit(t, Check with { HitCount = 2, Seconds = 2 }, "192.0.2.1", T0 + 3 * Hz));
        Assert.False(Hit(t, Check with { HitCount = 3, Seconds = 2 }, "192.0.2.1", T0 + 3 * Hz));
    }

    [Fact]
    public void UpdateRefreshesOnlyWhenItMatches()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        Assert.False(Hit(t, Update with { Seconds = 1 }, "192.0.2.1", T0 + 5 * Hz));
        Assert.Single(Assert.Single(t.Entries()).Stamps);
        Assert.True(Hit(t, Update, "192.0.2.1", T0 + 6 * Hz));
        Assert.Equal([T0, T0 + 6 * Hz], Assert.Single(t.Entries()).Stamps);
    }

    [Fact]
    public void InvertedUpdateRefreshesWhenTheCheckFails()
    {
        // The kernel refreshes on the match result after inversion: "! --update" stamps the misses.
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        var notWithinOne = Update with { Seconds = 1, Invert = true };
        Assert.True(Hit(t, notWithinOne, "192.0.2.1", T0 + 5 * Hz));
        Assert.Equal([T0, T0 + 5 * Hz], Assert.Single(t.Entries()).Stamps);
        Assert.False(Hit(t, notWithinOne, "192.0.2.1", T0 + 5 * Hz + 1));
        Assert.Equal(2, Assert.Single(t.Entries()).Stamps.Length);
    }

    [Fact]
    public void InvertedChecksOnAMissingAddressMatch()
    {
        var t = Table();
        Assert.True(Hit(t, Check with { Invert = true }, "192.0.2.9", T0));
        Assert.False(Hit(t, Set with { Invert = true }, "192.0.2.9", T0)); // ! --set still creates the entry
        Assert.Single(t.Entries());
    }

    [Fact]
    public void RemoveMatchesAndForgets()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        Assert.True(Hit(t, Remove, "192.0.2.1", T0 + 1));
        Assert.False(Hit(t, Remove, "192.0.2.1", T0 + 2));
        Assert.Empty(t.Entries());
    }

    [Fact]
    public void RttlMatchesOnlyTheSameTtlButZeroIsAWildcard()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0, ttl: 64);
        var rttl = Check with { Ttl = true };
        Assert.True(Hit(t, rttl, "192.0.2.1", T0, ttl: 64));
        Assert.False(Hit(t, rttl, "192.0.2.1", T0, ttl: 63));
        Assert.True(Hit(t, rttl, "192.0.2.1", T0, ttl: 0));
        Assert.True(Hit(t, Check, "192.0.2.1", T0, ttl: 63)); // without --rttl the TTL is ignored

        t.AddOrRefresh(V4("192.0.2.2"), false, T0); // a proc "+addr" entry has TTL 0
        Assert.True(Hit(t, rttl, "192.0.2.2", T0, ttl: 17));
    }

    [Fact]
    public void SetAndMatchingUpdateRememberThePacketTtl()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0, ttl: 64);
        Hit(t, Update, "192.0.2.1", T0 + 1, ttl: 50);
        Assert.Equal(50, Assert.Single(t.Entries()).Ttl);
        Hit(t, Check, "192.0.2.1", T0 + 2, ttl: 40);
        Assert.Equal(50, Assert.Single(t.Entries()).Ttl);
    }

    [Fact]
    public void AFullTableEvictsTheLeastRecentlyRefreshedEntry()
    {
        var t = Table(capacity: 3);
        Hit(t, Set, "192.0.2.1", T0);
        Hit(t, Set, "192.0.2.2", T0 + 1);
        Hit(t, Set, "192.0.2.3", T0 + 2);
        Hit(t, Check, "192.0.2.1", T0 + 3);   // a check does not refresh
        Hit(t, Update, "192.0.2.2", T0 + 4);  // a matching update does
        Hit(t, Set, "192.0.2.4", T0 + 5);
        Assert.Equal(["192.0.2.3", "192.0.2.2", "192.0.2.4"], t.Entries().Select(e => e.Address.Format(L3Kind.IPv4)));
        Assert.Equal(3, t.Count);
    }

    [Fact]
    public void ReapRemovesTheOldestEntryWhenItIsStale()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        Hit(t, Set, "192.0.2.2", T0 + 10 * Hz);
        var reap = Check with { Seconds = 5, Reap = true };
        Assert.True(Hit(t, reap, "192.0.2.2", T0 + 11 * Hz));
        Assert.Equal(["192.0.2.2"], t.Entries().Select(e => e.Address.Format(L3Kind.IPv4)));
    }

    [Fact]
    public void ReapSparesTheEntryAMatchingUpdateIsAboutToRefresh()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        Hit(t, Set, "192.0.2.1", T0 + 1);
        // The entry is the LRU head and its newest stamp is stale, but the update matched on the older hit count.
        var reapUpdate = Update with { Seconds = 5, Reap = true, Invert = true };
        Assert.True(Hit(t, reapUpdate, "192.0.2.1", T0 + 100 * Hz));
        Assert.Equal(3, Assert.Single(t.Entries()).Stamps.Length);
        // A check on the same stale head removes it.
        Assert.False(Hit(t, Check with { Seconds = 5, Reap = true }, "192.0.2.1", T0 + 200 * Hz));
        Assert.Empty(t.Entries());
    }

    [Fact]
    public void TheTableMaskGroupsAddresses()
    {
        var t = Table(mask: V4("255.255.255.0"));
        Hit(t, Set, "192.0.2.1", T0);
        Assert.True(Hit(t, Check, "192.0.2.200", T0));
        Assert.False(Hit(t, Check, "192.0.3.1", T0));
        Assert.Equal("192.0.2.0", Assert.Single(t.Entries()).Address.Format(L3Kind.IPv4));
    }

    [Fact]
    public void IPv4AndIPv6EntriesLiveSideBySide()
    {
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        Hit(t, Set, "2001:db8::1", T0 + 1);
        Assert.True(Hit(t, Check, "2001:db8::1", T0 + 2));
        Assert.False(Hit(t, Check, "2001:db8::2", T0 + 2));
        Assert.Equal(2, t.Count);
        Assert.Contains(t.Entries(), e => e.ProcLine() == $"src=2001:0db8:0000:0000:0000:0000:0000:0001 ttl: 64 last_seen: {T0 + 1} oldest_pkt: 1 {T0 + 1}");
    }

    [Fact]
    public void TheStampRingWrapsAndTheProcLineShowsItInSlotOrder()
    {
        var t = Table(slots: 4);
        for (ulong i = 0; i < 6; i++)
            Hit(t, Set, "192.0.2.1", T0 + i);
        var entry = Assert.Single(t.Entries());
        // Slots 0 and 1 were overwritten by stamps 4 and 5; index points past slot 1.
        Assert.Equal($"src=192.0.2.1 ttl: 64 last_seen: {T0 + 5} oldest_pkt: 2 {T0 + 4}, {T0 + 5}, {T0 + 2}, {T0 + 3}", entry.ProcLine());
    }

    [Fact]
    public void GrowingTheRingFlushesTheTable()
    {
        var t = Table(slots: 32);
        Hit(t, Set, "192.0.2.1", T0);
        t.EnsureStampSlots(16);
        Assert.Single(t.Entries());
        t.EnsureStampSlots(64);
        Assert.Empty(t.Entries());
        Assert.Equal(64, t.StampSlots);
    }

    [Fact]
    public void SecondsTimesHzWrapsAt32BitsLikeTheKernel()
    {
        // 17179870 s * 250 = 2^32 + 204: the kernel's window is then only 204 jiffies wide.
        var t = Table();
        Hit(t, Set, "192.0.2.1", T0);
        var huge = Check with { Seconds = 17_179_870 };
        Assert.True(Hit(t, huge, "192.0.2.1", T0 + 204));
        Assert.False(Hit(t, huge, "192.0.2.1", T0 + 205));
    }

    [Fact]
    public void EntriesAreReusedWithoutGrowing()
    {
        var t = Table(capacity: 2);
        for (int i = 0; i < 1000; i++)
            Hit(t, Set, $"10.0.{i / 256}.{i % 256}", T0 + (ulong)i);
        Assert.Equal(2, t.Count);
        Assert.Equal(["10.0.3.230", "10.0.3.231"], t.Entries().Select(e => e.Address.Format(L3Kind.IPv4)));
    }

    [Fact]
    public void PrefetchingABucketChangesNothing()
    {
        var t = Table(capacity: 65536);
        Hit(t, Set, "192.0.2.1", T0);
        t.PrefetchBucket(V4("192.0.2.1"), ipv6: false);
        t.PrefetchBucket(V4("198.51.100.7"), ipv6: false);
        Assert.Equal(1, t.Count);
        Assert.True(Hit(t, Check, "192.0.2.1", T0 + 1));
        Assert.False(Hit(t, Check, "198.51.100.7", T0 + 1));
    }

    [Fact]
    public void TheKernelsDefaultTableIsTooSmallToPrefetchAndA64KEntryTableIsNot()
    {
        Assert.True(Table(capacity: 100).FootprintBytes < RulesetState.PrefetchedTableBytes);
        Assert.True(Table(capacity: 65536).FootprintBytes >= RulesetState.PrefetchedTableBytes);
    }
}
