// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Control.Conntrack;

/// <summary>
/// The connection table on the control socket: /proc/net/nf_conntrack and the nf_conntrack_* sysctls as the kernel
/// serves them, and a conntrack command line (-L and -D with filters, -F, -C, --policy-counts), read and answered
/// as conntrack 1.4.7 reads and answers it. The registry given to <see cref="Register"/> must be the one the
/// workers and nfct use.
/// </summary>
public static class ConntrackCommands
{
    public const string ProcPath = "/proc/net/nf_conntrack";
    public const string SysctlDirectory = "/proc/sys/net/netfilter";
    public const string Verb = "run";
    public const string Path = "conntrack";

    public static void Register(ControlCommands commands, IDataplaneControl backend, TimeoutPolicyRegistry timeouts, ProtocolNames? protocols = null)
    {
        var sysctls = new ConntrackSysctls(backend, timeouts);
        commands.Register("read", ProcPath, "", "the connections as the kernel prints them (counters when nf_conntrack_acct is 1)",
            (_, _) => ReadProc(backend, sysctls.Accounting));
        commands.Register("list", SysctlDirectory, "", "the nf_conntrack_* sysctls, one name per line",
            (_, _) => ControlResponse.Ok(string.Concat(sysctls.Names.Select(n => n + "\n"))));
        commands.RegisterPrefix("read", SysctlDirectory + "/", "NAME", "", "a sysctl as the kernel prints it (timeouts in seconds)",
            (_, name) => sysctls.Read(name));
        commands.RegisterPrefix("write", SysctlDirectory + "/", "NAME", "", "set a sysctl with the kernel's parsing and errnos; timeouts are the defaults nfct default-set changes",
            (request, name) => sysctls.Write(name, request.Payload));
        commands.Register(Verb, Path, "ARG...", "a conntrack command line: -L [-p P] [-f F] [-s A] [-d A] [-r A] [-q A] [--sport N] [--dport N] [--reply-port-src N] [--reply-port-dst N] [--state S] [--icmp-type N] [--icmp-code N] [--icmp-id N] [--timeout-policy NAME] [--json], -D [the same filters], -F, -C, --policy-counts [the same filters] [--json]",
            (request, _) => Run(backend, timeouts, protocols ?? ProtocolNames.Installed, sysctls.Accounting, request.Args));
    }

    private static ControlResponse ReadProc(IDataplaneControl backend, bool accounting)
    {
        if (backend.ListFlows() is not { } flows)
            return ConntrackSysctls.NotTracked();
        var text = new StringBuilder();
        foreach (var flow in flows)
            text.Append(ConntrackFormat.ProcLine(flow, accounting));
        return ControlResponse.Ok(text.ToString());
    }

    private static ControlResponse Run(IDataplaneControl backend, TimeoutPolicyRegistry timeouts, ProtocolNames protocols, bool accounting, IReadOnlyList<string> args)
    {
        if (ConntrackQuery.Parse(args, protocols, out string error) is not { } query)
            return ControlResponse.Fail(ControlError.EINVAL, ConntrackQuery.MessagePrefix + error);
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
            return ControlResponse.Ok(query.Action == ConntrackAction.Flush ? "" : string.Concat(deleted.Select(f => ConntrackFormat.ToolLine(f, accounting))));
        }
        if (backend.ListFlows() is not { } all)
            return ConntrackSysctls.NotTracked();
        var flows = all.Where(query.Matches).ToList();
        if (query.Action == ConntrackAction.PolicyCounts)
        {
            var snapshot = timeouts.Current;
            return ControlResponse.Ok(query.Json ? ConntrackFormat.PolicyCountsJson(flows, snapshot) : ConntrackFormat.PolicyCounts(flows, snapshot));
        }
        return ControlResponse.Ok(query.Json ? ConntrackFormat.Json(flows) : string.Concat(flows.Select(f => ConntrackFormat.ToolLine(f, accounting))));
    }
}
