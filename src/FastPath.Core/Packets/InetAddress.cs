// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Core.Packets;

/// <summary>
/// A 128-bit IP address laid out like the kernel's <c>nf_inet_addr</c>: the 16 bytes in network order, an IPv4
/// address in the first 4 bytes and the rest zero. The family is not stored; it travels beside the address
/// (<see cref="ParsedPacket.L3"/>), as it does in the kernel.
/// </summary>
public readonly struct InetAddress : IEquatable<InetAddress>
{
    // The two halves hold the bytes exactly as they sit in memory (a native-endian load of network-order bytes),
    // so building one from a packet is two plain loads and no byte swapping.
    private readonly ulong _upper;
    private readonly ulong _lower;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private InetAddress(ulong upper, ulong lower)
    {
        _upper = upper;
        _lower = lower;
    }

    /// <summary>Bytes 0..7 as a native-endian load; only meaningful for ordering and hashing.</summary>
    internal ulong Upper => _upper;

    /// <summary>Bytes 8..15 as a native-endian load; only meaningful for ordering and hashing.</summary>
    internal ulong Lower => _lower;

    /// <summary>The address as a number, its first byte the most significant: the order -m iprange compares in (an IPv4 address's four bytes lead).</summary>
    internal UInt128 Numeric => BitConverter.IsLittleEndian
        ? new UInt128(BinaryPrimitives.ReverseEndianness(_upper), BinaryPrimitives.ReverseEndianness(_lower))
        : new UInt128(_upper, _lower);

    /// <summary>The address whose <see cref="Upper"/> and <see cref="Lower"/> are the given halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static InetAddress FromHalves(ulong upper, ulong lower) => new(upper, lower);

    /// <summary>An IPv4 address from its 4 network-order bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static InetAddress FromIPv4(ReadOnlySpan<byte> fourBytes) => FromIPv4Raw(MemoryMarshal.Read<uint>(fourBytes));

    /// <summary>An IPv4 address from its host-order value (10.0.0.1 is 0x0A000001).</summary>
    public static InetAddress FromIPv4(uint hostOrder)
        => FromIPv4Raw(BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(hostOrder) : hostOrder);

    /// <summary>An IPv6 address from its 16 network-order bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static InetAddress FromIPv6(ReadOnlySpan<byte> sixteenBytes)
    {
        ulong upper = MemoryMarshal.Read<ulong>(sixteenBytes);
        ulong lower = MemoryMarshal.Read<ulong>(sixteenBytes.Slice(8));
        return new InetAddress(upper, lower);
    }

    /// <summary>An IPv4 address from 4 network-order bytes the caller has already bounds-checked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static InetAddress FromIPv4Unchecked(ref byte fourBytes) => FromIPv4Raw(Unsafe.ReadUnaligned<uint>(ref fourBytes));

    // raw: the 4 address bytes as a native-endian load; they must land in bytes 0..3 of the image.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static InetAddress FromIPv4Raw(uint raw) => new(BitConverter.IsLittleEndian ? raw : (ulong)raw << 32, 0);

    /// <summary>
    /// The first <paramref name="prefix"/> bits set, in network order: an IPv6 prefix's mask, and an IPv4 one's for
    /// a prefix up to 32 (an IPv4 address keeps its four bytes first).
    /// </summary>
    public static InetAddress PrefixMask(int prefix)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        for (int i = 0; i < prefix; i++)
            bytes[i / 8] |= (byte)(0x80 >> (i % 8));
        return FromIPv6(bytes);
    }

    /// <summary>All 128 bits set: the mask that keeps every address whole (iptables' default --mask).</summary>
    public static InetAddress AllOnes { get; } = new(ulong.MaxValue, ulong.MaxValue);

    /// <summary>The address with only the bits of <paramref name="mask"/> kept (the kernel's nf_inet_addr_mask).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public InetAddress And(in InetAddress mask) => new(_upper & mask._upper, _lower & mask._lower);

    /// <summary>Writes the 16 network-order bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        MemoryMarshal.Write(destination.Slice(0, 16), in _upper);
        MemoryMarshal.Write(destination.Slice(8), in _lower);
    }

    public bool Equals(InetAddress other) => _upper == other._upper && _lower == other._lower;

    public override bool Equals(object? obj) => obj is InetAddress other && Equals(other);

    // Deterministic (no per-process seed) so table layouts are reproducible.
    public override int GetHashCode()
    {
        ulong h = (_upper ^ BitOperations.RotateLeft(_lower, 29)) * 0x9E37_79B9_7F4A_7C15UL;
        return (int)(h ^ (h >> 32));
    }

    public static bool operator ==(InetAddress left, InetAddress right) => left.Equals(right);

    public static bool operator !=(InetAddress left, InetAddress right) => !left.Equals(right);

    /// <summary>
    /// IPv4 as a dotted quad ("10.0.0.1"); IPv6 as eight groups of four lowercase hex digits, the way the kernel's
    /// %pI6 prints it ("2001:0db8:0000:0000:0000:0000:0000:0001"). Any other family gives an empty string.
    /// </summary>
    public string Format(L3Kind family)
    {
        Span<byte> bytes = stackalloc byte[16];
        CopyTo(bytes);
        switch (family)
        {
            case L3Kind.IPv4:
                return $"{bytes[0]}.{bytes[1]}.{bytes[2]}.{bytes[3]}";

            case L3Kind.IPv6:
                Span<char> text = stackalloc char[39];
                for (int group = 0; group < 8; group++)
                {
                    int at = group * 5;
                    WriteHexByte(text.Slice(at), bytes[group * 2]);
                    WriteHexByte(text.Slice(at + 2), bytes[(group * 2) + 1]);
                    if (group < 7)
                    {
                        text[at + 4] = ':';
                    }
                }

                return new string(text);

            default:
                return string.Empty;
        }
    }

    /// <summary>
    /// Parses a dotted-quad IPv4 address (exactly four decimal parts, each 0..255) or any RFC 4291 IPv6 text form
    /// (compressed, expanded, mixed with a trailing dotted quad, whose parts have no leading zeros, as inet_pton
    /// wants). Zone ids, brackets, prefixes and whitespace are rejected.
    /// </summary>
    public static bool TryParse(string? text, out InetAddress address, out L3Kind family)
    {
        address = default;
        family = L3Kind.None;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (!text.Contains(':'))
        {
            if (!TryParseDottedQuad(text, out uint hostOrder))
            {
                return false;
            }

            address = FromIPv4(hostOrder);
            family = L3Kind.IPv4;
            return true;
        }

        // IPAddress also takes "%zone", "[...]" and surrounding whitespace; RFC 4291 text uses only these characters.
        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigit(c) && c != ':' && c != '.')
            {
                return false;
            }
        }

        if (!IPAddress.TryParse(text, out IPAddress? parsed) || parsed.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!parsed.TryWriteBytes(bytes, out int written) || written != 16)
        {
            return false;
        }

        // A trailing dotted quad must be as strict as inet_pton's, which ip6tables and conntrack use: IPAddress would
        // take "::1.2.3" and "::1.2.3.04" as well.
        int lastColon = text.LastIndexOf(':');
        if (text.IndexOf('.', lastColon) >= 0 && !TryParseDottedQuad(text.AsSpan(lastColon + 1), out _, leadingZeros: false))
        {
            return false;
        }

        address = FromIPv6(bytes);
        family = L3Kind.IPv6;
        return true;
    }

    // Exactly four parts of one to three decimal digits, each at most 255; no inet_aton shorthand ("127.1", "0x7f").
    // Without leadingZeros a part is "0" or starts with 1-9 ("04" is refused).
    private static bool TryParseDottedQuad(ReadOnlySpan<char> text, out uint hostOrder, bool leadingZeros = true)
    {
        hostOrder = 0;
        int parts = 0;
        int i = 0;
        while (true)
        {
            int value = 0;
            int digits = 0;
            while (i < text.Length && char.IsAsciiDigit(text[i]) && digits < 4)
            {
                value = (value * 10) + (text[i] - '0');
                digits++;
                i++;
            }

            if (digits == 0 || digits > 3 || value > 255 || (!leadingZeros && digits > 1 && text[i - digits] == '0'))
            {
                return false;
            }

            hostOrder = (hostOrder << 8) | (uint)value;
            parts++;
            if (i == text.Length)
            {
                return parts == 4;
            }

            if (text[i] != '.' || parts == 4)
            {
                return false;
            }

            i++;
        }
    }

    private static void WriteHexByte(Span<char> destination, byte value)
    {
        const string Hex = "0123456789abcdef";
        destination[0] = Hex[value >> 4];
        destination[1] = Hex[value & 0xf];
    }
}
