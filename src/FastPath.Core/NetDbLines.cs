// SPDX-License-Identifier: MIT
namespace FastPath.Core;

/// <summary>The lines of the files libc's getprotobyname and getservbyname read (/etc/protocols, /etc/services).</summary>
public static class NetDbLines
{
    /// <summary>Each line's names (its first word and the aliases after the second) and its second word.</summary>
    public static IEnumerable<(string[] Names, string Value)> Entries(string text)
    {
        foreach (string raw in text.Split('\n'))
        {
            int hash = raw.IndexOf('#');
            var words = (hash < 0 ? raw : raw[..hash]).Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 2)
                yield return ([words[0], .. words[2..]], words[1]);
        }
    }
}
