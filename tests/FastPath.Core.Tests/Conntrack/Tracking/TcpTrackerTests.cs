// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>The TCP tracker against nf_conntrack_proto_tcp.c of Linux 6.x: its state table, flag rules, timeouts and pickup.</summary>
public class TcpTrackerTests
{
    private const byte F = TcpSegment.Fin, S = TcpSegment.Syn, R = TcpSegment.Rst, P = TcpSegment.Psh, A = TcpSegment.AckFlag, U = TcpSegment.Urg;
    private const byte IV = TcpTracker.InvalidTransition, IG = TcpTracker.IgnoredTransition;
    private const uint ClientIsn = 1000, ServerIsn = 5000;

    [Theory]
    [InlineData(S, TcpFlagIndex.Syn)]
    [InlineData(S | A, TcpFlagIndex.SynAck)]
    [InlineData(F | A, TcpFlagIndex.Fin)]
    [InlineData(A | P, TcpFlagIndex.Ack)]
    [InlineData(R | A, TcpFlagIndex.Rst)]
    [InlineData(R | S | F, TcpFlagIndex.Rst)]
    [InlineData(0, TcpFlagIndex.None)]
    [InlineData(U, TcpFlagIndex.None)]
    public void TheFlagsSelectTheKernelsRow(byte flags, TcpFlagIndex expected) => Assert.Equal(expected, TcpTracker.IndexOf(flags));

    [Theory]
    [InlineData(S, true)]
    [InlineData(S | U, true)]
    [InlineData(S | A, true)]
    [InlineData(R, true)]
    [InlineData(R | A, true)]
    [InlineData(F | A, true)]
    [InlineData(F | A | U | P | 0x40 | 0x80, true)]
    [InlineData(A, true)]
    [InlineData(A | U, true)]
    [InlineData(0, false)]
    [InlineData(F, false)]
    [InlineData(S | F, false)]
    [InlineData(S | R, false)]
    [InlineData(F | R | A, false)]
    [InlineData(F | S | R | P | A | U, false)]
    public void OnlyTheKernelsFlagCombinationsAreValid(byte flags, bool valid)
        => Assert.Equal(valid, TcpTracker.IsValidFlagCombination(flags));

    // Rows of tcp_conntracks, one per (direction, flags); columns sNO sSS sSR sES sFW sCW sLA sTW sCL sS2.
    [Theory]
    [InlineData(FlowDirection.Original, TcpFlagIndex.Syn, new byte[] { 1, 1, IG, IG, IG, IG, IG, 1, 1, 9 })]
    [InlineData(FlowDirection.Original, TcpFlagIndex.SynAck, new byte[] { IV, IV, 2, IV, IV, IV, IV, IV, IV, 2 })]
    [InlineData(FlowDirection.Original, TcpFlagIndex.Fin, new byte[] { IV, IV, 4, 4, 6, 6, 6, 7, 8, IV })]
    [InlineData(FlowDirection.Original, TcpFlagIndex.Ack, new byte[] { 3, IV, 3, 3, 5, 5, 7, 7, 8, IV })]
    [InlineData(FlowDirection.Original, TcpFlagIndex.Rst, new byte[] { IV, 8, 8, 8, 8, 8, 8, 8, 8, 8 })]
    [InlineData(FlowDirection.Original, TcpFlagIndex.None, new byte[] { IV, IV, IV, IV, IV, IV, IV, IV, IV, IV })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.Syn, new byte[] { IV, 9, IV, IV, IV, IV, IV, 1, IV, 9 })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.SynAck, new byte[] { IV, 2, IG, IG, IG, IG, IG, IG, IG, 2 })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.Fin, new byte[] { IV, IV, 4, 4, 6, 6, 6, 7, 8, IV })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.Ack, new byte[] { IV, IG, 2, 3, 5, 5, 7, 7, 8, IG })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.Rst, new byte[] { IV, 8, 8, 8, 8, 8, 8, 8, 8, 8 })]
    [InlineData(FlowDirection.Reply, TcpFlagIndex.None, new byte[] { IV, IV, IV, IV, IV, IV, IV, IV, IV, IV })]
    public void TheStateTableIsTheKernels(FlowDirection dir, TcpFlagIndex index, byte[] row)
    {
        for (int state = 0; state < 10; state++)
            Assert.Equal(row[state], TcpTracker.Transition(dir, index, (TcpState)state));
    }

    [Fact]
    public void AHandshakeEstablishesAndAssuresTheConnectionWithEachStatesTimeout()
    {
        var h = new TrackingHarness();
        var syn = h.Send(Tcp(true, S, ClientIsn, 0));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (syn.State, syn.Disposition));
        Assert.Equal(TcpState.SynSent, h.Table[syn.Flow].Tcp.State);
        Assert.Equal(Seconds(120), h.Remaining(syn.Flow));

        var synAck = h.Send(Tcp(false, S | A, ServerIsn, ClientIsn + 1));
        Assert.Equal((CtState.Established, FlowDirection.Reply, syn.Flow), (synAck.State, synAck.Direction, synAck.Flow));
        Assert.Equal(TcpState.SynRecv, h.Table[syn.Flow].Tcp.State);
        Assert.Equal(Seconds(60), h.Remaining(syn.Flow));

        var ack = h.Send(Tcp(true, A, ClientIsn + 1, ServerIsn + 1));
        Assert.Equal(CtState.Established, ack.State);
        Assert.Equal(TcpState.Established, h.Table[syn.Flow].Tcp.State);
        Assert.True(h.Table[syn.Flow].IsAssured);
        Assert.Equal(Seconds(432000), h.Remaining(syn.Flow));
        Assert.Equal((2ul, 1ul), (h.Table[syn.Flow].OriginalPackets, h.Table[syn.Flow].ReplyPackets));
        Assert.Equal(40ul + 40, h.Table[syn.Flow].OriginalBytes);
    }

    [Fact]
    public void SimultaneousOpenGoesThroughSynSent2()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        h.Send(Tcp(false, S, ServerIsn, 0));
        Assert.Equal(TcpState.SynSent2, h.Table[flow].Tcp.State);
        Assert.Equal(Seconds(120), h.Remaining(flow));
        h.Send(Tcp(true, S | A, ClientIsn, ServerIsn + 1));
        Assert.Equal(TcpState.SynRecv, h.Table[flow].Tcp.State);
        // The reply's ACK would stay in SYN_RECV by the table; the simultaneous-open flag makes it ESTABLISHED.
        h.Send(Tcp(false, A, ServerIsn + 1, ClientIsn + 1));
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
    }

    [Fact]
    public void FinAndAckTeardownEndsInTimeWait()
    {
        var h = Established(out int flow);
        var steps = new (bool FromClient, byte Flags, uint Seq, uint Ack, TcpState State, uint Seconds)[]
        {
            (true, F | A, ClientIsn + 1, ServerIsn + 1, TcpState.FinWait, 120),
            (false, A, ServerIsn + 1, ClientIsn + 2, TcpState.CloseWait, 60),
            (false, F | A, ServerIsn + 1, ClientIsn + 2, TcpState.LastAck, 30),
            (true, A, ClientIsn + 2, ServerIsn + 2, TcpState.TimeWait, 120),
        };
        foreach (var step in steps)
        {
            var result = h.Send(Tcp(step.FromClient, step.Flags, step.Seq, step.Ack));
            Assert.Equal(CtState.Established, result.State);
            Assert.Equal(step.State, h.Table[flow].Tcp.State);
            Assert.Equal(Seconds(step.Seconds), h.Remaining(flow));
        }
        Assert.Equal(TcpPeer.CloseInit, h.Table[flow].Tcp.Original.Flags & TcpPeer.CloseInit);
    }

    [Fact]
    public void ASynInTimeWaitAfterACloseReopensTheConnectionAsNew()
    {
        var h = Established(out int flow);
        h.Send(Tcp(true, F | A, ClientIsn + 1, ServerIsn + 1));
        h.Send(Tcp(false, F | A, ServerIsn + 1, ClientIsn + 2));
        h.Send(Tcp(true, A, ClientIsn + 2, ServerIsn + 2));
        Assert.Equal(TcpState.TimeWait, h.Table[flow].Tcp.State);

        var reopened = h.Send(Tcp(true, S, 90000, 0));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (reopened.State, reopened.Disposition));
        Assert.Equal(TcpState.SynSent, h.Table[reopened.Flow].Tcp.State);
        Assert.Equal(1, h.Table.Count);
    }

    public static TheoryData<int> StatesBeforeRst => new() { 1, 2, 3, 4, 5, 6, 7 };

    [Theory]
    [MemberData(nameof(StatesBeforeRst))]
    public void ARstInEveryStateClosesWithTheCloseTimeout(int packetsBeforeRst)
    {
        var script = new (bool FromClient, byte Flags, uint Seq, uint Ack)[]
        {
            (true, S, ClientIsn, 0),
            (false, S | A, ServerIsn, ClientIsn + 1),
            (true, A, ClientIsn + 1, ServerIsn + 1),
            (true, F | A, ClientIsn + 1, ServerIsn + 1),
            (false, A, ServerIsn + 1, ClientIsn + 2),
            (false, F | A, ServerIsn + 1, ClientIsn + 2),
            (true, A, ClientIsn + 2, ServerIsn + 2),
        };
        var h = new TrackingHarness();
        int flow = FastPath.Core.Conntrack.Tracking.FlowTable.NoFlow;
        for (int i = 0; i < packetsBeforeRst; i++)
        {
            var r = h.Send(Tcp(script[i].FromClient, script[i].Flags, script[i].Seq, script[i].Ack));
            if (i == 0)
                flow = r.Flow;
        }
        TcpState before = h.Table[flow].Tcp.State;
        if (packetsBeforeRst == 1)
        {
            // No reply seen yet: an accepted RST deletes the connection at once. (A RST|ACK would be invalid here:
            // it acknowledges data the server never sent.)
            var abort = h.Send(Tcp(true, R, ClientIsn + 1, 0));
            Assert.Equal((CtState.New, TrackDisposition.Killed), (abort.State, abort.Disposition));
            Assert.Equal(0, h.Table.Count);
            return;
        }

        uint rstSeq = packetsBeforeRst >= 4 ? ClientIsn + 2 : ClientIsn + 1;
        uint rstAck = packetsBeforeRst >= 6 ? ServerIsn + 2 : ServerIsn + 1;
        var rst = h.Send(Tcp(true, R | A, rstSeq, rstAck));
        Assert.Equal(CtState.Established, rst.State);
        Assert.NotEqual(TcpState.Close, before);
        Assert.Equal(TcpState.Close, h.Table[flow].Tcp.State);
        Assert.Equal(Seconds(10), h.Remaining(flow));
    }

    [Fact]
    public void ARstAsTheOnlyReplyDeletesTheConnection()
    {
        var h = new TrackingHarness();
        h.Send(Tcp(true, S, ClientIsn, 0));
        h.Now += Seconds(1);
        var rst = h.Send(Tcp(false, R | A, 0, ClientIsn + 1));
        // The packet keeps the connection it ended: SEEN_REPLY, and SYN_SENT's 120 s less the second gone.
        Assert.Equal((CtState.Established, FlowDirection.Reply, TrackDisposition.Killed), (rst.State, rst.Direction, rst.Disposition));
        Assert.Equal(0, h.Table.Count);
        Assert.Equal((FlowStatus.SeenReply, 119L), (h.Table.KilledStatus, h.Table.KilledSecondsLeft));
    }

    [Fact]
    public void AMidStreamAckIsPickedUpWithTheUnacknowledgedTimeoutUntilItIsAnswered()
    {
        var h = new TrackingHarness();
        var first = h.Send(Tcp(true, A, 70000, 9000, dataLength: 10));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (first.State, first.Disposition));
        Assert.Equal(TcpState.Established, h.Table[first.Flow].Tcp.State);
        Assert.Equal(Seconds(300), h.Remaining(first.Flow));
        Assert.False(h.Table[first.Flow].IsAssured);

        h.Send(Tcp(false, A, 9000, 70010));
        Assert.False(h.Table[first.Flow].IsAssured);
        h.Send(Tcp(true, A, 70010, 9000));
        Assert.True(h.Table[first.Flow].IsAssured);
        Assert.Equal(Seconds(432000), h.Remaining(first.Flow));
    }

    [Theory]
    [InlineData(S | A)]
    [InlineData(R)]
    [InlineData(F | A)]
    [InlineData(S | F)]
    [InlineData(0)]
    public void APacketThatCannotOpenAConnectionIsInvalidAndLeavesNothing(byte flags)
    {
        var h = new TrackingHarness();
        var result = h.Send(Tcp(true, flags, ClientIsn, 1));
        Assert.Equal((CtState.Invalid, TrackDisposition.NoFlow), (result.State, result.Disposition));
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void AnInvalidTransitionIsInvalidAndLeavesTheConnectionAlone()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        h.Now += 250;
        var fin = h.Send(Tcp(true, F | A, ClientIsn + 1, 0));
        Assert.Equal(CtState.Invalid, fin.State);
        Assert.Equal(TcpState.SynSent, h.Table[flow].Tcp.State);
        Assert.Equal(Seconds(120) - 250, h.Remaining(flow));
    }

    [Fact]
    public void ARetransmittedSynDoesNotRenewTheTimer()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        h.Now += 1000;
        var again = h.Send(Tcp(true, S, ClientIsn, 0));
        Assert.Equal((CtState.New, flow), (again.State, again.Flow));
        Assert.Equal(Seconds(120) - 1000, h.Remaining(flow));
    }

    [Fact]
    public void UnacknowledgedDataShortensTheTimeoutUntilItIsAcknowledged()
    {
        var h = Established(out int flow);
        h.Send(Tcp(true, A | P, ClientIsn + 1, ServerIsn + 1, dataLength: 100));
        Assert.Equal(Seconds(300), h.Remaining(flow));
        h.Send(Tcp(false, A, ServerIsn + 1, ClientIsn + 101));
        Assert.Equal(Seconds(432000), h.Remaining(flow));
    }

    [Fact]
    public void TheSameAckSegmentRetransmittedPastTheLimitGetsTheRetransTimeoutOfThePolicy()
    {
        var h = EstablishedOnShortRetrans(out int flow);
        Assert.Equal(Seconds(1000), h.Remaining(flow));

        byte[] data = Tcp(true, A | P, ClientIsn + 1, ServerIsn + 1, dataLength: 100);
        h.Send(data);
        Assert.Equal(Seconds(200), h.Remaining(flow));
        for (int retransmission = 1; retransmission <= TcpSettings.Kernel.MaxRetransmissions; retransmission++)
        {
            h.Send(data);
            Assert.Equal(retransmission, h.Table[flow].Tcp.Retransmissions);
            Assert.Equal(retransmission < TcpSettings.Kernel.MaxRetransmissions ? Seconds(200) : Seconds(50), h.Remaining(flow));
        }
    }

    [Fact]
    public void ASegmentFarBeyondTheWindowIsInvalid()
    {
        var h = Established(out int flow);
        var result = h.Send(Tcp(true, A, ClientIsn + 10_000_000, ServerIsn + 1));
        Assert.Equal(CtState.Invalid, result.State);
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
    }

    [Fact]
    public void WithBeLiberalASegmentFarBeyondTheWindowIsAccepted()
    {
        var h = Established(out int flow);
        h.Table.TcpSettings = TcpSettings.Kernel with { BeLiberal = true };
        h.Now += 1000;
        var result = h.Send(Tcp(true, A, ClientIsn + 10_000_000, ServerIsn + 1));
        Assert.Equal(CtState.Established, result.State);
        Assert.Equal(Seconds(432000), h.Remaining(flow)); // accepted and refreshed, the window left as it was (nf_tcp_log_invalid)
        Assert.Equal(ClientIsn + 1, h.Table[flow].Tcp.Original.End);
    }

    [Fact]
    public void WithoutLooseOnlyASynOpensAConnection()
    {
        var h = new TrackingHarness();
        h.Table.TcpSettings = TcpSettings.Kernel with { Loose = false };
        Assert.Equal(CtState.Invalid, h.Send(Tcp(true, A, 70000, 9000, dataLength: 10)).State);
        Assert.Equal(0, h.Table.Count);
        Assert.Equal(CtState.New, h.Send(Tcp(true, S, ClientIsn, 0)).State);
    }

    [Theory]
    [InlineData(false, CtState.Invalid)]
    [InlineData(true, CtState.Established)]
    public void IgnoreInvalidRstLetsARstBelowTheAcknowledgedSequenceThrough(bool ignore, CtState expected)
    {
        var h = Established(out int flow);
        h.Send(Tcp(true, A | P, ClientIsn + 1, ServerIsn + 1, dataLength: 100));
        h.Send(Tcp(false, A, ServerIsn + 1, ClientIsn + 101)); // the server acknowledged up to ClientIsn + 101
        h.Table.TcpSettings = TcpSettings.Kernel with { IgnoreInvalidRst = ignore };
        Assert.Equal(expected, h.Send(Tcp(true, R, ClientIsn + 50, 0)).State);
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State); // an inexact RST keeps the state for a challenge ACK
    }

    [Fact]
    public void MaxRetransSetsHowManyIdenticalAcksTakeTheRetransTimeout()
    {
        var h = EstablishedOnShortRetrans(out int flow);
        h.Table.TcpSettings = TcpSettings.Kernel with { MaxRetransmissions = 1 };
        byte[] data = Tcp(true, A | P, ClientIsn + 1, ServerIsn + 1, dataLength: 100);
        h.Send(data);
        Assert.Equal(Seconds(200), h.Remaining(flow)); // UNACKNOWLEDGED
        h.Send(data);
        Assert.Equal(Seconds(50), h.Remaining(flow));  // RETRANS after one retransmission, not three
    }

    [Fact]
    public void OutOfWindowFinsFromBothSidesShortenAnAssuredConnectionToTheUnacknowledgedTimeout()
    {
        var h = Established(out int flow);
        Assert.Equal(CtState.Invalid, h.Send(Tcp(true, F | A, ClientIsn + 10_000_000, ServerIsn + 1)).State);
        Assert.Equal(Seconds(432000), h.Remaining(flow));
        Assert.Equal(CtState.Invalid, h.Send(Tcp(false, F | A, ServerIsn + 10_000_000, ClientIsn + 1)).State);
        Assert.Equal(Seconds(300), h.Remaining(flow));
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
    }

    [Fact]
    public void ASynAckAnsweringAnIgnoredSynResynchronisesTheConnection()
    {
        var h = Established(out int flow);
        // The client restarted: its new SYN is ignored in ESTABLISHED, and the server's SYN/ACK to it resyncs.
        var syn = h.Send(Tcp(true, S, 777_000, 0));
        Assert.Equal(CtState.Established, syn.State);
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
        h.Send(Tcp(false, S | A, 888_000, 777_001));
        Assert.Equal(TcpState.SynRecv, h.Table[flow].Tcp.State);
        h.Send(Tcp(true, A, 777_001, 888_001));
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
    }

    // Linux 6.18, checked live (differential seed 11): a RST skips the window check as the answer to a SYN we let
    // through only when it comes from the other side; from the SYN's own sender it is window-checked.
    [Fact]
    public void ARstFromTheSideOfTheSynWeLetThroughIsWindowCheckedInSynSent()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        Assert.Equal(CtState.Invalid, h.Send(Tcp(true, P | A, ClientIsn + 1, 500_000, dataLength: 56)).State);
        h.Send(Tcp(false, A, 500_000, ClientIsn + 57));             // ignored in SYN_SENT: last_end 500000
        h.Send(Tcp(true, S, ClientIsn + 1, 0));                     // a new SYN: last_index SYN, from the client

        var rst = h.Send(Tcp(true, R | A, ClientIsn + 57, 500_000)); // acks last_end, but from the SYN's sender
        Assert.Equal(CtState.Invalid, rst.State);
        Assert.Equal(TcpState.SynSent, h.Table[flow].Tcp.State);
    }

    [Fact]
    public void ARstFromTheOtherSideAnsweringTheSynWeLetThroughClosesInSynSent()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        h.Send(Tcp(false, A, 500_000, ClientIsn + 57));
        h.Send(Tcp(true, S, ClientIsn + 1, 0));

        var rst = h.Send(Tcp(false, R | A, 777, 500_000));          // out of window, but acks last_end from the other side
        Assert.Equal(CtState.Established, rst.State);
        Assert.Equal(TcpState.Close, h.Table[flow].Tcp.State);
    }

    [Theory]
    [InlineData(true, CtState.Invalid, TcpState.Established)]
    [InlineData(false, CtState.Established, TcpState.Close)]
    public void OnlyTheServersRstAnsweringAnIgnoredSynSkipsTheWindowCheck(bool fromClient, CtState verdict, TcpState after)
    {
        var h = Established(out int flow);
        h.Send(Tcp(true, S, 90_000, 0));                             // ignored in ESTABLISHED: last_end 90001
        var rst = h.Send(Tcp(fromClient, R | A, 5_000_000, 90_001));
        Assert.Equal(verdict, rst.State);
        Assert.Equal(after, h.Table[flow].Tcp.State);
    }

    // An established connection on a policy whose RETRANS (50 s), UNACKNOWLEDGED (200 s) and ESTABLISHED (1000 s) differ.
    private static TrackingHarness EstablishedOnShortRetrans(out int flow)
    {
        var registry = new TimeoutPolicyRegistry();
        var tcp = TimeoutProtocols.Tcp;
        Assert.Equal(FastPath.Core.Errno.None, registry.Create("short", 2, 6, new Dictionary<int, uint>
        {
            [tcp.StateIndex("RETRANS")] = 50,
            [tcp.StateIndex("UNACKNOWLEDGED")] = 200,
            [tcp.StateIndex("ESTABLISHED")] = 1000,
        }));
        registry.Get("short", out var policy);
        return Established(out flow, registry.Current, policy!.Id);
    }

    private static TrackingHarness Established(out int flow, TimeoutPolicySnapshot? timeouts = null, int policyId = 0)
    {
        var h = new TrackingHarness(timeouts: timeouts, policyId: policyId);
        flow = h.Send(Tcp(true, S, ClientIsn, 0)).Flow;
        h.Send(Tcp(false, S | A, ServerIsn, ClientIsn + 1));
        h.Send(Tcp(true, A, ClientIsn + 1, ServerIsn + 1));
        Assert.Equal(TcpState.Established, h.Table[flow].Tcp.State);
        return h;
    }
}
