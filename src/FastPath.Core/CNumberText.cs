// SPDX-License-Identifier: MIT
namespace FastPath.Core;

/// <summary>
/// glibc's strtol, strtoul and atoi, for the command lines FastPath reads as the C tools do: leading white space
/// (C's isspace), an optional sign, then digits up to the first other character. <c>end</c> is where the number
/// stops, 0 when there is none (C's endptr is then the start). A value out of range saturates and sets
/// <c>outOfRange</c>, as ERANGE does.
/// </summary>
public static class CNumberText
{
    /// <summary>strtol(text, &amp;end, 10): saturates at the 64-bit limits.</summary>
    public static long Strtol(ReadOnlySpan<char> text, out int end, out bool outOfRange)
    {
        int i = SkipSpace(text);
        bool negative = false;
        if (i < text.Length && text[i] is '+' or '-')
            negative = text[i++] == '-';
        int start = i;
        ulong magnitude = 0;
        bool saturated = false;
        for (; i < text.Length && char.IsAsciiDigit(text[i]); i++)
        {
            ulong digit = (ulong)(text[i] - '0');
            if (magnitude > (ulong.MaxValue - digit) / 10)
                saturated = true;
            else
                magnitude = magnitude * 10 + digit;
        }
        end = i > start ? i : 0;
        outOfRange = saturated || magnitude > (negative ? (ulong)long.MaxValue + 1 : long.MaxValue);
        if (outOfRange)
            return negative ? long.MinValue : long.MaxValue;
        return negative ? unchecked(-(long)magnitude) : (long)magnitude;
    }

    /// <summary>atoi, which is (int)strtol(text, NULL, 10): the cast keeps the low 32 bits.</summary>
    public static int Atoi(ReadOnlySpan<char> text, out bool outOfRange) => unchecked((int)Strtol(text, out _, out outOfRange));

    /// <summary>
    /// strtoul(text, &amp;end, 0): "0x" before a hex digit is hex (before anything else the number is the "0"),
    /// another leading 0 octal, else decimal. A '-' negates the result as an unsigned long ("-1" is
    /// <see cref="ulong.MaxValue"/>); past 64 bits it saturates at <see cref="ulong.MaxValue"/>, sign or not.
    /// </summary>
    public static ulong Strtoul(ReadOnlySpan<char> text, out int end, out bool outOfRange)
    {
        int i = SkipSpace(text);
        bool negative = false;
        if (i < text.Length && text[i] is '+' or '-')
            negative = text[i++] == '-';
        uint radix = 10;
        if (i < text.Length && text[i] == '0')
        {
            bool hex = i + 2 < text.Length && text[i + 1] is 'x' or 'X' && char.IsAsciiHexDigit(text[i + 2]);
            radix = hex ? 16u : 8u;
            if (hex)
                i += 2;
        }
        int start = i;
        ulong value = 0;
        outOfRange = false;
        for (; i < text.Length; i++)
        {
            uint digit = text[i] switch
            {
                >= '0' and <= '9' => (uint)(text[i] - '0'),
                >= 'a' and <= 'z' => (uint)(text[i] - 'a' + 10),
                >= 'A' and <= 'Z' => (uint)(text[i] - 'A' + 10),
                _ => uint.MaxValue,
            };
            if (digit >= radix)
                break;
            if (value > (ulong.MaxValue - digit) / radix)
                outOfRange = true;
            else
                value = value * radix + digit;
        }
        end = i > start ? i : 0;
        if (outOfRange)
            return ulong.MaxValue;
        return negative ? unchecked(0 - value) : value;
    }

    private static int SkipSpace(ReadOnlySpan<char> text)
    {
        int i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
            i++;
        return i;
    }
}
