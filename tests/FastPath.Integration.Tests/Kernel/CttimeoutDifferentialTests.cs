// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// cttimeout against the running kernel, in a network namespace each test creates: nfct lines (exit status,
/// stdout and stderr byte for byte), raw netlink requests (errno, and every attribute of every object, use
/// counts included) and -j CT --timeout rules (errno), step by step, against FastPath's registry and nfct grammar.
/// </summary>
public sealed class CttimeoutDifferentialTests
{
    [Theory]
    [InlineData(1, 320)]
    [InlineData(2, 320)]
    [InlineData(3, 320)]
    public void SeededSessionsMatchTheKernel(int seed, int steps)
    {
        TestEnvironment.SkipIf(KernelCttimeoutSide.Unavailable());
        var fastpath = new FastPathCttimeoutSide();
        var scenario = new CttimeoutScenario(seed, fastpath);
        int nfctLines = Compare(fastpath, Enumerable.Range(0, steps).Select(_ => scenario.Next()), finalListing: true);
        Assert.True(nfctLines >= 150, $"only {nfctLines} nfct lines in {steps} steps");
    }

    /// <summary>
    /// Odd command lines (<see cref="NfctCommandLineScenario"/>): abbreviations, option-like and unknown words, odd
    /// families, protocols, states and values, names at the 31-byte limit, missing and extra arguments; every fourth
    /// step one of a seeded session's, so that rules hold some of the policies the lines get, delete and flush.
    /// </summary>
    [Theory]
    [InlineData(1, 160)]
    [InlineData(2, 160)]
    [InlineData(3, 160)]
    [InlineData(4, 160)]
    [InlineData(5, 160)]
    [InlineData(6, 160)]
    public void UnusualCommandLinesMatchTheKernel(int seed, int steps)
    {
        var fastpath = new FastPathCttimeoutSide();
        var lines = new NfctCommandLineScenario(seed);
        var session = new CttimeoutScenario(seed, fastpath);
        Compare(fastpath, Enumerable.Range(0, steps).Select(step => step % 4 == 3 ? session.Next() : lines.Next()), finalListing: true);
    }

    [Fact]
    public void TheManPageExampleMatchesTheKernel() =>
        Compare(new FastPathCttimeoutSide(),
        [
            Nfct("add", "timeout", "test-tcp", "inet", "tcp", "established", "100", "close", "10", "close_wait", "10"),
            new AddRuleStep(false, "tcp", "test-tcp"),
            Nfct("list", "timeout"),
            Nfct("get", "timeout", "test-tcp"),
            new NetlinkStep("dump"),
            Nfct("delete", "timeout", "test-tcp"),
            Nfct("flush", "timeout"),
            new DeleteRuleStep(false, 1),
            new NetlinkStep("dump"),
            Nfct("delete", "timeout", "test-tcp"),
            Nfct("list", "timeout"),
        ]);

    /// <summary>A policy copies the namespace's current defaults when it is created, and keeps them afterwards.</summary>
    [Fact]
    public void NewPoliciesTakeTheCurrentDefaults() =>
        Compare(new FastPathCttimeoutSide(),
        [
            Nfct("default-set", "timeout", "inet", "udp", "unreplied", "44"),
            Nfct("add", "timeout", "u1", "inet", "udp", "replied", "5"),
            Nfct("default-set", "timeout", "inet6", "udplite", "unreplied", "55", "replied", "66"),
            Nfct("get", "timeout", "u1"),
            Nfct("add", "timeout", "u2", "inet6", "udplite", "replied", "7"),
            Nfct("list", "timeout"),
            Nfct("default-get", "timeout", "inet", "udp"),
            new NetlinkStep("new", "u1", 2, 17, ["replace"], new SortedDictionary<int, uint> { [2] = 9 }),
            Nfct("get", "timeout", "u1"),
        ]);

    /// <summary>What nfct cannot send: exclusive and replacing creates, names past 31 bytes, missing or empty data.</summary>
    [Fact]
    public void NetlinkFlagsAndLimitsMatchTheKernel() =>
        Compare(new FastPathCttimeoutSide(),
        [
            new NetlinkStep("new", "q", 2, 6, ["create"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 6, ["create", "excl"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 33, ["excl"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 33, ["replace"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 33, [], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 10, 6, ["replace"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 17, ["replace"], new SortedDictionary<int, uint> { [1] = 5 }),
            new NetlinkStep("new", "q", 2, 6, ["replace"], new SortedDictionary<int, uint> { [3] = 77 }),
            new NetlinkStep("get", "q"),
            new NetlinkStep("new", "q", 2, 6, ["replace"], []),
            new NetlinkStep("new", "q", 2, 6, ["replace"]),
            new NetlinkStep("new", "fresh", 2, 6, ["replace"], new SortedDictionary<int, uint> { [3] = 1, [12] = 9 }),
            new NetlinkStep("new", "empty", 10, 132, ["excl"], []),
            new NetlinkStep("new", "acked", 10, 132, ["excl"], new SortedDictionary<int, uint> { [9] = 17, [8] = 4294967295 }),
            new NetlinkStep("new", "abcdefghijklmnopqrstuvwxyz01234", 2, 255, [], new SortedDictionary<int, uint> { [1] = 1 }),
            new NetlinkStep("new", "abcdefghijklmnopqrstuvwxyz012345", 2, 255, [], new SortedDictionary<int, uint> { [1] = 1 }),
            new NetlinkStep("get", "abcdefghijklmnopqrstuvwxyz012345"),
            new NetlinkStep("delete", "abcdefghijklmnopqrstuvwxyz012345"),
            new NetlinkStep("new", "odd-family", 99, 47, [], []),
            new NetlinkStep("default_set", null, 2, 6),
            new NetlinkStep("default_set", null, 2, 6, null, []),
            new NetlinkStep("default_set", null, 2, 33, null, new SortedDictionary<int, uint> { [1] = 1 }),
            new NetlinkStep("default_set", null, 10, 132, null, new SortedDictionary<int, uint> { [9] = 3 }),
            new NetlinkStep("default_get", null, 99, 132),
            new NetlinkStep("default_get", null, 2, 0),
            new NetlinkStep("dump"),
            new NetlinkStep("delete"),
            new NetlinkStep("dump"),
        ]);

    /// <summary>
    /// Hand-written corners the seeded sessions reach rarely: every tracker's states by every spelling nfct takes,
    /// values at the edges, families and protocols that do not go together, default-set between adds (a policy
    /// copies the defaults of the moment), the busy and free paths of delete and flush with rules in between.
    /// </summary>
    [Fact]
    public void CornerLinesMatchTheKernel() =>
        Compare(new FastPathCttimeoutSide(),
        [
            Nfct("add", "timeout", "t1", "inet", "tcp", "SYN_SENT", "1", "syn_recv", "2", "Established", "3", "fin_WAIT", "4", "close_wait", "5",
                "last_ack", "6", "time_wait", "7", "close", "8", "syn_sent2", "9", "retrans", "10", "unacknowledged", "11"),
            Nfct("add", "timeout", "t2", "inet6", "tcp", "establish", "3"),
            Nfct("add", "timeout", "t2", "inet6", "tcp", "unack", "3"),
            Nfct("add", "timeout", "t2", "inet6", "tcp", "max_retrans", "3"),
            Nfct("add", "timeout", "t2", "inet6", "tcp", "close=3"),
            Nfct("add", "timeout", "t2", "inet6", "tcp", "close", "1", "2"),
            Nfct("add", "timeout", "t2", "inet", "6", "close", "1"),
            Nfct("add", "timeout", "t2", "inet", "tcp", "established", "100", "established"),
            Nfct("add", "timeout", "t2", "inet", "tcp", "established", "99999999999", "close"),
            Nfct("add", "timeout", "s1", "inet", "sctp", "closed", "1", "cookie_wait", "2", "cookie_echoed", "3", "established", "4",
                "shutdown_sent", "5", "shutdown_recd", "6", "shutdown_ack_sent", "7"),
            Nfct("add", "timeout", "s2", "inet", "sctp", "heartbeat_sent", "5"),
            Nfct("add", "timeout", "s2", "inet6", "sctp", "HEARTBEAT_ACKED", "5"),
            Nfct("add", "timeout", "d1", "inet", "dccp", "request", "5"),
            Nfct("add", "timeout", "d1", "inet", "dccp", "respond", "5", "partopen", "1", "open", "2", "closereq", "3", "closing", "4", "timewait", "5"),
            Nfct("add", "timeout", "g1", "inet", "gre", "unreplied", "10", "replied", "20"),
            Nfct("add", "timeout", "g2", "inet6", "gre", "timeout", "10"),
            Nfct("add", "timeout", "i1", "inet6", "icmp", "timeout", "5"),
            Nfct("add", "timeout", "i2", "inet", "icmpv6", "timeout", "0"),
            Nfct("add", "timeout", "i3", "inet6", "ipv6-icmp", "timeout", "5", "timeout", "6"),
            Nfct("add", "timeout", "u1", "inet", "udplite", "unreplied", "1"),
            Nfct("add", "timeout", "u2", "inet6", "UDPLite", "replied", "4294967296"),
            Nfct("add", "timeout", "u3", "inet", "udp", "replied", "-2147483648"),
            Nfct("add", "timeout", "u4", "inet", "udp", "replied", "8589934"),
            Nfct("add", "timeout", "u5", "inet", "udp", "replied", "8589935"),
            Nfct("add", "timeout", "x1", "inet", "generic", "timeout", "0"),
            Nfct("add", "timeout", "x2", "inet", "generic"),
            Nfct("add", "timeout", "x2", "inet", "igmp", "timeout", "1"),
            Nfct("add", "timeout", "x2", "inet", "ip", "timeout", "1"),
            Nfct("add", "timeout", "x2", "inet", "ipv6", "timeout", "1"),
            Nfct("add", "timeout", "x2", "inet", "mptcp", "established", "1"),
            Nfct("add", "timeout", "x2", "inet", "raw", "timeout", "1"),
            Nfct("list", "timeout"),
            Nfct("default-set", "timeout", "inet6", "tcp", "close", "3", "syn_sent2", "0"),
            Nfct("default-get", "timeout", "inet", "tcp"),
            Nfct("add", "timeout", "t3", "inet", "tcp", "established", "5"),
            Nfct("default-set", "timeout", "inet", "tcp", "close", "10", "syn_sent2", "120"),
            Nfct("get", "timeout", "t3"),
            Nfct("default-set", "timeout", "inet", "sctp", "heartbeat_sent", "1"),
            Nfct("default-set", "timeout", "inet", "gre", "replied", "181"),
            Nfct("default-set", "timeout", "inet", "generic", "timeout", "0"),
            Nfct("default-get", "timeout", "inet6", "generic"),
            Nfct("default-get", "timeout", "inet", "gre"),
            Nfct("default-get", "timeout", "inet", "mptcp"),
            Nfct("default-get", "timeout", "inet", "dccp"),
            Nfct("default-get", "timeout", "inet", "igmp"),
            Nfct("default-set", "timeout", "inet", "udplite", "replied", "121"),
            Nfct("default-get", "timeout", "inet6", "udp"),
            new AddRuleStep(false, "tcp", "t1"),
            new AddRuleStep(false, "tcp", "t1"),
            new AddRuleStep(true, "tcp", "t1"),
            new AddRuleStep(false, "udp", "u1"),
            new AddRuleStep(false, "udplite", "u1"),
            new AddRuleStep(false, "icmp", "i2"),
            new AddRuleStep(true, "icmpv6", "i1"),
            new AddRuleStep(true, "icmpv6", "i3"),
            new AddRuleStep(false, "gre", "g1"),
            new AddRuleStep(false, "igmp", "x1"),
            new AddRuleStep(false, "sctp", "s1"),
            new NetlinkStep("dump"),
            Nfct("delete", "timeout", "t1"),
            Nfct("flush", "timeout"),
            Nfct("list", "timeout"),
            new DeleteRuleStep(false, 1),
            Nfct("delete", "timeout", "t1"),
            new DeleteRuleStep(false, 1),
            Nfct("delete", "timeout", "t1"),
            new NetlinkStep("new", "t3", 2, 6, ["replace"], new SortedDictionary<int, uint> { [3] = 77 }),
            Nfct("get", "timeout", "t3"),
            Nfct("flush", "timeout"),
            new NetlinkStep("dump"),
            Nfct("add", "timeout", "t1", "inet", "tcp", "close", "1"),
            Nfct("get", "timeout", "t1", "t1"),
            Nfct("get", "timeout", "T1"),
            Nfct("delete", "timeout", "t1 "),
        ]);

    /// <summary>The compiled-in defaults are what a fresh namespace's sysctls say.</summary>
    [Fact]
    public void DefaultsAreTheKernelsSysctls()
    {
        TestEnvironment.SkipIf(KernelCttimeoutSide.Unavailable());
        using var kernel = new KernelCttimeoutSide();
        var sysctls = new (TimeoutProtocol Protocol, string State, string Sysctl)[]
        {
            (TimeoutProtocols.Tcp, "SYN_SENT", "nf_conntrack_tcp_timeout_syn_sent"),
            (TimeoutProtocols.Tcp, "SYN_RECV", "nf_conntrack_tcp_timeout_syn_recv"),
            (TimeoutProtocols.Tcp, "ESTABLISHED", "nf_conntrack_tcp_timeout_established"),
            (TimeoutProtocols.Tcp, "FIN_WAIT", "nf_conntrack_tcp_timeout_fin_wait"),
            (TimeoutProtocols.Tcp, "CLOSE_WAIT", "nf_conntrack_tcp_timeout_close_wait"),
            (TimeoutProtocols.Tcp, "LAST_ACK", "nf_conntrack_tcp_timeout_last_ack"),
            (TimeoutProtocols.Tcp, "TIME_WAIT", "nf_conntrack_tcp_timeout_time_wait"),
            (TimeoutProtocols.Tcp, "CLOSE", "nf_conntrack_tcp_timeout_close"),
            (TimeoutProtocols.Tcp, "RETRANS", "nf_conntrack_tcp_timeout_max_retrans"),
            (TimeoutProtocols.Tcp, "UNACKNOWLEDGED", "nf_conntrack_tcp_timeout_unacknowledged"),
            (TimeoutProtocols.Udp, "UNREPLIED", "nf_conntrack_udp_timeout"),
            (TimeoutProtocols.Udp, "REPLIED", "nf_conntrack_udp_timeout_stream"),
            (TimeoutProtocols.Icmp, "TIMEOUT", "nf_conntrack_icmp_timeout"),
            (TimeoutProtocols.IcmpV6, "TIMEOUT", "nf_conntrack_icmpv6_timeout"),
            (TimeoutProtocols.Sctp, "CLOSED", "nf_conntrack_sctp_timeout_closed"),
            (TimeoutProtocols.Sctp, "COOKIE_WAIT", "nf_conntrack_sctp_timeout_cookie_wait"),
            (TimeoutProtocols.Sctp, "COOKIE_ECHOED", "nf_conntrack_sctp_timeout_cookie_echoed"),
            (TimeoutProtocols.Sctp, "ESTABLISHED", "nf_conntrack_sctp_timeout_established"),
            (TimeoutProtocols.Sctp, "SHUTDOWN_SENT", "nf_conntrack_sctp_timeout_shutdown_sent"),
            (TimeoutProtocols.Sctp, "SHUTDOWN_RECD", "nf_conntrack_sctp_timeout_shutdown_recd"),
            (TimeoutProtocols.Sctp, "SHUTDOWN_ACK_SENT", "nf_conntrack_sctp_timeout_shutdown_ack_sent"),
            (TimeoutProtocols.Sctp, "HEARTBEAT_SENT", "nf_conntrack_sctp_timeout_heartbeat_sent"),
            (TimeoutProtocols.Gre, "UNREPLIED", "nf_conntrack_gre_timeout"),
            (TimeoutProtocols.Gre, "REPLIED", "nf_conntrack_gre_timeout_stream"),
            (TimeoutProtocols.Generic, "TIMEOUT", "nf_conntrack_generic_timeout"),
        };
        foreach (var (protocol, state, sysctl) in sysctls)
            Assert.True($"{protocol.DefaultSeconds[protocol.StateIndex(state)]}" == kernel.Sysctl(sysctl), $"{protocol} {state} vs {sysctl}");
        // The states no sysctl shows are checked through default-get.
        Compare(new FastPathCttimeoutSide(), [.. TimeoutProtocols.All.Select(p => new NetlinkStep("default_get", null, 2, p.Number)), new NetlinkStep("default_get", null, 2, 33)], kernel);
    }

    /// <summary>
    /// Not cttimeout's doing but its users': xt_CT's usersize for revisions 1 and 2 is that of revision 0, so the
    /// kernel hands a rule's --timeout back cut to 4 bytes (iptables-save prints the cut name), and
    /// iptables-legacy, which sends the whole table again with every change, then makes the rule take the policy
    /// of the cut name or, when there is none, fails every later change with ENOENT. FastPath will load rules from
    /// such iptables-save output; this test says when a kernel stops doing it.
    /// </summary>
    [Fact]
    public void KernelCutsTheTimeoutNamesOfRulesToFourBytes()
    {
        TestEnvironment.SkipIf(KernelCttimeoutSide.Unavailable());
        using var kernel = new KernelCttimeoutSide();
        Assert.Equal(CttimeoutOutcome.Nfct(0, "", ""), kernel.Run(Nfct("add", "timeout", "long-name", "inet", "tcp", "close", "5")));
        Assert.Equal(CttimeoutOutcome.Rule(Core.Errno.None), kernel.Run(new AddRuleStep(false, "tcp", "long-name")));
        Assert.Contains("-A PREROUTING -p tcp -j CT --timeout long\n", kernel.Iptables(false, "-t", "raw", "-S"));
        Assert.Equal(CttimeoutOutcome.Rule(Core.Errno.ENOENT), kernel.Run(new AddRuleStep(false, "tcp", "long-name")));
        Assert.Equal(CttimeoutOutcome.Nfct(0, "", ""), kernel.Run(Nfct("add", "timeout", "long", "inet", "tcp", "close", "6")));
        Assert.Equal(CttimeoutOutcome.Rule(Core.Errno.None), kernel.Run(new AddRuleStep(false, "tcp", "long")));
        // The first rule now holds "long", and "long-name" is free to go although a rule was created with it.
        Assert.Equal(CttimeoutOutcome.Nfct(0, "", ""), kernel.Run(Nfct("delete", "timeout", "long-name")));
        Assert.Equal(CttimeoutOutcome.Nfct(1, "", "nfct v1.4.7: netlink error: Device or resource busy\n"), kernel.Run(Nfct("delete", "timeout", "long")));
    }

    private static NfctStep Nfct(params string[] arguments) => new(arguments);

    /// <summary>Runs the steps on both sides in a namespace of its own; fails at the first step whose outcomes differ.</summary>
    private static int Compare(FastPathCttimeoutSide fastpath, IEnumerable<CttimeoutStep> steps, bool finalListing = false)
    {
        TestEnvironment.SkipIf(KernelCttimeoutSide.Unavailable());
        using var kernel = new KernelCttimeoutSide();
        int nfctLines = Compare(fastpath, steps, kernel);
        if (finalListing)
            Compare(fastpath, [Nfct("list", "timeout"), new NetlinkStep("dump")], kernel);
        return nfctLines;
    }

    private static int Compare(FastPathCttimeoutSide fastpath, IEnumerable<CttimeoutStep> steps, KernelCttimeoutSide kernel)
    {
        var transcript = new List<string>();
        int nfctLines = 0;
        foreach (var step in steps)
        {
            string expected = kernel.Run(step);
            string actual = fastpath.Run(step);
            transcript.Add($"{transcript.Count}: {step}");
            if (expected != actual)
            {
                Assert.Fail($"step {transcript.Count - 1} differs in namespace {kernel.NamespaceName}: {step}\n" +
                    $"== kernel:\n{expected}\n== FastPath:\n{actual}\n== the steps before:\n{string.Join('\n', transcript.TakeLast(25))}");
            }
            if (step is NfctStep)
                nfctLines++;
        }
        return nfctLines;
    }
}
