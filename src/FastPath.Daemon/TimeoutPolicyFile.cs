// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Daemon;

/// <summary>
/// --timeout-policies FILE: nfct timeout command lines run in order against the daemon's registry before the
/// rules load, so that -j CT --timeout finds its policies. A line nfct would fail on stops start-up with FILE:LINE
/// and nfct's message.
/// </summary>
internal static class TimeoutPolicyFile
{
    /// <summary>Runs the file's lines against <paramref name="registry"/>, or against a new one.</summary>
    public static TimeoutPolicyRegistry Load(RunOptions options, TimeoutPolicyRegistry? registry = null)
    {
        registry ??= new TimeoutPolicyRegistry();
        if (options.TimeoutPolicies is not { } path)
            return registry;
        string[] lines = OptionFile.ReadAllLines("--timeout-policies", path);
        var nfct = new NfctTool(registry);
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            int hash = line.IndexOf('#');
            var words = (hash >= 0 ? line[..hash] : line).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
                continue;
            var result = nfct.Run(words[0] == "nfct" ? words[1..] : words);
            if (result.ExitStatus != 0)
                throw new InvalidDataException($"{path}:{n + 1}: {result.Error.TrimEnd('\n')}");
        }
        return registry;
    }
}
