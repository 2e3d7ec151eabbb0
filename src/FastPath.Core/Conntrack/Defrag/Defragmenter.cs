// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Defrag;

/// <summary>A fragment the defragmenter holds: the port's reference to it, and where its data sits in the datagram.</summary>
public struct HeldFragment
{
    public nint Handle;
    public nint Data;
    public uint Length;
    public uint WireLength;
    public long Timestamp;
    public int InPort;

    /// <summary>The fragment's number in a verdict trace (0 without one), so its line can be written when its datagram is decided.</summary>
    public long TraceNumber;

    internal int Offset;       // where its data goes in the datagram's payload
    internal int End;          // Offset + the bytes of it the datagram keeps (an IPv4 end is cut down to a multiple of 8)
    internal int PayloadStart; // where its data starts in the frame
    internal int L3Offset;
}

/// <summary>What became of a fragment offered to the defragmenter.</summary>
public enum FragmentOutcome : byte
{
    /// <summary>Held until its datagram is whole: the caller neither sends nor frees it.</summary>
    Held,

    /// <summary>Refused: the caller drops it under the reason given.</summary>
    Dropped,

    /// <summary>Not reassembled (an IPv6 fragment with a misaligned end): it goes on as the lone fragment it is.</summary>
    PassThrough,

    /// <summary>Its datagram is whole: <see cref="Defragmenter.Datagram"/> has it and the queue waits for <see cref="Defragmenter.Release"/>.</summary>
    Complete,
}

/// <summary>
/// One worker's IP defragmentation before connection tracking, as the kernel's nf_defrag_ipv4 and nf_defrag_ipv6 do it
/// whenever conntrack runs: fragments are queued per datagram (IPv4 by addresses, identification and protocol; IPv6 by
/// addresses and identification), placed by the rules of inet_frag_queue_insert (a fragment inside a run already held
/// is a duplicate and dropped alone; any other overlap discards the whole queue, RFC 5722), checked as ip_frag_queue and
/// nf_ct_frag6_queue check them, and once a datagram is whole it is rebuilt in the queue's own buffer from its first
/// fragment's headers, so the ruleset and conntrack see one packet. The original fragments stay held until the caller
/// has sent or freed them and calls <see cref="Release"/>. A queue lives <see cref="Ipv4Timeout"/> or
/// <c>nf_conntrack_frag6_timeout</c> (<see cref="ReassemblySettings"/>) from its first fragment (the kernel arms its timer once). Everything is preallocated:
/// <see cref="QueueCount"/> queues of up to <see cref="FragmentsPerQueue"/> fragments, each with a buffer for the
/// largest datagram. Only the owning worker's thread changes it; another worker may read a completed queue's
/// fragments and datagram until it hands the queue back.
/// </summary>
public sealed unsafe class Defragmenter
{
    /// <summary>Datagrams being reassembled (or whole and in flight) at once; a fragment of a new one finds no room past it.</summary>
    public const int QueueCount = 32;

    /// <summary>Fragments per datagram; one more discards the queue.</summary>
    public const int FragmentsPerQueue = 64;

    /// <summary>ipfrag_time's default.</summary>
    public const long Ipv4Timeout = 30_000_000_000;


    // Two VLAN tags of Ethernet, the IPv6 header and a payload of 65535 bytes: the largest datagram rebuilt.
    private const int BufferSize = 14 + 8 + 40 + 65535 + 1;
    private const int MaxPayload = 65535;

    private const byte FirstIn = 1, LastIn = 2;

    private struct Queue
    {
        public bool InUse;
        public bool Whole;          // rebuilt and handed to the caller: no longer found by lookups
        public L3Kind Family;
        public InetAddress Source, Destination;
        public uint Identification;
        public byte Protocol;       // IPv4 only: IPv6 keys leave it out
        public byte Flags;
        public byte EcnSeen;        // 1 << ECN codepoint of every fragment, as ip4_frag_ecn/ip6_frag_ecn
        public int Length;          // q.len: the datagram's payload length as far as known
        public int Meat;            // payload bytes held
        public int Count;
        public int Runs;
        public int TailRun;         // the run holding the fragment that ends furthest (the kernel's fragments_tail)
        public int MaxSize;         // IPv4: the largest fragment (header included); DfSize the largest with DF
        public int DfSize;
        public long Deadline;
        public int DatagramLength;
    }

    private readonly Queue[] _queues = new Queue[QueueCount];
    private readonly HeldFragment[] _fragments = new HeldFragment[QueueCount * FragmentsPerQueue];
    private readonly (int Start, int End)[] _runs = new (int, int)[QueueCount * FragmentsPerQueue];
    private readonly byte[] _buffers = GC.AllocateUninitializedArray<byte>(QueueCount * BufferSize, pinned: true);
    private readonly ReassemblySettings _settings;
    private long _earliestDeadline = long.MaxValue;
    private int _inUse;

    public Defragmenter(ReassemblySettings? settings = null) => _settings = settings ?? new ReassemblySettings();

    /// <summary>Queues holding fragments or a whole datagram not yet released.</summary>
    public int QueuesInUse => _inUse;

    /// <summary>
    /// Queues <paramref name="fragment"/> (a well-formed IPv4 fragment, or an IPv6 packet with a non-atomic fragment header,
    /// as <paramref name="packet"/> parsed it from <paramref name="frame"/>). When the outcome discards a queue, its held
    /// fragments must be dropped under <paramref name="reason"/> too: <paramref name="discarded"/> names it (else -1),
    /// and the caller calls <see cref="Release"/> after. <paramref name="queue"/> is the datagram's queue when whole.
    /// </summary>
    public FragmentOutcome Offer(ReadOnlySpan<byte> frame, in ParsedPacket packet, HeldFragment fragment, long now,
        out int queue, out int discarded, out DropReason reason)
    {
        queue = -1;
        discarded = -1;
        reason = DropReason.None;
        int l3 = packet.L3Offset;
        uint identification;
        int offset, end, payloadStart;
        bool more;
        if (packet.L3 == L3Kind.IPv4)
        {
            int ihl = (frame[l3] & 0x0F) * 4;
            int field = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(l3 + 6));
            identification = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(l3 + 4));
            offset = (field & 0x1FFF) * 8;
            more = (field & 0x2000) != 0;
            payloadStart = l3 + ihl;
            end = offset + packet.IpLength - ihl;
        }
        else
        {
            int header = FragmentHeaderOffset(frame, l3, out _);
            int field = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(header + 2));
            identification = BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(header + 4));
            offset = field & 0xFFF8;
            more = (field & 1) != 0;
            payloadStart = header + 8;
            end = offset + (packet.IpLength - (payloadStart - l3));
            if (end > MaxPayload)
            {
                reason = DropReason.Ipv6FragmentTooLarge;
                return FragmentOutcome.Dropped;
            }
        }

        int q = Find(packet, identification, now);
        if (q < 0)
        {
            reason = DropReason.ReassemblyNoRoom;
            return FragmentOutcome.Dropped;
        }
        ref var state = ref _queues[q];
        bool v4 = packet.L3 == L3Kind.IPv4;

        // ip_frag_queue discards the whole queue for every inconsistency; nf_ct_frag6_queue drops only the fragment,
        // except for a misaligned end, which discards the queue and lets the fragment through unreassembled.
        if (!more)
        {
            if (end < state.Length || ((state.Flags & LastIn) != 0 && end != state.Length))
                return Refuse(q, v4, DropReason.FragmentInconsistent, out discarded, out reason);
            state.Flags |= LastIn;
            state.Length = end;
        }
        else
        {
            if ((end & 7) != 0)
            {
                if (!v4)
                {
                    Discard(q, DropReason.FragmentMisaligned, out discarded, out reason);
                    return FragmentOutcome.PassThrough;
                }
                end &= ~7;
            }
            if (end > state.Length)
            {
                if ((state.Flags & LastIn) != 0)
                    return Refuse(q, v4, DropReason.FragmentInconsistent, out discarded, out reason);
                state.Length = end;
            }
        }
        if (end == offset)
            return Refuse(q, v4, DropReason.FragmentInconsistent, out discarded, out reason);

        var placement = Place(q, offset, end);
        if (placement == Placement.Duplicate)
        {
            reason = DropReason.FragmentDuplicate;
            return FragmentOutcome.Dropped;
        }
        if (placement == Placement.Overlap)
        {
            Discard(q, DropReason.FragmentOverlap, out discarded, out reason);
            return FragmentOutcome.Dropped;
        }
        if (state.Count == FragmentsPerQueue)
        {
            Discard(q, DropReason.FragmentQueueFull, out discarded, out reason);
            return FragmentOutcome.Dropped;
        }
        Insert(q, placement, offset, end);
        fragment.Offset = offset;
        fragment.End = end;
        fragment.PayloadStart = payloadStart;
        fragment.L3Offset = l3;
        _fragments[q * FragmentsPerQueue + state.Count++] = fragment;
        state.Meat += end - offset;
        state.EcnSeen |= (byte)(1 << (packet.Tos & 3));
        if (offset == 0)
            state.Flags |= FirstIn;
        if (v4)
        {
            int size = packet.IpLength;
            state.MaxSize = Math.Max(state.MaxSize, size);
            if ((frame[l3 + 6] & 0x40) != 0)
                state.DfSize = Math.Max(state.DfSize, size);
        }

        if (state.Flags != (FirstIn | LastIn) || state.Meat != state.Length)
            return FragmentOutcome.Held;

        // Whole. ip_frag_ecn_table refuses a not-ECT fragment beside ECN-capable ones; the datagram must fit.
        if (((state.EcnSeen & 1) != 0 && state.EcnSeen != 1) || TooLong(q))
        {
            state.Count--; // this fragment is dropped as the outcome says; the queue holds the others
            Discard(q, DropReason.ReassemblyFailed, out discarded, out reason);
            return FragmentOutcome.Dropped;
        }
        Rebuild(q);
        state.Whole = true;
        queue = q;
        return FragmentOutcome.Complete;
    }

    /// <summary>The whole datagram of a queue <see cref="Offer"/> completed: the first fragment's headers and every fragment's data.</summary>
    public ReadOnlySpan<byte> Datagram(int queue) => new(Buffer(queue), _queues[queue].DatagramLength);

    /// <summary>A queue's buffer, pinned for the dataplane's lifetime: a whole datagram can travel to another worker by pointer.</summary>
    public nint DatagramAddress(int queue) => (nint)Buffer(queue);

    /// <summary>The fragments a queue holds: in offset order once whole.</summary>
    public ReadOnlySpan<HeldFragment> Fragments(int queue) => new(_fragments, queue * FragmentsPerQueue, _queues[queue].Count);

    /// <summary>Frees a queue whose fragments the caller has sent or freed (the owning worker's thread only).</summary>
    public void Release(int queue)
    {
        ref var state = ref _queues[queue];
        if (!state.InUse)
            return;
        state = default;
        _inUse--;
    }

    /// <summary>
    /// A queue whose time ran out at <paramref name="now"/>, if any: the kernel's timer would have fired, so its
    /// fragments are dropped and the queue freed (<see cref="Release"/>) before the next fragment is looked up.
    /// </summary>
    public bool TryExpire(long now, out int queue)
    {
        queue = -1;
        if (now < _earliestDeadline)
            return false;
        long earliest = long.MaxValue;
        for (int q = 0; q < QueueCount; q++)
        {
            ref var state = ref _queues[q];
            if (!state.InUse || state.Whole)
                continue;
            if (state.Deadline <= now && queue < 0)
                queue = q;
            else
                earliest = Math.Min(earliest, state.Deadline);
        }
        _earliestDeadline = earliest;
        if (queue >= 0)
            _queues[queue].Whole = true; // out of lookups; Release frees it
        return queue >= 0;
    }

    /// <summary>Every queue still held, one at a time, for a dataplane that stops: their fragments will never be whole.</summary>
    public bool TryTakeUnfinished(out int queue)
    {
        for (queue = 0; queue < QueueCount; queue++)
        {
            ref var state = ref _queues[queue];
            if (state.InUse && !state.Whole)
            {
                state.Whole = true;
                return true;
            }
        }
        queue = -1;
        return false;
    }

    private byte* Buffer(int queue) => (byte*)Unsafe.AsPointer(ref _buffers[queue * BufferSize]);

    private int Find(in ParsedPacket packet, uint identification, long now)
    {
        byte protocol = packet.L3 == L3Kind.IPv4 ? packet.Protocol : (byte)0;
        int free = -1;
        for (int q = 0; q < QueueCount; q++)
        {
            ref var state = ref _queues[q];
            if (!state.InUse)
            {
                if (free < 0)
                    free = q;
                continue;
            }
            if (!state.Whole && state.Identification == identification && state.Family == packet.L3 && state.Protocol == protocol
                && state.Source.Equals(packet.Source) && state.Destination.Equals(packet.Destination))
            {
                return q;
            }
        }
        if (free < 0)
            return -1;
        long deadline = now + (packet.L3 == L3Kind.IPv4 ? Ipv4Timeout : _settings.Ipv6TimeoutNanoseconds);
        _queues[free] = new Queue
        {
            InUse = true,
            Family = packet.L3,
            Source = packet.Source,
            Destination = packet.Destination,
            Identification = identification,
            Protocol = protocol,
            Deadline = deadline,
        };
        _earliestDeadline = Math.Min(_earliestDeadline, deadline);
        _inUse++;
        return free;
    }

    private FragmentOutcome Refuse(int q, bool v4, DropReason why, out int discarded, out DropReason reason)
    {
        if (v4)
        {
            Discard(q, why, out discarded, out reason);
        }
        else
        {
            discarded = -1;
            reason = why;
        }
        return FragmentOutcome.Dropped;
    }

    private void Discard(int q, DropReason why, out int discarded, out DropReason reason)
    {
        _queues[q].Whole = true; // out of lookups; the caller drops what it holds, then releases it
        discarded = q;
        reason = why;
    }

    private enum Placement : byte { NewTail, AppendToTail, NewRun, Duplicate, Overlap }

    // inet_frag_queue_insert: a fragment ending past the tail goes after it (overlapping it discards the queue), joining
    // the tail's run when it starts where the tail ends; any other fragment is looked up among the runs: inside one it
    // is a duplicate, across any run's edge an overlap, and in a hole a run of its own.
    private Placement Place(int q, int offset, int end)
    {
        ref var state = ref _queues[q];
        int runs = q * FragmentsPerQueue;
        if (state.Count == 0)
            return Placement.NewTail;
        int tailEnd = _runs[runs + state.TailRun].End;
        if (tailEnd < end)
        {
            if (offset < tailEnd)
                return Placement.Overlap;
            return offset == tailEnd ? Placement.AppendToTail : Placement.NewTail;
        }
        for (int r = 0; r < state.Runs; r++)
        {
            var (start, runEnd) = _runs[runs + r];
            if (end <= start || offset >= runEnd)
                continue;
            return offset >= start && end <= runEnd ? Placement.Duplicate : Placement.Overlap;
        }
        return Placement.NewRun;
    }

    private void Insert(int q, Placement placement, int offset, int end)
    {
        ref var state = ref _queues[q];
        int runs = q * FragmentsPerQueue;
        if (placement == Placement.AppendToTail)
        {
            _runs[runs + state.TailRun].End = end;
            return;
        }
        _runs[runs + state.Runs] = (offset, end);
        if (placement == Placement.NewTail)
            state.TailRun = state.Runs;
        state.Runs++;
    }

    // The first fragment's headers and the data past 65535 bytes: IPv4's total length, IPv6's payload length.
    private bool TooLong(int q)
    {
        ref var state = ref _queues[q];
        foreach (ref readonly var f in new ReadOnlySpan<HeldFragment>(_fragments, q * FragmentsPerQueue, state.Count))
        {
            if (f.Offset == 0)
            {
                int headers = state.Family == L3Kind.IPv4 ? f.PayloadStart - f.L3Offset : f.PayloadStart - 8 - (f.L3Offset + 40);
                return headers + state.Length > MaxPayload;
            }
        }
        return false;
    }

    /// <summary>
    /// Writes the whole datagram into the queue's buffer: the first fragment's frame up to its data (the fragment header
    /// of IPv6 taken out, the header before it pointing past it), the length fields set, IPv4's fragment field cleared
    /// but for DF when the largest fragment had it, the ECN codepoint combined, then every fragment's data in order.
    /// </summary>
    private void Rebuild(int q)
    {
        ref var state = ref _queues[q];
        var fragments = new Span<HeldFragment>(_fragments, q * FragmentsPerQueue, state.Count);
        for (int i = 1; i < fragments.Length; i++)
        {
            var f = fragments[i];
            int j = i - 1;
            while (j >= 0 && fragments[j].Offset > f.Offset)
            {
                fragments[j + 1] = fragments[j];
                j--;
            }
            fragments[j + 1] = f;
        }
        ref readonly var first = ref fragments[0];
        var head = new ReadOnlySpan<byte>((void*)first.Data, (int)first.Length);
        var output = new Span<byte>(Buffer(q), BufferSize);
        int l3 = first.L3Offset;
        int length;
        if (state.Family == L3Kind.IPv4)
        {
            int ihl = first.PayloadStart - l3;
            head[..first.PayloadStart].CopyTo(output);
            var ip = output.Slice(l3, ihl);
            BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(2), (ushort)(ihl + state.Length));
            if ((state.EcnSeen & 8) != 0)
                ip[1] |= 3;
            BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(6), (ushort)(state.DfSize == state.MaxSize ? 0x4000 : 0));
            ip[10] = ip[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(10), InternetChecksum.Compute(ip));
            length = first.PayloadStart;
        }
        else
        {
            int header = FragmentHeaderOffset(head, l3, out int nextHeaderAt);
            head[..header].CopyTo(output);
            output[nextHeaderAt] = head[header];
            BinaryPrimitives.WriteUInt16BigEndian(output.Slice(l3 + 4), (ushort)(header - (l3 + 40) + state.Length));
            if ((state.EcnSeen & 8) != 0)
                output[l3 + 1] |= 3 << 4;
            length = header;
        }
        foreach (ref readonly var f in fragments)
        {
            new ReadOnlySpan<byte>((byte*)f.Data + f.PayloadStart, f.End - f.Offset).CopyTo(output.Slice(length));
            length += f.End - f.Offset;
        }
        state.DatagramLength = length;
    }

    /// <summary>The fragment header's offset in an IPv6 frame the parser took, and the offset of the next-header byte pointing at it.</summary>
    private static int FragmentHeaderOffset(ReadOnlySpan<byte> frame, int l3, out int nextHeaderAt)
    {
        nextHeaderAt = l3 + 6;
        int position = l3 + 40;
        byte next = frame[nextHeaderAt];
        while (next != 44)
        {
            int length = next == 51 ? (frame[position + 1] + 2) * 4 : (frame[position + 1] + 1) * 8;
            nextHeaderAt = position;
            next = frame[position];
            position += length;
        }
        return position;
    }
}
