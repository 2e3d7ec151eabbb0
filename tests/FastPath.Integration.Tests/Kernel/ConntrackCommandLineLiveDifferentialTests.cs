// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// conntrack's command line against the kernel's conntrack on the same live connections: TCP in most of its states
/// (some on a -j CT --timeout policy), UDP answered and not, ICMP echoes, IPv6 TCP and UDP; then seeded random command
/// lines (<see cref="RandomConntrackCommandLine"/>), each compared by exit status, standard error and standard output
/// (but for timeouts, ids and order; -S by its totals). A -D runs on both sides, so both tables stay the same.
/// </summary>
public sealed class ConntrackCommandLineLiveDifferentialTests
{
    /// <summary>A connection the random lines may name, and the frames that put it in its state.</summary>
    internal sealed record Connection(string Protocol, string Client, ushort ClientPort, string Server, ushort ServerPort, string[] Exchange)
    {
        /// <summary>Its frames: "S" and the like from the client, "<SA" from the server, "." a datagram or echo, "<." its answer.</summary>
        public IEnumerable<Frame> Frames()
        {
            var flow = new Flow(Protocol, Client, ClientPort, Server, ServerPort);
            foreach (string step in Exchange)
            {
                bool answer = step.StartsWith('<');
                string flags = answer ? step[1..] : step;
                string? tcpFlags = flags == "." ? null : flags;
                int payload = flags is "." or "PA" ? 20 : 0;
                yield return answer ? flow.Answer(tcpFlags, payload) : flow.Send(tcpFlags, payload);
            }
        }
    }

    private const string Client = "172.16.0.10", OtherClient = "172.16.0.11", Server = "198.18.0.1", OtherServer = "198.18.0.2";
    private const string Client6 = "2001:db8:1::10", Server6 = "2001:db8:ffff::1";

    private static readonly Connection[] s_connections =
    [
        new("tcp", Client, 41000, Server, 80, ["S", "<SA", "A", "PA", "<A"]),       // ESTABLISHED, ASSURED, on the web policy
        new("tcp", Client, 41001, Server, 443, ["S"]),                               // SYN_SENT
        new("tcp", Client, 41002, Server, 443, ["S", "<SA"]),                        // SYN_RECV
        new("tcp", Client, 41003, Server, 22, ["S", "<SA", "A", "FA", "<A"]),        // CLOSE_WAIT
        new("tcp", OtherClient, 41004, Server, 22, ["S", "<SA", "A", "R"]),          // CLOSE
        new("tcp", Client, 41005, OtherServer, 8080, ["S", "<SA", "A", "FA", "<FA", "A"]), // TIME_WAIT
        new("udp", Client, 42001, Server, 53, [".", "<."]),                          // on the dns policy
        new("udp", Client, 42002, Server, 123, ["."]),                               // UNREPLIED
        new("udp", OtherClient, 42003, OtherServer, 514, [".", "<."]),
        new("icmp", Client, 777, Server, 0, [".", "<."]),
        new("icmp", OtherClient, 778, Server, 0, ["."]),
        new("tcp", Client6, 43000, Server6, 80, ["S", "<SA", "A"]),
        new("udp", Client6, 43001, Server6, 53, [".", "<."]),
    ];

    // Everything forwarded and tracked; the policies (IPv4's: nfct's inet) and the sysctls keep every connection for
    // minutes, longer than both runs.
    private const string Rules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 80 -j CT --timeout web
        -A PREROUTING -p udp -m udp --dport 53 -j CT --timeout dns
        COMMIT

        """ + Filter;

    private const string Filter = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID
        COMMIT

        """;

    private static readonly string[] s_policies =
    [
        "add timeout web inet tcp syn_sent 500 syn_recv 500 established 900 fin_wait 500 close_wait 500 last_ack 500 time_wait 500 close 500",
        "add timeout dns inet udp unreplied 600 replied 700",
    ];

    private static readonly SysctlWrite[] s_longTimeouts =
    [
        new("nf_conntrack_udp_timeout", "400"), new("nf_conntrack_udp_timeout_stream", "800"), new("nf_conntrack_icmp_timeout", "400"),
        new("nf_conntrack_tcp_timeout_syn_recv", "400"), new("nf_conntrack_tcp_timeout_close_wait", "400"),
        new("nf_conntrack_tcp_timeout_last_ack", "400"), new("nf_conntrack_tcp_timeout_close", "400"),
    ];

    private const int Refill = 25;

    private static Command Probe(string[] arguments) => Conntrack(arguments) with { ComparedAsText = true };

    [Theory]
    [InlineData(1, 40)]
    [InlineData(16, 40)]
    public void RandomCommandLinesMatchConntrack(int seed, int lines)
    {
        var random = new RandomConntrackCommandLine(seed, s_connections);
        Compare(Rules, Filter,
        [
            .. s_longTimeouts,
            .. s_connections.SelectMany(c => c.Frames()),
            // What -D deleted comes back, picked up again, every so often; each time after UDP's two seconds to a
            // stream have passed on both sides (the kernel's side runs its lines faster than fastpathctl starts).
            .. Enumerable.Range(0, lines).SelectMany(line => line > 0 && line % Refill == 0
                ? [new Sleep(2.1), .. s_connections.SelectMany(c => c.Frames()), Probe(random.Next())]
                : new Event[] { Probe(random.Next()) }),
            ConntrackList(),
            Conntrack("-F"),
            ConntrackList(),
        ], s_policies, workerCounts: [1]);
    }

    /// <summary>The lines the random ones found FastPath answering otherwise, against the kernel again.</summary>
    [Fact]
    public void LinesThatOnceDifferedMatchConntrack()
    {
        string[][] lines =
        [
            [], ["-h"], ["--help", "-p", "TCP", "--sport", "1"], ["-h", "-p", "mptcp"], ["-h", "-p", "255"], ["-h", "-s", "1.1.1.1"], ["-V"], ["-V", "-p", "tcp"],
            ["-L", "-o", "save"], ["-G", "-s", Client, "-d", Server, "-p", "udp", "--sport", "42001", "--dport", "53", "-o", "save"],
            ["-L", "-s", "172.16.0.0", "--mask-src", "255.255.255.0"], ["-L", "-s", "172.0.0.0/8", "-s", Client],
            ["-L", "--mask-src", "255.0.0.0", "-s", "172.16.9.9"], ["-L", "-d", "0.18.0.0", "--mask-dst", "0.255.0.255"],
            ["-L", "--mask-dst", "255.0.0.0"], ["-L", "unconfirmed", "--mask-src", "255.0.0.0"],
            ["-L", "-e", "bogus"], ["-L", "-e", "NEW"], ["--tuple-s", "--count"],
            ["-G", "-s", Client, "-d", Server, "-p", "tcp", "--sport", "41004", "--dport", "22", "-p", "icmp", "--icmp-code", "3"],
            ["-D", "-p", "udp", "-s", "172.16.0.0", "--mask-src", "255.255.0.0", "--dport", "123", "-o", "save"],
        ];
        Compare(Rules, Filter, [.. s_longTimeouts, .. s_connections.SelectMany(c => c.Frames()), .. lines.Select(Probe), ConntrackList()], s_policies, workerCounts: [1]);
    }
}
