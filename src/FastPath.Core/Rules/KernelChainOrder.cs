// SPDX-License-Identifier: MIT
namespace FastPath.Core.Rules;

/// <summary>
/// The order of a table's chains in the blob libiptc hands the kernel: the built-in chains in hook order, then
/// the user-defined ones sorted by name (strcmp), whatever order a file declares them in. iptables -L lists
/// them so, and the kernel checks the rules so (which decides which rule creates a recent table).
/// </summary>
public static class KernelChainOrder
{
    private static readonly string[] HookOrder = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

    public static IEnumerable<T> Of<T>(IEnumerable<T> chains, Func<T, string> name, Func<T, bool> builtIn)
    {
        var list = chains.ToList();
        return list.Where(builtIn).OrderBy(c => Array.IndexOf(HookOrder, name(c)))
            .Concat(list.Where(c => !builtIn(c)).OrderBy(name, StringComparer.Ordinal));
    }
}
