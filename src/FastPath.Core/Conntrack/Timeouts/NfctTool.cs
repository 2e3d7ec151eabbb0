// SPDX-License-Identifier: MIT
using System.Collections.Immutable;
using System.Text;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>What nfct would print on stdout and stderr, and the exit status it would end with.</summary>
public readonly record struct NfctResult(int ExitStatus, string Output, string Error)
{
    public static NfctResult Success(string output = "") => new(0, output, "");

    public static NfctResult Failure(string error) => new(1, "", error);
}

/// <summary>
/// nfct's timeout subsystem over a <see cref="TimeoutPolicyRegistry"/>: a command line that works with nfct gives
/// the same output, errors and exit status here. Runs on the management thread, like the registry. Its helper
/// subsystem answers as a kernel without nfnetlink_cthelper: nfct's own refusals, else EINVAL.
/// </summary>
public sealed class NfctTool(TimeoutPolicyRegistry registry, string programName = "nfct", ProtocolNames? protocols = null)
{
    private const string VersionText =
        NfctCommand.MessagePrefix + "utility for the Netfilter's Connection Tracking System\n" +
        "Copyright (C) 2012 Pablo Neira Ayuso <pablo@netfilter.org>\n" +
        "This program comes with ABSOLUTELY NO WARRANTY.\n" +
        "This is free software, and you are welcome to redistribute it under certain \n" +
        "conditions; see LICENSE file distributed in this package for details.\n";

    /// <summary>Parses and executes the arguments that follow the program name.</summary>
    public NfctResult Run(IReadOnlyList<string> arguments) => Execute(NfctCommand.Parse(arguments, programName, protocols));

    public NfctResult Execute(NfctCommand command)
    {
        switch (command)
        {
            case NfctRefused refused:
                return NfctResult.Failure(refused.Error);
            case NfctShowVersion:
                return NfctResult.Success(VersionText);
            case NfctListTimeouts:
                return NfctResult.Success(string.Concat(registry.Dump().Select(FormatPolicy)));
            case NfctGetTimeout get:
            {
                var errno = registry.Get(get.Name, out var policy);
                return errno == Errno.None ? NfctResult.Success(FormatPolicy(policy!)) : NetlinkError(errno);
            }
            case NfctAddTimeout add:
                return Outcome(registry.Create(add.Name, add.L3Protocol, add.L4Protocol, add.Seconds));
            case NfctDeleteTimeout delete:
                return Outcome(registry.Delete(delete.Name));
            case NfctFlushTimeouts:
                return Outcome(registry.DeleteAll());
            case NfctSetDefaults set:
                return Outcome(registry.SetDefaults(set.L3Protocol, set.L4Protocol, set.Seconds));
            case NfctGetDefaults get:
            {
                var errno = registry.GetDefaults(get.L3Protocol, get.L4Protocol, out var defaults);
                return errno == Errno.None
                    ? NfctResult.Success(Format(null, defaults!.L3Protocol, defaults.Protocol, defaults.Jiffies))
                    : NetlinkError(errno);
            }
            case NfctHelperRequest:
                // nfnetlink finds no subsystem for the message type and answers EINVAL.
                return NetlinkError(Errno.EINVAL);
            default:
                throw new ArgumentOutOfRangeException(nameof(command), command, "not an nfct command");
        }
    }

    /// <summary>A policy as `nfct list`/`nfct get` print it (nfct_timeout_snprintf, then a newline).</summary>
    public static string FormatPolicy(TimeoutPolicy policy) => Format(policy.Name, policy.L3Protocol, policy.Protocol, policy.Jiffies);

    /// <summary>
    /// ".NAME = {" (absent for defaults), the protocols, then one line per state nfct has a name for (SCTP's last
    /// two kernel states are not shown), tab-indented, with the kernel's seconds.
    /// </summary>
    private static string Format(string? name, ushort l3Protocol, TimeoutProtocol protocol, ImmutableArray<uint> jiffies)
    {
        var text = new StringBuilder();
        if (name is not null)
            text.Append('.').Append(name).Append(" = {\n");
        text.Append("\t.l3proto = ").Append(l3Protocol).Append(",\n");
        text.Append("\t.l4proto = ").Append(protocol.Number).Append(",\n");
        text.Append("\t.policy = {\n");
        var names = NfctStateNames.For(protocol.Number);
        for (int state = 0; state < names.Length; state++)
            text.Append("\t\t.").Append(names[state]).Append(" = ").Append(TimeoutJiffies.ToSeconds(jiffies[state])).Append(",\n");
        text.Append("\t},\n};\n");
        return text.ToString();
    }

    private static NfctResult Outcome(Errno errno) => errno == Errno.None ? NfctResult.Success() : NetlinkError(errno);

    private static NfctResult NetlinkError(Errno errno) =>
        NfctResult.Failure($"{NfctCommand.MessagePrefix}netlink error: {Errnos.Message(errno)}\n");
}
