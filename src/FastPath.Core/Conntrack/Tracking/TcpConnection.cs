// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>What the tracker knows of one side's sequence space (the kernel's struct ip_ct_tcp_state).</summary>
public struct TcpPeer
{
    public const byte WindowScale = 0x01;         // IP_CT_TCP_FLAG_WINDOW_SCALE
    public const byte SackPermitted = 0x02;       // IP_CT_TCP_FLAG_SACK_PERM
    public const byte CloseInit = 0x04;           // IP_CT_TCP_FLAG_CLOSE_INIT
    public const byte BeLiberal = 0x08;           // IP_CT_TCP_FLAG_BE_LIBERAL
    public const byte DataUnacknowledged = 0x10;  // IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED
    public const byte MaxAckSet = 0x20;           // IP_CT_TCP_FLAG_MAXACK_SET
    public const byte ExpectChallengeAck = 0x40;  // IP_CT_EXP_CHALLENGE_ACK
    public const byte SimultaneousOpen = 0x80;    // IP_CT_TCP_SIMULTANEOUS_OPEN

    public uint End;
    public uint MaxEnd;
    public uint MaxWindow;
    public uint MaxAck;
    public byte Scale;
    public byte Flags;
}

/// <summary>The TCP part of a connection (the kernel's struct ip_ct_tcp): state, both peers and the last packet seen.</summary>
public struct TcpConnection
{
    public TcpState State;
    public TcpPeer Original;
    public TcpPeer Reply;
    public FlowDirection LastDirection;
    public TcpFlagIndex LastIndex;
    public uint LastSequence;
    public uint LastAck;
    public uint LastEnd;
    public ushort LastWindow;
    public byte LastWindowScale;
    public byte LastFlags;
    public byte Retransmissions;
}
