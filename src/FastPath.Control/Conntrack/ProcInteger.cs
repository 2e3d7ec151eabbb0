// SPDX-License-Identifier: MIT
namespace FastPath.Control.Conntrack;

/// <summary>What a write to a one-integer sysctl file carries, as the kernel's __do_proc_dointvec reads it.</summary>
public enum ProcIntegerParse
{
    /// <summary>A number was read: <see cref="ProcInteger.Magnitude"/> with its sign.</summary>
    Value,

    /// <summary>A write of no bytes: accepted, nothing changes.</summary>
    Empty,

    /// <summary>EINVAL: no number where one must be, or something other than ' ', '\t', '\n' right after it.</summary>
    Invalid,
}

/// <summary>
/// The first integer of a write to a sysctl file (kernel/sysctl.c, Linux 6.x: __do_proc_dointvec with one value,
/// proc_get_long, strtoul_lenient), checked against this machine's 6.18 in a network namespace: leading
/// whitespace (isspace) is skipped; an optional '-' ('+' is refused); C's base prefixes (0x hex, 0 octal);
/// the number must be followed by ' ', '\t', '\n' or the end; at most 20 characters with the sign; what follows
/// the first number and its whitespace is ignored ("55 56" sets 55). Range checks are the caller's (the
/// handler's conv function).
/// </summary>
public readonly record struct ProcInteger(ProcIntegerParse Result, bool Negative, ulong Magnitude)
{
    // TMPBUFLEN: the number and its sign are copied into 22 bytes with the NUL; one that fills 21 is refused,
    // since the kernel cannot tell where it ends.
    private const int MaxNumberLength = 21;

    public static ProcInteger Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
            return new ProcInteger(ProcIntegerParse.Empty, false, 0);
        int at = 0;
        while (at < data.Length && IsSpace(data[at]))
            at++;
        var text = data[at..];
        if (text.Length == 0)
            return Invalid;

        var number = text[..Math.Min(text.Length, MaxNumberLength)];
        bool negative = number[0] == '-' && text.Length > 1;
        int start = negative ? 1 : 0;
        if (start >= number.Length || !char.IsAsciiDigit((char)number[start]))
            return Invalid;
        if (!TryParseUnsigned(number[start..], out ulong magnitude, out int digits))
            return Invalid;
        int length = start + digits;
        if (length == MaxNumberLength)
            return Invalid;
        if (length < text.Length && text[length] is not ((byte)' ' or (byte)'\t' or (byte)'\n'))
            return Invalid;
        return new ProcInteger(ProcIntegerParse.Value, negative, magnitude);
    }

    private static ProcInteger Invalid => new(ProcIntegerParse.Invalid, false, 0);

    // strtoul_lenient with base 0: "0x" followed by a hex digit is hex, another leading 0 octal, else decimal;
    // overflowing 64 bits is an error (-ERANGE, which the caller turns into EINVAL).
    private static bool TryParseUnsigned(ReadOnlySpan<byte> text, out ulong value, out int consumed)
    {
        value = 0;
        int at = 0;
        uint radix = 10;
        if (text[0] == '0')
        {
            bool hex = text.Length > 2 && (text[1] | 0x20) == 'x' && char.IsAsciiHexDigit((char)text[2]);
            radix = hex ? 16u : 8u;
            at = hex ? 2 : 0;
        }
        for (; at < text.Length; at++)
        {
            uint digit = DigitValue(text[at]);
            if (digit >= radix)
                break;
            if (value > (ulong.MaxValue - digit) / radix)
            {
                consumed = at;
                return false;
            }
            value = (value * radix) + digit;
        }
        consumed = at;
        return true;
    }

    private static uint DigitValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => (uint)(c - '0'),
        >= (byte)'a' and <= (byte)'f' => (uint)(c - 'a' + 10),
        >= (byte)'A' and <= (byte)'F' => (uint)(c - 'A' + 10),
        _ => uint.MaxValue,
    };

    // The kernel's isspace: ' ', '\t', '\n', '\v', '\f', '\r' (and 0xA0, which _ctype also marks as space).
    private static bool IsSpace(byte c) => c is (byte)' ' or (>= 9 and <= 13) or 0xA0;
}
