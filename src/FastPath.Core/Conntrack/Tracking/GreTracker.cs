// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>The GRE part of a connection (the kernel's struct nf_ct_gre): both timeouts, fixed when the connection is created.</summary>
public struct GreConnection
{
    /// <summary>Jiffies of UNREPLIED, from the policy or the defaults at creation.</summary>
    public uint Timeout;

    /// <summary>Jiffies of REPLIED, from the policy or the defaults at creation.</summary>
    public uint StreamTimeout;
}

/// <summary>
/// The kernel's GRE tracker (nf_conntrack_proto_gre.c, Linux 6.x) without the PPTP helper. Version 1 (enhanced GRE,
/// RFC 2637) keys on the call ID; version 0 keys on addresses alone. A connection is UNREPLIED until a reply, then
/// REPLIED (the stream timeout) and ASSURED.
/// </summary>
public static class GreTracker
{
    public const byte Protocol = 47;

    private const ushort ProtocolPpp = 0x880B; // GRE_PROTO_PPP
    private const int Unreplied = 0;           // GRE_CT_UNREPLIED
    private const int Replied = 1;             // GRE_CT_REPLIED

    /// <summary>
    /// gre_pkt_to_tuple for a packet starting at the GRE header: the tuple's destination key is the call ID of a
    /// version 1 header, 0 otherwise. The source key would come from the PPTP helper's keymap, so it is always 0,
    /// and a reply (which carries the other side's call ID) does not match the reverse of the tuple: without the
    /// helper each direction of a PPTP call is a connection of its own. False for a version 1 header that does
    /// not carry PPP, which the kernel cannot make a tuple of (INVALID).
    /// </summary>
    public static bool TryReadCallId(ReadOnlySpan<byte> gre, out ushort callId)
    {
        callId = 0;
        // Too short to hold the version, or not version 1: keyed like the generic tracker.
        if (gre.Length < 4 || (gre[1] & 0x07) != 1)
            return true;
        // Version 1 but too short for the call ID: the tuple keeps its zeroed keys.
        if (gre.Length < 8)
            return true;
        if (BinaryPrimitives.ReadUInt16BigEndian(gre.Slice(2)) != ProtocolPpp)
            return false;
        callId = BinaryPrimitives.ReadUInt16BigEndian(gre.Slice(6));
        return true;
    }

    /// <summary>
    /// nf_conntrack_gre_packet: a connection that is not <paramref name="confirmed"/> takes its two timeouts now
    /// (later changes to the policy or the defaults do not reach it). <paramref name="status"/> is as before this
    /// packet, so the first reply itself still gets the UNREPLIED timeout; every packet after it gets the stream
    /// timeout and makes the connection ASSURED.
    /// </summary>
    public static TrackOutcome Packet(ref GreConnection gre, ref FlowStatus status, bool confirmed, TimeoutPolicySnapshot timeouts, int policyId)
    {
        if (!confirmed)
        {
            gre.Timeout = timeouts.JiffiesFor(policyId, TimeoutProtocols.Gre, Unreplied);
            gre.StreamTimeout = timeouts.JiffiesFor(policyId, TimeoutProtocols.Gre, Replied);
        }

        if ((status & FlowStatus.SeenReply) == 0)
            return TrackOutcome.Refresh(gre.Timeout);

        status |= FlowStatus.Assured;
        return TrackOutcome.Refresh(gre.StreamTimeout);
    }
}
