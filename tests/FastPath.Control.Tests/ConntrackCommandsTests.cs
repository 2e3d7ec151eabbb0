// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Recent;
using FastPath.Testing;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>The conntrack paths over a real socket: sysctls with the kernel's parsing and errnos, the proc file, conntrack -L filters, per-policy counts.</summary>
public sealed class ConntrackCommandsTests : IDisposable
{
    private const string Sysctl = ConntrackCommands.SysctlDirectory + "/";
    private readonly ServerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private ControlResponse Send(string verb, string path, params string[] args) => _fixture.Call(c => c.Send(new ControlRequest(verb, path, args)));

    private ControlResponse Write(string name, string data) =>
        _fixture.Call(c => c.Send(new ControlRequest("write", Sysctl + name, [], Encoding.Latin1.GetBytes(data))));

    private string Read(string name) => Send("read", Sysctl + name).Text;

    private ControlResponse Conntrack(params string[] args) => Send(ConntrackCommands.Verb, ConntrackCommands.Path, args);

    [Fact]
    public void TimeoutSysctlsReadTheDefaultsInSecondsAndAWriteChangesExactlyThatState()
    {
        Assert.Equal("30\n", Read("nf_conntrack_udp_timeout"));
        Assert.Equal("120\n", Read("nf_conntrack_udp_timeout_stream"));
        Assert.Equal("432000\n", Read("nf_conntrack_tcp_timeout_established"));
        Assert.Equal("300\n", Read("nf_conntrack_tcp_timeout_unacknowledged"));
        Assert.Equal("600\n", Read("nf_conntrack_generic_timeout"));

        Assert.True(Write("nf_conntrack_udp_timeout", "50\n").IsOk);
        Assert.Equal("50\n", Read("nf_conntrack_udp_timeout"));
        Assert.Equal("120\n", Read("nf_conntrack_udp_timeout_stream"));
        Assert.Equal([50u, 120u], DefaultSeconds(TimeoutProtocols.Udp));

        Assert.True(Write("nf_conntrack_tcp_timeout_max_retrans", "77").IsOk);
        Assert.Equal([120u, 60u, 432000u, 120u, 60u, 30u, 120u, 10u, 120u, 77u, 300u], DefaultSeconds(TimeoutProtocols.Tcp));
    }

    /// <summary>
    /// A default nfct set past INT_MAX jiffies reads negative; between -1 and -249 jiffies proc_dointvec_jiffies prints the
    /// sign apart from the truncated seconds: "-0" (Linux 6.18 after `nfct default-set timeout inet icmp timeout 17179869`).
    /// </summary>
    [Fact]
    public void AJiffiesSysctlJustBelowZeroReadsMinusZero()
    {
        Assert.True(Send(NfctCommands.Verb, NfctCommands.Path, "default-set", "timeout", "inet", "icmp", "timeout", "17179869").IsOk);
        Assert.Equal("-0\n", Read("nf_conntrack_icmp_timeout"));
        Assert.True(Send(NfctCommands.Verb, NfctCommands.Path, "default-set", "timeout", "inet", "icmp", "timeout", "17179868").IsOk);
        Assert.Equal("-1\n", Read("nf_conntrack_icmp_timeout"));
    }

    // Each case was written to nf_conntrack_udp_timeout of Linux 6.18 in a network namespace; null is EINVAL.
    [Theory]
    [InlineData("50", "50")]
    [InlineData(" 51 ", "51")]
    [InlineData("\t52\n", "52")]
    [InlineData("\v5", "5")]
    [InlineData("\r6", "6")]
    [InlineData("-54", "-54")]
    [InlineData("  -5  ", "-5")]
    [InlineData("-0", "0")]
    [InlineData("55 56", "55")]
    [InlineData("57\n58", "57")]
    [InlineData("63 x", "63")]
    [InlineData("2\t\t\t\tz", "2")]
    [InlineData("0x10", "16")]
    [InlineData("0X1F", "31")]
    [InlineData("010", "8")]
    [InlineData("00000000000000000050", "40")]
    [InlineData("8589934", "8589934")]
    [InlineData("-8589934", "-8589934")]
    [InlineData("+53", null)]
    [InlineData("abc", null)]
    [InlineData("59x", null)]
    [InlineData(" ", null)]
    [InlineData("\n", null)]
    [InlineData("7\r", null)]
    [InlineData("09", null)]
    [InlineData("0x", null)]
    [InlineData("-", null)]
    [InlineData("- 5", null)]
    [InlineData("60,61", null)]
    [InlineData("62\0", null)]
    [InlineData("8589935", null)]
    [InlineData("-8589935", null)]
    [InlineData("9999999999", null)]
    [InlineData("0x7fffffff", null)]
    [InlineData("18446744073709551616", null)]
    [InlineData("000000000000000000050", null)]
    public void TimeoutWritesParseAsTheKernelDoes(string data, string? reads)
    {
        Assert.True(Write("nf_conntrack_udp_timeout", "44").IsOk);
        var response = Write("nf_conntrack_udp_timeout", data);
        if (reads is null)
        {
            Assert.Equal(ControlError.EINVAL, response.Error);
            Assert.Equal("44\n", Read("nf_conntrack_udp_timeout"));
        }
        else
        {
            Assert.True(response.IsOk, response.Message);
            Assert.Equal(reads + "\n", Read("nf_conntrack_udp_timeout"));
        }
    }

    [Fact]
    public void AnEmptyWriteChangesNothingAndReadOnlyFilesAnswerEacces()
    {
        Assert.True(Write("nf_conntrack_icmp_timeout", "").IsOk);
        Assert.Equal("30\n", Read("nf_conntrack_icmp_timeout"));
        Assert.Equal(ControlError.EACCES, Write("nf_conntrack_count", "5").Error);
        Assert.Equal(ControlError.EACCES, Write("nf_conntrack_buckets", "").Error);
        Assert.Equal(ControlError.EACCES, Write("nf_conntrack_expect_max", "1").Error);
        Assert.Equal(ControlError.ENOENT, Write("nf_conntrack_nope", "1").Error);
        Assert.Equal("64\n", Read("nf_conntrack_buckets"));
        Assert.Equal("4\n", Read("nf_conntrack_expect_max")); // 4 for every 256 buckets, at least 4
        Assert.Equal("0\n", Read("nf_conntrack_count"));
    }

    /// <summary>
    /// nf_conntrack_timestamp, _events and _log_invalid are proc_dou8vec_minmax (0..1, 0..2, 0..255) with the kernel's
    /// defaults (Linux 6.18 in a network namespace); a connection created while timestamps are on shows delta-time in
    /// /proc/net/nf_conntrack and conntrack -L, one created before does not.
    /// </summary>
    [Fact]
    public void TimestampEventsAndLogInvalidTakeWhatTheKernelTakesAndTimestampsShowOnNewConnections()
    {
        Assert.Equal(("0\n", "2\n", "0\n"), (Read("nf_conntrack_timestamp"), Read("nf_conntrack_events"), Read("nf_conntrack_log_invalid")));
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        foreach (var (name, refused) in new[]
        {
            ("nf_conntrack_timestamp", "2"), ("nf_conntrack_timestamp", "-0"), ("nf_conntrack_events", "3"),
            ("nf_conntrack_events", "-1"), ("nf_conntrack_log_invalid", "256"), ("nf_conntrack_log_invalid", "-0"),
        })
        {
            Assert.Equal(ControlError.EINVAL, Write(name, refused).Error);
        }
        Assert.True(Write("nf_conntrack_timestamp", "0x1").IsOk);
        Assert.True(Write("nf_conntrack_events", "1 2").IsOk);
        Assert.True(Write("nf_conntrack_log_invalid", " 255\n").IsOk);
        Assert.Equal(("1\n", "1\n", "255\n"), (Read("nf_conntrack_timestamp"), Read("nf_conntrack_events"), Read("nf_conntrack_log_invalid")));

        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40001, 53));
        _fixture.Backend.Now += 2 * Jiffies.Hz + 10;
        var proc = Send("read", ConntrackCommands.ProcPath).Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.EndsWith(" mark=0 zone=0 use=2", proc.Single(l => l.Contains("sport=40000", StringComparison.Ordinal)));
        Assert.EndsWith(" mark=0 zone=0 delta-time=2 use=2", proc.Single(l => l.Contains("sport=40001", StringComparison.Ordinal)));
        var listed = Conntrack("-L").Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain("delta-time", listed.Single(l => l.Contains("sport=40000", StringComparison.Ordinal)));
        Assert.Matches(" mark=0 delta-time=[23] use=1$", listed.Single(l => l.Contains("sport=40001", StringComparison.Ordinal)));
    }

    /// <summary>nf_defrag_ipv6's three files, with the answers Linux 6.18 gave in a network namespace.</summary>
    [Fact]
    public void TheFrag6SysctlsTakeWhatTheKernelTakes()
    {
        Assert.Equal(("60\n", "3145728\n", "4194304\n"), (Read("nf_conntrack_frag6_timeout"), Read("nf_conntrack_frag6_low_thresh"), Read("nf_conntrack_frag6_high_thresh")));
        foreach (var (name, refused) in new[]
        {
            ("nf_conntrack_frag6_timeout", "8589935"), ("nf_conntrack_frag6_timeout", "x"),
            ("nf_conntrack_frag6_high_thresh", "100"), ("nf_conntrack_frag6_high_thresh", "-1"), ("nf_conntrack_frag6_high_thresh", "-0"),
            ("nf_conntrack_frag6_high_thresh", "18446744073709551616"), ("nf_conntrack_frag6_low_thresh", "4194305"),
        })
        {
            Assert.Equal(ControlError.EINVAL, Write(name, refused).Error);
        }
        Assert.True(Write("nf_conntrack_frag6_timeout", "-8589934").IsOk);
        Assert.Equal("-8589934\n", Read("nf_conntrack_frag6_timeout"));
        Assert.True(Write("nf_conntrack_frag6_high_thresh", "0x500000").IsOk);
        Assert.True(Write("nf_conntrack_frag6_low_thresh", "5242880 7").IsOk);
        Assert.True(Write("nf_conntrack_frag6_high_thresh", "18446744073709551615").IsOk);
        Assert.True(Write("nf_conntrack_frag6_low_thresh", "").IsOk);
        Assert.Equal(("5242880\n", "18446744073709551615\n"), (Read("nf_conntrack_frag6_low_thresh"), Read("nf_conntrack_frag6_high_thresh")));
    }

    /// <summary>The ipfrag_* files of /proc/sys/net/ipv4 a network namespace has, with the answers Linux 6.18 gave in one.</summary>
    [Fact]
    public void TheIpfragSysctlsTakeWhatTheKernelTakes()
    {
        const string ipv4 = ConntrackCommands.Ipv4SysctlDirectory + "/";
        ControlResponse WriteIpv4(string name, string data) =>
            _fixture.Call(c => c.Send(new ControlRequest("write", ipv4 + name, [], Encoding.Latin1.GetBytes(data))));
        string ReadIpv4(string name) => Send("read", ipv4 + name).Text;

        Assert.Equal("ipfrag_high_thresh\nipfrag_low_thresh\nipfrag_max_dist\nipfrag_time\n", Send("list", ConntrackCommands.Ipv4SysctlDirectory).Text);
        Assert.Equal(("30\n", "3145728\n", "4194304\n", "64\n"),
            (ReadIpv4("ipfrag_time"), ReadIpv4("ipfrag_low_thresh"), ReadIpv4("ipfrag_high_thresh"), ReadIpv4("ipfrag_max_dist")));
        foreach (var (name, refused) in new[]
        {
            ("ipfrag_time", "8589935"), ("ipfrag_time", "x"), ("ipfrag_max_dist", "-1"), ("ipfrag_max_dist", "2147483648"),
            ("ipfrag_high_thresh", "100"), ("ipfrag_high_thresh", "-0"), ("ipfrag_low_thresh", "18446744073709551616"),
        })
        {
            Assert.Equal(ControlError.EINVAL, WriteIpv4(name, refused).Error);
        }
        Assert.Equal(ControlError.ENOENT, WriteIpv4("ipfrag_secret_interval", "600").Error);
        Assert.Equal(ControlError.ENOENT, Send("read", Sysctl + "ipfrag_time").Error);

        Assert.True(WriteIpv4("ipfrag_time", "-8589934").IsOk);
        Assert.True(WriteIpv4("ipfrag_max_dist", "0x10").IsOk);
        Assert.Equal(("-8589934\n", "16\n"), (ReadIpv4("ipfrag_time"), ReadIpv4("ipfrag_max_dist")));
        Assert.True(WriteIpv4("ipfrag_max_dist", "-0").IsOk);
        Assert.True(WriteIpv4("ipfrag_low_thresh", "0").IsOk);
        Assert.True(WriteIpv4("ipfrag_high_thresh", "1").IsOk);
        Assert.Equal(("0\n", "0\n", "1\n"), (ReadIpv4("ipfrag_max_dist"), ReadIpv4("ipfrag_low_thresh"), ReadIpv4("ipfrag_high_thresh")));
        // The IPv6 files are apart: nothing written here moved them.
        Assert.Equal(("60\n", "3145728\n"), (Read("nf_conntrack_frag6_timeout"), Read("nf_conntrack_frag6_low_thresh")));
    }

    /// <summary>
    /// As the kernel's accounting extension: a connection created while nf_conntrack_acct is 1 shows its counters from
    /// then on, whatever the sysctl says later; one created while it was 0 never does.
    /// </summary>
    [Fact]
    public void AcctTakesOnlyZeroOrOneAndShowsTheCountersOfConnectionsCreatedWhileOn()
    {
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53, dataLength: 4));
        Assert.Equal("0\n", Read("nf_conntrack_acct"));
        Assert.DoesNotContain("packets=", Send("read", ConntrackCommands.ProcPath).Text);
        Assert.Equal("udp      17 30 src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40000 mark=0 use=1\n",
            Conntrack("-L").Text);
        foreach (string refused in new[] { "2", "-1", "-0", "x" })
            Assert.Equal(ControlError.EINVAL, Write("nf_conntrack_acct", refused).Error);
        Assert.True(Write("nf_conntrack_acct", " 1").IsOk);
        Assert.Equal("1\n", Read("nf_conntrack_acct"));
        _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40001, 53, dataLength: 4));
        Assert.True(Write("nf_conntrack_acct", "0").IsOk);
        string withCounters = "src=10.0.0.1 dst=192.168.1.20 sport=40001 dport=53 packets=1 bytes=32 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40001 packets=0 bytes=0";
        string without = "src=10.0.0.1 dst=192.168.1.20 sport=40000 dport=53 [UNREPLIED] src=192.168.1.20 dst=10.0.0.1 sport=53 dport=40000";
        Assert.Equal(
            [$"ipv4     2 udp      17 30 {without} mark=0 zone=0 use=2", $"ipv4     2 udp      17 30 {withCounters} mark=0 zone=0 use=2"],
            Send("read", ConntrackCommands.ProcPath).Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        Assert.Equal(
            [$"udp      17 30 {without} mark=0 use=1", $"udp      17 30 {withCounters} mark=0 use=1"],
            Conntrack("-L").Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        Assert.Equal("2\n", Read("nf_conntrack_count"));
    }

    [Fact]
    public void ChecksumTakesOnlyZeroOrOneAndDecidesWhetherABadChecksumIsInvalid()
    {
        byte[] frame = TestFrames.Ipv4TcpFrame(40001, 22);
        frame[14 + 20 + 16] ^= 0x5A; // the TCP checksum
        Assert.Equal("1\n", Read("nf_conntrack_checksum"));
        Assert.Equal(CtState.Invalid, _fixture.Backend.Track(frame));
        foreach (string refused in new[] { "2", "-1", "-0", "x" })
            Assert.Equal(ControlError.EINVAL, Write("nf_conntrack_checksum", refused).Error);
        Assert.True(Write("nf_conntrack_checksum", "0\n").IsOk);
        Assert.Equal("0\n", Read("nf_conntrack_checksum"));
        Assert.Equal(CtState.New, _fixture.Backend.Track(frame));
        Assert.True(Write("nf_conntrack_checksum", "1").IsOk);
    }

    [Fact]
    public void TheTcpSwitchesReadAndWriteAsTheKernelsAndReachTheTracker()
    {
        Assert.Equal(("1\n", "0\n", "0\n", "3\n"), (Read("nf_conntrack_tcp_loose"), Read("nf_conntrack_tcp_be_liberal"),
            Read("nf_conntrack_tcp_ignore_invalid_rst"), Read("nf_conntrack_tcp_max_retrans")));
        foreach (string name in new[] { "nf_conntrack_tcp_loose", "nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_ignore_invalid_rst" })
        {
            foreach (string refused in new[] { "2", "-1", "-0", "0x10" })
                Assert.Equal(ControlError.EINVAL, Write(name, refused).Error);
        }
        foreach (string refused in new[] { "256", "-1", "-0" })
            Assert.Equal(ControlError.EINVAL, Write("nf_conntrack_tcp_max_retrans", refused).Error);
        Assert.True(Write("nf_conntrack_tcp_max_retrans", "0x10").IsOk);
        Assert.Equal("16\n", Read("nf_conntrack_tcp_max_retrans"));

        // A mid-stream ACK opens a connection only while loose pickup is on.
        byte[] midStream = TestFrames.Ipv4TcpFrame(40003, 22, flags: 0x10);
        Assert.True(Write("nf_conntrack_tcp_loose", "0").IsOk);
        Assert.Equal(CtState.Invalid, _fixture.Backend.Track(midStream));
        Assert.True(Write("nf_conntrack_tcp_loose", "1").IsOk);
        Assert.Equal(CtState.New, _fixture.Backend.Track(midStream));
        Assert.True(Write("nf_conntrack_tcp_be_liberal", "1").IsOk);
        Assert.Equal(new TcpSettings(Loose: true, BeLiberal: true, IgnoreInvalidRst: false, MaxRetransmissions: 16), _fixture.Backend.ConntrackTcpSettings);
    }

    [Fact]
    public void MaxIsAnIntTheDataplaneMayRefuse()
    {
        Assert.Equal("64\n", Read("nf_conntrack_max"));
        Assert.True(Write("nf_conntrack_max", "32\n").IsOk);
        Assert.Equal("32\n", Read("nf_conntrack_max"));
        Assert.Equal(ControlError.EINVAL, Write("nf_conntrack_max", "0").Error);
        Assert.Equal(ControlError.EINVAL, Write("nf_conntrack_max", "2147483648").Error);
        Assert.Equal("32\n", Read("nf_conntrack_max"));
    }

    [Fact]
    public void LsListsTheSysctlsInLsOrder()
    {
        var names = Send("list", ConntrackCommands.SysctlDirectory).Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.Contains("nf_conntrack_sctp_timeout_heartbeat_sent", names);
        Assert.Contains("nf_conntrack_gre_timeout_stream", names);
        Assert.Contains("nf_conntrack_icmpv6_timeout", names);
        // 25 timeouts, acct, buckets, checksum, count, events, expect_max, log_invalid, max, timestamp, four TCP switches, three frag6
        Assert.Equal(41, names.Length);
    }

    /// <summary>
    /// --mark VALUE[/MASK] and the zone options as conntrack 1.4.7 and Linux 6.18 take them (strtoul's numbers cut to
    /// 32 and 16 bits, the mask all ones by default, the value compared unmasked, the last of each option counting),
    /// over connections that all have mark 0 in zone 0.
    /// </summary>
    [Fact]
    public void MarkAndZoneFiltersSelectAsTheKernelDoes()
    {
        TrackSomeFlows();
        foreach (string[] all in new[]
        {
            new[] { "--mark", "0" }, ["-m", "0/0"], ["-m", "x"], ["-m", "4294967296"], ["-m", "0x0/0xffffffff"], ["-w", "0"],
            ["--zone", "65536"], ["-w", "1", "-w", "0"], ["--orig-zone", "0", "--reply-zone", "0"],
        })
        {
            Assert.Equal(4, Lines(Conntrack(["-L", .. all])).Length);
        }
        foreach (string[] none in new[]
        {
            new[] { "-m", "1" }, ["-m", "1/0"], ["-m", "2/1"], ["-m", "-1"], ["-w", "1"], ["--orig-zone", "0", "--reply-zone", "1"],
        })
        {
            Assert.Empty(Lines(Conntrack(["-L", .. none])));
        }
        Assert.Empty(Lines(Conntrack("-D", "--mark", "1")));
        Assert.Equal(2, Lines(Conntrack("-D", "-p", "udp", "-w", "0")).Length);
        Assert.EndsWith("Illegal option `--mark' with this command", Conntrack("-C", "--mark", "1").Message);
    }

    [Fact]
    public void ListingFiltersAsConntrackDoes()
    {
        TrackSomeFlows();
        Assert.Equal(4, Lines(Conntrack("-L")).Length);
        Assert.Equal(2, Lines(Conntrack("-L", "-p", "udp")).Length);
        Assert.Equal(3, Lines(Conntrack("-L", "-f", "ipv4")).Length);
        Assert.Single(Lines(Conntrack("-L", "-f", "ipv6")));
        Assert.Single(Lines(Conntrack("-L", "-p", "udp", "--dport", "123")));
        Assert.Equal(3, Lines(Conntrack("-L", "-s", "10.0.0.0/24")).Length);
        Assert.Empty(Lines(Conntrack("-L", "-s", "10.0.1.0/24")));
        Assert.Single(Lines(Conntrack("-L", "-d", "192.168.1.30")));
        Assert.Single(Lines(Conntrack("-L", "-p", "tcp", "--state", "SYN_SENT")));
        Assert.Single(Lines(Conntrack("-L", "-p", "TCP", "--state", "SYN_SENT")));
        Assert.Empty(Lines(Conntrack("-L", "-p", "tcp", "--state", "ESTABLISHED")));
        Assert.Single(Lines(Conntrack("-L", "--timeout-policy", "udp-long")));
        Assert.Equal("4\n", Conntrack("-C").Text);

        // The reply tuple, and getopt_long's forms: abbreviations, "=VALUE", values attached to short options.
        Assert.Single(Lines(Conntrack("-L", "-r", "192.168.1.30")));
        Assert.Equal(2, Lines(Conntrack("-L", "-q", "10.0.0.1", "-p", "udp")).Length);
        Assert.Single(Lines(Conntrack("-L", "-p", "udp", "--reply-port-src", "123")));
        Assert.Single(Lines(Conntrack("-L", "-p", "icmpv6", "--icmpv6-type", "128")));
        Assert.Single(Lines(Conntrack("-L", "-pudp", "--dp=123")));
        Assert.Single(Lines(Conntrack("--dum", "--reply-s", "192.168.1.30", "--pro", "udp")));

        // conntrack's own readings: inet_aton's forms, a prefix of nothing, atoi's ports (0x7b is 0), strtoul's protocols.
        Assert.Equal(3, Lines(Conntrack("-L", "-s", "10.1")).Length);
        Assert.Equal(3, Lines(Conntrack("-L", "-s", "10.0.0.1 and more")).Length);
        Assert.Equal(3, Lines(Conntrack("-L", "-s", "10.0.0.9/")).Length);
        Assert.Single(Lines(Conntrack("-L", "-d", "0xc0a8011e")));
        Assert.Single(Lines(Conntrack("-L", "-p", "udp", "--dport", "123abc")));
        Assert.Single(Lines(Conntrack("-L", "-p", "udp", "--dport", "65659")));
        Assert.Empty(Lines(Conntrack("-L", "-p", "udp", "--dport", "0x7b")));
        Assert.Equal(2, Lines(Conntrack("-L", "-p", "0x11")).Length);

        string line = Lines(Conntrack("-L", "-p", "udp", "--sport", "40001"))[0];
        Assert.Equal("udp      17 30 src=10.0.0.1 dst=192.168.1.30 sport=40001 dport=123 [UNREPLIED] src=192.168.1.30 dst=10.0.0.1 sport=123 dport=40001 mark=0 use=1 timeout-policy=udp-long", line);
    }

    [Theory]
    [InlineData("unknown option `--sport'", "-L", "--sport", "5")]
    [InlineData("unknown option `--state'", "-L", "-p", "udp", "--state", "ESTABLISHED")]
    [InlineData("unknown TCP state `established'", "-L", "-p", "tcp", "--state", "established")]
    [InlineData("unknown option `--state'", "-L", "-p", "mptcp", "--state", "SYN_SENT")]
    [InlineData("unknown option `--dport'", "-L", "-p", "esp", "--dport", "1")]
    [InlineData("Invalid IP address `10.0.0.1x'", "-L", "-s", "10.0.0.1x")]
    [InlineData("Invalid netmask", "-L", "-d", "192.168.1.30/33")]
    [InlineData("`foo' unsupported protocol", "-L", "-p", "foo")]
    [InlineData("`IPV6' unsupported protocol", "-L", "-f", "IPV6")]
    [InlineData("mismatched address family", "-L", "-f", "ipv4", "-s", "::1")]
    [InlineData("mismatched address family", "-L", "-s", "10.0.0.1", "-d", "fd00::1")]
    [InlineData("option `-s' requires an argument", "-L", "-s")]
    [InlineData("Invalid commands combination", "-L", "-L")]
    [InlineData("unknown type `extra'", "-L", "extra")]
    [InlineData("Invalid commands combination", "-D", "-F")]
    [InlineData("Invalid commands combination", "-C", "-D")]
    [InlineData("Illegal option `--protonum' with this command", "-F", "-p", "tcp", "--state", "ESTABLISHED")]
    [InlineData("Illegal option `--src' with this command", "-F", "-p", "udp", "-s", "1.2.3.4")]
    [InlineData("Illegal option `--src' with this command", "-F", "-d", "1.2.3.4", "-s", "1.1.1.1")]
    [InlineData("Illegal option `--timeout-policy' with this command", "--flush", "--timeout-policy", "web")]
    [InlineData("unknown option `--sport'", "-F", "--sport", "5")]
    [InlineData("unknown option `--json'", "-D", "--json")]
    [InlineData("unknown option `--json'", "-F", "--json")]
    [InlineData("unknown option `--state'", "-D", "--state", "ESTABLISHED")]
    [InlineData("mismatched address family", "-D", "-s", "::1", "-f", "ipv4")]
    [InlineData("unknown option `--d'", "-L", "--d", "1")]
    [InlineData("unknown option `--dport=1'", "-L", "--dport=1")]
    [InlineData("option `--sp' requires an argument", "-L", "-p", "udp", "--sp")]
    [InlineData("CIDR notation unavailable for `--reply-src'", "-L", "-r", "10.0.0.1/8")]
    [InlineData("Illegal option `--reply-dst' with this command", "-F", "-q", "10.0.0.1")]
    [InlineData("Illegal option `--src' with this command", "-C", "-s", "10.0.0.1")]
    [InlineData("option `-c' is not served by FastPath", "-L", "-c", "1")]
    [InlineData("unknown type `expectation'", "-L", "expectation")]
    [InlineData("Can't do that command with tables `dying' and `unconfirmed'", "-D", "dying")]
    [InlineData("Can't do --update on expectations", "-U", "expect")]
    [InlineData("You need to supply the `--src' option for this command", "-D", "expect")]
    [InlineData("Illegal option `--protonum' with this command", "-L", "expect", "-p", "tcp")]
    [InlineData("Illegal option `--src' with this command", "-S", "-s", "1.2.3.4")]         // -S takes no option at all
    [InlineData("Illegal option `--family' with this command", "-S", "expect", "-f", "ipv4")]
    [InlineData("Illegal option `--output' with this command", "-S", "-o", "xml")]
    [InlineData("Illegal option `--zero' with this command", "--stats", "-z")]
    [InlineData("Can't do that command with tables `dying' and `unconfirmed'", "-S", "dying")]
    [InlineData("Invalid commands combination", "-S", "-L")]
    [InlineData("unknown option `--json'", "-S", "--json")]
    public void UsageErrorsAreConntracksMessages(string message, params string[] args)
    {
        var response = Conntrack(args);
        Assert.Equal(ControlError.EINVAL, response.Error);
        Assert.Equal(ConntrackQuery.MessagePrefix + message, response.Message);
    }

    [Theory]
    [InlineData("nfct v1.4.7: netlink error: Invalid argument", "helper", "list")]
    [InlineData("nfct v1.4.7: netlink error: Invalid argument", "disable", "helper", "ftp", "inet", "tcp")]
    [InlineData("nfct v1.4.7: that helper is not supported", "add", "helper", "ftp", "inet", "udp")]
    public void NfctHelperLinesAnswerEinvalWithNfctsMessage(string message, params string[] args)
    {
        var response = Send(NfctCommands.Verb, NfctCommands.Path, args);
        Assert.Equal(ControlError.EINVAL, response.Error);
        Assert.Equal(message, response.Message);
        Assert.Equal(message + "\n", response.Text);
    }

    [Fact]
    public void DeleteRemovesWhatTheFiltersSelectAndPrintsItAndFlushRemovesEverything()
    {
        TrackSomeFlows();
        string udp = Conntrack("-L", "-p", "udp").Text;
        Assert.Equal(udp, Conntrack("-D", "-p", "udp").Text);
        Assert.Equal(2, Lines(Conntrack("-L")).Length);
        Assert.Equal("", Conntrack("-D", "-p", "udp").Text); // nothing left to delete: still a success on the socket
        Assert.Single(Lines(Conntrack("--delete", "-f", "ipv6")));
        Assert.Equal(CtState.New, _fixture.Backend.Track(TestFrames.Ipv4UdpFrame(40000, 53))); // a deleted connection starts again

        Assert.Equal("", Conntrack("-F", "-f", "ipv6").Text); // -F takes -f and flushes every family all the same
        Assert.Empty(Lines(Conntrack("-L")));
        Assert.Equal("0\n", Conntrack("-C").Text);
    }

    // expect, dying and unconfirmed are empty here, whatever the conntrack table holds: FastPath keeps no
    // expectation, frees expired connections at once and never shows an unconfirmed one.
    [Fact]
    public void TheOtherTablesAreEmptyAndLeaveTheConnectionsAlone()
    {
        TrackSomeFlows();
        Assert.Equal("", Conntrack("-L", "expect").Text);
        Assert.Equal("", Conntrack("-L", "exp", "-f", "ipv6").Text);
        Assert.Equal("", Conntrack("-L", "dying").Text);
        Assert.Equal("", Conntrack("-L", "unconfirmed", "-p", "udp", "--timeout-policy", "udp-long").Text);
        Assert.Equal("0\n", Conntrack("-C", "expect").Text);
        Assert.Equal("", Conntrack("-F", "expect").Text);
        Assert.Equal("4\n", Conntrack("-C").Text); // -F expect flushed no connection
        Assert.Equal(4, Lines(Conntrack("-L")).Length);

        using (var json = System.Text.Json.JsonDocument.Parse(Conntrack("-L", "dying", "--json").Text))
            Assert.Equal(0, json.RootElement.GetProperty("flows").GetArrayLength());
        using (var json = System.Text.Json.JsonDocument.Parse(Conntrack("-L", "expect", "--json").Text))
            Assert.Equal(0, json.RootElement.GetProperty("expectations").GetArrayLength());
    }

    // -D expect gets to the kernel only with a whole tuple, and there is none to delete: conntrack printed
    // "Operation failed: No such file or directory"; an ICMPv6 tuple, whose type conntrack leaves at 0, the kernel
    // refuses first: "Operation failed: invalid parameters" (EINVAL, exit status 1 all the same).
    [Theory]
    [InlineData("No such file or directory", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "tcp", "--sport", "1", "--dport", "2", "--reply-port-src", "3", "--reply-port-dst", "4")]
    [InlineData("No such file or directory", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "esp")]
    [InlineData("No such file or directory", "-s", "::1", "-d", "::2", "-p", "icmp")]
    [InlineData("No such file or directory", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "mptcp")]
    [InlineData("No such file or directory", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "255")]
    [InlineData("invalid parameters", "-s", "::1", "-d", "::2", "-p", "icmpv6")]
    [InlineData("invalid parameters", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "58")]
    [InlineData("invalid parameters", "-s", "1.1.1.1", "-d", "2.2.2.2", "-p", "icmp", "-p", "icmpv6")]
    public void DeletingAnExpectationFindsNone(string failure, params string[] filters)
    {
        TrackSomeFlows();
        var response = Conntrack(["-D", "expect", .. filters]);
        Assert.Equal(failure == "invalid parameters" ? ControlError.EINVAL : ControlError.ENOENT, response.Error);
        Assert.Equal(ConntrackQuery.MessagePrefix + ConntrackQuery.OperationFailed + failure, response.Message);
        Assert.Equal(4, Lines(Conntrack("-L")).Length);
    }

    [Fact]
    public void ALineWithoutACommandAnswersTheUsage()
    {
        string usage = Conntrack().Text;
        Assert.StartsWith("Command line interface for the connection tracking system. Version 1.4.7\n", usage);
        Assert.Contains("Tables: conntrack, expect, dying, unconfirmed", usage);
        Assert.Equal(usage, Conntrack("junk").Text);
        Assert.Equal(usage, Conntrack("--", "-L").Text);
    }

    [Fact]
    public void HelpAddsTheProtocolsOptionsAndVersionItsName()
    {
        string usage = Conntrack().Text;
        Assert.Equal(usage, Conntrack("-h").Text);
        Assert.Equal(usage + "Proto `icmp' help:\n  --icmp-type\t\t\ticmp type\n  --icmp-code\t\t\ticmp code\n  --icmp-id\t\t\ticmp id\n",
            Conntrack("-h", "-p", "icmp").Text);
        Assert.EndsWith("  --tuple-key-src\t\texpectation tuple dst key\n", Conntrack("--help", "-p", "gre").Text);
        Assert.EndsWith("Proto `esp' help:\n  no options (unsupported)\n", Conntrack("-h", "-p", "esp").Text);
        Assert.Equal("conntrack v1.4.7 (conntrack-tools)\n", Conntrack("-V", "expect").Text);
    }

    [Fact]
    public void PolicyCountsListTheDefaultsThenEveryPolicy()
    {
        TrackSomeFlows();
        Assert.Equal("      3 (defaults)\n      1 udp-long\n      0 tcp-unused\n", Conntrack("--policy-counts").Text);
        Assert.Equal("      1 (defaults)\n      1 udp-long\n      0 tcp-unused\n", Conntrack("--policy-counts", "-p", "udp").Text);
        Assert.Contains("\"name\": \"udp-long\",", Conntrack("--policy-counts", "--json").Text);
    }

    [Fact]
    public void JsonCarriesTheSameFields()
    {
        TrackSomeFlows();
        string json = Conntrack("-L", "-p", "icmpv6", "--json").Text;
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var flow = Assert.Single(document.RootElement.GetProperty("flows").EnumerateArray());
        Assert.Equal("ipv6", flow.GetProperty("family").GetString());
        Assert.Equal(129, flow.GetProperty("reply").GetProperty("type").GetInt32());
        Assert.Equal("2001:db8:0:1::20", flow.GetProperty("original").GetProperty("dst").GetString());
        Assert.True(flow.GetProperty("unreplied").GetBoolean());
    }

    [Fact]
    public void APolicyDeletedUnderAConnectionLeavesItOnTheDefaults()
    {
        TrackSomeFlows();
        Assert.Equal(Core.Errno.None, _fixture.Backend.Timeouts.Delete("udp-long"));
        Assert.Equal("      4 (defaults)\n      0 tcp-unused\n", Conntrack("--policy-counts").Text);
    }

    [Fact]
    public void StatsCountWhatTheKernelCounts()
    {
        var backend = _fixture.Backend;
        backend.Track(TestFrames.Ipv4TcpFrame(40002, 443, flags: 0x03));                           // SYN|FIN: invalid
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(1, TestFrames.Icmp(0, 0, id: 9))));  // echo reply alone: invalid
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(1, TestFrames.Icmp(40, 0))));        // past NR_ICMP_TYPES: error
        // A port unreachable about a datagram nobody sent: error, as icmp_error finds no connection.
        byte[] quoted = TestFrames.Ipv4(17, TestFrames.Udp(53, 40009), source: "192.168.1.20", destination: "10.0.0.1").AsSpan(0, 28).ToArray();
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(1, TestFrames.Concat(TestFrames.Icmp(3, 3), quoted))));
        backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));                                           // NEW: not counted
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(58, TestFrames.Icmp(135, 0))));     // untracked: not counted

        Assert.Equal("cpu=0   \tfound=0 invalid=2 insert=0 insert_failed=0 drop=0 early_drop=0 error=2 search_restart=0 clash_resolve=0 chaintoolong=0 \n",
            Conntrack("-S").Text);
        Assert.Equal("cpu=0   \texpect_new=0 expect_create=0 expect_delete=0 \n", Conntrack("--stats", "exp").Text);
        Assert.Equal("""
            entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
            00000001  00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002  00000000 00000000 00000000 00000000

            """, Send("read", ConntrackCommands.ProcStatisticsPath).Text);
    }

    private void TrackSomeFlows()
    {
        var timeouts = _fixture.Backend.Timeouts;
        Assert.Equal(Core.Errno.None, timeouts.Create("udp-long", 2, 17, new Dictionary<int, uint> { [0] = 30, [1] = 600 }));
        Assert.Equal(Core.Errno.None, timeouts.Create("tcp-unused", 2, 6, new Dictionary<int, uint>()));
        var backend = _fixture.Backend;
        backend.Track(TestFrames.Ipv4UdpFrame(40000, 53));
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv4, TestFrames.Ipv4(17, TestFrames.Udp(40001, 123), destination: "192.168.1.30")), "udp-long");
        backend.Track(TestFrames.Ipv4TcpFrame(40002, 443));
        backend.Track(TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(58, TestFrames.Icmp(128, 0, id: 7))));
    }

    private uint[] DefaultSeconds(TimeoutProtocol protocol)
    {
        Assert.Equal(Core.Errno.None, _fixture.Backend.Timeouts.GetDefaults(2, protocol.Number, out var defaults));
        return [.. Enumerable.Range(0, protocol.States.Length).Select(defaults!.Seconds)];
    }

    private static string[] Lines(ControlResponse response)
    {
        Assert.True(response.IsOk, response.Message);
        return response.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
