// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Core.Memory;

/// <summary>
/// A fixed-length, zeroed array in native memory for a table the packet path reaches at random: from 2 MB on it is
/// aligned to 2 MB and marked for transparent huge pages (madvise MADV_HUGEPAGE, which the kernel honours in its
/// default "madvise" mode), so a million connections take a few hundred TLB entries instead of a hundred thousand,
/// as DPDK's hugepage memory does. The GC never scans or moves it; it is freed when the array is collected.
/// </summary>
public sealed unsafe class HugePageArray<T> where T : unmanaged
{
    private const nuint HugePage = 2 << 20;

    private readonly T* _items;
    private readonly nuint _bytes;

    public HugePageArray(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _bytes = Math.Max((nuint)length * (nuint)sizeof(T), 1);
        bool huge = _bytes >= HugePage;
        if (huge)
            _bytes = (_bytes + HugePage - 1) & ~(HugePage - 1);
        _items = (T*)NativeMemory.AlignedAlloc(_bytes, huge ? HugePage : 64);
        // Only a hint: where the kernel gives no huge pages the table works the same on small ones.
        if (huge)
            _ = HugePageAdvice.Advise(_items, _bytes);
        NativeMemory.Clear(_items, _bytes); // the first touch, after the advice, so the faults take huge pages
        GC.AddMemoryPressure((long)_bytes);
    }

    public int Length { get; }

    public ref T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Length)
                ThrowIndexOutOfRange();
            return ref _items[index];
        }
    }

    public ref T this[uint index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (index >= (uint)Length)
                ThrowIndexOutOfRange();
            return ref _items[index];
        }
    }

    public void Fill(T value) => new Span<T>(_items, Length).Fill(value);

    ~HugePageArray()
    {
        NativeMemory.AlignedFree(_items);
        GC.RemoveMemoryPressure((long)_bytes);
    }

    private static void ThrowIndexOutOfRange() => throw new IndexOutOfRangeException();
}

internal static unsafe partial class HugePageAdvice
{
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>madvise(MADV_HUGEPAGE): 0, or -1 where the kernel has no transparent huge pages.</summary>
    public static int Advise(void* address, nuint length) => Madvise(address, length, MadviseHugePage);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
