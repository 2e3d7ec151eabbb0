// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using FastPath.Control;
using FastPath.Control.Conntrack;
using FastPath.Core;
using FastPath.Core.Conntrack.Defrag;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Logging;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;
using FastPath.Dataplane;
using FastPath.Dataplane.Native;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;

namespace FastPath.Daemon;

/// <summary>`fastpath run`: builds the ports and the dataplane, runs it, prints stats and the final summary.</summary>
public static class RunCommand
{
    /// <summary>How often the management thread asks every worker for a sweep of its connections (the expiry tick).</summary>
    public static readonly TimeSpan ConntrackSweepTick = TimeSpan.FromMilliseconds(100);

    public static int Execute(RunOptions options, TextWriter output)
    {
        // A bad policies or rules file stops everything before a port is opened. As on a host whose sysctls are set at
        // boot, before any nfct script runs, a policy takes --sysctl's default timeouts for the states it leaves out.
        var timeouts = new TimeoutPolicyRegistry();
        ApplySysctls(options, new WorkerFlowTables([]), timeouts, new ReassemblySettings(), defaultTimeouts: true);
        TimeoutPolicyFile.Load(options, timeouts);
        var rules = RulesFiles.Load(options);
        return options.IsOffline ? RunOffline(options, rules, timeouts, output) : RunLive(options, rules, timeouts, output);
    }

    private const string StandardOutputPath = "/dev/stdout";

    private static int RunOffline(RunOptions options, (FamilyRuleset V4, FamilyRuleset V6)? rules, TimeoutPolicyRegistry timeouts, TextWriter output)
    {
        if (options.PcapOut is null)
            throw new UsageException("offline mode needs --pcap-out FILE for the forwarded frames");
        // Writing an output truncates or appends to it: the capture would change under the replay reading it (the
        // same file by any name: a symbolic or hard link too).
        foreach (var (option, path) in new[] { ("--pcap-out", options.PcapOut), ("--trace", options.Trace), ("--log", options.Log) })
        {
            if (path is not null && UnixFile.Same(options.PcapIn!, path))
                throw new UsageException($"{option} {path} is the --pcap-in file: the replay would overwrite the capture it reads");
        }
        // "-" is standard output, as for tcpdump -w: the capture then owns it, and the summary goes to standard error.
        string pcapOut = options.PcapOut == "-" ? StandardOutputPath : options.PcapOut;
        if (UnixFile.Same(pcapOut, StandardOutputPath))
            output = Console.Error;
        using var input = PcapFilePort.OpenReader("pcap-in", options.PcapIn!);
        using var forwarded = PcapFilePort.CreateWriter("pcap-out", pcapOut, input.Header);
        IPort[] ports = [input, forwarded];
        (int, int)[] pairs = [(0, 1)];
        var dataplane = new DataplaneOptions { Workers = 1, Cores = options.Cores };
        var reassembly = dataplane.Reassembly;
        string what = $"offline replay of {options.PcapIn} -> {options.PcapOut}";
        // Without rules everything crosses; --conntrack always still tracks it, and --trace still tells it, through the
        // empty ruleset.
        if (rules is null && !options.ConntrackAlways && options.Trace is null)
        {
            ApplySysctls(options, new WorkerFlowTables([]), timeouts, reassembly);
            return Replay(ports, pairs, dataplane, _ => default(AcceptAll), output, what, forwarded);
        }
        var r = rules ?? (FamilyRuleset.Empty(L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6));

        var compiled = new CompiledRuleset(r.V4, r.V6, ports.Select(p => p.Name).ToArray(), options.FilterInput, timeouts);
        var peers = DataplaneTopology.PeersOf(ports.Select(p => p.Name).ToArray(), pairs);
        var conntrack = compiled.UsesConntrack || options.ConntrackAlways
            ? new ConnectionTracker(timeouts, options.ConntrackMax) { TrackAlways = options.ConntrackAlways }
            : null;
        ApplySysctls(options, new WorkerFlowTables(conntrack is null ? [] : [conntrack.Table]), timeouts, reassembly);
        using var log = LogOutput.Open(options);
        var packetLog = PacketLog.Immediate(compiled.PortNames, log.Stream);
        var state = new RulesetState(compiled, options.RecentSizing, conntrack: conntrack, log: packetLog);
        using var trace = options.Trace is null ? null : new VerdictTrace(OptionFile.Open("--trace", options.Trace, FileMode.Create, FileAccess.Write, FileShare.Read), compiled);
        // No management thread offline: the capture's clock asks for the sweeps.
        var sweepTick = Jiffies.FromNanoseconds((long)ConntrackSweepTick.TotalNanoseconds);
        int status = Replay(ports, pairs, dataplane, _ => new RulesetVerdict(state, peers, trace, sweepTick), output, what, forwarded);
        if (compiled.Chains.Count > 0)
            RuleCounterReport.Print(output, compiled, [state]);
        if (conntrack is not null)
            ConntrackReport.Print(output, [conntrack]);
        log.Report(output, [packetLog]);
        return status;
    }

    private static int Replay<TVerdict>(IPort[] ports, (int, int)[] pairs, DataplaneOptions dataplane, Func<int, TVerdict> verdicts,
        TextWriter output, string what, PcapFilePort forwarded) where TVerdict : struct, IVerdictStage
    {
        var host = new DataplaneHost<TVerdict>(ports, pairs, dataplane, verdicts);
        using var stop = StopSignals.Register(host.RequestStop);
        var clock = Stopwatch.StartNew();
        InvalidDataException? damage = null;
        try
        {
            host.RunToCompletion(TimeSpan.FromDays(1));
        }
        catch (InvalidOperationException e) when (e.InnerException is InvalidDataException damaged)
        {
            damage = damaged;
        }
        forwarded.Dispose();
        Summary.Print(output, host, clock.Elapsed, what);
        // The frames before a damaged record were decided and written, and the summary counts them; then the damage
        // stops the run (exit status 1), in the reader's words.
        return damage is null ? 0 : throw damage;
    }

    private static int RunLive(RunOptions options, (FamilyRuleset V4, FamilyRuleset V6)? rules, TimeoutPolicyRegistry timeouts, TextWriter output)
    {
        // What the options ask of this machine is checked before DPDK takes the ports.
        var allowed = CpuAffinity.CurrentThreadCores();
        if (options.Cores is null && options.Workers > allowed.Count)
            throw new UsageException($"--workers {options.Workers}: this process may run on {allowed.Count} core(s) ({string.Join(',', allowed)}); a poll-mode worker needs one of its own");
        var cores = options.Cores ?? DefaultCores(options.Workers ?? 1, allowed);
        if (cores.FirstOrDefault(core => !allowed.Contains(core), -1) is var missing and >= 0)
            throw new UsageException($"--cores: core {missing} is not one this process may run on ({string.Join(',', allowed)})");
        int workers = cores.Count;
        if (options.ControlSocket is { } controlPath)
            ControlServer.CheckFree(controlPath);
        using var log = LogOutput.Open(options);
        Eal.Initialize(options.EalArguments);

        var names = options.Pairs.SelectMany(p => new[] { p.A, p.B }).Distinct().ToList();
        var pairs = options.Pairs.Select(p => (names.IndexOf(p.A), names.IndexOf(p.B))).ToList();
        // No rules is the empty ruleset (everything crosses), which a reload can replace.
        var (v4, v6) = rules ?? (FamilyRuleset.Empty(L3Kind.IPv4), FamilyRuleset.Empty(L3Kind.IPv6));
        var compiled = new CompiledRuleset(v4, v6, names, options.FilterInput, timeouts);
        if (workers > 1)
            EvaluationCursor.CheckFits(compiled);
        uint mbufs = options.Mbufs ?? MbufsNeeded(names.Count, workers, options.RxDescriptors, options.TxDescriptors);
        using var pool = DpdkMempool.Create("fp_mbufs", mbufs);
        var ports = new List<DpdkPort>();
        try
        {
            var rss = RulesetVerdict.RssFieldsFor(compiled, options.ConntrackAlways);
            foreach (string name in names)
                ports.Add(DpdkPort.Open(name, workers, pool, rss, options.RxDescriptors, options.TxDescriptors));
            var dataplane = new DataplaneOptions { Workers = workers, Cores = cores, RegisterWithDpdk = true };
            var peers = DataplaneTopology.PeersOf(names, pairs);
            // Live, a reload may start using conntrack at any time, so every worker has its table from the start.
            var states = Enumerable.Range(0, workers).Select(w =>
            {
                var shards = new RecentShardMap(w, workers);
                var tracker = new ConnectionTracker(timeouts, shards.ShardCapacity(options.ConntrackMax), w, workers) { TrackAlways = options.ConntrackAlways };
                return new RulesetState(compiled, options.RecentSizing, shards, tracker, PacketLog.Queued(names));
            }).ToArray();
            var reloads = new PendingRuleset();
            var host = new DataplaneHost<RulesetVerdict>(ports, pairs, dataplane, w => new RulesetVerdict(states[w], peers, reloads: reloads));
            var control = new LiveDataplaneControl(host, states, reloads, options, names, timeouts);
            var sysctls = ApplySysctls(options, control, timeouts, dataplane.Reassembly);
            var packetLogs = states.Select(s => s.Log!).ToList();
            int status = Serve(options, output, ports, host, control, sysctls, mbufs, cores, () => log.Drain(packetLogs));
            log.Drain(packetLogs);
            if (control.Ruleset.Rules.Count > 0)
                RuleCounterReport.Print(output, control.Ruleset, control.States);
            if (control.States[0].Tracking)
                ConntrackReport.Print(output, control.States.Select(s => s.Conntrack!).ToList());
            log.Report(output, packetLogs);
            return status;
        }
        finally
        {
            foreach (var port in ports)
                port.Dispose();
        }
    }

    private static string SpreadOf(DpdkPort port, int workers) => port.Rss switch
    {
        RssFields.Flow => "symmetric RSS",
        RssFields.SourceAddress => "RSS on source addresses",
        RssFields.DestinationAddress => "RSS on destination addresses",
        _ => workers > 1 ? "software steering" : "one worker",
    };

    /// <summary>The management thread: starts the workers, serves the control socket and prints stats until stopped.</summary>
    private static int Serve(RunOptions options, TextWriter output, List<DpdkPort> ports, DataplaneHost<RulesetVerdict> host,
        LiveDataplaneControl control, ConntrackSysctls sysctls, uint mbufs, List<int> cores, Action drainLogs)
    {
        int workers = host.Workers.Length;
        foreach (var port in ports)
            port.Start();
        foreach (var port in ports)
            output.WriteLine($"port {port.Name}: driver {port.Driver}, {port.RxQueueCount} rx / {port.TxQueueCount} tx queue(s), {SpreadOf(port, workers)}");

        using var server = options.ControlSocket is { } path ? new ControlServer(path, options.ControlPermissions, Commands(control, sysctls)) : null;
        if (server is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(server.Path))!);
            server.Start();
            output.WriteLine($"control socket {server.Path} (mode {Convert.ToString((int)options.ControlPermissions.Mode, 8).PadLeft(4, '0')})");
        }
        output.WriteLine($"{workers} worker(s) on core(s) {string.Join(',', cores)}, {mbufs} mbufs; SIGINT, SIGTERM or SIGHUP stops");
        output.Flush();

        using var stop = StopSignals.Register(host.RequestStop);
        var clock = Stopwatch.StartNew();
        host.Start();
        var reporter = new StatsLine(output);
        var deadline = options.DurationSeconds is double d ? TimeSpan.FromSeconds(d) : TimeSpan.MaxValue;
        var interval = TimeSpan.FromSeconds(options.StatsIntervalSeconds);
        var nextStats = interval;
        var nextSweep = ConntrackSweepTick;
        while (!host.IsStopRequested && clock.Elapsed < deadline)
        {
            drainLogs();
            if (clock.Elapsed >= nextSweep)
            {
                control.RequestConntrackSweeps();
                nextSweep = clock.Elapsed + ConntrackSweepTick;
            }
            // Waiting for a control client is the management thread's sleep between stats lines.
            if (server is null || !server.ServeOnce(10))
                Thread.Sleep(server is null ? 10 : 0);
            if (options.StatsIntervalSeconds > 0 && clock.Elapsed >= nextStats)
            {
                reporter.Print(host.ReadCounters(), clock.Elapsed);
                nextStats += interval;
            }
        }
        host.RequestStop();
        if (!host.Join(TimeSpan.FromSeconds(10)))
            throw new InvalidOperationException("workers did not stop within 10 s");
        Summary.Print(output, host, clock.Elapsed, "live");
        foreach (var port in ports)
        {
            var dev = port.ReadDeviceCounters();
            output.WriteLine($"device {port.Name}: ipackets {dev.InPackets} opackets {dev.OutPackets} imissed {dev.InMissed} ierrors {dev.InErrors} oerrors {dev.OutErrors}");
        }
        return 0;
    }

    /// <summary>
    /// The control socket's command table: the dataplane's paths, nfct's timeout subsystem over the daemon's
    /// policy registry, and the connections (conntrack, /proc/net/nf_conntrack, the nf_conntrack sysctls).
    /// </summary>
    private static ControlCommands Commands(LiveDataplaneControl control, ConntrackSysctls sysctls)
    {
        var commands = DataplaneCommands.Create(control);
        NfctCommands.Register(commands, new NfctTool(control.Timeouts));
        ConntrackCommands.Register(commands, control, control.Timeouts, sysctls: sysctls);
        return commands;
    }

    /// <summary>
    /// --sysctl: each value written as fastpathctl write writes it, with the kernel's parsing, before the first packet;
    /// a refusal stops the run with the errno and why. The default timeouts are written first, on their own
    /// (<paramref name="defaultTimeouts"/>), the others once the connection tables exist. Returns the sysctls, for the
    /// control socket to go on from.
    /// </summary>
    private static ConntrackSysctls ApplySysctls(RunOptions options, IConntrackTables tables, TimeoutPolicyRegistry timeouts, ReassemblySettings reassembly,
        bool defaultTimeouts = false)
    {
        var sysctls = new ConntrackSysctls(tables, timeouts, reassembly);
        foreach (var (directory, name, value, where) in options.Sysctls)
        {
            if (ConntrackSysctls.IsDefaultTimeout(directory, name) != defaultTimeouts)
                continue;
            var written = sysctls.Write(name, Encoding.UTF8.GetBytes(value), directory);
            if (!written.IsOk)
                throw new UsageException($"{where}: {written.Error!.StrError} ({written.Message})");
        }
        return sysctls;
    }

    /// <summary>By default the workers take the highest cores this process may run on, leaving the lowest to the management thread and the OS.</summary>
    private static List<int> DefaultCores(int workers, IReadOnlyList<int> allowed) => allowed.TakeLast(workers).ToList();

    /// <summary>Every descriptor of every queue full, every burst and every handoff ring full, every fragment a defragmenter can hold, plus per-core caches.</summary>
    private static uint MbufsNeeded(int ports, int workers, int rxDesc, int txDesc)
    {
        long need = (long)ports * workers * (rxDesc + txDesc)
            + (long)workers * ports * PacketBurst.Capacity * 3
            + (long)workers * (workers - 1) * new DataplaneOptions().HandoffRingSize
            + (long)workers * Defragmenter.FragmentCapacity
            + (long)(workers + 1) * 256;
        return (uint)(BitOperations.RoundUpToPowerOf2((ulong)need) - 1);
    }
}

/// <summary>SIGINT and SIGTERM request a clean stop instead of killing the process.</summary>
internal static class StopSignals
{
    public static IDisposable Register(Action stop)
    {
        // SIGHUP too (the terminal went away): its default action would end the process with no summary and leave the socket file.
        var registrations = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(s => PosixSignalRegistration.Create(s, context =>
            {
                context.Cancel = true;
                stop();
            }))
            .ToArray();
        return new Registrations(registrations);
    }

    private sealed class Registrations(PosixSignalRegistration[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in items)
                r.Dispose();
        }
    }
}
