// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Benchmarks;

/// <summary>
/// The cost of one recent match on a table of 100 (the kernel's default), 64K and 1M entries: --rcheck and
/// --update on an address the table holds, and --set on one it does not (which evicts the oldest entry).
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class RecentTableBenchmarks
{
    private const int Probes = 4096;

    private static readonly RecentMatch Check = new(new RecentOptions { Name = "B", Command = RecentCommand.Check, Seconds = 60, HitCount = 4 });
    private static readonly RecentMatch Update = new(new RecentOptions { Name = "B", Command = RecentCommand.Update, Seconds = 60, HitCount = 4 });
    private static readonly RecentMatch Set = new(new RecentOptions { Name = "B", Command = RecentCommand.Set });

    private RecentTable _table = null!;
    private InetAddress[] _present = [];
    private int _nextNew;
    private ulong _now;

    [Params(100, 65_536, 1_048_576)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _table = new RecentTable("B", InetAddress.AllOnes, capacity: Entries);
        _now = 1_000_000;
        for (int i = 0; i < Entries; i++)
            _table.Match(Set, Address(i), false, 64, _now);
        var random = new Random(42);
        _present = Enumerable.Range(0, Probes).Select(_ => Address(random.Next(Entries))).ToArray();
        _nextNew = Entries;
    }

    // 10.0.0.0/8 holds 16M addresses: new ones keep coming until long after every benchmark ends.
    private static InetAddress Address(int i) => InetAddress.FromIPv4(0x0A000000u + (uint)(i & 0xFFFFFF));

    [Benchmark(OperationsPerInvoke = Probes)]
    public int RcheckHit()
    {
        int hits = 0;
        foreach (var a in _present)
            hits += _table.Match(Check, a, false, 64, _now) ? 1 : 0;
        return hits;
    }

    [Benchmark(OperationsPerInvoke = Probes)]
    public int UpdateHit()
    {
        int hits = 0;
        _now++;
        foreach (var a in _present)
            hits += _table.Match(Update, a, false, 64, _now) ? 1 : 0;
        return hits;
    }

    [Benchmark(OperationsPerInvoke = Probes)]
    public int SetNewEvictingOldest()
    {
        int hits = 0;
        _now++;
        for (int i = 0; i < Probes; i++)
            hits += _table.Match(Set, Address(_nextNew++), false, 64, _now) ? 1 : 0;
        return hits;
    }
}
