// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Core.Tests.Conntrack.Tracking;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// -m conntrack, -m state and -j CT in a ruleset: parsing as libxt_conntrack and libxt_CT do, xt_CT's checkentry
/// against the policy registry, and evaluation with connection tracking between raw and filter.
/// </summary>
public class ConntrackRuleTests
{
    private static readonly string[] Ports = ["wan0", "lan0"];
    private const ulong Start = 1_000_000;

    private const string Stateful = """
        *filter
        :FORWARD DROP [0:0]
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        -A FORWARD -p tcp -m tcp --dport 443 -m conntrack --ctstate NEW -j ACCEPT
        -A FORWARD -p udp -m state --state NEW -j ACCEPT
        COMMIT
        """;

    private static Rule OnlyRule(string table, string chain, string rule) =>
        RulesetParser.Parse($"*{table}\n:{chain} ACCEPT [0:0]\n-A {chain} {rule}\nCOMMIT\n", "t.rules", L3Kind.IPv4)
            .Tables[table == "raw" ? TableKind.Raw : TableKind.Filter].Chains[chain].Rules.Single();

    private static CompiledRuleset Compile(string v4, TimeoutPolicyRegistry? timeouts = null) =>
        new(RulesetParser.Parse(v4, "v4.rules", L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6), Ports, timeouts: timeouts);

    private static (RulesetState State, ConnectionTracker Tracker) Tracked(string v4, TimeoutPolicyRegistry? timeouts = null, int capacity = 64)
    {
        timeouts ??= new TimeoutPolicyRegistry();
        var tracker = new ConnectionTracker(timeouts, capacity);
        return (new RulesetState(Compile(v4, timeouts), conntrack: tracker), tracker);
    }

    private static RuleVerdict Send(RulesetState state, byte[] frame, ulong now, out CtStateMask ctState)
    {
        var packet = Parse(frame);
        EvaluationCursor.Start(out var cursor);
        var verdict = state.Evaluate(ref packet, frame, 0, 1, now, ref cursor, out _);
        ctState = cursor.CtState;
        return verdict;
    }

    private static RuleVerdict Send(RulesetState state, byte[] frame, ulong now = Start) => Send(state, frame, now, out _);

    [Theory]
    [InlineData("-m conntrack --ctstate EST,rel -j ACCEPT", CtStateMask.Established | CtStateMask.Related, false)]
    [InlineData("-m conntrack ! --ctstate INVALID,UNTRACKED,SNAT,DNAT", CtStateMask.Invalid | CtStateMask.Untracked | CtStateMask.Snat | CtStateMask.Dnat, true)]
    [InlineData("-m state --state n,E", CtStateMask.New | CtStateMask.Established, false)]
    [InlineData("-m state ! --state new", CtStateMask.New, true)]
    public void StateListsAreParsedAsLibxtConntrackDoes(string options, CtStateMask states, bool invert)
    {
        var match = OnlyRule("filter", "FORWARD", options).Conntrack.Single();
        Assert.Equal(new Inverted<CtStateMask>(states, invert), match.State);
    }

    [Fact]
    public void ConntrackOptionsAndCtTargetsAreParsed()
    {
        var match = OnlyRule("filter", "FORWARD", "-m conntrack --ctproto udp ! --ctstatus ASSURED,SEEN_REPLY --ctexpire 10:20 --ctdir reply -j ACCEPT").Conntrack.Single();
        Assert.Equal(new Inverted<byte>(17, false), match.Protocol);
        Assert.Equal(new Inverted<CtStatusMask>(CtStatusMask.Assured | CtStatusMask.SeenReply, true), match.Status);
        Assert.Equal(new Inverted<(uint, uint)>((10, 20), false), match.Expire);
        Assert.Equal(new Inverted<FlowDirection>(FlowDirection.Reply, false), match.Direction);

        Assert.Equal(new CtTarget("NOTRACK", NoTrack: true, TimeoutPolicy: null), OnlyRule("raw", "PREROUTING", "-j NOTRACK").Ct);
        Assert.Equal(new CtTarget("CT", NoTrack: true, TimeoutPolicy: null), OnlyRule("raw", "PREROUTING", "-p udp -j CT --notrack").Ct);
        var timeout = OnlyRule("raw", "PREROUTING", "-p tcp -j CT --timeout web");
        Assert.Equal(TargetKind.Ct, timeout.Target);
        Assert.Equal(new CtTarget("CT", NoTrack: false, TimeoutPolicy: "web"), timeout.Ct);
    }

    /// <summary>iptables cuts a longer --timeout name into the target's 31 bytes, and nfct the name it creates, so the two still meet.</summary>
    [Fact]
    public void ALongTimeoutNameIsCutTo31BytesAsIptablesCutsIt()
    {
        string name = new('c', 40);
        Assert.Equal(new string('c', 31), OnlyRule("raw", "PREROUTING", $"-p udp -j CT --timeout {name}").Ct!.TimeoutPolicy);
        Assert.Equal(new string('c', 29) + "é", OnlyRule("raw", "PREROUTING", $"-p udp -j CT --timeout {new string('c', 29)}éé").Ct!.TimeoutPolicy);
    }

    [Fact]
    public void WhatIptablesAcceptsWithoutMeaningIsAcceptedToo()
    {
        // iptables 1.8.9 takes both (checked in a namespace): a reversed --ctexpire range and ! --ctproto 0.
        Assert.Equal(new Inverted<(uint, uint)>((10, 5), false), OnlyRule("filter", "FORWARD", "-m conntrack --ctexpire 10:5 -j ACCEPT").Conntrack.Single().Expire);
        Assert.Equal(new Inverted<byte>(0, true), OnlyRule("filter", "FORWARD", "-m conntrack ! --ctproto 0").Conntrack.Single().Protocol);
        var (state, _) = Tracked("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m conntrack --ctexpire 10:5 -j DROP\nCOMMIT\n");
        Send(state, Udp(true), Start);
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start + 1));
    }

    /// <summary>--ctexpire is an XTTYPE_UINT32RC range: numbers in any C base, either end left open (iptables 1.8.9, checked in a namespace).</summary>
    [Theory]
    [InlineData("010", 8u, 8u)]
    [InlineData("0x10", 16u, 16u)]
    [InlineData("+5", 5u, 5u)]
    [InlineData("10:", 10u, uint.MaxValue)]
    [InlineData(":10", 0u, 10u)]
    [InlineData("7:0x10", 7u, 16u)]
    public void CtexpireReadsNumbersAndRangesAsIptablesDoes(string text, uint min, uint max) =>
        Assert.Equal(new Inverted<(uint, uint)>((min, max), false), OnlyRule("filter", "FORWARD", $"-m conntrack --ctexpire {text} -j ACCEPT").Conntrack.Single().Expire);

    [Theory]
    [InlineData("08", "conntrack: bad value for option \"--ctexpire\" near \"08\", or out of range (0-4294967295).")]
    [InlineData("4294967296", "conntrack: bad value for option \"--ctexpire\" near \"4294967296\", or out of range (0-4294967295).")]
    [InlineData("1:2:3", "conntrack: Too many components for option \"--ctexpire\" (max: 2)")]
    public void CtexpireRefusesWhatIptablesRefuses(string text, string message) =>
        Assert.Equal(message, Assert.Throws<RulesetException>(() => OnlyRule("filter", "FORWARD", $"-m conntrack --ctexpire {text} -j ACCEPT")).Reason);

    [Fact]
    public void CtTimeoutRulesHoldTheirPolicyUntilTheRulesetIsReleased()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("web", 2, 6, new Dictionary<int, uint> { [3] = 100 }, TimeoutCreateFlags.None));
        var ruleset = Compile("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp --dport 443 -j CT --timeout web
            -A PREROUTING -p tcp --dport 8443 -j CT --timeout web
            COMMIT
            """, registry);
        Assert.True(ruleset.UsesConntrack);
        Assert.Equal(2, registry.Current.Find("web")!.References);
        Assert.Equal(Errno.EBUSY, registry.Delete("web"));

        ruleset.ReleaseTimeoutPolicies();
        Assert.Equal(0, registry.Current.Find("web")!.References);
        Assert.Equal(Errno.None, registry.Delete("web"));
    }

    [Theory]
    [InlineData("-p tcp -j CT --timeout missing", "no timeout policy named 'missing'", "No such file or directory")]
    [InlineData("-j CT --timeout web", "needs the rule to match one protocol", "Invalid argument")]
    [InlineData("! -p tcp -j CT --timeout web", "needs the rule to match one protocol", "Invalid argument")]
    [InlineData("-p udp -j CT --timeout web", "timeout policy 'web' is not for inet udp", "Invalid argument")]
    public void CtTimeoutIsCheckedAsTheKernelsCheckentryDoes(string rule, string message, string errno)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", 2, 6, new Dictionary<int, uint>(), TimeoutCreateFlags.None);
        string text = $"*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 80 -j CT --timeout web\n-A PREROUTING {rule}\nCOMMIT\n";
        var e = Assert.Throws<RulesetException>(() => Compile(text, registry));
        Assert.Equal(4, e.Line);
        Assert.Contains(message, e.Message);
        Assert.Contains(errno, e.Message);
        // Nothing half-applied: the first rule's reference was given back.
        Assert.Equal(0, registry.Current.Find("web")!.References);
    }

    [Fact]
    public void AStatefulFirewallLetsRepliesInAndOnlyConfirmsAcceptedConnections()
    {
        var (state, tracker) = Tracked(Stateful);

        Assert.Equal(RuleVerdict.Accept, Send(state, Tcp(true, TcpSegment.Syn, 1000, 0), Start, out var ct));
        Assert.Equal(CtStateMask.New, ct);
        Assert.Equal(1, tracker.Table.Count);
        Assert.Equal(RuleVerdict.Accept, Send(state, Tcp(false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001), Start + 1, out ct));
        Assert.Equal(CtStateMask.Established, ct);
        Assert.Equal(RuleVerdict.Accept, Send(state, Tcp(true, TcpSegment.AckFlag, 1001, 5001), Start + 2, out ct));
        Assert.Equal(CtStateMask.Established, ct);

        // The ruleset drops a NEW connection to another port: it is never confirmed, and its reply is NEW again.
        var other = Ethernet(EtherTypeIPv4, Ipv4(6, FastPath.Testing.TestFrames.Tcp(40001, 8080, 0x02), Client, Server));
        Assert.Equal(RuleVerdict.Drop, Send(state, other, Start + 3, out ct));
        Assert.Equal(CtStateMask.New, ct);
        Assert.Equal(1, tracker.Table.Count);
        Assert.Equal(RuleVerdict.Drop, Send(state, other, Start + 4, out ct));
        Assert.Equal(CtStateMask.New, ct);
    }

    [Fact]
    public void AFlowIdlePastItsTimeoutIsNewAgain()
    {
        var (state, tracker) = Tracked(Stateful);
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start));
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(false), Start + 1, out var ct));
        Assert.Equal(CtStateMask.Established, ct);
        // A packet after the first 2 s makes it a stream: 120 s from each packet on.
        ulong last = Start + Seconds(3);
        Send(state, Udp(true), last);
        Send(state, Udp(true), last + Seconds(120) - 1, out ct);
        Assert.Equal(CtStateMask.Established, ct);
        Send(state, Udp(true), last + Seconds(120) - 1 + Seconds(120), out ct);
        Assert.Equal(CtStateMask.New, ct);
        Assert.Equal(1, tracker.Table.Count);
    }

    [Fact]
    public void ATimeoutPolicyAppliesToNewConnectionsAndAReplaceReachesLiveOnes()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("dns", 2, 17, new Dictionary<int, uint> { [0] = 5, [1] = 7 }, TimeoutCreateFlags.None);
        var (state, tracker) = Tracked("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p udp --dport 53 -j CT --timeout dns
            COMMIT
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m conntrack --ctstate INVALID -j DROP
            COMMIT
            """, registry);

        Send(state, Udp(true), Start);
        int flow = tracker.Table.Find(Key(), Start, out _);
        Assert.Equal(Start + Seconds(5), tracker.Table[flow].Deadline);
        Assert.Equal(registry.Current.Find("dns")!.Id, tracker.Table[flow].PolicyId);

        // nfct add timeout dns inet udp unreplied 9: the next packet of the live flow takes the new value.
        Assert.Equal(Errno.None, registry.Create("dns", 2, 17, new Dictionary<int, uint> { [0] = 9 }, TimeoutCreateFlags.Replace));
        Send(state, Udp(true), Start + 10);
        Assert.Equal(Start + 10 + Seconds(9), tracker.Table[flow].Deadline);

        // Deleting it while a rule holds it is refused; once the rules are gone, the flow falls back to the defaults (30 s).
        Assert.Equal(Errno.EBUSY, registry.Delete("dns"));
        state.Ruleset.ReleaseTimeoutPolicies();
        Assert.Equal(Errno.None, registry.Delete("dns"));
        Send(state, Udp(true), Start + 20);
        Assert.Equal(Start + 20 + Seconds(30), tracker.Table[flow].Deadline);
    }

    private static ConnectionKey Key() =>
        new(L3Kind.IPv4, 17, Address(Client), Address(Server), ClientPort, 53);

    [Fact]
    public void NotrackLeavesPacketsUntrackedAndOutOfTheTable()
    {
        var (state, tracker) = Tracked("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p udp --dport 53 -j CT --notrack
            COMMIT
            *filter
            :FORWARD DROP [0:0]
            -A FORWARD -m state --state UNTRACKED -j ACCEPT
            COMMIT
            """);
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start, out var ct));
        Assert.Equal(CtStateMask.Untracked, ct);
        Assert.Equal(0, tracker.Table.Count);
        // A TCP packet is tracked (NEW) and dropped by the policy.
        Assert.Equal(RuleVerdict.Drop, Send(state, Tcp(true, TcpSegment.Syn, 1, 0), Start, out ct));
        Assert.Equal(CtStateMask.New, ct);
        Assert.Equal(0, tracker.Table.Count);
    }

    [Fact]
    public void TheFirstCtTargetWinsAndRawSeesItsTemplate()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("short", 2, 17, new Dictionary<int, uint> { [0] = 3 }, TimeoutCreateFlags.None);
        registry.Create("long", 2, 17, new Dictionary<int, uint> { [0] = 300 }, TimeoutCreateFlags.None);
        var (state, tracker) = Tracked("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -m state --state INVALID -p udp -j CT --timeout short
            -A PREROUTING -m state --state NEW -p udp -j CT --timeout long
            -A PREROUTING -p tcp -j CT
            -A PREROUTING -m state --state NEW -p tcp -j DROP
            COMMIT
            """, registry);
        // Before tracking a packet is INVALID in raw; after a template it is NEW there, and a second CT changes nothing.
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start));
        Assert.Equal(new long[] { 1, 1, 0, 0 }, state.RulePackets);
        Assert.Equal(Start + Seconds(3), tracker.Table[tracker.Table.Find(Key(), Start, out _)].Deadline);
        // The TCP packet gets a template without a policy, is NEW in raw and is dropped before tracking.
        Assert.Equal(RuleVerdict.Drop, Send(state, Tcp(true, TcpSegment.Syn, 1, 0), Start));
        Assert.Equal(1, tracker.Table.Count);
    }

    /// <summary>
    /// A RST before any reply ends its connection, and the packet still carries it through filter: SEEN_REPLY set when
    /// it is the reply, the timer as the SYN left it (Linux 6.18: policy syn_sent 50; the server's RST matched
    /// --ctstatus SEEN_REPLY and not --ctexpire 0:0, the client's RST --ctexpire 40:60).
    /// </summary>
    [Theory]
    [InlineData(false, new long[] { 1, 1, 0, 1 })]
    [InlineData(true, new long[] { 1, 0, 0, 1 })]
    public void ARstEndingItsConnectionStillSeesItInFilter(bool fromClient, long[] counted)
    {
        var registry = new TimeoutPolicyRegistry();
        int synSent = TimeoutProtocols.Tcp.StateIndex("SYN_SENT");
        Assert.Equal(Errno.None, registry.Create("t1", 2, 6, new Dictionary<int, uint> { [synSent] = 50 }, TimeoutCreateFlags.None));
        var (state, tracker) = Tracked("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp -j CT --timeout t1
            COMMIT
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m conntrack --ctstatus SEEN_REPLY
            -A FORWARD -m conntrack --ctexpire 0:0
            -A FORWARD -m conntrack --ctexpire 40:60
            COMMIT
            """, registry);
        Send(state, Tcp(true, TcpSegment.Syn, 1000, 0), Start);
        Array.Clear(state.RulePackets);
        var rst = fromClient ? Tcp(true, TcpSegment.Rst, 1001, 0) : Tcp(false, TcpSegment.Rst | TcpSegment.AckFlag, 0, 1001);
        Assert.Equal(RuleVerdict.Accept, Send(state, rst, Start + Seconds(1)));
        Assert.Equal(counted, state.RulePackets);
        Assert.Equal(0, tracker.Table.Count);
    }

    /// <summary>
    /// An unconfirmed connection's timer holds its timeout, and nf_ct_expires subtracts the 32-bit jiffies anyway: the
    /// first packet reads 0 once the jiffies pass the timeout, and what is left before (Linux 6.18 at jiffies32 near
    /// 637,000: a 5,000 s policy read about 2,451 s on the first packet, a 1,000 s one 0).
    /// </summary>
    [Fact]
    public void TheFirstPacketReadsTheTimeoutLessTheJiffiesCount()
    {
        var (state, _) = Tracked("""
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m conntrack --ctexpire 26 -j ACCEPT
            -A FORWARD -m conntrack --ctexpire 0 -j ACCEPT
            COMMIT
            """);
        Send(state, Udp(true), now: 1000); // UDP's 30 s are 7,500 jiffies; 6,500 of them are 26 s
        Assert.Equal(new long[] { 1, 0 }, state.RulePackets);
        Send(state, Tcp(true, TcpSegment.Syn, 1, 0), now: Start); // SYN_SENT's 120 s are far below 1,000,000 jiffies
        Assert.Equal(new long[] { 1, 1 }, state.RulePackets);
    }

    [Fact]
    public void CtStatusExpireAndDirectionReadTheConnection()
    {
        var (state, _) = Tracked("""
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m conntrack --ctdir REPLY -j ACCEPT
            -A FORWARD -m conntrack --ctstatus SEEN_REPLY --ctexpire 100:120 -j ACCEPT
            -A FORWARD -m conntrack --ctstatus CONFIRMED -j DROP
            -A FORWARD -m conntrack ! --ctstatus NONE --ctexpire 0 -j ACCEPT
            COMMIT
            """);
        // NEW: unconfirmed, expiring "now" for the match; only the last rule takes it.
        Send(state, Udp(true), Start);
        Assert.Equal(new long[] { 0, 0, 0, 1 }, state.RulePackets);
        Send(state, Udp(false), Start + 1);
        Assert.Equal(new long[] { 1, 0, 0, 1 }, state.RulePackets);
        // Replied, confirmed, 30 s left (UDP replied once, not yet a stream): the third rule drops it.
        Assert.Equal(RuleVerdict.Drop, Send(state, Udp(true), Start + 2));
        // After 2 s it is a stream with 120 s: the second rule.
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start + Seconds(3)));
        Assert.Equal(new long[] { 1, 1, 1, 1 }, state.RulePackets);
    }


    [Fact]
    public void StateTestsAloneAndWithOtherOptionsAgreeOnEveryState()
    {
        // Rules without a target only count, so every rule sees every packet. The first four are a single state-only
        // match (tested inline by the walk); the last two are not (two matches; a state with a direction).
        var (state, _) = Tracked("""
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp -m tcp --tcp-flags SYN,FIN,ACK SYN -j CT --notrack
            COMMIT
            *filter
            :FORWARD ACCEPT [0:0]
            -A FORWARD -m conntrack --ctstate NEW
            -A FORWARD -m conntrack ! --ctstate NEW
            -A FORWARD -m state --state ESTABLISHED,INVALID
            -A FORWARD -m state ! --state UNTRACKED
            -A FORWARD -m conntrack --ctstate NEW -m conntrack --ctstate NEW,ESTABLISHED
            -A FORWARD -m conntrack ! --ctstate ESTABLISHED --ctdir ORIGINAL
            COMMIT
            """);
        long[] Counted(byte[] frame, ulong now)
        {
            var before = state.RulePackets.ToArray();
            Send(state, frame, now);
            return state.RulePackets.Select((n, i) => n - before[i]).ToArray()[1..];
        }

        Assert.Equal([1, 0, 0, 1, 1, 1], Counted(Udp(true), Start));                                       // NEW
        Assert.Equal([0, 1, 1, 1, 0, 0], Counted(Udp(false), Start + 1));                                  // ESTABLISHED, reply
        Assert.Equal([0, 1, 0, 0, 0, 1], Counted(Tcp(true, TcpSegment.Syn, 1, 0), Start + 2));             // UNTRACKED
        Assert.Equal([0, 1, 1, 1, 0, 1], Counted(Tcp(true, TcpSegment.Syn | TcpSegment.Fin, 1, 0), Start + 3)); // INVALID
    }
    [Fact]
    public void AFullTableEvictsWhatIsNotAssuredAndOtherwiseDropsUnderItsOwnReason()
    {
        var (state, tracker) = Tracked(Stateful, capacity: 1);
        var second = Ethernet(EtherTypeIPv4, Ipv4(17, FastPath.Testing.TestFrames.Udp(1234, 53), Client, Server));
        Assert.Equal(RuleVerdict.Accept, Send(state, Udp(true), Start));
        // The one connection is not ASSURED, so early drop evicts it for the new one.
        Assert.Equal(RuleVerdict.Accept, Send(state, second, Start + 1));
        Assert.Equal(1, tracker.Table.EarlyDrops);

        // A UDP stream (a reply, then traffic after 2 s) is ASSURED and stays; the next new connection is refused.
        Send(state, FastPath.Testing.TestFrames.Ethernet(EtherTypeIPv4, Ipv4(17, FastPath.Testing.TestFrames.Udp(53, 1234), Server, Client)), Start + 2);
        Send(state, second, Start + Seconds(3));
        Assert.Equal(RuleVerdict.ConntrackTableFull, Send(state, Udp(true), Start + Seconds(4), out var ct));
        Assert.Equal(CtStateMask.Invalid, ct);
        Assert.Equal(1, tracker.Table.TableFullDrops);
        Assert.Equal(1, tracker.Table.Count);
    }

    [Fact]
    public void ARulesetWithoutConntrackRulesTracksNothingUnlessAskedTo()
    {
        const string plain = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp -j ACCEPT\nCOMMIT\n";
        var (state, tracker) = Tracked(plain);
        Send(state, Udp(true), Start);
        Assert.False(state.Tracking);
        Assert.Equal(0, tracker.Table.Count);

        var always = new ConnectionTracker(new TimeoutPolicyRegistry(), 8) { TrackAlways = true };
        var tracking = new RulesetState(Compile(plain), conntrack: always);
        Send(tracking, Udp(true), Start);
        Assert.Equal(1, always.Table.Count);
    }
}
