// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Logging;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Dataplane.Tests.Workers;

/// <summary>
/// "A malformed packet is counted under a named drop reason and never crashes a worker": frames of every kind the
/// parsers, the trackers and the LOG line read, damaged at random at the transport layer (checksums made right
/// again, so the damage reaches the trackers), at the IP layer (IPv4 header checksum made right again) or anywhere,
/// through two workers with software steering, a ruleset that tracks, logs, limits and keeps recent tables. Every
/// frame must leave or be dropped under a reason, and every log line must be whole.
/// </summary>
public partial class MalformedFrameFuzzTests
{
    private static readonly string[] Ports = ["a", "b"];

    private const string Ipv4Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
        -A PREROUTING -p tcp -j CT --timeout fuzz
        -A PREROUTING -j LOG --log-prefix "raw " --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j LOG --log-prefix "invalid " --log-macdecode --log-ip-options --log-tcp-options
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        -A FORWARD -p tcp -m multiport --dports 22,80:90 -m recent --update --seconds 5 --hitcount 3 --rttl --name A --rsource -j DROP
        -A FORWARD -p tcp -m recent --set --name A --rsource -j ACCEPT
        -A FORWARD -p udp -m length --length 0:100 -m recent --rcheck --name B --rdest --mask 255.255.0.0 -j DROP
        -A FORWARD -p udp -m recent --set --name B --rdest --mask 255.255.0.0 -j ACCEPT
        -A FORWARD -p icmp -m icmp --icmp-type echo-request -m limit --limit 100/sec -j ACCEPT
        -A FORWARD -m ttl --ttl-lt 10 -j DROP
        -A FORWARD -m pkttype --pkt-type broadcast -j DROP
        -A FORWARD -m iprange --src-range 10.0.0.1-10.0.0.100 -j ACCEPT
        -A FORWARD -m conntrack --ctstate NEW,UNTRACKED -j LOG --log-prefix "new "
        COMMIT
        """;

    private const string Ipv6Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -j CT --timeout fuzz6
        -A PREROUTING -j LOG --log-prefix "raw6 " --log-tcp-sequence --log-tcp-options --log-ip-options
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j LOG --log-prefix "invalid6 " --log-macdecode --log-ip-options
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        -A FORWARD -p tcp -m recent --update --seconds 5 --hitcount 2 --name A --rsource -j DROP
        -A FORWARD -p tcp -m recent --set --name A --rsource -j ACCEPT
        -A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT
        -A FORWARD -m hl --hl-lt 10 -j DROP
        -A FORWARD -p udp -m recent --set --name C --rdest --mask ffff:ffff:: -j ACCEPT
        COMMIT
        """;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void DamagedFramesAreForwardedOrDroppedUnderAReasonAndNeverStopAWorker(int seed)
    {
        const int workers = 2;
        var random = new Random(seed);
        var seeds = SeedFrames();
        var a = new MemoryPort("a", workers, hashesFlowsToQueues: false) { CaptureTransmitted = true };
        var b = new MemoryPort("b", workers, hashesFlowsToQueues: false) { CaptureTransmitted = true };
        int total = 0;
        for (int q = 0; q < workers; q++)
        {
            var frames = Enumerable.Range(0, 3000).Select(_ => Damage(seeds[random.Next(seeds.Count)], random)).ToList();
            a.Load(q, frames, frames.Select((_, i) => 1_000_000_000L + i * 1_000_000L).ToList());
            total += frames.Count;
        }
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("fuzz", TimeoutPolicyRegistry.InetFamily, 6, new Dictionary<int, uint> { [0] = 50 }));
        Assert.Equal(Errno.None, registry.Create("fuzz6", TimeoutPolicyRegistry.Inet6Family, 6, new Dictionary<int, uint> { [0] = 60 }));
        var compiled = new CompiledRuleset(RulesetParser.Parse(Ipv4Rules, "fuzz.rules", L3Kind.IPv4),
            RulesetParser.Parse(Ipv6Rules, "fuzz6.rules", L3Kind.IPv6), Ports, timeouts: registry);
        var logs = Enumerable.Range(0, workers).Select(_ => new MemoryStream()).ToArray();
        var states = Enumerable.Range(0, workers)
            .Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(64), new RecentShardMap(w, workers),
                new ConnectionTracker(registry, 1024, w, workers), PacketLog.Immediate(Ports, logs[w])))
            .ToArray();
        var host = new DataplaneHost<RulesetVerdict>([a, b], [(0, 1)], new DataplaneOptions { Workers = workers }, w => new RulesetVerdict(states[w], [1, 0]));

        host.RunToCompletion(TimeSpan.FromSeconds(60));

        var c = host.ReadCounters();
        Assert.Equal(total, c.RxPackets[0]);
        Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
        long malformed = Enum.GetValues<DropReason>().Where(r => r > DropReason.None && r < DropReason.MultiSegment).Sum(r => c.Drops(r));
        Assert.True(malformed > total / 20, $"only {malformed} of {total} frames refused by the parsers: the damage is too mild to test them");
        Assert.True(c.TxPackets[1] > total / 20, $"only {c.TxPackets[1]} of {total} frames forwarded: the damage is too heavy to reach the rules");
        var lines = logs.SelectMany(log => Encoding.ASCII.GetString(log.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.True(lines.Count > total / 10, $"only {lines.Count} log lines");
        Assert.All(lines, line => Assert.Matches(LogLine(), line));
    }

    [GeneratedRegex(@"^<[0-7]>\[ *\d+\.\d{6}\] (raw|invalid|new|raw6|invalid6) IN=a OUT=(b)? MAC[=A-Z]")]
    private static partial Regex LogLine();

    /// <summary>One of each kind of frame, as (bytes, the layer damage may start at: transport first, then IP, then the frame).</summary>
    private static List<Seed> SeedFrames()
    {
        byte[] tcpOptions = [2, 4, 5, 0xB4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
        byte[] recordRoute = [7, 11, 4, 10, 0, 0, 1, 0, 0, 0, 0, 0];
        byte[] quotedUdp = Cut(Ipv4(17, Udp(40000, 53)), 28);
        byte[] quotedTcp = Cut(Ipv4(6, Tcp(40000, 22)), 28);
        byte[] quoted6 = Cut(Ipv6(17, Udp(40000, 53)), 48);
        return
        [
            Seed.V4(6, Tcp(40000, 22, 0x02, tcpOptions)),
            Seed.V4(6, Tcp(40001, 80, 0x18, data: new byte[40])),
            Seed.V4(6, Tcp(22, 40000, 0x12, tcpOptions), source: Server4, destination: Client4),
            Seed.V4(6, Tcp(40002, 85, 0x10), options: recordRoute),
            Seed.V4(17, Udp(40000, 53, new byte[30])),
            Seed.V4(17, Udp(40000, 5353, new byte[10]), destination: "224.0.0.251"),
            Seed.V4(1, Icmp(8, 0, 7, 1, new byte[16])),
            Seed.V4(1, Icmp(3, 3, data: quotedUdp), source: "192.0.2.254"),
            Seed.V4(1, Icmp(11, 0, data: quotedTcp), source: "192.0.2.254"),
            Seed.V4(132, Sctp(5000, 5001, 0, SctpInit(1, 0x1234))),
            Seed.V4(47, Gre(payload: new byte[20])),
            Seed.V4(47, PptpGre(7, payload: new byte[12])),
            Seed.V4(99, new byte[24]),
            new(Ethernet(EtherTypeIPv4, Ipv4(17, new byte[16], moreFragments: true)), Layer.Ip),
            new(Ethernet(EtherTypeIPv4, Ipv4(17, new byte[16], fragmentOffset: 64)), Layer.Ip),
            new(Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(40003, 22)), (Tpid8021Q, 5)), Layer.Frame),
            new(Ethernet(EtherTypeIPv4, Ipv4(17, Udp(1, 2)), (Tpid8021AD, 5), (Tpid8021Q, 6)), Layer.Frame),
            new(Ethernet(EtherTypeArp, new byte[28]), Layer.Frame),
            Seed.V6(6, Tcp(40000, 22, 0x02, tcpOptions)),
            Seed.V6(17, Udp(40000, 53, new byte[20])),
            Seed.V6(58, Icmp(128, 0, 1, 1, new byte[8])),
            Seed.V6(58, Icmp(1, 4, data: quoted6), source: "2001:db8::fe"),
            Seed.V6(58, Icmp(2, 0, data: quoted6), source: "2001:db8::fe"),
            Seed.V6(0, Concat(HopByHop(60), DestinationOptions(6), Tcp(40004, 80))),
            Seed.V6(43, Concat(Routing(17), Udp(40005, 53))),
            Seed.V6(44, Concat(Fragment(17, 0, more: true), Udp(40006, 53, new byte[16]))),
            Seed.V6(44, Concat(Fragment(17, 64, more: false), new byte[16])),
            Seed.V6(51, Concat(AuthenticationHeader(6), Tcp(40007, 22))),
        ];
    }

    private enum Layer : byte
    {
        Transport,
        Ip,
        Frame,
    }

    /// <summary>A frame and how to rebuild it around a damaged transport packet (null for frames damaged as a whole).</summary>
    private sealed record Seed(byte[] Frame, Layer Deepest, Func<byte[], byte[]>? Rebuild = null, byte[]? Transport = null)
    {
        public static Seed V4(byte protocol, byte[] transport, string source = Client4, string destination = Server4, byte[]? options = null)
        {
            byte[] Build(byte[] l4) => Ethernet(EtherTypeIPv4, Ipv4(protocol, l4, source, destination, options));
            return new(Build(transport), Layer.Transport, Build, transport);
        }

        public static Seed V6(byte nextHeader, byte[] payload, string source = Client6, string destination = Server6)
        {
            byte[] Build(byte[] p) => Ethernet(EtherTypeIPv6, Ipv6(nextHeader, p, source, destination));
            return new(Build(payload), Layer.Transport, Build, payload);
        }
    }

    private static byte[] Damage(Seed seed, Random random)
    {
        var layer = (Layer)random.Next((int)seed.Deepest, 3);
        if (layer == Layer.Transport)
            return seed.Rebuild!(Mutate(seed.Transport!, random));
        byte[] frame = Mutate(seed.Frame, random, keepHeader: 14);
        if (layer == Layer.Ip && frame.Length >= 34 && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) == EtherTypeIPv4)
            FixIpv4Checksum(frame.AsSpan(14));
        return frame;
    }

    /// <summary>One to three changes: a byte, a 16-bit field set to an edge value, a cut or a longer tail.</summary>
    private static byte[] Mutate(byte[] bytes, Random random, int keepHeader = 0)
    {
        var result = bytes.ToList();
        for (int change = random.Next(1, 4); change > 0; change--)
        {
            int span = result.Count - keepHeader;
            switch (random.Next(4))
            {
                case 0 when span > 0:
                    result[keepHeader + random.Next(span)] = (byte)random.Next(256);
                    break;
                case 1 when span > 1:
                    int at = keepHeader + random.Next(span - 1);
                    ushort value = (ushort)(random.Next(3) switch { 0 => 0, 1 => 0xFFFF, _ => random.Next(65536) });
                    (result[at], result[at + 1]) = ((byte)(value >> 8), (byte)value);
                    break;
                case 2:
                    result = result.Take(keepHeader + random.Next(span + 1)).ToList();
                    break;
                default:
                    result.AddRange(Enumerable.Range(0, random.Next(1, 40)).Select(_ => (byte)random.Next(256)));
                    break;
            }
        }
        return [.. result];
    }
}
