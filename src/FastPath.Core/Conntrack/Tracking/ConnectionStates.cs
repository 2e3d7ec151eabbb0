// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>The kernel's enum tcp_conntrack, values included (they index the timeout table).</summary>
public enum TcpState : byte
{
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    SynSent2 = 9,
}

/// <summary>
/// The kernel's enum sctp_conntrack of Linux 6.x, values included: <see cref="None"/> exists only while the first
/// packet is tracked; the timeout of state s is the policy's state s - 1 (HEARTBEAT_ACKED keeps a timeout slot but
/// is no longer a state).
/// </summary>
public enum SctpState : byte
{
    None = 0,
    Closed = 1,
    CookieWait = 2,
    CookieEchoed = 3,
    Established = 4,
    ShutdownSent = 5,
    ShutdownReceived = 6,
    ShutdownAckSent = 7,
    HeartbeatSent = 8,
}

/// <summary>What the UDP tracker shows: whether a reply has been seen (the kernel's UDP_CT_UNREPLIED / UDP_CT_REPLIED).</summary>
public enum UdpState : byte
{
    Unreplied = 0,
    Replied = 1,
}

/// <summary>The direction of a packet relative to the packet that created the connection (enum ip_conntrack_dir).</summary>
public enum FlowDirection : byte
{
    Original = 0,
    Reply = 1,
}

/// <summary>What <c>-m conntrack --ctstate</c> sees for a packet.</summary>
public enum CtState : byte
{
    /// <summary>No connection: the tracker refused the packet (and the kernel leaves it without a conntrack).</summary>
    Invalid,

    /// <summary>The original direction before any reply (IP_CT_NEW), including the first packet.</summary>
    New,

    /// <summary>A reply, or the original direction once a reply has been seen.</summary>
    Established,

    /// <summary>An ICMP error about a tracked connection.</summary>
    Related,

    /// <summary>ICMPv6 neighbour discovery and MLD, which the kernel never tracks (nf_ct_set(skb, NULL, IP_CT_UNTRACKED)).</summary>
    Untracked,
}

/// <summary>The kernel's enum tcp_bit_set: the row of the state table a segment selects (get_conntrack_index).</summary>
public enum TcpFlagIndex : byte
{
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}

/// <summary>How a tracker answered a packet of a connection.</summary>
public enum TrackVerdict : byte
{
    /// <summary>Accepted: the connection takes the new state and the returned timeout.</summary>
    Accept,

    /// <summary>Accepted without touching the connection (the kernel's sIG / NFCT_TCP_IGNORE).</summary>
    Ignore,

    /// <summary>INVALID: the packet gets no conntrack; a new connection is not created.</summary>
    Invalid,

    /// <summary>Accepted, and the connection is deleted at once (a RST as the only reply: nf_ct_kill_acct).</summary>
    AcceptAndKill,

    /// <summary>A SYN reopening a closed connection: delete it and track the packet again as new (-NF_REPEAT).</summary>
    Reopen,
}
