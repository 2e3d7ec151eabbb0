// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Runs one scenario — an iptables-save file (and optionally an ip6tables-save file), optionally nfct timeout
/// policies, then packets, proc writes, pauses, listings and nfct or conntrack command lines in order — through the
/// live kernel and through the running `fastpath` process, each between veth pairs a0/a1 and b0/b1 in a namespace
/// of its own, and compares them event by event: what became of each packet (forwarded or dropped, and which rule
/// and policy counters it moved), each write's errno, each xt_recent listing without its jiffies values, each nfct
/// line's exit status and output, each conntrack -L listing (the same connections in the same states with the
/// same counters, and the same timeouts, see <see cref="ConntrackListing"/>), and the final counters listing.
/// live_differential.py drives both sides alike: frames into a1 and out of b1 (replies into b1 and out of a1), one
/// at a time.
/// The kernel routes a0 -> b0 and <see cref="ClientNetwork"/> and <see cref="ClientNetwork6"/> back, so frames cross raw PREROUTING, conntrack and
/// filter FORWARD as through a firewall (and xt_recent sees the TTL from before forwarding, as FastPath does); the
/// files are loaded with iptables-legacy-restore, the policies with nfct. FastPath runs with the same files
/// (policies through --timeout-policies) and its control socket, once with one worker and once with two (sharded
/// tables: a sequential stream must still give the kernel's results).
/// </summary>
internal static class LiveDifferentialHarness
{
    /// <summary>Where the clients of <see cref="Flow"/>s live: the kernel routes replies to it out of a0.</summary>
    public const string ClientNetwork = "172.16.0.0/24";

    /// <summary>Where the IPv6 clients of <see cref="Flow"/>s live: the kernel routes replies to it out of a0.</summary>
    public const string ClientNetwork6 = "2001:db8:1::/64";

    /// <summary>
    /// A UDP datagram (Protocol "udp"), a TCP SYN or segment ("tcp"), an ICMP echo ("icmp") or a port unreachable
    /// quoting a UDP datagram ("icmp-unreachable") to <paramref name="Port"/>, named in its flow's original direction.
    /// </summary>
    public sealed record Frame(string Protocol, string Source, ushort Port, byte Ttl, string Destination) : Event
    {
        /// <summary>The source port, or an ICMP echo's identifier.</summary>
        public ushort SourcePort { get; init; } = 40000;

        /// <summary>The flags of a TCP segment ("S", "SA", "A", "PA", "FA", "R"); the script numbers the conversation. Null: a lone SYN.</summary>
        public string? TcpFlags { get; init; }

        /// <summary>Payload bytes; null for a 12-byte marker.</summary>
        public int? PayloadLength { get; init; }

        /// <summary>Sent by the destination back to the source (into b1, out of a1): a reply, or an echo reply.</summary>
        public bool Reply { get; init; }

        /// <summary>A TCP segment with its sender's previous sequence number again, moving the conversation on by nothing.</summary>
        public bool Retransmit { get; init; }

        /// <summary>The transport checksum damaged on the wire (a UDP datagram over IPv4, sent without one, gets a wrong one).</summary>
        public bool BadChecksum { get; init; }

        /// <summary>
        /// The IP packet as a scapy expression (extension headers, ICMPv6 messages, quotes the script's builder does not
        /// make); the script sets its flow label or identification. The other fields then only name its flow.
        /// </summary>
        public string? Scapy { get; init; }

        /// <summary>The frame may vanish (the kernel drops it before netfilter): it is waited for briefly, then "lost".</summary>
        public bool Lost { get; init; }
    }

    /// <summary>
    /// A frame built by scapy (see <see cref="Frame.Scapy"/>), from <paramref name="source"/> unless it is a <paramref name="reply"/>;
    /// <paramref name="protocol"/> names its connection as conntrack -L does (udp, tcp, icmpv6, unknown), or anything else for none.
    /// </summary>
    public static Frame Scapy(string protocol, string source, ushort port, string destination, string expression, bool reply = false, bool lost = false) =>
        new(protocol, source, port, 64, destination) { Scapy = expression, Reply = reply, Lost = lost };

    public static Frame Udp(string source, ushort port, byte ttl = 64, string? destination = null) =>
        new("udp", source, port, ttl, destination ?? DefaultDestination(source));

    public static Frame Syn(string source, ushort port, byte ttl = 64, string? destination = null) =>
        new("tcp", source, port, ttl, destination ?? DefaultDestination(source));

    private static string DefaultDestination(string source) => source.Contains(':') ? "2001:db8:ffff::1" : "198.18.0.1";

    /// <summary>A conversation between a client in <see cref="ClientNetwork"/> or <see cref="ClientNetwork6"/> (behind a1) and a server behind b1.</summary>
    public sealed record Flow(string Protocol, string Client, ushort ClientPort, string Server, ushort ServerPort)
    {
        /// <summary>A packet from the client: a TCP segment with <paramref name="tcpFlags"/>, a datagram, an echo request.</summary>
        public Frame Send(string? tcpFlags = null, int payload = 0) => Make(tcpFlags, payload, reply: false);

        /// <summary>A packet from the server.</summary>
        public Frame Answer(string? tcpFlags = null, int payload = 0) => Make(tcpFlags, payload, reply: true);

        /// <summary>The client's previous segment's sequence number again, with <paramref name="tcpFlags"/> and <paramref name="payload"/>.</summary>
        public Frame Resend(string tcpFlags, int payload = 0) => Make(tcpFlags, payload, reply: false) with { Retransmit = true };

        /// <summary>The server's previous segment's sequence number again.</summary>
        public Frame Reanswer(string tcpFlags, int payload = 0) => Make(tcpFlags, payload, reply: true) with { Retransmit = true };

        /// <summary>The server's ICMP port unreachable, quoting the client's UDP datagram.</summary>
        public Frame Unreachable() => Make(null, 0, reply: true) with { Protocol = "icmp-unreachable" };

        private Frame Make(string? tcpFlags, int payload, bool reply) =>
            new(Protocol, Client, ServerPort, 64, Server) { SourcePort = ClientPort, TcpFlags = tcpFlags, PayloadLength = payload, Reply = reply };
    }

    /// <summary>A write to /proc/sys/net/<paramref name="Directory"/>/<paramref name="Name"/> (the kernel namespace's, or through fastpathctl write).</summary>
    public sealed record SysctlWrite(string Name, string Text, string Directory = "netfilter") : Event;

    /// <summary>A read of /proc/sys/net/<paramref name="Directory"/>/<paramref name="Name"/>, compared byte for byte.</summary>
    public sealed record SysctlRead(string Name, string Directory = "netfilter") : Event;

    /// <summary>A read of /proc/net/nf_conntrack, compared as <see cref="ConntrackListing.Formatted"/> compares -o listings.</summary>
    public sealed record ProcConntrackRead : Event;

    /// <summary>
    /// The IPv4 rules replaced by an iptables-save text: iptables-legacy-restore in the kernel namespace (then, if it
    /// took them, ip6tables-legacy-restore with the IPv6 file again, as a reload re-reads both files), the --rules file
    /// rewritten and `fastpathctl reload` for FastPath; whether the rules were taken (exit status 0 or 1) is compared.
    /// </summary>
    public sealed record RulesRestore(string Rules) : Event;

    /// <summary>"nfct ..." or "conntrack ..." in the kernel namespace, or fastpathctl with the same arguments.</summary>
    public sealed record Command(string[] Arguments) : Event
    {
        /// <summary>
        /// A conntrack line compared whatever it asks for: exit status and standard error exactly, standard output
        /// byte for byte but for timeouts, ids and order (<see cref="ConntrackListing.Formatted"/>), or by its totals
        /// when it is -S's per-cpu statistics. Without it the line's options choose (see <see cref="Differences"/>).
        /// </summary>
        public bool ComparedAsText { get; init; }

        public override string ToString() => string.Join(' ', Arguments);
    }

    public static Command Nfct(params string[] arguments) => new(["nfct", .. arguments]);

    public static Command ConntrackList() => new(["conntrack", "-L"]);

    public static Command Conntrack(params string[] arguments) => new(["conntrack", .. arguments]);

    private sealed record Outcome(IReadOnlyList<Packet> Packets, IReadOnlyList<int> Errnos, IReadOnlyList<string> Listings, IReadOnlyList<Run> Runs, string Counters);

    /// <summary>A packet's fate, and when it was sent (seconds on the script's monotonic clock).</summary>
    private sealed record Packet(string Verdict, double SentAt);

    /// <summary>A command's result, and when it was started and when it had finished.</summary>
    private sealed record Run(int Exit, string Stdout, string Stderr, double StartedAt, double FinishedAt);

    /// <param name="timeoutPolicies">nfct command lines without the "nfct" (run in the kernel namespace, or the --timeout-policies file).</param>
    /// <param name="workerCounts">The FastPath runs: with one worker, two workers (skipped on a one-core machine) or both.</param>
    public static void Compare(string rules, string? rules6, IReadOnlyList<Event> events, IReadOnlyList<string>? timeoutPolicies = null, int[]? workerCounts = null)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable() ?? TestEnvironment.DpdkUnavailable()
            ?? ToolsUnavailable(events, timeoutPolicies));
        var dir = Directory.CreateTempSubdirectory("fastpath-live-");
        try
        {
            string v4 = Path.Combine(dir.FullName, "rules.v4");
            File.WriteAllText(v4, rules);
            string? v6 = null;
            if (rules6 is not null)
                File.WriteAllText(v6 = Path.Combine(dir.FullName, "rules.v6"), rules6);
            string? policies = null;
            if (timeoutPolicies is not null)
                File.WriteAllLines(policies = Path.Combine(dir.FullName, "timeout-policies"), timeoutPolicies);

            var kernel = RunKernel(v4, v6, timeoutPolicies ?? [], events);
            Assert.True(kernel.Packets.All(p => !p.Verdict.StartsWith("undecided", StringComparison.Ordinal)),
                "the kernel side left packets undecided (is forwarding set up?):\n" + string.Join("\n", kernel.Packets));

            // Every run goes ahead before anything is asserted, so a failure shows every difference of all of them.
            var differences = new List<string>();
            foreach (int workers in workerCounts ?? [1, 2])
            {
                File.WriteAllText(v4, rules); // a RulesRestore of the run before rewrote it
                if (workers > Environment.ProcessorCount)
                {
                    TestContext.Current.TestOutputHelper?.WriteLine($"the {workers}-worker run is skipped: this machine has {Environment.ProcessorCount} core(s)");
                    continue;
                }
                // One worker on the last core; two on cores 0 and 1.
                string cores = workers == 1 ? (Environment.ProcessorCount - 1).ToString() : $"0-{workers - 1}";
                var fastpath = RunFastPath(v4, v6, policies, events, dir.FullName, cores, workers);
                differences.AddRange(Differences(events, kernel, fastpath, workers == 1 ? "1 worker" : $"{workers} workers"));
            }
            Assert.True(differences.Count == 0, $"FastPath differs from the kernel:\n{string.Join("\n", differences)}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Null when the programs the scenario runs in the kernel namespace are installed, otherwise which is not.</summary>
    private static string? ToolsUnavailable(IReadOnlyList<Event> events, IReadOnlyList<string>? timeoutPolicies) =>
        events.OfType<Command>().Select(c => c.Arguments[0]).Concat(timeoutPolicies is null ? [] : ["nfct"]).Distinct()
            .Select(TestEnvironment.ToolUnavailable).FirstOrDefault(reason => reason is not null);

    /// <summary>
    /// Makes <paramref name="ns"/> a router between veth pairs a0/a1 and b0/b1: frames sent into a1 to a0's address
    /// are forwarded out of b0 (and seen on b1), replies to <see cref="ClientNetwork"/> and <see cref="ClientNetwork6"/>
    /// out of a0 (seen on a1).
    /// </summary>
    internal static void SetUpRouter(NetworkNamespace ns)
    {
        ns.AddVethPair("a0", "a1");
        ns.AddVethPair("b0", "b1");
        // Forward everything from a0 out of b0 to a gateway whose link-layer address is fixed, and replies to the
        // client network out of a0 to another: no ARP or neighbour discovery, and no addresses of our own (so no
        // IPv6 link-local chatter into PREROUTING).
        Exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.conf.all.rp_filter=0");
        foreach (string link in new[] { "a0", "b0" })
        {
            TestEnvironment.RunChecked("ip", "-n", ns.Name, "link", "set", link, "addrgenmode", "none");
            Exec(ns, "sysctl", "-qw", $"net.ipv6.conf.{link}.disable_ipv6=0", $"net.ipv4.conf.{link}.rp_filter=0");
        }
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "neigh", "add", "10.255.0.2", "lladdr", "02:00:00:00:00:02", "dev", "b0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", "10.255.0.2/32", "dev", "b0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", "default", "via", "10.255.0.2", "dev", "b0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "neigh", "add", "10.254.0.2", "lladdr", "02:00:00:00:00:03", "dev", "a0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", "10.254.0.2/32", "dev", "a0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", ClientNetwork, "via", "10.254.0.2", "dev", "a0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "neigh", "add", "fe80::2", "lladdr", "02:00:00:00:00:02", "dev", "b0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "route", "add", "default", "via", "fe80::2", "dev", "b0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "neigh", "add", "fe80::3", "lladdr", "02:00:00:00:00:03", "dev", "a0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "route", "add", ClientNetwork6, "via", "fe80::3", "dev", "a0");
    }

    private static Outcome RunKernel(string v4, string? v6, IReadOnlyList<string> timeoutPolicies, IReadOnlyList<Event> events)
    {
        using var ns = new NetworkNamespace();
        SetUpRouter(ns);
        foreach (string policy in timeoutPolicies)
            Exec(ns, ["nfct", .. policy.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        var tables = new List<string>();
        foreach (var (tool, file) in new[] { ("iptables", v4), ("ip6tables", v6) })
        {
            if (file is null)
                continue;
            Exec(ns, $"{tool}-legacy-restore", file);
            // The order of /proc/fastpath/counters: raw, then filter, for each family.
            string text = File.ReadAllText(file);
            tables.AddRange(new[] { "raw", "filter" }.Where(t => text.Contains($"*{t}\n", StringComparison.Ordinal)).Select(t => $"{tool}:{t}"));
        }
        // Listings compare counters: accounting on (-e: no such key when the rules did not need conntrack), as on FastPath.
        Exec(ns, "sysctl", "-qew", "net.netfilter.nf_conntrack_acct=1");
        return Drive(ns, events, ["kernel", v6 ?? "-", .. tables]);
    }

    private static Outcome RunFastPath(string v4, string? v6, string? policies, IReadOnlyList<Event> events, string dir, string cores, int workers)
    {
        using var ns = new NetworkNamespace();
        ns.AddVethPair("a0", "a1");
        ns.AddVethPair("b0", "b1");
        string socket = Path.Combine(dir, $"control-{workers}.sock");
        string queues = workers > 1 ? $",qpairs={workers}" : "";
        var arguments = new List<string>
        {
            "run", "--eal", $"{DpdkLiveTests.CommonEal} --vdev=net_af_packet0,iface=a0{queues} --vdev=net_af_packet1,iface=b0{queues}",
            "--pair", "net_af_packet0,net_af_packet1", "--cores", cores, "--rules", v4, "--control", socket, "--stats-interval", "0",
        };
        if (v6 is not null)
            arguments.AddRange(["--rules6", v6]);
        if (policies is not null)
            arguments.AddRange(["--timeout-policies", policies]);
        using var fastpath = FastPathProcess.Start(arguments, ns.Name);
        Assert.True(fastpath.WaitForOutput("control socket", TimeSpan.FromSeconds(30)), $"fastpath did not start\n{fastpath.Stdout}\n{fastpath.Stderr}");

        string fastpathctl = Path.Combine(AppContext.BaseDirectory, "fastpathctl");
        TestEnvironment.RunChecked(fastpathctl, "--socket", socket, "write", "/proc/sys/net/netfilter/nf_conntrack_acct", "1");
        var outcome = Drive(ns, events, ["fastpath", socket, fastpathctl, v4]);
        fastpath.Terminate();
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"fastpath ({workers} worker(s)) exited with {code} after SIGTERM\n{fastpath.Stdout}\n{fastpath.Stderr}");
        return outcome;
    }

    /// <summary>Runs live_differential.py in the namespace with the events on its standard input.</summary>
    private static Outcome Drive(NetworkNamespace ns, IReadOnlyList<Event> events, string[] arguments)
    {
        string output = ns.RunScript("live_differential.py", new JsonArray(events.Select(ToJson).ToArray()).ToJsonString(), TimeSpan.FromMinutes(2), arguments);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        return new Outcome(
            root.GetProperty("packets").EnumerateArray()
                .Select(v => new Packet(
                    $"{v.GetProperty("verdict").GetString()}: {string.Join(", ", v.GetProperty("counted").EnumerateArray().Select(c => c.GetString()))}",
                    v.GetProperty("sent_at").GetDouble()))
                .ToList(),
            root.GetProperty("errnos").EnumerateArray().Select(v => v.GetInt32()).ToList(),
            root.GetProperty("listings").EnumerateArray().Select(v => v.GetString()!).ToList(),
            root.GetProperty("runs").EnumerateArray()
                .Select(v => new Run(v.GetProperty("exit").GetInt32(), v.GetProperty("stdout").GetString()!, v.GetProperty("stderr").GetString()!,
                    v.GetProperty("started_at").GetDouble(), v.GetProperty("finished_at").GetDouble()))
                .ToList(),
            root.GetProperty("counters").GetString()!);
    }

    private const string RecentDirectory = "/proc/net/xt_recent/";
    private const string SysctlDirectory = "/proc/sys/net/";

    private static JsonNode ToJson(Event e) => e switch
    {
        Frame f => new JsonObject
        {
            ["packet"] = new JsonObject
            {
                ["proto"] = f.Protocol, ["src"] = f.Source, ["dst"] = f.Destination, ["ttl"] = f.Ttl, ["dport"] = f.Port, ["sport"] = f.SourcePort,
                ["flags"] = f.TcpFlags, ["payload"] = f.PayloadLength, ["reply"] = f.Reply, ["retransmit"] = f.Retransmit,
                ["bad_checksum"] = f.BadChecksum, ["scapy"] = f.Scapy, ["lost"] = f.Lost,
            },
        },
        SysctlRead r => new JsonObject { ["list"] = $"{SysctlDirectory}{r.Directory}/{r.Name}" },
        ProcConntrackRead => new JsonObject { ["list"] = "/proc/net/nf_conntrack" },
        RulesRestore r => new JsonObject { ["restore"] = r.Rules },
        Sleep s => new JsonObject { ["sleep"] = s.Seconds },
        Write w => new JsonObject { ["write"] = new JsonObject { ["path"] = RecentDirectory + w.Table, ["text"] = w.Text } },
        SysctlWrite w => new JsonObject { ["write"] = new JsonObject { ["path"] = $"{SysctlDirectory}{w.Directory}/{w.Name}", ["text"] = w.Text } },
        List l => new JsonObject { ["list"] = RecentDirectory + l.Table },
        Command c => new JsonObject { ["run"] = new JsonArray(c.Arguments.Select(a => (JsonNode)a!).ToArray()) },
        _ => throw new ArgumentOutOfRangeException(nameof(e), e, "the live harness takes Frame, Sleep, Write, SysctlWrite, SysctlRead, ProcConntrackRead, RulesRestore, List and Command events"),
    };

    /// <summary>Every difference, event by event, each line naming the FastPath run.</summary>
    private static List<string> Differences(IReadOnlyList<Event> events, Outcome kernel, Outcome fastpath, string run)
    {
        var differences = new List<string>();
        int packet = 0, write = 0, listing = 0, command = 0;
        for (int i = 0; i < events.Count; i++)
        {
            switch (events[i])
            {
                case Frame f:
                    if (kernel.Packets[packet].Verdict != fastpath.Packets[packet].Verdict)
                        differences.Add($"{run}: event {i} ({f}): kernel {kernel.Packets[packet].Verdict} | FastPath {fastpath.Packets[packet].Verdict}");
                    packet++;
                    break;
                case Write or SysctlWrite or RulesRestore:
                    if (kernel.Errnos[write] != fastpath.Errnos[write])
                        differences.Add($"{run}: event {i} ({events[i]}): kernel errno {kernel.Errnos[write]} | FastPath errno {fastpath.Errnos[write]}");
                    write++;
                    break;
                case SysctlRead r:
                    if (kernel.Listings[listing] != fastpath.Listings[listing])
                        differences.Add($"{run}: event {i} ({r}): kernel {kernel.Listings[listing].Trim()} | FastPath {fastpath.Listings[listing].Trim()}");
                    listing++;
                    break;
                case ProcConntrackRead:
                    if (ConntrackListing.Formatted(kernel.Listings[listing]) != ConntrackListing.Formatted(fastpath.Listings[listing]))
                        differences.Add($"{run}: event {i} (/proc/net/nf_conntrack):\n== kernel:\n{kernel.Listings[listing]}\n== FastPath:\n{fastpath.Listings[listing]}");
                    listing++;
                    break;
                case List l:
                    var k = Summarise(kernel.Listings[listing]);
                    var x = Summarise(fastpath.Listings[listing]);
                    if (!k.SequenceEqual(x))
                        differences.Add($"{run}: event {i} ({l}): kernel [{string.Join("; ", k)}] | FastPath [{string.Join("; ", x)}]");
                    listing++;
                    break;
                case Command c:
                    // A conntrack line that lists connections is compared by connection and timeout; one in an -o
                    // format byte for byte but for its timeouts, ids and order; a count (-C) has no times; the
                    // statistics (-S) by their totals, as the kernel's cpus are not FastPath's workers.
                    string? difference = c.ComparedAsText
                        ? Joined(TextDifference(kernel.Runs[command].Stdout, fastpath.Runs[command].Stdout), StatusDifference(kernel.Runs[command], fastpath.Runs[command]))
                        : c.Arguments[0] == "conntrack" && c.Arguments.Contains("-S")
                        ? Joined(StatisticsTotals(kernel.Runs[command].Stdout) == StatisticsTotals(fastpath.Runs[command].Stdout)
                                ? null
                                : $"== kernel:\n{kernel.Runs[command].Stdout}\n== FastPath:\n{fastpath.Runs[command].Stdout}",
                            StatusDifference(kernel.Runs[command], fastpath.Runs[command]))
                        : c.Arguments[0] == "conntrack" && c.Arguments.Contains("-o")
                        ? Joined(ConntrackListing.Formatted(kernel.Runs[command].Stdout) == ConntrackListing.Formatted(fastpath.Runs[command].Stdout)
                                ? null
                                : $"== kernel:\n{kernel.Runs[command].Stdout}\n== FastPath:\n{fastpath.Runs[command].Stdout}",
                            StatusDifference(kernel.Runs[command], fastpath.Runs[command]))
                        : c.Arguments[0] == "conntrack" && !c.Arguments.Contains("-C")
                        ? Joined(ConntrackListing.Difference(
                                ConntrackListing.Parse(kernel.Runs[command].Stdout, LastSent(events, i, kernel), kernel.Runs[command].StartedAt, kernel.Runs[command].FinishedAt),
                                ConntrackListing.Parse(fastpath.Runs[command].Stdout, LastSent(events, i, fastpath), fastpath.Runs[command].StartedAt, fastpath.Runs[command].FinishedAt)),
                            StatusDifference(kernel.Runs[command], fastpath.Runs[command]))
                        : ToolDifference(kernel.Runs[command], fastpath.Runs[command]);
                    if (difference is not null)
                        differences.Add($"{run}: event {i} ({c}):\n{difference}");
                    command++;
                    break;
            }
        }
        var kernelChains = CrossedChains(kernel.Counters);
        var fastpathChains = CrossedChains(fastpath.Counters);
        if (!kernelChains.SequenceEqual(fastpathChains))
            differences.Add($"{run}: final counters: kernel\n{string.Join("\n", kernelChains)}\nFastPath\n{string.Join("\n", fastpathChains)}");
        return differences;
    }

    /// <summary>Null when the outputs are the same as <see cref="Command.ComparedAsText"/> compares them, else both.</summary>
    private static string? TextDifference(string kernel, string fastpath)
    {
        bool statistics = kernel.StartsWith("cpu=", StringComparison.Ordinal);
        bool same = statistics
            ? fastpath.StartsWith("cpu=", StringComparison.Ordinal) && StatisticsTotals(kernel) == StatisticsTotals(fastpath)
            : ConntrackListing.Formatted(kernel) == ConntrackListing.Formatted(fastpath);
        return same ? null : $"== kernel:\n{kernel}\n== FastPath:\n{fastpath}";
    }

    /// <summary>conntrack -S's counters summed over its cpu lines: "found=0 invalid=4 ...".</summary>
    private static string StatisticsTotals(string stdout) => string.Join(" ", stdout
        .Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .SelectMany(line => line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Skip(1))
        .Select(field => field.Split('='))
        .GroupBy(pair => pair[0], pair => long.Parse(pair[1], CultureInfo.InvariantCulture))
        .Select(counter => $"{counter.Key}={counter.Sum()}"));

    /// <summary>The frames sent before event <paramref name="before"/>, with when each was sent on that side.</summary>
    private static List<(Frame Frame, double SentAt)> LastSent(IReadOnlyList<Event> events, int before, Outcome outcome) =>
        events.Take(before).OfType<Frame>().Select((f, n) => (f, outcome.Packets[n].SentAt)).ToList();

    /// <summary>
    /// An nfct line's outcome: exit status, standard output and standard error byte for byte (fastpathctl prints
    /// nfct's messages with nfct's own name and version, so nothing needs normalising).
    /// </summary>
    private static string? ToolDifference(Run kernel, Run fastpath)
    {
        string k = CttimeoutOutcome.Nfct(kernel.Exit, kernel.Stdout, kernel.Stderr), x = CttimeoutOutcome.Nfct(fastpath.Exit, fastpath.Stdout, fastpath.Stderr);
        return k == x ? null : $"== kernel:\n{k}\n== FastPath:\n{x}";
    }

    private static string? Joined(string? first, string? second) =>
        first is null ? second : second is null ? first : $"{first}\n{second}";

    /// <summary>A conntrack line's exit status and standard error (its summary or message), which carry no times.</summary>
    private static string? StatusDifference(Run kernel, Run fastpath) =>
        (kernel.Exit, kernel.Stderr) == (fastpath.Exit, fastpath.Stderr)
            ? null
            : $"== kernel: exit {kernel.Exit}\n{kernel.Stderr}== FastPath: exit {fastpath.Exit}\n{fastpath.Stderr}";

    /// <summary>
    /// The counters listing chain by chain, each after its "# iptables -t raw -L -v -x -n" line, without the
    /// built-in INPUT and OUTPUT chains: crossing traffic never passes them, the kernel's own packets (MLD
    /// reports) do. Chains and sections are separated by blank lines.
    /// </summary>
    private static List<string> CrossedChains(string listing)
    {
        var chains = new List<string>();
        string section = "";
        foreach (string block in listing.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (lines[0].StartsWith("# ", StringComparison.Ordinal))
            {
                section = lines[0];
                lines.RemoveAt(0);
            }
            if (lines[0].Split(' ')[1] is not ("INPUT" or "OUTPUT"))
                chains.Add($"{section}\n{string.Join("\n", lines)}");
        }
        return chains;
    }

    private static void Exec(NetworkNamespace ns, params string[] command) => TestEnvironment.RunChecked("ip", ["netns", "exec", ns.Name, .. command]);
}
