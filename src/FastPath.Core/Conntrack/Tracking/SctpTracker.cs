// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's SCTP connection tracker (nf_conntrack_proto_sctp.c of Linux 6.x, with the 2026 fix that skips
/// recording a stale or retransmitted INIT) as pure functions over an <see cref="SctpConnection"/>: the chunk
/// walk (do_basic_checks), creation (sctp_new), the verification-tag rules of RFC 9260 section 8.5, the state
/// table (sctp_conntracks) and the timeout choice in nf_conntrack_sctp_packet; <see cref="ChecksumHolds"/> is the
/// CRC32c check sctp_error makes when nf_conntrack_checksum is on.
/// </summary>
public static class SctpTracker
{
    public const byte Protocol = 132;

    /// <summary>Source and destination port, verification tag, checksum: anything shorter is a "short packet" (sctp_error).</summary>
    public const int CommonHeaderLength = 12;

    /// <summary>sctp_error's check: the packet's CRC32c (<see cref="Checksum"/>) is the one it carries, stored little-endian as sctp_compute_cksum writes it.</summary>
    public static bool ChecksumHolds(ReadOnlySpan<byte> sctp) => Checksum(sctp) == BinaryPrimitives.ReadUInt32LittleEndian(sctp.Slice(8));

    /// <summary>The CRC32c (RFC 9260 appendix A) of an SCTP packet of at least <see cref="CommonHeaderLength"/> bytes, its checksum field taken as zero.</summary>
    public static uint Checksum(ReadOnlySpan<byte> sctp)
    {
        uint crc = Crc32C(uint.MaxValue, sctp.Slice(0, 8));
        crc = BitOperations.Crc32C(crc, 0u);
        return ~Crc32C(crc, sctp.Slice(CommonHeaderLength));
    }

    private static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data.Slice(8);
        }
        foreach (byte b in data)
            crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    /// <summary>The table's sIV: the chunk is invalid in this state.</summary>
    public const byte InvalidTransition = 9;

    // Chunk types (RFC 9260 section 3.2).
    public const byte Data = 0;
    public const byte Init = 1;
    public const byte InitAck = 2;
    public const byte Sack = 3;
    public const byte Heartbeat = 4;
    public const byte HeartbeatAck = 5;
    public const byte Abort = 6;
    public const byte Shutdown = 7;
    public const byte ShutdownAck = 8;
    public const byte Error = 9;
    public const byte CookieEcho = 10;
    public const byte CookieAck = 11;
    public const byte ShutdownComplete = 14;

    /// <summary>SCTP_CHUNK_FLAG_T on ABORT and SHUTDOWN_COMPLETE: the sender reflected the peer's tag, having none of its own.</summary>
    public const byte TBit = 0x01;

    private const int ChunkHeaderLength = 4;
    private const int InitHeaderLength = 16; // struct sctp_inithdr, read whole by skb_header_pointer
    private const int States = 9;
    private const int Rows = 11;
    private const byte NoRow = 0xFF;

    private const byte sNO = 0, sCL = 1, sCW = 2, sCE = 3, sES = 4, sSS = 5, sSR = 6, sSA = 7, sHS = 8;
    private const byte sIV = InvalidTransition;

    // sctp_conntracks[dir][row][state], transcribed. Columns: sNO, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS.
    private static ReadOnlySpan<byte> Table =>
    [
        // ORIGINAL
        sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW, // init
        sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL, // init_ack
        sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, // abort
        sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL, // shutdown
        sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA, // shutdown_ack
        sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL, // error
        sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL, // cookie_echo
        sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL, // cookie_ack
        sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL, // shutdown_complete
        sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS, // heartbeat
        sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS, // heartbeat_ack
        // REPLY
        sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV, // init
        sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV, // init_ack
        sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV, // abort
        sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV, // shutdown
        sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV, // shutdown_ack
        sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV, // error
        sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV, // cookie_echo
        sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV, // cookie_ack
        sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV, // shutdown_complete
        sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS, // heartbeat
        sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES, // heartbeat_ack
    ];

    // sctp_new_state's switch: the table row of chunk types 0-14; DATA, SACK, ECNE, CWR and every other type leave the state alone.
    private static ReadOnlySpan<byte> RowOf => [NoRow, 0, 1, NoRow, 9, 10, 2, 3, 4, 5, 6, 7, NoRow, NoRow, 8];

    // The chunks that carry a tag other than the receiver's own, checked one by one in the walk instead.
    private const ulong OwnTagExempt = 1UL << Init | 1UL << ShutdownComplete | 1UL << CookieEcho | 1UL << Abort
        | 1UL << ShutdownAck | 1UL << Heartbeat | 1UL << HeartbeatAck;

    // An OOTB packet with any of these is discarded (RFC 9260 section 8.4), so they never open a connection.
    private const ulong NeverFirst = 1UL << Abort | 1UL << ShutdownComplete | 1UL << CookieAck;

    /// <summary>sctp_new_state: the state a chunk leads to, the same state for a chunk type the table has no row for, or <see cref="InvalidTransition"/>.</summary>
    public static byte Transition(FlowDirection direction, byte chunkType, SctpState state)
    {
        byte row = chunkType < RowOf.Length ? RowOf[chunkType] : NoRow;
        return row == NoRow ? (byte)state : Table[((int)direction * Rows + row) * States + (int)state];
    }

    /// <summary>
    /// nf_conntrack_sctp_packet for one packet (<paramref name="sctp"/> starts at the SCTP common header and ends with
    /// the IP payload). A connection that is not <paramref name="confirmed"/> is being created by this packet
    /// (sctp_new). <paramref name="status"/> gains ASSURED when the association reaches ESTABLISHED. As in the kernel,
    /// chunks before an invalid one have already changed the connection.
    /// </summary>
    public static TrackOutcome Packet(ref SctpConnection connection, ref FlowStatus status, bool confirmed, FlowDirection dir,
        ReadOnlySpan<byte> sctp, TimeoutPolicySnapshot timeouts, int policyId)
    {
        if (sctp.Length < CommonHeaderLength || !TryCheckChunks(sctp, out ulong present))
            return TrackOutcome.Invalid;

        uint tag = BinaryPrimitives.ReadUInt32BigEndian(sctp.Slice(4));
        if (!confirmed && ((present & NeverFirst) != 0 || !TryCreate(ref connection, sctp, tag)))
            return TrackOutcome.Invalid;

        FlowDirection other = dir == FlowDirection.Original ? FlowDirection.Reply : FlowDirection.Original;
        ref uint ownTag = ref TagOf(ref connection, dir);
        ref uint peerTag = ref TagOf(ref connection, other);
        byte ownInit = dir == FlowDirection.Original ? SctpConnection.InitOriginal : SctpConnection.InitReply;
        byte peerInit = dir == FlowDirection.Original ? SctpConnection.InitReply : SctpConnection.InitOriginal;

        if ((present & OwnTagExempt) == 0 && tag != ownTag)
            return TrackOutcome.Invalid;

        bool ignore = false;
        for (int offset = CommonHeaderLength; offset + ChunkHeaderLength <= sctp.Length; offset += ChunkStride(sctp, offset))
        {
            byte type = sctp[offset];
            bool tBit = (sctp[offset + 1] & TBit) != 0;
            switch (type)
            {
                case Init when tag != 0:
                    return TrackOutcome.Invalid;
                case Abort or ShutdownComplete when tag != (tBit ? peerTag : ownTag):
                    return TrackOutcome.Invalid;
                case CookieEcho when tag != ownTag: // the tag of the INIT_ACK
                    return TrackOutcome.Invalid;
                case CookieAck:
                    connection.Flags &= unchecked((byte)~(SctpConnection.InitOriginal | SctpConnection.InitReply));
                    break;
                case Heartbeat or HeartbeatAck when ownTag == 0:
                    ownTag = tag;
                    break;
                case Heartbeat or HeartbeatAck when tag != ownTag:
                    // Another association on the same ports (a restart, a second path): a HEARTBEAT with the new tag
                    // passes without refreshing, and the ACK of the other side adopts that tag.
                    if ((present & (1UL << Data)) != 0 || ignore)
                        return TrackOutcome.Invalid;
                    if (type == Heartbeat)
                    {
                        connection.Flags |= SctpConnection.HeartbeatTagFailed;
                        connection.LastDirection = dir;
                        ignore = true;
                        continue;
                    }
                    if ((connection.Flags & SctpConnection.HeartbeatTagFailed) == 0 || connection.LastDirection == dir)
                        return TrackOutcome.Invalid;
                    connection.Flags &= unchecked((byte)~SctpConnection.HeartbeatTagFailed);
                    ownTag = tag;
                    peerTag = 0;
                    break;
                case Heartbeat or HeartbeatAck:
                    connection.Flags &= unchecked((byte)~SctpConnection.HeartbeatTagFailed);
                    break;
            }

            SctpState old = connection.State;
            byte next = Transition(dir, type, old);
            if (next == InvalidTransition)
                return TrackOutcome.Invalid;

            if (type is Init or InitAck)
            {
                if (!TryReadInitiateTag(sctp, offset, out uint initiateTag))
                    return TrackOutcome.Invalid;
                if (type == Init)
                {
                    // An INIT repeating the tag already on record (retransmitted or stale) is not a new attempt.
                    if (old == SctpState.None || peerTag != initiateTag)
                    {
                        if ((connection.Flags & (ownInit | peerInit)) == (ownInit | peerInit))
                            connection.Flags &= (byte)~peerInit;
                        connection.Flags |= ownInit;
                    }
                    // A retransmitted INIT does not renew the timer, or port reuse could keep the entry alive forever.
                    if (next == sCL && old == SctpState.Closed && confirmed)
                        ignore = true;
                }
                else
                {
                    bool ownInitSeen = (connection.Flags & ownInit) != 0, peerInitSeen = (connection.Flags & peerInit) != 0;
                    if (!peerInitSeen && peerTag != 0 && peerTag != initiateTag)
                        return TrackOutcome.Invalid;
                    if (ownInitSeen && peerInitSeen && peerTag != initiateTag) // collision: both sides sent INIT
                        return TrackOutcome.Invalid;
                }
                peerTag = initiateTag;
            }

            connection.State = (SctpState)next;
            if (next == sES && old != SctpState.Established)
                status |= FlowStatus.Assured;
        }

        if (ignore)
            return TrackOutcome.Ignore;
        Debug.Assert(connection.State != SctpState.None);
        return TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, TimeoutProtocols.Sctp, (int)connection.State - 1));
    }

    // do_basic_checks: at least one chunk, none of zero length, COOKIE_ECHO and COOKIE_ACK only first, INIT, INIT_ACK
    // and SHUTDOWN_COMPLETE only alone. Records the types below 64 present (all the tracker asks about).
    private static bool TryCheckChunks(ReadOnlySpan<byte> sctp, out ulong present)
    {
        present = 0;
        int count = 0;
        bool mustBeAlone = false;
        for (int offset = CommonHeaderLength; offset + ChunkHeaderLength <= sctp.Length; offset += ChunkStride(sctp, offset), count++)
        {
            byte type = sctp[offset];
            mustBeAlone |= type is Init or InitAck or ShutdownComplete;
            if (((type is CookieAck or CookieEcho || mustBeAlone) && count != 0) || ChunkLength(sctp, offset) == 0)
                return false;
            if (type < 64)
                present |= 1UL << type;
        }
        return count != 0;
    }

    // sctp_new: every chunk must be one that may open a connection; an INIT must carry tag 0 and gives the reply
    // direction's tag, a HEARTBEAT gives the original direction's, a SHUTDOWN_ACK (OOTB) the reply's.
    private static bool TryCreate(ref SctpConnection connection, ReadOnlySpan<byte> sctp, uint tag)
    {
        connection = default;
        for (int offset = CommonHeaderLength; offset + ChunkHeaderLength <= sctp.Length; offset += ChunkStride(sctp, offset))
        {
            byte type = sctp[offset];
            if (Transition(FlowDirection.Original, type, SctpState.None) is sNO or sIV)
                return false;
            switch (type)
            {
                case Init:
                    if (tag != 0 || !TryReadInitiateTag(sctp, offset, out connection.ReplyTag))
                        return false;
                    break;
                case Heartbeat:
                    connection.OriginalTag = tag;
                    break;
                case ShutdownAck:
                    connection.ReplyTag = tag;
                    break;
            }
        }
        return true;
    }

    private static bool TryReadInitiateTag(ReadOnlySpan<byte> sctp, int chunkOffset, out uint initiateTag)
    {
        initiateTag = 0;
        int at = chunkOffset + ChunkHeaderLength;
        if (at + InitHeaderLength > sctp.Length)
            return false;
        initiateTag = BinaryPrimitives.ReadUInt32BigEndian(sctp.Slice(at));
        return true;
    }

    private static int ChunkLength(ReadOnlySpan<byte> sctp, int offset) => BinaryPrimitives.ReadUInt16BigEndian(sctp.Slice(offset + 2));

    // for_each_sctp_chunk: chunks are padded to four bytes.
    private static int ChunkStride(ReadOnlySpan<byte> sctp, int offset) => (ChunkLength(sctp, offset) + 3) & ~3;

    private static ref uint TagOf(ref SctpConnection connection, FlowDirection dir)
        => ref dir == FlowDirection.Original ? ref connection.OriginalTag : ref connection.ReplyTag;
}
