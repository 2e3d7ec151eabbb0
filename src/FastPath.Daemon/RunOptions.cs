// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Control;
using FastPath.Control.Conntrack;
using FastPath.Core.Recent;

namespace FastPath.Daemon;

/// <summary>The options of `fastpath run`, from the command line and optionally a config file.</summary>
public sealed class RunOptions
{
    public string? PcapIn { get; private set; }
    public string? PcapOut { get; private set; }
    public List<string> EalArguments { get; } = [];
    public List<(string A, string B)> Pairs { get; } = [];
    public List<int>? Cores { get; private set; }
    public int? Workers { get; private set; }
    public int RxDescriptors { get; private set; } = 1024;
    public int TxDescriptors { get; private set; } = 1024;
    public uint? Mbufs { get; private set; }
    public double? DurationSeconds { get; private set; }
    public double StatsIntervalSeconds { get; private set; } = 1;
    public string? Rules { get; private set; }
    public string? Rules6 { get; private set; }
    public string? Trace { get; private set; }

    /// <summary>Where -j LOG lines go (--log): a file appended to, or null for standard error.</summary>
    public string? Log { get; private set; }
    public bool FilterInput { get; private set; }

    /// <summary>Track connections even when no rule uses conntrack (--conntrack always).</summary>
    public bool ConntrackAlways { get; private set; }

    /// <summary>The connection table's limit over all workers (nf_conntrack_max).</summary>
    public int ConntrackMax { get; private set; } = DefaultConntrackMax;

    /// <summary>nfct timeout commands applied before the rules load (--timeout-policies).</summary>
    public string? TimeoutPolicies { get; private set; }

    /// <summary>--sysctl NAME=VALUE, in order: the directory under /proc/sys/net (netfilter or ipv4), the file name, the text written to it and where it was given (the option, or FILE:LINE), for the error.</summary>
    public List<(string Directory, string Name, string Value, string Where)> Sysctls { get; } = [];

    /// <summary>nf_conntrack_max of a kernel on a machine with a few GiB of memory.</summary>
    public const int DefaultConntrackMax = 262144;

    // How sysctl(8) names the files of /proc/sys/net/netfilter and /proc/sys/net/ipv4.
    private const string NetfilterPrefix = "net.netfilter.", Ipv4Prefix = "net.ipv4.";

    private RecentTableSize _recentDefaults = new();
    private readonly Dictionary<string, (int? Capacity, int? Stamps, int? HashBuckets)> _recentTables = [];

    /// <summary>
    /// Recent table sizes: --recent-capacity/-stamps/-hash-size for every table, --recent-table for one (what it
    /// leaves out comes from the defaults, whatever the order of the options).
    /// </summary>
    public RecentTableSizing RecentSizing => new(_recentDefaults, _recentTables.ToDictionary(t => t.Key, t => Checked(new RecentTableSize(
        t.Value.Capacity ?? _recentDefaults.Capacity, t.Value.Stamps ?? _recentDefaults.Stamps, t.Value.HashBuckets ?? _recentDefaults.HashBuckets), $"--recent-table {t.Key}")));

    /// <summary>Where the live dataplane serves its control socket; null: none.</summary>
    public string? ControlSocket { get; private set; } = DefaultControlSocket;
    public SocketPermissions ControlPermissions { get; private set; } = SocketPermissions.OwnerOnly;

    public const string DefaultControlSocket = "/run/fastpath/control.sock";

    public bool HasRules => Rules is not null || Rules6 is not null;

    public bool IsOffline => PcapIn is not null;

    /// <summary>Every option: name, argument, help. `--help` prints exactly this table.</summary>
    public static readonly (string Name, string Argument, string Help)[] Table =
    [
        ("pcap-in", "FILE", "Offline mode: read frames from a pcap or pcapng capture. The capture's timestamps are the clock, so a replay is deterministic and runs as fast as the CPU allows."),
        ("pcap-out", "FILE", "Offline mode (required there): write forwarded frames to a classic pcap file with the input's file header (a replay with nothing dropped is byte-identical); - is standard output, as for tcpdump -w, and the summary then goes to standard error."),
        ("eal", "ARGS", "Live mode: DPDK EAL arguments, split on spaces and passed through unchanged (repeatable), e.g. \"--no-huge -m 512 --vdev=net_af_packet0,iface=veth0\"."),
        ("pair", "A,B", "Live mode: a bump-in-the-wire pair of DPDK ports by device name (repeatable): frames received on A leave on B and the other way round."),
        ("cores", "LIST", "Cores the workers are pinned to, one worker per core: \"1\", \"1,3\" or \"2-3\". Live default: the last core. Offline default: unpinned."),
        ("workers", "N", "Number of workers, each on a core of its own (more than the cores this process may run on is refused). Default: one per core in --cores, else 1. Offline mode runs one worker."),
        ("rx-desc", "N", "Rx descriptors per queue (default 1024)."),
        ("tx-desc", "N", "Tx descriptors per queue (default 1024)."),
        ("mbufs", "N", "Size of the mbuf pool (default: enough for every ring and burst, rounded to 2^k-1)."),
        ("duration", "SECONDS", "Live mode: stop by itself after this long (default: until SIGINT, SIGTERM or SIGHUP)."),
        ("stats-interval", "SECONDS", "Live mode: seconds between stats lines, pps in/out/drop per port (default 1; 0 turns them off)."),
        ("rules", "FILE", "An iptables-save file (*raw PREROUTING, then *filter FORWARD) applied to IPv4 traffic crossing the wire. -i/-o name FastPath ports: DPDK device names, or pcap-in/pcap-out offline. A bad file is refused with FILE:LINE and nothing runs. With several workers each recent-table address belongs to one worker (docs/design/recent-sharding.md)."),
        ("rules6", "FILE", "The same for IPv6 (ip6tables-save). Recent tables named in both files are one table, as in the kernel."),
        ("filter-input", "yes|no", "Apply the filter table's INPUT chain instead of FORWARD (a host's ruleset reused for traffic crossing the appliance). Default no."),
        ("conntrack", "auto|always", "Connection tracking: auto (default) tracks a family once one of its rules uses -m conntrack, -m state or -j CT (not --notrack), as the kernel does; always tracks every packet, so flows can be listed with any ruleset."),
        ("conntrack-max", "N", $"Connections held over all workers (nf_conntrack_max, default {DefaultConntrackMax}); each worker holds its share. When full, a new connection evicts one not ASSURED or is dropped (conntrack_table_full)."),
        ("timeout-policies", "FILE", "nfct timeout commands, one per line as the nfct man page writes them (\"nfct add timeout NAME inet tcp established 100\", the leading nfct optional, # comments), applied before the rules load so -j CT --timeout NAME finds them. A failing line stops everything with FILE:LINE."),
        ("sysctl", "NAME=VALUE", "Set a conntrack sysctl before the first packet, as fastpathctl write /proc/sys/net/netfilter/NAME would (repeatable; NAME with or without net.netfilter.), e.g. nf_conntrack_checksum=0 to replay a capture taken where the NIC filled in checksums; the reassembly's ipfrag_* files of /proc/sys/net/ipv4 too (with or without net.ipv4.), e.g. ipfrag_time=10. A refused value stops everything; a table setting needs connection tracking."),
        ("trace", "FILE", "Offline mode: write one line per frame: packet number, capture time, ACCEPT/DROP and the table:chain:rule (or the chain's policy, or CHAIN:hotdrop for a match that dropped it unread, or malformed:REASON) that decided it."),
        ("log", "FILE", "Where -j LOG rules write their lines (the kernel's, as dmesg -r shows them: <LEVEL>[SECONDS.MICROSECONDS] PREFIXIN=... OUT=... MAC=... SRC=..., the time being the capture's offline), appended to FILE; default: standard error. Live, a worker that outruns the writer loses lines and counts them."),
        ("recent-capacity", "N", "Entries per recent table (the kernel's ip_list_tot, default 100). With several workers each holds its share. The least recently used entry is evicted when a table is full."),
        ("recent-stamps", "N", "Timestamps kept per entry (the kernel's ip_pkt_list_tot, default 0: sized from the rules' --hitcount, 32 without one; at most 65536)."),
        ("recent-hash-size", "N", "Hash buckets per recent table, a power of two (the kernel's ip_list_hash_size, default 0: 1 << fls(capacity))."),
        ("recent-table", "NAME:K=V,...", "Sizes for one table, overriding the three above (repeatable): capacity=N, stamps=N, hash-size=N, e.g. SSH:capacity=1000000,hash-size=1048576. Beyond the kernel, whose sizes are module-wide."),
        ("control", "PATH|off", $"Live mode: serve the control socket (fastpathctl; docs/control-protocol.md) at PATH, default {DefaultControlSocket}; off serves none."),
        .. SocketPermissions.Options,
        ("config", "FILE", "Read options from FILE: one \"name = value\" per line (names as above without --; a # at the start of a line or after a blank starts a comment); command-line options given after --config override it (--pair and --eal replace the file's)."),
    ];

    /// <param name="requireJob">False for `fastpath check`, which needs rules but no ports.</param>
    public static RunOptions Parse(IReadOnlyList<string> args, bool requireJob = true)
    {
        var options = new RunOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"unexpected argument '{arg}'");
            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            if (!Table.Any(o => o.Name == name))
                throw new UsageException($"unknown option '--{name}' (see fastpath run --help)");
            if (value is null)
            {
                if (i + 1 >= args.Count)
                    throw new UsageException($"option '--{name}' needs a value");
                value = args[++i];
            }
            if (name == "config")
            {
                options.LoadConfig(value);
                continue;
            }
            // A list the file gave is replaced, not added to, by the command line after it.
            if (options._listsFromConfig.Remove(name))
                options.ClearList(name);
            options.Set(name, value, $"--{name}");
        }
        if (requireJob)
            options.Validate();
        return options;
    }

    private void LoadConfig(string path)
    {
        string[] lines = OptionFile.ReadAllLines("--config", path);
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            // A comment starts at a '#' that begins the line or follows a blank: "out = c#1.pcap" names c#1.pcap.
            int hash = Enumerable.Range(0, line.Length).FirstOrDefault(i => line[i] == '#' && (i == 0 || char.IsWhiteSpace(line[i - 1])), -1);
            if (hash >= 0)
                line = line[..hash];
            line = line.Trim();
            if (line.Length == 0)
                continue;
            int eq = line.IndexOf('=');
            string where = $"{path}:{n + 1}";
            if (eq <= 0)
                throw new UsageException($"{where}: expected 'name = value'");
            string name = line[..eq].Trim();
            string value = line[(eq + 1)..].Trim();
            if (name == "config" || !Table.Any(o => o.Name == name))
                throw new UsageException($"{where}: unknown option '{name}'");
            Set(name, value, where);
            if (name is "eal" or "pair")
                _listsFromConfig.Add(name);
        }
    }

    private readonly HashSet<string> _listsFromConfig = [];

    private void ClearList(string name)
    {
        if (name == "eal")
            EalArguments.Clear();
        else
            Pairs.Clear();
    }

    private void Set(string name, string value, string where)
    {
        if (value.Length == 0)
            throw new UsageException($"{where}: option '{name}' needs a value");
        switch (name)
        {
            case "pcap-in": PcapIn = value; break;
            case "pcap-out": PcapOut = value; break;
            case "eal": EalArguments.AddRange(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)); break;
            case "pair":
                var parts = value.Split(',', StringSplitOptions.TrimEntries);
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new UsageException($"{where}: a pair is two port names separated by a comma, got '{value}'");
                if (parts[0] == parts[1])
                    throw new UsageException($"{where}: a pair needs two different ports, got '{parts[0]}' twice");
                if (parts.FirstOrDefault(port => Pairs.Any(p => p.A == port || p.B == port)) is { } paired)
                    throw new UsageException($"{where}: port '{paired}' is already in a pair");
                Pairs.Add((parts[0], parts[1]));
                break;
            case "cores": Cores = ParseCoreList(value, where); break;
            case "workers": Workers = ParsePositive(value, where, 128); break;
            case "rx-desc": RxDescriptors = ParsePositive(value, where, 32768); break;
            case "tx-desc": TxDescriptors = ParsePositive(value, where, 32768); break;
            case "mbufs": Mbufs = (uint)ParsePositive(value, where, int.MaxValue); break;
            case "duration": DurationSeconds = ParseSeconds(value, where, allowZero: false); break;
            case "stats-interval": StatsIntervalSeconds = ParseSeconds(value, where, allowZero: true); break;
            case "rules": Rules = value; break;
            case "rules6": Rules6 = value; break;
            case "trace": Trace = value; break;
            case "log": Log = value; break;
            case "recent-capacity": _recentDefaults = Checked(_recentDefaults with { Capacity = ParsePositive(value, where, 1 << 26) }, where); break;
            case "recent-stamps": _recentDefaults = Checked(_recentDefaults with { Stamps = ParseCount(value, where) }, where); break;
            case "recent-hash-size": _recentDefaults = Checked(_recentDefaults with { HashBuckets = ParseCount(value, where) }, where); break;
            case "recent-table": SetRecentTable(value, where); break;
            case "control": ControlSocket = value == "off" ? null : value; break;
            case "control-perms" or "control-uid" or "control-gid":
                try
                {
                    ControlPermissions = ControlPermissions.With(name, value);
                }
                catch (FormatException e)
                {
                    // The message names the option; a config file's line adds where it stands.
                    throw new UsageException(where == $"--{name}" ? e.Message : $"{where}: {e.Message}");
                }
                break;
            case "conntrack":
                ConntrackAlways = value switch
                {
                    "auto" => false,
                    "always" => true,
                    _ => throw new UsageException($"{where}: expected auto or always, got '{value}'"),
                };
                break;
            case "conntrack-max": ConntrackMax = ParsePositive(value, where, 1 << 26); break;
            case "timeout-policies": TimeoutPolicies = value; break;
            case "sysctl":
                int eq = value.IndexOf('=');
                if (eq <= 0)
                    throw new UsageException($"{where}: expected NAME=VALUE, got '{value}'");
                string sysctl = value[..eq].Trim();
                var (directory, fileName) = sysctl.StartsWith(Ipv4Prefix, StringComparison.Ordinal) ? (ConntrackSysctls.Ipv4, sysctl[Ipv4Prefix.Length..])
                    : sysctl.StartsWith(NetfilterPrefix, StringComparison.Ordinal) ? (ConntrackSysctls.Netfilter, sysctl[NetfilterPrefix.Length..])
                    : sysctl.StartsWith("ipfrag_", StringComparison.Ordinal) ? (ConntrackSysctls.Ipv4, sysctl) : (ConntrackSysctls.Netfilter, sysctl);
                Sysctls.Add((directory, fileName, value[(eq + 1)..], where == "--sysctl" ? $"--sysctl {value}" : $"{where}: sysctl = {value}"));
                break;
            case "filter-input":
                FilterInput = value switch
                {
                    "yes" or "true" or "1" => true,
                    "no" or "false" or "0" => false,
                    _ => throw new UsageException($"{where}: expected yes or no, got '{value}'"),
                };
                break;
        }
    }

    /// <summary>"NAME:capacity=N,stamps=N,hash-size=N"; each setting is checked against the limits here.</summary>
    private void SetRecentTable(string value, string where)
    {
        int colon = value.IndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
            throw new UsageException($"{where}: expected NAME:capacity=N[,stamps=N][,hash-size=N], got '{value}'");
        string name = value[..colon];
        var size = _recentTables.GetValueOrDefault(name);
        foreach (string setting in value[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries))
        {
            int eq = setting.IndexOf('=');
            string key = eq > 0 ? setting[..eq] : setting;
            string number = eq > 0 ? setting[(eq + 1)..] : "";
            switch (key)
            {
                case "capacity": size.Capacity = Checked(new RecentTableSize(Capacity: ParsePositive(number, where, 1 << 26)), where).Capacity; break;
                case "stamps": size.Stamps = Checked(new RecentTableSize(Stamps: ParseCount(number, where)), where).Stamps; break;
                case "hash-size": size.HashBuckets = Checked(new RecentTableSize(HashBuckets: ParseCount(number, where)), where).HashBuckets; break;
                default: throw new UsageException($"{where}: unknown recent table setting '{key}' (capacity, stamps, hash-size)");
            }
        }
        _recentTables[name] = size;
    }

    private static RecentTableSize Checked(RecentTableSize size, string where) =>
        size.Problem() is { } problem ? throw new UsageException($"{where}: {problem}") : size;

    private static int ParseCount(string value, string where)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new UsageException($"{where}: expected a whole number (0 or more), got '{value}'");
        return n;
    }

    private void Validate()
    {
        if (IsOffline)
        {
            if (Pairs.Count > 0 || EalArguments.Count > 0)
                throw new UsageException("--pcap-in (offline mode) cannot be combined with --eal or --pair (live mode); for pcap files through DPDK use --eal \"--vdev=net_pcap0,rx_pcap=IN,tx_pcap=OUT\"");
            if ((Workers ?? 1) != 1 || Cores is { Count: > 1 })
                throw new UsageException("offline mode runs one worker: a deterministic replay needs one order of events");
            return;
        }
        if (PcapOut is not null)
            throw new UsageException("--pcap-out needs --pcap-in");
        if (Trace is not null)
            throw new UsageException("--trace is for offline replays (--pcap-in)");
        if (Pairs.Count == 0)
            throw new UsageException("nothing to run: give --pcap-in FILE (offline) or --eal ARGS with --pair A,B (live); see fastpath run --help");
        if (Cores is not null && Workers is not null && Workers != Cores.Count)
            throw new UsageException($"--workers {Workers} but --cores lists {Cores.Count} core(s): one worker per core");
    }

    public static List<int> ParseCoreList(string value, string where)
    {
        var cores = new List<int>();
        foreach (string part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = part.IndexOf('-');
            if (dash > 0 && int.TryParse(part[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int from)
                && int.TryParse(part[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int to) && from <= to)
            {
                for (int c = from; c <= to; c++)
                    cores.Add(c);
            }
            else if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int core))
            {
                cores.Add(core);
            }
            else
            {
                throw new UsageException($"{where}: bad core list '{value}' (examples: 1 | 1,3 | 2-3)");
            }
        }
        if (cores.Count == 0 || cores.Distinct().Count() != cores.Count)
            throw new UsageException($"{where}: bad core list '{value}': each core at most once, at least one");
        return cores;
    }

    private static int ParsePositive(string value, string where, int max)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > max)
            throw new UsageException($"{where}: expected a whole number from 1 to {max}, got '{value}'");
        return n;
    }

    /// <summary>About 31 years: far inside what a TimeSpan holds, so no run fails on it after its workers started.</summary>
    private const double MaxSeconds = 1e9;

    private static double ParseSeconds(string value, string where, bool allowZero)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !(s >= 0 && s <= MaxSeconds) || (!allowZero && s == 0))
            throw new UsageException($"{where}: expected seconds{(allowZero ? " from 0" : ", more than 0 and")} up to {MaxSeconds:0}, got '{value}'");
        return s;
    }
}

public sealed class UsageException(string message) : Exception(message);
