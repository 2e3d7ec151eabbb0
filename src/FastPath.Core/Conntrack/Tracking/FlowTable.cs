// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Memory;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>One connection in a <see cref="FlowTable"/>.</summary>
public struct Flow
{
    // What a lookup and the sweep read comes first, in the first 64 bytes, so that one or two cache lines answer
    // them (a connection is about 200 bytes; in a table of a million most of them are far from the cache).

    /// <summary>The tuple of the packet that created the connection; the reply direction is its reverse. Set at creation.</summary>
    public ConnectionKey Original;

    /// <summary>Jiffies at which the connection expires (it is expired once now reaches it: nf_ct_is_expired); the owning worker writes it.</summary>
    public ulong Deadline;

    internal int Next;       // bucket chain, or free list
    internal bool InUse;
    internal bool Confirmed;

    /// <summary>SEEN_REPLY and ASSURED; the owning worker writes them.</summary>
    public FlowStatus Status;

    // Set at creation, then fixed.

    /// <summary>The timeout policy (a <see cref="TimeoutPolicy.Id"/>) chosen by -j CT --timeout; 0 for the defaults.</summary>
    public int PolicyId;

    /// <summary>Jiffies at the first packet (the UDP tracker's stream delay counts from here).</summary>
    public ulong CreatedAt;

    // Mutable, by the owning worker only.

    /// <summary>The TCP state machine; unused for other protocols.</summary>
    public TcpConnection Tcp;

    // The counters next to the TCP state, so that a TCP packet's update touches one cache line fewer.
    public ulong OriginalPackets;
    public ulong OriginalBytes;
    public ulong ReplyPackets;
    public ulong ReplyBytes;

    /// <summary>The SCTP state machine and verification tags; unused for other protocols.</summary>
    public SctpConnection Sctp;

    /// <summary>The GRE timeouts fixed at creation; unused for other protocols.</summary>
    public GreConnection Gre;

    public readonly bool IsAssured => (Status & FlowStatus.Assured) != 0;

    /// <summary>nf_ct_expires / HZ: whole seconds until the deadline, never negative.</summary>
    public readonly long SecondsLeft(ulong now)
    {
        long remaining = (long)(Deadline - now);
        return remaining > 0 ? remaining / Recent.Jiffies.Hz : 0;
    }
}

/// <summary>What the table made of one packet.</summary>
public readonly record struct TrackResult
{
    // The four values in one 64-bit word, returned in a register: as four fields (two registers) the JIT built the
    // result in memory field by field and read it back whole, which stalls store forwarding on every packet.
    private readonly ulong _packed;

    public TrackResult(CtState state, FlowDirection direction, int flow, TrackDisposition disposition)
        => _packed = (uint)flow | ((ulong)state << 32) | ((ulong)direction << 40) | ((ulong)disposition << 48);

    public CtState State => (CtState)(byte)(_packed >> 32);
    public FlowDirection Direction => (FlowDirection)(byte)(_packed >> 40);

    /// <summary>The connection's index in the table, or <see cref="FlowTable.NoFlow"/>.</summary>
    public int Flow => (int)_packed;
    public TrackDisposition Disposition => (TrackDisposition)(byte)(_packed >> 48);

    public static TrackResult WithoutFlow(CtState state, TrackDisposition disposition = TrackDisposition.NoFlow)
        => new(state, FlowDirection.Original, FlowTable.NoFlow, disposition);
}

/// <summary>What the caller must do after <see cref="FlowTable.Track"/>.</summary>
public enum TrackDisposition : byte
{
    /// <summary>The packet belongs to (or is RELATED to) an existing connection: nothing to do.</summary>
    Existing,

    /// <summary>A new connection waits in <see cref="TrackResult.Flow"/>: <see cref="FlowTable.Confirm"/> it if the packet is accepted, <see cref="FlowTable.Abandon"/> it if dropped.</summary>
    Unconfirmed,

    /// <summary>No connection (INVALID or UNTRACKED); the packet continues through the rules.</summary>
    NoFlow,

    /// <summary>The table is full and nothing could be evicted: drop the packet (the kernel's "table full, dropping packet").</summary>
    TableFull,

    /// <summary>Not something this table tracks (non-IP, a non-first fragment): the caller decides.</summary>
    Unsupported,

    /// <summary>An ICMP or ICMPv6 message the kernel's icmp_error refuses (checksum, type, an error about no connection): INVALID, no connection.</summary>
    IcmpError,

    /// <summary>
    /// The packet, a RST before any reply, ended its connection (nf_ct_kill_acct): it is gone from the table, and the
    /// packet keeps it as <see cref="FlowTable.KilledStatus"/> and <see cref="FlowTable.KilledSecondsLeft"/> say.
    /// </summary>
    Killed,
}

/// <summary>
/// One worker's connection table: preallocated entries in an array, hash buckets chained through indices, no
/// allocation per packet. Both directions of a connection hash to the same bucket (<see cref="ConnectionKey.SymmetricHash"/>)
/// and find the same entry. Not thread-safe: only the owning worker calls it, including <see cref="Sweep"/>.
/// </summary>
public sealed class FlowTable
{
    public const int NoFlow = -1;

    /// <summary>Buckets early drop looks through, starting at the new connection's (NF_CT_EVICTION_RANGE).</summary>
    public const int EvictionRange = 8;

    private const byte Ipv6NoNextHeader = 59;
    private const byte IcmpProtocol = 1, IcmpV6Protocol = 58;

    // The table's counters and cursors are written on every packet: no other worker's object may share their cache line.
    private readonly CacheLineGuard _leadingGuard = new();
    private readonly CacheLineGuard _trailingGuard;
    private readonly HugePageArray<Flow> _flows;

    // The sweep's view: for each confirmed connection a deadline no later than its own, 0 for a slot without one.
    // Eight bytes a slot instead of a whole Flow, so a pass over a large table reads a small fraction of the memory.
    // A packet that pushes the deadline out leaves it alone (no cache miss into it per packet); the sweep catches up
    // when it finds the view's deadline passed but not the connection's.
    private readonly HugePageArray<ulong> _sweepDeadlines;
    private readonly HugePageArray<int> _buckets;
    private readonly int _bucketMask;
    private int _free;
    private int _sweepCursor;
    private bool _sweepEvicts; // the kernel's conntrack_gc_work.early_drop: set by a refusal, cleared by a full pass
    private int _limit;
    private volatile bool _verifiesChecksums = true;
    private volatile bool _timestamps;
    private volatile bool _accounting;
    private volatile TcpSettings _tcpSettings = TcpSettings.Kernel;

    /// <param name="capacity">Connections before early drop (the kernel's nf_conntrack_max).</param>
    /// <param name="buckets">Hash buckets, a power of two; 0 picks the next power of two at or above the capacity.</param>
    public FlowTable(int capacity, int buckets = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (buckets == 0)
            buckets = (int)BitOperations.RoundUpToPowerOf2((uint)capacity);
        if (!BitOperations.IsPow2(buckets))
            throw new ArgumentOutOfRangeException(nameof(buckets), buckets, "a power of two");
        _flows = new HugePageArray<Flow>(capacity);
        _sweepDeadlines = new HugePageArray<ulong>(capacity);
        _limit = capacity;
        _buckets = new HugePageArray<int>(buckets);
        _bucketMask = buckets - 1;
        _buckets.Fill(NoFlow);
        for (int i = 0; i < capacity; i++)
            _flows[i].Next = i + 1 < capacity ? i + 1 : NoFlow;
        _free = 0;
        _trailingGuard = new();
    }

    public int Capacity => _flows.Length;

    /// <summary>The worker (shard) owning this table, for the connections' ids (<see cref="FlowView.IdOf"/>).</summary>
    public int Shard { get; init; }

    /// <summary>
    /// Connections held before early drop (nf_conntrack_max's share): the capacity unless lowered. Written by
    /// management, read by the owning worker; a new value applies from the next new connection.
    /// </summary>
    public int Limit
    {
        get => Volatile.Read(ref _limit);
        set => Volatile.Write(ref _limit, Math.Clamp(value, 1, _flows.Length));
    }

    /// <summary>
    /// nf_conntrack_checksum (the kernel's default: on): a TCP, UDP, UDP-Lite, ICMP, ICMPv6 or SCTP packet whose
    /// checksum does not hold is INVALID and touches no connection, as the kernel checks every packet it tracks at
    /// PREROUTING, which is where a bump in the wire meets all of its traffic. Written by management, read by the
    /// owning worker from its next packet.
    /// </summary>
    public bool VerifiesChecksums
    {
        get => _verifiesChecksums;
        set => _verifiesChecksums = value;
    }

    /// <summary>
    /// nf_conntrack_timestamp (the kernel's default: off): connections created while it is on are
    /// <see cref="FlowStatus.Timestamped"/>, as the kernel adds its tstamp extension only to connections created
    /// while it is on. Written by management, read by the owning worker from its next packet.
    /// </summary>
    public bool Timestamps
    {
        get => _timestamps;
        set => _timestamps = value;
    }

    /// <summary>
    /// nf_conntrack_acct (the kernel's default: off): connections created while it is on are
    /// <see cref="FlowStatus.Accounted"/>, as the kernel adds its accounting extension only to connections created
    /// while it is on. Written by management, read by the owning worker from its next packet.
    /// </summary>
    public bool Accounting
    {
        get => _accounting;
        set => _accounting = value;
    }

    /// <summary>The TCP tracker's switches (nf_conntrack_tcp_loose and the others). Written by management, read by the owning worker from its next packet.</summary>
    public TcpSettings TcpSettings
    {
        get => _tcpSettings;
        set => _tcpSettings = value;
    }

    /// <summary>Hash buckets (the kernel's nf_conntrack_buckets).</summary>
    public int Buckets => _buckets.Length;

    /// <summary>Connections held, unconfirmed ones included (the kernel counts a conntrack from its allocation).</summary>
    public int Count { get; private set; }

    /// <summary>Connections evicted to make room (the kernel's early_drop statistic).</summary>
    public long EarlyDrops { get; private set; }

    /// <summary>Packets refused because the table was full and nothing could be evicted.</summary>
    public long TableFullDrops { get; private set; }

    /// <summary>New TCP connections found already confirmed by another packet when theirs came to confirm them (insert_failed): the packet is dropped.</summary>
    public long ClashDrops { get; private set; }

    /// <summary>New connections of other protocols found so: the packet joins the confirmed one (clash_resolve).</summary>
    public long ClashResolves { get; private set; }

    /// <summary>Packets tracking found INVALID, other than those counted as <see cref="IcmpErrors"/> or refused for a full table.</summary>
    public long InvalidPackets { get; private set; }

    /// <summary>ICMP and ICMPv6 messages icmp_error refused (bad checksum, unknown type, an error about no connection).</summary>
    public long IcmpErrors { get; private set; }

    /// <summary>The status of the connection the last <see cref="TrackDisposition.Killed"/> packet ended, as that packet sees it.</summary>
    public FlowStatus KilledStatus { get; private set; }

    /// <summary>The seconds that connection had left when the packet ended it.</summary>
    public long KilledSecondsLeft { get; private set; }

    /// <summary>
    /// The kernel's per-cpu conntrack statistics for this worker (conntrack -S, /proc/net/stat/nf_conntrack). Written
    /// by the owning worker only; another thread reads values a little stale at worst (aligned 64-bit fields).
    /// </summary>
    public ConntrackStatistics Statistics => new(
        Invalid: InvalidPackets,
        Errors: IcmpErrors,
        InsertFailed: ClashDrops,
        Drops: TableFullDrops + ClashDrops,
        EarlyDrops: EarlyDrops,
        ClashResolves: ClashResolves);

    /// <summary>The connection at an index returned in a <see cref="TrackResult"/>.</summary>
    public ref readonly Flow this[int flow] => ref _flows[flow];

    /// <summary>Whether the kernel keys this protocol on ports (TCP, UDP, UDP-Lite, SCTP; DCCP went generic in 6.16).</summary>
    public static bool HasPorts(byte protocol) => protocol is 6 or 17 or 136 or 132;

    /// <summary>The tuple of a protocol the kernel keys on addresses and ports (TCP, UDP, UDP-Lite, SCTP).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ConnectionKey PortKeyOf(in ParsedPacket packet)
        => new(packet.L3, packet.Protocol, packet.Source, packet.Destination, packet.SourcePort, packet.DestinationPort);

    /// <summary>
    /// Connections from which the table no longer stays in a core's L2 cache (about 1 MB of entries, as
    /// <see cref="Rules.RulesetState.PrefetchedTableBytes"/>): below it, prefetching a bucket costs its hash and saves little.
    /// </summary>
    public const int PrefetchedConnections = 4096;

    /// <summary>
    /// Starts loading the hash bucket a TCP or UDP packet's lookup will read, when the table holds enough
    /// connections to be far from the cache. A hint: nothing changes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void PrefetchBucket(in ParsedPacket packet)
    {
        if (!Sse.IsSupported || Count < PrefetchedConnections || packet.L4 is not (L4Kind.Tcp or L4Kind.Udp))
            return;
        var key = PortKeyOf(packet);
        Sse.Prefetch0(Unsafe.AsPointer(ref _buckets[key.SymmetricHash() & (uint)_bucketMask]));
    }

    /// <summary>
    /// Tracks one packet at <paramref name="now"/> jiffies (nf_conntrack_in): finds or creates its connection,
    /// runs the protocol's tracker and returns the ct state a rule sees. A new connection is held unconfirmed: the
    /// caller confirms or abandons it before tracking the next packet. <paramref name="policyIdForNew"/> is the
    /// timeout policy a new connection takes (-j CT --timeout in the raw table); existing ones keep theirs.
    /// An INVALID packet is counted as the kernel counts it (<see cref="Statistics"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TrackResult Track(in ParsedPacket packet, ReadOnlySpan<byte> frame, ulong now, TimeoutPolicySnapshot timeouts, int policyIdForNew = 0)
    {
        var result = TrackPacket(packet, frame, now, timeouts, policyIdForNew);
        if (result.State == CtState.Invalid)
            CountInvalid(result.Disposition);
        return result;
    }

    // nf_conntrack_in's statistics: a full table counts as drop alone; an ICMP message icmp_error or icmpv6_error
    // refused counts as error; every other INVALID packet as invalid.
    private void CountInvalid(TrackDisposition disposition)
    {
        if (disposition == TrackDisposition.IcmpError)
            IcmpErrors++;
        else if (disposition != TrackDisposition.TableFull)
            InvalidPackets++;
    }

    /// <summary>
    /// <see cref="Track"/>'s work: a call of its own, with locals the JIT does not zero; inlined into the rule walk
    /// it shared that method's inlining budget and frame, and the small helpers of the common path became calls.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    [SkipLocalsInit]
    private TrackResult TrackPacket(in ParsedPacket packet, ReadOnlySpan<byte> frame, ulong now, TimeoutPolicySnapshot timeouts, int policyIdForNew)
    {
        // An IPv6 "no next header" has no upper-layer protocol: ipv6_skip_exthdr fails on it and the kernel lets the
        // packet go without a conntrack.
        if (packet.L3 == L3Kind.None || packet.Fragment == FragmentKind.NonFirst || (packet.L3 == L3Kind.IPv6 && packet.Protocol == Ipv6NoNextHeader))
            return TrackResult.WithoutFlow(CtState.Invalid, TrackDisposition.Unsupported);
        if (packet.L4 is not (L4Kind.Tcp or L4Kind.Udp))
            return TrackOtherProtocol(packet, frame, now, timeouts, policyIdForNew);

        var segment = default(TcpSegment);
        // tcp_error and udp_error run before anything else the tracker does.
        if (packet.L4 == L4Kind.Tcp &&
            (!TcpSegment.TryRead(frame, packet, out segment) || !TcpTracker.IsValidFlagCombination(packet.TcpFlags)
             || (_verifiesChecksums && !TransportChecksumHolds(frame, packet, TcpProtocol))))
            return TrackResult.WithoutFlow(CtState.Invalid);
        if (packet.L4 == L4Kind.Udp && _verifiesChecksums && !UdpChecksumHolds(frame, packet))
            return TrackResult.WithoutFlow(CtState.Invalid);

        var key = PortKeyOf(packet);
        return TrackKey(key, packet, segment, default, now, timeouts, policyIdForNew);
    }

    /// <summary>
    /// <see cref="Track"/> for a packet that is neither TCP nor UDP: its tuple, and the L4 bytes its tracker reads,
    /// or the result when the packet is decided without a lookup. Out of line: the TCP and UDP path then carries
    /// none of its locals.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TrackResult TrackOtherProtocol(in ParsedPacket packet, ReadOnlySpan<byte> frame, ulong now, TimeoutPolicySnapshot timeouts, int policyIdForNew)
    {
        ReadOnlySpan<byte> l4 = default; // the L4 header and payload, for the trackers that read more than the parser keeps
        ConnectionKey key;
        switch (packet.L4)
        {
            case L4Kind.Icmp or L4Kind.Icmpv6:
                bool ipv6 = packet.L4 == L4Kind.Icmpv6;
                // icmp_error and icmpv6_error check the checksum first: a neighbour solicitation failing it is INVALID, not UNTRACKED.
                if (_verifiesChecksums && !IcmpChecksumHolds(frame, packet, ipv6))
                    return IcmpErrorResult;
                if (ipv6 && IcmpTracker.IsRefusedRedirect(packet))
                    return IcmpErrorResult;
                switch (IcmpTracker.Classify(packet.IcmpType, ipv6, out byte requestType))
                {
                    case IcmpTracker.MessageKind.Error:
                        return Related(packet, frame, now);
                    case IcmpTracker.MessageKind.Untracked:
                        return TrackResult.WithoutFlow(CtState.Untracked);
                    case IcmpTracker.MessageKind.Invalid:
                        // icmp_error refuses a type past NR_ICMP_TYPES itself; the others fail to open a connection.
                        return !ipv6 && packet.IcmpType > IcmpTracker.LastIcmpType ? IcmpErrorResult : TrackResult.WithoutFlow(CtState.Invalid);
                }
                key = new ConnectionKey(packet.L3, packet.Protocol, packet.Source, packet.Destination, packet.IcmpId,
                    ConnectionKey.IcmpQuery(requestType, packet.IcmpCode));
                break;

            case L4Kind.Generic when packet.Protocol == SctpTracker.Protocol:
                // sctp_error: a packet shorter than the common header is INVALID before any lookup.
                if (!TryGetL4(frame, packet, out l4) || l4.Length < SctpTracker.CommonHeaderLength
                    || (_verifiesChecksums && !SctpTracker.ChecksumHolds(l4)))
                    return TrackResult.WithoutFlow(CtState.Invalid);
                key = PortKeyOf(packet);
                break;

            case L4Kind.Generic when packet.Protocol == UdpTracker.UdpLiteProtocol:
                if (!TryGetL4(frame, packet, out ReadOnlySpan<byte> datagram) || !UdpTracker.IsValidUdpLite(frame, packet, datagram, _verifiesChecksums))
                    return TrackResult.WithoutFlow(CtState.Invalid);
                key = PortKeyOf(packet);
                break;

            case L4Kind.Generic when packet.Protocol == GreTracker.Protocol:
                if (!TryGetL4(frame, packet, out l4) || !GreTracker.TryReadCallId(l4, out ushort callId))
                    return TrackResult.WithoutFlow(CtState.Invalid);
                key = new ConnectionKey(packet.L3, packet.Protocol, packet.Source, packet.Destination, 0, callId);
                break;

            case L4Kind.Generic when packet.Protocol == (packet.L3 == L3Kind.IPv4 ? IcmpV6Protocol : IcmpProtocol):
                // ICMPv6 in IPv4, or ICMP in IPv6: the kernel finds the protocol's tracker whatever the family, and its
                // packet handler refuses the other family (state->pf), so the packet is INVALID and opens nothing.
                return TrackResult.WithoutFlow(CtState.Invalid);

            case L4Kind.Generic:
                // Every other protocol here is tracked by the generic tracker on addresses alone.
                key = new ConnectionKey(packet.L3, packet.Protocol, packet.Source, packet.Destination, 0, 0);
                break;

            default:
                return TrackResult.WithoutFlow(CtState.Invalid, TrackDisposition.Unsupported);
        }
        return TrackKey(key, packet, default, l4, now, timeouts, policyIdForNew);
    }

    /// <summary>
    /// The lookup and the tracker for a packet with tuple <paramref name="key"/>. The common case, a packet its
    /// connection accepts, stays here; creating a connection and the verdicts that end one are out of line, so
    /// that their locals do not widen the frame every packet sets up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TrackResult TrackKey(in ConnectionKey key, in ParsedPacket packet, in TcpSegment segment, ReadOnlySpan<byte> l4,
        ulong now, TimeoutPolicySnapshot timeouts, int policyIdForNew)
    {
        uint hash = key.SymmetricHash();
        int flow = Find(key, hash, now, out FlowDirection dir, IsIcmpAnswer(packet));
        if (flow == NoFlow)
            return Create(key, hash, packet, segment, l4, now, timeouts, policyIdForNew);

        ref Flow entry = ref _flows[flow];
        CtState state = dir == FlowDirection.Reply || (entry.Status & FlowStatus.SeenReply) != 0 ? CtState.Established : CtState.New;
        TrackOutcome outcome = Handle(ref entry, packet, segment, l4, dir, now, timeouts, _tcpSettings);
        if (outcome.Verdict is not (TrackVerdict.Accept or TrackVerdict.Ignore))
            return Conclude(outcome, flow, dir, state, key, hash, packet, segment, l4, now, timeouts, policyIdForNew);

        if (outcome.Refreshes)
        {
            Refresh(ref entry, flow, DeadlineAfter(now, outcome.TimeoutJiffies));
            Account(ref entry, dir, packet.IpLength);
        }
        if (dir == FlowDirection.Reply)
            entry.Status |= FlowStatus.SeenReply;
        return new TrackResult(state, dir, flow, TrackDisposition.Existing);
    }

    /// <summary>The tracker's verdicts on an existing connection other than accepting the packet into it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TrackResult Conclude(TrackOutcome outcome, int flow, FlowDirection dir, CtState state, in ConnectionKey key, uint hash,
        in ParsedPacket packet, in TcpSegment segment, ReadOnlySpan<byte> l4, ulong now, TimeoutPolicySnapshot timeouts, int policyIdForNew)
    {
        ref Flow entry = ref _flows[flow];
        switch (outcome.Verdict)
        {
            case TrackVerdict.Invalid:
                if (outcome.Refreshes)
                    Refresh(ref entry, flow, DeadlineAfter(now, outcome.TimeoutJiffies));
                return TrackResult.WithoutFlow(CtState.Invalid);

            case TrackVerdict.AcceptAndKill:
                Account(ref entry, dir, packet.IpLength);
                // The packet still carries the connection: nf_conntrack_in marks SEEN_REPLY on a reply after the tracker
                // killed it, and the timer keeps the time it had (a kill does not refresh it).
                KilledStatus = entry.Status | (dir == FlowDirection.Reply ? FlowStatus.SeenReply : 0);
                KilledSecondsLeft = entry.SecondsLeft(now);
                Remove(flow);
                return new TrackResult(state, dir, NoFlow, TrackDisposition.Killed);

            default:
                Debug.Assert(outcome.Verdict == TrackVerdict.Reopen);
                Remove(flow);
                return Create(key, hash, packet, segment, l4, now, timeouts, policyIdForNew); // the first packet of a new connection
        }
    }

    /// <summary>
    /// Makes an unconfirmed connection visible to later packets, after its first packet was accepted
    /// (__nf_conntrack_confirm). A connection whose first packet is dropped is <see cref="Abandon"/>ed instead.
    /// Returns false, and forgets this one, when another packet of the same tuple has confirmed a connection in
    /// the meantime (possible only while the first packet's verdict travelled between workers).
    /// </summary>
    public bool Confirm(int flow, ulong now)
    {
        ref Flow entry = ref _flows[flow];
        Debug.Assert(entry.InUse && !entry.Confirmed);
        uint hash = entry.Original.SymmetricHash();
        if (Find(entry.Original, hash, now, out _) != NoFlow)
        {
            // nf_ct_resolve_clash: only TCP cannot share the connection that won (the caller drops its packet).
            if (entry.Original.Protocol == TcpProtocol)
                ClashDrops++;
            else
                ClashResolves++;
            Release(flow);
            return false;
        }
        entry.Confirmed = true;
        _sweepDeadlines[flow] = SweepDeadline(entry.Deadline);
        int bucket = (int)(hash & (uint)_bucketMask);
        entry.Next = _buckets[bucket];
        _buckets[bucket] = flow;
        return true;
    }

    /// <summary>Forgets an unconfirmed connection whose first packet was dropped.</summary>
    public void Abandon(int flow)
    {
        Debug.Assert(_flows[flow].InUse && !_flows[flow].Confirmed);
        Release(flow);
    }

    /// <summary>The connection a tuple belongs to in either direction, or <see cref="NoFlow"/>; expired ones are reaped on the way.</summary>
    public int Find(in ConnectionKey key, ulong now, out FlowDirection direction)
        => Find(key, key.SymmetricHash(), now, out direction);

    /// <summary>
    /// Looks at up to <paramref name="budget"/> slots from where the previous call stopped and deletes the expired
    /// connections among them. After a packet was refused for a full table, and until the sweep has gone once round
    /// the table, it also deletes from 95% of the capacity on what is not ASSURED or is a closing TCP connection (the
    /// kernel's gc_worker with early_drop and nf_conntrack_max95). Returns the number deleted. The owning worker calls it; when is management's choice.
    /// </summary>
    public int Sweep(ulong now, int budget)
    {
        int deleted = 0;
        int max95 = _sweepEvicts ? Limit / 100 * 95 : 0; // 0 below 100 entries, as in the kernel
        var deadlines = _sweepDeadlines;
        for (int i = 0; i < budget && i < deadlines.Length; i++)
        {
            int flow = _sweepCursor;
            _sweepCursor = flow + 1 == deadlines.Length ? 0 : flow + 1;
            if (_sweepCursor == 0)
                _sweepEvicts = false;
            ulong deadline = deadlines[flow];
            if (deadline == 0)
                continue;
            bool crowded = max95 != 0 && Count >= max95;
            if ((long)(deadline - now) <= 0 && !IsExpired(_flows[flow], now))
                deadline = deadlines[flow] = SweepDeadline(_flows[flow].Deadline); // refreshed since the view was written
            if ((long)(deadline - now) <= 0 || (crowded && CanGcEarlyDrop(_flows[flow])))
            {
                Remove(flow);
                deleted++;
            }
        }
        return deleted;
    }

    /// <summary>
    /// Adds a view of every confirmed, unexpired connection to <paramref name="into"/>, bucket by bucket as the kernel's
    /// ct_seq_show walks its hash (an expired one is not shown; the sweep deletes it). Unconfirmed connections stay
    /// invisible, as they are outside the kernel's hash. The owning worker calls it; it changes nothing.
    /// </summary>
    public void Snapshot(ulong now, TimeoutPolicySnapshot timeouts, List<FlowView> into)
    {
        int bucket = 0;
        while (!Snapshot(now, timeouts, into, ref bucket, _buckets.Length))
        {
        }
    }

    /// <summary>
    /// The same a slice at a time: up to <paramref name="buckets"/> buckets from <paramref name="bucket"/>, which it
    /// advances; true once the last bucket is done. A worker lists a large table over several turns of its loop
    /// instead of stalling on it; like the kernel's listing, the result is not one instant's table.
    /// </summary>
    public bool Snapshot(ulong now, TimeoutPolicySnapshot timeouts, List<FlowView> into, ref int bucket, int buckets)
    {
        int end = (int)Math.Min((long)bucket + buckets, _buckets.Length);
        for (; bucket < end; bucket++)
        {
            for (int flow = _buckets[bucket]; flow != NoFlow; flow = _flows[flow].Next)
            {
                ref readonly Flow entry = ref _flows[flow];
                if (!IsExpired(entry, now))
                    into.Add(View(flow, now, timeouts));
            }
        }
        return bucket == _buckets.Length;
    }

    /// <summary>
    /// conntrack -D and -F: deletes the confirmed, unexpired connections that <paramref name="matches"/> accepts, up to
    /// <paramref name="buckets"/> buckets from <paramref name="bucket"/>, which it advances, adding a view of each as it
    /// was when deleted to <paramref name="deleted"/>; true once the last bucket is done. A later packet of a deleted
    /// connection starts a new one, as after the kernel's nf_ct_delete. The owning worker calls it.
    /// </summary>
    public bool Delete(ulong now, TimeoutPolicySnapshot timeouts, Func<FlowView, bool> matches, List<FlowView> deleted, ref int bucket, int buckets)
    {
        int end = (int)Math.Min((long)bucket + buckets, _buckets.Length);
        for (; bucket < end; bucket++)
        {
            int flow = _buckets[bucket];
            while (flow != NoFlow)
            {
                int next = _flows[flow].Next;
                ref readonly Flow entry = ref _flows[flow];
                if (!IsExpired(entry, now) && View(flow, now, timeouts) is var view && matches(view))
                {
                    deleted.Add(view);
                    Remove(flow);
                }
                flow = next;
            }
        }
        return bucket == _buckets.Length;
    }

    private FlowView View(int flow, ulong now, TimeoutPolicySnapshot timeouts)
    {
        ref readonly Flow entry = ref _flows[flow];
        return FlowView.Of(entry, now, timeouts.FindById(entry.PolicyId)?.Name, FlowView.IdOf(Shard, flow, entry.CreatedAt));
    }

    /// <param name="icmpAnswer">
    /// For an ICMP query tuple, which holds the request's type whichever message it comes from: whether the message is
    /// the answer (echo reply, ...). The kernel's tuples hold the message's own type, so an answer only ever matches a
    /// connection's reply direction and a request only its original one: a request from the server with the
    /// identifier of the client's echo is a connection of its own, and an answer from the client matches nothing.
    /// </param>
    private int Find(in ConnectionKey key, uint hash, ulong now, out FlowDirection direction, bool icmpAnswer = false)
    {
        // The tuple and its reverse (nf_ct_invert_tuple) compared at once, without building the reverse: a connection
        // matches when family and protocol agree and either all the rest does or the endpoints match crosswise.
        uint kind = (uint)key.Family | ((uint)key.Protocol << 8);
        uint ports = key.SourcePort | ((uint)key.DestinationPort << 16);
        bool icmp = ConnectionKey.IsIcmp(key.Protocol, key.Family);
        uint reversePorts = icmp ? ports : BitOperations.RotateRight(ports, 16);
        bool mayBeOriginal = !icmp || !icmpAnswer, mayBeReply = !icmp || icmpAnswer;
        ulong sourceUpper = key.Source.Upper, sourceLower = key.Source.Lower;
        ulong destinationUpper = key.Destination.Upper, destinationLower = key.Destination.Lower;
        int flow = _buckets[hash & (uint)_bucketMask];
        while (flow != NoFlow)
        {
            ref Flow entry = ref _flows[flow];
            ref readonly ConnectionKey original = ref entry.Original;
            int next = entry.Next;
            uint originalPorts = original.SourcePort | ((uint)original.DestinationPort << 16);
            ulong same = (original.Source.Upper ^ sourceUpper) | (original.Source.Lower ^ sourceLower)
                | (original.Destination.Upper ^ destinationUpper) | (original.Destination.Lower ^ destinationLower)
                | (originalPorts ^ ports);
            ulong crosswise = (original.Source.Upper ^ destinationUpper) | (original.Source.Lower ^ destinationLower)
                | (original.Destination.Upper ^ sourceUpper) | (original.Destination.Lower ^ sourceLower)
                | (originalPorts ^ reversePorts);
            bool asOriginal = mayBeOriginal && same == 0;
            if (((uint)original.Family | ((uint)original.Protocol << 8)) == kind && (asOriginal || (mayBeReply && crosswise == 0)))
            {
                if (IsExpired(entry, now))
                {
                    Remove(flow); // nf_ct_gc_expired: a packet never revives an expired connection
                }
                else
                {
                    direction = asOriginal ? FlowDirection.Original : FlowDirection.Reply;
                    return flow;
                }
            }
            flow = next;
        }
        direction = FlowDirection.Original;
        return NoFlow;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TrackResult Create(in ConnectionKey key, uint hash, in ParsedPacket packet, in TcpSegment segment, ReadOnlySpan<byte> l4,
        ulong now, TimeoutPolicySnapshot timeouts, int policyId)
    {
        if (Count >= Limit && !EarlyDrop(hash, now))
        {
            TableFullDrops++;
            _sweepEvicts = true;
            return TrackResult.WithoutFlow(CtState.Invalid, TrackDisposition.TableFull);
        }

        int flow = _free;
        ref Flow entry = ref _flows[flow];
        _free = entry.Next;
        Count++;
        entry = default;
        entry.InUse = true;
        entry.Next = NoFlow;
        entry.Original = key;
        entry.PolicyId = policyId;
        entry.CreatedAt = now;
        entry.Status = (_timestamps ? FlowStatus.Timestamped : 0) | (_accounting ? FlowStatus.Accounted : 0);

        if (packet.L4 == L4Kind.Tcp && !TcpTracker.TryCreate(ref entry.Tcp, segment, _tcpSettings.Loose))
        {
            Release(flow);
            return TrackResult.WithoutFlow(CtState.Invalid);
        }

        if (packet.L4 is L4Kind.Icmp or L4Kind.Icmpv6 &&
            IcmpTracker.Classify(packet.IcmpType, packet.L4 == L4Kind.Icmpv6, out _) != IcmpTracker.MessageKind.Request)
        {
            Release(flow); // a reply without its request cannot open a connection
            return TrackResult.WithoutFlow(CtState.Invalid);
        }

        TrackOutcome outcome = Handle(ref entry, packet, segment, l4, FlowDirection.Original, now, timeouts, _tcpSettings);
        if (outcome.Verdict is TrackVerdict.Invalid or TrackVerdict.Reopen)
        {
            Release(flow);
            return TrackResult.WithoutFlow(CtState.Invalid);
        }

        entry.Deadline = DeadlineAfter(now, outcome.TimeoutJiffies);
        Account(ref entry, FlowDirection.Original, packet.IpLength);
        return new TrackResult(CtState.New, FlowDirection.Original, flow, TrackDisposition.Unconfirmed);
    }

    private static TrackOutcome Handle(ref Flow entry, in ParsedPacket packet, in TcpSegment segment, ReadOnlySpan<byte> l4,
        FlowDirection dir, ulong now, TimeoutPolicySnapshot timeouts, TcpSettings tcpSettings)
    {
        switch (packet.L4)
        {
            case L4Kind.Tcp:
                uint remaining = IsExpired(entry, now) ? 0 : (uint)Math.Min(entry.Deadline - now, uint.MaxValue);
                return TcpTracker.Packet(ref entry.Tcp, ref entry.Status, dir, segment, timeouts, entry.PolicyId, remaining, tcpSettings);
            case L4Kind.Udp:
                return UdpTracker.Packet(ref entry.Status, entry.CreatedAt, now, timeouts, entry.PolicyId);
            case L4Kind.Icmp or L4Kind.Icmpv6:
                return IcmpTracker.Packet(timeouts, entry.PolicyId, packet.L4 == L4Kind.Icmpv6);
            case L4Kind.Generic when packet.Protocol == UdpTracker.UdpLiteProtocol:
                return UdpTracker.Packet(ref entry.Status, entry.CreatedAt, now, timeouts, entry.PolicyId, udpLite: true);
            case L4Kind.Generic when packet.Protocol == SctpTracker.Protocol:
                return SctpTracker.Packet(ref entry.Sctp, ref entry.Status, entry.Confirmed, dir, l4, timeouts, entry.PolicyId);
            case L4Kind.Generic when packet.Protocol == GreTracker.Protocol:
                return GreTracker.Packet(ref entry.Gre, ref entry.Status, entry.Confirmed, timeouts, entry.PolicyId);
            default:
                return GenericTracker.Packet(timeouts, entry.PolicyId);
        }
    }

    private const byte TcpProtocol = 6;

    private static TrackResult IcmpErrorResult => TrackResult.WithoutFlow(CtState.Invalid, TrackDisposition.IcmpError);

    // tcp_error's nf_checksum: the pseudo-header and the whole segment.
    private static bool TransportChecksumHolds(ReadOnlySpan<byte> frame, in ParsedPacket packet, byte protocol)
        => TryGetL4(frame, packet, out ReadOnlySpan<byte> l4) && InternetChecksum.VerifyWithPseudoHeader(frame, packet, l4, protocol, l4.Length);

    // udp_error: a datagram sent without a checksum (0) has none to check.
    private static bool UdpChecksumHolds(ReadOnlySpan<byte> frame, in ParsedPacket packet)
        => TryGetL4(frame, packet, out ReadOnlySpan<byte> l4)
           && (BinaryPrimitives.ReadUInt16BigEndian(l4.Slice(6)) == 0 || InternetChecksum.VerifyWithPseudoHeader(frame, packet, l4, UdpTracker.UdpProtocol, l4.Length));

    // ICMP's checksum covers the message alone; ICMPv6's the pseudo-header too.
    private static bool IcmpChecksumHolds(ReadOnlySpan<byte> frame, in ParsedPacket packet, bool ipv6)
        => TryGetL4(frame, packet, out ReadOnlySpan<byte> l4)
           && (ipv6 ? InternetChecksum.VerifyWithPseudoHeader(frame, packet, l4, 58, l4.Length) : InternetChecksum.Verify(l4));

    private static bool IsIcmpAnswer(in ParsedPacket packet) =>
        packet.L4 is L4Kind.Icmp or L4Kind.Icmpv6
        && IcmpTracker.Classify(packet.IcmpType, packet.L4 == L4Kind.Icmpv6, out _) == IcmpTracker.MessageKind.Reply;

    // The IP payload from the L4 header on; false if the parsed packet does not fit the frame.
    private static bool TryGetL4(ReadOnlySpan<byte> frame, scoped in ParsedPacket packet, out ReadOnlySpan<byte> l4)
    {
        l4 = default;
        if ((uint)packet.L4Offset + (uint)packet.L4Length > (uint)frame.Length)
            return false;
        l4 = frame.Slice(packet.L4Offset, packet.L4Length);
        return true;
    }

    // nf_conntrack_handle_icmp → nf_conntrack_inet_error: the error belongs to the connection of the packet it
    // quotes, provided it travels back towards that packet's sender. It neither refreshes nor counts. An error
    // that belongs to none is INVALID, counted as error.
    private TrackResult Related(in ParsedPacket packet, ReadOnlySpan<byte> frame, ulong now)
    {
        if (!TryGetL4(frame, packet, out ReadOnlySpan<byte> message)
            || !IcmpTracker.TryReadQuotedKey(message, packet.L3, out ConnectionKey quoted, out bool quotedAnswer))
            return IcmpErrorResult;
        if (quoted.Source != packet.Destination)
            return IcmpErrorResult;

        // The quoted packet went one way; the error about it comes back the other way (a quoted request as its answer would).
        ConnectionKey back = quoted.Reverse();
        int flow = Find(back, back.SymmetricHash(), now, out FlowDirection dir, icmpAnswer: !quotedAnswer);
        return flow == NoFlow
            ? IcmpErrorResult
            : new TrackResult(CtState.Related, dir, flow, TrackDisposition.Existing);
    }

    // early_drop: from the new connection's bucket, look through EvictionRange buckets for the first that holds a
    // confirmed connection that is not ASSURED, and delete every such connection in it. Expired ones met on the way
    // are reaped but do not count.
    private bool EarlyDrop(uint hash, ulong now)
    {
        for (int i = 0; i < EvictionRange; i++)
        {
            int drops = 0;
            int flow = _buckets[(hash + (uint)i) & (uint)_bucketMask];
            while (flow != NoFlow)
            {
                ref Flow entry = ref _flows[flow];
                int next = entry.Next;
                if (IsExpired(entry, now))
                {
                    Remove(flow);
                }
                else if (!entry.IsAssured)
                {
                    Remove(flow);
                    drops++;
                }
                flow = next;
            }
            // early_drop_list goes through the whole bucket: every connection in it that is not ASSURED goes.
            if (drops > 0)
            {
                EarlyDrops += drops;
                return true;
            }
        }
        return false;
    }

    // gc_worker_can_early_drop: not ASSURED, or a TCP or SCTP connection that is closing.
    private static bool CanGcEarlyDrop(in Flow entry)
        => !entry.IsAssured
        || (entry.Original.Protocol == 6 && TcpTracker.CanEarlyDrop(entry.Tcp.State))
        || (entry.Original.Protocol == 132 && entry.Sctp.State is SctpState.ShutdownSent or SctpState.ShutdownReceived or SctpState.ShutdownAckSent);

    private static bool IsExpired(in Flow entry, ulong now) => (long)(entry.Deadline - now) <= 0;

    /// <summary>
    /// The deadline of a timeout given at <paramref name="now"/>. The kernel keeps ct->timeout in 32 bits and
    /// nf_ct_is_expired compares it with jiffies as a signed difference, so a timeout of 2^31 jiffies or more (a
    /// policy value of 8589935 s or more at HZ = 250) has expired as soon as it is set: the connection is gone.
    /// </summary>
    private static ulong DeadlineAfter(ulong now, uint timeoutJiffies) => timeoutJiffies > int.MaxValue ? now : now + timeoutJiffies;

    private static void Account(ref Flow entry, FlowDirection dir, int bytes)
    {
        if (dir == FlowDirection.Original)
        {
            entry.OriginalPackets++;
            entry.OriginalBytes += (ulong)bytes;
        }
        else
        {
            entry.ReplyPackets++;
            entry.ReplyBytes += (ulong)bytes;
        }
    }

    private void Remove(int flow)
    {
        ref Flow entry = ref _flows[flow];
        if (entry.Confirmed)
        {
            ref int link = ref _buckets[entry.Original.SymmetricHash() & (uint)_bucketMask];
            while (link != flow)
                link = ref _flows[link].Next;
            link = entry.Next;
        }
        Release(flow);
    }

    /// <summary>A confirmed connection's new deadline, in the entry and in the sweep's view.</summary>
    private void Refresh(ref Flow entry, int flow, ulong deadline)
    {
        if ((long)(deadline - entry.Deadline) < 0)
            _sweepDeadlines[flow] = SweepDeadline(deadline); // earlier than the view may hold
        entry.Deadline = deadline;
    }

    /// <summary>0 marks an empty slot in the sweep's view, so a deadline of exactly 0 is kept as 1 there (a jiffy late).</summary>
    private static ulong SweepDeadline(ulong deadline) => deadline == 0 ? 1 : deadline;

    private void Release(int flow)
    {
        _sweepDeadlines[flow] = 0;
        ref Flow entry = ref _flows[flow];
        entry.InUse = false;
        entry.Confirmed = false;
        entry.Next = _free;
        _free = flow;
        Count--;
    }
}
