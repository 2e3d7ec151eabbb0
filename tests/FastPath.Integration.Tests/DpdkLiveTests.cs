// SPDX-License-Identifier: MIT
using System.Text.Json;
using FastPath.Dataplane.Pcap;
using FastPath.Testing;
using Xunit;

namespace FastPath.Integration.Tests;

/// <summary>
/// The live DPDK path through real EAL devices, each run in its own fastpath process (DPDK allows one EAL
/// per process). `--no-huge` keeps them runnable on a machine without hugepages; `--no-shconf` and
/// `--no-telemetry` keep concurrent runs from sharing runtime files.
/// </summary>
public sealed class DpdkLiveTests : IDisposable
{
    internal const string CommonEal = "--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=warning";
    private readonly string _dir = Directory.CreateTempSubdirectory("fastpath-dpdk-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void NetPcapInToOutIsByteIdenticalMinusDrops()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        string input = TestEnvironment.Sample("mixed.pcap");
        string output = Path.Combine(_dir, "out.pcap");
        var expectations = CaptureFile.ReadExpectations(TestEnvironment.Sample("mixed.expected.tsv"));

        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{CommonEal} --vdev=net_pcap0,rx_pcap={input} --vdev=net_pcap1,tx_pcap={output}",
            "--pair", "net_pcap0,net_pcap1", "--cores", LastCore(), "--duration", "2", "--stats-interval", "0"]);
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}\n{fastpath.Stdout}\n{fastpath.Stderr}");
        var inputFrames = CaptureFile.ReadFrames(input);
        var expected = expectations.Where(e => e.Forward).Select(e => inputFrames[e.Index - 1]).ToList();
        var actual = CaptureFile.ReadFrames(output);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"forwarded frame {i} differs");
        Assert.Contains($"drops by reason: {expectations.Count(e => !e.Forward)}", fastpath.Stdout);
    }

    /// <summary>Live, the workers queue -j LOG records and the management thread writes their lines to --log.</summary>
    [Fact]
    public void LogRulesWriteTheirLinesThroughTheManagementThread()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        string input = TestEnvironment.Sample("mixed.pcap");
        string rules = Path.Combine(_dir, "log.rules");
        File.WriteAllText(rules, "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j LOG --log-prefix \"seen: \" --log-macdecode\nCOMMIT\n");
        string log = Path.Combine(_dir, "fastpath.log");

        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{CommonEal} --vdev=net_pcap0,rx_pcap={input} --vdev=net_pcap1,tx_pcap={Path.Combine(_dir, "out.pcap")}",
            "--pair", "net_pcap0,net_pcap1", "--cores", LastCore(), "--duration", "2", "--stats-interval", "0", "--control", "off",
            "--rules", rules, "--log", log]);
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}\n{fastpath.Stdout}\n{fastpath.Stderr}");
        string[] lines = File.ReadAllLines(log);
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.Matches(@"^<4>\[\d+\.\d{6}\] seen: IN=net_pcap0 OUT=net_pcap1 MACSRC=\S+ MACDST=\S+ (VPROTO=\S+ VID=\d+ )?MACPROTO=(0800|86dd) SRC=", line));
        Assert.Contains($"log: {lines.Length} line(s) written to {log}, 0 lost", fastpath.Stdout);
    }

    /// <summary>
    /// Live, with DPDK's mbufs: fragments are held across bursts while connections are tracked, and a whole datagram's
    /// leave in offset order; those of a datagram the rules drop, and of one never completed, go back to the pool.
    /// </summary>
    [Fact]
    public void FragmentsAreHeldAndReassembledOnMbufs()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        byte[] Piece(ushort port, ushort id, int offset, int length, bool more)
        {
            byte[] udp = TestFrames.Udp(40000, port, [.. Enumerable.Range(0, 1200).Select(i => (byte)i)]);
            return TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(17, udp.AsSpan(offset, length).ToArray(), "10.0.0.1", "192.0.2.53",
                moreFragments: more, fragmentOffset: offset, patch: h => System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), id)));
        }
        var frames = new List<byte[]>();
        for (ushort id = 0; id < 20; id++)
        {
            ushort port = id % 4 == 3 ? (ushort)9 : (ushort)53;
            frames.Add(Piece(port, id, 1000, 208, false));
            frames.Add(Piece(port, id, 0, 504, true));
            if (id != 19)
                frames.Add(Piece(port, id, 504, 496, true));
        }
        string input = Path.Combine(_dir, "fragments.pcap");
        using (var writer = PcapFileWriter.Create(input, PcapFileHeader.Ethernet(nanosecond: false)))
        {
            for (int i = 0; i < frames.Count; i++)
                writer.Write(frames[i], (uint)frames[i].Length, 1_700_000_000_000_000_000L + i * 1_000_000L);
        }
        string rules = Path.Combine(_dir, "stateful.rules");
        File.WriteAllText(rules, "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\n-A FORWARD -p udp --dport 53 -j ACCEPT\nCOMMIT\n");
        string output = Path.Combine(_dir, "out.pcap");

        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{CommonEal} --vdev=net_pcap0,rx_pcap={input} --vdev=net_pcap1,tx_pcap={output}",
            "--pair", "net_pcap0,net_pcap1", "--cores", LastCore(), "--duration", "2", "--stats-interval", "0", "--control", "off", "--rules", rules]);
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}\n{fastpath.Stdout}\n{fastpath.Stderr}");
        // The 15 datagrams to port 53 (ids 0-18 but 3, 7, 11, 15; 19 is to port 9 and incomplete), each as it was fragmented, in offset order.
        var expected = Enumerable.Range(0, 19).Where(id => id % 4 != 3)
            .SelectMany(id => new[] { Piece(53, (ushort)id, 0, 504, true), Piece(53, (ushort)id, 504, 496, true), Piece(53, (ushort)id, 1000, 208, false) });
        Assert.Equal(expected, CaptureFile.ReadFrames(output));
        Assert.Matches(@"\n\s+rule_drop\s+12\n", fastpath.Stdout);
        Assert.Matches(@"\n\s+reassembly_unfinished\s+2\n", fastpath.Stdout);
    }

    /// <summary>The AF_XDP poll-mode driver (an XDP program redirecting each veth's frames to a socket) between two veth pairs.</summary>
    [Fact]
    public void AfXdpOverVethPairsForwardsBothWays()
    {
        var (code, stdout, stderr, _) = ForwardBetweenVethPairs(
            $"{CommonEal} --vdev=net_af_xdp0,iface=a0 --vdev=net_af_xdp1,iface=b0",
            ["--pair", "net_af_xdp0,net_af_xdp1", "--cores", LastCore(), "--stats-interval", "0", "--control", "off"], frames: 200, flows: 16);
        Assert.True(code == 0, $"exit {code} after SIGTERM\n{stdout}\n{stderr}");
        Assert.Contains("port net_af_xdp0: driver net_af_xdp", stdout);
    }

    [Fact]
    public void AfPacketOverVethPairsForwardsBothWaysWithTwoPinnedWorkers()
    {
        Assert.SkipWhen(Environment.ProcessorCount < 2, "two pinned workers need two cores");
        var (code, stdout, stderr, statsLine) = ForwardBetweenVethPairs(
            $"{CommonEal} --vdev=net_af_packet0,iface=a0,qpairs=2 --vdev=net_af_packet1,iface=b0,qpairs=2",
            ["--pair", "net_af_packet0,net_af_packet1", "--cores", "0,1", "--stats-interval", "1"], frames: 400, flows: 64,
            waitBeforeStop: "] net_af_packet0 in");

        Assert.True(code == 0, $"exit {code} after SIGTERM\n{stdout}\n{stderr}");
        Assert.Contains("software steering", stdout);
        Assert.Contains("worker 0: pinned to core 0, affinity [0], ran on cpu 0", stdout);
        Assert.Contains("worker 1: pinned to core 1, affinity [1], ran on cpu 1", stdout);
        Assert.True(statsLine, "no per-second stats line");
        Assert.Matches(@"\[\s+\d+\.\ds\] net_af_packet0 in \S+ \w*pps out", stdout);
        Assert.Contains("summary: live", stdout);
    }

    /// <summary>
    /// fastpath live between a0 and b0 in a namespace of its own, the test talking through their peers a1 and b1:
    /// <paramref name="frames"/> frames each way must come out unchanged on the other side. Then, after
    /// <paramref name="waitBeforeStop"/> appeared (up to 5 s) if given, SIGTERM; returns the exit status, the output
    /// and whether that text appeared.
    /// </summary>
    private static (int Code, string Stdout, string Stderr, bool Waited) ForwardBetweenVethPairs(
        string eal, string[] options, int frames, int flows, string? waitBeforeStop = null)
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable());
        using var ns = new NetworkNamespace();
        ns.AddVethPair("a0", "a1");
        ns.AddVethPair("b0", "b1");

        using var fastpath = FastPathProcess.Start(["run", "--eal", eal, .. options], ns.Name);
        Assert.True(fastpath.WaitForOutput("SIGINT, SIGTERM or SIGHUP stops", TimeSpan.FromSeconds(30)), $"fastpath did not start\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Thread.Sleep(500); // the workers' first poll

        var (exit, report) = ns.Exec(TestEnvironment.Python, Path.Combine(AppContext.BaseDirectory, "veth_traffic.py"), "a1", "b1", $"{frames}", $"{flows}");
        bool waited = waitBeforeStop is not null && fastpath.WaitForOutput(waitBeforeStop, TimeSpan.FromSeconds(5));
        fastpath.Terminate();
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(30));

        Assert.True(exit == 0, report);
        using var json = JsonDocument.Parse(report.Trim().Split('\n')[^1]);
        Assert.Equal(frames, json.RootElement.GetProperty("a_to_b").GetInt32());
        Assert.Equal(frames, json.RootElement.GetProperty("b_to_a").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("unexpected").GetInt32());
        return (code, fastpath.Stdout, fastpath.Stderr, waited);
    }

    /// <summary>
    /// A ruleset keyed by --rsource asks the device to hash the source address alone; net_null spreads frames with
    /// RSS but cannot hash one address alone (the shim's -ENOTSUP), so the port hashes flows and says so.
    /// </summary>
    [Fact]
    public void ADeviceThatCannotHashTheSourceAloneSpreadsFlows()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        Assert.SkipWhen(Environment.ProcessorCount < 2, "two pinned workers need two cores");

        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{CommonEal} --vdev=net_null0 --vdev=net_null1", "--pair", "net_null0,net_null1", "--cores", "0,1",
            "--rules", TestEnvironment.Sample("ssh-guard.rules"), "--duration", "1", "--stats-interval", "0",
            "--control", "off"]);
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, $"exit {code}\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Assert.Contains("port net_null0: driver net_null, 2 rx / 2 tx queue(s), symmetric RSS", fastpath.Stdout);
        Assert.Contains("port net_null1: driver net_null, 2 rx / 2 tx queue(s), symmetric RSS", fastpath.Stdout);
    }

    /// <summary>SIGHUP (the terminal went away) stops as SIGTERM does: the summary, exit 0, the control socket removed.</summary>
    [Fact]
    public void HangupStopsCleanly()
    {
        TestEnvironment.SkipIf(TestEnvironment.DpdkUnavailable());
        string socket = Path.Combine(Path.GetTempPath(), $"fastpath-hangup-{Environment.ProcessId}.sock");
        using var fastpath = FastPathProcess.Start([
            "run", "--eal", $"{CommonEal} --vdev=net_null0 --vdev=net_null1", "--pair", "net_null0,net_null1", "--cores", LastCore(),
            "--stats-interval", "0", "--control", socket]);
        Assert.True(fastpath.WaitForOutput("SIGINT, SIGTERM or SIGHUP stops", TimeSpan.FromSeconds(30)), $"fastpath did not start\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Assert.True(File.Exists(socket));

        fastpath.Terminate(signal: 1);
        int code = fastpath.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"exit {code} after SIGHUP\n{fastpath.Stdout}\n{fastpath.Stderr}");
        Assert.Contains("summary: live", fastpath.Stdout);
        Assert.False(File.Exists(socket));
    }

    private static string LastCore() => (Environment.ProcessorCount - 1).ToString();
}
