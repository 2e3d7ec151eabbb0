// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Control.Recent;
using FastPath.Control.Rules;
using FastPath.Core;
using FastPath.Core.Recent;

namespace FastPath.Control;

/// <summary>The command table of a running dataplane: xt_recent's proc files, the clock, the counters and reload.</summary>
public static class DataplaneCommands
{
    public const string JiffiesPath = "/proc/fastpath/jiffies";
    public const string HzPath = "/proc/fastpath/hz";
    public const string CountersPath = "/proc/fastpath/counters";

    public static ControlCommands Create(IDataplaneControl backend)
    {
        var commands = new ControlCommands();
        RecentCommands.Register(commands, backend);
        commands.Register("read", JiffiesPath, "", "the current time in jiffies, the unit of the recent tables' stamps",
            (_, _) => ControlResponse.Ok(backend.NowJiffies.ToString(CultureInfo.InvariantCulture) + "\n"));
        commands.Register("read", HzPath, "", "jiffies per second (the kernel's HZ)",
            (_, _) => ControlResponse.Ok(Jiffies.Hz.ToString(CultureInfo.InvariantCulture) + "\n"));
        ControlHandler counters = (_, _) => ControlResponse.Ok(RuleListing.Format(backend.Ruleset, backend.ReadCounters()));
        commands.Register("read", CountersPath, "", "rule and policy counters as `iptables -L -v -x -n` prints them, per family and table", counters);
        commands.Register("show", CountersPath, "", "the same as read", counters);
        commands.Register("reload", "", "", "re-read the rules file(s) as iptables-restore restores them (a table a file leaves out keeps its rules); on an error the running rules stay", (_, _) => Reload(backend));
        return commands;
    }

    private static ControlResponse Reload(IDataplaneControl backend)
    {
        var result = backend.Reload();
        if (result.Errno != Errno.None)
            return ControlResponse.Fail(ControlError.From(result.Errno), result.Message);
        return ControlResponse.Ok(result.Message.Length > 0 ? result.Message + "\n" : "");
    }
}
