// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Attributes;
using FastPath.Core.Packets;

namespace FastPath.Benchmarks;

/// <summary><see cref="FlowHash.Symmetric"/> on already parsed packets: the per-packet cost of software steering.</summary>
[MemoryDiagnoser]
public class FlowHashBenchmarks
{
    private ParsedPacket _ipv4Tcp;
    private ParsedPacket _ipv6Udp;

    [GlobalSetup]
    public void Setup()
    {
        _ipv4Tcp = BenchmarkFrames.ParseOrThrow(BenchmarkFrames.Build(PacketKind.Ipv4Tcp), nameof(PacketKind.Ipv4Tcp));
        _ipv6Udp = BenchmarkFrames.ParseOrThrow(BenchmarkFrames.Build(PacketKind.Ipv6Udp), nameof(PacketKind.Ipv6Udp));
    }

    [Benchmark]
    public uint Ipv4Tcp() => FlowHash.Symmetric(in _ipv4Tcp);

    [Benchmark]
    public uint Ipv6Udp() => FlowHash.Symmetric(in _ipv6Udp);
}
