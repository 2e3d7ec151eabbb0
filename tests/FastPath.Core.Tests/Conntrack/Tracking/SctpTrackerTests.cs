// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Testing;
using Xunit;
using static FastPath.Core.Conntrack.Tracking.SctpTracker;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>The SCTP tracker of Linux 6.x (nf_conntrack_proto_sctp.c), driven through the flow table.</summary>
public class SctpTrackerTests
{
    // The initiate tags: the client's is carried by every packet towards the client, the server's by every packet towards the server.
    private const uint ClientTag = 0xC1C1_C1C1;
    private const uint ServerTag = 0x5E5E_5E5E;

    private const byte NO = 0, CL = 1, CW = 2, CE = 3, ES = 4, SS = 5, SR = 6, SA = 7, HS = 8, IV = InvalidTransition;

    // sctp_conntracks, read again from the kernel source; columns NONE, CLOSED, COOKIE_WAIT, COOKIE_ECHOED,
    // ESTABLISHED, SHUTDOWN_SENT, SHUTDOWN_RECD, SHUTDOWN_ACK_SENT, HEARTBEAT_SENT.
    [Theory]
    [InlineData(FlowDirection.Original, Init, new byte[] { CL, CL, CW, CE, ES, CL, CL, SA, CW })]
    [InlineData(FlowDirection.Original, InitAck, new byte[] { CL, CL, CW, CE, ES, SS, SR, SA, CL })]
    [InlineData(FlowDirection.Original, Abort, new byte[] { CL, CL, CL, CL, CL, CL, CL, CL, CL })]
    [InlineData(FlowDirection.Original, Shutdown, new byte[] { CL, CL, CW, CE, SS, SS, SR, SA, CL })]
    [InlineData(FlowDirection.Original, ShutdownAck, new byte[] { SA, CL, CW, CE, ES, SA, SA, SA, SA })]
    [InlineData(FlowDirection.Original, Error, new byte[] { CL, CL, CW, CE, ES, SS, SR, SA, CL })]
    [InlineData(FlowDirection.Original, CookieEcho, new byte[] { CL, CL, CE, CE, ES, SS, SR, SA, CL })]
    [InlineData(FlowDirection.Original, CookieAck, new byte[] { CL, CL, CW, ES, ES, SS, SR, SA, CL })]
    [InlineData(FlowDirection.Original, ShutdownComplete, new byte[] { CL, CL, CW, CE, ES, SS, SR, CL, CL })]
    [InlineData(FlowDirection.Original, Heartbeat, new byte[] { HS, CL, CW, CE, ES, SS, SR, SA, HS })]
    [InlineData(FlowDirection.Original, HeartbeatAck, new byte[] { CL, CL, CW, CE, ES, SS, SR, SA, HS })]
    [InlineData(FlowDirection.Reply, Init, new byte[] { IV, CL, CW, CE, ES, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, InitAck, new byte[] { IV, CW, CW, CE, ES, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, Abort, new byte[] { IV, CL, CL, CL, CL, CL, CL, CL, IV })]
    [InlineData(FlowDirection.Reply, Shutdown, new byte[] { IV, CL, CW, CE, SR, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, ShutdownAck, new byte[] { IV, CL, CW, CE, ES, SA, SA, SA, IV })]
    [InlineData(FlowDirection.Reply, Error, new byte[] { IV, CL, CW, CL, ES, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, CookieEcho, new byte[] { IV, CL, CE, CE, ES, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, CookieAck, new byte[] { IV, CL, CW, ES, ES, SS, SR, SA, IV })]
    [InlineData(FlowDirection.Reply, ShutdownComplete, new byte[] { IV, CL, CW, CE, ES, SS, SR, CL, IV })]
    [InlineData(FlowDirection.Reply, Heartbeat, new byte[] { IV, CL, CW, CE, ES, SS, SR, SA, HS })]
    [InlineData(FlowDirection.Reply, HeartbeatAck, new byte[] { IV, CL, CW, CE, ES, SS, SR, SA, ES })]
    public void EveryRowOfTheStateTableIsTheKernels(FlowDirection direction, byte chunkType, byte[] row)
    {
        for (int state = 0; state < row.Length; state++)
            Assert.Equal(row[state], Transition(direction, chunkType, (SctpState)state));
    }

    [Theory]
    [InlineData(Data)]
    [InlineData(Sack)]
    [InlineData(12)]  // ECNE
    [InlineData(64)]  // I-DATA
    [InlineData(192)] // FORWARD-TSN
    public void ChunksWithoutARowLeaveTheStateAlone(byte chunkType)
    {
        for (int state = 0; state <= HS; state++)
        {
            Assert.Equal(state, Transition(FlowDirection.Original, chunkType, (SctpState)state));
            Assert.Equal(state, Transition(FlowDirection.Reply, chunkType, (SctpState)state));
        }
    }

    private readonly record struct Step(bool FromClient, uint Tag, byte[] Chunk, CtState CtState, SctpState State, uint Seconds);

    [Fact]
    public void AnAssociationOpensAndShutsDownFromTheClientWithEachStatesTimeout()
    {
        Step[] steps =
        [
            new(true, 0, InitChunk(Init, ClientTag), CtState.New, SctpState.Closed, 10),
            new(false, ClientTag, InitChunk(InitAck, ServerTag), CtState.Established, SctpState.CookieWait, 3),
            new(true, ServerTag, Chunk(CookieEcho), CtState.Established, SctpState.CookieEchoed, 3),
            new(false, ClientTag, Chunk(CookieAck), CtState.Established, SctpState.Established, 210),
            new(true, ServerTag, Chunk(Data), CtState.Established, SctpState.Established, 210),
            new(false, ClientTag, Chunk(Sack), CtState.Established, SctpState.Established, 210),
            new(true, ServerTag, Chunk(Shutdown), CtState.Established, SctpState.ShutdownSent, 3),
            new(false, ClientTag, Chunk(ShutdownAck), CtState.Established, SctpState.ShutdownAckSent, 3),
            new(true, ServerTag, Chunk(ShutdownComplete), CtState.Established, SctpState.Closed, 10),
        ];
        var h = new TrackingHarness();
        int flow = Drive(h, steps);
        Assert.True(h.Table[flow].IsAssured);
        Assert.Equal((ServerTag, ClientTag), (h.Table[flow].Sctp.OriginalTag, h.Table[flow].Sctp.ReplyTag));
    }

    [Fact]
    public void AShutdownFromTheServerPassesThroughShutdownReceived()
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        Step[] steps =
        [
            new(false, ClientTag, Chunk(Shutdown), CtState.Established, SctpState.ShutdownReceived, 3),
            new(true, ServerTag, Chunk(ShutdownAck), CtState.Established, SctpState.ShutdownAckSent, 3),
            new(false, ClientTag, Chunk(ShutdownComplete), CtState.Established, SctpState.Closed, 10),
        ];
        Assert.Equal(flow, Drive(h, steps));
    }

    [Fact]
    public void OnlyTheCookieAckMakesTheAssociationAssured()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag)));
        h.Send(Sctp(true, ServerTag, Chunk(CookieEcho)));
        Assert.False(h.Table[flow].IsAssured); // a reply was seen, but SCTP does not go by SEEN_REPLY
        h.Send(Sctp(false, ClientTag, Chunk(CookieAck)));
        Assert.True(h.Table[flow].IsAssured);
    }

    // sctp_new and the checks before it: the first chunk, and the tag it must carry.
    [Theory]
    [InlineData(Init, 0u, SctpState.Closed, 10u)]
    [InlineData(InitAck, 0u, SctpState.Closed, 10u)]
    [InlineData(Shutdown, 0u, SctpState.Closed, 10u)]
    [InlineData(Error, 0u, SctpState.Closed, 10u)]
    [InlineData(CookieEcho, 0u, SctpState.Closed, 10u)]
    [InlineData(Heartbeat, 7u, SctpState.HeartbeatSent, 30u)]     // its tag becomes the original direction's
    [InlineData(HeartbeatAck, 7u, SctpState.Closed, 10u)]
    [InlineData(ShutdownAck, 7u, SctpState.ShutdownAckSent, 3u)]  // OOTB: its tag becomes the reply direction's
    public void TheseFirstChunksOpenAnAssociation(byte type, uint tag, SctpState state, uint seconds)
    {
        var h = new TrackingHarness();
        var first = h.Send(Sctp(true, tag, ChunkOf(type)));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (first.State, first.Disposition));
        Assert.Equal(state, h.Table[first.Flow].Sctp.State);
        Assert.Equal(Seconds(seconds), h.Remaining(first.Flow));
        Assert.False(h.Table[first.Flow].IsAssured);
    }

    [Theory]
    [InlineData(Init, 5u)]             // section 8.5.1 (A): an INIT carries tag 0
    [InlineData(InitAck, 5u)]          // the tag check against the new entry's tag, which is 0
    [InlineData(Shutdown, 5u)]
    [InlineData(CookieEcho, 5u)]       // (D): the tag must be the INIT ACK's, unknown here
    [InlineData(Abort, 0u)]            // section 8.4: an OOTB ABORT, SHUTDOWN COMPLETE or COOKIE ACK is discarded
    [InlineData(ShutdownComplete, 0u)]
    [InlineData(CookieAck, 0u)]
    [InlineData(Data, 0u)]             // sctp_new: a chunk without a row cannot open one
    [InlineData(Sack, 0u)]
    public void TheseFirstChunksAreInvalid(byte type, uint tag)
    {
        var h = new TrackingHarness();
        var first = h.Send(Sctp(true, tag, ChunkOf(type)));
        Assert.Equal((CtState.Invalid, TrackDisposition.NoFlow), (first.State, first.Disposition));
        Assert.Equal(0, h.Table.Count);
    }

    public static TheoryData<string, byte[]> MalformedPackets => new()
    {
        { "no chunk", Sctp(true, ServerTag) },
        { "shorter than the common header", Ip(Protocol, TestFrames.Cut(TestFrames.Sctp(ClientPort, ServerPort, ServerTag), 8), fromClient: true) },
        { "a chunk of length 0", Sctp(true, ServerTag, Chunk(Sack), [Data, 0, 0, 0]) },
        { "COOKIE ECHO not first", Sctp(true, ServerTag, Chunk(Data), Chunk(CookieEcho)) },
        { "COOKIE ACK not first", Sctp(true, ServerTag, Chunk(Sack), Chunk(CookieAck)) },
        { "INIT not alone", Sctp(true, 0, InitChunk(Init, ClientTag), Chunk(Data)) },
        { "INIT ACK not first", Sctp(true, ServerTag, Chunk(Data), InitChunk(InitAck, 9)) },
        { "SHUTDOWN COMPLETE not alone", Sctp(true, ServerTag, Chunk(ShutdownComplete), Chunk(Data)) },
    };

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public void AMalformedChunkListIsInvalidAndLeavesTheAssociationAlone(string defect, byte[] frame)
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        h.Now += 100;
        Assert.True(h.Send(frame).State == CtState.Invalid, defect);
        Assert.Equal(SctpState.Established, h.Table[flow].Sctp.State);
        Assert.Equal(Seconds(210) - 100, h.Remaining(flow));
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void AnInitWithoutItsWholeFixedPartIsInvalid()
    {
        var h = new TrackingHarness();
        byte[] init = TestFrames.Cut(InitChunk(Init, ClientTag), 16);
        init[3] = 16; // a chunk length that matches the cut
        Assert.Equal(CtState.Invalid, h.Send(Sctp(true, 0, init)).State);
        Assert.Equal(0, h.Table.Count);
    }

    [Theory]
    [InlineData(true, Data, ClientTag)]    // towards the server, with the tag that goes towards the client
    [InlineData(false, Sack, ServerTag)]
    [InlineData(true, Shutdown, 0u)]
    [InlineData(true, CookieEcho, ClientTag)] // (D)
    [InlineData(true, Init, ServerTag)]       // (A)
    public void AWrongVerificationTagIsInvalidAndDoesNotRefresh(bool fromClient, byte type, uint tag)
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        h.Now += 100;
        Assert.Equal(CtState.Invalid, h.Send(Sctp(fromClient, tag, ChunkOf(type))).State);
        Assert.Equal(SctpState.Established, h.Table[flow].Sctp.State);
        Assert.Equal(Seconds(210) - 100, h.Remaining(flow));
    }

    // (B) and (C): without the T bit the sender uses its own tag, with it the tag of the packets it receives.
    [Theory]
    [InlineData(Abort, true, 0, ServerTag, true)]
    [InlineData(Abort, true, TBit, ClientTag, true)]
    [InlineData(Abort, true, 0, ClientTag, false)]
    [InlineData(Abort, true, TBit, ServerTag, false)]
    [InlineData(Abort, false, 0, ClientTag, true)]
    [InlineData(Abort, false, TBit, ServerTag, true)]
    [InlineData(Abort, false, 0, ServerTag, false)]
    [InlineData(ShutdownComplete, true, 0, ServerTag, true)]
    [InlineData(ShutdownComplete, true, TBit, ClientTag, true)]
    [InlineData(ShutdownComplete, true, TBit, ServerTag, false)]
    [InlineData(ShutdownComplete, false, 0, ClientTag, true)]
    [InlineData(ShutdownComplete, false, 0, ServerTag, false)]
    public void AbortAndShutdownCompleteCarryTheTagTheTBitNames(byte type, bool fromClient, byte flags, uint tag, bool valid)
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        if (type == ShutdownComplete)
        {
            // SHUTDOWN COMPLETE closes only from SHUTDOWN_ACK_SENT: the other side sent the SHUTDOWN ACK.
            h.Send(Sctp(fromClient, fromClient ? ServerTag : ClientTag, Chunk(Shutdown)));
            h.Send(Sctp(!fromClient, fromClient ? ClientTag : ServerTag, Chunk(ShutdownAck)));
        }
        SctpState before = h.Table[flow].Sctp.State;

        var result = h.Send(Sctp(fromClient, tag, Chunk(type, flags)));
        Assert.Equal(valid ? CtState.Established : CtState.Invalid, result.State);
        Assert.Equal(valid ? SctpState.Closed : before, h.Table[flow].Sctp.State);
        if (valid)
            Assert.Equal(Seconds(10), h.Remaining(flow));
    }

    [Fact]
    public void ARetransmittedInitInClosedIsAcceptedWithoutRenewingTheTimer()
    {
        var h = new TrackingHarness();
        byte[] init = Sctp(true, 0, InitChunk(Init, ClientTag));
        int flow = h.Send(init).Flow;
        h.Now += Seconds(5);
        var again = h.Send(init);
        Assert.Equal((CtState.New, flow, TrackDisposition.Existing), (again.State, again.Flow, again.Disposition));
        Assert.Equal(Seconds(5), h.Remaining(flow));
        Assert.Equal(1ul, h.Table[flow].OriginalPackets); // not refreshed, so not counted either

        h.Now += Seconds(5);
        var fresh = h.Send(init); // the first one expired: a new association
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (fresh.State, fresh.Disposition));
        Assert.Equal(Seconds(10), h.Remaining(fresh.Flow));
    }

    [Fact]
    public void AnInitInsideAnEstablishedAssociationKeepsItAndTakesTheNewTag()
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        h.Now += 100;
        Assert.Equal(CtState.Established, h.Send(Sctp(true, 0, InitChunk(Init, 0xABCD))).State);
        Assert.Equal((SctpState.Established, 0xABCDu), (h.Table[flow].Sctp.State, h.Table[flow].Sctp.ReplyTag));
        Assert.Equal(Seconds(210), h.Remaining(flow));
        Assert.Equal(CtState.Invalid, h.Send(Sctp(false, ClientTag, Chunk(Sack))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(false, 0xABCD, Chunk(Sack))).State);
    }

    [Fact]
    public void DuringAnInitCollisionTheInitAckMustRepeatTheTagOfItsSidesInit()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        h.Now += 100;
        var serverInit = h.Send(Sctp(false, 0, InitChunk(Init, ServerTag)));
        Assert.Equal((CtState.Established, SctpState.Closed), (serverInit.State, h.Table[flow].Sctp.State));
        Assert.Equal(Seconds(10) - 100, h.Remaining(flow)); // INIT in CLOSED does not renew

        Assert.Equal(CtState.Invalid, h.Send(Sctp(false, ClientTag, InitChunk(InitAck, 0x1234))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag))).State);
        Assert.Equal(SctpState.CookieWait, h.Table[flow].Sctp.State);
    }

    // "netfilter: skip recording stale or retransmitted INIT" (2026): an INIT repeating the tag on record does not
    // count as that side's INIT, so a later INIT ACK with a new tag is not taken for a collision.
    [Fact]
    public void AStaleInitRepeatingTheRecordedTagIsNotACollision()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag)));
        Assert.Equal(CtState.Established, h.Send(Sctp(false, 0, InitChunk(Init, ServerTag))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(false, ClientTag, InitChunk(InitAck, 0x7777))).State);
        Assert.Equal((SctpState.CookieWait, 0x7777u), (h.Table[flow].Sctp.State, h.Table[flow].Sctp.OriginalTag));
    }

    [Fact]
    public void AHeartbeatOpensASecondaryPathThatItsAckEstablishes()
    {
        var h = new TrackingHarness();
        var heartbeat = h.Send(Sctp(true, 0x1111, Chunk(Heartbeat)));
        Assert.Equal(SctpState.HeartbeatSent, h.Table[heartbeat.Flow].Sctp.State);

        var ack = h.Send(Sctp(false, 0x2222, Chunk(HeartbeatAck)));
        Assert.Equal((CtState.Established, heartbeat.Flow), (ack.State, ack.Flow));
        ref readonly Flow flow = ref h.Table[heartbeat.Flow];
        Assert.Equal((SctpState.Established, 0x1111u, 0x2222u), (flow.Sctp.State, flow.Sctp.OriginalTag, flow.Sctp.ReplyTag));
        Assert.True(flow.IsAssured);
        Assert.Equal(Seconds(210), h.Remaining(heartbeat.Flow));
        Assert.Equal(CtState.Established, h.Send(Sctp(true, 0x1111, Chunk(Data))).State);
        Assert.Equal(CtState.Invalid, h.Send(Sctp(true, 0x2222, Chunk(Data))).State);
    }

    [Fact]
    public void AHeartbeatWithAnotherTagPassesUnrefreshedAndTheAckFromTheOtherSideAdoptsIt()
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        h.Now += 100;

        var heartbeat = h.Send(Sctp(true, 0xAAAA, Chunk(Heartbeat)));
        Assert.Equal((CtState.Established, TrackDisposition.Existing), (heartbeat.State, heartbeat.Disposition));
        Assert.Equal(Seconds(210) - 100, h.Remaining(flow));

        Assert.Equal(CtState.Established, h.Send(Sctp(false, 0xBBBB, Chunk(HeartbeatAck))).State);
        Assert.Equal(Seconds(210), h.Remaining(flow));
        Assert.Equal((0u, 0xBBBBu), (h.Table[flow].Sctp.OriginalTag, h.Table[flow].Sctp.ReplyTag));

        // The side whose tag was cleared learns it again from its next HEARTBEAT.
        Assert.Equal(CtState.Invalid, h.Send(Sctp(true, 0xAAAA, Chunk(Data))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(true, 0xAAAA, Chunk(Heartbeat))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(true, 0xAAAA, Chunk(Data))).State);
    }

    [Fact]
    public void AHeartbeatAckWithAnotherTagIsInvalidUnlessTheOtherSidesHeartbeatFailedTheCheck()
    {
        var h = new TrackingHarness();
        int flow = Establish(h);
        Assert.Equal(CtState.Invalid, h.Send(Sctp(false, 0xBBBB, Chunk(HeartbeatAck))).State);

        // A failed HEARTBEAT from the same side as the ACK does not count.
        h.Send(Sctp(false, 0xBBBB, Chunk(Heartbeat)));
        Assert.Equal(CtState.Invalid, h.Send(Sctp(false, 0xBBBB, Chunk(HeartbeatAck))).State);

        // With DATA in the packet a tag mismatch is never excused.
        Assert.Equal(CtState.Invalid, h.Send(Sctp(true, 0xAAAA, Chunk(Heartbeat), Chunk(Data))).State);
        Assert.Equal((ServerTag, ClientTag), (h.Table[flow].Sctp.OriginalTag, h.Table[flow].Sctp.ReplyTag));
    }

    [Fact]
    public void ChunksBundledAfterACookieEchoAreTracked()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag)));
        Assert.Equal(CtState.Established, h.Send(Sctp(true, ServerTag, Chunk(CookieEcho), Chunk(Data))).State);
        Assert.Equal(CtState.Established, h.Send(Sctp(false, ClientTag, Chunk(CookieAck), Chunk(Sack))).State);
        Assert.Equal(SctpState.Established, h.Table[flow].Sctp.State);
    }

    [Fact]
    public void APolicysTimeoutsReplaceTheDefaultsPerState()
    {
        var registry = new TimeoutPolicyRegistry();
        // Attribute order: CLOSED, COOKIE_WAIT, COOKIE_ECHOED, ESTABLISHED, ...
        Assert.Equal(Errno.None, registry.Create("sctp", 2, Protocol, new Dictionary<int, uint> { [0] = 4, [1] = 5, [3] = 100 }));
        registry.Get("sctp", out var policy);
        var h = new TrackingHarness(timeouts: registry.Current, policyId: policy!.Id);
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        Assert.Equal(Seconds(4), h.Remaining(flow));
        h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag)));
        Assert.Equal(Seconds(5), h.Remaining(flow));
        h.Send(Sctp(true, ServerTag, Chunk(CookieEcho)));
        Assert.Equal(Seconds(3), h.Remaining(flow)); // not in the policy: the default
        h.Send(Sctp(false, ClientTag, Chunk(CookieAck)));
        Assert.Equal(Seconds(100), h.Remaining(flow));
    }

    [Fact]
    public void AnExpiredAssociationIsNotRevivedByData()
    {
        var h = new TrackingHarness();
        Establish(h);
        h.Now += Seconds(210);
        Assert.Equal(CtState.Invalid, h.Send(Sctp(true, ServerTag, Chunk(Data))).State);
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void AnIcmpErrorAboutAnSctpAssociationIsRelated()
    {
        var h = new TrackingHarness();
        byte[] init = Sctp(true, 0, InitChunk(Init, ClientTag));
        int flow = h.Send(init).Flow;
        byte[] quoted = init.AsSpan(14, 28).ToArray(); // IP header and the first 8 bytes: ports and tag
        var error = h.Send(Ip(1, TestFrames.Concat(TestFrames.Icmp(3, 3), quoted), fromClient: false));
        Assert.Equal((CtState.Related, FlowDirection.Reply, flow), (error.State, error.Direction, error.Flow));
    }

    private static int Drive(TrackingHarness h, Step[] steps)
    {
        int flow = FlowTable.NoFlow;
        for (int i = 0; i < steps.Length; i++)
        {
            Step step = steps[i];
            h.Now += 10;
            var result = h.Send(Sctp(step.FromClient, step.Tag, step.Chunk));
            Assert.True(result.State == step.CtState, $"step {i}: {result.State}");
            flow = result.Flow;
            Assert.Equal((i, step.State), (i, h.Table[flow].Sctp.State));
            Assert.Equal((i, Seconds(step.Seconds)), (i, (uint)h.Remaining(flow)));
        }
        return flow;
    }

    private static int Establish(TrackingHarness h)
    {
        int flow = h.Send(Sctp(true, 0, InitChunk(Init, ClientTag))).Flow;
        h.Send(Sctp(false, ClientTag, InitChunk(InitAck, ServerTag)));
        h.Send(Sctp(true, ServerTag, Chunk(CookieEcho)));
        Assert.Equal(flow, h.Send(Sctp(false, ClientTag, Chunk(CookieAck))).Flow);
        Assert.Equal(SctpState.Established, h.Table[flow].Sctp.State);
        return flow;
    }

    private static byte[] InitChunk(byte type, uint initiateTag) => TestFrames.SctpInit(type, initiateTag);

    // DATA gets a TSN, stream and payload identifier; the tracker reads none of it.
    private static byte[] Chunk(byte type, byte flags = 0) => TestFrames.SctpChunk(type, flags, type == Data ? new byte[12] : null);

    private static byte[] ChunkOf(byte type) => type is Init or InitAck ? InitChunk(type, ClientTag) : Chunk(type);
}
