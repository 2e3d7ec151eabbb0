// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// IPv4 and IPv6 fragment sequences through the kernel's defragmentation before connection tracking
/// (nf_defrag_ipv4, nf_defrag_ipv6) and through FastPath's, scenario by scenario: which input fragments' data came
/// out, in what order and after which input frame ("2@5": frame 2's data, once frame 5 had been sent; 0-based), the
/// filter FORWARD counters of both families (a reassembled datagram is one packet of its whole length) and how many
/// connections the scenario left.
/// The kernel side is a namespace routing a0 -> b0 (<see cref="LiveDifferentialHarness.SetUpRouter"/>) with the
/// rules loaded by iptables-legacy-restore; kernel_fragments.py sends the frames into a1 (replies into b1) one at a
/// time, collects what the kernel sends out because of each, names each output frame by the input frames whose data
/// it carries (the kernel re-fragments a forwarded datagram with the input's geometry but the first fragment's
/// header and a lower TTL, so headers are not compared, only addresses, identification, offset, MF, data and ECN),
/// and writes each scenario's frames to a capture. FastPath replays each capture offline with the same rules files
/// (live af_packet cannot carry lone IPv4 fragments); it writes input frames verbatim, so an output frame is named by
/// the input frame it is, and "after" by the highest frame number in its trace up to that frame's line.
/// The namespace's reassembly timeouts are set to 1 s and each pause lasts 30 (IPv4) or 60 (IPv6) times as long in
/// the captures, so FastPath's 30 s and 60 s fall where the kernel's 1 s does.
/// </summary>
public sealed class FragmentDifferentialTests
{
    private const string Rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j DROP
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -p udp -m udp --dport 9 -j DROP
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -p icmp -j ACCEPT
        -A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT
        COMMIT

        """;

    private static readonly string Rules6 = Rules.Replace("-p icmp", "-p ipv6-icmp", StringComparison.Ordinal);

    /// <summary>The kernel namespace's reassembly timeouts (seconds), IPv4 and IPv6; the captures are scaled to FastPath's.</summary>
    private const int KernelFragmentTimeout = 1;

    // No rule that needs connection tracking: the kernel forwards fragments one by one, and only the first has ports.
    private const string Untracked = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp -m udp --dport 53 -j ACCEPT
        COMMIT

        """;

    // -f without tracking: the first fragment is decided by its port, the later ones by -f.
    private const string FragmentMatch = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD ! -f -p udp -m udp --dport 53 -j ACCEPT
        -A FORWARD -f -j ACCEPT
        COMMIT

        """;

    // CT --notrack alone: xt_CT's checkentry takes no reference on conntrack for it, so nothing is defragmented.
    private const string NotrackOnly = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -j CT --notrack
        COMMIT

        """ + Untracked;

    [Fact]
    public void Ipv4FragmentSequences() => Compare(Rules, Rules6, Scenarios(ipv6: false));

    [Fact]
    public void Ipv6FragmentSequences() => Compare(Rules, Rules6, Scenarios(ipv6: true));

    // The kernel defragments (and tracks) a family once a rule of that family needs connection tracking, not before.
    [Fact]
    public void TrackingIPv4DoesNotDefragmentIPv6() => Compare(Rules, Untracked, [.. Basic(ipv6: false), .. Basic(ipv6: true)]);

    [Fact]
    public void TrackingIPv6DoesNotDefragmentIPv4() => Compare(Untracked, Rules6, [.. Basic(ipv6: false), .. Basic(ipv6: true)]);

    [Fact]
    public void TheFragmentMatchSeesEachFragmentWithoutTracking() => Compare(FragmentMatch, Untracked, Basic(ipv6: false));

    [Fact]
    public void CtNotrackAloneDoesNotDefragment() => Compare(NotrackOnly, NotrackOnly, [.. Basic(ipv6: false), .. Basic(ipv6: true)]);

    /// <summary>A datagram whose transport header and payload (<paramref name="Payload"/> bytes) are fragmented.</summary>
    private sealed record Datagram(string Protocol, string Source, string Destination, ushort SourcePort, ushort Port, int Id, int Payload)
    {
        /// <summary>IPv6: a destination options header before the fragment header (part of the unfragmentable part).</summary>
        public bool DestinationOptions { get; init; }

        /// <summary>Sent by the server, into b1 (to a client in <see cref="LiveDifferentialHarness.ClientNetwork"/>).</summary>
        public bool Reply { get; init; }
    }

    private abstract record Step;

    /// <summary>Bytes [<paramref name="Offset"/>, +<paramref name="Length"/>) of the datagram's data (filler past its end).</summary>
    private sealed record Piece(string Datagram, int Offset, int Length, bool More) : Step
    {
        /// <summary>The IPv4 TOS or IPv6 traffic class byte (its low two bits are ECN).</summary>
        public int Tos { get; init; }
    }

    private sealed record Whole(string Datagram) : Step;

    /// <summary>A pause of the kernel's seconds (the capture's clock moves 30 or 60 times as far).</summary>
    private sealed record Pause(double Seconds) : Step;

    private sealed record Scenario(string Name, IReadOnlyDictionary<string, Datagram> Datagrams, IReadOnlyList<Step> Steps);

    /// <summary>What came out, named by input frame ("3", "3[:16]"), with the input frame last sent when it did.</summary>
    private sealed record Output(string Frame, int After)
    {
        public override string ToString() => $"{Frame}@{After}";
    }

    /// <param name="Trace">FastPath's: each frame's verdict and what decided it, or how many frames had each for a long trace.</param>
    private sealed record Result(IReadOnlyList<Output> Outputs, IReadOnlyDictionary<string, (long Packets, long Bytes)> Counters, int Connections, string? Trace = null);

    // A 64-byte UDP datagram in three fragments: [0,24) MF, [24,48) MF, [48,64).
    private static Piece P1(string d = "A") => new(d, 0, 24, true);
    private static Piece P2(string d = "A") => new(d, 24, 24, true);
    private static Piece P3(string d = "A") => new(d, 48, 16, false);

    /// <summary>A datagram in order, reversed, middle first, and one to port 9.</summary>
    private static List<Scenario> Basic(bool ipv6) => Scenarios(ipv6, basic: true);

    private static List<Scenario> Scenarios(bool ipv6, bool basic = false)
    {
        var scenarios = new List<Scenario>();
        int n = 0;
        // Each scenario its own client and identifications: queues and connections of one never meet another's.
        // datagrams: the scenario's datagrams by label, each made by a function of (protocol, destination port).
        void Add(string name, Func<Func<string, ushort, Datagram>, Dictionary<string, Datagram>> datagrams, params Step[] steps)
        {
            int number = ++n;
            string client = ipv6 ? $"2001:db8:1::{number + 0x20:x}" : $"172.16.0.{number + 20}";
            string server = ipv6 ? "2001:db8:ffff::1" : "198.18.0.1";
            int label = 0;
            Datagram Make(string protocol, ushort port) => new(protocol, client, server, 40000, port, 0x100 * number + label++, 56);
            scenarios.Add(new Scenario($"{(ipv6 ? "v6" : "v4")}-{number:00}-{name}", datagrams(Make), steps));
        }
        Dictionary<string, Datagram> Dns(Func<string, ushort, Datagram> make) => new() { ["A"] = make("udp", 53) };
        string icmp = ipv6 ? "icmpv6" : "icmp";

        Add("in-order", Dns, P1(), P2(), P3());
        Add("reversed", Dns, P3(), P2(), P1());
        Add("middle-first", Dns, P2(), P1(), P3());
        Add("to-port-9", m => new() { ["A"] = m("udp", 9) }, P1(), P2(), P3());
        if (basic)
            return scenarios;
        Add("duplicate-before-completion", Dns, P1(), P2(), P2(), P3());
        Add("duplicate-after-completion", Dns, P1(), P2(), P3(), P2());
        Add("partial-overlap", Dns, P1(), new Piece("A", 16, 24, true), P2(), P3(), P1());
        Add("incomplete-then-unrelated", m => new() { ["A"] = m("udp", 53), ["B"] = m("udp", 53) with { SourcePort = 40001 } },
            P1(), P2(), new Whole("B"));
        Add("interleaved-ids", m => new() { ["A"] = m("udp", 53), ["B"] = m("udp", 53) with { SourcePort = 40001 } },
            P1(), P1("B"), P2(), P2("B"), P3("B"), P3());
        if (!ipv6)
            Add("same-id-other-protocol", m =>
            {
                var udp = m("udp", 53);
                return new() { ["A"] = udp, ["B"] = m("icmp", 0) with { Id = udp.Id } };
            }, P1(), P1("B"), P2(), P2("B"), P3(), P3("B"));
        // IPv4 cuts such a fragment to a multiple of 8 and forwards it cut ("1[:16]"); FastPath forwards what it received
        // (design/defragmentation.md): compared for IPv6 only, where the datagram is discarded and the fragment goes on.
        if (ipv6)
        {
            Add("middle-end-not-multiple-of-8", Dns, P1(), new Piece("A", 24, 20, true), new Piece("A", 40, 24, false));
            Add("first-end-not-multiple-of-8", Dns, new Piece("A", 0, 20, true), new Piece("A", 16, 32, true), P3());
        }
        Add("second-last-other-end", Dns, P1(), P3(), new Piece("A", 48, 8, false), P2());
        Add("second-last-same-end", Dns, P1(), P3(), P3(), P2());
        Add("zero-length-fragment", Dns, P1(), new Piece("A", 24, 0, true), P2(), P3());
        Add("overlap-before-the-tail", Dns, P3(), new Piece("A", 16, 40, true), P1(), P2(), P3());
        // More data after the last fragment: IPv4 discards the queue, IPv6 drops the fragment.
        Add("data-past-the-last-fragment", Dns, P3(), new Piece("A", 56, 16, true), P1(), P2());
        Add("covering-one-run", Dns, P1(), P2(), new Piece("A", 0, 48, true), P3());
        Add("covering-two-runs", Dns, P2(), P1(), new Piece("A", 0, 48, true), P3());
        Add("echo-request", m => new() { ["A"] = m(icmp, 0) }, P1(), P2(), P3());
        // Not compared: an IPv4 TCP SYN whose first fragment carries 8 bytes of its header. The kernel forwards the same
        // data but merges the first two fragments ("0+1"): tcp_v4_early_demux pulls the whole TCP header into the first
        // fragment, which sends ip_do_fragment down its slow path (with tcp_early_demux=0 the input's geometry comes back).
        if (ipv6)
            Add("destination-options", m => new() { ["A"] = m("udp", 53) with { DestinationOptions = true } }, P1(), P2(), P3());
        Add("reply-established", m => new() { ["Q"] = m("udp", 53), ["R"] = m("udp", 53) with { Reply = true } },
            new Whole("Q"), P1("R"), P2("R"), P3("R"));
        // ECT(0) in one fragment, Not-ECT in the others: the kernel's ip_frag_ecn_table refuses the mix at reassembly.
        // (ECT and CE mixed is not compared: the kernel marks every fragment it sends CE, FastPath sends them unchanged.)
        Add("ecn-mixed", Dns, P1() with { Tos = 0x02 }, P2(), P3());
        // A fragment ending past 65535 bytes, then the datagram's own last fragment and the rest.
        Add("fragment-past-65535", Dns, P1(), new Piece("A", 65528, 16, false), P3(), P2());
        // An empty last fragment: IPv4 discards the queue; IPv6 drops it, but only after taking its end as the datagram's.
        Add("empty-last-fragment-far-out", Dns, P1(), new Piece("A", 65528, 0, false), P3(), P2());
        // Not compared either, as documented differences (design/defragmentation.md): an IPv6 atomic fragment, whose
        // fragment header the kernel takes out (counted and sent 8 bytes shorter); and an IPv6 first fragment without the
        // whole TCP header, which the kernel lets through unreassembled and FastPath's parser drops (tcp_truncated).
        if (!ipv6)
        {
            // ipfrag_max_dist (64): more than 64 fragments from the same source between two of a datagram's.
            foreach (int between in new[] { 63, 64 })
                Add($"{between}-fragments-of-others-between", m =>
                {
                    var datagrams = new Dictionary<string, Datagram> { ["A"] = m("udp", 53) };
                    for (int i = 0; i < between; i++)
                        datagrams[$"B{i:00}"] = m("udp", 53) with { SourcePort = (ushort)(41000 + i) };
                    return datagrams;
                }, [P1(), .. Enumerable.Range(0, between).Select(i => P1($"B{i:00}")), P2(), P3()]);
        }
        if (ipv6)
            // The IPv6 key has no protocol: a first fragment of another next header with the same identification is
            // a duplicate in the same queue.
            Add("same-id-other-next-header", m =>
            {
                var udp = m("udp", 53);
                return new() { ["A"] = udp, ["B"] = m("icmpv6", 0) with { Id = udp.Id } };
            }, P1(), P1("B"), P2(), P2("B"), P3(), P3("B"));
        // 33 datagrams held at once, then the rest of each in turn; each from a client of its own (from one, IPv4's
        // ipfrag_max_dist would reset the last one's queue).
        Add("33-datagrams-at-once", m => Enumerable.Range(0, 33).ToDictionary(i => $"D{i:00}",
                i => m("udp", 53) with { Source = ipv6 ? $"2001:db8:1:1::{i + 1:x}" : $"172.16.1.{i + 1}" }),
            [.. Enumerable.Range(0, 33).Select(i => P1($"D{i:00}")), .. Enumerable.Range(0, 33).SelectMany(i => new[] { P2($"D{i:00}"), P3($"D{i:00}") })]);
        // One datagram in 65 fragments of 8 bytes (a UDP header and 512 bytes).
        Add("65-fragments", m => new() { ["A"] = m("udp", 53) with { Payload = 512 } },
            [.. Enumerable.Range(0, 65).Select(i => new Piece("A", 8 * i, 8, i < 64))]);
        Add("within-timeout", Dns, P1(), new Pause(0.35), P2(), new Pause(0.35), P3());
        Add("timeout-from-first-fragment", Dns, P1(), new Pause(0.6), P2(), new Pause(0.6), P3());
        return scenarios;
    }

    private static void Compare(string rules, string rules6, List<Scenario> scenarios)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable());
        var dir = Directory.CreateTempSubdirectory("fastpath-fragments-");
        try
        {
            string v4 = Path.Combine(dir.FullName, "rules.v4"), v6 = Path.Combine(dir.FullName, "rules.v6");
            File.WriteAllText(v4, rules);
            File.WriteAllText(v6, rules6);
            var clock = Stopwatch.StartNew();
            var (kernel, pcaps) = RunKernel(scenarios, v4, v6, dir.FullName);
            var kernelTime = clock.Elapsed;
            Assert.True(kernel[0].Outputs.Count > 0, $"the kernel forwarded nothing of {scenarios[0].Name} (is forwarding set up?)");

            // The replays are independent of each other: as many at once as there are cores.
            var replays = new Result[scenarios.Count];
            Parallel.For(0, scenarios.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                i => replays[i] = RunFastPath(pcaps[i], v4, v6));
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{scenarios.Count} scenarios: the kernel's in {kernelTime.TotalSeconds:F1} s, FastPath's replays in {(clock.Elapsed - kernelTime).TotalSeconds:F1} s");
            var differences = new List<string>();
            for (int i = 0; i < scenarios.Count; i++)
            {
                var fastpath = replays[i];
                var found = new List<string>();
                if (!kernel[i].Outputs.SequenceEqual(fastpath.Outputs))
                    found.Add($"  output (input frame@after which): {OutputDifference(kernel[i].Outputs, fastpath.Outputs)}");
                foreach (string key in kernel[i].Counters.Keys.Union(fastpath.Counters.Keys).Order(StringComparer.Ordinal))
                {
                    var k = kernel[i].Counters.GetValueOrDefault(key);
                    var x = fastpath.Counters.GetValueOrDefault(key);
                    if (k != x)
                        found.Add($"  {key}: kernel {k.Packets} packets {k.Bytes} bytes | FastPath {x.Packets} packets {x.Bytes} bytes");
                }
                if (kernel[i].Connections >= 0 && kernel[i].Connections != fastpath.Connections)
                    found.Add($"  connections: kernel {kernel[i].Connections} | FastPath {fastpath.Connections}");
                if (found.Count > 0)
                    differences.Add($"{scenarios[i].Name}:\n{string.Join("\n", found)}\n  FastPath trace: {fastpath.Trace}");
            }
            Assert.True(differences.Count == 0, $"FastPath differs from the kernel in {differences.Count} of {scenarios.Count} scenarios:\n{string.Join("\n", differences)}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Both output sequences, or for long ones their lengths and a few outputs either side of the first difference.</summary>
    private static string OutputDifference(IReadOnlyList<Output> kernel, IReadOnlyList<Output> fastpath)
    {
        if (kernel.Count <= 12 && fastpath.Count <= 12)
            return $"kernel [{string.Join(", ", kernel)}] | FastPath [{string.Join(", ", fastpath)}]";
        int first = 0;
        while (first < kernel.Count && first < fastpath.Count && kernel[first] == fastpath[first])
            first++;
        int from = Math.Max(0, first - 3);
        string Window(IReadOnlyList<Output> outputs) =>
            $"{outputs.Count} frames, from number {from} [{string.Join(", ", outputs.Skip(from).Take(7))}{(outputs.Count > from + 7 ? ", ..." : "")}]";
        return $"kernel {Window(kernel)} | FastPath {Window(fastpath)}";
    }

    private static (List<Result> Results, List<string> Pcaps) RunKernel(List<Scenario> scenarios, string v4, string v6, string dir)
    {
        using var ns = new NetworkNamespace();
        LiveDifferentialHarness.SetUpRouter(ns);
        ns.AddVethPair("c0", "c1"); // the script's markers: when they are through, so is what the kernel sent before
        ExecChecked(ns, "iptables-legacy-restore", v4);
        ExecChecked(ns, "ip6tables-legacy-restore", v6);
        // The rules loaded nf_defrag_ipv6, which brings nf_conntrack_frag6_timeout; both timeouts are per namespace.
        ExecChecked(ns, "sysctl", "-qw", $"net.ipv4.ipfrag_time={KernelFragmentTimeout}", $"net.netfilter.nf_conntrack_frag6_timeout={KernelFragmentTimeout}");

        string output = ns.RunScript("kernel_fragments.py", new JsonArray(scenarios.Select(ToJson).ToArray()).ToJsonString(), TimeSpan.FromMinutes(1), dir);
        using var doc = JsonDocument.Parse(output);
        var timeouts = doc.RootElement.GetProperty("timeouts").EnumerateArray().Select(t => t.GetDouble()).ToArray();
        Assert.True(timeouts.All(t => t == KernelFragmentTimeout), $"the namespace's reassembly timeouts are {string.Join(", ", timeouts)} s, not {KernelFragmentTimeout} s");
        var results = new List<Result>();
        var pcaps = new List<string>();
        foreach (var s in doc.RootElement.GetProperty("scenarios").EnumerateArray())
        {
            var outputs = s.GetProperty("outputs").EnumerateArray()
                .Select(o => new Output(o.GetProperty("frame").GetString()!, o.GetProperty("after").GetInt32())).ToList();
            var counters = s.GetProperty("counters").EnumerateObject()
                .ToDictionary(c => c.Name, c => (c.Value[0].GetInt64(), c.Value[1].GetInt64()));
            results.Add(new Result(outputs, counters, s.GetProperty("connections").GetInt32()));
            pcaps.Add(s.GetProperty("pcap").GetString()!);
        }
        return (results, pcaps);
    }

    private static readonly Regex CounterLine = new(@"^\s+((?:ip6:)?filter:FORWARD)(?::(\d+))?\s+(?:policy \S+\s+)?(\d+)\s+(\d+)", RegexOptions.Multiline);
    private static readonly Regex ConnectionsLine = new(@"conntrack: (\d+) connection\(s\) held");

    private static Result RunFastPath(string pcap, string v4, string v6)
    {
        string output = Path.ChangeExtension(pcap, ".out.pcap"), trace = Path.ChangeExtension(pcap, ".trace.tsv");
        var (code, stdout, stderr) = FastPathProcess.Run(
            ["run", "--pcap-in", pcap, "--pcap-out", output, "--rules", v4, "--rules6", v6, "--trace", trace], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"fastpath run --pcap-in {pcap}: exit {code}\n{stdout}\n{stderr}");

        var inputs = CaptureFile.ReadFrames(pcap);
        // Identical input frames (a duplicate) go by the first one's number, as on the kernel side.
        int Name(byte[] frame) => inputs.FindIndex(f => f.AsSpan().SequenceEqual(frame));
        var lines = File.ReadAllLines(trace).Where(l => !l.StartsWith('#')).Select(l => l.Split('\t')).ToList();
        // A frame's line is written when it is decided: a held fragment's when its datagram is, so the highest frame
        // number up to its line is the frame that was being handled when it was sent.
        var decidedAfter = new Dictionary<int, int>();
        var accepted = new List<int>();
        int highest = -1;
        foreach (var line in lines)
        {
            int packet = int.Parse(line[0], CultureInfo.InvariantCulture) - 1;
            decidedAfter[packet] = highest = Math.Max(highest, packet);
            if (line[2] == "ACCEPT")
                accepted.Add(packet);
        }
        // The capture written is in the order frames were sent (a datagram's in offset order, which its trace lines
        // are not); each frame in it is one the trace accepted.
        var outputs = new List<Output>();
        foreach (byte[] frame in CaptureFile.ReadFrames(output))
        {
            int packet = accepted.FindIndex(p => inputs[p].AsSpan().SequenceEqual(frame));
            if (packet < 0)
            {
                outputs.Add(new Output("not a frame the trace accepted: " + Convert.ToHexString(frame), -1));
                continue;
            }
            outputs.Add(new Output(Name(frame).ToString(CultureInfo.InvariantCulture), decidedAfter[accepted[packet]]));
            accepted.RemoveAt(packet);
        }
        if (accepted.Count > 0)
            outputs.Add(new Output($"accepted by the trace but not written: frames {string.Join(", ", accepted)}", -1));

        var counters = CounterLine.Matches(stdout).ToDictionary(
            m => $"{m.Groups[1].Value}:{(m.Groups[2].Success ? m.Groups[2].Value : "policy")}",
            m => (long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture)));
        var held = ConnectionsLine.Match(stdout);
        return new Result(outputs, counters, held.Success ? int.Parse(held.Groups[1].Value, CultureInfo.InvariantCulture) : 0,
            lines.Count <= 12
                ? string.Join(" ", lines.OrderBy(l => int.Parse(l[0], CultureInfo.InvariantCulture)).Select(l => $"{l[0]}:{l[2]}:{l[3]}"))
                : string.Join(", ", lines.GroupBy(l => $"{l[2]} {l[3]}").Select(g => $"{g.Key} x{g.Count()}")));
    }

    private static JsonNode ToJson(Scenario s) => new JsonObject
    {
        ["name"] = s.Name,
        ["datagrams"] = new JsonObject(s.Datagrams.Select(d => KeyValuePair.Create(d.Key, (JsonNode?)new JsonObject
        {
            ["proto"] = d.Value.Protocol, ["src"] = d.Value.Reply ? d.Value.Destination : d.Value.Source,
            ["dst"] = d.Value.Reply ? d.Value.Source : d.Value.Destination,
            ["sport"] = d.Value.Reply ? d.Value.Port : d.Value.SourcePort, ["dport"] = d.Value.Reply ? d.Value.SourcePort : d.Value.Port,
            ["id"] = d.Value.Id, ["payload"] = d.Value.Payload, ["dstopts"] = d.Value.DestinationOptions, ["reply"] = d.Value.Reply,
        }))),
        ["events"] = new JsonArray(s.Steps.Select(step => (JsonNode)(step switch
        {
            Piece f => new JsonObject { ["datagram"] = f.Datagram, ["offset"] = f.Offset, ["length"] = f.Length, ["mf"] = f.More, ["tos"] = f.Tos },
            Whole w => new JsonObject { ["datagram"] = w.Datagram, ["whole"] = true },
            Pause p => new JsonObject { ["sleep"] = p.Seconds },
            _ => throw new ArgumentOutOfRangeException(nameof(s)),
        })).ToArray()),
    };

    private static void ExecChecked(NetworkNamespace ns, params string[] command) => TestEnvironment.RunChecked("ip", ["netns", "exec", ns.Name, .. command]);
}
