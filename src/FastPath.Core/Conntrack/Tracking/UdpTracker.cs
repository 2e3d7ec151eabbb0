// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's UDP tracker (nf_conntrack_udp_packet, Linux 6.x). Until a reply has been seen a flow gets the
/// UNREPLIED timeout. After a reply it is a stream: still UNREPLIED for packets within two seconds of the flow's
/// creation, then REPLIED, and the first packet after those two seconds makes it ASSURED.
/// </summary>
public static class UdpTracker
{
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
}
