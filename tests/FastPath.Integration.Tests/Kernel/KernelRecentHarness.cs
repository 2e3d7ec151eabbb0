// SPDX-License-Identifier: MIT
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FastPath.Core;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Testing;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Runs one scenario — recent rules, then packets, proc writes, pauses and listings in order — through the
/// running kernel (iptables-legacy rules in the raw PREROUTING chains of a namespace it creates, driven by
/// kernel_recent_match.py) and through FastPath's recent tables, and compares: the first rule each packet
/// matched, the errno of each write, each listing (without the jiffies values, since the clocks differ).
/// The FastPath side loads the same rules as iptables-save text through its own parser and ruleset engine.
/// </summary>
internal static class KernelRecentHarness
{

    public abstract record Event;
    public sealed record PacketEvent(string Source, string Destination, byte Ttl, ushort Port) : Event;
    public sealed record Sleep(double Seconds) : Event;
    public sealed record Write(string Table, string Text) : Event;
    public sealed record List(string Table) : Event;
    public sealed record Rule(bool IPv6, ushort Port, RecentOptions Options);

    public static Rule V4(ushort port, RecentOptions options) => new(false, port, options);
    public static Rule V6(ushort port, RecentOptions options) => new(true, port, options);

    public static PacketEvent Packet(string source, ushort port, byte ttl = 64, string? destination = null) =>
        new(source, destination ?? (source.Contains(':') ? "2001:db8:ffff::1" : "198.18.0.1"), ttl, port);

    /// <summary>An IPv4 --mask as libxt_recent gives it to the kernel: the four bytes, the other twelve zero.</summary>
    public static InetAddress Mask(string dotted)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        System.Net.IPAddress.Parse(dotted).GetAddressBytes().CopyTo(bytes);
        return InetAddress.FromIPv6(bytes);
    }

    public static void Compare(IReadOnlyList<Rule> rules, IReadOnlyList<Event> events)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable());
        var kernel = RunKernel(rules, events);
        var fastpath = RunFastPath(rules, events);
        var packets = events.OfType<PacketEvent>().ToList();
        for (int i = 0; i < packets.Count; i++)
            Assert.True(kernel.Verdicts[i] == fastpath.Verdicts[i], $"packet {i} {packets[i]}: kernel matched rule {kernel.Verdicts[i]}, FastPath rule {fastpath.Verdicts[i]}");
        Assert.Equal(kernel.Errnos, fastpath.Errnos);
        foreach (var (table, listing) in kernel.Listings)
            Assert.Equal(Summarise(listing), Summarise(fastpath.Listings[table]));
    }

    private sealed record Outcome(int[] Verdicts, int[] Errnos, Dictionary<string, string> Listings);

    /// <summary>
    /// The same rules as an iptables-save text per family, loaded by FastPath's own parser and evaluated by its
    /// ruleset engine on frames built like the kernel side's: the product is what is compared.
    /// </summary>
    private static Outcome RunFastPath(IReadOnlyList<Rule> rules, IReadOnlyList<Event> events)
    {
        var ruleset = new CompiledRuleset(
            RulesetParser.Parse(SaveText(rules, ipv6: false), "v4.rules", L3Kind.IPv4),
            RulesetParser.Parse(SaveText(rules, ipv6: true), "v6.rules", L3Kind.IPv6),
            ["v0", "v1"]);
        var state = new RulesetState(ruleset);
        RecentTable TableNamed(string name) => state.RecentTables.Single(t => t.Name == name);
        ulong now = 1_000_000;
        var verdicts = new List<int>();
        var errnos = new List<int>();
        var listings = new Dictionary<string, string>();
        foreach (var e in events)
        {
            switch (e)
            {
                case PacketEvent p:
                    byte[] frame = Frame(p);
                    var parsed = default(ParsedPacket);
                    Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref parsed));
                    state.Evaluate(ref parsed, frame, inPort: 0, outPort: 1, now, out var decision);
                    verdicts.Add(decision.RuleId >= 0 ? ruleset.Rules[decision.RuleId].Rule.Number - 1 : -1);
                    now++;
                    break;
                case Sleep s:
                    now += (ulong)(s.Seconds * Jiffies.Hz);
                    break;
                case Write w:
                    var table = TableNamed(w.Table);
                    errnos.Add((int)RecentProcWrite.WriteAll(Encoding.Latin1.GetBytes(w.Text), write =>
                    {
                        write.ApplyTo(table, now);
                        return Errno.None;
                    }, out _));
                    now++;
                    break;
                case List l:
                    listings[l.Table] = string.Join("\n", TableNamed(l.Table).Entries().Select(entry => entry.ProcLine()));
                    break;
            }
        }
        return new Outcome(verdicts.ToArray(), errnos.ToArray(), listings);
    }

    /// <summary>What iptables-save would print for the rules installed on the kernel side.</summary>
    private static string SaveText(IReadOnlyList<Rule> rules, bool ipv6)
    {
        var text = new StringBuilder("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        foreach (var rule in rules.Where(r => r.IPv6 == ipv6))
            text.Append(string.Join(' ', RuleArguments(rule))).Append('\n');
        text.Append(string.Join(' ', CatchAll)).Append("\nCOMMIT\n");
        return text.ToString();
    }

    private static readonly string[] CatchAll = ["-A", "PREROUTING", "-i", "v0", "-p", "udp", "-j", "ACCEPT"];

    private static string[] RuleArguments(Rule rule) =>
        ["-A", "PREROUTING", "-i", "v0", "-p", "udp", "-m", "udp", "--dport", $"{rule.Port}", .. IptablesArguments(rule), "-j", "ACCEPT"];

    private static byte[] Frame(PacketEvent p)
    {
        byte[] udp = TestFrames.Udp(40000, p.Port, "fastpath"u8.ToArray());
        return p.Source.Contains(':')
            ? TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(17, udp, p.Source, p.Destination, hopLimit: p.Ttl))
            : TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(17, udp, p.Source, p.Destination, ttl: p.Ttl));
    }

    private static Outcome RunKernel(IReadOnlyList<Rule> rules, IReadOnlyList<Event> events)
    {
        using var ns = new NetworkNamespace();
        ns.AddVethPair("v0", "v1");
        ns.Exec("sysctl", "-qw", "net.ipv6.conf.v0.disable_ipv6=0");
        foreach (bool v6 in new[] { false, true })
        {
            string tool = v6 ? "ip6tables-legacy" : "iptables-legacy";
            foreach (var rule in rules.Where(r => r.IPv6 == v6))
                TestEnvironment.RunChecked("ip", ["netns", "exec", ns.Name, tool, "-t", "raw", .. RuleArguments(rule)]);
            TestEnvironment.RunChecked("ip", ["netns", "exec", ns.Name, tool, "-t", "raw", .. CatchAll]);
        }
        string output = ns.RunScript("kernel_recent_match.py", new JsonArray(events.Select(ToJson).ToArray()).ToJsonString(), TimeSpan.FromMinutes(2));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        return new Outcome(
            root.GetProperty("verdicts").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
            root.GetProperty("errnos").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
            root.GetProperty("listings").EnumerateObject().ToDictionary(o => o.Name, o => o.Value.GetString()!));
    }

    private static JsonNode ToJson(Event e) => e switch
    {
        PacketEvent p => new JsonObject { ["packet"] = new JsonObject { ["src"] = p.Source, ["dst"] = p.Destination, ["ttl"] = p.Ttl, ["dport"] = p.Port } },
        Sleep s => new JsonObject { ["sleep"] = s.Seconds },
        Write w => new JsonObject { ["write"] = new JsonObject { ["table"] = w.Table, ["text"] = w.Text } },
        List l => new JsonObject { ["list"] = l.Table },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    private static string[] IptablesArguments(Rule rule)
    {
        var o = rule.Options;
        var args = new List<string> { "-m", "recent" };
        if (o.Invert)
            args.Add("!");
        args.Add(o.Command switch
        {
            RecentCommand.Set => "--set",
            RecentCommand.Check => "--rcheck",
            RecentCommand.Update => "--update",
            RecentCommand.Remove => "--remove",
            _ => throw new ArgumentOutOfRangeException(nameof(rule)),
        });
        if (o.Seconds != 0)
            args.AddRange(["--seconds", $"{o.Seconds}"]);
        if (o.HitCount != 0)
            args.AddRange(["--hitcount", $"{o.HitCount}"]);
        if (o.Ttl)
            args.Add("--rttl");
        if (o.Reap)
            args.Add("--reap");
        args.AddRange(["--name", o.Name]);
        if (o.Mask != InetAddress.AllOnes)
        {
            Span<byte> bytes = stackalloc byte[16];
            o.Mask.CopyTo(bytes);
            args.AddRange(["--mask", rule.IPv6 ? new System.Net.IPAddress(bytes).ToString() : new System.Net.IPAddress(bytes[..4]).ToString()]);
        }
        args.Add(o.Side == RecentSide.Source ? "--rsource" : "--rdest");
        return args.ToArray();
    }

    /// <summary>Each line without its jiffies values (the clocks differ): address, ttl, oldest_pkt and how many stamps.</summary>
    internal static List<string> Summarise(string listing) =>
        listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line =>
            {
                var fields = line.Split(' ');
                return $"{fields[0]} ttl={fields[2]} oldest_pkt={fields[6]} stamps={fields.Length - 7}";
            })
            .Order()
            .ToList();
}
