// SPDX-License-Identifier: MIT
using System.Text;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// A seeded random xt_recent session for <see cref="LiveDifferentialHarness"/>: iptables-save files (raw PREROUTING
/// and filter FORWARD, user chains entered with -j or -g and left with RETURN, DROP policies) whose rules combine
/// `-m recent` options the kernel's checkentry accepts over one to three tables with -s/-d, -p, port, TCP flag and
/// multiport matches, sometimes an ip6tables-save file naming the same tables; then packets from a handful of sources
/// (TCP segments, UDP, ICMP echoes, several TTLs and ports), proc writes good and bad, listings, pauses, and restores
/// of other IPv4 rules, some of which the kernel refuses.
/// The two sides' clocks advance at different speeds (fastpathctl starts a process per write), so pauses are placed
/// to keep every stamp's age at every packet clear of every --seconds window: each event's duration is bounded (a
/// packet's by <see cref="PacketCost"/>, and so on), and a packet whose age interval to some earlier stamp straddles
/// a window is preceded by a pause that moves it past, or left out.
/// </summary>
internal sealed class RandomRecentSession
{
    // DEFAULT is the table of a rule without --name.
    private static readonly string[] s_tableNames = ["SSH", "knock", "DEFAULT"];
    private static readonly string[] s_sources = ["192.0.2.1", "192.0.2.2", "192.0.2.77", "198.51.100.9", "203.0.113.50"];
    private static readonly string[] s_destinations = ["198.18.0.1", "198.18.0.2", "203.0.113.50"];
    private static readonly string[] s_sources6 = ["2001:db8::1", "2001:db8::2", "2001:db8:0:1::5"];
    private static readonly string[] s_destinations6 = ["2001:db8:ffff::1", "2001:db8:ffff::2"];
    private static readonly string[] s_networks = ["192.0.2.0/24", "192.0.2.0/30", "198.51.100.9/32", "203.0.113.0/24"];
    private static readonly string[] s_networks6 = ["2001:db8::/64", "2001:db8:0:1::/64", "2001:db8::1/128"];
    private static readonly string[] s_masks = ["255.255.255.255", "255.255.255.0", "255.255.0.0", "255.255.255.128", "255.0.255.0", "0.0.0.0"];
    private static readonly string[] s_masks6 = ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::", "ffff:ffff::", "::"];
    private static readonly ushort[] s_ports = [22, 53, 80, 443];
    private static readonly byte[] s_ttls = [64, 64, 64, 63, 50, 2, 255];
    private static readonly uint[] s_seconds = [2, 3, 5];
    private static readonly int[] s_hitcounts = [1, 2, 2, 3, 4, 5, 8, 20];

    /// <summary>Option sets the kernel (or iptables in front of it) refuses.</summary>
    private static readonly string[] s_refused =
    [
        "--set --seconds 5", "--remove --hitcount 2", "--rcheck --reap", "--set --rttl", "--rcheck --hitcount 65536",
        "--set --rcheck", "--rcheck --seconds 0", "--set --name a/b", "--update --seconds 5 --reap --name .", "--remove --seconds 3 --reap",
    ];

    /// <summary>
    /// Odd proc writes: out-of-range octets, too few, junk, an IPv6 address with two "::", spaces, a lone sign, a
    /// zone, a prefix length, nothing at all; and some the kernel takes (leading zeros, what follows a newline or a NUL,
    /// the unspecified addresses, upper-case hex).
    /// </summary>
    private static readonly string[] s_oddWrites =
    [
        "+192.0.2.300", "+1.2.3", "x", "+", "-", "+2001:db8::1::2", "+ 192.0.2.1", "+192.0.2.1 ", "192.0.2.1", "+1.2.3.4.5",
        "+0192.000.002.001", "+192.0.2.2\n+192.0.2.77", "+192.0.2.77\0junk", "+::ffff:192.0.2.1", "/" + new string('x', 50),
        "", "+0.0.0.0", "+::", "+192.0.2.1/24", "+192.0.2.1\r", "+2001:DB8::2", "-2001:db8::1%1",
    ];

    /// <summary>
    /// The longest each kind of event may take on either side, in seconds: a packet (sent, seen and counted), a
    /// fastpathctl write or listing on a busy machine, a restore; and how close to a window's edge an age may come.
    /// </summary>
    private const double PacketCost = 0.1, ControlCost = 0.4, RestoreCost = 1.0, Margin = 0.1;
    private const double PauseBudget = 4.0;

    private readonly Random _random;
    private readonly bool _ipv6;
    private readonly string[] _tables;
    // The --seconds values of this session's rules: none (then nothing holds the packets back), one or two, so that
    // packets fit between their edges.
    private readonly uint[] _windows;
    private readonly bool _mayReap;
    // A table whose rules all have a --hitcount of 1 to 3 (no --set or --remove, which need 32 stamps): its entries
    // come from proc writes and its rings of 1, 2 or 4 stamps wrap.
    private readonly string? _smallRingTable;
    private readonly List<Event> _events = [];
    // For each event so far: the pauses before it, the longest the events before it took, and whether it made a stamp.
    private readonly List<(double Paused, double Busy, bool Stamps)> _times = [];
    private double _paused, _busy;
    private HashSet<string> _v4Tables = [];
    private string _rulesInForce;
    private readonly HashSet<string> _v6Tables = [];

    public string Rules { get; }
    public string? Rules6 { get; }
    public IReadOnlyList<Event> Events => _events;

    /// <summary>Whether a rule reaps: then only one worker is compared (with two, a shard reaps its own oldest entry).</summary>
    public bool Reaps { get; private set; }

    public RandomRecentSession(int seed)
    {
        _random = new Random(seed);
        _ipv6 = _random.Next(3) == 0;
        _tables = s_tableNames.Take(1 + _random.Next(s_tableNames.Length)).ToArray();
        _windows = s_seconds.OrderBy(_ => _random.Next()).Take(_random.Next(3)).ToArray();
        _mayReap = _windows.Length > 0 && _random.Next(3) == 0;
        _smallRingTable = _tables.Length > 1 && _random.Next(2) == 0 ? _tables[^1] : null;
        Rules = Ruleset(ipv6: false, _v4Tables);
        Rules6 = _ipv6 ? Ruleset(ipv6: true, _v6Tables) : null;
        _rulesInForce = Rules;
        // Restores of other rules are drawn first, so that Reaps knows whether one of them reaps.
        var restores = new List<(string Text, HashSet<string> Tables)>();
        for (int n = _random.Next(2); n > 0; n--)
        {
            var tables = new HashSet<string>();
            restores.Add((Ruleset(ipv6: false, tables), tables));
        }
        int count = 30 + _random.Next(20);
        for (int i = 0; i < count; i++)
        {
            int roll = _random.Next(100);
            if (roll < 72)
                AddPacket();
            else if (roll < 80)
                AddWrite();
            else if (roll < 88 && ListableTables().Any())
                Add(new List(Pick(ListableTables().ToArray())), ControlCost);
            else if (roll < 95 && _paused < PauseBudget)
                Pause(0.25 * (1 + _random.Next(12)));
            else if (_random.Next(2) == 0)
                Add(new RulesRestore(Refused()), RestoreCost);
            else if (restores.Count > 0)
            {
                (_rulesInForce, _v4Tables) = restores[^1];
                restores.RemoveAt(restores.Count - 1);
                Add(new RulesRestore(_rulesInForce), RestoreCost);
            }
        }
        foreach (string table in ListableTables())
            Add(new List(table), ControlCost);
    }

    /// <summary>The tables that exist now: those the IPv4 rules in force or the IPv6 rules name.</summary>
    private IEnumerable<string> ListableTables() => _tables.Where(t => _v4Tables.Contains(t) || _v6Tables.Contains(t));

    private void Add(Event e, double cost, bool stamps = false)
    {
        _times.Add((_paused, _busy, stamps));
        _events.Add(e);
        _busy += cost;
    }

    private void Pause(double seconds)
    {
        _events.Add(new Sleep(seconds));
        _paused += seconds;
    }

    /// <summary>A packet, after the shortest pause that keeps every earlier stamp's age clear of every window; none if no pause does.</summary>
    private void AddPacket()
    {
        var frame = NextFrame();
        foreach (double pause in new[] { 0, 0.5, 1, 1.5, 2, 2.5, 3 })
        {
            if (_paused + pause > PauseBudget + 3)
                return;
            if (!ClearOfWindows(pause))
                continue;
            if (pause > 0)
                Pause(pause);
            Add(frame, PacketCost, stamps: true);
            return;
        }
    }

    private bool ClearOfWindows(double pause)
    {
        foreach (var (paused, busy, stamps) in _times)
        {
            if (!stamps)
                continue;
            double shortest = _paused + pause - paused, longest = shortest + _busy - busy;
            if (_windows.Any(w => w >= shortest - Margin && w <= longest + Margin))
                return false;
        }
        return true;
    }

    private Frame NextFrame()
    {
        bool ipv6 = _ipv6 && _random.Next(3) == 0;
        string protocol = Pick<string>(ipv6 ? ["udp", "tcp"] : ["udp", "tcp", "tcp", "icmp"]);
        return new Frame(protocol, Source(ipv6), Pick(s_ports), Pick(s_ttls), Pick(ipv6 ? s_destinations6 : s_destinations))
        {
            SourcePort = (ushort)(40000 + _random.Next(3)),
            TcpFlags = protocol == "tcp" && _random.Next(2) == 0 ? Pick<string>(["A", "PA", "SA", "R", "FA"]) : null,
        };
    }

    /// <summary>A proc write: an add or a removal of a source, a flush, or one the kernel refuses; to a table that exists or not.</summary>
    private void AddWrite()
    {
        string table = _random.Next(12) == 0 ? "NOPE" : _smallRingTable is not null && _random.Next(2) == 0 ? _smallRingTable : Pick(_tables);
        string text = _random.Next(100) switch
        {
            < 35 => "+" + Source(_ipv6 && _random.Next(3) == 0),
            < 55 => "-" + Source(_ipv6 && _random.Next(3) == 0),
            < 65 => "/",
            _ => Pick(s_oddWrites),
        };
        Add(new Write(table, text), ControlCost, stamps: text.Contains('+'));
    }

    /// <summary>
    /// The rules in force with one more at the end of raw PREROUTING that the kernel refuses: iptables-restore stops at
    /// raw's COMMIT, so nothing changes (and no rule before it needs more stamps than the tables have, which the
    /// kernel would flush them for all the same).
    /// </summary>
    private string Refused()
    {
        int commit = _rulesInForce.IndexOf("COMMIT\n", StringComparison.Ordinal);
        return _rulesInForce.Insert(commit, $"-A PREROUTING -m recent {Pick(s_refused)} -j ACCEPT\n");
    }

    /// <summary>
    /// An iptables-save text with both tables: raw PREROUTING and filter FORWARD with up to four rules each, and up
    /// to two user chains in either, entered from the built-in chain or an earlier user chain (no loops).
    /// </summary>
    private string Ruleset(bool ipv6, HashSet<string> tablesNamed)
    {
        var text = new StringBuilder();
        foreach (var (table, builtins, builtin) in new[] { ("raw", new[] { "PREROUTING", "OUTPUT" }, "PREROUTING"), ("filter", new[] { "INPUT", "FORWARD", "OUTPUT" }, "FORWARD") })
        {
            var userChains = Enumerable.Range(0, _random.Next(3)).Select(n => $"{table.ToUpperInvariant()}_U{n}").ToArray();
            text.Append('*').Append(table).Append('\n');
            foreach (string chain in builtins)
                text.Append(':').Append(chain).Append(' ').Append(chain == builtin && _random.Next(5) == 0 ? "DROP" : "ACCEPT").Append(" [0:0]\n");
            foreach (string chain in userChains)
                text.Append(':').Append(chain).Append(" - [0:0]\n");
            var chains = new[] { builtin }.Concat(userChains).ToArray();
            for (int c = 0; c < chains.Length; c++)
            {
                for (int r = _random.Next(c == 0 ? 0 : 1, 5); r > 0; r--)
                    text.Append(Rule(ipv6, chains[c], userChains: chains[(c + 1)..], tablesNamed)).Append('\n');
            }
            // Every user chain is entered from somewhere.
            for (int c = 1; c < chains.Length; c++)
                if (!text.ToString().Contains($" {chains[c]}\n", StringComparison.Ordinal))
                    text.Append($"-A {chains[c - 1]} {Matches(ipv6, tablesNamed)}-j {chains[c]}\n");
            text.Append("COMMIT\n");
        }
        return text.ToString();
    }

    /// <summary>A rule with no target, ACCEPT, DROP, RETURN (in a built-in chain: its policy) or a jump or goto to a later user chain.</summary>
    private string Rule(bool ipv6, string chain, string[] userChains, HashSet<string> tablesNamed)
    {
        string target = _random.Next(20) switch
        {
            < 6 => "",
            < 10 => "-j DROP",
            < 12 => "-j ACCEPT",
            < 14 => "-j RETURN",
            < 18 when userChains.Length > 0 => $"-j {Pick(userChains)}",
            < 20 when userChains.Length > 0 => $"-g {Pick(userChains)}",
            _ => "",
        };
        return $"-A {chain} {Matches(ipv6, tablesNamed)}{target}".TrimEnd();
    }

    /// <summary>
    /// -s/-d, -p with its port, flags or multiport match and one or two recent matches, in iptables-save's order but for
    /// the matches, which come in either.
    /// </summary>
    private string Matches(bool ipv6, HashSet<string> tablesNamed)
    {
        var text = new StringBuilder();
        if (_random.Next(5) == 0)
            text.Append(_random.Next(3) == 0 ? "! " : "").Append("-s ").Append(Pick(ipv6 ? s_networks6 : s_networks)).Append(' ');
        if (_random.Next(8) == 0)
            text.Append("-d ").Append(ipv6 ? "2001:db8:ffff::1/128" : "198.18.0.0/31").Append(' ');
        var matches = new List<string>();
        string? protocol = _random.Next(5) < 3 ? Pick<string>(ipv6 ? ["tcp", "udp"] : ["tcp", "udp", "icmp"]) : null;
        if (protocol is not null)
        {
            text.Append("-p ").Append(protocol).Append(' ');
            var options = new List<string>();
            if (protocol != "icmp" && _random.Next(2) == 0)
                options.Add($"{(_random.Next(4) == 0 ? "! " : "")}--dport {Pick(s_ports)}");
            if (protocol != "icmp" && _random.Next(6) == 0)
                options.Add("--sport 40000:40001");
            if (protocol == "tcp" && _random.Next(4) == 0)
                options.Add(Pick<string>(["--tcp-flags FIN,SYN,RST,ACK SYN", "! --tcp-flags FIN,SYN,RST,ACK SYN", "--tcp-flags SYN,ACK ACK"]));
            if (options.Count > 0)
                matches.Add($"-m {protocol} {string.Join(' ', options)}");
            else if (protocol != "icmp" && _random.Next(5) == 0)
                matches.Add("-m multiport --dports 22,80");
        }
        for (int n = _random.Next(7) == 0 ? 2 : 1; n > 0; n--)
            matches.Insert(_random.Next(matches.Count + 1), Recent(ipv6, tablesNamed));
        foreach (string match in matches)
            text.Append(match).Append(' ');
        return text.ToString();
    }

    /// <summary>A recent match the kernel's checkentry accepts, printed as libxt_recent's save does.</summary>
    private string Recent(bool ipv6, HashSet<string> tablesNamed)
    {
        string table = Pick(_tables);
        tablesNamed.Add(table);
        bool smallRing = table == _smallRingTable;
        string command = smallRing
            ? Pick<string>(["--rcheck", "--update", "--update"])
            : Pick<string>(["--set", "--set", "--rcheck", "--rcheck", "--update", "--update", "--remove"]);
        var text = new StringBuilder("-m recent ");
        if (_random.Next(5) == 0)
            text.Append("! ");
        text.Append(command);
        if (command is "--rcheck" or "--update")
        {
            if (_windows.Length > 0 && _random.Next(2) == 0)
            {
                text.Append(" --seconds ").Append(Pick(_windows));
                if (_mayReap && _random.Next(3) == 0)
                {
                    text.Append(" --reap");
                    Reaps = true;
                }
            }
            if (smallRing)
                text.Append(" --hitcount ").Append(1 + _random.Next(3));
            else if (_random.Next(5) < 2)
                text.Append(" --hitcount ").Append(Pick(s_hitcounts));
            if (_random.Next(4) == 0)
                text.Append(" --rttl");
        }
        if (table != "DEFAULT" || _random.Next(2) == 0)
            text.Append(" --name ").Append(table);
        int mask = _random.Next(10);
        if (mask < 7)
            text.Append(" --mask ").Append(ipv6 ? (mask < 4 ? s_masks6[0] : Pick(s_masks6)) : (mask < 4 ? s_masks[0] : Pick(s_masks)));
        text.Append(_random.Next(10) switch { < 5 => " --rsource", < 8 => " --rdest", _ => "" });
        return text.ToString();
    }

    /// <summary>The first source half the time, so that one address gathers enough stamps for the hit counts and its ring wraps.</summary>
    private string Source(bool ipv6)
    {
        string[] sources = ipv6 ? s_sources6 : s_sources;
        return _random.Next(2) == 0 ? sources[0] : Pick(sources);
    }

    private T Pick<T>(T[] items) => items[_random.Next(items.Length)];
}
