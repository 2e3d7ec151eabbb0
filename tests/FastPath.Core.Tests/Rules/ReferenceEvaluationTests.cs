// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// The compiled rule walk against <see cref="ReferenceEvaluator"/> on random rulesets — every match FastPath
/// supports, inverted or not, in random module order, with user chains, -j, -g and RETURN — and random
/// packets: verdicts and deciding rules after every packet, counters and recent tables along the way. With
/// one shard tables may fill and reap; over several shards (where those two differ on purpose) they do not.
/// </summary>
public class ReferenceEvaluationTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];
    private const int PacketsPerRuleset = 700;

    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (int seed = 1; seed <= 40; seed++)
            seeds.Add(seed);
        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void OneShardAgreesWithTheReference(int seed)
    {
        var random = new Random(seed);
        var (v4, v6) = (RandomRuleset(random, L3Kind.IPv4, reap: true), RandomRuleset(random, L3Kind.IPv6, reap: true));
        var compiled = new CompiledRuleset(v4, v6, Ports);
        var state = new RulesetState(compiled, RecentTableSizing.WithCapacity(6));
        var reference = new ReferenceEvaluator(v4, v6, compiled, recentCapacity: 6);
        ulong now = 100_000;
        for (int i = 0; i < PacketsPerRuleset; i++)
        {
            var (frame, inPort) = RandomPacket(random);
            now += (ulong)random.Next(0, 400);
            var parsed = default(ParsedPacket);
            Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
            var expected = reference.Evaluate(parsed, frame, inPort, 1 - inPort, now, out string expectedBy);
            var actual = state.Evaluate(ref parsed, frame, inPort, 1 - inPort, now, out var decision);
            Assert.True((expected, expectedBy) == (actual, decision.Describe(compiled)), $"seed {seed}, packet {i}: expected {expected} by {expectedBy}, got {actual} by {decision.Describe(compiled)}");
            if (i % 50 == 0 || i == PacketsPerRuleset - 1)
                AssertSameState(compiled, reference, [state], ordered: true);
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ShardsAgreeWithTheReference(int seed)
    {
        var random = new Random(seed);
        var (v4, v6) = (RandomRuleset(random, L3Kind.IPv4, reap: false), RandomRuleset(random, L3Kind.IPv6, reap: false));
        var compiled = new CompiledRuleset(v4, v6, Ports);
        int workers = 2 + seed % 2;
        var shards = Enumerable.Range(0, workers).Select(w => new RulesetState(compiled, RecentTableSizing.WithCapacity(10_000), shards: new RecentShardMap(w, workers))).ToArray();
        var reference = new ReferenceEvaluator(v4, v6, compiled, recentCapacity: 10_000);
        ulong now = 100_000;
        for (int i = 0; i < PacketsPerRuleset; i++)
        {
            var (frame, inPort) = RandomPacket(random);
            now += (ulong)random.Next(0, 400);
            var parsed = default(ParsedPacket);
            Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
            var expected = reference.Evaluate(parsed, frame, inPort, 1 - inPort, now, out string expectedBy);
            EvaluationCursor.Start(out var cursor);
            int worker = random.Next(workers);
            RuleVerdict actual;
            Decision decision;
            int hops = 0;
            while ((actual = shards[worker].Evaluate(ref parsed, frame, inPort, 1 - inPort, now, ref cursor, out decision)) == RuleVerdict.Continue)
            {
                Assert.NotEqual(worker, cursor.Owner);
                Assert.True(++hops < 64, $"seed {seed}, packet {i}: the packet keeps travelling");
                worker = cursor.Owner;
            }
            Assert.True((expected, expectedBy) == (actual, decision.Describe(compiled)), $"seed {seed}, packet {i}: expected {expected} by {expectedBy}, got {actual} by {decision.Describe(compiled)}");
        }
        AssertSameState(compiled, reference, shards, ordered: false);
    }

    private static void AssertSameState(CompiledRuleset compiled, ReferenceEvaluator reference, RulesetState[] shards, bool ordered)
    {
        foreach (var rule in compiled.Rules)
        {
            Assert.Equal(reference.Packets.GetValueOrDefault(rule.QualifiedName), shards.Sum(s => s.RulePackets[rule.Id]));
            Assert.Equal(reference.Bytes.GetValueOrDefault(rule.QualifiedName), shards.Sum(s => s.RuleBytes[rule.Id]));
        }
        foreach (var chain in compiled.Chains.Where(c => c.Policy is not null))
            Assert.Equal(reference.Packets.GetValueOrDefault($"{chain.QualifiedName}:policy"), shards.Sum(s => s.PolicyPackets[chain.Id]));
        for (int t = 0; t < compiled.RecentTables.Count; t++)
        {
            var expected = reference.Contents(compiled.RecentTables[t].Name);
            var actual = shards.SelectMany(s => s.RecentTables[t].Entries()).Select(e => e.ProcLine()).ToList();
            if (!ordered)
            {
                expected.Sort(StringComparer.Ordinal);
                actual.Sort(StringComparer.Ordinal);
            }
            Assert.Equal(expected, actual);
        }
    }

    private static T Pick<T>(Random random, params T[] choices) => choices[random.Next(choices.Length)];

    private static string Not(Random random) => random.Next(4) == 0 ? "! " : "";

    /// <summary>raw PREROUTING with a few rules, filter FORWARD and three user chains that jump only forward (no loops).</summary>
    private static FamilyRuleset RandomRuleset(Random random, L3Kind family, bool reap)
    {
        var text = new StringBuilder();
        text.Append("*raw\n:PREROUTING ACCEPT [0:0]\n");
        for (int i = random.Next(3); i > 0; i--)
            text.Append("-A PREROUTING ").Append(RandomRule(random, family, raw: true, reap, laterChains: [])).Append('\n');
        text.Append("COMMIT\n*filter\n");
        text.Append($":FORWARD {Pick(random, "ACCEPT", "DROP")} [0:0]\n:U1 - [0:0]\n:U2 - [0:0]\n:U3 - [0:0]\n");
        string[] chains = ["FORWARD", "U1", "U2", "U3"];
        for (int c = 0; c < chains.Length; c++)
        {
            for (int i = random.Next(1, 7); i > 0; i--)
                text.Append($"-A {chains[c]} ").Append(RandomRule(random, family, raw: false, reap, laterChains: chains[(c + 1)..])).Append('\n');
        }
        text.Append("COMMIT\n");
        return RulesetParser.Parse(text.ToString(), $"random-{family}.rules", family);
    }

    private static string RandomRule(Random random, L3Kind family, bool raw, bool reap, string[] laterChains)
    {
        bool v4 = family == L3Kind.IPv4;
        var parts = new List<string>();
        string protocol = Pick(random, "", "tcp", "tcp", "udp", v4 ? "icmp" : "icmpv6", "all", "47");
        bool pinned = protocol.Length > 0 && (random.Next(6) != 0 || protocol == "all"); // "! -p all" matches nothing: refused
        if (protocol.Length > 0)
            parts.Add($"{(pinned ? "" : "! ")}-p {protocol}");
        if (random.Next(4) == 0)
            parts.Add($"{Not(random)}-s {Pick<string>(random, v4 ? ["10.0.0.0/24", "10.0.0.2", "10.0.0.0/255.255.254.0", "10.0.1.0/24"] : ["2001:db8::/64", "2001:db8::2", "2001:db8:1::/48"])}");
        if (random.Next(4) == 0)
            parts.Add($"{Not(random)}-d {Pick<string>(random, v4 ? ["192.0.2.0/30", "192.0.2.1", "0.0.0.0/0"] : ["2001:db8:ffff::/126", "2001:db8:ffff::1"])}");
        if (random.Next(5) == 0)
            parts.Add($"{Not(random)}-i {Pick(random, "wan0", "lan0", "wan+", "lan+", "eth0")}");
        if (!raw && random.Next(6) == 0)
            parts.Add($"{Not(random)}-o {Pick(random, "wan0", "lan+", "eth+")}");

        var modules = new List<string>();
        bool ports = pinned && protocol is "tcp" or "udp";
        if (ports && random.Next(3) != 0)
        {
            var tcp = new StringBuilder($"-m {protocol}");
            if (random.Next(3) == 0)
                tcp.Append($" {Not(random)}--sport {Pick(random, "1000", "1000:2000", ":1500", "40000:")}");
            if (random.Next(2) == 0)
                tcp.Append($" {Not(random)}--dport {Pick(random, "22", "80:90", "53", "1000:")}");
            if (protocol == "tcp" && random.Next(3) == 0)
                tcp.Append(Pick(random, $" {Not(random)}--syn", $" {Not(random)}--tcp-flags SYN,ACK ACK", $" {Not(random)}--tcp-flags ALL NONE"));
            modules.Add(tcp.ToString());
        }
        if (pinned && protocol is "icmp" or "icmpv6" && random.Next(2) == 0)
            modules.Add(v4 ? $"-m icmp {Not(random)}--icmp-type {Pick(random, "echo-request", "3/1", "3", "any", "0")}"
                : $"-m icmp6 {Not(random)}--icmpv6-type {Pick(random, "echo-request", "1/3", "1", "129")}");
        if (ports && random.Next(4) == 0)
            modules.Add($"-m multiport {Not(random)}{Pick(random, "--dports", "--sports", "--ports")} {Pick(random, "22,80:90", "53", "1000:1500,22,443")}");
        if (random.Next(6) == 0)
            modules.Add($"-m mac {Not(random)}--mac-source {Pick(random, "02:00:00:00:00:01", "02:00:00:00:00:05")}");
        if (random.Next(8) == 0)
            modules.Add("-m comment --comment \"a comment\"");
        for (int i = random.Next(-1, 3); i > 0; i--)
            modules.Add(RandomRecent(random, v4, reap));
        parts.AddRange(modules.OrderBy(_ => random.Next()));

        string target = random.Next(7) switch
        {
            0 => "",
            1 or 2 => "-j ACCEPT",
            3 => "-j DROP",
            4 => "-j RETURN",
            _ when laterChains.Length > 0 => $"{Pick(random, "-j", "-g")} {Pick(random, laterChains)}",
            _ => "-j DROP",
        };
        parts.Add(target);
        return string.Join(' ', parts.Where(p => p.Length > 0));
    }

    private static string RandomRecent(Random random, bool v4, bool reap)
    {
        var recent = new StringBuilder("-m recent ");
        string command = Pick(random, "--set", "--rcheck", "--update", "--update", "--remove");
        recent.Append(Not(random)).Append(command);
        if (command is "--rcheck" or "--update")
        {
            bool seconds = random.Next(3) != 0;
            if (seconds)
                recent.Append($" --seconds {random.Next(1, 6)}");
            if (random.Next(2) == 0)
                recent.Append($" --hitcount {random.Next(1, 6)}");
            if (random.Next(4) == 0)
                recent.Append(" --rttl");
            if (reap && seconds && random.Next(2) == 0)
                recent.Append(" --reap");
        }
        recent.Append($" --name {Pick(random, "A", "B", "C")}");
        if (random.Next(2) == 0)
            recent.Append(Pick(random, " --rsource", " --rdest"));
        if (random.Next(5) == 0)
            recent.Append($" --mask {(v4 ? "255.255.255.0" : "ffff:ffff:ffff:ffff::")}");
        return recent.ToString();
    }

    private static (byte[] Frame, int InPort) RandomPacket(Random random)
    {
        byte ttl = (byte)(random.Next(5) == 0 ? 63 : 64);
        ushort sport = Pick<ushort>(random, 1000, 1200, 40000, 53);
        ushort dport = Pick<ushort>(random, 22, 22, 85, 53, 443, 1000);
        byte flags = Pick<byte>(random, 0x02, 0x12, 0x10, 0x11, 0x00);
        (byte Type, byte Code) icmp = Pick<(byte, byte)>(random, (8, 0), (0, 0), (3, 1), (3, 3), (1, 3), (128, 0), (129, 0));
        byte protocol = Pick<byte>(random, 6, 6, 17, 1, 47);
        byte[] frame;
        if (random.Next(4) == 0)
        {
            if (protocol == 1)
                protocol = 58;
            string source = $"2001:db8:{Pick(random, "", "1:")}:{random.Next(1, 5):x}";
            string destination = $"2001:db8:ffff::{random.Next(1, 4):x}";
            frame = Ethernet(EtherTypeIPv6, Ipv6(protocol, Transport(protocol, sport, dport, flags, icmp), source, destination, hopLimit: ttl));
        }
        else
        {
            string source = $"10.0.{Pick(random, 0, 0, 1)}.{random.Next(1, 6)}";
            string destination = $"192.0.2.{random.Next(1, 5)}";
            bool tail = random.Next(10) == 0;
            byte[] payload = tail ? new byte[24] : Transport(protocol, sport, dport, flags, icmp);
            frame = Ethernet(EtherTypeIPv4, Ipv4(protocol, payload, source, destination, ttl: ttl, fragmentOffset: tail ? 1480 : 0));
        }
        frame[11] = Pick<byte>(random, 0x01, 0x05); // the source MAC's last byte
        return (frame, random.Next(2));
    }

    private static byte[] Transport(byte protocol, ushort sport, ushort dport, byte flags, (byte Type, byte Code) icmp) => protocol switch
    {
        6 => Tcp(sport, dport, flags),
        17 => Udp(sport, dport),
        1 or 58 => Icmp(icmp.Type, icmp.Code),
        _ => new byte[8],
    };
}
