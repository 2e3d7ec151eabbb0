// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Control.Conntrack;

/// <summary>
/// nfct's timeout and helper subsystems on the control socket: the arguments of an nfct command line travel as
/// they are and get nfct's output; a failure answers ERR with the errno nfct's message names (EINVAL for its own
/// usage errors, and for every helper request, as from a kernel without nfnetlink_cthelper) and nfct's message,
/// and nfct's standard error as the body (its usage errors have several lines), which `fastpathctl nfct` prints
/// unchanged.
/// </summary>
public static class NfctCommands
{
    public const string Verb = "run";
    public const string Path = "nfct";

    public static void Register(ControlCommands commands, NfctTool nfct) =>
        commands.Register(Verb, Path, "ARG...", "an nfct command line: add timeout NAME inet tcp established 100 ..., timeout list, get, delete, flush, default-set, default-get; helper lines get EINVAL (no conntrack helpers)",
            (request, _) => Run(nfct, request));

    private static ControlResponse Run(NfctTool nfct, ControlRequest request)
    {
        var result = nfct.Run(request.Args);
        if (result.ExitStatus == 0)
            return ControlResponse.Ok(result.Output);
        string message = result.Error.TrimEnd('\n');
        return ControlResponse.Fail(ControlError.NamedIn(message) ?? ControlError.EINVAL, message, result.Error);
    }
}
