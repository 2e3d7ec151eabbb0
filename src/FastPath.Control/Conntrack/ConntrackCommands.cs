// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;

namespace FastPath.Control.Conntrack;

/// <summary>
/// The connection table on the control socket: /proc/net/nf_conntrack, /proc/net/stat/nf_conntrack and the
/// nf_conntrack_* sysctls as the kernel serves them, and a conntrack command line (-L and -D with filters, -G, -o, -F,
/// -C, -S, --policy-counts, and the tables expect, dying and unconfirmed, which are empty here), read and answered as
/// conntrack 1.4.7 reads and answers it. The registry given to <see cref="Register"/> must be the one the workers and nfct use.
/// </summary>
public static class ConntrackCommands
{
    public const string ProcPath = "/proc/net/nf_conntrack";
    public const string ProcStatisticsPath = "/proc/net/stat/nf_conntrack";
    public const string SysctlDirectory = "/proc/sys/net/netfilter";
    public const string Ipv4SysctlDirectory = "/proc/sys/net/ipv4";
    public const string Verb = "run";
    public const string Path = "conntrack";

    private const byte IcmpV6 = 58;

    /// <param name="sysctls">The sysctls as the run set them at start (--sysctl); null: a fresh set over <paramref name="backend"/>.</param>
    public static void Register(ControlCommands commands, IDataplaneControl backend, TimeoutPolicyRegistry timeouts, ProtocolNames? protocols = null,
        ConntrackSysctls? sysctls = null)
    {
        sysctls ??= new ConntrackSysctls(backend, timeouts);
        commands.Register("read", ProcPath, "", "the connections as the kernel prints them (counters for the connections created while nf_conntrack_acct was 1)",
            (_, _) => ReadProc(backend));
        commands.Register("read", ProcStatisticsPath, "", "conntrack's per-cpu statistics, a row per worker, as the kernel prints them",
            (_, _) => backend.ConntrackStatistics is { } statistics
                ? ControlResponse.Ok(ConntrackFormat.ProcStatistics(statistics, backend.ConntrackCount ?? 0))
                : ConntrackSysctls.NotTracked());
        commands.Register("list", SysctlDirectory, "", "the nf_conntrack_* sysctls, one name per line",
            (_, _) => ControlResponse.Ok(string.Concat(sysctls.Names().Select(n => n + "\n"))));
        commands.RegisterPrefix("read", SysctlDirectory + "/", "NAME", "", "a sysctl as the kernel prints it (timeouts in seconds)",
            (_, name) => sysctls.Read(name));
        commands.RegisterPrefix("write", SysctlDirectory + "/", "NAME", "", "set a sysctl with the kernel's parsing and errnos; timeouts are the defaults nfct default-set changes",
            (request, name) => sysctls.Write(name, request.Payload));
        commands.Register("list", Ipv4SysctlDirectory, "", "of IPv4's sysctls, the ipfrag_* ones a network namespace has (the reassembly before conntrack), one name per line",
            (_, _) => ControlResponse.Ok(string.Concat(sysctls.Names(ConntrackSysctls.Ipv4).Select(n => n + "\n"))));
        commands.RegisterPrefix("read", Ipv4SysctlDirectory + "/", "NAME", "", "an ipfrag_* sysctl as the kernel prints it (ipfrag_time in seconds)",
            (_, name) => sysctls.Read(name, ConntrackSysctls.Ipv4));
        commands.RegisterPrefix("write", Ipv4SysctlDirectory + "/", "NAME", "", "set an ipfrag_* sysctl with the kernel's parsing and errnos",
            (request, name) => sysctls.Write(name, request.Payload, ConntrackSysctls.Ipv4));
        commands.Register(Verb, Path, "ARG...", "a conntrack command line: -L [-p P] [-f F] [-s A] [-d A] [-r A] [-q A] [--sport N] [--dport N] [--reply-port-src N] [--reply-port-dst N] [--state S] [--icmp-type N] [--icmp-code N] [--icmp-id N] [-u ASSURED,SEEN_REPLY,...] [-m MARK[/MASK]] [-w ZONE] [--orig-zone ZONE] [--reply-zone ZONE] [--timeout-policy NAME] [-o xml,extended,id] [--json], -D [the same filters] [-i ID] [-o ...], -G -p P -s A -d A (or -r A -q A) [ports, ICMP type and code] [-i ID] [-o ...], -F, -C, -S, --policy-counts [the same filters] [--json]; after -L, -D, -G, -F, -C or -S a table: conntrack, expect, dying or unconfirmed (the last three always empty); none: the usage",
            (request, _) => Run(backend, timeouts, protocols ?? ProtocolNames.Installed, request.Args));
    }

    private static ControlResponse ReadProc(IDataplaneControl backend)
    {
        if (backend.ListFlows() is not { } flows)
            return ConntrackSysctls.NotTracked();
        var text = new StringBuilder();
        foreach (var flow in flows)
            text.Append(ConntrackFormat.ProcLine(flow));
        return ControlResponse.Ok(text.ToString());
    }

    private static ControlResponse Run(IDataplaneControl backend, TimeoutPolicyRegistry timeouts, ProtocolNames protocols, IReadOnlyList<string> args)
    {
        if (ConntrackQuery.Parse(args, protocols, out string error) is not { } query)
            return ControlResponse.Fail(ControlError.EINVAL, ConntrackQuery.MessagePrefix + error);
        if (query.Action == ConntrackAction.Usage)
            return ControlResponse.Ok(ConntrackFormat.Usage + (query.ProtocolHelp ?? ""));
        if (query.Action == ConntrackAction.Version)
            return ControlResponse.Ok(ConntrackFormat.Version);
        if (query.Action == ConntrackAction.Stats)
        {
            if (backend.ConntrackStatistics is not { } statistics)
                return ConntrackSysctls.NotTracked();
            return ControlResponse.Ok(query.Table == ConntrackTable.Expect
                ? ConntrackFormat.ExpectStatistics(statistics.Count)
                : ConntrackFormat.Statistics(statistics));
        }
        if (query.Table != ConntrackTable.Conntrack)
            return RunEmptyTable(backend, query);
        if (query.Action == ConntrackAction.Count)
        {
            return backend.ConntrackCount is { } count
                ? ControlResponse.Ok(count.ToString(CultureInfo.InvariantCulture) + "\n")
                : ConntrackSysctls.NotTracked();
        }
        if (query.Action is ConntrackAction.Delete or ConntrackAction.Flush)
        {
            // -F deletes what -D without filters deletes; conntrack prints only -D's connections.
            if (backend.DeleteFlows(query.Action == ConntrackAction.Flush ? _ => true : query.Matches) is not { } deleted)
                return ConntrackSysctls.NotTracked();
            return ControlResponse.Ok(query.Action == ConntrackAction.Flush ? "" : ConntrackFormat.Lines(deleted, query.Output, query.Action));
        }
        if (backend.ListFlows() is not { } all)
            return ConntrackSysctls.NotTracked();
        if (query.ListRefusal() is var (listErrno, listReason))
            return OperationFailed(listErrno, listReason);
        if (query.Action == ConntrackAction.Get)
            return Get(query, all);
        var flows = all.Where(query.Matches).ToList();
        if (query.Action == ConntrackAction.PolicyCounts)
        {
            var snapshot = timeouts.Current;
            return ControlResponse.Ok(query.Json ? ConntrackFormat.PolicyCountsJson(flows, snapshot) : ConntrackFormat.PolicyCounts(flows, snapshot));
        }
        return ControlResponse.Ok(query.Json ? ConntrackFormat.Json(flows) : ConntrackFormat.Lines(flows, query.Output, query.Action));
    }

    // -G as ctnetlink_get_conntrack answers conntrack's request, and conntrack then filters the answer: refused before
    // the lookup (GetRefusal), no connection with that tuple in either direction (ENOENT), or the one found, shown
    // only if it passes the filters conntrack applies to it (it is not, when found by its reply tuple).
    private static ControlResponse Get(ConntrackQuery query, IReadOnlyList<FlowView> flows)
    {
        if (query.GetRefusal() is var (errno, reason))
            return OperationFailed(errno, reason);
        if (flows.FirstOrDefault(query.IsGetTarget) is not { } found)
            return OperationFailed(ControlError.ENOENT, "such conntrack doesn't exist");
        return ControlResponse.Ok(ConntrackFormat.Lines(query.Matches(found) ? [found] : [], query.Output, ConntrackAction.Get));
    }

    private static ControlResponse OperationFailed(ControlError errno, string reason) =>
        ControlResponse.Fail(errno, ConntrackQuery.MessagePrefix + ConntrackQuery.OperationFailed + reason);

    // expect, dying and unconfirmed, as the kernel answers them on a host with none: -L lists nothing, -C counts 0,
    // -F empties an empty table; -D and -G expect (conntrack lets them through only with a whole tuple) find nothing,
    // ENOENT, except that the kernel refuses an ICMPv6 tuple of type 0 (conntrack's, as it takes no --icmpv6-type
    // there) as invalid first. Without tracking there is no table to read, as for conntrack's.
    private static ControlResponse RunEmptyTable(IDataplaneControl backend, ConntrackQuery query)
    {
        if (backend.ConntrackCount is null)
            return ConntrackSysctls.NotTracked();
        return query.Action switch
        {
            ConntrackAction.Count => ControlResponse.Ok("0\n"),
            ConntrackAction.Flush => ControlResponse.Ok(""),
            ConntrackAction.Delete or ConntrackAction.Get when query.Protocol == IcmpV6 =>
                OperationFailed(ControlError.EINVAL, ConntrackQuery.InvalidParameters),
            ConntrackAction.Delete or ConntrackAction.Get => OperationFailed(ControlError.ENOENT, ControlError.ENOENT.StrError),
            _ when !query.Json => ControlResponse.Ok(""),
            _ when query.Table == ConntrackTable.Expect => ControlResponse.Ok(ConntrackFormat.ExpectationsJson),
            _ => ControlResponse.Ok(ConntrackFormat.Json([])),
        };
    }
}
