// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Packets;
using FastPath.Dataplane.Native;

namespace FastPath.Dataplane.Ports;

/// <summary>
/// Any EAL ethdev: a PCI NIC or a vdev (net_af_packet, net_af_xdp, net_ring, net_null, net_pcap).
/// Frames are read in place in their mbufs; one shim call per burst fills handles, data pointers and lengths.
/// </summary>
public sealed unsafe class DpdkPort : IPort
{
    private readonly ushort _portId;
    private bool _started;

    private DpdkPort(string name, ushort portId, string driver, int rxQueues, int txQueues, RssFields? rss)
    {
        Name = name;
        _portId = portId;
        Driver = driver;
        RxQueueCount = rxQueues;
        TxQueueCount = txQueues;
        Rss = rss;
    }

    public string Name { get; }
    public string Driver { get; }
    public int RxQueueCount { get; }
    public int TxQueueCount { get; }
    public bool HashesFlowsToQueues => Rss is not null;

    /// <summary>What the device's RSS hashes to spread frames over the rx queues; null when it does not spread them.</summary>
    public RssFields? Rss { get; }

    /// <summary>
    /// Finds the device by its EAL name and configures <paramref name="queues"/> rx and tx queues on it.
    /// A device with fewer rx queues gets as many as it has (software steering evens out the load); a device
    /// with fewer tx queues is refused because every worker needs a tx queue of its own. A device with RSS hashes
    /// <paramref name="rss"/> when it can hash that alone and take FastPath's redirection table (so each frame
    /// reaches the queue <see cref="RssIndirection"/> names), and flows otherwise.
    /// </summary>
    public static DpdkPort Open(string name, int queues, DpdkMempool mempool, RssFields rss = RssFields.Flow, int rxDescriptors = 1024, int txDescriptors = 1024)
    {
        int ret = NativeMethods.PortByName(name, out ushort portId);
        if (ret != 0)
            throw new DpdkException($"no DPDK port named '{name}' (available: {string.Join(", ", ListPortNames())})", ret);
        ret = NativeMethods.GetPortInfo(portId, out var info);
        if (ret != 0)
            throw new DpdkException($"cannot read device info of '{name}'", ret);
        if (info.MaxTxQueues < queues)
            throw new DpdkException($"port '{name}' offers {info.MaxTxQueues} tx queue(s) but {queues} worker(s) need one each; use fewer workers or give the device more queues", 0);
        int rxQueues = Math.Min(queues, info.MaxRxQueues);
        string driver = NativeMethods.ReadFixedString(info.Driver, 32);
        if (rxQueues < 2 || info.RssOffloadsLow == 0)
        {
            Setup(name, portId, rxQueues, queues, rxDescriptors, txDescriptors, mempool, NativeMethods.PortFlagPromiscuous);
            return new DpdkPort(name, portId, driver, rxQueues, queues, rss: null);
        }
        if (rss != RssFields.Flow && TrySpreadByAddress(name, portId, rxQueues, queues, rxDescriptors, txDescriptors, mempool, rss))
            return new DpdkPort(name, portId, driver, rxQueues, queues, rss);
        Setup(name, portId, rxQueues, queues, rxDescriptors, txDescriptors, mempool, NativeMethods.PortFlagPromiscuous | NativeMethods.PortFlagRss);
        return new DpdkPort(name, portId, driver, rxQueues, queues, RssFields.Flow);
    }

    /// <summary>RSS on one address with FastPath's redirection table; false (and nothing to undo) when the device cannot.</summary>
    private static bool TrySpreadByAddress(string name, ushort portId, int rxQueues, int queues, int rxDescriptors, int txDescriptors, DpdkMempool mempool, RssFields rss)
    {
        uint only = rss == RssFields.SourceAddress ? NativeMethods.PortFlagRssSourceOnly : NativeMethods.PortFlagRssDestinationOnly;
        if (!Setup(name, portId, rxQueues, queues, rxDescriptors, txDescriptors, mempool, NativeMethods.PortFlagPromiscuous | NativeMethods.PortFlagRss | only))
            return false;
        var table = stackalloc ushort[RssIndirection.Entries];
        for (int entry = 0; entry < RssIndirection.Entries; entry++)
            table[entry] = (ushort)RssIndirection.QueueOf((uint)entry, rxQueues);
        return NativeMethods.PortRssRedirect(portId, table, RssIndirection.Entries) == 0;
    }

    /// <summary>The shim's port setup; false when the device cannot hash only the address asked for, and any other failure throws.</summary>
    private static bool Setup(string name, ushort portId, int rxQueues, int queues, int rxDescriptors, int txDescriptors, DpdkMempool mempool, uint flags)
    {
        int ret = NativeMethods.PortSetup(portId, (ushort)rxQueues, (ushort)queues, (ushort)rxDescriptors, (ushort)txDescriptors, mempool.Handle, flags);
        if (ret == -(int)Errno.EOPNOTSUPP && (flags & (NativeMethods.PortFlagRssSourceOnly | NativeMethods.PortFlagRssDestinationOnly)) != 0)
            return false;
        if (ret != 0)
            throw new DpdkException($"cannot configure port '{name}' with {rxQueues} rx / {queues} tx queues", ret);
        return true;
    }

    public static IReadOnlyList<string> ListPortNames()
    {
        var names = new List<string>();
        for (ushort p = 0; p < NativeMethods.PortCount(); p++)
        {
            if (NativeMethods.GetPortInfo(p, out var info) == 0)
                names.Add(NativeMethods.ReadFixedString(info.Name, 64));
        }
        return names;
    }

    public void Start()
    {
        int ret = NativeMethods.PortStart(_portId);
        if (ret != 0)
            throw new DpdkException($"cannot start port '{Name}'", ret);
        _started = true;
    }

    public int Receive(int queue, PacketBurst burst)
    {
        int n = NativeMethods.RxBurst(_portId, (ushort)queue, burst.Handles, burst.Data, burst.Lengths, PacketBurst.Capacity);
        // Live traffic has no capture timestamps: the burst's arrival time on the TSC clock stands for all of it.
        long now = Eal.NowNanoseconds();
        uint* lengths = burst.Lengths;
        uint* wire = burst.WireLengths;
        long* stamps = burst.Timestamps;
        for (int i = 0; i < n; i++)
        {
            wire[i] = lengths[i] & ~NativeMethods.LengthMultiSegment;
            stamps[i] = now;
        }
        burst.Count = n;
        return n;
    }

    public int Transmit(int queue, PacketBurst burst) =>
        NativeMethods.TxBurst(_portId, (ushort)queue, burst.Handles, (ushort)burst.Count);

    public void Release(ReadOnlySpan<nint> handles)
    {
        fixed (nint* p = handles)
            NativeMethods.FreeBulk(p, (uint)handles.Length);
    }

    public bool IsExhausted(int queue) => false;

    public PortCounters ReadDeviceCounters()
    {
        NativeMethods.GetPortStats(_portId, out var s);
        return new PortCounters(s.InPackets, s.InBytes, s.OutPackets, s.OutBytes, s.InMissed, s.InErrors, s.OutErrors);
    }

    public void Dispose()
    {
        if (_started)
        {
            NativeMethods.PortStop(_portId);
            _started = false;
        }
        NativeMethods.PortClose(_portId);
    }
}

/// <summary>An mbuf pool shared by every port of the dataplane.</summary>
public sealed unsafe class DpdkMempool : IDisposable
{
    /// <summary>2048 bytes of frame plus RTE_PKTMBUF_HEADROOM (128).</summary>
    public const ushort DefaultDataRoom = 2048 + 128;

    private DpdkMempool(nint handle) => Handle = handle;

    public nint Handle { get; private set; }

    public static DpdkMempool Create(string name, uint mbufs, uint cache = 256, ushort dataRoom = DefaultDataRoom)
    {
        nint handle = NativeMethods.MempoolCreate(name, mbufs, cache, dataRoom, -1);
        if (handle == 0)
            throw new DpdkException($"cannot create mbuf pool '{name}' of {mbufs} mbufs (is -m / hugepage memory large enough?)", 0);
        return new DpdkMempool(handle);
    }

    /// <summary>Allocates one mbuf per frame and copies the frame in (traffic generators in tests and benchmarks).</summary>
    public void AllocateCopies(IReadOnlyList<byte[]> frames, Span<nint> mbufs)
    {
        int n = frames.Count;
        var pins = new System.Runtime.InteropServices.GCHandle[n];
        byte** pointers = stackalloc byte*[n];
        uint* lengths = stackalloc uint[n];
        try
        {
            for (int i = 0; i < n; i++)
            {
                pins[i] = System.Runtime.InteropServices.GCHandle.Alloc(frames[i], System.Runtime.InteropServices.GCHandleType.Pinned);
                pointers[i] = (byte*)pins[i].AddrOfPinnedObject();
                lengths[i] = (uint)frames[i].Length;
            }
            fixed (nint* m = mbufs)
            {
                int ret = NativeMethods.MbufAllocCopy(Handle, m, pointers, lengths, (uint)n);
                if (ret < 0)
                    throw new DpdkException($"cannot allocate {n} mbufs", ret);
            }
        }
        finally
        {
            foreach (var pin in pins)
            {
                if (pin.IsAllocated)
                    pin.Free();
            }
        }
    }

    public void Dispose()
    {
        if (Handle != 0)
        {
            NativeMethods.MempoolFree(Handle);
            Handle = 0;
        }
    }
}
