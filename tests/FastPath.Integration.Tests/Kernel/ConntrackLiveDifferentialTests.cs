// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Connection tracking live, kernel against a running fastpath (one worker, then two): a stateful firewall with
/// -j CT --timeout policies and --notrack in the raw table, TCP, UDP and ICMP conversations sent one frame at a
/// time, and conntrack -L compared after chosen steps (see <see cref="LiveDifferentialHarness"/> and
/// <see cref="ConntrackListing"/>); nfct through the control socket against nfct.
/// </summary>
public sealed class ConntrackLiveDifferentialTests
{
    private const string Client = "172.16.0.10", Server = "198.18.0.1";

    private const string StatefulFirewall = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 80 -j CT --timeout web
        -A PREROUTING -p udp -m udp --dport 53 -j CT --timeout dns
        -A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
        -A PREROUTING -p udp -m udp --dport 9 -j NOTRACK
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -s 172.16.0.0/24 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
        -A FORWARD -s 172.16.0.0/24 -p tcp -m tcp --dport 443 -m state --state NEW -j ACCEPT
        -A FORWARD -s 172.16.0.0/24 -p udp -m multiport --dports 53,123 -m conntrack --ctstate NEW -j ACCEPT
        -A FORWARD -s 172.16.0.0/24 -p icmp -m icmp --icmp-type 8 -m conntrack --ctstate NEW -j ACCEPT
        -A FORWARD -p udp -m udp --dport 5353 -m conntrack --ctstate UNTRACKED -j ACCEPT
        COMMIT

        """;

    // Every state its own value, so that a listing shows which one a connection took. dns's UNREPLIED is short
    // enough to expire within the test.
    private static readonly string[] s_policies =
    [
        "add timeout web inet tcp syn_sent 45 syn_recv 35 established 100 fin_wait 70 close_wait 80 last_ack 90 time_wait 40 close 50",
        "add timeout dns inet udp unreplied 4 replied 40",
    ];

    [Fact]
    public void StatefulFirewallWithTimeoutPoliciesMatchesTheKernel()
    {
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var reset = new Flow("tcp", Client, 41001, Server, 80);
        var https = new Flow("tcp", Client, 41002, Server, 443);
        var telnet = new Flow("tcp", Client, 41003, Server, 23);
        var ntp = new Flow("udp", Client, 42001, Server, 123);
        var ntpUnanswered = new Flow("udp", Client, 42002, Server, 123);
        var ntpLater = new Flow("udp", Client, 42003, Server, 123);
        var mdns = new Flow("udp", Client, 42004, Server, 5353);
        var discard = new Flow("udp", Client, 42005, Server, 9);
        var syslog = new Flow("udp", Client, 42006, Server, 514);
        var dnsAnswered = new Flow("udp", Client, 42010, Server, 53);
        var dnsUnanswered = new Flow("udp", Client, 42011, Server, 53);
        var ping = new Flow("icmp", Client, 777, Server, 0);
        Compare(StatefulFirewall, null,
        [
            web.Send("S"), web.Answer("SA"),               // SYN_SENT, then SYN_RECV on the policy
            web.Send("A"), web.Send("PA", 100), web.Answer("A"), web.Answer("PA", 300), web.Send("A"),
            https.Send("S"), https.Answer("SA"), https.Send("A"), // on the defaults
            reset.Send("S"), reset.Answer("SA"), reset.Send("A"), reset.Send("R"), // CLOSE
            telnet.Send("S"),                               // NEW to a closed port: dropped, never confirmed
            telnet.Answer("SA"),                            // and what answers it is NEW too
            ntp.Send(payload: 48), ntp.Answer(payload: 48), // replied within two seconds: still the UNREPLIED timeout
            ntpUnanswered.Send(payload: 48),
            mdns.Send(payload: 20),                         // untracked and let through
            mdns.Answer(payload: 20),                       // the answer is tracked (its port is not 5353): NEW, dropped
            discard.Send(),                                 // untracked, nothing lets it through
            syslog.Send(),                                  // NEW to a closed port
            ping.Send(payload: 56), ping.Answer(payload: 56),
            ntp.Unreachable(),                              // quotes a tracked datagram: RELATED, and counted nowhere
            syslog.Unreachable(),                           // quotes nothing tracked: INVALID, dropped
            ConntrackList(),
            Nfct("add", "timeout", "web", "inet", "tcp", "established", "200"), // a taken name: EBUSY, no replace
            Nfct("delete", "timeout", "web"),               // held by a rule: EBUSY
            Nfct("get", "timeout", "web"),
            Nfct("default-set", "timeout", "inet", "tcp", "established", "3600"),
            https.Send("PA", 10),                           // the new default, but data waits for an ack: UNACKNOWLEDGED (300)
            https.Answer("A"),                              // acknowledged: ESTABLISHED's new default
            web.Send("PA", 10), web.Answer("A"),            // the policy's own value is unchanged
            new SysctlWrite("nf_conntrack_udp_timeout", "50"),
            new SysctlWrite("nf_conntrack_udp_timeout", "50x"),
            ntpUnanswered.Send(payload: 48),                // refreshed with the new UNREPLIED timeout
            ntpLater.Send(payload: 48),
            ConntrackList(),
            web.Send("FA"), web.Answer("A"),                // FIN_WAIT, CLOSE_WAIT
            ConntrackList(),
            web.Answer("FA"), web.Send("A"),                // LAST_ACK, TIME_WAIT
            dnsAnswered.Send(payload: 30), dnsAnswered.Answer(payload: 90),
            dnsUnanswered.Send(payload: 30),
            ConntrackList(),
            new Sleep(4.5),                                 // past dns's UNREPLIED (4 s), and two seconds after ntp began
            ConntrackList(),                                // the dns connections are gone
            dnsAnswered.Answer(payload: 90),                // NEW now, from the server: dropped
            dnsUnanswered.Send(payload: 30),                // NEW again, and let through
            ntp.Send(payload: 48),                          // still active after two seconds: REPLIED and ASSURED
            reset.Send("S"),                                // a new SYN reopens a CLOSEd connection
            ConntrackList(),
        ], s_policies);
    }

    /// <summary>
    /// conntrack -D with filters and -F, the expect, dying and unconfirmed tables, and what follows them: a deleted connection's next packet opens a new one
    /// (picked up mid-stream for TCP, on its CT policy again), from the server's side it is NEW and dropped; deleting
    /// nothing fails; -F takes no filter. Listings, exit status and stderr compared.
    /// </summary>
    [Fact]
    public void DeletingAndFlushingConnectionsMatchesTheKernel()
    {
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var https = new Flow("tcp", Client, 41002, Server, 443);
        var ntp = new Flow("udp", Client, 42001, Server, 123);
        var ping = new Flow("icmp", Client, 777, Server, 0);
        Compare(StatefulFirewall, null,
        [
            web.Send("S"), web.Answer("SA"), web.Send("A"),
            https.Send("S"), https.Answer("SA"), https.Send("A"),
            ntp.Send(payload: 48), ntp.Answer(payload: 48),
            ping.Send(payload: 56), ping.Answer(payload: 56),
            Conntrack("-D", "-p", "udp", "--dport", "123"),
            Conntrack("-D", "-p", "udp", "--dport", "123"), // nothing left: exit status 1
            Conntrack("-D", "-s", "198.18.0.0/16"),         // no connection began at the server
            Conntrack("-F", "-p", "udp"),                   // -F takes no filter
            Conntrack("-L", "expect"),                      // the other tables, empty on both sides
            Conntrack("-L", "dying", "-p", "tcp"),
            Conntrack("-L", "unconfirmed"),
            Conntrack("-C", "expect"),
            Conntrack("-F", "expect"),                      // touches no connection
            Conntrack("-D", "unconfirmed"),
            Conntrack("-D", "expect", "-s", "10.0.0.1"),
            ConntrackList(),
            ntp.Answer(payload: 48),                        // NEW from the server now: dropped
            ntp.Send(payload: 48),                          // NEW from the client: accepted again
            Conntrack("-D", "-p", "tcp", "--state", "ESTABLISHED", "--dport", "80"),
            web.Send("PA", 10),                             // picked up mid-stream, on the web policy again
            web.Answer("A"),
            ConntrackList(),
            Conntrack("-F"),
            ConntrackList(),
            ping.Answer(payload: 56),                       // an echo reply with no request: dropped
            https.Send("A"),                                // picked up mid-stream as NEW, which the 443 rule lets in
            ConntrackList(),
        ], s_policies);
    }

    /// <summary>
    /// conntrack -G (found in the original direction, by the reply tuple, not found, refused by the kernel or by
    /// conntrack's checks) and -o extended, id and xml with -L, -G and -D, against the kernel: output byte for byte but
    /// for timeouts, ids and order, standard error and exit status exactly.
    /// </summary>
    [Fact]
    public void GetAndOutputFormatsMatchTheKernel()
    {
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var ntp = new Flow("udp", Client, 42001, Server, 123);
        var ping = new Flow("icmp", Client, 777, Server, 0);
        string[] webTuple = ["-s", Client, "-d", Server, "-p", "tcp", "--sport", "41000", "--dport", "80"];
        Compare(StatefulFirewall, null,
        [
            web.Send("S"), web.Answer("SA"), web.Send("A"),
            ntp.Send(payload: 48), ntp.Answer(payload: 48),
            ping.Send(payload: 56), ping.Answer(payload: 56),
            Conntrack(["-G", .. webTuple]),
            Conntrack("-G", "-s", Server, "-d", Client, "-p", "tcp", "--sport", "80", "--dport", "41000"), // the reply tuple: found, not shown
            Conntrack("-G", "-s", Client, "-d", Server, "-p", "udp", "--sport", "42001", "--dport", "123", "-r", Server, "-q", Client),
            Conntrack("-G", "-s", Client, "-d", Server, "-p", "icmp", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "777"),
            Conntrack("-G", "-s", Client, "-d", Server, "-p", "udp", "--sport", "42001", "--dport", "124"), // none
            Conntrack("-G", "-r", Server, "-q", Client, "-p", "udp", "--reply-port-src", "123", "--reply-port-dst", "42001"), // invalid
            Conntrack("-G", "-s", Client, "-d", Server, "-p", "tcp", "--reply-port-src", "80", "--reply-port-dst", "41000"),
            Conntrack("-G", "-p", "tcp", "-s", Client),
            Conntrack(["-G", .. webTuple, "-f", "ipv4"]),
            Conntrack(["-G", .. webTuple, "--state", "SYN_SENT"]),
            Conntrack(["-G", .. webTuple, "-o", "xml"]),
            Conntrack(["-G", .. webTuple, "-o", "extended,id"]),
            Conntrack("-G", "expect", "-s", Client, "-d", Server, "-p", "tcp", "--sport", "1", "--dport", "2", "--reply-port-src", "3", "--reply-port-dst", "4"),
            Conntrack("-L", "-o", "extended"),
            Conntrack("-L", "-o", "xml"),
            Conntrack("-L", "-p", "udp", "-o", "xml,id"),
            Conntrack("-L", "-o", "id,e"),
            Conntrack("-L", "-o", "s"),
            Conntrack("-L", "-o", "xml,bogus"),
            Conntrack("-L", "expect", "-o", "xml"),
            Conntrack("-D", "-p", "udp", "-o", "xml"),
            Conntrack("-D", "-p", "icmp", "-o", "extended,id"),
            Conntrack("-L", "-o", "xml"),
        ], s_policies);
    }

    /// <summary>
    /// conntrack -u against the kernel on real packets: connections with SEEN_REPLY and ASSURED (a TCP handshake), with
    /// SEEN_REPLY only (a SYN answered, a UDP exchange, a ping) and with neither (a lone SYN, a lone datagram), listed
    /// and deleted by status, with '!', lists, several -u, prefixes, SRC_NAT's warning, the kernel's refusal of an
    /// empty mask and conntrack's of a bad name or an illegal place.
    /// </summary>
    [Fact]
    public void StatusFiltersMatchTheKernel()
    {
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var https = new Flow("tcp", Client, 41002, Server, 443);
        var httpsSyn = new Flow("tcp", Client, 41004, Server, 443);
        var ntp = new Flow("udp", Client, 42001, Server, 123);
        var ntpUnanswered = new Flow("udp", Client, 42002, Server, 123);
        var ping = new Flow("icmp", Client, 777, Server, 0);
        Compare(StatefulFirewall, null,
        [
            web.Send("S"), web.Answer("SA"), web.Send("A"), web.Send("PA", 100), web.Answer("A"), // ASSURED
            https.Send("S"), https.Answer("SA"),            // SEEN_REPLY, not yet ASSURED
            httpsSyn.Send("S"),                             // neither
            ntp.Send(payload: 48), ntp.Answer(payload: 48), // SEEN_REPLY
            ntpUnanswered.Send(payload: 48),                // neither
            ping.Send(payload: 56), ping.Answer(payload: 56),
            Conntrack("-L", "-u", "ASSURED"),
            Conntrack("-L", "-u", "SEEN_REPLY"),
            Conntrack("-L", "-u", "seen_reply,a"),
            Conntrack("-L", "--status", "!ASSURED"),
            Conntrack("-L", "-u", "!SEEN_REPLY"),
            Conntrack("-L", "-u", "!A,!SE"),
            Conntrack("-L", "-u", "SEEN_REPLY", "-u", "!ASSURED"),
            Conntrack("-L", "-u", "ASSURED", "-u", "SEEN_REPLY"), // the first -u fixed the kernel's mask: none
            Conntrack("-L", "-u", "s,A"),                   // SRC_NAT's warning
            Conntrack("-L", "-u", "UNSET"),                 // an empty mask: the kernel's EINVAL
            Conntrack("-L", "-u", "!u", "-p", "tcp"),
            Conntrack("-L", "-u", "FIXED_TIMEOUT,EXPECTED"),
            Conntrack("-L", "-u", "!OFFLOAD,!HW_OFFLOAD"),
            Conntrack("-L", "-p", "udp", "-u", "se", "-o", "xml"),
            Conntrack("-L", "-p", "tcp", "--state", "SYN_RECV", "-u", "SEEN_REPLY"),
            Conntrack("-L", "-u", "ASSURED,bogus"),
            Conntrack("-L", "-u", "!!A"),
            Conntrack("-L", "dying", "-u", "UNSET"),
            Conntrack("-C", "-u", "ASSURED"),
            Conntrack("-F", "-u", "ASSURED"),
            Conntrack("-G", "-s", Client, "-d", Server, "-p", "tcp", "--sport", "41000", "--dport", "80", "-u", "ASSURED"),
            Conntrack("-L", "expect", "-u", "ASSURED"),
            Conntrack("-D", "-p", "icmp", "-u", "!ASSURED"),    // -D compares only what is named without '!'
            Conntrack("-D", "-u", "ASSURED,SEEN_REPLY", "-o", "id"),
            Conntrack("-D", "-p", "udp", "-u", "UNSET"),
            Conntrack("-D", "-u", "ASSURED"),               // none left: exit status 1
            ConntrackList(),
        ], s_policies);
    }

    /// <summary>
    /// nf_conntrack_timestamp written between packets: connections created while it is 1 show delta-time in -L, -G,
    /// -D and /proc/net/nf_conntrack (and with -o ktimestamp their start, but not for -D), those created before it
    /// or after it is 0 again do not, whatever their later packets; nf_conntrack_events and _log_invalid take what
    /// the kernel's u8 handlers take. The seconds themselves are masked (see <see cref="ConntrackListing"/>).
    /// </summary>
    [Fact]
    public void TimestampsShowOnConnectionsCreatedWhileTheSysctlIsOn()
    {
        var before = new Flow("udp", Client, 42000, Server, 123);
        var during = new Flow("udp", Client, 42001, Server, 123);
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var afterwards = new Flow("udp", Client, 42002, Server, 123);
        Compare(StatefulFirewall, null,
        [
            before.Send(payload: 10),
            new SysctlRead("nf_conntrack_timestamp"),
            new SysctlWrite("nf_conntrack_timestamp", "2"),
            new SysctlWrite("nf_conntrack_timestamp", "-0"),
            new SysctlWrite("nf_conntrack_timestamp", "0x1"),
            new SysctlRead("nf_conntrack_timestamp"),
            during.Send(payload: 10), before.Answer(payload: 10),
            web.Send("S"), web.Answer("SA"), web.Send("A"),
            ConntrackList(),
            Conntrack("-L", "-o", "ktimestamp"),
            Conntrack("-L", "-o", "xml,ktimestamp"),
            Conntrack("-L", "-p", "udp", "-o", "xml"),
            Conntrack("-L", "-o", "extended,id"),
            Conntrack("-G", "-p", "udp", "-s", Client, "-d", Server, "--sport", "42001", "--dport", "123", "-o", "ktimestamp"),
            new ProcConntrackRead(),
            new SysctlWrite("nf_conntrack_timestamp", "0"),
            afterwards.Send(payload: 10), during.Answer(payload: 10),
            ConntrackList(),
            Conntrack("-D", "-p", "udp", "--sport", "42001", "-o", "ktimestamp"),
            Conntrack("-D", "-p", "tcp", "-o", "xml,ktimestamp"),
            new ProcConntrackRead(),
            new SysctlRead("nf_conntrack_events"),
            new SysctlWrite("nf_conntrack_events", "3"),
            new SysctlWrite("nf_conntrack_events", "1"),
            new SysctlRead("nf_conntrack_events"),
            new SysctlRead("nf_conntrack_log_invalid"),
            new SysctlWrite("nf_conntrack_log_invalid", "256"),
            new SysctlWrite("nf_conntrack_log_invalid", "-1"),
            new SysctlWrite("nf_conntrack_log_invalid", "255"),
            new SysctlRead("nf_conntrack_log_invalid"),
            new SysctlWrite("nf_conntrack_expect_max", "5"),
            new SysctlRead("nf_conntrack_frag6_timeout"),
            new SysctlWrite("nf_conntrack_frag6_timeout", "8589935"),
            new SysctlWrite("nf_conntrack_frag6_timeout", "-30"),
            new SysctlRead("nf_conntrack_frag6_timeout"),
            new SysctlRead("nf_conntrack_frag6_low_thresh"),
            new SysctlRead("nf_conntrack_frag6_high_thresh"),
            new SysctlWrite("nf_conntrack_frag6_high_thresh", "100"),
            new SysctlWrite("nf_conntrack_frag6_high_thresh", "-0"),
            new SysctlWrite("nf_conntrack_frag6_low_thresh", "4194305"),
            new SysctlWrite("nf_conntrack_frag6_low_thresh", "4194304 7"),
            new SysctlWrite("nf_conntrack_frag6_high_thresh", "0x800000"),
            new SysctlRead("nf_conntrack_frag6_low_thresh"),
            new SysctlRead("nf_conntrack_frag6_high_thresh"),
            new SysctlRead("ipfrag_time", "ipv4"),
            new SysctlWrite("ipfrag_time", "8589935", "ipv4"),
            new SysctlWrite("ipfrag_time", "-7", "ipv4"),
            new SysctlRead("ipfrag_time", "ipv4"),
            new SysctlRead("ipfrag_max_dist", "ipv4"),
            new SysctlWrite("ipfrag_max_dist", "-1", "ipv4"),
            new SysctlWrite("ipfrag_max_dist", "2147483648", "ipv4"),
            new SysctlWrite("ipfrag_max_dist", "-0", "ipv4"),
            new SysctlRead("ipfrag_max_dist", "ipv4"),
            new SysctlWrite("ipfrag_max_dist", "0x20 9", "ipv4"),
            new SysctlRead("ipfrag_max_dist", "ipv4"),
            new SysctlRead("ipfrag_low_thresh", "ipv4"),
            new SysctlRead("ipfrag_high_thresh", "ipv4"),
            new SysctlWrite("ipfrag_high_thresh", "100", "ipv4"),
            new SysctlWrite("ipfrag_low_thresh", "4194305", "ipv4"),
            new SysctlWrite("ipfrag_low_thresh", "1000", "ipv4"),
            new SysctlWrite("ipfrag_high_thresh", "1000", "ipv4"),
            new SysctlRead("ipfrag_low_thresh", "ipv4"),
            new SysctlRead("ipfrag_high_thresh", "ipv4"),
        ], s_policies, workerCounts: [1]);
    }

    /// <summary>
    /// --mark VALUE[/MASK] and the zone options with -L and -D over connections that all have mark 0 in zone 0:
    /// strtoul's values cut to 32 and 16 bits, the value compared unmasked, the last zone option of each kind counting;
    /// illegal with -C and -G.
    /// </summary>
    [Fact]
    public void MarkAndZoneFiltersMatchConntrack()
    {
        var web = new Flow("tcp", Client, 41000, Server, 80);
        var ntp = new Flow("udp", Client, 42001, Server, 123);
        Compare(StatefulFirewall, null,
        [
            web.Send("S"), web.Answer("SA"), web.Send("A"),
            ntp.Send(payload: 48), ntp.Answer(payload: 48),
            Conntrack("-L", "--mark", "0"),
            Conntrack("-L", "-m", "1"),
            Conntrack("-L", "-m", "0/0"),
            Conntrack("-L", "-m", "1/0"),
            Conntrack("-L", "-m", "2/1"),
            Conntrack("-L", "-m", "x"),
            Conntrack("-L", "-m", "4294967296"),
            Conntrack("-L", "-m", "-1"),
            Conntrack("-L", "-p", "udp", "--mark", "0/0xffffffff"),
            Conntrack("-L", "--zone", "0"),
            Conntrack("-L", "-w", "1"),
            Conntrack("-L", "-w", "65536"),
            Conntrack("-L", "-w", "1", "-w", "0"),
            Conntrack("-L", "--orig-zone", "0", "--reply-zone", "1"),
            Conntrack("-C", "--mark", "1"),
            Conntrack("-G", "-p", "udp", "-s", Client, "-d", Server, "--sport", "42001", "--dport", "123", "-w", "1"),
            Conntrack("-D", "--mark", "1"),
            Conntrack("-D", "-p", "udp", "-w", "0"),
            ConntrackList(),
        ], s_policies, workerCounts: [1]);
    }

    /// <summary>
    /// nfct through fastpathctl and the control socket of a running fastpath, against the real nfct: a seeded mix
    /// of good and bad command lines, then odd ones (empty words, spaces, '%', tabs and line breaks in names: what
    /// the socket has to carry; the in-process differential runs hundreds; these prove the socket path), with a
    /// policy a -j CT --timeout rule holds, so that deleting it is EBUSY on both sides.
    /// </summary>
    [Fact]
    public void NfctThroughTheControlSocketMatchesNfct()
    {
        var scenario = new CttimeoutScenario(seed: 7, new FastPathCttimeoutSide());
        var odd = new NfctCommandLineScenario(seed: 7);
        var seeded = Enumerable.Range(0, 40).Select(_ => Nfct(scenario.NextNfct().Arguments))
            .Concat(Enumerable.Range(0, 30).Select(_ => Nfct(odd.Next().Arguments)));
        var web = new Flow("tcp", Client, 41000, Server, 80);
        Compare("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p tcp -m tcp --dport 80 -j CT --timeout web
            COMMIT

            """, null,
        [
            web.Send("S"),
            .. seeded,
            Nfct("delete", "timeout", "web"),
            Nfct("flush", "timeout"),
            Nfct("list", "timeout"),
            web.Answer("SA"),
            ConntrackList(),
        ], ["add timeout web inet tcp syn_sent 45 syn_recv 35"], workerCounts: [1]);
    }
}
