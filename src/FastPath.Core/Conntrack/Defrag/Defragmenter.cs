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
/// nf_ct_frag6_queue check them, and once a datagram is whole it is rebuilt in a buffer from its first fragment's
/// headers, so the ruleset and conntrack see one packet. The original fragments stay held until the caller has sent
/// or freed them and calls <see cref="Release"/>. A queue lives <c>ipfrag_time</c> or <c>nf_conntrack_frag6_timeout</c>
/// (<see cref="ReassemblySettings"/>) from its first fragment (the kernel arms its timer once). Everything is preallocated: <see cref="QueueCount"/> queues sharing <see cref="FragmentCapacity"/>
/// fragment records (each queue a list through them) and <see cref="BufferCount"/> buffers for the largest datagram.
/// Only the owning worker's thread changes it; another worker may read a completed queue's fragments and datagram
/// until it hands the queue back.
/// </summary>
public sealed unsafe class Defragmenter
{
    /// <summary>Datagrams being reassembled (or whole and in flight) at once; a fragment of a new one finds no room past it.</summary>
    public const int QueueCount = 256;

    /// <summary>Fragments held at once, all datagrams together (the kernel bounds their memory, ipfrag_high_thresh).</summary>
    public const int FragmentCapacity = 2048;

    /// <summary>Whole datagrams being decided at once, each rebuilt in a buffer of its own.</summary>
    public const int BufferCount = 32;


    // Two VLAN tags of Ethernet, the IPv6 header and a payload of 65535 bytes: the largest datagram rebuilt.
    private const int BufferSize = 14 + 8 + 40 + 65535 + 1;
    private const int MaxPayload = 65535;

    private const byte FirstIn = 1, LastIn = 2;

    private struct Queue
    {
        public bool InUse;
        public bool Closed;         // whole, discarded, restarted or expired: out of lookups until the caller releases it
        public L3Kind Family;
        public InetAddress Source, Destination;
        public uint Identification;
        public byte Protocol;       // IPv4 only: IPv6 keys leave it out
        public byte Flags;
        public byte EcnSeen;        // 1 << ECN codepoint of every fragment, as ip4_frag_ecn/ip6_frag_ecn
        public int Length;          // q.len: the datagram's payload length as far as known
        public int Meat;            // payload bytes held
        public int Count;
        public int Head;            // its first fragment, then _next: in arrival order, in offset order once whole
        public int Last;
        public int TailRun;         // the first fragment of the run holding the one that ends furthest (the kernel's fragments_tail)
        public int TailEnd;
        public int Buffer;
        public int MaxSize;         // IPv4: the largest fragment (header included); DfSize the largest with DF
        public int DfSize;
        public long Deadline;
        public int DatagramLength;
        public int Peer;            // IPv4: the source's entry in _peers; -1 for IPv6, and for IPv4 while ipfrag_max_dist was 0
        public uint Rid;            // the source's fragment count when this datagram's last fragment came
    }

    // The kernel's inet_peer for ip_frag_too_far: fragments counted per IPv4 source. An entry lives while a queue of its
    // source does, which is all the count is compared for (a new queue's first fragment is never too far).
    private struct Peer
    {
        public InetAddress Source;
        public uint Rid;
        public int Queues;
    }

    private readonly Queue[] _queues = new Queue[QueueCount];
    private readonly HeldFragment[] _fragments = new HeldFragment[FragmentCapacity];
    private readonly int[] _next = new int[FragmentCapacity];   // the next fragment of its queue, or of the free list; -1 ends
    private readonly int[] _runEnd = new int[FragmentCapacity]; // on the first fragment of a run, where the run ends; else -1
    private readonly byte[] _buffers = GC.AllocateUninitializedArray<byte>(BufferCount * BufferSize, pinned: true);
    private readonly int[] _freeBuffers = new int[BufferCount];
    private readonly Peer[] _peers = new Peer[QueueCount];
    private readonly ReassemblySettings _settings;
    private long _earliestDeadline = long.MaxValue;
    private int _inUse;
    private int _freeFragment;
    private int _freeBufferCount = BufferCount;

    public Defragmenter(ReassemblySettings? settings = null)
    {
        _settings = settings ?? new ReassemblySettings();
        for (int f = 0; f < FragmentCapacity; f++)
            _next[f] = f + 1 < FragmentCapacity ? f + 1 : -1;
        for (int b = 0; b < BufferCount; b++)
            _freeBuffers[b] = b;
    }

    /// <summary>Queues holding fragments or a whole datagram not yet released.</summary>
    public int QueuesInUse => _inUse;

    /// <summary>
    /// Queues <paramref name="fragment"/> (a well-formed IPv4 fragment, or an IPv6 packet with a non-atomic fragment header,
    /// as <paramref name="packet"/> parsed it from <paramref name="frame"/>). When the outcome discards a queue, its held
    /// fragments must be dropped under <paramref name="reason"/> too: <paramref name="discarded"/> names it (else -1),
    /// and the caller calls <see cref="Release"/> after. <paramref name="restarted"/> names a queue whose datagram starts
    /// again with this fragment in another queue (ip_frag_reinit): its fragments go as <see cref="DropReason.FragmentTooFar"/>,
    /// then the caller releases it. <paramref name="queue"/> is the datagram's queue when whole.
    /// </summary>
    public FragmentOutcome Offer(ReadOnlySpan<byte> frame, in ParsedPacket packet, HeldFragment fragment, long now,
        out int queue, out int discarded, out int restarted, out DropReason reason)
    {
        queue = -1;
        discarded = -1;
        restarted = -1;
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
        bool v4 = packet.L3 == L3Kind.IPv4;
        if (v4 && TooFar(q))
        {
            // ip_frag_reinit: the fragments held so far go, the datagram starts again with this one and a new timer.
            int fresh = Restart(q, now);
            Close(q);
            restarted = q;
            if (fresh < 0)
            {
                reason = DropReason.ReassemblyNoRoom;
                return FragmentOutcome.Dropped;
            }
            q = fresh;
        }
        ref var state = ref _queues[q];

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
        if (_freeFragment < 0)
        {
            reason = DropReason.ReassemblyNoRoom;
            return FragmentOutcome.Dropped;
        }
        byte flags = (byte)(state.Flags | (offset == 0 ? FirstIn : 0));
        byte ecnSeen = (byte)(state.EcnSeen | (1 << (packet.Tos & 3)));
        bool whole = flags == (FirstIn | LastIn) && state.Meat + end - offset == state.Length;
        if (whole)
        {
            // ip_frag_ecn_table refuses a not-ECT fragment beside ECN-capable ones; the datagram must fit in 65535 bytes.
            int headers = offset == 0 ? payloadStart - l3 : HeadersOfFirst(q);
            if (!v4)
                headers -= 40 + 8; // IPv6 counts the headers between the fixed one and the fragment header
            if (((ecnSeen & 1) != 0 && ecnSeen != 1) || headers + state.Length > MaxPayload)
            {
                Discard(q, DropReason.ReassemblyFailed, out discarded, out reason);
                return FragmentOutcome.Dropped;
            }
            if (_freeBufferCount == 0)
            {
                Discard(q, DropReason.ReassemblyNoRoom, out discarded, out reason);
                return FragmentOutcome.Dropped;
            }
            state.Buffer = _freeBuffers[--_freeBufferCount];
        }
        fragment.Offset = offset;
        fragment.End = end;
        fragment.PayloadStart = payloadStart;
        fragment.L3Offset = l3;
        Insert(q, placement, fragment);
        state.Meat += end - offset;
        state.EcnSeen = ecnSeen;
        state.Flags = flags;
        if (v4)
        {
            int size = packet.IpLength;
            state.MaxSize = Math.Max(state.MaxSize, size);
            if ((frame[l3 + 6] & 0x40) != 0)
                state.DfSize = Math.Max(state.DfSize, size);
        }
        if (!whole)
            return FragmentOutcome.Held;

        Rebuild(q);
        state.Closed = true;
        queue = q;
        return FragmentOutcome.Complete;
    }

    /// <summary>The whole datagram of a queue <see cref="Offer"/> completed: the first fragment's headers and every fragment's data.</summary>
    public ReadOnlySpan<byte> Datagram(int queue) => new(Buffer(queue), _queues[queue].DatagramLength);

    /// <summary>A queue's buffer, pinned for the dataplane's lifetime: a whole datagram can travel to another worker by pointer.</summary>
    public nint DatagramAddress(int queue) => (nint)Buffer(queue);

    /// <summary>The fragments a queue holds: in offset order once whole.</summary>
    public FragmentList Fragments(int queue) => new(this, _queues[queue].Head);

    /// <summary>A queue's fragments, walked in place (foreach with <c>ref readonly</c>).</summary>
    public readonly ref struct FragmentList(Defragmenter owner, int head)
    {
        public Enumerator GetEnumerator() => new(owner, head);

        public ref struct Enumerator(Defragmenter owner, int head)
        {
            private int _current = -1;
            private int _next = head;

            public bool MoveNext()
            {
                _current = _next;
                if (_current < 0)
                    return false;
                _next = owner._next[_current];
                return true;
            }

            public readonly ref readonly HeldFragment Current => ref owner._fragments[_current];
        }
    }

    /// <summary>Frees a queue whose fragments the caller has sent or freed (the owning worker's thread only).</summary>
    public void Release(int queue)
    {
        ref var state = ref _queues[queue];
        if (!state.InUse)
            return;
        if (state.Peer >= 0 && --_peers[state.Peer].Queues == 0)
            _peers[state.Peer] = default;
        if (state.Head >= 0)
        {
            _next[state.Last] = _freeFragment;
            _freeFragment = state.Head;
        }
        if (state.Buffer >= 0)
            _freeBuffers[_freeBufferCount++] = state.Buffer;
        state = default;
        _inUse--;
    }

    // ip_frag_too_far: counts the fragment against its source; too far when more than ipfrag_max_dist fragments came
    // from it since this datagram's last one, and the datagram holds some. Nothing is counted while the sysctl is 0.
    private bool TooFar(int q)
    {
        ref var state = ref _queues[q];
        uint max = (uint)_settings.Ipv4MaxDistance;
        if (state.Peer < 0 || max == 0)
            return false;
        uint start = state.Rid;
        uint end = ++_peers[state.Peer].Rid;
        state.Rid = end;
        return state.Count > 0 && end - start > max;
    }

    // A queue taking over q's datagram afresh (its key, source count and largest sizes; a new deadline), or -1 when none is free.
    private int Restart(int q, long now)
    {
        int fresh = Array.FindIndex(_queues, s => !s.InUse);
        if (fresh < 0)
            return -1;
        ref readonly var old = ref _queues[q];
        ref var state = ref Open(fresh, old.Family, old.Source, old.Destination, old.Identification, old.Protocol, old.Peer, now + _settings.TimeoutNanoseconds(L3Kind.IPv4));
        (state.Rid, state.MaxSize, state.DfSize) = (old.Rid, old.MaxSize, old.DfSize);
        return fresh;
    }

    private int PeerOf(in InetAddress source)
    {
        int free = -1;
        for (int p = 0; p < _peers.Length; p++)
        {
            if (_peers[p].Queues == 0)
            {
                if (free < 0)
                    free = p;
            }
            else if (_peers[p].Source.Equals(source))
            {
                return p;
            }
        }
        _peers[free].Source = source; // a queue is being opened, so one is free: no more sources than queues
        return free;
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
            if (!state.InUse || state.Closed)
                continue;
            if (state.Deadline <= now && queue < 0)
                queue = q;
            else
                earliest = Math.Min(earliest, state.Deadline);
        }
        _earliestDeadline = earliest;
        if (queue >= 0)
            Close(queue);
        return queue >= 0;
    }

    /// <summary>Every queue still held, one at a time, for a dataplane that stops: their fragments will never be whole.</summary>
    public bool TryTakeUnfinished(out int queue)
    {
        for (queue = 0; queue < QueueCount; queue++)
        {
            ref var state = ref _queues[queue];
            if (state.InUse && !state.Closed)
            {
                Close(queue);
                return true;
            }
        }
        queue = -1;
        return false;
    }

    private byte* Buffer(int queue) => (byte*)Unsafe.AsPointer(ref _buffers[_queues[queue].Buffer * BufferSize]);

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
            if (!state.Closed && state.Identification == identification && state.Family == packet.L3 && state.Protocol == protocol
                && state.Source.Equals(packet.Source) && state.Destination.Equals(packet.Destination))
            {
                return q;
            }
        }
        // As the kernel refuses a new queue past ipfrag_high_thresh, a new datagram needs room for a fragment.
        if (free < 0 || _freeFragment < 0)
            return -1;
        long deadline = now + _settings.TimeoutNanoseconds(packet.L3);
        // ip_frag_init asks for the source's peer only while ipfrag_max_dist is set.
        int peer = packet.L3 == L3Kind.IPv4 && _settings.Ipv4MaxDistance != 0 ? PeerOf(packet.Source) : -1;
        Open(free, packet.L3, packet.Source, packet.Destination, identification, protocol, peer, deadline);
        return free;
    }

    // A free queue taken for a datagram: empty, its source counted (IPv4), its timer armed.
    private ref Queue Open(int q, L3Kind family, in InetAddress source, in InetAddress destination, uint identification, byte protocol,
        int peer, long deadline)
    {
        ref var state = ref _queues[q];
        state = new Queue
        {
            InUse = true,
            Family = family,
            Source = source,
            Destination = destination,
            Identification = identification,
            Protocol = protocol,
            Peer = peer,
            Deadline = deadline,
            Head = -1,
            Last = -1,
            Buffer = -1,
        };
        if (peer >= 0)
            _peers[peer].Queues++;
        _earliestDeadline = Math.Min(_earliestDeadline, deadline);
        _inUse++;
        return ref state;
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
        Close(q);
        discarded = q;
        reason = why;
    }

    // Out of lookups: the caller drops what the queue holds, then releases it.
    private void Close(int q) => _queues[q].Closed = true;

    private enum Placement : byte { NewTail, AppendToTail, NewRun, Duplicate, Overlap }

    // inet_frag_queue_insert: a fragment ending past the tail goes after it (overlapping it discards the queue), joining
    // the tail's run when it starts where the tail ends; any other fragment is looked up among the runs: inside one it
    // is a duplicate, across any run's edge an overlap, and in a hole a run of its own.
    private Placement Place(int q, int offset, int end)
    {
        ref var state = ref _queues[q];
        if (state.Count == 0)
            return Placement.NewTail;
        if (state.TailEnd < end)
        {
            if (offset < state.TailEnd)
                return Placement.Overlap;
            return offset == state.TailEnd ? Placement.AppendToTail : Placement.NewTail;
        }
        for (int f = state.Head; f >= 0; f = _next[f])
        {
            int runEnd = _runEnd[f];
            if (runEnd < 0)
                continue;
            int start = _fragments[f].Offset;
            if (end <= start || offset >= runEnd)
                continue;
            return offset >= start && end <= runEnd ? Placement.Duplicate : Placement.Overlap;
        }
        return Placement.NewRun;
    }

    // Takes a record off the free list for the fragment, at the end of its queue's list, and into its run.
    private void Insert(int q, Placement placement, in HeldFragment fragment)
    {
        ref var state = ref _queues[q];
        int f = _freeFragment;
        _freeFragment = _next[f];
        _fragments[f] = fragment;
        _next[f] = -1;
        if (state.Head < 0)
            state.Head = f;
        else
            _next[state.Last] = f;
        state.Last = f;
        state.Count++;
        if (placement == Placement.AppendToTail)
        {
            _runEnd[f] = -1;
            _runEnd[state.TailRun] = fragment.End;
        }
        else
        {
            _runEnd[f] = fragment.End;
            if (placement == Placement.NewTail)
                state.TailRun = f;
        }
        if (placement != Placement.NewRun)
            state.TailEnd = fragment.End;
    }

    // The headers before the data in the held first fragment: IPv4's header, or IPv6's up to and with the fragment header.
    private int HeadersOfFirst(int q)
    {
        for (int f = _queues[q].Head; f >= 0; f = _next[f])
        {
            if (_fragments[f].Offset == 0)
                return _fragments[f].PayloadStart - _fragments[f].L3Offset;
        }
        return 0;
    }

    /// <summary>
    /// Writes the whole datagram into the queue's buffer: the first fragment's frame up to its data (the fragment header
    /// of IPv6 taken out, the header before it pointing past it), the length fields set, IPv4's fragment field cleared
    /// but for DF when the largest fragment had it, the ECN codepoint combined, then every fragment's data in order.
    /// </summary>
    private void Rebuild(int q)
    {
        ref var state = ref _queues[q];
        // Into offset order: the fragments tile the datagram, so no two start alike.
        int sorted = -1;
        for (int f = state.Head; f >= 0;)
        {
            int next = _next[f];
            if (sorted < 0 || _fragments[f].Offset < _fragments[sorted].Offset)
            {
                _next[f] = sorted;
                sorted = f;
            }
            else
            {
                int at = sorted;
                while (_next[at] >= 0 && _fragments[_next[at]].Offset < _fragments[f].Offset)
                    at = _next[at];
                _next[f] = _next[at];
                _next[at] = f;
            }
            f = next;
        }
        state.Head = sorted;
        for (int f = sorted; f >= 0; f = _next[f])
            state.Last = f;
        ref readonly var first = ref _fragments[state.Head];
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
        foreach (ref readonly var f in Fragments(q))
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
