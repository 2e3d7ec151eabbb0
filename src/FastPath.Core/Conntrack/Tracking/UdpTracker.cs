// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's UDP tracker (nf_conntrack_udp_packet, Linux 6.x). Until a reply has been seen a flow gets the
/// UNREPLIED timeout. After a reply it is a stream: still UNREPLIED for packets within two seconds of the flow's
/// creation, then REPLIED, and the first packet after those two seconds makes it ASSURED.
/// </summary>
public static class UdpTracker
{
    public const byte UdpProtocol = 17;
    public const byte UdpLiteProtocol = 136;
    private const int HeaderLength = 8;

    /// <summary>The two seconds after creation during which a replied flow keeps the short timeout (stream_ts).</summary>
    public const uint StreamDelayJiffies = 2 * Recent.Jiffies.Hz;

    private const int Unreplied = 0; // UDP_CT_UNREPLIED
    private const int Replied = 1;   // UDP_CT_REPLIED

    /// <summary>
    /// One packet of a flow created at <paramref name="createdAt"/>. <paramref name="status"/> is as before this
    /// packet (the caller sets SEEN_REPLY after an accepted reply, so the first reply itself still sees UNREPLIED).
    /// UDP-Lite shares the defaults of UDP but never waits for the stream delay (nf_conntrack_udplite_packet).
    /// </summary>
    public static TrackOutcome Packet(ref FlowStatus status, ulong createdAt, ulong now, TimeoutPolicySnapshot timeouts, int policyId, bool udpLite = false)
    {
        TimeoutProtocol protocol = udpLite ? TimeoutProtocols.UdpLite : TimeoutProtocols.Udp;
        if ((status & FlowStatus.SeenReply) == 0)
            return TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, protocol, Unreplied));

        if (!udpLite && !Recent.Jiffies.After(now, createdAt + StreamDelayJiffies))
            return TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, protocol, Unreplied));

        status |= FlowStatus.Assured;
        return TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, protocol, Replied));
    }

    /// <summary>
    /// udplite_error: a whole header; a checksum coverage of 0 (the whole datagram) or from the header to the end of
    /// the datagram; a checksum, which UDP-Lite cannot leave out; and, when <paramref name="verifyChecksum"/>, one that
    /// holds over the coverage. The kernel sums that under UDP's pseudo-header, not UDP-Lite's
    /// (nf_checksum_partial(..., IPPROTO_UDP, ...)): a datagram checksummed as RFC 3828 says is INVALID there, and
    /// one checksummed with protocol 17 passes. Verdict for verdict, FastPath does the same.
    /// </summary>
    public static bool IsValidUdpLite(ReadOnlySpan<byte> frame, in ParsedPacket packet, ReadOnlySpan<byte> datagram, bool verifyChecksum)
    {
        if (datagram.Length < HeaderLength)
            return false;
        int coverage = BinaryPrimitives.ReadUInt16BigEndian(datagram.Slice(4));
        if (coverage == 0)
            coverage = datagram.Length;
        else if (coverage < HeaderLength || coverage > datagram.Length)
            return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(datagram.Slice(6)) == 0)
            return false;
        return !verifyChecksum || InternetChecksum.VerifyWithPseudoHeader(frame, packet, datagram, UdpProtocol, coverage);
    }
}
