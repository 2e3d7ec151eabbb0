// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;

namespace FastPath.Dataplane.Ports;

/// <summary>
/// Up to <see cref="Capacity"/> packet references, as parallel arrays pinned for the lifetime of the process
/// so one native call can fill or drain a whole burst. A reference is the port's handle (an mbuf for DPDK,
/// a buffer slot elsewhere), a pointer to the first byte of the frame, the frame's bytes in that buffer,
/// its length on the wire and its timestamp. Nothing is copied: a frame is read in place.
/// </summary>
public sealed unsafe class PacketBurst
{
    /// <summary>DPDK's canonical burst: one rx call, process, one tx call.</summary>
    public const int Capacity = 32;

    // Pinned for the lifetime of the process, so their addresses are taken once and never change.
    private readonly nint[] _handles = GC.AllocateArray<nint>(Capacity, pinned: true);
    private readonly nint[] _data = GC.AllocateArray<nint>(Capacity, pinned: true);
    private readonly uint[] _lengths = GC.AllocateArray<uint>(Capacity, pinned: true);
    private readonly uint[] _wireLengths = GC.AllocateArray<uint>(Capacity, pinned: true);
    private readonly long[] _timestamps = GC.AllocateArray<long>(Capacity, pinned: true);

    public PacketBurst()
    {
        Handles = (nint*)Unsafe.AsPointer(ref _handles[0]);
        Data = (nint*)Unsafe.AsPointer(ref _data[0]);
        Lengths = (uint*)Unsafe.AsPointer(ref _lengths[0]);
        WireLengths = (uint*)Unsafe.AsPointer(ref _wireLengths[0]);
        Timestamps = (long*)Unsafe.AsPointer(ref _timestamps[0]);
    }

    public int Count;

    public readonly nint* Handles;
    public readonly nint* Data;
    public readonly uint* Lengths;
    public readonly uint* WireLengths;
    public readonly long* Timestamps;

    public bool IsFull => Count == Capacity;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Frame(int index) => new((void*)Data[index], (int)Lengths[index]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(nint handle, nint data, uint length, uint wireLength, long timestamp)
    {
        // Callers never add to a full burst (they flush at IsFull), so the pinned arrays are written unchecked.
        int i = Count++;
        Handles[i] = handle;
        Data[i] = data;
        Lengths[i] = length;
        WireLengths[i] = wireLength;
        Timestamps[i] = timestamp;
    }

    public uint Length(int index) => _lengths[index];
    public uint WireLength(int index) => _wireLengths[index];
    public long Timestamp(int index) => _timestamps[index];
}
