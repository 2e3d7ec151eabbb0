// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;

namespace FastPath.Dataplane.Tests.Workers;

public class DataplaneTopologyTests
{
    [Fact]
    public void PairsArePeersBothWays()
    {
        var ports = new IPort[] { new MemoryPort("a", 2), new MemoryPort("b", 2), new MemoryPort("c", 2), new MemoryPort("d", 2) };
        var topology = new DataplaneTopology(ports, [(0, 3), (1, 2)], workers: 2);
        Assert.Equal([3, 2, 1, 0], topology.Peers);
        Assert.All(topology.SoftwareSteering, Assert.True);
        // Worker w polls queue w of every port.
        Assert.Equal([(0, 0), (1, 0), (2, 0), (3, 0)], topology.RxQueuesByWorker[0]);
        Assert.Equal([(0, 1), (1, 1), (2, 1), (3, 1)], topology.RxQueuesByWorker[1]);
    }

    [Fact]
    public void DevicesThatHashFlowsNeedNoSoftwareSteering()
    {
        var ports = new IPort[] { new MemoryPort("a", 2, hashesFlowsToQueues: true), new MemoryPort("b", 2) };
        var topology = new DataplaneTopology(ports, [(0, 1)], workers: 2);
        Assert.False(topology.SoftwareSteering[0]);
        Assert.True(topology.SoftwareSteering[1]);
        Assert.False(new DataplaneTopology(ports, [(0, 1)], workers: 1).SoftwareSteering[1]);
    }

    [Fact]
    public void RejectsUnpairedAndDoublyPairedPorts()
    {
        var ports = new IPort[] { new MemoryPort("a", 1), new MemoryPort("b", 1), new MemoryPort("c", 1) };
        Assert.Contains("'c' is in no pair", Assert.Throws<ArgumentException>(() => new DataplaneTopology(ports, [(0, 1)], 1)).Message);
        Assert.Contains("already in a pair", Assert.Throws<ArgumentException>(() => new DataplaneTopology(ports, [(0, 1), (1, 2)], 1)).Message);
        Assert.Throws<ArgumentException>(() => new DataplaneTopology(ports, [(0, 0)], 1));
    }

    [Fact]
    public void EveryWorkerNeedsATxQueueOnThePeer()
    {
        var ports = new IPort[] { new MemoryPort("a", 2), new MemoryPort("b", 1) };
        var e = Assert.Throws<ArgumentException>(() => new DataplaneTopology(ports, [(0, 1)], workers: 2));
        Assert.Contains("'b' has 1 tx queue(s); 2 worker(s)", e.Message);
    }
}
