// SPDX-License-Identifier: MIT
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Core.Memory;

/// <summary>
/// A preallocated single-producer / single-consumer ring, the only way work crosses between cores.
/// Exactly one thread calls <see cref="TryEnqueue"/> and exactly one (other) thread calls
/// <see cref="TryDequeue"/>. No locks and no interlocked instructions: each index has one writer and is
/// published with a release store; on x64 those are plain stores.
/// </summary>
public sealed class SpscRing<T> where T : struct
{
    private readonly T[] _slots;
    private readonly long _mask;

    private PaddedLong _head;        // consumer writes, producer reads
    private PaddedLong _tail;        // producer writes, consumer reads
    private PaddedLong _cachedHead;  // producer only: last head it saw, so it rarely touches the consumer's line
    private PaddedLong _cachedTail;  // consumer only: last tail it saw

    public SpscRing(int capacity)
    {
        if (capacity < 2 || !BitOperations.IsPow2(capacity))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "capacity must be a power of two >= 2");
        _slots = new T[capacity];
        _mask = capacity - 1;
    }

    public int Capacity => _slots.Length;

    /// <summary>Producer side. False when the ring is full: the producer never waits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(in T item)
    {
        long tail = _tail.Value;
        if (tail - _cachedHead.Value == _slots.Length)
        {
            _cachedHead.Value = Volatile.Read(ref _head.Value);
            if (tail - _cachedHead.Value == _slots.Length)
                return false;
        }
        _slots[tail & _mask] = item;
        Volatile.Write(ref _tail.Value, tail + 1);
        return true;
    }

    /// <summary>Consumer side. False when the ring is empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryDequeue(out T item)
    {
        long head = _head.Value;
        if (head == _cachedTail.Value)
        {
            _cachedTail.Value = Volatile.Read(ref _tail.Value);
            if (head == _cachedTail.Value)
            {
                item = default;
                return false;
            }
        }
        item = _slots[head & _mask];
        Volatile.Write(ref _head.Value, head + 1);
        return true;
    }

    /// <summary>Consumer side: true when nothing is waiting (a fresh read of the producer's index).</summary>
    public bool IsEmpty => _head.Value == Volatile.Read(ref _tail.Value);
}

/// <summary>One index alone on its cache line (and its neighbour's prefetch line).</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct PaddedLong
{
    [FieldOffset(64)]
    public long Value;
}
