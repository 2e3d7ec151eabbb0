// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>The SCTP part of a connection (the kernel's struct ip_ct_sctp): state, a verification tag per direction, handshake flags.</summary>
public struct SctpConnection
{
    internal const byte InitOriginal = 0x01;         // init[IP_CT_DIR_ORIGINAL]: an INIT of that direction is on record
    internal const byte InitReply = 0x02;            // init[IP_CT_DIR_REPLY]
    internal const byte HeartbeatTagFailed = 0x04;   // SCTP_FLAG_HEARTBEAT_VTAG_FAILED

    public SctpState State;

    /// <summary>vtag[IP_CT_DIR_ORIGINAL]: the verification tag packets of the original direction carry (as read, big-endian).</summary>
    public uint OriginalTag;

    /// <summary>vtag[IP_CT_DIR_REPLY]: the verification tag packets of the reply direction carry.</summary>
    public uint ReplyTag;

    /// <summary><see cref="InitOriginal"/>, <see cref="InitReply"/> and <see cref="HeartbeatTagFailed"/>.</summary>
    internal byte Flags;

    /// <summary>last_dir: the direction of the HEARTBEAT whose tag did not match.</summary>
    internal FlowDirection LastDirection;
}
