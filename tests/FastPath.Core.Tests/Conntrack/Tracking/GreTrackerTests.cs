// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Testing;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>The GRE tracker of Linux 6.x (nf_conntrack_proto_gre.c) without the PPTP helper, driven through the flow table.</summary>
public class GreTrackerTests
{
    private const ushort ClientCallId = 0x0C11;
    private const ushort ServerCallId = 0x5E11;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Version0IsKeyedOnAddressesAndBecomesAStreamAfterAReply(bool clientFirst)
    {
        var h = new TrackingHarness();
        var first = h.Send(Gre(clientFirst, TestFrames.Gre()));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (first.State, first.Disposition));
        Assert.Equal((ushort)0, h.Table[first.Flow].Original.SourcePort);
        Assert.Equal((ushort)0, h.Table[first.Flow].Original.DestinationPort);
        Assert.Equal(Seconds(30), h.Remaining(first.Flow));

        h.Now += 100;
        Assert.Equal(CtState.New, h.Send(Gre(clientFirst, TestFrames.Gre(0x86DD))).State); // another payload, same connection
        Assert.Equal(Seconds(30), h.Remaining(first.Flow));

        var reply = h.Send(Gre(!clientFirst, TestFrames.Gre()));
        Assert.Equal((CtState.Established, FlowDirection.Reply, first.Flow), (reply.State, reply.Direction, reply.Flow));
        Assert.Equal(Seconds(30), h.Remaining(first.Flow)); // gre_packet reads the status from before this reply
        Assert.False(h.Table[first.Flow].IsAssured);

        h.Now += 100;
        Assert.Equal(CtState.Established, h.Send(Gre(clientFirst, TestFrames.Gre())).State);
        Assert.Equal(Seconds(180), h.Remaining(first.Flow));
        Assert.True(h.Table[first.Flow].IsAssured);
        Assert.Equal(1, h.Table.Count);
    }

    // gre_pkt_to_tuple: the destination key is the call ID the packet carries (the receiver's), the source key comes
    // from the PPTP helper's keymap, so without the helper it is 0 and the reply never matches the reversed tuple.
    [Fact]
    public void Version1WithoutThePptpHelperMakesOneUnrepliedConnectionPerDirection()
    {
        var h = new TrackingHarness();
        var outbound = h.Send(Gre(true, TestFrames.PptpGre(ServerCallId)));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (outbound.State, outbound.Disposition));
        ConnectionKey key = h.Table[outbound.Flow].Original;
        Assert.Equal(((ushort)0, ServerCallId), (key.SourcePort, key.DestinationPort));

        var inbound = h.Send(Gre(false, TestFrames.PptpGre(ClientCallId)));
        Assert.Equal((CtState.New, FlowDirection.Original, TrackDisposition.Unconfirmed), (inbound.State, inbound.Direction, inbound.Disposition));
        Assert.NotEqual(outbound.Flow, inbound.Flow);
        Assert.Equal(2, h.Table.Count);

        h.Now += 100;
        Assert.Equal((CtState.New, outbound.Flow), (h.Send(Gre(true, TestFrames.PptpGre(ServerCallId))).State, outbound.Flow));
        Assert.Equal((CtState.New, inbound.Flow), (h.Send(Gre(false, TestFrames.PptpGre(ClientCallId))).State, inbound.Flow));
        Assert.Equal(Seconds(30), h.Remaining(outbound.Flow));
        Assert.False(h.Table[outbound.Flow].IsAssured || h.Table[inbound.Flow].IsAssured);
    }

    [Fact]
    public void Version1CallIdsSeparateCallsBetweenTheSameHosts()
    {
        var h = new TrackingHarness();
        int first = h.Send(Gre(true, TestFrames.PptpGre(1))).Flow;
        int second = h.Send(Gre(true, TestFrames.PptpGre(2))).Flow;
        Assert.NotEqual(first, second);
        Assert.Equal(first, h.Send(Gre(true, TestFrames.PptpGre(1))).Flow);
    }

    [Fact]
    public void Version1WithCallIdZeroBothWaysIsOneConnection()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Gre(true, TestFrames.PptpGre(0))).Flow;
        var reply = h.Send(Gre(false, TestFrames.PptpGre(0)));
        Assert.Equal((CtState.Established, FlowDirection.Reply, flow), (reply.State, reply.Direction, reply.Flow));
        h.Send(Gre(true, TestFrames.PptpGre(0)));
        Assert.Equal(Seconds(180), h.Remaining(flow));
    }

    [Fact]
    public void Version1CarryingSomethingOtherThanPppIsInvalid()
    {
        var h = new TrackingHarness();
        var result = h.Send(Gre(true, TestFrames.PptpGre(ServerCallId, protocol: 0x0800)));
        Assert.Equal((CtState.Invalid, TrackDisposition.NoFlow), (result.State, result.Disposition));
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void Version1TooShortForTheCallIdIsKeyedOnAddresses()
    {
        var h = new TrackingHarness();
        int flow = h.Send(Gre(true, TestFrames.Cut(TestFrames.PptpGre(ServerCallId, protocol: 0x0800), 6))).Flow;
        Assert.Equal(((ushort)0, (ushort)0), (h.Table[flow].Original.SourcePort, h.Table[flow].Original.DestinationPort));
        Assert.Equal(flow, h.Send(Gre(false, TestFrames.Gre())).Flow); // and matches version 0 the other way
    }

    [Fact]
    public void TheTimeoutsAreFixedWhenTheConnectionIsCreated()
    {
        var registry = new TimeoutPolicyRegistry();
        var h = new TrackingHarness(timeouts: registry.Current);
        int old = h.Send(Gre(true, TestFrames.PptpGre(1))).Flow;

        Assert.Equal(Errno.None, registry.SetDefaults(2, GreTracker.Protocol, new Dictionary<int, uint> { [0] = 50, [1] = 500 }));
        h.Timeouts = registry.Current;
        h.Now += 100;
        h.Send(Gre(true, TestFrames.PptpGre(1)));
        Assert.Equal(Seconds(30), h.Remaining(old)); // nf_conntrack_gre_packet copied them into ct->proto.gre

        int fresh = h.Send(Gre(true, TestFrames.PptpGre(2))).Flow;
        Assert.Equal(Seconds(50), h.Remaining(fresh));
    }

    [Fact]
    public void APolicyGivesBothTimeouts()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("pptp", 2, GreTracker.Protocol, new Dictionary<int, uint> { [0] = 5, [1] = 7 }));
        registry.Get("pptp", out var policy);
        var h = new TrackingHarness(timeouts: registry.Current, policyId: policy!.Id);
        int flow = h.Send(Gre(true, TestFrames.Gre())).Flow;
        Assert.Equal(Seconds(5), h.Remaining(flow));
        h.Send(Gre(false, TestFrames.Gre()));
        h.Send(Gre(false, TestFrames.Gre()));
        Assert.Equal(Seconds(7), h.Remaining(flow));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void AnIcmpErrorAboutAGreConnectionIsRelated(int version)
    {
        var h = new TrackingHarness();
        byte[] gre = Gre(true, version == 0 ? TestFrames.Gre() : TestFrames.PptpGre(ServerCallId));
        int flow = h.Send(gre).Flow;
        byte[] quoted = gre.AsSpan(14).ToArray(); // the whole datagram: version 0 has only 4 bytes of GRE
        var error = h.Send(Ip(1, TestFrames.Concat(TestFrames.Icmp(3, 1), quoted), fromClient: false));
        Assert.Equal((CtState.Related, FlowDirection.Reply, flow), (error.State, error.Direction, error.Flow));

        // The same error quoting another call is about nothing tracked.
        byte[] otherCall = Gre(true, TestFrames.PptpGre(ServerCallId + 1)).AsSpan(14).ToArray();
        Assert.Equal(CtState.Invalid, h.Send(Ip(1, TestFrames.Concat(TestFrames.Icmp(3, 1), otherCall), fromClient: false)).State);
    }

    private static byte[] Gre(bool fromClient, byte[] gre) => Ip(GreTracker.Protocol, gre, fromClient);
}
