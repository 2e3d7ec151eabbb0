// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Runs one scenario — an iptables-save file (and optionally an ip6tables-save file) with recent rules, then
/// packets, proc writes, pauses and listings in order — through the live kernel and through the running
/// `fastpath` process, each between veth pairs a0/a1 and b0/b1 in a namespace of its own, and compares them
/// event by event: what became of each packet (forwarded or dropped, and which rule and policy counters it
/// moved), each write's errno, each listing without its jiffies values, and the final counters listing.
/// live_recent_match.py drives both sides alike: frames into a1, out of b1, one at a time.
/// The kernel routes a0 -> b0, so frames cross raw PREROUTING and filter FORWARD as through a firewall (and
/// xt_recent sees the TTL from before forwarding, as FastPath does); the files are loaded with
/// iptables-legacy-restore. FastPath runs with the same files and its control socket, once with one worker
/// and once with two (sharded tables: a sequential stream must still give the kernel's results).
/// </summary>
internal static class LiveRecentHarness
{
    /// <summary>A UDP datagram (Protocol "udp") or a TCP SYN ("tcp") to <paramref name="Port"/>.</summary>
    public sealed record Frame(string Protocol, string Source, ushort Port, byte Ttl, string Destination) : Event;

    public static Frame Udp(string source, ushort port, byte ttl = 64, string? destination = null) =>
        new("udp", source, port, ttl, destination ?? DefaultDestination(source));

    public static Frame Syn(string source, ushort port, byte ttl = 64, string? destination = null) =>
        new("tcp", source, port, ttl, destination ?? DefaultDestination(source));

    private static string DefaultDestination(string source) => source.Contains(':') ? "2001:db8:ffff::1" : "198.18.0.1";

    private sealed record Outcome(IReadOnlyList<string> Packets, IReadOnlyList<int> Errnos, IReadOnlyList<string> Listings, string Counters);

    public static void Compare(string rules, string? rules6, IReadOnlyList<Event> events)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable() ?? TestEnvironment.DpdkUnavailable());
        var dir = Directory.CreateTempSubdirectory("fastpath-live-");
        try
        {
            string v4 = Path.Combine(dir.FullName, "rules.v4");
            File.WriteAllText(v4, rules);
            string? v6 = null;
            if (rules6 is not null)
                File.WriteAllText(v6 = Path.Combine(dir.FullName, "rules.v6"), rules6);

            var kernel = RunKernel(v4, v6, events);
            Assert.True(kernel.Packets.All(p => !p.StartsWith("undecided", StringComparison.Ordinal)),
                "the kernel side left packets undecided (is forwarding set up?):\n" + string.Join("\n", kernel.Packets));

            // Both runs go ahead before anything is asserted, so a failure shows every difference of both.
            string lastCore = (Environment.ProcessorCount - 1).ToString();
            var differences = Differences(events, kernel, RunFastPath(v4, v6, events, dir.FullName, lastCore, workers: 1), "1 worker");
            if (Environment.ProcessorCount < 2)
                TestContext.Current.TestOutputHelper?.WriteLine("the 2-worker run is skipped: this machine has one core");
            else
                differences.AddRange(Differences(events, kernel, RunFastPath(v4, v6, events, dir.FullName, "0,1", workers: 2), "2 workers"));
            Assert.True(differences.Count == 0, $"FastPath differs from the kernel:\n{string.Join("\n", differences)}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Outcome RunKernel(string v4, string? v6, IReadOnlyList<Event> events)
    {
        using var ns = new NetworkNamespace();
        ns.AddVethPair("a0", "a1");
        ns.AddVethPair("b0", "b1");
        // Forward everything from a0 out of b0 to a gateway whose link-layer address is fixed: no ARP or
        // neighbour discovery, and no addresses of our own (so no IPv6 link-local chatter into PREROUTING).
        Exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
        foreach (string link in new[] { "a0", "b0" })
        {
            TestEnvironment.RunChecked("ip", "-n", ns.Name, "link", "set", link, "addrgenmode", "none");
            Exec(ns, "sysctl", "-qw", $"net.ipv6.conf.{link}.disable_ipv6=0");
        }
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "neigh", "add", "10.255.0.2", "lladdr", "02:00:00:00:00:02", "dev", "b0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", "10.255.0.2/32", "dev", "b0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "route", "add", "default", "via", "10.255.0.2", "dev", "b0");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "neigh", "add", "fe80::2", "lladdr", "02:00:00:00:00:02", "dev", "b0", "nud", "permanent");
        TestEnvironment.RunChecked("ip", "-n", ns.Name, "-6", "route", "add", "default", "via", "fe80::2", "dev", "b0");

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
        return Drive(ns, events, ["kernel", .. tables]);
    }

    private static Outcome RunFastPath(string v4, string? v6, IReadOnlyList<Event> events, string dir, string cores, int workers)
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
        using var fastpath = FastPathProcess.Start(arguments, ns.Name);
        Assert.True(fastpath.WaitForOutput("control socket", TimeSpan.FromSeconds(30)), $"fastpath did not start\n{fastpath.Stdout}\n{fastpath.Stderr}");

        var outcome = Drive(ns, events, ["fastpath", socket, Path.Combine(AppContext.BaseDirectory, "fastpathctl")]);
        fastpath.Terminate();
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"fastpath ({workers} worker(s)) exited with {code} after SIGTERM\n{fastpath.Stdout}\n{fastpath.Stderr}");
        return outcome;
    }

    /// <summary>Runs live_recent_match.py in the namespace with the events on its standard input.</summary>
    private static Outcome Drive(NetworkNamespace ns, IReadOnlyList<Event> events, string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", ns.Name, TestEnvironment.Python, Path.Combine(AppContext.BaseDirectory, "Kernel", "live_recent_match.py") }.Concat(arguments))
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(new JsonArray(events.Select(ToJson).ToArray()).ToJsonString());
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill();
            throw new TimeoutException($"live_recent_match.py {arguments[0]} did not finish within 2 minutes");
        }
        Assert.True(p.ExitCode == 0, $"live_recent_match.py {arguments[0]} failed ({p.ExitCode}): {error.Result}");
        using var doc = JsonDocument.Parse(output.Result);
        var root = doc.RootElement;
        return new Outcome(
            root.GetProperty("packets").EnumerateArray()
                .Select(v => $"{v.GetProperty("verdict").GetString()}: {string.Join(", ", v.GetProperty("counted").EnumerateArray().Select(c => c.GetString()))}")
                .ToList(),
            root.GetProperty("errnos").EnumerateArray().Select(v => v.GetInt32()).ToList(),
            root.GetProperty("listings").EnumerateArray().Select(v => v.GetString()!).ToList(),
            root.GetProperty("counters").GetString()!);
    }

    private static JsonNode ToJson(Event e) => e switch
    {
        Frame f => new JsonObject { ["packet"] = new JsonObject { ["proto"] = f.Protocol, ["src"] = f.Source, ["dst"] = f.Destination, ["ttl"] = f.Ttl, ["dport"] = f.Port } },
        Sleep s => new JsonObject { ["sleep"] = s.Seconds },
        Write w => new JsonObject { ["write"] = new JsonObject { ["table"] = w.Table, ["text"] = w.Text } },
        List l => new JsonObject { ["list"] = l.Table },
        _ => throw new ArgumentOutOfRangeException(nameof(e), e, "the live harness takes Frame, Sleep, Write and List events"),
    };

    /// <summary>Every difference, event by event, each line naming the FastPath run.</summary>
    private static List<string> Differences(IReadOnlyList<Event> events, Outcome kernel, Outcome fastpath, string run)
    {
        var differences = new List<string>();
        int packet = 0, write = 0, listing = 0;
        for (int i = 0; i < events.Count; i++)
        {
            switch (events[i])
            {
                case Frame f:
                    if (kernel.Packets[packet] != fastpath.Packets[packet])
                        differences.Add($"{run}: event {i} ({f}): kernel {kernel.Packets[packet]} | FastPath {fastpath.Packets[packet]}");
                    packet++;
                    break;
                case Write w:
                    if (kernel.Errnos[write] != fastpath.Errnos[write])
                        differences.Add($"{run}: event {i} ({w}): kernel errno {kernel.Errnos[write]} | FastPath errno {fastpath.Errnos[write]}");
                    write++;
                    break;
                case List l:
                    var k = Summarise(kernel.Listings[listing]);
                    var x = Summarise(fastpath.Listings[listing]);
                    if (!k.SequenceEqual(x))
                        differences.Add($"{run}: event {i} ({l}): kernel [{string.Join("; ", k)}] | FastPath [{string.Join("; ", x)}]");
                    listing++;
                    break;
            }
        }
        var kernelChains = CrossedChains(kernel.Counters);
        var fastpathChains = CrossedChains(fastpath.Counters);
        if (!kernelChains.SequenceEqual(fastpathChains))
            differences.Add($"{run}: final counters: kernel\n{string.Join("\n", kernelChains)}\nFastPath\n{string.Join("\n", fastpathChains)}");
        return differences;
    }

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
