// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>
/// The kernel's in4_pton and in6_pton, so a proc write accepts exactly what Linux accepts: decimal octets
/// with any leading zeros, "::" once, an embedded dotted quad at the end, no zone, no spaces; the text may
/// end at the buffer's end, at a NUL or at the delimiter (a newline), and anything after the delimiter is ignored.
/// </summary>
public static class KernelAddressText
{
    private const int XDigit = 0x00010000;
    private const int Digit = 0x00020000;
    private const int ColonMask = 0x00700000;
    private const int Colon1 = 0x00100000;
    private const int Colon2 = 0x00200000;
    private const int Colon12 = 0x00400000;
    private const int Dot = 0x00800000;
    private const int Delim = 0x10000000;
    private const int Null = 0x20000000;
    private const int Unknown = 0x40000000;

    private static int Classify(int c, int delimiter)
    {
        if (c == delimiter || c == 0)
            return Delim;
        if (c == ':')
            return ColonMask;
        if (c == '.')
            return Dot;
        int value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        if (value >= 0)
            return value | XDigit | (value < 10 ? Digit : 0);
        return Unknown;
    }

    private static int At(ReadOnlySpan<byte> text, int i) => i < text.Length ? text[i] : 0;

    /// <summary>in4_pton: four decimal octets. <paramref name="end"/> is where parsing stopped.</summary>
    public static bool TryParseIPv4(ReadOnlySpan<byte> text, Span<byte> address, out int end, int delimiter = '\n')
    {
        Span<byte> octets = stackalloc byte[4];
        int s = 0, count = 0, w = 0;
        end = 0;
        while (true)
        {
            int c = Classify(At(text, s), delimiter);
            if ((c & (Digit | Dot | Delim | ColonMask)) == 0)
            {
                end = s;
                return false;
            }
            if ((c & (Dot | Delim | ColonMask)) != 0)
            {
                if (w == 0)
                {
                    end = s;
                    return false;
                }
                octets[count++] = (byte)w;
                w = 0;
                if ((c & (Delim | ColonMask)) != 0)
                {
                    end = s;
                    if (count != 4)
                        return false;
                    break;
                }
            }
            else
            {
                // The flag bits ride along in w (as in the kernel) so "0" still counts as a digit seen.
                w = unchecked((w * 10) + c);
                if ((w & 0xffff) > 255)
                {
                    end = s;
                    return false;
                }
            }
            if (count >= 4)
            {
                end = s;
                return false;
            }
            s++;
        }
        octets.CopyTo(address);
        return true;
    }

    /// <summary>in6_pton: eight groups, "::" once, an optional trailing dotted quad.</summary>
    public static bool TryParseIPv6(ReadOnlySpan<byte> text, Span<byte> address, int delimiter = '\n')
    {
        Span<byte> buffer = stackalloc byte[16];
        buffer.Clear();
        int s = 0, d = 0, dc = -1, tok = -1;
        int state = Colon12 | XDigit | Null;
        int w = 0;
        while (true)
        {
            int c = Classify(At(text, s), delimiter);
            if ((c & state) == 0)
                return false;
            if ((c & (Delim | ColonMask)) != 0)
            {
                if ((state & Null) == 0)
                {
                    buffer[d++] = (byte)(w >> 8);
                    buffer[d++] = (byte)w;
                }
                w = 0;
                if ((c & Delim) != 0)
                    break;
                switch (state & ColonMask)
                {
                    case Colon2:
                        dc = d;
                        state = XDigit | Delim;
                        if (dc >= 16)
                            state |= Null;
                        break;
                    case Colon1 | Colon12:
                        state = XDigit | Colon2;
                        break;
                    case Colon1:
                        state = XDigit;
                        break;
                    case Colon12:
                        state = Colon2;
                        break;
                    default:
                        state = 0;
                        break;
                }
                tok = s + 1;
            }
            else if ((c & Dot) != 0)
            {
                int start = tok >= 0 ? tok : s;
                if (!TryParseIPv4(text.Slice(Math.Min(start, text.Length)), buffer.Slice(d, 4), out _, delimiter))
                    return false;
                d += 4;
                break;
            }
            else
            {
                w = (w << 4) | (0xff & c);
                state = Colon1 | Delim;
                if ((w & 0xf000) == 0)
                    state |= XDigit;
                if (dc < 0 && d + 2 < 16)
                {
                    state |= Colon12;
                    state &= ~Delim;
                }
                if (d + 2 >= 16)
                    state &= ~(Colon1 | Colon12);
            }
            if ((dc >= 0 && d + 4 < 16) || d + 4 == 16)
                state |= Dot;
            if (d >= 16)
                state &= ~(XDigit | ColonMask);
            s++;
        }

        // Spread the groups around the "::" gap, as the kernel copies them back to front.
        if (dc >= 0)
        {
            int i = 15, src = d - 1;
            while (src >= dc)
                address[i--] = buffer[src--];
            while (i >= dc)
                address[i--] = 0;
            while (i >= 0)
                address[i--] = buffer[src--];
        }
        else
        {
            buffer.CopyTo(address);
        }
        return true;
    }
}
