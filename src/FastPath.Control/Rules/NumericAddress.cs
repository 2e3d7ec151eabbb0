// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using FastPath.Core.Packets;

namespace FastPath.Control.Rules;

/// <summary>
/// Addresses and masks as `iptables -n` prints them: xtables_ipaddr_to_numeric / xtables_ip6addr_to_numeric
/// (glibc's inet_ntop) and xtables_ipmask_to_numeric / xtables_ip6mask_to_numeric ("/24", nothing for a host
/// mask, the mask itself when its ones are not contiguous).
/// </summary>
public static class NumericAddress
{
    public static string Format(in InetAddress address, L3Kind family)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.CopyTo(bytes);
        return family == L3Kind.IPv4 ? FormatIPv4(bytes[..4]) : FormatIPv6(bytes);
    }

    /// <summary>"/N", "" for a host mask, or "/MASK" when the mask is not a prefix.</summary>
    public static string MaskSuffix(in InetAddress mask, L3Kind family)
    {
        Span<byte> bytes = stackalloc byte[16];
        mask.CopyTo(bytes);
        int bits = family == L3Kind.IPv4 ? 32 : 128;
        int prefix = PrefixLength(bytes[..(bits / 8)]);
        if (prefix == bits)
            return "";
        return prefix >= 0 ? "/" + prefix.ToString(CultureInfo.InvariantCulture) : "/" + Format(mask, family);
    }

    /// <summary>The number of leading ones, or -1 when a one follows a zero.</summary>
    private static int PrefixLength(ReadOnlySpan<byte> mask)
    {
        int prefix = 0;
        bool zeroSeen = false;
        foreach (byte b in mask)
        {
            int ones = BitOperations.LeadingZeroCount((uint)(byte)~b) - 24;
            if (zeroSeen ? b != 0 : (byte)(b << ones) != 0)
                return -1;
            prefix += ones;
            zeroSeen |= ones < 8;
        }
        return prefix;
    }

    private static string FormatIPv4(ReadOnlySpan<byte> bytes) => $"{bytes[0]}.{bytes[1]}.{bytes[2]}.{bytes[3]}";

    /// <summary>glibc's inet_ntop6: the first longest run of two or more zero groups becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d keep the dotted quad.</summary>
    private static string FormatIPv6(ReadOnlySpan<byte> bytes)
    {
        Span<ushort> words = stackalloc ushort[8];
        for (int i = 0; i < 8; i++)
            words[i] = BinaryPrimitives.ReadUInt16BigEndian(bytes[(i * 2)..]);
        int bestBase = -1, bestLength = 0, runBase = -1, runLength = 0;
        for (int i = 0; i <= 8; i++)
        {
            if (i < 8 && words[i] == 0)
            {
                if (runBase < 0)
                    runBase = i;
                runLength++;
                continue;
            }
            if (runBase >= 0 && runLength > bestLength)
                (bestBase, bestLength) = (runBase, runLength);
            runBase = -1;
            runLength = 0;
        }
        if (bestLength < 2)
            bestBase = -1;

        var text = new StringBuilder(39);
        for (int i = 0; i < 8; i++)
        {
            if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength)
            {
                if (i == bestBase)
                    text.Append(':');
                continue;
            }
            if (i != 0)
                text.Append(':');
            if (i == 6 && bestBase == 0 && (bestLength == 6 || (bestLength == 5 && words[5] == 0xffff)))
                return text.Append(FormatIPv4(bytes[12..])).ToString();
            text.Append(words[i].ToString("x", CultureInfo.InvariantCulture));
        }
        if (bestBase >= 0 && bestBase + bestLength == 8)
            text.Append(':');
        return text.ToString();
    }
}
