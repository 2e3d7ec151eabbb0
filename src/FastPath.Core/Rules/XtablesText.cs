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
        // strtoumax with base 0; xtables_strtoul refuses a '-' itself, which strtoumax would take as a negation.
        value = CNumberText.Strtoul(text, out int end, out bool outOfRange);
        bool whole = text.Length > 0 && end == text.Length && !text.AsSpan().TrimStart(" \t\n\v\f\r").StartsWith("-");
        return whole && !outOfRange && value >= min && value <= max;
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
