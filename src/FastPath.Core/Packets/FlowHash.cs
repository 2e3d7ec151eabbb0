// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace FastPath.Core.Packets;

/// <summary>A direction-independent flow hash, so both directions of a connection land on the same worker.</summary>
public static class FlowHash
{
    // Arbitrary odd 64-bit constants (wyhash's secrets); fixed so the value is the same in every process.
    private const ulong Secret0 = 0xA076_1D64_78BD_642FUL;
    private const ulong Secret1 = 0xE703_7ED1_A0B4_28DBUL;
    private const ulong Secret2 = 0x8EBC_6AF0_9C88_C6E3UL;
    private const ulong Secret3 = 0x5899_65CC_7537_4CC3UL;

    /// <summary>
    /// Hashes addresses, L4 protocol and ports (the echo identifier on both sides for ICMP/ICMPv6) with the two
    /// endpoints put in a canonical order, so A→B and B→A agree. Non-IP frames hash to 0. Non-first fragments
    /// carry no ports and so hash apart from their first fragment.
    /// </summary>
    public static uint Symmetric(in ParsedPacket packet)
    {
        if (packet.L3 == L3Kind.None)
        {
            return 0;
        }

        ulong aUpper = LittleEndian(packet.Source.Upper);
        ulong aLower = LittleEndian(packet.Source.Lower);
        ulong bUpper = LittleEndian(packet.Destination.Upper);
        ulong bLower = LittleEndian(packet.Destination.Lower);
        uint aPort = packet.SourcePort;
        uint bPort = packet.DestinationPort;
        if (packet.L4 is L4Kind.Icmp or L4Kind.Icmpv6)
        {
            aPort = packet.IcmpId;
            bPort = packet.IcmpId;
        }

        // Canonical order: by address, then by port.
        bool swap = aUpper != bUpper ? aUpper > bUpper : aLower != bLower ? aLower > bLower : aPort > bPort;
        if (swap)
        {
            (aUpper, bUpper) = (bUpper, aUpper);
            (aLower, bLower) = (bLower, aLower);
            (aPort, bPort) = (bPort, aPort);
        }

        ulong rest = ((ulong)aPort << 48) | ((ulong)bPort << 32) | ((ulong)packet.Protocol << 8) | (byte)packet.L3;
        ulong h = Mix(aUpper ^ Secret0, aLower ^ Secret1);
        h ^= Mix(bUpper ^ Secret2, bLower ^ Secret3);
        h = Mix(h ^ Secret1, rest ^ Secret0);
        return (uint)(h ^ (h >> 32));
    }

    // The same value on big-endian hosts; the JIT drops this entirely on little-endian ones.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LittleEndian(ulong nativeLoad)
        => BitConverter.IsLittleEndian ? nativeLoad : BinaryPrimitives.ReverseEndianness(nativeLoad);

    // wyhash's folded multiply: the full 128-bit product, high half xor low half. With BMI2 the two halves come
    // from a mulx and an imul, both in registers; BigMul's out parameter takes a round trip through the stack.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong a, ulong b)
    {
        if (Bmi2.X64.IsSupported)
            return Bmi2.X64.MultiplyNoFlags(a, b) ^ (a * b);
        ulong high = Math.BigMul(a, b, out ulong low);
        return high ^ low;
    }
}
