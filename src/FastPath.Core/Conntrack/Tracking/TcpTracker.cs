// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's TCP connection tracker (nf_conntrack_proto_tcp.c of Linux 6.x) as pure functions over a
/// <see cref="TcpConnection"/>: the flag check (tcp_error), creation (tcp_new, with nf_conntrack_tcp_loose = 1),
/// the state table (tcp_conntracks), window tracking (tcp_in_window, without NAT sequence adjustment) and the
/// choice of timeout in nf_conntrack_tcp_packet.
/// </summary>
public static class TcpTracker
{
    /// <summary>The table's sIV: the packet is invalid.</summary>
    public const byte InvalidTransition = 10;

    /// <summary>The table's sIG: the packet is let through without changing the connection.</summary>
    public const byte IgnoredTransition = 11;

    private const int TimeoutRetrans = 10;        // TCP_CONNTRACK_RETRANS
    private const int TimeoutUnacknowledged = 11; // TCP_CONNTRACK_UNACK
    private const uint MaxAckWindowConstant = 66000;
    private const int MaxWindowScale = 14;

    private const byte sNO = 0, sSS = 1, sSR = 2, sES = 3, sFW = 4, sCW = 5, sLA = 6, sTW = 7, sCL = 8, sS2 = 9;
    private const byte sIV = InvalidTransition, sIG = IgnoredTransition;

    // tcp_conntracks[dir][index][state], transcribed. Columns: sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2.
    private static ReadOnlySpan<byte> Table =>
    [
        // ORIGINAL
        sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2, // syn
        sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR, // synack
        sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV, // fin
        sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV, // ack
        sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, // rst
        sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, // none
        // REPLY
        sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2, // syn
        sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR, // synack
        sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV, // fin
        sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG, // ack
        sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, // rst
        sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, // none
    ];

    // tcp_valid_flags, indexed by the flags without ECE, CWR and PSH.
    private static ReadOnlySpan<byte> ValidFlags =>
    [
        0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 0x00-0x0F: SYN, RST
        1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 0x10-0x1F: ACK, FIN|ACK, SYN|ACK, RST|ACK
        0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 0x20-0x2F: SYN|URG
        1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 0x30-0x3F: ACK|URG, FIN|ACK|URG
    ];

    /// <summary>tcp_error's flag check: false for a combination the kernel calls "invalid tcp flag combination".</summary>
    public static bool IsValidFlagCombination(byte flags)
        => ValidFlags[flags & ~(TcpSegment.Ece | TcpSegment.Cwr | TcpSegment.Psh)] != 0;

    /// <summary>get_conntrack_index: RST wins, then SYN (with or without ACK), then FIN, then ACK.</summary>
    public static TcpFlagIndex IndexOf(byte flags)
    {
        if ((flags & TcpSegment.Rst) != 0) return TcpFlagIndex.Rst;
        if ((flags & TcpSegment.Syn) != 0) return (flags & TcpSegment.AckFlag) != 0 ? TcpFlagIndex.SynAck : TcpFlagIndex.Syn;
        if ((flags & TcpSegment.Fin) != 0) return TcpFlagIndex.Fin;
        if ((flags & TcpSegment.AckFlag) != 0) return TcpFlagIndex.Ack;
        return TcpFlagIndex.None;
    }

    /// <summary>One cell of the state table: a <see cref="TcpState"/>, <see cref="InvalidTransition"/> or <see cref="IgnoredTransition"/>.</summary>
    public static byte Transition(FlowDirection direction, TcpFlagIndex index, TcpState state)
        => Table[((int)direction * 6 + (int)index) * 10 + (int)state];

    /// <summary>
    /// tcp_new: whether a first packet may create a connection, and its initial window data. A SYN opens one; with
    /// loose pickup an ACK opens one mid-stream (both sides then assume SACK and liberal window checks).
    /// </summary>
    public static bool TryCreate(ref TcpConnection tcp, in TcpSegment segment, bool loose = true)
    {
        byte next = Transition(FlowDirection.Original, IndexOf(segment.Flags), TcpState.None);
        if (next >= InvalidTransition)
            return false;

        tcp = default;
        tcp.Original.End = segment.End;
        tcp.Original.MaxWindow = segment.Window == 0 ? 1u : segment.Window;
        if (next == sSS)
        {
            tcp.Original.MaxEnd = tcp.Original.End;
            ParseOptions(segment.Options, ref tcp.Original);
        }
        else
        {
            if (!loose)
                return false;
            tcp.Original.MaxEnd = tcp.Original.End + tcp.Original.MaxWindow;
            tcp.Original.Flags = tcp.Reply.Flags = TcpPeer.SackPermitted | TcpPeer.BeLiberal;
        }

        tcp.LastIndex = TcpFlagIndex.None;
        return true;
    }

    /// <summary>
    /// nf_conntrack_tcp_packet after the flag check and creation: moves <paramref name="tcp"/> through the state
    /// table, tracks the windows and picks the timeout. <paramref name="status"/> is read as it was before this
    /// packet (SEEN_REPLY is set by the caller after an accepted reply) and gains ASSURED here.
    /// <paramref name="remaining"/> is the time left on the connection's timer, which an out-of-window FIN or RST
    /// of an assured connection may shorten (nf_tcp_handle_invalid).
    /// </summary>
    public static TrackOutcome Packet(
        ref TcpConnection tcp, ref FlowStatus status, FlowDirection dir, in TcpSegment segment,
        TimeoutPolicySnapshot timeouts, int policyId, uint remaining, TcpSettings settings)
    {
        TcpState oldState = tcp.State;
        TcpFlagIndex index = IndexOf(segment.Flags);
        byte next = Transition(dir, index, oldState);
        ref TcpPeer sender = ref Peer(ref tcp, dir);
        ref TcpPeer receiver = ref Peer(ref tcp, Other(dir));
        bool skipWindow = false;

        switch (next)
        {
            case sSS when oldState < TcpState.TimeWait:
                break;

            case sSS or sIG:
                if (next == sSS &&
                    (((sender.Flags | receiver.Flags) & TcpPeer.CloseInit) != 0 ||
                     (tcp.LastDirection == dir && tcp.LastIndex == TcpFlagIndex.Rst)))
                    return TrackOutcome.Reopen;

                if (index == TcpFlagIndex.SynAck && tcp.LastIndex == TcpFlagIndex.Syn &&
                    tcp.LastDirection != dir && segment.Acknowledgment == tcp.LastEnd)
                {
                    // The SYN/ACK answers a SYN we ignored: the endpoints are in sync and we were not (case b).
                    Resynchronize(ref tcp, ref sender);
                    oldState = TcpState.SynSent;
                    next = sSR;
                    break;
                }

                RecordIgnored(ref tcp, dir, index, oldState, segment);
                return TrackOutcome.Ignore;

            case sIV:
                return TrackOutcome.Invalid;

            case sTW:
                // An RFC 5961 challenge ACK answering a SYN in LAST_ACK does not acknowledge the last FIN.
                if (oldState == TcpState.LastAck && index == TcpFlagIndex.Ack && tcp.LastDirection != dir &&
                    tcp.LastIndex == TcpFlagIndex.Syn && (tcp.LastFlags & TcpPeer.ExpectChallengeAck) != 0)
                {
                    tcp.LastFlags = (byte)(tcp.LastFlags & ~TcpPeer.ExpectChallengeAck);
                    return new TrackOutcome(TrackVerdict.Accept, 0, false);
                }
                break;

            case sS2:
                tcp.LastFlags |= TcpPeer.SimultaneousOpen;
                break;

            case sSR:
                if (dir == FlowDirection.Reply && index == TcpFlagIndex.Ack && (tcp.LastFlags & TcpPeer.SimultaneousOpen) != 0)
                    next = sES;
                break;

            case sCL when index == TcpFlagIndex.Rst:
                if (CanEarlyDrop(oldState))
                {
                    skipWindow = true;
                    break;
                }

                if ((receiver.Flags & TcpPeer.MaxAckSet) != 0 && tcp.LastIndex != TcpFlagIndex.Syn)
                {
                    uint seq = segment.Sequence;
                    // nf_conntrack_tcp_established: ESTABLISHED and assured.
                    bool established = oldState == TcpState.Established && (status & FlowStatus.Assured) != 0;
                    if (seq == 0 && !established)
                        break;
                    if (Before(seq, receiver.MaxAck) && !settings.IgnoreInvalidRst)
                        return TrackOutcome.Invalid;
                    if (!established || seq == receiver.MaxAck)
                        break;
                    if (tcp.LastIndex == TcpFlagIndex.Ack && tcp.LastDirection == dir && seq == tcp.LastEnd)
                        break;

                    // The RST does not match exactly: keep the state to allow a challenge ACK.
                    next = (byte)oldState;
                }

                // RST answering a SYN or ACK we let through (cases a and c). Linux 6.18 (checked live) takes the SYN
                // case only for a RST from the other side: one from the SYN's own sender goes through the window check.
                if (((((status & FlowStatus.SeenReply) != 0) && tcp.LastIndex == TcpFlagIndex.Syn && tcp.LastDirection != dir) ||
                     (((status & FlowStatus.Assured) == 0) && tcp.LastIndex == TcpFlagIndex.Ack)) &&
                    segment.Acknowledgment == tcp.LastEnd)
                {
                    skipWindow = true;
                    break;
                }

                if (oldState == TcpState.SynSent && tcp.LastIndex == TcpFlagIndex.Ack &&
                    tcp.LastDirection == FlowDirection.Reply && segment.Sequence == tcp.LastAck)
                    skipWindow = true; // RST answering a challenge ACK we let through
                break;
        }

        if (!skipWindow)
        {
            switch (InWindow(ref tcp, dir, index, segment, settings.BeLiberal))
            {
                case WindowResult.Ignore:
                    return TrackOutcome.Ignore;
                case WindowResult.Invalid:
                    return HandleInvalid(ref tcp, status, dir, index, timeouts, policyId, remaining);
            }
        }

        tcp.LastIndex = index;
        tcp.LastDirection = dir;
        TcpState newState = (TcpState)next;
        tcp.State = newState;
        if (oldState != newState && newState == TcpState.FinWait)
            Peer(ref tcp, dir).Flags |= TcpPeer.CloseInit;

        ReadOnlySpan<uint> jiffies = timeouts.JiffiesFor(policyId, TimeoutProtocols.Tcp).AsSpan();
        uint stateTimeout = At(jiffies, (int)newState);
        uint timeout;
        if (tcp.Retransmissions >= settings.MaxRetransmissions && stateTimeout > At(jiffies, TimeoutRetrans))
            timeout = At(jiffies, TimeoutRetrans);
        else if (index == TcpFlagIndex.Rst)
            timeout = At(jiffies, (int)TcpState.Close);
        else if (((tcp.Original.Flags | tcp.Reply.Flags) & TcpPeer.DataUnacknowledged) != 0 &&
                 stateTimeout > At(jiffies, TimeoutUnacknowledged))
            timeout = At(jiffies, TimeoutUnacknowledged);
        else if (tcp.LastWindow == 0 && stateTimeout > At(jiffies, TimeoutRetrans))
            timeout = At(jiffies, TimeoutRetrans);
        else
            timeout = stateTimeout;

        if ((status & FlowStatus.SeenReply) == 0)
        {
            // Only a RST came back: not a connection worth keeping (--RR).
            if (segment.HasRst)
                return new TrackOutcome(TrackVerdict.AcceptAndKill, 0, false);

            // A retransmitted SYN does not renew the timer, or port reuse could keep the entry alive for ever.
            if (index == TcpFlagIndex.Syn && oldState == TcpState.SynSent)
                return new TrackOutcome(TrackVerdict.Accept, 0, false);

            // A mid-stream pickup without a reply must not earn the long ESTABLISHED timeout.
            uint unacknowledged = At(jiffies, TimeoutUnacknowledged);
            if (newState == TcpState.Established && timeout > unacknowledged)
                timeout = unacknowledged;
        }
        else if ((status & FlowStatus.Assured) == 0 &&
                 (oldState == TcpState.SynRecv || oldState == TcpState.Established) &&
                 newState == TcpState.Established)
        {
            status |= FlowStatus.Assured;
        }

        return TrackOutcome.Refresh(timeout);
    }

    // The state of the side whose SYN was ignored, taken from what was recorded of it; the answering side starts over.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Resynchronize(ref TcpConnection tcp, ref TcpPeer sender)
    {
        ref TcpPeer last = ref Peer(ref tcp, tcp.LastDirection);
        last.End = tcp.LastEnd;
        last.MaxEnd = tcp.LastEnd;
        last.MaxWindow = tcp.LastWindow == 0 ? 1u : tcp.LastWindow;
        last.Scale = tcp.LastWindowScale;
        tcp.LastFlags = (byte)(tcp.LastFlags & ~TcpPeer.ExpectChallengeAck);
        last.Flags = tcp.LastFlags;
        sender = default(TcpPeer) with { Flags = (byte)(sender.Flags & TcpPeer.BeLiberal) };
    }

    // What an ignored packet leaves behind (the last_* fields), for the packet that may prove it right.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordIgnored(ref TcpConnection tcp, FlowDirection dir, TcpFlagIndex index, TcpState oldState, in TcpSegment segment)
    {
        tcp.LastIndex = index;
        tcp.LastDirection = dir;
        tcp.LastSequence = segment.Sequence;
        tcp.LastEnd = segment.End;
        tcp.LastWindow = segment.Window;
        if (index == TcpFlagIndex.Syn && dir == FlowDirection.Original)
        {
            var seen = default(TcpPeer);
            ParseOptions(segment.Options, ref seen);
            tcp.LastFlags = (byte)(seen.Flags & (TcpPeer.WindowScale | TcpPeer.SackPermitted));
            tcp.LastWindowScale = (seen.Flags & TcpPeer.WindowScale) != 0 ? seen.Scale : (byte)0;
            if (oldState == TcpState.LastAck)
                tcp.LastFlags |= TcpPeer.ExpectChallengeAck;
        }

        if (oldState == TcpState.SynSent && index == TcpFlagIndex.Ack && dir == FlowDirection.Reply)
            tcp.LastAck = segment.Acknowledgment;
    }

    /// <summary>tcp_can_early_drop: closing connections may be evicted at the table limit even when assured.</summary>
    public static bool CanEarlyDrop(TcpState state)
        => state is TcpState.FinWait or TcpState.LastAck or TcpState.TimeWait or TcpState.Close or TcpState.CloseWait;

    /// <summary>The timeout of a kernel timeout index (TCP_CONNTRACK_*; 10 RETRANS, 11 UNACK) from a policy or the defaults.</summary>
    public static uint Timeout(TimeoutPolicySnapshot timeouts, int policyId, int kernelIndex)
        => At(timeouts.JiffiesFor(policyId, TimeoutProtocols.Tcp).AsSpan(), kernelIndex);

    // The netlink attributes start at SYN_SENT, so attribute order is the kernel index - 1 (NONE reads SYN_SENT's).
    private static uint At(ReadOnlySpan<uint> jiffies, int kernelIndex) => jiffies[kernelIndex == 0 ? 0 : kernelIndex - 1];

    private enum WindowResult : byte { Accept, Ignore, Invalid }

    // tcp_in_window, with no NAT sequence offset; beLiberal is nf_conntrack_tcp_be_liberal, which nf_tcp_log_invalid
    // reads as the sender's own BE_LIBERAL flag.
    private static WindowResult InWindow(ref TcpConnection tcp, FlowDirection dir, TcpFlagIndex index, in TcpSegment segment, bool beLiberal)
    {
        ref TcpPeer sender = ref Peer(ref tcp, dir);
        ref TcpPeer receiver = ref Peer(ref tcp, Other(dir));
        uint seq = segment.Sequence;
        uint ack = segment.Acknowledgment;
        uint sack = ack;
        uint win = segment.Window;
        uint end = segment.End;

        if ((receiver.Flags & TcpPeer.SackPermitted) != 0 && !segment.Options.IsEmpty)
            HighestSack(segment.Options, ref sack);

        if (sender.MaxWindow == 0)
        {
            if (segment.HasSyn)
            {
                InitSender(ref sender, ref receiver, segment, end, win, dir);
                if (!segment.HasAck)
                    return WindowResult.Accept; // simultaneous open
            }
            else
            {
                // Mid-connection: its history is lost to us, so take what this packet says.
                sender.End = end;
                uint scaledWindow = win << sender.Scale;
                sender.MaxWindow = scaledWindow == 0 ? 1 : scaledWindow;
                sender.MaxEnd = end + sender.MaxWindow;
                if (receiver.MaxWindow == 0)
                    receiver.End = receiver.MaxEnd = sack;
                else if (sack == receiver.End + 1)
                    receiver.End++; // a reply to a keepalive
            }
        }
        else if (segment.HasSyn && After(end, sender.End) &&
                 (tcp.State == TcpState.SynSent || tcp.State == TcpState.SynRecv))
        {
            // RFC 793: a reinitialised TCP may use larger sequence numbers at once; start this side over.
            InitSender(ref sender, ref receiver, segment, end, win, dir);
            if (dir == FlowDirection.Reply && !segment.HasAck)
                return WindowResult.Accept;
        }

        if (!segment.HasAck)
        {
            ack = sack = receiver.End;
        }
        else if ((segment.Flags & (TcpSegment.AckFlag | TcpSegment.Rst)) == (TcpSegment.AckFlag | TcpSegment.Rst) && ack == 0)
        {
            ack = sack = receiver.End; // broken stacks send RST|ACK with a zero ack
        }

        if (segment.HasRst && seq == 0 && tcp.State == TcpState.SynSent)
            seq = end = sender.End; // RST answering a SYN

        bool liberal = (sender.Flags & TcpPeer.BeLiberal) != 0 || beLiberal;
        uint maxAckWindow = sender.MaxWindow > MaxAckWindowConstant ? sender.MaxWindow : MaxAckWindowConstant;
        if (!Before(seq, sender.MaxEnd + 1))
        {
            uint overshot = end - sender.MaxEnd + 1;
            bool ackOk = After(sack, receiver.End - maxAckWindow - 1);
            bool inReceiveWindow = receiver.MaxWindow != 0 && After(end, sender.End - receiver.MaxWindow - 1);
            if (inReceiveWindow && ackOk && overshot <= receiver.MaxWindow && Before(sack, receiver.End + 1))
            {
                // The peer sent more than the window allows; remember it so the ACK for it is not over the bound.
                sender.End = end;
                sender.Flags |= TcpPeer.DataUnacknowledged;
                return liberal ? WindowResult.Accept : WindowResult.Ignore;
            }

            return liberal ? WindowResult.Accept : WindowResult.Invalid;
        }

        if (!Before(sack, receiver.End + 1))
            return liberal ? WindowResult.Accept : WindowResult.Invalid;

        if (receiver.MaxWindow != 0 && !After(end, sender.End - receiver.MaxWindow - 1))
            return liberal ? WindowResult.Accept : WindowResult.Ignore; // already acknowledged data retransmitted
        if (!After(sack, receiver.End - maxAckWindow - 1))
            return liberal ? WindowResult.Accept : WindowResult.Ignore; // an overly delayed ACK

        if (!segment.HasSyn)
            win <<= sender.Scale;

        uint scaled = win + (sack - ack);
        if (sender.MaxWindow < scaled)
            sender.MaxWindow = scaled;
        if (After(end, sender.End))
        {
            sender.End = end;
            sender.Flags |= TcpPeer.DataUnacknowledged;
        }

        if (segment.HasAck)
        {
            if ((sender.Flags & TcpPeer.MaxAckSet) == 0)
            {
                sender.MaxAck = ack;
                sender.Flags |= TcpPeer.MaxAckSet;
            }
            else if (After(ack, sender.MaxAck))
            {
                sender.MaxAck = ack;
            }
        }

        if (receiver.MaxWindow != 0 && After(end, sender.MaxEnd))
            receiver.MaxWindow += end - sender.MaxEnd;
        if (After(sack + win, receiver.MaxEnd - 1))
        {
            receiver.MaxEnd = sack + win;
            if (win == 0)
                receiver.MaxEnd++;
        }

        if (ack == receiver.End)
            receiver.Flags = (byte)(receiver.Flags & ~TcpPeer.DataUnacknowledged);

        // The same ACK segment again and again: a retransmission (counted towards the RETRANS timeout).
        if (index == TcpFlagIndex.Ack)
        {
            if (tcp.LastDirection == dir && tcp.LastSequence == seq && tcp.LastAck == ack &&
                tcp.LastEnd == end && tcp.LastWindow == segment.Window)
            {
                tcp.Retransmissions++; // a u8 in the kernel too: it wraps
            }
            else
            {
                tcp.LastDirection = dir;
                tcp.LastSequence = seq;
                tcp.LastAck = ack;
                tcp.LastEnd = end;
                tcp.LastWindow = segment.Window;
                tcp.Retransmissions = 0;
            }
        }

        return WindowResult.Accept;
    }

    // nf_tcp_handle_invalid: an assured connection answered out of window by a FIN or RST from both sides in turn
    // drops to the UNACK timeout, so dead connections do not linger for days.
    private static TrackOutcome HandleInvalid(
        ref TcpConnection tcp, FlowStatus status, FlowDirection dir, TcpFlagIndex index,
        TimeoutPolicySnapshot timeouts, int policyId, uint remaining)
    {
        if ((status & FlowStatus.Assured) == 0 || (index != TcpFlagIndex.Rst && index != TcpFlagIndex.Fin))
            return TrackOutcome.Invalid;

        if (tcp.LastDirection != dir && (tcp.LastIndex == TcpFlagIndex.Fin || tcp.LastIndex == TcpFlagIndex.Rst))
        {
            uint unacknowledged = Timeout(timeouts, policyId, TimeoutUnacknowledged);
            if (remaining >= 120 * (uint)Recent.Jiffies.Hz && remaining > unacknowledged)
                return new TrackOutcome(TrackVerdict.Invalid, unacknowledged, true);
        }
        else
        {
            tcp.LastIndex = index;
            tcp.LastDirection = dir;
        }

        return TrackOutcome.Invalid;
    }

    private static void InitSender(ref TcpPeer sender, ref TcpPeer receiver, in TcpSegment segment, uint end, uint win, FlowDirection dir)
    {
        sender.End = sender.MaxEnd = end;
        sender.MaxWindow = win == 0 ? 1 : win;
        ParseOptions(segment.Options, ref sender);

        // RFC 1323: scaling applies only when both sides offered it.
        if (dir == FlowDirection.Reply &&
            !((sender.Flags & TcpPeer.WindowScale) != 0 && (receiver.Flags & TcpPeer.WindowScale) != 0))
        {
            sender.Scale = 0;
            receiver.Scale = 0;
        }
    }

    // tcp_options: window scale and SACK-permitted.
    private static void ParseOptions(ReadOnlySpan<byte> options, ref TcpPeer peer)
    {
        if (options.IsEmpty)
            return;
        peer.Scale = 0;
        peer.Flags &= TcpPeer.BeLiberal;
        int i = 0;
        while (NextOption(options, ref i, out byte kind, out var option))
        {
            if (kind == 4 && option.Length == 2)
            {
                peer.Flags |= TcpPeer.SackPermitted;
            }
            else if (kind == 3 && option.Length == 3)
            {
                peer.Scale = Math.Min(option[2], (byte)MaxWindowScale);
                peer.Flags |= TcpPeer.WindowScale;
            }
        }
    }

    // tcp_sack: the highest right edge among the SACK blocks.
    private static void HighestSack(ReadOnlySpan<byte> options, ref uint sack)
    {
        int i = 0;
        while (NextOption(options, ref i, out byte kind, out var option))
        {
            if (kind == 5 && option.Length >= 10 && (option.Length - 2) % 8 == 0)
            {
                for (int block = 2; block < option.Length; block += 8)
                {
                    uint right = BinaryPrimitives.ReadUInt32BigEndian(option.Slice(block + 4));
                    if (After(right, sack))
                        sack = right;
                }
                return;
            }
        }
    }

    /// <summary>
    /// The TCP option at <paramref name="i"/> (kind and length bytes included), stepping over NOPs; false at
    /// the end-of-list option or where a length runs past the options, where the kernel's walks stop too.
    /// </summary>
    private static bool NextOption(ReadOnlySpan<byte> options, ref int i, out byte kind, out ReadOnlySpan<byte> option)
    {
        option = default;
        kind = 0;
        while (i < options.Length && options[i] == 1)
            i++;
        if (i >= options.Length || options[i] == 0 || options.Length - i < 2)
            return false;
        int size = options[i + 1];
        if (size < 2 || size > options.Length - i)
            return false;
        kind = options[i];
        option = options.Slice(i, size);
        i += size;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref TcpPeer Peer(ref TcpConnection tcp, FlowDirection dir)
        => ref dir == FlowDirection.Original ? ref tcp.Original : ref tcp.Reply;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FlowDirection Other(FlowDirection dir) => dir == FlowDirection.Original ? FlowDirection.Reply : FlowDirection.Original;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Before(uint a, uint b) => (int)(a - b) < 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool After(uint a, uint b) => (int)(b - a) < 0;
}
