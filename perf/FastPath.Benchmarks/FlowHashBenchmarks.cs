// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Benchmarks;

/// <summary>
/// The per-packet cost of steering: <see cref="FlowHash.Symmetric"/> on already parsed packets, and the owner of a
/// recent key (<see cref="RecentShardMap.OwnerOf"/>), which every packet of a ruleset with recent matches pays when
/// the tables are shared out between workers.
/// </summary>
[MemoryDiagnoser]
public class FlowHashBenchmarks
{
    private const int Keys = 256;

    private ParsedPacket _ipv4Tcp;
    private ParsedPacket _ipv6Udp;
    private readonly InetAddress[] _ipv4Keys = new InetAddress[Keys];
    private readonly InetAddress[] _ipv6Keys = new InetAddress[Keys];
    private readonly RecentShardMap _shards = new(0, 2);

    [GlobalSetup]
    public void Setup()
    {
        _ipv4Tcp = BenchmarkFrames.ParseOrThrow(BenchmarkFrames.Build(PacketKind.Ipv4Tcp), nameof(PacketKind.Ipv4Tcp));
        _ipv6Udp = BenchmarkFrames.ParseOrThrow(BenchmarkFrames.Build(PacketKind.Ipv6Udp), nameof(PacketKind.Ipv6Udp));
        var random = new Random(1);
        var bytes = new byte[16];
        for (int i = 0; i < Keys; i++)
        {
            random.NextBytes(bytes);
            _ipv4Keys[i] = InetAddress.FromIPv4(bytes.AsSpan(0, 4));
            _ipv6Keys[i] = InetAddress.FromIPv6(bytes);
        }
    }

    [Benchmark]
    public uint Ipv4Tcp() => FlowHash.Symmetric(in _ipv4Tcp);

    [Benchmark]
    public uint Ipv6Udp() => FlowHash.Symmetric(in _ipv6Udp);

    [Benchmark(OperationsPerInvoke = Keys)]
    public int RecentOwnerIpv4() => OwnersOf(_ipv4Keys);

    [Benchmark(OperationsPerInvoke = Keys)]
    public int RecentOwnerIpv6() => OwnersOf(_ipv6Keys);

    private int OwnersOf(InetAddress[] keys)
    {
        int sum = 0;
        foreach (ref readonly var key in keys.AsSpan())
            sum += _shards.OwnerOf(key);
        return sum;
    }
}
