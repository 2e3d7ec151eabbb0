// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Dataplane.Native;

/// <summary>
/// The fp_shim exports (native/fp_shim.h). Burst calls and the TSC read are short, never block and never
/// call back into managed code, so they skip the GC transition; everything else is a normal P/Invoke.
/// </summary>
internal static unsafe partial class NativeMethods
{
    public const string Library = "fp_shim";

    /// <summary>Must equal FP_SHIM_ABI_VERSION in native/fp_shim.h.</summary>
    public const uint ExpectedAbiVersion = 3;

    public const uint LengthMultiSegment = 0x80000000u;
    public const uint PortFlagRss = 1;
    public const uint PortFlagPromiscuous = 2;
    public const uint PortFlagRssSourceOnly = 4;
    public const uint PortFlagRssDestinationOnly = 8;

    [StructLayout(LayoutKind.Sequential)]
    public struct PortInfo
    {
        public ushort MaxRxQueues;
        public ushort MaxTxQueues;
        public uint RssOffloadsLow;
        public int SocketId;
        public fixed byte Name[64];
        public fixed byte Driver[32];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PortStats
    {
        public ulong InPackets;
        public ulong OutPackets;
        public ulong InBytes;
        public ulong OutBytes;
        public ulong InMissed;
        public ulong InErrors;
        public ulong OutErrors;
        public ulong RxNoMbuf;
    }

    [LibraryImport(Library, EntryPoint = "fp_abi_version")]
    public static partial uint AbiVersion();

    [LibraryImport(Library, EntryPoint = "fp_eal_init")]
    public static partial int EalInit(int argc, byte** argv);

    [LibraryImport(Library, EntryPoint = "fp_port_count")]
    public static partial ushort PortCount();

    [LibraryImport(Library, EntryPoint = "fp_port_by_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int PortByName(string name, out ushort portId);

    [LibraryImport(Library, EntryPoint = "fp_port_info")]
    public static partial int GetPortInfo(ushort portId, out PortInfo info);

    [LibraryImport(Library, EntryPoint = "fp_port_setup")]
    public static partial int PortSetup(ushort portId, ushort rxQueues, ushort txQueues, ushort rxDescriptors,
        ushort txDescriptors, nint mempool, uint flags);

    [LibraryImport(Library, EntryPoint = "fp_port_rss_redirect")]
    public static partial int PortRssRedirect(ushort portId, ushort* queues, ushort entries);

    [LibraryImport(Library, EntryPoint = "fp_port_start")]
    public static partial int PortStart(ushort portId);

    [LibraryImport(Library, EntryPoint = "fp_port_stop")]
    public static partial int PortStop(ushort portId);

    [LibraryImport(Library, EntryPoint = "fp_port_close")]
    public static partial int PortClose(ushort portId);

    [LibraryImport(Library, EntryPoint = "fp_port_stats")]
    public static partial int GetPortStats(ushort portId, out PortStats stats);

    [LibraryImport(Library, EntryPoint = "fp_mempool_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint MempoolCreate(string name, uint mbufs, uint cache, ushort dataRoom, int socketId);

    [LibraryImport(Library, EntryPoint = "fp_mempool_free")]
    public static partial void MempoolFree(nint mempool);

    [LibraryImport(Library, EntryPoint = "fp_rx_burst")]
    [SuppressGCTransition]
    public static partial ushort RxBurst(ushort portId, ushort queue, nint* mbufs, nint* data, uint* lengths, ushort count);

    [LibraryImport(Library, EntryPoint = "fp_tx_burst")]
    [SuppressGCTransition]
    public static partial ushort TxBurst(ushort portId, ushort queue, nint* mbufs, ushort count);

    [LibraryImport(Library, EntryPoint = "fp_free_bulk")]
    [SuppressGCTransition]
    public static partial void FreeBulk(nint* mbufs, uint count);

    [LibraryImport(Library, EntryPoint = "fp_mbuf_alloc_copy")]
    public static partial int MbufAllocCopy(nint mempool, nint* mbufs, byte** frames, uint* lengths, uint count);

    [LibraryImport(Library, EntryPoint = "fp_thread_register")]
    public static partial int ThreadRegister();

    [LibraryImport(Library, EntryPoint = "fp_thread_unregister")]
    public static partial void ThreadUnregister();

    [LibraryImport(Library, EntryPoint = "fp_tsc")]
    [SuppressGCTransition]
    public static partial ulong Tsc();

    [LibraryImport(Library, EntryPoint = "fp_tsc_hz")]
    public static partial ulong TscHz();

    public static string ReadFixedString(byte* bytes, int capacity)
    {
        int length = new ReadOnlySpan<byte>(bytes, capacity).IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(bytes, length < 0 ? capacity : length);
    }
}
