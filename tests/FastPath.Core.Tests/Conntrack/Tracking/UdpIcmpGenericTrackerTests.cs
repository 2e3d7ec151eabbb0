// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Testing;
using Xunit;
using static FastPath.Core.Tests.Conntrack.Tracking.TrackingFrames;

namespace FastPath.Core.Tests.Conntrack.Tracking;

/// <summary>The UDP, ICMP/ICMPv6 and generic trackers of Linux 6.x, driven through the flow table.</summary>
public class UdpIcmpGenericTrackerTests
{
    [Fact]
    public void UdpStaysUnrepliedUntilAReplyAndTwoSecondsThenTurnsReplied()
    {
        var h = new TrackingHarness();
        var first = h.Send(Udp(true));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (first.State, first.Disposition));
        Assert.Equal(Seconds(30), h.Remaining(first.Flow));

        var second = h.Send(Udp(true));
        Assert.Equal(CtState.New, second.State); // no reply yet

        var reply = h.Send(Udp(false));
        Assert.Equal((CtState.Established, FlowDirection.Reply, first.Flow), (reply.State, reply.Direction, reply.Flow));
        Assert.Equal(Seconds(30), h.Remaining(first.Flow)); // the reply itself still sees an unreplied flow
        Assert.Equal(FlowStatus.SeenReply, h.Table[first.Flow].Status);

        h.Now += UdpTracker.StreamDelayJiffies; // not yet after the two seconds
        Assert.Equal(CtState.Established, h.Send(Udp(true)).State);
        Assert.Equal(Seconds(30), h.Remaining(first.Flow));
        Assert.False(h.Table[first.Flow].IsAssured);

        h.Now += 1;
        h.Send(Udp(true, dataLength: 10));
        Assert.Equal(Seconds(120), h.Remaining(first.Flow));
        Assert.True(h.Table[first.Flow].IsAssured);
        ref readonly Flow flow = ref h.Table[first.Flow];
        Assert.Equal((4ul, 28ul * 3 + 38, 1ul, 28ul), (flow.OriginalPackets, flow.OriginalBytes, flow.ReplyPackets, flow.ReplyBytes));
    }

    [Fact]
    public void APolicysTimeoutsReplaceTheDefaults()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(FastPath.Core.Errno.None, registry.Create("dns", 2, 17, new Dictionary<int, uint> { [0] = 5, [1] = 7 }));
        registry.Get("dns", out var policy);
        var h = new TrackingHarness(timeouts: registry.Current, policyId: policy!.Id);
        int flow = h.Send(Udp(true)).Flow;
        Assert.Equal(policy.Id, h.Table[flow].PolicyId);
        Assert.Equal(Seconds(5), h.Remaining(flow));
        h.Send(Udp(false));
        h.Now += UdpTracker.StreamDelayJiffies + 1;
        h.Send(Udp(true));
        Assert.Equal(Seconds(7), h.Remaining(flow));
    }

    [Fact]
    public void AnEchoReplyBelongsToItsRequest()
    {
        var h = new TrackingHarness();
        var request = h.Send(Ip(1, TestFrames.Icmp(8, 0, id: 77, sequence: 1), fromClient: true));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (request.State, request.Disposition));
        Assert.Equal(Seconds(30), h.Remaining(request.Flow));

        var reply = h.Send(Ip(1, TestFrames.Icmp(0, 0, id: 77, sequence: 1), fromClient: false));
        Assert.Equal((CtState.Established, FlowDirection.Reply, request.Flow), (reply.State, reply.Direction, reply.Flow));
        Assert.False(h.Table[request.Flow].IsAssured);

        var otherId = h.Send(Ip(1, TestFrames.Icmp(0, 0, id: 78, sequence: 1), fromClient: false));
        Assert.Equal(CtState.Invalid, otherId.State);
    }

    /// <summary>Every query is keyed on its identifier, not only echo (found live: a timestamp reply with another id was let in).</summary>
    [Theory]
    [InlineData(false, 13, 14)] // timestamp
    [InlineData(false, 15, 16)] // information
    [InlineData(false, 17, 18)] // address mask
    [InlineData(true, 128, 129)] // ICMPv6 echo
    [InlineData(true, 139, 140)] // ICMPv6 node information
    public void EveryQueryIsAnsweredOnlyUnderItsIdentifier(bool ipv6, byte requestType, byte replyType)
    {
        var h = new TrackingHarness();
        byte[] Message(byte type, ushort id, bool fromClient) =>
            ipv6 ? Ip6(58, TestFrames.Icmp(type, 0, id: id), fromClient) : Ip(1, TestFrames.Icmp(type, 0, id: id), fromClient);
        var request = h.Send(Message(requestType, 113, fromClient: true));
        Assert.Equal(CtState.New, request.State);
        Assert.Equal(CtState.Invalid, h.Send(Message(replyType, 213, fromClient: false)).State);
        var reply = h.Send(Message(replyType, 113, fromClient: false));
        Assert.Equal((CtState.Established, request.Flow), (reply.State, reply.Flow));
        Assert.Equal(CtState.New, h.Send(Message(requestType, 114, fromClient: true)).State); // another query, another connection
    }

    /// <summary>
    /// The kernel's tuples hold each message's own type, so a request only matches a connection's original tuple and
    /// an answer only its reply tuple (found live: the server's echo request with the client's identifier was taken
    /// for the answer).
    /// </summary>
    [Theory]
    [InlineData(false, 8, 0)]
    [InlineData(true, 128, 129)]
    [InlineData(true, 139, 140)]
    public void ARequestIsNeverAnAnswerNorAnAnswerARequest(bool ipv6, byte requestType, byte replyType)
    {
        var h = new TrackingHarness();
        byte[] Message(byte type, bool fromClient) =>
            ipv6 ? Ip6(58, TestFrames.Icmp(type, 0, id: 7), fromClient) : Ip(1, TestFrames.Icmp(type, 0, id: 7), fromClient);
        int client = h.Send(Message(requestType, fromClient: true)).Flow;

        var serverRequest = h.Send(Message(requestType, fromClient: false));
        Assert.Equal((CtState.New, TrackDisposition.Unconfirmed), (serverRequest.State, serverRequest.Disposition));
        Assert.NotEqual(client, serverRequest.Flow);

        // Each answer finds the connection of the request it answers, and only from the side that was asked.
        var answer = h.Send(Message(replyType, fromClient: false));
        Assert.Equal((CtState.Established, FlowDirection.Reply, client), (answer.State, answer.Direction, answer.Flow));
        var answerToServer = h.Send(Message(replyType, fromClient: true));
        Assert.Equal((CtState.Established, FlowDirection.Reply, serverRequest.Flow), (answerToServer.State, answerToServer.Direction, answerToServer.Flow));

        var lone = new TrackingHarness();
        lone.Send(Message(requestType, fromClient: true));
        Assert.Equal(CtState.Invalid, lone.Send(Message(replyType, fromClient: true)).State);
    }

    [Fact]
    public void AnIcmpv6ErrorQuotingAPacketWithExtensionHeadersIsRelated()
    {
        // The quoted header chain is walked as ipv6_skip_exthdr walks it (found live: FastPath took 60 for the protocol).
        var h = new TrackingHarness();
        byte[] udp = TestFrames.Udp(ClientPort, 53);
        int flow = h.Send(Ip6(17, udp, fromClient: true)).Flow;
        byte[] Quoted(byte next, byte[] headers) => TestFrames.Ipv6(next, TestFrames.Concat(headers, udp), TestFrames.Client6, TestFrames.Server6);

        byte[] withOptions = Quoted(60, TestFrames.Concat(TestFrames.HopByHop(44), TestFrames.Fragment(60, 0, more: true), TestFrames.DestinationOptions(17)));
        withOptions[6] = 0;
        var error = h.Send(Ip6(58, Quote(TestFrames.Icmp(1, 4), withOptions), fromClient: false));
        Assert.Equal((CtState.Related, flow), (error.State, error.Flow));

        // A non-first fragment, "no next header" and a chain cut before the ports have no tuple.
        Assert.Equal(CtState.Invalid, h.Send(Ip6(58, Quote(TestFrames.Icmp(1, 4), Quoted(44, TestFrames.Fragment(17, 8, more: false))), fromClient: false)).State);
        Assert.Equal(CtState.Invalid, h.Send(Ip6(58, Quote(TestFrames.Icmp(1, 4), Quoted(60, TestFrames.DestinationOptions(59))), fromClient: false)).State);
        byte[] cut = Quoted(60, TestFrames.DestinationOptions(17));
        Assert.Equal(CtState.Invalid, h.Send(Ip6(58, Quote(TestFrames.Icmp(1, 4), cut.AsSpan(0, 40 + 8 + 3).ToArray()), fromClient: false)).State);
        Assert.Equal(CtState.Related, h.Send(Ip6(58, Quote(TestFrames.Icmp(1, 4), cut.AsSpan(0, 40 + 8 + 4).ToArray()), fromClient: false)).State);
    }

    [Fact]
    public void AnIcmpErrorQuotingATimestampQueryIsRelatedToIt()
    {
        var h = new TrackingHarness();
        byte[] query = Ip(1, TestFrames.Icmp(13, 0, id: 113), fromClient: true);
        int flow = h.Send(query).Flow;
        var error = h.Send(Ip(1, Quote(TestFrames.Icmp(3, 1), query.AsSpan(14, 28).ToArray()), fromClient: false));
        Assert.Equal((CtState.Related, flow), (error.State, error.Flow));
    }

    [Fact]
    public void TheIcmpCodeIsPartOfTheTuple()
    {
        var h = new TrackingHarness();
        h.Send(Ip(1, TestFrames.Icmp(8, 0, id: 77), fromClient: true));
        Assert.Equal(CtState.Invalid, h.Send(Ip(1, TestFrames.Icmp(0, 1, id: 77), fromClient: false)).State);
    }

    [Theory]
    [InlineData(130)] // MLD query
    [InlineData(133)] // router solicitation
    [InlineData(136)] // neighbour advertisement
    [InlineData(143)] // MLDv2 report
    [InlineData(151)] // multicast router advertisement
    [InlineData(152)] // multicast router solicitation
    public void Icmpv6NeighbourDiscoveryMldAndRouterDiscoveryAreUntracked(byte type)
    {
        var h = new TrackingHarness();
        Assert.Equal(CtState.Untracked, h.Send(Ip6(58, TestFrames.Icmp(type, 0), fromClient: true)).State);
        Assert.Equal(0, h.Table.Count);
    }

    [Theory]
    [InlineData(0)]   // echo reply without a request
    [InlineData(9)]   // router advertisement: no inverse type
    [InlineData(19)]  // past NR_ICMP_TYPES
    public void AnIcmpMessageThatCannotOpenAConnectionIsInvalid(byte type)
    {
        var h = new TrackingHarness();
        Assert.Equal(CtState.Invalid, h.Send(Ip(1, TestFrames.Icmp(type, 0, id: 5), fromClient: true)).State);
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void AnIcmpErrorQuotingATrackedFlowIsRelated()
    {
        var h = new TrackingHarness();
        byte[] udp = Udp(true);
        int flow = h.Send(udp).Flow;
        h.Now += 100;

        // The router answers the client with "port unreachable", quoting the datagram's IP header and 8 bytes.
        byte[] quoted = udp.AsSpan(14, 28).ToArray();
        var error = h.Send(Ip(1, Quote(TestFrames.Icmp(3, 3), quoted), fromClient: false));
        Assert.Equal((CtState.Related, FlowDirection.Reply, flow), (error.State, error.Direction, error.Flow));
        Assert.Equal(Seconds(30) - 100, h.Remaining(flow)); // an error neither refreshes nor counts
        Assert.Equal(0ul, h.Table[flow].ReplyPackets);
    }

    [Fact]
    public void AQuotedHeadersVersionIsNotChecked()
    {
        // ipv4_get_l4proto reads the quoted tuple whatever the version nibble says (Linux 6.18: RELATED).
        var h = new TrackingHarness();
        byte[] udp = Udp(true);
        int flow = h.Send(udp).Flow;
        byte[] quoted = udp.AsSpan(14, 28).ToArray();
        quoted[0] = 0x65;
        var error = h.Send(Ip(1, Quote(TestFrames.Icmp(3, 3), quoted), fromClient: false));
        Assert.Equal((CtState.Related, flow), (error.State, error.Flow));
    }

    [Fact]
    public void AnIcmpErrorAboutNoKnownFlowOrSentTheWrongWayIsInvalid()
    {
        var h = new TrackingHarness();
        byte[] udp = Udp(true);
        byte[] quoted = udp.AsSpan(14, 28).ToArray();
        Assert.Equal(CtState.Invalid, h.Send(Ip(1, Quote(TestFrames.Icmp(3, 3), quoted), fromClient: false)).State);

        h.Send(udp);
        // Towards the server, although the quoted datagram came from the client.
        Assert.Equal(CtState.Invalid, h.Send(Ip(1, Quote(TestFrames.Icmp(3, 3), quoted), fromClient: true)).State);
    }

    [Fact]
    public void Icmpv6EchoIsTrackedAndNeighbourDiscoveryIsUntracked()
    {
        var h = new TrackingHarness();
        byte[] request = Ip6(58, TestFrames.Icmp(128, 0, id: 9), fromClient: true);
        var first = h.Send(request);
        Assert.Equal(CtState.New, first.State);
        Assert.Equal(first.Flow, h.Send(Ip6(58, TestFrames.Icmp(129, 0, id: 9), fromClient: false)).Flow);

        var solicitation = h.Send(Ip6(58, TestFrames.Icmp(135, 0), fromClient: true));
        Assert.Equal((CtState.Untracked, TrackDisposition.NoFlow), (solicitation.State, solicitation.Disposition));
        Assert.Equal(1, h.Table.Count);
    }

    /// <summary>
    /// nf_conntrack_icmpv6_redirect: a redirect not from a link-local address with hop limit 255, or shorter than its
    /// fixed part, fails icmpv6_error (counted as error; seen on Linux 6.18 for one sent across the router); one of
    /// another code goes on and is INVALID as a type without an inverse (counted as invalid).
    /// </summary>
    [Fact]
    public void AnIcmpv6RedirectFromNoNeighbourIsAnIcmpError()
    {
        var h = new TrackingHarness();
        byte[] Redirect(byte code, int body, string source = TestFrames.Client6, byte hopLimit = 64) =>
            TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(58, TestFrames.Concat(TestFrames.Icmp(137, code), new byte[body]), source, hopLimit: hopLimit));

        Assert.Equal(CtState.Invalid, h.Send(Redirect(0, 32)).State);
        Assert.Equal(CtState.Invalid, h.Send(Redirect(0, 32, "fe80::1", hopLimit: 64)).State);
        Assert.Equal(CtState.Invalid, h.Send(Redirect(0, 31, "fe80::1", hopLimit: 255)).State);
        Assert.Equal((3L, 0L), (h.Table.IcmpErrors, h.Table.InvalidPackets));
        Assert.Equal(CtState.Invalid, h.Send(Redirect(1, 32)).State);
        Assert.Equal((3L, 1L), (h.Table.IcmpErrors, h.Table.InvalidPackets));
    }

    [Fact]
    public void AnotherProtocolIsTrackedOnAddressesAloneWithTheGenericTimeout()
    {
        var h = new TrackingHarness();
        var esp = h.Send(Ip(50, new byte[16], fromClient: true));
        Assert.Equal(CtState.New, esp.State);
        Assert.Equal(Seconds(600), h.Remaining(esp.Flow));
        var back = h.Send(Ip(50, new byte[16], fromClient: false));
        Assert.Equal((CtState.Established, esp.Flow), (back.State, back.Flow));
        Assert.False(h.Table[esp.Flow].IsAssured);
    }

    [Fact]
    public void Ipv6NoNextHeaderIsInvalidAndOpensNothing()
    {
        // ipv6_skip_exthdr finds no upper-layer protocol behind "no next header" (59), here or after an extension
        // header, and nf_conntrack_in lets the packet go without a conntrack; over IPv4, 59 is just a protocol.
        var h = new TrackingHarness();
        var bare = h.Send(Ip6(59, [], fromClient: true));
        Assert.Equal((CtState.Invalid, TrackDisposition.Unsupported), (bare.State, bare.Disposition));
        Assert.Equal(CtState.Invalid, h.Send(Ip6(60, TestFrames.DestinationOptions(59), fromClient: true)).State);
        Assert.Equal(0, h.Table.Count);
        Assert.Equal(CtState.New, h.Send(Ip(59, new byte[8], fromClient: true)).State);
    }

    /// <summary>
    /// ICMPv6 over IPv4 and ICMP over IPv6 (seen on Linux 6.18): the tracker of the protocol refuses the other family, so
    /// an echo and its answer are both INVALID, counted as invalid, and open nothing; the right family is tracked.
    /// </summary>
    [Fact]
    public void IcmpOfTheOtherFamilyIsInvalidAndOpensNothing()
    {
        var h = new TrackingHarness();
        byte[] echoV6 = [128, 0, 0, 0, 0, 9, 0, 1], replyV6 = [129, 0, 0, 0, 0, 9, 0, 1];
        byte[] echoV4 = [8, 0, 0, 0, 0, 9, 0, 1], replyV4 = [0, 0, 0, 0, 0, 9, 0, 1];
        Assert.Equal(CtState.Invalid, h.Send(Ip(58, echoV6, fromClient: true)).State);
        Assert.Equal(CtState.Invalid, h.Send(Ip(58, replyV6, fromClient: false)).State);
        Assert.Equal(CtState.Invalid, h.Send(Ip6(1, echoV4, fromClient: true)).State);
        Assert.Equal(CtState.Invalid, h.Send(Ip6(1, replyV4, fromClient: false)).State);
        Assert.Equal((0, 4L), (h.Table.Count, h.Table.InvalidPackets));
    }

    private static byte[] Quote(byte[] icmpHeader, byte[] quoted) => TestFrames.Concat(icmpHeader.AsSpan(0, 8).ToArray(), quoted);

    private static byte[] Ip6(byte protocol, byte[] payload, bool fromClient)
        => TestFrames.Ethernet(TestFrames.EtherTypeIPv6, TestFrames.Ipv6(protocol, payload,
            fromClient ? TestFrames.Client6 : TestFrames.Server6, fromClient ? TestFrames.Server6 : TestFrames.Client6));
}
