// SPDX-License-Identifier: MIT
using System.Text;

namespace FastPath.Core;

/// <summary>Names the kernel keeps in fixed byte fields, cut as FastPath cuts them.</summary>
public static class Utf8Text
{
    /// <summary>
    /// The longest prefix of whole characters whose UTF-8 fits in <paramref name="bytes"/>: the C tools cut bytes,
    /// FastPath cuts at the last whole character within them, so a cut name is still text.
    /// </summary>
    public static string CutToBytes(string text, int bytes)
    {
        if (Encoding.UTF8.GetByteCount(text) <= bytes)
            return text;
        int used = 0;
        int end = 0;
        while (end < text.Length)
        {
            int width = char.IsSurrogatePair(text, end) ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(text.AsSpan(end, width));
            if (used + size > bytes)
                break;
            used += size;
            end += width;
        }
        return text[..end];
    }
}
