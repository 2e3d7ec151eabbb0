// SPDX-License-Identifier: MIT
namespace FastPath.Core.Rules;

/// <summary>
/// glibc's inet_aton, which iptables uses (through getaddrinfo) for a dotted IPv4 mask: one to four parts,
/// each decimal, octal (leading 0) or hex (0x); "a" is 32 bits, "a.b" puts b in the low 24 bits, "a.b.c" c in
/// the low 16. So "1.2.3" is 1.2.0.3 and "010.0.0.1" is 8.0.0.1. Host names, which iptables would resolve,
/// are not accepted.
/// </summary>
public static class InetAtonText
{
    public static bool TryParse(string text, out uint address)
    {
        address = 0;
        Span<uint> parts = stackalloc uint[3];
        int count = 0, i = 0;
        ulong value;
        while (true)
        {
            if (i >= text.Length || !char.IsAsciiDigit(text[i]))
                return false;
            uint radix = 10;
            if (text[i] == '0')
            {
                i++;
                if (i < text.Length && (text[i] is 'x' or 'X'))
                {
                    radix = 16;
                    i++;
                    if (i >= text.Length || !char.IsAsciiHexDigit(text[i]))
                        return false;
                }
                else
                {
                    radix = 8;
                }
            }
            value = 0;
            for (; i < text.Length; i++)
            {
                char c = text[i];
                uint digit;
                if (char.IsAsciiDigit(c))
                {
                    if (radix == 8 && c >= '8')
                        return false;
                    digit = (uint)(c - '0');
                }
                else if (radix == 16 && char.IsAsciiHexDigit(c))
                {
                    digit = (uint)(char.ToLowerInvariant(c) - 'a' + 10);
                }
                else
                {
                    break;
                }
                value = value * radix + digit;
                if (value > uint.MaxValue)
                    return false;
            }
            if (i < text.Length && text[i] == '.')
            {
                if (count == 3 || value > 0xFF)
                    return false;
                parts[count++] = (uint)value;
                i++;
                continue;
            }
            break;
        }
        if (i != text.Length)
            return false;
        uint limit = count switch { 0 => uint.MaxValue, 1 => 0xFFFFFF, 2 => 0xFFFF, _ => 0xFF };
        if (value > limit)
            return false;
        uint result = (uint)value;
        for (int p = 0; p < count; p++)
            result |= parts[p] << (24 - 8 * p);
        address = result;
        return true;
    }

    /// <summary>
    /// inet_aton called directly (conntrack's -s and -d): the same forms, but the text ends at the first white space
    /// and whatever follows is ignored ("1.2.3.4 junk" is 1.2.3.4), where getaddrinfo's exact variant refuses it.
    /// </summary>
    public static bool TryParseToSpace(string text, out uint address)
    {
        int space = text.AsSpan().IndexOfAny(" \t\n\v\f\r");
        return TryParse(space < 0 ? text : text[..space], out address);
    }
}
