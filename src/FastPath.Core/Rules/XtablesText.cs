// SPDX-License-Identifier: MIT
namespace FastPath.Core.Rules;

/// <summary>
/// How libxtables reads numbers and IPv4 addresses: xtables_strtoul (strtoumax with base 0 over the whole text:
/// "0x10" is 16, "010" is 8, leading white space and a '+' go, a '-' does not) and __numeric_to_ipaddr (one to
/// four dotted parts, each such a number up to 255; missing parts of an address are zero, so "10/8" is 10.0.0.0/8,
/// while a dotted mask needs all four).
/// </summary>
internal static class XtablesText
{
    /// <summary>xtables_strtoul: the whole text is the number, within [min, max].</summary>
    public static bool TryParseUnsigned(string text, ulong min, ulong max, out ulong value)
    {
        value = 0;
        int i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
            i++;
        if (i < text.Length && text[i] == '+')
            i++;
        int radix = 10;
        if (i + 2 < text.Length && text[i] == '0' && text[i + 1] is 'x' or 'X' && Uri.IsHexDigit(text[i + 2]))
        {
            radix = 16;
            i += 2;
        }
        else if (i < text.Length && text[i] == '0')
        {
            radix = 8;
        }
        int digits = 0;
        ulong n = 0;
        for (; i < text.Length; i++, digits++)
        {
            int d = text[i] switch
            {
                >= '0' and <= '9' => text[i] - '0',
                >= 'a' and <= 'f' => text[i] - 'a' + 10,
                >= 'A' and <= 'F' => text[i] - 'A' + 10,
                _ => radix,
            };
            if (d >= radix)
                return false; // trailing junk: xtables wants the whole text to be the number
            if (n > (ulong.MaxValue - (ulong)d) / (ulong)radix)
                return false; // ERANGE
            n = n * (ulong)radix + (ulong)d;
        }
        if (digits == 0 || n < min || n > max)
            return false;
        value = n;
        return true;
    }

    /// <summary>__numeric_to_ipaddr: an address (host order) from one to four dotted parts, or a mask from exactly four.</summary>
    public static bool TryParseIPv4(string text, bool mask, out uint address)
    {
        address = 0;
        var parts = text.Split('.');
        if (parts.Length > 4 || (mask && parts.Length != 4))
            return false;
        for (int i = 0; i < parts.Length; i++)
        {
            if (!TryParseUnsigned(parts[i], 0, 255, out ulong part))
                return false;
            address |= (uint)part << (8 * (3 - i));
        }
        return true;
    }
}
