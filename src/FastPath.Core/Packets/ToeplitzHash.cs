// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace FastPath.Core.Packets;

/// <summary>
/// The Toeplitz hash NICs compute for receive-side scaling, in software: for every set bit of the input (first
/// byte first, most significant bit first) the 32 key bits starting at that bit position are xored into the
/// result. FastPath computes it to know, without asking the device, which queue a NIC hashing only one address
/// of each packet delivers a frame to (<see cref="RssIndirection"/>).
/// </summary>
public sealed class ToeplitzHash
{
    /// <summary>The key the shim programs into every device (native/fp_shim.c): 0x6d5a repeated, a symmetric key.</summary>
    public static ToeplitzHash Symmetric { get; } = new(SymmetricKey());

    // _table[position * 256 + value]: what byte value at that input position contributes; the hash of an input
    // is the xor of one entry per byte.
    private readonly uint[] _table;

    public ToeplitzHash(ReadOnlySpan<byte> key)
    {
        if (key.Length < 8)
            throw new ArgumentException("a Toeplitz key needs at least 8 bytes", nameof(key));
        MaxInput = key.Length - 4;
        _table = new uint[MaxInput * 256];
        for (int position = 0; position < MaxInput; position++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                uint window = Window(key, position * 8 + bit);
                int value = 0x80 >> bit;
                for (int v = 0; v < 256; v++)
                {
                    if ((v & value) != 0)
                        _table[position * 256 + v] ^= window;
                }
            }
        }
        _sharesEvenAndOddRows = MaxInput >= 16 && Enumerable.Range(2, 14).All(position =>
            _table.AsSpan(position * 256, 256).SequenceEqual(_table.AsSpan(position % 2 * 256, 256)));
    }

    // A key with a 16-bit period (the symmetric one) gives every even input position the same row and every odd
    // one the same row; the hash being linear, an address's even bytes can then be xored together first, and its
    // odd bytes, leaving two lookups for any address.
    private readonly bool _sharesEvenAndOddRows;

    /// <summary>The longest input the key covers (the key's length less 4 bytes: the last window needs 32 key bits).</summary>
    public int MaxInput { get; }

    /// <summary>The hash of <paramref name="input"/>, as a NIC computes it over the same bytes.</summary>
    public uint Hash(ReadOnlySpan<byte> input)
    {
        if (input.Length > MaxInput)
            throw new ArgumentException($"the key covers {MaxInput} input bytes", nameof(input));
        uint hash = 0;
        for (int i = 0; i < input.Length; i++)
            hash ^= _table[i * 256 + input[i]];
        return hash;
    }

    /// <summary>
    /// The hash of one address: its 16 bytes, or an IPv4 address's 4 (the 12 zero bytes after them add nothing),
    /// which is what a NIC hashing only the source (or only the destination) address computes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Address(in InetAddress address)
    {
        ref uint table = ref _table[0];
        ulong upper = LittleEndian(address.Upper);
        ulong lower = LittleEndian(address.Lower);
        if (_sharesEvenAndOddRows)
        {
            // Byte k of the address is bits 8k..8k+7 of upper (k < 8) or of lower; folding keeps each byte's parity.
            ulong folded = upper ^ lower;
            folded ^= folded >> 32;
            folded ^= folded >> 16;
            return Unsafe.Add(ref table, (int)(folded & 0xFF)) ^ Unsafe.Add(ref table, 256 + (int)((folded >> 8) & 0xFF));
        }
        // Zero bytes contribute nothing: an IPv4 address costs four lookups.
        uint hash = Word(ref table, (uint)upper, 0);
        if (upper >> 32 != 0)
            hash ^= Word(ref table, (uint)(upper >> 32), 4);
        if (lower != 0)
            hash ^= Word(ref table, (uint)lower, 8) ^ Word(ref table, (uint)(lower >> 32), 12);
        return hash;
    }

    // Four bytes from input position `first` on; byte k of the address is bits 8k..8k+7 of its little-endian word.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Word(ref uint table, uint word, int first)
        => Unsafe.Add(ref table, first * 256 + (int)(word & 0xFF))
            ^ Unsafe.Add(ref table, (first + 1) * 256 + (int)((word >> 8) & 0xFF))
            ^ Unsafe.Add(ref table, (first + 2) * 256 + (int)((word >> 16) & 0xFF))
            ^ Unsafe.Add(ref table, (first + 3) * 256 + (int)(word >> 24));

    // The bytes in address order whatever the host's byte order; the JIT drops this on little-endian hosts.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LittleEndian(ulong nativeLoad)
        => BitConverter.IsLittleEndian ? nativeLoad : BinaryPrimitives.ReverseEndianness(nativeLoad);

    // The 32 key bits starting at bit `first` (bit 0 is the first key byte's most significant bit).
    private static uint Window(ReadOnlySpan<byte> key, int first)
    {
        ulong bits = 0;
        for (int i = 0; i < 8; i++)
            bits = (bits << 8) | (first / 8 + i < key.Length ? key[first / 8 + i] : 0u);
        return (uint)(bits >> (32 - first % 8));
    }

    private static byte[] SymmetricKey()
    {
        var key = new byte[40];
        for (int i = 0; i < key.Length; i += 2)
            (key[i], key[i + 1]) = (0x6d, 0x5a);
        return key;
    }
}
