// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// Connection tracking with the work shared out between workers (docs/design/conntrack.md): a packet is tracked
/// by the owner of its connection, its recent matches run on the owners of their addresses, and a new connection
/// goes back to its owner to be confirmed or forgotten. For a sequential stream the verdicts and the connections
/// held are those of one global table.
/// </summary>
public class ShardedConntrackTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];

    private const string GuardedServer = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
        -A PREROUTING -p tcp -m tcp --dport 22 -j CT --timeout ssh
        COMMIT
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        -A FORWARD -m state --state UNTRACKED -j ACCEPT
        -A FORWARD -p tcp -m tcp --dport 22 -m state --state NEW -m recent --update --seconds 60 --hitcount 3 --name SSH --rsource -j DROP
        -A FORWARD -p tcp -m tcp --dport 22 -m state --state NEW -m recent --set --name SSH --rsource -j ACCEPT
        -A FORWARD -p udp -m conntrack --ctstate NEW -m recent --rcheck --seconds 5 --name SSH --rsource -j DROP
        -A FORWARD -p udp -m conntrack --ctstate NEW -j ACCEPT
        COMMIT
        """;

    private const string Server = "192.0.2.1";
    private const string Router = "192.0.2.254";

    private static byte[] TcpFrame(string source, string destination, ushort sport, ushort dport, byte flags, uint seq, uint ack)
    {
        byte[] tcp = Tcp(sport, dport, flags);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), ack);
        return Ethernet(EtherTypeIPv4, Ipv4(6, tcp, source, destination));
    }

    private static byte[] UdpFrame(string source, string destination, ushort sport, ushort dport) =>
        Ethernet(EtherTypeIPv4, Ipv4(17, Udp(sport, dport), source, destination));

    /// <summary>A port unreachable from a router about a datagram the client sent: RELATED to that flow.</summary>
    private static byte[] Unreachable(string client, ushort sport, ushort dport)
    {
        byte[] quoted = Ipv4(17, Udp(sport, dport), client, Server).AsSpan(0, 28).ToArray();
        return Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(3, 3, data: quoted), Router, client));
    }

    /// <summary>SSH handshakes (some from sources that get banned), UDP both ways, notracked mDNS and ICMP errors.</summary>
    private static List<(byte[] Frame, ulong Now)> Stream(int seed, int count)
    {
        var random = new Random(seed);
        var stream = new List<(byte[], ulong)>();
        var opened = new List<(string Client, ushort Port, uint Seq)>();
        var datagrams = new List<(string Client, ushort Port)>();
        ulong now = 100_000;
        for (int i = 0; i < count; i++)
        {
            now += (ulong)random.Next(0, 40);
            string client = $"10.0.{random.Next(0, 3)}.{random.Next(1, 9)}";
            ushort port = (ushort)random.Next(30000, 30400);
            switch (random.Next(0, 12))
            {
                case < 3:
                    uint seq = (uint)random.Next();
                    opened.Add((client, port, seq));
                    stream.Add((TcpFrame(client, Server, port, 22, 0x02, seq, 0), now));
                    break;
                case < 5 when opened.Count > 0:
                    var syn = opened[random.Next(opened.Count)];
                    stream.Add((TcpFrame(Server, syn.Client, 22, syn.Port, 0x12, 7777, syn.Seq + 1), now));
                    stream.Add((TcpFrame(syn.Client, Server, syn.Port, 22, 0x10, syn.Seq + 1, 7778), now + 1));
                    break;
                case < 8:
                    datagrams.Add((client, port));
                    stream.Add((UdpFrame(client, Server, port, 53), now));
                    break;
                case < 10 when datagrams.Count > 0:
                    var d = datagrams[random.Next(datagrams.Count)];
                    stream.Add((UdpFrame(Server, d.Client, 53, d.Port), now));
                    break;
                case 10 when datagrams.Count > 0:
                    var u = datagrams[random.Next(datagrams.Count)];
                    stream.Add((Unreachable(u.Client, u.Port, 53), now));
                    break;
                default:
                    stream.Add((UdpFrame(client, Server, port, 5353), now));
                    break;
            }
        }
        return stream;
    }

    private static TimeoutPolicyRegistry Policies()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("ssh", TimeoutPolicyRegistry.InetFamily, 6, new Dictionary<int, uint> { [1] = 7, [3] = 50 }, TimeoutCreateFlags.None);
        return registry;
    }

    private static CompiledRuleset Compile(string v4, TimeoutPolicyRegistry registry) =>
        new(RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports, timeouts: registry);

    private static RulesetState[] Workers(int count, TimeoutPolicyRegistry registry, CompiledRuleset ruleset) =>
        Enumerable.Range(0, count)
            .Select(w => new RulesetState(ruleset, RecentTableSizing.WithCapacity(10_000), new RecentShardMap(w, count),
                new ConnectionTracker(registry, 10_000, w, count)))
            .ToArray();

    /// <summary>Every confirmed connection: tuple, state, deadline, status and counters, in one order.</summary>
    private static List<string> Connections(IEnumerable<FlowTable> tables, ulong now)
    {
        var lines = new List<string>();
        foreach (var table in tables)
        {
            for (int i = 0; i < table.Capacity; i++)
            {
                var flow = table[i];
                if (table.Find(flow.Original, now, out _) == i)
                    lines.Add($"{flow.Original} {flow.Tcp.State} {flow.Deadline} {flow.Status} {flow.PolicyId} {flow.OriginalPackets}/{flow.ReplyPackets}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void ASequentialStreamGetsTheVerdictsAndConnectionsOfOneGlobalTable(int count)
    {
        var registry = Policies();
        var ruleset = Compile(GuardedServer, registry);
        var global = Workers(1, registry, ruleset)[0];
        var workers = Workers(count, registry, ruleset);
        var random = new Random(count);
        int hops = 0;
        var verdicts = new Dictionary<RuleVerdict, int>();
        ulong last = 0;
        foreach (var (frame, now) in Stream(seed: count, count: 3000))
        {
            var parsed = default(ParsedPacket);
            PacketParser.Parse(frame, ref parsed);
            var expected = global.Evaluate(ref parsed, frame, 0, 1, now, out var expectedDecision);
            var actual = ShardedEvaluationTests.RunSharded(workers, frame, now, random.Next(count));
            Assert.Equal((expected, expectedDecision), (actual.Verdict, actual.Decision));
            hops += actual.Hops;
            verdicts[expected] = verdicts.GetValueOrDefault(expected) + 1;
            last = now;
        }

        Assert.True(hops > 1000, $"only {hops} handoffs");
        Assert.True(verdicts.GetValueOrDefault(RuleVerdict.Drop) > 100, "the stream does not exercise the drops");
        Assert.True(ruleset.Rules.Count(r => global.RulePackets[r.Id] > 0) == ruleset.Rules.Count, "every rule should match something");
        Assert.Equal(Connections([global.Conntrack!.Table], last), Connections(workers.Select(w => w.Conntrack!.Table), last));
        Assert.Equal(global.Conntrack!.Table.Count, workers.Sum(w => w.Conntrack!.Table.Count));
        for (int r = 0; r < ruleset.Rules.Count; r++)
            Assert.Equal(global.RulePackets[r], workers.Sum(w => w.RulePackets[r]));
        // Each connection lives on its owner only.
        foreach (var worker in workers)
        {
            var table = worker.Conntrack!.Table;
            for (int i = 0; i < table.Capacity; i++)
            {
                if (table.Find(table[i].Original, last, out _) == i)
                    Assert.Equal(worker.Shards.Index, worker.Conntrack.OwnerOf(table[i].Original));
            }
        }
    }

    private const string StateOnly = """
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -m conntrack --ctstate NEW -j ACCEPT
        COMMIT
        """;

    private static byte[] Dccp(string source, string destination, ushort sport, ushort dport)
    {
        var dccp = new byte[16];
        BinaryPrimitives.WriteUInt16BigEndian(dccp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(dccp.AsSpan(2), dport);
        return Ipv4(33, dccp, source, destination);
    }

    /// <summary>
    /// Connections the tracker keys on something else than the ports the flow hash reads: DCCP (ports on the
    /// wire, keyed on addresses alone) and a PPTP GRE call quoted by an ICMP error (keyed on its call ID, which
    /// no packet's flow hash reads). Each must be found on one shard, the one its packets go to.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void AConnectionKeyedWithoutPortsHasOneOwner(int count)
    {
        var registry = Policies();
        var ruleset = Compile(StateOnly, registry);
        var global = Workers(1, registry, ruleset)[0];
        var workers = Workers(count, registry, ruleset);
        var random = new Random(count);
        var frames = new List<byte[]>();
        for (int client = 1; client <= 8; client++)
        {
            string address = $"10.0.0.{client}";
            for (ushort port = 1000; port < 1006; port++)
            {
                frames.Add(Ethernet(EtherTypeIPv4, Dccp(address, Server, port, 5004)));
                frames.Add(Ethernet(EtherTypeIPv4, Dccp(Server, address, 5004, (ushort)(port + 7))));
            }
            var call = PptpGre((ushort)(client * 37));
            frames.Add(Ethernet(EtherTypeIPv4, Ipv4(47, call, address, Server)));
            frames.Add(Ethernet(EtherTypeIPv4, Ipv4(1, Icmp(3, 3, data: Ipv4(47, call, address, Server).AsSpan(0, 28).ToArray()), Router, address)));
        }
        ulong now = 100_000;
        foreach (var frame in frames)
        {
            var parsed = default(ParsedPacket);
            PacketParser.Parse(frame, ref parsed);
            var expected = global.Evaluate(ref parsed, frame, 0, 1, now, out var expectedDecision);
            var actual = ShardedEvaluationTests.RunSharded(workers, frame, now, random.Next(count));
            Assert.Equal((expected, expectedDecision.Describe(ruleset)), (actual.Verdict, actual.Decision.Describe(ruleset)));
            now += 10;
        }
        Assert.Equal(Connections([global.Conntrack!.Table], now), Connections(workers.Select(w => w.Conntrack!.Table), now));
        Assert.Equal(16, global.Conntrack!.Table.Count); // one DCCP connection and one GRE call per client
    }

    [Fact]
    public void SuspendingForConntrackAndConfirmingElsewhereAllocatesNothing()
    {
        var registry = Policies();
        var ruleset = Compile(GuardedServer, registry);
        var workers = Workers(3, registry, ruleset);
        var stream = Stream(seed: 5, count: 900);
        var parsed = new ParsedPacket[stream.Count];
        for (int i = 0; i < stream.Count; i++)
            PacketParser.Parse(stream[i].Frame, ref parsed[i]);
        long before = 0;
        int hops = 0;
        for (int round = 0; round < 2; round++)
        {
            if (round == 1)
                before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < stream.Count; i++)
            {
                EvaluationCursor.Start(out var cursor);
                int worker = i % 3;
                while (workers[worker].Evaluate(ref parsed[i], stream[i].Frame, 0, 1, stream[i].Now + (ulong)round * 100_000, ref cursor, out _) == RuleVerdict.Continue)
                {
                    worker = cursor.Owner;
                    hops++;
                }
            }
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(hops > 300);
    }
}
