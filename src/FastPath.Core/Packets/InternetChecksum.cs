// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastPath.Core.Packets;

/// <summary>The RFC 1071 Internet checksum: the one's complement of the one's-complement sum of 16-bit words.</summary>
public static class InternetChecksum
{
    /// <summary>
    /// Returns the value to store in a checksum field (write it big-endian) whose own bytes were zero while summing.
    /// An odd trailing byte is padded with a zero byte, as RFC 1071 says.
    /// </summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => (ushort)~Fold(Sum(data));

    /// <summary>True when <paramref name="header"/>, checksum field included, sums to 0xffff.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Verify(ReadOnlySpan<byte> header) => Fold(Sum(header)) == 0xffff;

    /// <summary>The common case of <see cref="Verify"/>: a 20-byte IPv4 header without options, unrolled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool VerifyIpv4HeaderWithoutOptions(ReadOnlySpan<byte> header)
    {
        // Five native-endian words: the one's-complement sum is byte-order independent (RFC 1071 section 2(B)),
        // and 0xffff reads the same either way round.
        ulong sum = (ulong)MemoryMarshal.Read<uint>(header)
            + MemoryMarshal.Read<uint>(header.Slice(4))
            + MemoryMarshal.Read<uint>(header.Slice(8))
            + MemoryMarshal.Read<uint>(header.Slice(12))
            + MemoryMarshal.Read<uint>(header.Slice(16, 4));
        return Fold(sum) == 0xffff;
    }

    /// <summary>
    /// Whether a transport checksum holds as the kernel's nf_ip_checksum and nf_ip6_checksum(_partial) check it: the
    /// pseudo-header (both addresses, <paramref name="protocol"/> and the length of the whole L4 payload) plus the
    /// first <paramref name="covered"/> bytes of <paramref name="l4"/> sum to 0xffff. <paramref name="frame"/> holds
    /// the IP header the addresses are read from.
    /// </summary>
    public static bool VerifyWithPseudoHeader(ReadOnlySpan<byte> frame, in ParsedPacket packet, ReadOnlySpan<byte> l4, byte protocol, int covered)
    {
        // IPv4: source and destination at 12..20 of the header; IPv6: at 8..40.
        var addresses = packet.L3 == L3Kind.IPv4 ? frame.Slice(packet.L3Offset + 12, 8) : frame.Slice(packet.L3Offset + 8, 32);
        ulong sum = Sum(addresses) + protocol + (uint)l4.Length + Sum(l4.Slice(0, covered));
        return Fold(sum) == 0xffff;
    }

    // 32-bit words into a 64-bit accumulator cannot overflow below 16 GiB, and the end-around carries are folded
    // once at the end; RFC 1071 shows the sum does not depend on the word size used.
    private static ulong Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        while (data.Length >= 4)
        {
            sum += BinaryPrimitives.ReadUInt32BigEndian(data);
            data = data.Slice(4);
        }

        if (data.Length >= 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data);
            data = data.Slice(2);
        }

        if (!data.IsEmpty)
        {
            sum += (uint)data[0] << 8;
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Fold(ulong sum)
    {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        uint folded = (uint)sum;
        folded = (folded & 0xffff) + (folded >> 16);
        folded = (folded & 0xffff) + (folded >> 16);
        return folded;
    }
}
