// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>A rules file FastPath refuses, with the file and line (like iptables-restore's "line N failed").</summary>
public sealed class RulesetException(string file, int line, string message)
    : Exception($"{file}:{line}: {message}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
    public string Reason { get; } = message;
}

/// <summary>
/// Reads iptables-save / ip6tables-save output — what users already have — into an immutable ruleset.
/// Supports the *raw and *filter tables (other tables are accepted only while they hold no rules), chain
/// policies and [packets:bytes] counters, user chains with -j/-g/RETURN, the matches -p, -s, -d, -i, -o, -f,
/// -m tcp/udp (--sport, --dport, --tcp-flags, --syn), -m icmp/icmp6, -m multiport, -m mac, -m comment,
/// -m conntrack/state, -m limit, -m iprange, -m length, -m ttl/hl, -m pkttype and -m recent with every option,
/// and the targets ACCEPT, DROP, RETURN, CT and LOG (docs/user-guide.md lists the options). Anything else is
/// refused with file:line, and nothing is half-applied.
/// </summary>
public static class RulesetParser
{
    private static readonly Dictionary<string, string[]> BuiltinChains = new()
    {
        ["raw"] = ["PREROUTING", "OUTPUT"],
        ["filter"] = ["INPUT", "FORWARD", "OUTPUT"],
    };

    private static readonly HashSet<string> IgnoredEmptyTables = ["nat", "mangle", "security"];

    /// <summary>iptables-restore reads a line with fgets into 10240 bytes: a longer one would be split in two.</summary>
    private const int MaxLineBytes = 10239;

    private const int MaxWords = 251;
    private const int MaxWordBytes = 1024;

    /// <summary>The blanks iptables-restore splits words on (a newline never reaches here).</summary>
    private static readonly char[] Blanks = [' ', '\t'];

    /// <summary>
    /// Reads the file as UTF-8 text. iptables works on bytes; FastPath refuses a line that is not UTF-8 rather than
    /// read two different byte strings as one name.
    /// </summary>
    public static FamilyRuleset ParseFile(string path, L3Kind family)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int lineNumber = 1;
        foreach (var line in bytes.AsSpan().Split((byte)'\n'))
        {
            if (!System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(line)))
                throw new RulesetException(path, lineNumber, "the line is not UTF-8 text (FastPath reads rules files as UTF-8)");
            lineNumber++;
        }
        return Parse(System.Text.Encoding.UTF8.GetString(bytes), path, family);
    }

    public static FamilyRuleset Parse(string text, string file, L3Kind family)
    {
        var tables = new Dictionary<TableKind, TableDefinition>();
        var commitOrder = new List<TableKind>();
        var lines = text.Split('\n');
        TableBuilder? current = null;
        for (int n = 0; n < lines.Length; n++)
        {
            int lineNumber = n + 1;
            string line = lines[n];
            if (line.Length == 0 || line[0] == '#')
                continue;
            var fail = (string message) => new RulesetException(file, lineNumber, message);
            if (n == 0 && line[0] == '\uFEFF')
                throw fail("the file starts with a byte order mark, which iptables-restore refuses");
            if (System.Text.Encoding.UTF8.GetByteCount(line) > MaxLineBytes)
                throw fail($"the line is longer than {MaxLineBytes} bytes, which iptables-restore would read as two lines");
            // iptables-restore takes '#' only in the first column and a table, chain or COMMIT line only as written
            // there; a carriage return is part of the last word, which then names nothing.
            if (line.Contains('\r'))
                throw fail("the line ends in a carriage return (CRLF line ends?), which iptables-restore refuses");
            if (line.Trim(Blanks).Length == 0)
                throw fail("a line of only blanks: iptables-restore refuses it (no command specified)");
            if (line[0] is ' ' or '\t' && line.TrimStart(Blanks)[0] is '*' or ':' or '#' || line.Trim(Blanks) == "COMMIT" && line != "COMMIT")
                throw fail($"Bad argument `{line.Trim(Blanks).Split(Blanks)[0]}'");
            line = line.Trim(Blanks);
            if (line[0] == '*')
            {
                if (current is not null)
                    throw fail($"table '{line[1..]}' starts before table '{current.Name}' was committed (COMMIT expected)");
                string name = line[1..].Trim(Blanks);
                if (!BuiltinChains.ContainsKey(name) && !IgnoredEmptyTables.Contains(name))
                    throw fail($"unknown table '{name}'");
                current = new TableBuilder(name, lineNumber);
                if (BuiltinChains.TryGetValue(name, out var builtins))
                {
                    foreach (string chain in builtins)
                        current.Chains[chain] = new ChainBuilder(chain, TargetKind.Accept, 0, 0, declared: false);
                }
                continue;
            }
            if (current is null)
                throw fail("expected a table (*raw or *filter) before this line");
            if (line == "COMMIT")
            {
                if (BuiltinChains.ContainsKey(current.Name))
                {
                    var kind = current.Name == "raw" ? TableKind.Raw : TableKind.Filter;
                    if (tables.ContainsKey(kind))
                        throw fail($"table '{current.Name}' appears twice");
                    tables[kind] = current.Build(kind, file);
                    commitOrder.Add(kind);
                }
                current = null;
                continue;
            }
            if (line[0] == ':')
            {
                DeclareChain(current, line, fail);
                continue;
            }
            var tokens = Tokenize(line, fail);
            long packets = 0, bytes = 0;
            bool counted = tokens[0].StartsWith('[');
            if (counted)
            {
                (packets, bytes) = ParseCounters(tokens[0], fail);
                tokens.RemoveAt(0);
            }
            // iptables-restore's argument vector: 255 places, 4 of them its own; each word in a 1024-byte buffer.
            if (tokens.Count > MaxWords)
                throw fail("Parser cannot handle more arguments");
            if (tokens.Any(t => System.Text.Encoding.UTF8.GetByteCount(t) >= MaxWordBytes))
                throw fail("Parameter too long!");
            if (tokens.Count >= 3 && tokens[0] is "-c" or "--set-counters")
            {
                // -c PACKETS BYTES sets the counters wherever it stands, before -A too: the rule reads it at its end.
                tokens.AddRange(tokens.GetRange(0, 3));
                tokens.RemoveRange(0, 3);
            }
            // -4 and -6 may stand before -A too: the rule's parser reads them first.
            int familyOptions = tokens.TakeWhile(t => t is "-4" or "--ipv4" or "-6" or "--ipv6").Count();
            if (familyOptions > 0 && tokens.Count >= familyOptions + 2)
            {
                var leading = tokens.GetRange(0, familyOptions);
                tokens.RemoveRange(0, familyOptions);
                tokens.InsertRange(2, leading);
            }
            if (tokens.Count > 0 && tokens[0] is "-N" or "--new-chain" or "-P" or "--policy")
            {
                ChainCommand(current, tokens, fail);
                continue;
            }
            if (tokens.Count < 2 || tokens[0] is not ("-A" or "--append"))
                throw fail($"expected '-A CHAIN ...', got '{line}'");
            if (!current.Chains.TryGetValue(tokens[1], out var chainBuilder))
                throw fail($"chain '{tokens[1]}' does not exist in table '{current.Name}'");
            if (!BuiltinChains.ContainsKey(current.Name))
                throw fail($"table '{current.Name}' is not supported (FastPath applies raw PREROUTING and filter FORWARD/INPUT); only its empty chains may be listed");
            var table = current.Name == "raw" ? TableKind.Raw : TableKind.Filter;
            var parser = new RuleParser(tokens, 2, family, table, fail);
            var rules = parser.Parse(tokens[1], lineNumber, chainBuilder.Rules.Count + 1);
            if (parser.Counters is { } given)
                (packets, bytes) = counted ? throw fail("multiple -c flags not allowed") : given;
            foreach (var rule in rules)
            {
                // A chain must be declared before a rule jumps to it: iptables takes a -j name that is no chain yet
                // for a target extension (and finds none of that name), and refuses such a -g.
                if (rule.TargetChain is { } target && !current.Chains.ContainsKey(target))
                    throw fail($"chain '{target}' does not exist in table '{current.Name}' yet ("
                        + (rule.Target == TargetKind.Goto ? $"goto '{target}' is not a chain)" : $"Couldn't load target `{target}')"));
                chainBuilder.Rules.Add(rule with { InitialPackets = packets, InitialBytes = bytes, CountersSet = parser.Counters is not null });
            }
        }
        if (current is not null)
            throw new RulesetException(file, lines.Length, $"table '{current.Name}' (line {current.Line}) was never committed (COMMIT expected)");
        return new FamilyRuleset(family, file, tables, commitOrder);
    }

    /// <summary>
    /// The iptables commands a restore file may use besides -A for what iptables-save writes as chain lines:
    /// "-N CHAIN" declares a user chain (as ":CHAIN - [0:0]"), "-P CHAIN POLICY" sets a built-in chain's policy
    /// and zeroes its counters (the last one given counts).
    /// </summary>
    private static void ChainCommand(TableBuilder table, List<string> tokens, Func<string, RulesetException> fail)
    {
        string command = tokens[0];
        bool newChain = command is "-N" or "--new-chain";
        if (tokens.Count < (newChain ? 2 : 3))
            throw fail(newChain ? $"option \"{command}\" requires an argument" : "-P requires a chain and a policy");
        if (tokens.Count > (newChain ? 2 : 3))
            throw fail($"Bad argument `{tokens[newChain ? 2 : 3]}'");
        string name = tokens[1];
        if (newChain)
        {
            if (table.Chains.ContainsKey(name))
                throw fail($"chain '{name}' already exists");
            DeclareChain(table, $":{name} - [0:0]", fail);
            return;
        }
        if (!BuiltinChains.TryGetValue(table.Name, out var builtins))
            throw fail($"table '{table.Name}' is not supported (FastPath applies raw PREROUTING and filter FORWARD/INPUT); only its empty chains may be listed");
        if (!builtins.Contains(name))
            throw fail($"-P needs a built-in chain of table '{table.Name}', not '{name}'");
        var chain = table.Chains[name];
        var policy = tokens[2] switch
        {
            "ACCEPT" => TargetKind.Accept,
            "DROP" => TargetKind.Drop,
            _ => throw fail($"the policy of built-in chain '{name}' must be ACCEPT or DROP, got '{tokens[2]}'"),
        };
        // libiptc sets a policy without counters to zero counters.
        var replaced = new ChainBuilder(name, policy, 0, 0, chain.Declared);
        replaced.Rules.AddRange(chain.Rules);
        table.Chains[name] = replaced;
    }

    private static void DeclareChain(TableBuilder table, string line, Func<string, RulesetException> fail)
    {
        var parts = line[1..].Split(Blanks, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
            throw fail($"a chain line is ':NAME POLICY [packets:bytes]', got '{line}'");
        string name = parts[0];
        long packets = 0, bytes = 0;
        if (parts.Length > 2)
            (packets, bytes) = ParseCounters(parts[2], fail);
        if (!BuiltinChains.TryGetValue(table.Name, out var builtins))
        {
            // nat, mangle, security: only listed so that a whole iptables-save file loads; rules there are refused.
            table.Chains[name] = new ChainBuilder(name, null, packets, bytes, declared: true);
            return;
        }
        bool builtin = builtins.Contains(name);
        table.Chains.TryGetValue(name, out var existing);
        // A built-in chain may be declared again (the last policy counts); a user chain may not ("File exists").
        if (existing is { Declared: true } && !builtin)
            throw fail($"chain '{name}' is declared twice");
        TargetKind? policy;
        if (builtin)
        {
            policy = parts[1] switch
            {
                "ACCEPT" => TargetKind.Accept,
                "DROP" => TargetKind.Drop,
                _ => throw fail($"the policy of built-in chain '{name}' must be ACCEPT or DROP, got '{parts[1]}'"),
            };
        }
        else
        {
            if (parts[1] != "-")
                throw fail($"user-defined chain '{name}' cannot have a policy ('{parts[1]}'); write '-'");
            if (System.Text.Encoding.UTF8.GetByteCount(name) > 28 || name.StartsWith('-') || name is "ACCEPT" or "DROP" or "RETURN" or "QUEUE")
                throw fail($"'{name}' is not a valid chain name");
            policy = null;
        }
        // A built-in chain's line may follow rules already appended to it (or a -P, or its own line): it sets the
        // policy and keeps them.
        var declared = new ChainBuilder(name, policy, packets, bytes, declared: true);
        if (existing is not null)
            declared.Rules.AddRange(existing.Rules);
        table.Chains[name] = declared;
    }

    private static (long Packets, long Bytes) ParseCounters(string text, Func<string, RulesetException> fail)
    {
        var inner = text.TrimStart('[').TrimEnd(']').Split(':');
        if (inner.Length != 2 || !text.StartsWith('[') || !text.EndsWith(']')
            || !long.TryParse(inner[0], NumberStyles.None, CultureInfo.InvariantCulture, out long p)
            || !long.TryParse(inner[1], NumberStyles.None, CultureInfo.InvariantCulture, out long b))
            throw fail($"counters must be [packets:bytes], got '{text}'");
        return (p, b);
    }

    /// <summary>
    /// Splits like iptables-restore (add_param_to_argv): on blanks; a double quote opens a quoted part, in which a
    /// backslash takes the next character as it is, and the closing quote ends the word, so `"a b"c` is two words
    /// and `""` an empty one. A quote left open is refused (iptables-restore takes the rest of the line, newline
    /// and all).
    /// </summary>
    private static List<string> Tokenize(string line, Func<string, RulesetException> fail)
    {
        var tokens = new List<string>();
        var token = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '\\' && i + 1 < line.Length)
                {
                    token.Append(line[++i]);
                }
                else if (c == '"')
                {
                    tokens.Add(token.ToString());
                    token.Clear();
                    quoted = false;
                }
                else
                {
                    token.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c is ' ' or '\t')
            {
                if (token.Length > 0)
                    tokens.Add(token.ToString());
                token.Clear();
            }
            else
            {
                token.Append(c);
            }
        }
        if (quoted)
            throw fail("unterminated quoted string");
        if (token.Length > 0)
            tokens.Add(token.ToString());
        return tokens;
    }

    private sealed class TableBuilder(string name, int line)
    {
        public string Name { get; } = name;
        public int Line { get; } = line;
        public Dictionary<string, ChainBuilder> Chains { get; } = new(StringComparer.Ordinal);

        public TableDefinition Build(TableKind kind, string file)
        {
            foreach (var chain in Chains.Values)
            {
                foreach (var rule in chain.Rules)
                {
                    if (rule.TargetChain is { } t && Chains[t].Policy is not null)
                        throw new RulesetException(file, rule.Line, $"cannot jump to built-in chain '{t}'");
                }
            }
            CheckForLoops(file);
            return new TableDefinition(kind, Chains.ToDictionary(c => c.Key, c => new ChainDefinition(c.Key, c.Value.Policy, c.Value.Packets, c.Value.Bytes, c.Value.Rules.ToArray())));
        }

        /// <summary>
        /// A jump cycle would never end: the kernel refuses one it can reach from a built-in chain (ELOOP), and so do
        /// we. A cycle among chains nothing jumps into is loaded, as the kernel loads it.
        /// </summary>
        private void CheckForLoops(string file)
        {
            var state = new Dictionary<string, int>(); // 1 = on the path, 2 = done
            foreach (var start in Chains.Values.Where(c => c.Policy is not null))
                Visit(start.Name, file, state);
        }

        private void Visit(string chain, string file, Dictionary<string, int> state)
        {
            state.TryGetValue(chain, out int s);
            if (s == 2)
                return;
            state[chain] = 1;
            foreach (var rule in Chains[chain].Rules)
            {
                if (rule.TargetChain is not { } next)
                    continue;
                state.TryGetValue(next, out int ns);
                if (ns == 1)
                    throw new RulesetException(file, rule.Line, $"jumping from '{chain}' to '{next}' makes a loop (Too many levels of symbolic links)");
                Visit(next, file, state);
            }
            state[chain] = 2;
        }
    }

    private sealed class ChainBuilder(string name, TargetKind? policy, long packets, long bytes, bool declared)
    {
        public string Name { get; } = name;
        public TargetKind? Policy { get; } = policy;
        public long Packets { get; } = packets;
        public long Bytes { get; } = bytes;
        public bool Declared { get; } = declared;
        public List<Rule> Rules { get; } = [];
    }
}
