// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Native;

namespace FastPath.Daemon;

public static class Program
{
    private static int CheckCommand(RunOptions options, TextWriter output)
    {
        if (!options.HasRules)
            throw new UsageException("check needs --rules FILE and/or --rules6 FILE");
        var (v4, v6) = RulesFiles.Load(options)!.Value;
        var compiled = new FastPath.Core.Rules.CompiledRuleset(v4, v6, [], options.FilterInput, TimeoutPolicyFile.Load(options));
        output.WriteLine($"rules OK: {compiled.Rules.Count} rule(s) in {compiled.Chains.Count} chain(s), {compiled.RecentTables.Count} recent table(s)");
        return 0;
    }

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            // Asked for, the help is the output; without a command it is the usage error's message.
            (args.Length == 0 ? Console.Error : Console.Out).Write(Help.Main);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            switch (args[0])
            {
                case "run":
                    if (args.Skip(1).Any(a => a is "-h" or "--help"))
                    {
                        Console.Out.Write(Help.Run);
                        return 0;
                    }
                    return RunCommand.Execute(RunOptions.Parse(args[1..]), Console.Out);
                case "check":
                    if (args.Skip(1).Any(a => a is "-h" or "--help"))
                    {
                        Console.Out.Write(Help.Check);
                        return 0;
                    }
                    return CheckCommand(RunOptions.Parse(args[1..], requireJob: false), Console.Out);
                case "version":
                    Console.Out.WriteLine($"fastpath {typeof(Program).Assembly.GetName().Version} (native shim ABI {Eal.ShimAbiVersion})");
                    return 0;
                default:
                    Console.Error.WriteLine($"fastpath: unknown command '{args[0]}' (see fastpath --help)");
                    return 2;
            }
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"fastpath: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is FastPath.Core.Rules.RulesetException or DpdkException or InvalidDataException or IOException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"fastpath: {e.Message}");
            return 1;
        }
    }
}

internal static class Help
{
    public const string Check = """
        Usage: fastpath check --rules FILE [--rules6 FILE] [--filter-input yes|no] [--timeout-policies FILE]

        Reads the rules files as `fastpath run` would and reports the first problem as FILE:LINE: message,
        like iptables-restore --test. -j CT --timeout NAME needs NAME in the --timeout-policies file, as the
        kernel needs the policy to exist. Exit status 0 when they load, 1 when they do not.

        """;

    public const string Main = """
        fastpath - a userspace packet dataplane: bump-in-the-wire forwarding between port pairs

        Usage:
          fastpath run [options]     forward frames: offline (pcap in -> pcap out) or live (DPDK ports)
          fastpath run --help        every option of run
          fastpath check --rules F   check iptables-save rules files without running (like iptables-restore --test)
          fastpath version           print the version and the native shim ABI

        Examples:
          fastpath run --pcap-in samples/mixed.pcap --pcap-out out.pcap
          fastpath run --eal "--no-huge -m 512 --no-pci --vdev=net_af_packet0,iface=veth0,qpairs=2 --vdev=net_af_packet1,iface=veth1,qpairs=2" \
                       --pair net_af_packet0,net_af_packet1 --cores 0,1

        """;

    public static string Run
    {
        get
        {
            var text = new System.Text.StringBuilder();
            text.AppendLine("Usage: fastpath run [options]");
            text.AppendLine();
            text.AppendLine("Frames received on a port leave unchanged on its peer; malformed frames are dropped and");
            text.AppendLine("counted under a named reason. Live mode prints a stats line per interval and, like offline");
            text.AppendLine("mode, a final summary; SIGINT, SIGTERM or SIGHUP stops rx, drains, prints the summary and exits 0.");
            text.AppendLine();
            text.AppendLine("Options:");
            foreach (var (name, argument, help) in RunOptions.Table)
            {
                text.AppendLine($"  --{name} {argument}");
                foreach (string line in Wrap(help, 72))
                    text.AppendLine($"      {line}");
            }
            text.AppendLine();
            text.AppendLine("Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error.");
            return text.ToString();
        }
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new System.Text.StringBuilder();
        foreach (string word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0)
                line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0)
            yield return line.ToString();
    }
}
