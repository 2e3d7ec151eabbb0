// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Control;
using FastPath.Control.Conntrack;
using FastPath.Control.Recent;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Cli;

/// <summary>fastpathctl: turns a command line into one control request, prints the answer, maps it to an exit status.</summary>
public static class Program
{
    private const int Failed = 1;
    private const int UsageOrConnection = 2;

    public static int Main(string[] args)
    {
        QuietOutput.Install();
        string socket = ControlClient.DefaultPath;
        int i = 0;
        for (; i < args.Length && args[i].StartsWith('-'); i++)
        {
            if (args[i] is "-h" or "--help")
            {
                Console.Out.Write(Usage);
                return 0;
            }
            if (args[i] == "--socket" && i + 1 < args.Length)
                socket = args[++i];
            else if (args[i].StartsWith("--socket=", StringComparison.Ordinal))
                socket = args[i]["--socket=".Length..];
            else if (args[i] == "--socket")
                return UsageError("--socket needs a PATH");
            else
                return UsageError($"unknown option '{args[i]}'");
        }
        if (i == args.Length)
            return UsageError("no command given");

        ControlRequest request;
        try
        {
            request = ToRequest(args[i], args[(i + 1)..]);
        }
        catch (UsageException e)
        {
            return UsageError(e.Message);
        }

        // What conntrack prints on stderr while it reads its options comes first, whatever follows; the line read
        // here also names the summary printed after the answer.
        ConntrackQuery? query = null;
        if (IsConntrack(request))
        {
            query = ConntrackQuery.Parse(request.Args, ProtocolNames.Installed, out _, out var warnings);
            foreach (var warning in warnings)
            {
                if (ConntrackQuery.WarningText(warning) is { } text)
                    Console.Error.WriteLine(text);
            }
        }

        ControlResponse response;
        try
        {
            response = new ControlClient(socket).Send(request);
        }
        catch (ControlConnectionException e)
        {
            Console.Error.WriteLine($"fastpathctl: {e.Message}");
            return UsageOrConnection;
        }
        if (response.Error is { } error)
        {
            if (IsConntrack(request))
            {
                // conntrack's message, then for a usage error its hint and exit status 2, as conntrack does; the
                // kernel's refusal ("Operation failed: ...") and conntrack's other problems are status 1, EINVAL too.
                Console.Error.WriteLine(response.Message);
                if (error != ControlError.EINVAL || !response.Message.StartsWith(ConntrackQuery.MessagePrefix, StringComparison.Ordinal)
                    || ConntrackQuery.IsOtherProblem(response.Message[ConntrackQuery.MessagePrefix.Length..]))
                    return Failed;
                Console.Error.WriteLine(ConntrackQuery.TryHelp);
                return UsageOrConnection;
            }
            if (request.Verb == NfctCommands.Verb)
            {
                // nfct's own message, as nfct prints it (the body, line breaks and all; an error the server gives
                // before nfct runs, such as a request too large, has only its message): a script comparing with
                // nfct sees the same text and status.
                if (response.Body.Length > 0)
                {
                    QuietOutput.StandardError.Write(response.Body);
                }
                else
                {
                    Console.Error.WriteLine(response.Message);
                }
                return Failed;
            }
            string what = request.Path.Length > 0 ? request.Path : request.Verb;
            string detail = response.Message.Length > 0 && response.Message != error.StrError ? $" ({response.Message})" : "";
            Console.Error.WriteLine($"fastpathctl: {what}: {error.StrError}{detail}");
            return Failed;
        }
        var stdout = QuietOutput.StandardOutput;
        stdout.Write(response.Body);
        if (!IsConntrack(request))
            return 0;
        stdout.Flush();
        // conntrack's summary on stderr, and its exit status: -D that deleted nothing and -G that showed nothing fail.
        int shown = ConntrackFormat.CountShown(response.Text, query?.Output ?? ConntrackOutput.None);
        switch (query)
        {
            case { Action: ConntrackAction.List, Json: false, Table: ConntrackTable.Expect }:
                Console.Error.Write(ConntrackFormat.ExpectSummary(shown));
                break;
            case { Action: ConntrackAction.List, Json: false }:
                Console.Error.Write(ConntrackFormat.Summary(shown));
                break;
            case { Action: ConntrackAction.Get }:
                Console.Error.Write(ConntrackFormat.Summary(shown));
                return shown == 0 ? Failed : 0;
            case { Action: ConntrackAction.Delete }:
                Console.Error.Write(ConntrackFormat.DeletedSummary(shown));
                return shown == 0 ? Failed : 0;
            case { Action: ConntrackAction.Flush, Table: ConntrackTable.Expect }:
                Console.Error.Write(ConntrackFormat.ExpectFlushedSummary);
                break;
            case { Action: ConntrackAction.Flush }:
                Console.Error.Write(ConntrackFormat.FlushedSummary);
                break;
        }
        return 0;
    }

    private static bool IsConntrack(ControlRequest request) =>
        request.Verb == ConntrackCommands.Verb && request.Path == ConntrackCommands.Path;

    private static ControlRequest ToRequest(string command, string[] rest) => command switch
    {
        "cat" => new ControlRequest("read", One(rest, "cat PATH")),
        "ls" => new ControlRequest("list", One(rest, "ls PATH")),
        "write" when rest.Length == 2 => new ControlRequest("write", rest[0], [], Data(rest[1])),
        "write" => throw new UsageException("usage: write PATH DATA (or - to send standard input as one write)"),
        "show" => Show(rest),
        "jiffies" when rest.Length == 0 => new ControlRequest("read", DataplaneCommands.JiffiesPath),
        "reload" when rest.Length == 0 => new ControlRequest("reload"),
        "help" when rest.Length == 0 => new ControlRequest("help"),
        "nfct" => new ControlRequest(NfctCommands.Verb, NfctCommands.Path, rest),
        // Empty words are kept from conntrack's parser, which has not been compared with conntrack on them.
        "conntrack" when rest.All(a => a.Length > 0) => new ControlRequest(ConntrackCommands.Verb, ConntrackCommands.Path, rest),
        "conntrack" => throw new UsageException("usage: conntrack ARGUMENTS (as for conntrack; empty arguments are not taken)"),
        "jiffies" or "reload" or "help" => throw new UsageException($"{command} takes no arguments"),
        _ => throw new UsageException($"unknown command '{command}'"),
    };

    private static ControlRequest Show(string[] rest)
    {
        if (rest is ["counters"])
            return new ControlRequest("show", DataplaneCommands.CountersPath);
        var words = rest.Skip(1).ToList();
        bool json = words.Remove("--json");
        if (rest is ["recent", ..] && words is [var name] && !name.StartsWith('-'))
        {
            string path = $"{RecentCommands.ProcDirectory}/{name}";
            return json ? new ControlRequest("show", path, "json") : new ControlRequest("show", path);
        }
        throw new UsageException("usage: show recent NAME [--json] | show counters");
    }

    private static string One(string[] rest, string usage) =>
        rest.Length == 1 && rest[0].Length > 0 ? rest[0] : throw new UsageException($"usage: {usage}");

    /// <summary>DATA's bytes exactly (no newline added), or all of standard input for "-".</summary>
    private static byte[] Data(string data)
    {
        if (data != "-")
            return Encoding.UTF8.GetBytes(data);
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"fastpathctl: {message} (see fastpathctl --help)");
        return UsageOrConnection;
    }

    private sealed class UsageException(string message) : Exception(message);

    private const string Usage = $"""
        fastpathctl - talk to a running fastpath over its control socket

        Usage: fastpathctl [--socket PATH] COMMAND [ARGUMENTS]

        Commands:
          cat PATH                  read a file: /proc/net/xt_recent/NAME, /proc/net/nf_conntrack,
                                    /proc/sys/net/netfilter/nf_conntrack_udp_timeout, /proc/fastpath/jiffies, ...
          ls PATH                   list a directory: /proc/net/xt_recent (the recent tables),
                                    /proc/sys/net/netfilter (the conntrack sysctls)
          write PATH DATA           write DATA's bytes, exactly as given, in one write: add no newline
                                    yourself unless you want one (the kernel's parser stops at it)
          write PATH -              write all of standard input as one write (echo +10.0.0.1 | ... -)
          show recent NAME [--json] recent table NAME with ages in seconds, as a table or as JSON
          show counters             rule and policy counters, as iptables -L -v -x -n prints them
          jiffies                   the current time in jiffies (the unit of the recent tables' stamps)
          reload                    re-read the rules file(s) as iptables-restore restores them (a table
                                    a file leaves out keeps its rules); on an error the running rules stay
          help                      the commands the server takes (its whole path table)
          nfct ARGUMENTS            an nfct command line, with nfct's output, messages and exit status 1
                                    on failure: nfct add timeout T inet tcp established 100; helper
                                    lines fail as on a kernel without conntrack helpers (EINVAL)
          conntrack -L [FILTERS] [--json]
                                    the connections as conntrack -L prints them (counters for those
                                    created while nf_conntrack_acct was 1), with timeout-policy=NAME last on a line
                                    when the connection has one; the summary line on stderr.
                                    FILTERS: -p PROTO, -f ipv4|ipv6, -s ADDR[/N], -d ADDR[/N],
                                    -r ADDR, -q ADDR (the reply's source and destination),
                                    --mask-src MASK, --mask-dst MASK (any bits, for -s, -d); after
                                    -p: --sport N, --dport N, --reply-port-src N, --reply-port-dst N,
                                    --state STATE, --icmp-type N, --icmp-code N, --icmp-id N;
                                    -u STATUS[,...] (ASSURED, SEEN_REPLY: every one given; -L: !STATUS);
                                    --timeout-policy NAME. Read as conntrack reads them: --dport=N,
                                    -pudp, any unambiguous prefix of a long option (--dp N)
          conntrack -D [FILTERS]    delete the connections FILTERS select (every one without filters) and
                                    print them as -L does; the count on stderr, exit status 1 if none
          conntrack -G -p PROTO -s ADDR -d ADDR [PORTS]
                                    the one connection with that tuple (or -r, -q and reply ports), as
                                    conntrack -G prints it; exit status 1 if there is none
          conntrack -L|-D|-G ... -o xml|extended|id[,...]|save
                                    conntrack's XML, the family columns, each connection's id=N;
                                    save: each connection as the conntrack command line making it
          conntrack -F              delete every connection
          conntrack -C              the number of connections (nf_conntrack_count)
          conntrack -S [expect]     the kernel's per-cpu statistics, a cpu=N line per worker (invalid,
                                    error, insert_failed, drop, early_drop, clash_resolve; expect: zeros)
          conntrack --policy-counts [FILTERS] [--json]
                                    connections per timeout policy: "(defaults)" then each policy
          conntrack -L|-D|-F|-C TABLE
                                    TABLE (any prefix): conntrack, or expect, dying, unconfirmed, which are
                                    always empty here (no helpers; expired connections freed at once):
                                    -L lists none, -C says 0, -F expect empties, -D expect (with -s, -d,
                                    -p and its ports) finds none, -S expect counts none; dying and
                                    unconfirmed take only -L
          conntrack -h [-p PROTO]   conntrack's usage (also with no command), then PROTO's options;
                                    -V: conntrack's version. Events, -I, -U, -A, -z, marks, zones,
                                    labels and NAT are refused: "not served"

        Options:
          --socket PATH             the control socket (default: ${ControlClient.SocketEnvironmentVariable} if set,
                                    else {ControlClient.DefaultSocketPath})
          -h, --help                this text

        Examples:
          fastpathctl cat /proc/net/xt_recent/SSH
          fastpathctl write /proc/net/xt_recent/SSH +192.0.2.7
          fastpathctl write /proc/net/xt_recent/SSH /
          fastpathctl show recent SSH --json
          fastpathctl conntrack -L -p tcp --state ESTABLISHED
          fastpathctl write /proc/sys/net/netfilter/nf_conntrack_udp_timeout 50

        The output is the server's answer. On an error fastpathctl prints "fastpathctl: PATH: reason" and exits
        with 1; it exits with 2 when it cannot reach the server or the command line is wrong.

        """;
}
