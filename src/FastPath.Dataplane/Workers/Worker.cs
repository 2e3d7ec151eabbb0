// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastPath.Core.Conntrack.Defrag;
using FastPath.Core.Memory;
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using FastPath.Dataplane.Native;
using FastPath.Dataplane.Ports;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// One poll-mode worker: pinned to its core, it polls its rx queues a burst at a time, parses every frame,
/// hands frames of flows it does not own to their owner, asks the verdict stage about the rest and queues
/// them on its own tx queue of the peer port. A frame whose verdict needs another worker's shard travels
/// there with its evaluation cursor and is finished (sent or dropped) by that worker. While the stage tracks
/// connections, IP fragments are first held per datagram by this worker's <see cref="Defragmenter"/> and the whole
/// datagram is decided as one frame (a group: accepted, its fragments leave in offset order; dropped, all are freed).
/// It never blocks and never allocates after construction.
/// Everything in this object is touched by the worker's thread only, except <see cref="Counters"/> (read
/// by the stats thread) and the rings (one side each).
/// </summary>
public sealed unsafe class Worker<TVerdict> where TVerdict : struct, IVerdictStage
{
    private const int HandoffBudget = PacketBurst.Capacity * 2;

    // A whole datagram travels as one frame whose handle names its reassembly queue: the holder worker in bits 32-47,
    // the queue below. Port handles never have bit 62 set (mbuf addresses are user-space pointers, the others indices).
    private const long GroupTag = 1L << 62;

    // First of this worker's allocations (field initializers run in order, before the constructor's body); the
    // trailing guard is the last: no other worker's object shares a cache line with this one's.
    private readonly CacheLineGuard _leadingGuard = new();
    private readonly CacheLineGuard _trailingGuard;
    private readonly int _index;
    private readonly DataplaneTopology _topology;
    private readonly DataplaneControl _control;
    private readonly (int Port, int Queue)[] _rxQueues;
    private readonly PacketBurst _rx = new();
    private readonly PacketBurst[] _tx;        // by output port; this worker's tx queue = its index
    private readonly nint[][] _release;        // by port: handles to give back, freed a burst at a time
    private readonly int[] _releaseCount;
    private readonly SpscRing<HandoffEntry>?[] _outbound; // by destination worker; null for itself
    private readonly SpscRing<HandoffEntry>[] _inbound;   // from every other worker
    private readonly SpscRing<int>?[] _abandonedOutbound; // tokens of what dropped frames held in another worker's state
    private readonly SpscRing<int>[] _abandonedInbound;
    // The burst's frames are all parsed (and their evaluations prepared) before the first is decided.
    private readonly ParsedPacket[] _parsed = new ParsedPacket[PacketBurst.Capacity];
    private readonly DropReason[] _parseResults = new DropReason[PacketBurst.Capacity];
    private readonly EvaluationCursor[] _cursors = new EvaluationCursor[PacketBurst.Capacity];
    private readonly bool[] _fragments = new bool[PacketBurst.Capacity]; // set by the parse pass while defragmenting
    private readonly Defragmenter[] _defragmenters; // every worker's, by index: a group's fragments are read where it is finished
    private readonly Defragmenter _defragmenter;
    private TVerdict _verdict;

    /// <param name="abandoned">Rings of tokens: what a frame dropped elsewhere held in a worker's stage (0 or more), or a reassembly queue to free (negative: ~queue).</param>
    public Worker(int index, DataplaneTopology topology, DataplaneControl control, TVerdict verdict,
        WorkerRings<HandoffEntry> handoffs, WorkerRings<int> abandoned, Defragmenter[] defragmenters, int? core)
    {
        _index = index;
        _topology = topology;
        _control = control;
        _rxQueues = topology.RxQueuesByWorker[index];
        int ports = topology.Ports.Count;
        _tx = new PacketBurst[ports];
        _release = new nint[ports][];
        _releaseCount = new int[ports];
        for (int p = 0; p < ports; p++)
        {
            _tx[p] = new PacketBurst();
            _release[p] = GC.AllocateArray<nint>(PacketBurst.Capacity, pinned: true);
        }
        (_outbound, _inbound) = (handoffs.Outbound, handoffs.Inbound);
        (_abandonedOutbound, _abandonedInbound) = (abandoned.Outbound, abandoned.Inbound);
        _verdict = verdict;
        _defragmenters = defragmenters;
        _defragmenter = defragmenters[index];
        Core = core;
        Counters = new WorkerCounters(ports);
        _trailingGuard = new();
    }

    public int Index => _index;

    /// <summary>The core this worker pins itself to; null runs unpinned (offline replay, tests).</summary>
    public int? Core { get; }

    /// <summary>Set by the worker once running: the cpu it found itself on after pinning.</summary>
    public int ObservedCpu { get; private set; } = -1;

    /// <summary>Set by the worker once running: its thread's affinity as read back from the kernel.</summary>
    public IReadOnlyList<int> ObservedAffinity { get; private set; } = [];

    public WorkerCounters Counters { get; }

    /// <summary>Where the management thread posts work for this worker's thread (control reads and writes of its shards).</summary>
    public WorkerMailbox<TVerdict> Mailbox { get; } = new();

    /// <summary>The verdict stage, for inspection after the worker stopped.</summary>
    public ref TVerdict Verdict => ref _verdict;

    /// <summary>This worker's reassembly queues, for inspection after the worker stopped.</summary>
    public Defragmenter Defragmenter => _defragmenter;

    /// <summary>The thread body: pin, register with DPDK if asked, loop until the two-phase stop completes.</summary>
    public void Run(bool registerWithDpdk)
    {
        if (Core is int core)
            CpuAffinity.PinCurrentThread(core);
        ObservedAffinity = CpuAffinity.CurrentThreadCores();
        ObservedCpu = CpuAffinity.CurrentCpu();
        if (registerWithDpdk)
        {
            int lcore = NativeMethods.ThreadRegister();
            if (lcore < 0)
                throw new DpdkException($"worker {_index} cannot register with DPDK", lcore);
        }
        try
        {
            Loop();
        }
        finally
        {
            if (registerWithDpdk)
                NativeMethods.ThreadUnregister();
        }
    }

    private void Loop()
    {
        bool rxStopped = false;
        while (true)
        {
            Mailbox.RunPending(ref _verdict);
            _verdict.Housekeeping();
            bool busy = false;
            if (!_control.StopRequested)
            {
                busy = PollOnce();
            }
            else if (!rxStopped)
            {
                _control.MarkRxStopped(_index);
                rxStopped = true;
            }
            // Once every worker has stopped rx, only frames already travelling can reach our rings.
            bool everyoneStopped = rxStopped && _control.AllRxStopped;
            busy |= DrainInbound(everyoneStopped ? int.MaxValue : HandoffBudget);
            if (everyoneStopped && _control.NothingInFlight)
            {
                DropUnfinishedDatagrams();
                FlushAll();
                return;
            }
            FlushAll();
            Counters.CountPoll(busy);
        }
    }

    /// <summary>One pass over this worker's rx queues and inbound rings, then flush (used by Loop and by benchmarks).</summary>
    public bool PollOnce()
    {
        bool busy = false;
        var rxQueues = _rxQueues;
        for (int i = 0; i < rxQueues.Length; i++)
        {
            var (port, queue) = rxQueues[i];
            if (_topology.Ports[port].Receive(queue, _rx) > 0)
            {
                ProcessRxBurst(port);
                busy = true;
            }
        }
        return busy;
    }

    /// <summary>Drains inbound rings and flushes everything queued; for benchmarks driving the worker directly.</summary>
    public void Flush()
    {
        DrainInbound(HandoffBudget);
        FlushAll();
    }

    // Always a compilation of its own: inlined into a caller (a benchmark calling PollOnce), the parse, the verdict
    // and the tx staging shared that caller's inlining budget, the parser's small helpers became calls, and the
    // SSH guard ran at 58 instead of 49 ns a packet.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ProcessRxBurst(int port)
    {
        var burst = _rx;
        int count = burst.Count;
        nint* handles = burst.Handles;
        nint* data = burst.Data;
        uint* lengths = burst.Lengths;
        uint* wireLengths = burst.WireLengths;
        long* timestamps = burst.Timestamps;
        bool steer = _topology.SoftwareSteering[port];
        uint workers = (uint)_topology.Workers;
        // Every frame of the burst leaves by the same port: look its tx burst up once, not after every verdict.
        int outPort = _topology.Peers[port];
        var tx = _tx[outPort];
        // Indexed below count, at most the burst capacity both arrays have.
        ref ParsedPacket parsed = ref MemoryMarshal.GetArrayDataReference(_parsed);
        ref DropReason parseResults = ref MemoryMarshal.GetArrayDataReference(_parseResults);
        ref EvaluationCursor cursors = ref MemoryMarshal.GetArrayDataReference(_cursors);
        bool defragment = _verdict.Defragments(L3Kind.IPv4) || _verdict.Defragments(L3Kind.IPv6);
        // First every frame is parsed and the stage prepares its evaluation, starting to load what its decision
        // will read, so the burst's cache misses overlap (DPDK's burst-wide prefetch); then the frames are
        // decided in order.
        for (int i = 0; i < count; i++)
        {
            uint length = lengths[i];
            if ((length & NativeMethods.LengthMultiSegment) != 0)
            {
                Unsafe.Add(ref parseResults, i) = DropReason.MultiSegment;
                continue;
            }
            ref ParsedPacket packet = ref Unsafe.Add(ref parsed, i);
            DropReason result = PacketParser.Parse(new ReadOnlySpan<byte>((void*)data[i], (int)length), ref packet);
            if (defragment && packet.Fragment != FragmentKind.None && _verdict.Defragments(packet.L3) && Reassembles(result, ref packet))
            {
                _fragments[i] = true;
                result = DropReason.None;
            }
            Unsafe.Add(ref parseResults, i) = result;
            if (result == DropReason.None)
            {
                ref EvaluationCursor cursor = ref Unsafe.Add(ref cursors, i);
                EvaluationCursor.Start(out cursor);
                _verdict.Prepare(ref packet, ref cursor);
            }
        }
        long bytes = 0;
        for (int i = 0; i < count; i++)
        {
            uint length = lengths[i];
            bytes += wireLengths[i];
            DropReason reason = Unsafe.Add(ref parseResults, i);
            if (reason != DropReason.None)
            {
                // A multi-segment frame was never parsed: only the parser's refusals are malformed.
                if (reason != DropReason.MultiSegment)
                    _verdict.Malformed(reason, port, timestamps[i]);
                Drop(port, handles[i], reason);
                continue;
            }
            var frame = new ReadOnlySpan<byte>((void*)data[i], (int)length);
            ref ParsedPacket packet = ref Unsafe.Add(ref parsed, i);
            ref EvaluationCursor cursor = ref Unsafe.Add(ref cursors, i);
            if (defragment && _fragments[i])
            {
                _fragments[i] = false;
                TakeFragment(port, outPort, tx, handles[i], data[i], length, wireLengths[i], timestamps[i], frame, ref packet, steer);
                continue;
            }
            if (steer && packet.L3 != L3Kind.None)
            {
                int owner = _verdict.Owner(ref packet, frame, (int)workers);
                if (owner != _index)
                {
                    HandOff(owner, port, handles[i], data[i], length, wireLengths[i], timestamps[i], ref cursor);
                    continue;
                }
            }
            Deliver(port, outPort, tx, handles[i], data[i], length, wireLengths[i], timestamps[i], frame, ref packet, ref cursor);
        }
        Counters.CountRx(port, count, bytes);
        // Held fragments time out by the clock of every burst, fragments or not (and after a reload stopped tracking).
        if (_defragmenter.QueuesInUse != 0)
            ExpireHeldFragments(timestamps[count - 1]);
    }

    private void HandOff(int owner, int port, nint handle, nint data, uint length, uint wire, long timestamp, ref EvaluationCursor cursor)
    {
        var entry = new HandoffEntry
        {
            Handle = handle,
            Data = data,
            Length = length,
            WireLength = wire,
            Timestamp = timestamp,
            InPort = port,
            Cursor = cursor,
        };
        if (_outbound[owner]!.TryEnqueue(entry))
        {
            Counters.CountHandoff(port);
            _control.CountHandedOff(_index);
        }
        else
        {
            if (_verdict.Abandon(ref entry.Cursor, out int holder, out int token))
                SendAbandoned(holder, token);
            Drop(port, handle, DropReason.HandoffRingFull);
        }
    }

    /// <summary>
    /// Tells a worker to release what a frame dropped here held in its state. It travels like a frame (the stop
    /// waits for it), on a ring sized to everything that worker can hold, so it always finds room.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SendAbandoned(int holder, int token)
    {
        if (_abandonedOutbound[holder]!.TryEnqueue(token))
            _control.CountHandedOff(_index);
    }

    private bool ForgetAbandoned()
    {
        bool any = false;
        var inbound = _abandonedInbound;
        for (int r = 0; r < inbound.Length; r++)
        {
            int taken = 0;
            while (inbound[r].TryDequeue(out int token))
            {
                if (token < 0)
                    _defragmenter.Release(~token);
                else
                    _verdict.ForgetAbandoned(token);
                taken++;
            }
            if (taken > 0)
            {
                _control.CountFinished(_index, taken);
                any = true;
            }
        }
        return any;
    }

    private bool DrainInbound(int budget)
    {
        bool any = ForgetAbandoned();
        var inbound = _inbound;
        for (int r = 0; r < inbound.Length; r++)
        {
            var ring = inbound[r];
            int taken = 0;
            while (taken < budget && ring.TryDequeue(out var e))
            {
                taken++;
                var frame = new ReadOnlySpan<byte>((void*)e.Data, (int)e.Length);
                Unsafe.SkipInit(out ParsedPacket parsed);
                // The sender already accepted this frame; parsing again is cheaper than shipping the parse.
                DropReason result = PacketParser.Parse(frame, ref parsed);
                if (parsed.Fragment != FragmentKind.None && TookFragment(ref e, frame, ref parsed, result))
                    continue;
                int outPort = _topology.Peers[e.InPort];
                Deliver(e.InPort, outPort, _tx[outPort], e.Handle, e.Data, e.Length, e.WireLength, e.Timestamp, frame, ref parsed, ref e.Cursor);
            }
            if (taken > 0)
            {
                Counters.CountHandoffReceived(taken);
                _control.CountFinished(_index, taken);
                any = true;
            }
        }
        return any;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Deliver(int inPort, int outPort, PacketBurst tx, nint handle, nint data, uint length, uint wire, long timestamp,
        ReadOnlySpan<byte> frame, ref ParsedPacket parsed, ref EvaluationCursor cursor)
    {
        var verdict = _verdict.Decide(ref parsed, frame, inPort, timestamp, ref cursor);
        if (verdict != Workers.Verdict.Accept)
        {
            if (verdict == Workers.Verdict.Continue)
                HandOff(cursor.Owner, inPort, handle, data, length, wire, timestamp, ref cursor);
            else
                Drop(inPort, handle, verdict switch
                {
                    Workers.Verdict.ConntrackTableFull => DropReason.ConntrackTableFull,
                    Workers.Verdict.ConntrackClash => DropReason.ConntrackClash,
                    _ => DropReason.RuleDrop,
                });
            return;
        }
        if (((long)handle & GroupTag) != 0)
        {
            TransmitGroup(outPort, tx, handle, timestamp);
            return;
        }
        tx.Add(handle, data, length, wire, timestamp);
        if (tx.IsFull)
            FlushTx(outPort);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Drop(int port, nint handle, DropReason reason)
    {
        if (((long)handle & GroupTag) != 0)
        {
            DropGroup(handle, reason);
            return;
        }
        Counters.CountDrop(port, reason);
        var release = _release[port];
        release[_releaseCount[port]++] = handle;
        if (_releaseCount[port] == release.Length)
            FlushRelease(port);
    }

    /// <summary>A fragment steered here to be gathered (a fresh one, while defragmenting): taken into the defragmenter.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TookFragment(ref HandoffEntry e, ReadOnlySpan<byte> frame, ref ParsedPacket parsed, DropReason result)
    {
        if (e.Cursor.IsSuspended || !_verdict.Defragments(parsed.L3) || !Reassembles(result, ref parsed))
            return false;
        int outPort = _topology.Peers[e.InPort];
        TakeFragment(e.InPort, outPort, _tx[outPort], e.Handle, e.Data, e.Length, e.WireLength, e.Timestamp, frame, ref parsed, _topology.SoftwareSteering[e.InPort]);
        return true;
    }

    // IPv4 queues a first fragment whose transport header is cut short (the datagram will have it whole) and one ending
    // past 65535 bytes (ip_frag_queue has no such check: the datagram fails when whole); IPv6 lets the first through
    // unreassembled (ipv6frag_thdr_truncated), where the parser refuses it, and drops the second (nf_ct_frag6_queue).
    private static bool Reassembles(DropReason parsed, ref ParsedPacket packet) =>
        parsed == DropReason.None
        || (packet.L3 == L3Kind.IPv4 && (parsed == DropReason.Ipv4FragmentTooLarge || (packet.Fragment == FragmentKind.First && parsed is DropReason.TcpTruncated
            or DropReason.TcpBadDataOffset or DropReason.UdpTruncated or DropReason.UdpBadLength or DropReason.IcmpTruncated)));

    /// <summary>
    /// A fragment while defragmenting: to the worker reassembling its datagram (by addresses, with software steering),
    /// else into this worker's defragmenter; a datagram it completes is decided at once, as the frame that completed it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TakeFragment(int port, int outPort, PacketBurst tx, nint handle, nint data, uint length, uint wire, long timestamp,
        ReadOnlySpan<byte> frame, ref ParsedPacket packet, bool steer)
    {
        EvaluationCursor.Start(out var cursor);
        if (steer)
        {
            int owner = FlowSteering.FragmentOwnerOf(ref packet, _topology.Workers);
            if (owner != _index)
            {
                HandOff(owner, port, handle, data, length, wire, timestamp, ref cursor);
                return;
            }
        }
        var defragmenter = _defragmenter;
        ExpireHeldFragments(timestamp);
        var trace = _verdict.Trace;
        var fragment = new HeldFragment
        {
            Handle = handle,
            Data = data,
            Length = length,
            WireLength = wire,
            Timestamp = timestamp,
            InPort = port,
            TraceNumber = trace?.Next ?? 0,
        };
        var outcome = defragmenter.Offer(frame, packet, fragment, timestamp, out int queue, out int discarded, out int restarted, out var reason);
        if (restarted >= 0)
            DropHeld(restarted, DropReason.FragmentTooFar);
        if (discarded >= 0)
            DropHeld(discarded, reason);
        switch (outcome)
        {
            case FragmentOutcome.Held:
                trace?.Hold();
                return;
            case FragmentOutcome.Dropped:
                _verdict.Malformed(reason, port, timestamp);
                Drop(port, handle, reason);
                return;
            case FragmentOutcome.PassThrough:
                // Decided here: handed on fresh, it would be a fragment to reassemble again on arrival. Its evaluation
                // moves to its connection's owner by itself, suspended.
                _verdict.Prepare(ref packet, ref cursor);
                Deliver(port, outPort, tx, handle, data, length, wire, timestamp, frame, ref packet, ref cursor);
                return;
        }
        var datagram = defragmenter.Datagram(queue);
        Unsafe.SkipInit(out ParsedPacket whole);
        var result = PacketParser.Parse(datagram, ref whole);
        if (result != DropReason.None)
        {
            // Whole but malformed (a transport header cut short in every fragment): every fragment goes under its reason.
            trace?.Hold();
            DropHeld(queue, result);
            return;
        }
        _verdict.Prepare(ref whole, ref cursor);
        Dispatch(port, outPort, tx, GroupHandle(_index, queue), defragmenter.DatagramAddress(queue), (uint)datagram.Length, (uint)datagram.Length, timestamp,
            datagram, ref whole, ref cursor, steer);
    }

    /// <summary>Decides a frame here or hands it to the owner of its state, as the burst loop does (for the rarer frames outside it).</summary>
    private void Dispatch(int port, int outPort, PacketBurst tx, nint handle, nint data, uint length, uint wire, long timestamp,
        ReadOnlySpan<byte> frame, ref ParsedPacket packet, ref EvaluationCursor cursor, bool steer)
    {
        if (steer && packet.L3 != L3Kind.None)
        {
            int owner = _verdict.Owner(ref packet, frame, _topology.Workers);
            if (owner != _index)
            {
                HandOff(owner, port, handle, data, length, wire, timestamp, ref cursor);
                return;
            }
        }
        Deliver(port, outPort, tx, handle, data, length, wire, timestamp, frame, ref packet, ref cursor);
    }

    /// <summary>Drops every fragment a queue of this worker's defragmenter holds under <paramref name="reason"/>, and frees it.</summary>
    private void DropHeld(int queue, DropReason reason)
    {
        var trace = _verdict.Trace;
        foreach (ref readonly var fragment in _defragmenter.Fragments(queue))
        {
            trace?.HeldDropped(fragment.TraceNumber, fragment.Timestamp, reason);
            Drop(fragment.InPort, fragment.Handle, reason);
        }
        _defragmenter.Release(queue);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExpireHeldFragments(long now)
    {
        while (_defragmenter.TryExpire(now, out int expired))
            DropHeld(expired, DropReason.ReassemblyTimeout);
    }

    private void DropUnfinishedDatagrams()
    {
        while (_defragmenter.TryTakeUnfinished(out int queue))
            DropHeld(queue, DropReason.ReassemblyUnfinished);
    }

    /// <summary>An accepted datagram: its fragments leave in offset order, at the time the datagram was whole.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TransmitGroup(int outPort, PacketBurst tx, nint group, long timestamp)
    {
        var (holder, queue) = GroupOf(group);
        var trace = _verdict.Trace;
        foreach (ref readonly var fragment in _defragmenters[holder].Fragments(queue))
        {
            trace?.HeldDecided(fragment.TraceNumber, fragment.Timestamp);
            tx.Add(fragment.Handle, fragment.Data, fragment.Length, fragment.WireLength, timestamp);
            if (tx.IsFull)
                FlushTx(outPort);
        }
        ReturnQueue(holder, queue);
    }

    /// <summary>A dropped datagram: every fragment is freed under the datagram's reason.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropGroup(nint group, DropReason reason)
    {
        var (holder, queue) = GroupOf(group);
        var trace = _verdict.Trace;
        foreach (ref readonly var fragment in _defragmenters[holder].Fragments(queue))
        {
            trace?.HeldDecided(fragment.TraceNumber, fragment.Timestamp);
            Drop(fragment.InPort, fragment.Handle, reason);
        }
        ReturnQueue(holder, queue);
    }

    private static nint GroupHandle(int holder, int queue) => (nint)(GroupTag | ((long)holder << 32) | (uint)queue);

    private static (int Holder, int Queue) GroupOf(nint group) => ((int)((long)group >> 32) & 0xFFFF, (int)(uint)group);

    /// <summary>A finished datagram's queue goes back to the worker holding it, which alone may free it.</summary>
    private void ReturnQueue(int holder, int queue)
    {
        if (holder == _index)
            _defragmenter.Release(queue);
        else
            SendAbandoned(holder, ~queue);
    }

    private void FlushAll()
    {
        for (int p = 0; p < _tx.Length; p++)
        {
            if (_tx[p].Count > 0)
                FlushTx(p);
        }
        // After every tx: a refused frame joins the release list of the port it came in on, which may come earlier.
        for (int p = 0; p < _tx.Length; p++)
        {
            if (_releaseCount[p] > 0)
                FlushRelease(p);
        }
    }

    private void FlushTx(int port)
    {
        var tx = _tx[port];
        int count = tx.Count;
        int sent = _topology.Ports[port].Transmit(_index, tx);
        long bytes = 0;
        for (int i = 0; i < sent; i++)
            bytes += tx.WireLengths[i];
        Counters.CountTx(port, sent, bytes);
        if (sent < count)
        {
            // The queue is full: like l2fwd, drop rather than wait. The frames came in on the peer port.
            int inPort = _topology.Peers[port];
            for (int i = sent; i < count; i++)
                Drop(inPort, tx.Handles[i], DropReason.TxQueueFull);
        }
        tx.Count = 0;
    }

    private void FlushRelease(int port)
    {
        _topology.Ports[port].Release(new ReadOnlySpan<nint>(_release[port], 0, _releaseCount[port]));
        _releaseCount[port] = 0;
    }
}
