// SPDX-License-Identifier: MIT
using System.Numerics;
using FastPath.Core.Conntrack.Defrag;
using FastPath.Core.Memory;
using FastPath.Core.Packets;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;

namespace FastPath.Dataplane;

public sealed record DataplaneOptions
{
    /// <summary>Number of poll-mode workers; each gets its own rx/tx queue on every port.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Core per worker (same length as <see cref="Workers"/>), or null to leave workers unpinned.</summary>
    public IReadOnlyList<int>? Cores { get; init; }

    /// <summary>Capacity of each worker-to-worker handoff ring (rounded up to a power of two).</summary>
    public int HandoffRingSize { get; init; } = 4096;

    /// <summary>Set when the ports are DPDK devices: every worker thread registers itself with the EAL.</summary>
    public bool RegisterWithDpdk { get; init; }

    /// <summary>The nf_conntrack_frag6_* sysctls every worker's defragmenter reads.</summary>
    public ReassemblySettings Reassembly { get; init; } = new();
}

/// <summary>
/// The running dataplane: its workers, the rings between them, and the lifecycle (start, two-phase stop,
/// counters). Ports are owned by the caller.
/// </summary>
public sealed class DataplaneHost<TVerdict> where TVerdict : struct, IVerdictStage
{
    private readonly DataplaneOptions _options;
    private readonly DataplaneControl _control;
    private readonly Thread[] _threads;
    private readonly Exception?[] _failures;

    public DataplaneHost(IReadOnlyList<IPort> ports, IReadOnlyList<(int A, int B)> pairs, DataplaneOptions options, Func<int, TVerdict> verdictForWorker)
    {
        if (options.Cores is { } cores && cores.Count != options.Workers)
            throw new ArgumentException($"{options.Workers} worker(s) but {cores.Count} core(s) given: one core per worker");
        _options = options;
        Topology = new DataplaneTopology(ports, pairs, options.Workers);
        _control = new DataplaneControl(options.Workers);

        int n = options.Workers;
        var verdicts = Enumerable.Range(0, n).Select(verdictForWorker).ToArray();
        var handoffs = Mesh<HandoffEntry>(n, _ => options.HandoffRingSize);
        // A ring of tokens holds at most what its destination can hold (its stage's state and its reassembly queues):
        // it never refuses one.
        var abandoned = Mesh<int>(n, to => verdicts[to].AbandonCapacity + Defragmenter.QueueCount);
        var defragmenters = Enumerable.Range(0, n).Select(_ => new Defragmenter(options.Reassembly)).ToArray();
        Workers = new Worker<TVerdict>[n];
        for (int w = 0; w < n; w++)
            Workers[w] = new Worker<TVerdict>(w, Topology, _control, verdicts[w], Ends(handoffs, w), Ends(abandoned, w), defragmenters, options.Cores?[w]);
        _threads = new Thread[n];
        _failures = new Exception?[n];
    }

    /// <summary>A ring from every worker to every other, holding at least what its destination asks for (none for 0).</summary>
    private static SpscRing<T>?[,] Mesh<T>(int workers, Func<int, int> capacityTo) where T : struct
    {
        var rings = new SpscRing<T>?[workers, workers];
        for (int to = 0; to < workers; to++)
        {
            int capacity = capacityTo(to);
            for (int from = 0; from < workers; from++)
            {
                if (from != to && capacity > 0)
                    rings[from, to] = new SpscRing<T>((int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2)));
            }
        }
        return rings;
    }

    /// <summary>A worker's ends of a mesh: its outbound rings by destination (null for itself or none), and its inbound rings.</summary>
    private static WorkerRings<T> Ends<T>(SpscRing<T>?[,] mesh, int worker) where T : struct
    {
        int n = mesh.GetLength(0);
        var outbound = new SpscRing<T>?[n];
        var inbound = new List<SpscRing<T>>();
        for (int other = 0; other < n; other++)
        {
            outbound[other] = mesh[worker, other];
            if (mesh[other, worker] is { } ring)
                inbound.Add(ring);
        }
        return new WorkerRings<T>(outbound, inbound.ToArray());
    }

    public DataplaneTopology Topology { get; }
    public Worker<TVerdict>[] Workers { get; }

    public bool IsStopRequested => _control.StopRequested;

    public void Start()
    {
        for (int w = 0; w < Workers.Length; w++)
        {
            int index = w;
            _threads[w] = new Thread(() => RunWorker(index)) { Name = $"fp-worker-{w}", IsBackground = true };
            _threads[w].Start();
        }
    }

    private void RunWorker(int index)
    {
        try
        {
            Workers[index].Run(_options.RegisterWithDpdk);
        }
        catch (Exception e)
        {
            // A worker that cannot start (pinning refused, DPDK registration failed) stops the whole dataplane.
            _failures[index] = e;
            _control.MarkFailed(index);
        }
    }

    /// <summary>
    /// Runs <paramref name="actionForWorker"/>(w) on every worker w's own thread, between two of its polls, and
    /// waits until all have run (for the management thread: workers never wait for it). A worker that is
    /// not running (not started, or stopped) cannot race anyone, so its action runs here. Rethrows an
    /// action's failure; throws <see cref="TimeoutException"/> if a worker does not get to it in time (the action stays
    /// posted and runs when it does) or has not yet run the previous one.
    /// </summary>
    public void RunOnWorkers(Func<int, VerdictAction<TVerdict>> actionForWorker, TimeSpan timeout)
    {
        var posted = new bool[Workers.Length];
        for (int w = 0; w < Workers.Length; w++)
        {
            var action = actionForWorker(w);
            if (_threads[w] is { IsAlive: true } && Workers[w].Mailbox.TryPost(action))
                posted[w] = true;
            else if (_threads[w] is not { IsAlive: true })
                action(ref Workers[w].Verdict);
            else
                throw new TimeoutException($"worker {w} has not yet run the previous control action");
        }
        var deadline = DateTime.UtcNow + timeout;
        for (int w = 0; w < Workers.Length; w++)
        {
            var mailbox = Workers[w].Mailbox;
            while (posted[w] && !mailbox.IsIdle)
            {
                // A worker that exits with the action still posted runs nothing more: take it back and run it here.
                if (!_threads[w].IsAlive && !mailbox.IsIdle)
                {
                    mailbox.RunPending(ref Workers[w].Verdict);
                    break;
                }
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"worker {w} did not run the control action within {timeout.TotalSeconds:0.#} s (it runs it when it gets to it)");
                Thread.Sleep(0);
            }
            if (posted[w] && mailbox.Failure is { } failure)
                throw new InvalidOperationException($"worker {w}: {failure.Message}", failure);
        }
    }

    /// <summary>Stop rx everywhere; workers drain their rings and flush, then exit.</summary>
    public void RequestStop() => _control.RequestStop();

    /// <summary>True when every rx queue of every port is a finished finite source (pcap replay, test frames).</summary>
    public bool AllSourcesExhausted()
    {
        var ports = Topology.Ports;
        bool anyQueue = false;
        for (int p = 0; p < ports.Count; p++)
        {
            for (int q = 0; q < ports[p].RxQueueCount; q++)
            {
                anyQueue = true;
                if (!ports[p].IsExhausted(q))
                    return false;
            }
        }
        return anyQueue;
    }

    /// <summary>Waits for the workers to exit; true if they did within the timeout. Rethrows a worker's failure.</summary>
    public bool Join(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var t in _threads)
        {
            var left = deadline - DateTime.UtcNow;
            if (!t.Join(left < TimeSpan.Zero ? TimeSpan.Zero : left))
                return false;
        }
        var failure = _failures.FirstOrDefault(f => f is not null);
        if (failure is not null)
            throw new InvalidOperationException($"a worker failed: {failure.Message}", failure);
        return true;
    }

    /// <summary>Runs until every finite source is exhausted or a stop is requested, then stops and joins.</summary>
    public void RunToCompletion(TimeSpan timeout)
    {
        Start();
        var deadline = DateTime.UtcNow + timeout;
        while (!_control.StopRequested && !AllSourcesExhausted())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the dataplane did not finish its sources in time");
            Thread.Sleep(1);
        }
        RequestStop();
        if (!Join(deadline - DateTime.UtcNow + TimeSpan.FromSeconds(5)))
            throw new TimeoutException("the workers did not stop in time");
    }

    public DataplaneCounters ReadCounters() => DataplaneCounters.Read(Topology, Workers.Select(w => w.Counters).ToArray());
}

/// <summary>A summed view of every worker's counters at one moment.</summary>
public sealed class DataplaneCounters
{
    public required string[] PortNames { get; init; }
    public required long[] RxPackets { get; init; }
    public required long[] RxBytes { get; init; }
    public required long[] TxPackets { get; init; }
    public required long[] TxBytes { get; init; }
    public required long[] Dropped { get; init; }
    public required long[] HandedOff { get; init; }
    public required long[] DropsByReason { get; init; }
    public required long[][] RxPacketsByWorker { get; init; }
    public required long[][] TxPacketsByWorker { get; init; }
    public required long[] HandoffReceivedByWorker { get; init; }

    public long Drops(DropReason reason) => DropsByReason[(int)reason];

    public static DataplaneCounters Read(DataplaneTopology topology, WorkerCounters[] workers)
    {
        int ports = topology.Ports.Count;
        var c = new DataplaneCounters
        {
            PortNames = topology.Ports.Select(p => p.Name).ToArray(),
            RxPackets = new long[ports],
            RxBytes = new long[ports],
            TxPackets = new long[ports],
            TxBytes = new long[ports],
            Dropped = new long[ports],
            HandedOff = new long[ports],
            DropsByReason = new long[DropReasons.Count],
            RxPacketsByWorker = new long[workers.Length][],
            TxPacketsByWorker = new long[workers.Length][],
            HandoffReceivedByWorker = new long[workers.Length],
        };
        for (int w = 0; w < workers.Length; w++)
        {
            var wc = workers[w];
            c.RxPacketsByWorker[w] = new long[ports];
            c.TxPacketsByWorker[w] = new long[ports];
            for (int p = 0; p < ports; p++)
            {
                long rx = wc.ReadRxPackets(p), tx = wc.ReadTxPackets(p);
                c.RxPackets[p] += rx;
                c.RxBytes[p] += wc.ReadRxBytes(p);
                c.TxPackets[p] += tx;
                c.TxBytes[p] += wc.ReadTxBytes(p);
                c.Dropped[p] += wc.ReadDropped(p);
                c.HandedOff[p] += wc.ReadHandedOff(p);
                c.RxPacketsByWorker[w][p] = rx;
                c.TxPacketsByWorker[w][p] = tx;
            }
            for (int r = 0; r < DropReasons.Count; r++)
                c.DropsByReason[r] += wc.ReadDrops((DropReason)r);
            c.HandoffReceivedByWorker[w] = wc.ReadHandoffReceived();
        }
        return c;
    }
}
