// SPDX-License-Identifier: MIT
using FastPath.Core.Recent;
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>Classic recent rulesets, packet by packet against the running kernel (see <see cref="KernelRecentHarness"/>).</summary>
public sealed class RecentMatchDifferentialTests
{
    private const ushort Ssh = 22;

    private static RecentOptions R(string name, RecentCommand command) => new() { Name = name, Command = command };

    [Fact]
    public void SshBruteForceLimiterWithRttlAndProcWrites()
    {
        var rules = new[]
        {
            V4(Ssh, R("SSH", RecentCommand.Update) with { Seconds = 2, HitCount = 3, Ttl = true }),
            V4(Ssh, R("SSH", RecentCommand.Set)),
        };
        var events = new List<Event>();
        for (int i = 0; i < 5; i++)
            events.Add(Packet("192.0.2.10", Ssh));
        events.Add(Packet("192.0.2.10", Ssh, ttl: 50)); // another TTL: --rttl misses, --set refreshes and takes TTL 50
        events.Add(Packet("192.0.2.11", Ssh));
        events.Add(new Sleep(2.6));
        events.Add(Packet("192.0.2.10", Ssh, ttl: 50)); // the burst is out of the window now
        for (int i = 0; i < 3; i++)
            events.Add(new Write("SSH", "+192.0.2.77"));
        events.Add(Packet("192.0.2.77", Ssh, ttl: 64)); // proc entries have TTL 0: a wildcard for --rttl
        events.Add(new List("SSH"));
        Compare(rules, events);
    }

    [Fact]
    public void PortKnocking()
    {
        var rules = new[]
        {
            V4(1001, R("KNOCK", RecentCommand.Set)),
            V4(Ssh, R("KNOCK", RecentCommand.Check) with { Seconds = 3 }),
            V4(1003, R("KNOCK", RecentCommand.Remove)),
        };
        Compare(rules,
        [
            Packet("198.51.100.5", Ssh), Packet("198.51.100.5", 1001), Packet("198.51.100.5", Ssh), Packet("198.51.100.6", Ssh),
            Packet("198.51.100.5", 1003), Packet("198.51.100.5", Ssh), Packet("198.51.100.5", 1003), Packet("198.51.100.5", 1001),
            new Sleep(3.6), Packet("198.51.100.5", Ssh), new List("KNOCK"),
        ]);
    }

    [Fact]
    public void AFullTableEvictsTheLeastRecentlyUsedEntry()
    {
        var rules = new[] { V4(7, R("LRU", RecentCommand.Set)), V4(8, R("LRU", RecentCommand.Update)), V4(9, R("LRU", RecentCommand.Check)) };
        var events = new List<Event>();
        for (int i = 0; i < 100; i++)
            events.Add(Packet($"10.1.{i / 250}.{i % 250 + 1}", 7));
        events.Add(Packet("10.1.0.1", 9)); // a check does not make 10.1.0.1 recent
        events.Add(Packet("10.1.0.2", 8)); // a matching update does
        for (int i = 100; i < 104; i++)
            events.Add(Packet($"10.1.{i / 250}.{i % 250 + 1}", 7));
        foreach (string probe in new[] { "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.6", "10.1.0.7", "10.1.0.104" })
            events.Add(Packet(probe, 9));
        events.Add(new List("LRU"));
        Compare(rules, events);
    }

    [Fact]
    public void TheMaskOfTheRuleThatCreatedTheTableGroupsAddresses()
    {
        var slash24 = Mask("255.255.255.0");
        var rules = new[]
        {
            V4(7, R("NET", RecentCommand.Set) with { Mask = slash24 }),
            V4(8, R("NET", RecentCommand.Check)), // no --mask of its own: the table keeps the /24
            V4(9, R("NET", RecentCommand.Check) with { Side = RecentSide.Destination }),
        };
        Compare(rules,
        [
            Packet("192.0.2.1", 7), Packet("192.0.2.99", 8), Packet("192.0.3.1", 8), Packet("203.0.113.1", 9, destination: "192.0.2.250"),
            new Write("NET", "+198.51.100.77"), Packet("198.51.100.1", 8), Packet("198.51.100.77", 8), new List("NET"),
        ]);
    }

    [Fact]
    public void IPv6RulesShareTheTableWithIPv4Rules()
    {
        var rules = new[]
        {
            V4(7, R("BOTH", RecentCommand.Set)),
            V6(7, R("BOTH", RecentCommand.Set)),
            V6(8, R("BOTH", RecentCommand.Check) with { HitCount = 2 }),
            V4(8, R("BOTH", RecentCommand.Check)),
        };
        Compare(rules,
        [
            Packet("2001:db8::1", 7), Packet("2001:db8::1", 8), Packet("2001:db8::1", 7), Packet("2001:db8::1", 8),
            Packet("192.0.2.1", 8), Packet("192.0.2.1", 7), Packet("192.0.2.1", 8), Packet("2001:db8::2", 8),
            new Write("BOTH", "-2001:db8::1"), Packet("2001:db8::1", 8), new List("BOTH"),
        ]);
    }

    [Fact]
    public void ReapAndInvertedUpdate()
    {
        var rules = new[]
        {
            V4(7, R("REAP", RecentCommand.Set)),
            V4(8, R("REAP", RecentCommand.Check) with { Seconds = 1, Reap = true }),
            V4(9, R("REAP", RecentCommand.Update) with { Seconds = 1, Invert = true }),
        };
        Compare(rules,
        [
            Packet("192.0.2.1", 7), new Sleep(1.4), Packet("192.0.2.2", 7),
            Packet("192.0.2.2", 8),                       // matches; reaps the stale LRU head 192.0.2.1
            Packet("192.0.2.1", 8),                       // gone
            Packet("192.0.2.2", 9),                       // recent, so "! --update" does not match and does not refresh
            new Sleep(1.4), Packet("192.0.2.2", 9),       // stale: "! --update" matches and refreshes
            Packet("192.0.2.2", 9), new List("REAP"),
        ]);
    }
}
