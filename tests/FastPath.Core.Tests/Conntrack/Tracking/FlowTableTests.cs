// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Testing;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>The table: symmetric lookup, confirmation, expiry, the sweep, early drop at the limit, and no allocation.</summary>
public class FlowTableTests
{
    [Fact]
    public void BothDirectionsOfATupleHashAlikeAndReverseBack()
    {
        var key = new ConnectionKey(L3Kind.IPv4, 6, TestFrames.Address(Client), TestFrames.Address(Server), 40000, 443);
        Assert.Equal(key.SymmetricHash(), key.Reverse().SymmetricHash());
        Assert.Equal(key, key.Reverse().Reverse());
        Assert.Equal((ushort)443, key.Reverse().SourcePort);

        var echo = new ConnectionKey(L3Kind.IPv4, 1, TestFrames.Address(Client), TestFrames.Address(Server), 77, ConnectionKey.IcmpQuery(8, 0));
        Assert.Equal((ushort)77, echo.Reverse().SourcePort); // the identifier does not swap
        Assert.Equal(echo.SymmetricHash(), echo.Reverse().SymmetricHash());
        Assert.NotEqual(echo.SymmetricHash(), (echo with { SourcePort = 78 }).SymmetricHash());
    }

    [Fact]
    public void WhatALookupAndTheSweepReadFitsTheFirst64BytesOfAConnection()
    {
        var flow = default(Flow);
        ref byte start = ref Unsafe.As<Flow, byte>(ref flow);
        foreach (nint end in new[]
                 {
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<ConnectionKey, byte>(ref flow.Original)) + Unsafe.SizeOf<ConnectionKey>(),
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<ulong, byte>(ref flow.Deadline)) + sizeof(ulong),
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<int, byte>(ref flow.Next)) + sizeof(int),
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<bool, byte>(ref flow.InUse)) + 1,
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<bool, byte>(ref flow.Confirmed)) + 1,
                     Unsafe.ByteOffset(ref start, ref Unsafe.As<FlowStatus, byte>(ref flow.Status)) + 1,
                 })
        {
            Assert.InRange(end, 1, 64);
        }
    }

    [Fact]
    public void AFlowWhoseFirstPacketIsDroppedIsNeverConfirmed()
    {
        var h = new TrackingHarness();
        var dropped = h.Send(Udp(true), accept: false);
        Assert.Equal(CtState.New, dropped.State);
        Assert.Equal(0, h.Table.Count);
        var again = h.Send(Udp(true));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (again.State, again.Disposition));
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void AnIdleFlowPastItsTimeoutIsGoneAndTheNextPacketIsNew()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Udp(true)).Flow;
        h.Send(Udp(false));
        h.Now += Seconds(30) - 1;
        Assert.Equal(CtState.Established, h.Send(Udp(true)).State); // one jiffy before expiry: now a stream, 120 s
        Assert.Equal(Seconds(120), h.Remaining(flow));

        h.Now += Seconds(120);
        var next = h.Send(Udp(false));
        Assert.Equal((CtState.New, FlowDirection.Original, TrackDisposition.Unconfirmed), (next.State, next.Direction, next.Disposition));
        Assert.Equal(1, h.Table.Count);
        Assert.Equal(TestFrames.Address(Server), h.Table[next.Flow].Original.Source);
    }

    [Fact]
    public void TheSweepDeletesExpiredFlowsWithinItsBudget()
    {
        var h = new TrackingHarness(capacity: 8);
        for (ushort port = 1; port <= 4; port++)
            h.Send(Ip(17, TestFrames.Udp(port, 53), fromClient: true));
        h.Send(Ip(6, TestFrames.Tcp(5, 80, TcpSegment.Syn), fromClient: true)); // 120 s
        Assert.Equal(5, h.Table.Count);

        h.Now += Seconds(30);
        Assert.Equal(2, h.Table.Sweep(h.Now, budget: 2));
        Assert.Equal(3, h.Table.Count);
        Assert.Equal(2, h.Table.Sweep(h.Now, budget: 6));
        Assert.Equal(1, h.Table.Count);
        Assert.Equal(0, h.Table.Sweep(h.Now, budget: 100));
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void TheSweepGoesByEachConnectionsLatestDeadline()
    {
        var h = new TrackingHarness();
        // UDP, unreplied: 30 s a packet. Refreshed at 20 s, it lives until 50 s, past the deadline it first had.
        int udp = h.Send(Udp(true)).Flow;
        h.Now += Seconds(20);
        h.Send(Udp(true));
        // TCP: a handshake makes it ESTABLISHED (5 days); a RST then brings its deadline in to CLOSE's 10 s.
        h.Send(Tcp(true, TcpSegment.Syn, 1000, 0));
        h.Send(Tcp(false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001));
        int tcp = h.Send(Tcp(true, TcpSegment.AckFlag, 1001, 5001)).Flow;
        Assert.True(h.Remaining(tcp) > Seconds(400_000));
        h.Send(Tcp(true, TcpSegment.Rst | TcpSegment.AckFlag, 1001, 5001));
        Assert.Equal(Seconds(10), h.Remaining(tcp));

        h.Now += Seconds(11); // 31 s after the UDP connection's first packet
        Assert.Equal(1, h.Table.Sweep(h.Now, budget: 100));
        Assert.Equal(1, h.Table.Count);
        Assert.Equal(Seconds(19), h.Remaining(udp));

        h.Now += Seconds(19);
        Assert.Equal(1, h.Table.Sweep(h.Now, budget: 100));
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void AListingInSlicesSeesWhatAWholeListingSees()
    {
        var h = new TrackingHarness(capacity: 256);
        for (ushort port = 1; port <= 200; port++)
            h.Send(Ip(17, TestFrames.Udp(port, 53), fromClient: true));
        h.Now += Seconds(10);
        h.Send(Ip(17, TestFrames.Udp(7, 53), fromClient: true));
        h.Now += Seconds(25); // all but port 7 expired

        var whole = new List<FlowView>();
        h.Table.Snapshot(h.Now, h.Timeouts, whole);
        var sliced = new List<FlowView>();
        int bucket = 0, slices = 1;
        while (!h.Table.Snapshot(h.Now, h.Timeouts, sliced, ref bucket, buckets: 7))
            slices++;

        Assert.Equal(whole, sliced);
        Assert.Equal(7, Assert.Single(whole).Original.SourcePort);
        Assert.Equal((h.Table.Buckets + 6) / 7, slices);
    }

    [Fact]
    public void DeletingInSlicesRemovesWhatTheFilterSelectsAndALaterPacketStartsAgain()
    {
        var h = new TrackingHarness(capacity: 256);
        for (ushort port = 1; port <= 200; port++)
            h.Send(Ip(17, TestFrames.Udp(port, (ushort)(port % 2 == 0 ? 53 : 123)), fromClient: true));
        h.Now += Seconds(10);
        h.Send(Ip(17, TestFrames.Udp(123, 7), fromClient: false)); // the answer: port 7's connection is replied
        h.Send(Ip(17, TestFrames.Udp(8, 53), fromClient: true));
        h.Now += Seconds(25); // all but ports 7 and 8 expired
        h.Send(Ip(17, TestFrames.Udp(9, 53), fromClient: true)); // opened again

        var deleted = new List<FlowView>();
        int bucket = 0, slices = 1;
        while (!h.Table.Delete(h.Now, h.Timeouts, f => f.Original.DestinationPort == 53, deleted, ref bucket, buckets: 7))
            slices++;

        Assert.Equal([8, 9], deleted.Select(f => (int)f.Original.SourcePort).Order());
        Assert.Equal((h.Table.Buckets + 6) / 7, slices);
        var left = new List<FlowView>();
        h.Table.Snapshot(h.Now, h.Timeouts, left);
        var kept = Assert.Single(left);
        Assert.Equal((7, true), (kept.Original.SourcePort, kept.SeenReply));
        Assert.Equal(CtState.New, h.Send(Ip(17, TestFrames.Udp(8, 53), fromClient: true)).State);

        bucket = 0;
        deleted.Clear();
        Assert.True(h.Table.Delete(h.Now, h.Timeouts, _ => true, deleted, ref bucket, h.Table.Buckets));
        Assert.Equal(2, deleted.Count);
        Assert.Equal(CtState.New, h.Send(Ip(17, TestFrames.Udp(123, 7), fromClient: false)).State); // the reply opens its own
    }

    /// <summary>early_drop_list reads the whole bucket: every connection in it that is not ASSURED goes, not only the first.</summary>
    [Fact]
    public void EarlyDropEvictsEveryConnectionOfTheBucketThatIsNotAssured()
    {
        var h = new TrackingHarness(capacity: 3, buckets: 1);
        int assured = Assure(h, 1);
        h.Send(Ip(17, TestFrames.Udp(2, 53), fromClient: true));
        h.Send(Ip(17, TestFrames.Udp(3, 53), fromClient: true));

        h.Send(Ip(17, TestFrames.Udp(4, 53), fromClient: true));
        Assert.Equal(2, h.Table.EarlyDrops);
        Assert.Equal(2, h.Table.Count);
        Assert.True(h.Table[assured].IsAssured);
    }

    [Fact]
    public void AtTheLimitANewFlowEvictsOneThatIsNotAssured()
    {
        var h = new TrackingHarness(capacity: 2);
        int assured = Assure(h, 1);
        h.Send(Ip(17, TestFrames.Udp(2, 53), fromClient: true));
        Assert.Equal(2, h.Table.Count);

        var third = h.Send(Ip(17, TestFrames.Udp(3, 53), fromClient: true));
        Assert.Equal(TrackDisposition.Unconfirmed, third.Disposition);
        Assert.Equal(2, h.Table.Count);
        Assert.Equal(1, h.Table.EarlyDrops);
        Assert.True(h.Table[assured].IsAssured);
        Assert.Equal(CtState.New, h.Send(Ip(17, TestFrames.Udp(2, 53), fromClient: true)).State);
    }

    [Fact]
    public void WhenEveryFlowIsAssuredTheNewFlowIsRefused()
    {
        var h = new TrackingHarness(capacity: 2);
        Assure(h, 1);
        Assure(h, 2);
        var refused = h.Send(Ip(17, TestFrames.Udp(3, 53), fromClient: true));
        Assert.Equal((CtState.Invalid, TrackDisposition.TableFull), (refused.State, refused.Disposition));
        Assert.Equal(1, h.Table.TableFullDrops);
        Assert.Equal(2, h.Table.Count);
        Assert.Equal(new ConntrackStatistics(Invalid: 0, Errors: 0, InsertFailed: 0, Drops: 1, EarlyDrops: 0, ClashResolves: 0), h.Table.Statistics);
    }

    [Theory]
    [InlineData(6, false)]  // TCP cannot share the connection that won: insert_failed and drop
    [InlineData(17, true)]  // the others join it: clash_resolve
    public void ASecondUnconfirmedConnectionOfOneTupleIsAClash(byte protocol, bool resolved)
    {
        var h = new TrackingHarness();
        byte[] first = protocol == 6 ? Tcp(fromClient: true, TcpSegment.Syn, seq: 1, ack: 0) : Udp(fromClient: true);
        var a = h.Table.Track(Parse(first), first, h.Now, h.Timeouts);
        var b = h.Table.Track(Parse(first), first, h.Now, h.Timeouts); // its verdict travelled between workers meanwhile
        Assert.True(h.Table.Confirm(a.Flow, h.Now));
        Assert.False(h.Table.Confirm(b.Flow, h.Now));
        Assert.Equal(1, h.Table.Count);
        Assert.Equal(resolved
            ? new ConntrackStatistics(Invalid: 0, Errors: 0, InsertFailed: 0, Drops: 0, EarlyDrops: 0, ClashResolves: 1)
            : new ConntrackStatistics(Invalid: 0, Errors: 0, InsertFailed: 1, Drops: 1, EarlyDrops: 0, ClashResolves: 0), h.Table.Statistics);
    }

    [Fact]
    public void AfterARefusalTheSweepEvictsClosingConnectionsFromNinetyFivePercent()
    {
        var h = new TrackingHarness(capacity: 100);
        for (ushort port = 1; port <= 100; port++)
            Handshake(h, port);
        h.Send(TcpOn(port: 50, fromClient: true, TcpSegment.Fin | TcpSegment.AckFlag, 1001, 5001)); // FIN_WAIT, still assured
        Assert.Equal(0, h.Table.Sweep(h.Now, budget: 100)); // nothing refused yet: only expiry counts

        Assert.Equal(TrackDisposition.TableFull, h.Send(TcpOn(port: 101, fromClient: true, TcpSegment.Syn, 1000, 0)).Disposition);
        Assert.Equal(1, h.Table.Sweep(h.Now, budget: 100));
        Assert.Equal(99, h.Table.Count);
        Assert.Equal(CtState.New, h.Send(TcpOn(port: 50, fromClient: true, TcpSegment.AckFlag, 1002, 5001)).State);
    }

    /// <summary>
    /// ct->timeout is 32 bits and nf_ct_is_expired compares it with jiffies as a signed difference, so a timeout of
    /// 2^31 jiffies or more (8589935 s at HZ = 250) has expired as soon as it is set: the kernel lists nothing and
    /// the reply opens a connection of its own. 17179870 s wraps to 204 jiffies (it reads back as 0 s).
    /// </summary>
    [Theory]
    [InlineData(8589934u, 2147483500ul)]
    [InlineData(8589935u, 0ul)]
    [InlineData(10000000u, 0ul)]
    [InlineData(17179869u, 0ul)]
    [InlineData(17179870u, 204ul)]
    public void ATimeoutOf2To31JiffiesOrMoreHasExpiredWhenItIsSet(uint seconds, ulong remainingJiffies)
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("long", 2, 17, new Dictionary<int, uint> { [0] = seconds }));
        registry.Get("long", out var policy);
        var h = new TrackingHarness(timeouts: registry.Current, policyId: policy!.Id);
        var query = h.Send(Udp(true));
        Assert.Equal(CtState.New, query.State);
        var listed = new List<FlowView>();
        h.Table.Snapshot(h.Now, h.Timeouts, listed);
        Assert.Equal(remainingJiffies == 0 ? 0 : 1, listed.Count);
        if (remainingJiffies != 0)
            Assert.Equal(remainingJiffies, h.Remaining(query.Flow));

        h.Now += 1;
        var answer = h.Send(Udp(false));
        Assert.Equal(remainingJiffies == 0 ? (CtState.New, FlowDirection.Original) : (CtState.Established, FlowDirection.Reply), (answer.State, answer.Direction));
    }

    /// <summary>The same on a refresh: an ESTABLISHED of 2^31 jiffies or more ends the connection at the ACK that enters it.</summary>
    [Fact]
    public void ARefreshTo2To31JiffiesOrMoreEndsTheConnection()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("long", 2, 6, new Dictionary<int, uint> { [TimeoutProtocols.Tcp.StateIndex("ESTABLISHED")] = 10_000_000 }));
        registry.Get("long", out var policy);
        var h = new TrackingHarness(timeouts: registry.Current, policyId: policy!.Id);
        int flow = h.Send(TcpOn(port: 7, fromClient: true, TcpSegment.Syn, 1000, 0)).Flow;
        h.Send(TcpOn(port: 7, fromClient: false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001));
        Assert.Equal(Seconds(60), h.Remaining(flow)); // SYN_RECV's default
        Assert.Equal(CtState.Established, h.Send(TcpOn(port: 7, fromClient: true, TcpSegment.AckFlag, 1001, 5001)).State);
        Assert.Equal(0ul, h.Remaining(flow));

        h.Now += 1;
        var next = h.Send(TcpOn(port: 7, fromClient: true, TcpSegment.AckFlag, 1001, 5001));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (next.State, next.Disposition)); // picked up mid-stream
    }

    /// <summary>
    /// nf_conntrack_timestamp: a connection created while it is on keeps its start whatever later packets or a later
    /// switch-off do, one created while it is off never gets one (the kernel's tstamp extension is added at creation).
    /// </summary>
    [Fact]
    public void OnlyConnectionsCreatedWhileTimestampsAreOnHaveAStart()
    {
        var h = new TrackingHarness();
        h.Send(Udp(true));
        h.Table.Timestamps = true;
        h.Now += 10;
        h.Send(TcpOn(port: 7, fromClient: true, TcpSegment.Syn, 1000, 0));
        h.Send(Udp(false));
        h.Now += 3 * Jiffies.Hz;
        h.Table.Timestamps = false;
        h.Send(TcpOn(port: 7, fromClient: false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001));
        var listed = new List<FlowView>();
        h.Table.Snapshot(h.Now, h.Timeouts, listed);
        Assert.Equal(2, listed.Count);
        Assert.Equal([null, 3ul * Jiffies.Hz], listed.OrderBy(v => v.Protocol == 6).Select(v => v.StartedJiffiesAgo));
    }

    private static void Handshake(TrackingHarness h, ushort port)
    {
        int flow = h.Send(TcpOn(port, fromClient: true, TcpSegment.Syn, 1000, 0)).Flow;
        h.Send(TcpOn(port, fromClient: false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001));
        h.Send(TcpOn(port, fromClient: true, TcpSegment.AckFlag, 1001, 5001));
        Assert.True(h.Table[flow].IsAssured);
    }

    private static byte[] TcpOn(ushort port, bool fromClient, byte flags, uint seq, uint ack)
    {
        byte[] tcp = TestFrames.Tcp(fromClient ? port : (ushort)80, fromClient ? (ushort)80 : port, flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), seq);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), ack);
        return Ip(6, tcp, fromClient);
    }

    [Fact]
    public void TrackingAllocatesNothingAfterWarmUp()
    {
        var h = new TrackingHarness(capacity: 1024);
        var frames = new List<byte[]>();
        for (ushort port = 1; port <= 64; port++)
        {
            frames.Add(Ip(17, TestFrames.Udp(port, 53), fromClient: true));
            frames.Add(Ip(17, TestFrames.Udp(53, port), fromClient: false));
        }
        frames.Add(Tcp(true, TcpSegment.Syn, 1000, 0));
        frames.Add(Tcp(false, TcpSegment.Syn | TcpSegment.AckFlag, 5000, 1001));
        frames.Add(Tcp(true, TcpSegment.AckFlag, 1001, 5001));
        frames.Add(Sctp(true, 0, TestFrames.SctpInit(SctpTracker.Init, 1)));
        frames.Add(Sctp(false, 1, TestFrames.SctpInit(SctpTracker.InitAck, 2)));
        frames.Add(Sctp(true, 2, TestFrames.SctpChunk(SctpTracker.CookieEcho), TestFrames.SctpChunk(SctpTracker.Data)));
        frames.Add(Ip(GreTracker.Protocol, TestFrames.PptpGre(7), fromClient: true));
        frames.Add(Ip(GreTracker.Protocol, TestFrames.Gre(), fromClient: false));
        var packets = frames.Select(Parse).ToArray();

        void Round()
        {
            for (int i = 0; i < frames.Count; i++)
            {
                var result = h.Table.Track(packets[i], frames[i], h.Now, h.Timeouts);
                if (result.Disposition == TrackDisposition.Unconfirmed)
                    h.Table.Confirm(result.Flow, h.Now);
            }
            h.Now += Seconds(200); // everything expires: the next round inserts again
            h.Table.Sweep(h.Now, 1024);
        }

        Round();
        Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
            Round();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // A UDP flow from source port `port` with a reply and a packet after the stream delay: ASSURED.
    private static int Assure(TrackingHarness h, ushort port)
    {
        int flow = h.Send(Ip(17, TestFrames.Udp(port, 53), fromClient: true)).Flow;
        h.Send(Ip(17, TestFrames.Udp(53, port), fromClient: false));
        h.Now += UdpTracker.StreamDelayJiffies + 1;
        h.Send(Ip(17, TestFrames.Udp(port, 53), fromClient: true));
        Assert.True(h.Table[flow].IsAssured);
        return flow;
    }
}
