// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Ports;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// Who talks to whom, fixed before the workers start and never changed: the ports, each port's peer (a
/// bump-in-the-wire pair), which rx queues each worker polls and whether a port needs software steering.
/// Every worker reads it; nobody writes it after construction.
/// </summary>
public sealed class DataplaneTopology
{
    public DataplaneTopology(IReadOnlyList<IPort> ports, IReadOnlyList<(int A, int B)> pairs, int workers)
    {
        if (workers < 1)
            throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker");
        Ports = ports;
        Workers = workers;
        Peers = PeersOf(ports.Select(p => p.Name).ToArray(), pairs);
        for (int p = 0; p < ports.Count; p++)
        {
            if (ports[p].RxQueueCount > 0 && ports[Peers[p]].TxQueueCount < workers)
                throw new ArgumentException($"port '{ports[Peers[p]].Name}' has {ports[Peers[p]].TxQueueCount} tx queue(s); {workers} worker(s) need one each");
        }

        SoftwareSteering = new bool[ports.Count];
        var rx = new List<(int Port, int Queue)>[workers];
        for (int w = 0; w < workers; w++)
            rx[w] = [];
        for (int p = 0; p < ports.Count; p++)
        {
            SoftwareSteering[p] = workers > 1 && !ports[p].HashesFlowsToQueues;
            for (int q = 0; q < ports[p].RxQueueCount; q++)
                rx[q % workers].Add((p, q));
        }
        RxQueuesByWorker = rx.Select(l => l.ToArray()).ToArray();
    }

    /// <summary>Each port's peer from the pairs; every port must be in exactly one pair.</summary>
    public static int[] PeersOf(IReadOnlyList<string> portNames, IReadOnlyList<(int A, int B)> pairs)
    {
        var peers = new int[portNames.Count];
        Array.Fill(peers, -1);
        foreach (var (a, b) in pairs)
        {
            if (a == b || a < 0 || b < 0 || a >= peers.Length || b >= peers.Length)
                throw new ArgumentException($"a pair needs two different ports, got {a} and {b}");
            if (peers[a] >= 0 || peers[b] >= 0)
                throw new ArgumentException($"port '{portNames[peers[a] >= 0 ? a : b]}' is already in a pair");
            peers[a] = b;
            peers[b] = a;
        }
        for (int p = 0; p < peers.Length; p++)
        {
            if (peers[p] < 0)
                throw new ArgumentException($"port '{portNames[p]}' is in no pair: every port forwards to a peer");
        }
        return peers;
    }

    public IReadOnlyList<IPort> Ports { get; }
    public int Workers { get; }

    /// <summary>Peers[p] is where frames received on port p leave.</summary>
    public int[] Peers { get; }

    /// <summary>
    /// True when a port's queues do not already separate flows by owner (no RSS, or one queue for many
    /// workers): its frames are hashed in software and handed to the owning worker.
    /// </summary>
    public bool[] SoftwareSteering { get; }

    public (int Port, int Queue)[][] RxQueuesByWorker { get; }
}
