// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>One thing a cttimeout scenario does; both sides describe its outcome as the same canonical text.</summary>
internal abstract record CttimeoutStep;

/// <summary>An nfct command line (the arguments after "nfct").</summary>
internal sealed record NfctStep(string[] Arguments) : CttimeoutStep
{
    public override string ToString() => "nfct " + string.Join(' ', Arguments.Select(a => a.Length == 0 || a.Contains(' ') ? $"'{a}'" : a));
}

/// <summary>A raw nfnetlink_cttimeout request (what kernel_cttimeout.py sends); null fields leave the attribute out.</summary>
internal sealed record NetlinkStep(string Op, string? Name = null, ushort? L3 = null, byte? L4 = null, string[]? Flags = null,
    SortedDictionary<int, uint>? Data = null) : CttimeoutStep
{
    public override string ToString() =>
        $"netlink {Op} name={Name ?? "-"} l3={L3?.ToString() ?? "-"} l4={L4?.ToString() ?? "-"} flags={string.Join('|', Flags ?? [])} " +
        $"data={(Data is null ? "-" : string.Join(',', Data.Select(kv => $"{kv.Key}:{kv.Value}")))}";
}

/// <summary>`iptables-legacy -t raw -A PREROUTING [-p PROTOCOL] -j CT --timeout POLICY` (ip6tables-legacy for IPv6).</summary>
internal sealed record AddRuleStep(bool IPv6, string? Protocol, string Policy) : CttimeoutStep
{
    public override string ToString() => $"{(IPv6 ? "ip6tables" : "iptables")} -A{(Protocol is null ? "" : " -p " + Protocol)} --timeout {Policy}";
}

/// <summary>`iptables-legacy -t raw -D PREROUTING NUMBER` (1-based).</summary>
internal sealed record DeleteRuleStep(bool IPv6, int Number) : CttimeoutStep
{
    public override string ToString() => $"{(IPv6 ? "ip6tables" : "iptables")} -D PREROUTING {Number}";
}

/// <summary>A side of the comparison: the running kernel, or FastPath's registry and nfct grammar.</summary>
internal interface ICttimeoutSide
{
    /// <summary>Carries the step out and describes what came of it.</summary>
    string Run(CttimeoutStep step);
}

internal static class CttimeoutOutcome
{
    public static string Nfct(int exitStatus, string output, string error) => $"exit {exitStatus}\n--- stdout\n{output}--- stderr\n{error}";

    public static string Netlink(int errno, IEnumerable<string> objects) => $"errno {errno}\n" + string.Concat(objects.Select(o => o + "\n"));

    public static string NetlinkObject(string? name, int? l3, int? l4, int? use, IEnumerable<KeyValuePair<int, uint>> data) =>
        $"name={name ?? "-"} l3={l3?.ToString() ?? "-"} l4={l4?.ToString() ?? "-"} use={use?.ToString() ?? "-"} " +
        $"data={string.Join(',', data.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{kv.Value}"))}";

    public static string Rule(Errno errno) => $"rule {errno}";

    /// <summary>The -p word of a rule as a protocol number (0 without -p, which xt_CT refuses).</summary>
    public static byte ProtocolNumber(string? protocol) => protocol switch
    {
        null => 0,
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "gre" => 47,
        "icmpv6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "not a protocol the scenarios use"),
    };
}

/// <summary>
/// The kernel side: a network namespace of its own (cttimeout policies and defaults are per namespace, so
/// nothing leaks to or from the host), nfct and iptables-legacy run inside it, and kernel_cttimeout.py for the
/// raw requests, kept running for the whole scenario.
/// </summary>
internal sealed class KernelCttimeoutSide : ICttimeoutSide, IDisposable
{
    private readonly NetworkNamespace _namespace = new();
    private readonly Process _netlink;

    public KernelCttimeoutSide()
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", _namespace.Name, TestEnvironment.Python, Path.Combine(AppContext.BaseDirectory, "Kernel", "kernel_cttimeout.py") })
            info.ArgumentList.Add(a);
        _netlink = Process.Start(info)!;
    }

    /// <summary>Null when nfct and iptables-legacy can be run in a namespace here, otherwise why not.</summary>
    public static string? Unavailable() =>
        TestEnvironment.NamespacesUnavailable()
        ?? TestEnvironment.IptablesLegacyUnavailable()
        ?? TestEnvironment.ToolUnavailable("nfct");

    public string NamespaceName => _namespace.Name;

    public string Run(CttimeoutStep step) => step switch
    {
        NfctStep nfct => RunNfct(nfct.Arguments),
        NetlinkStep request => RunNetlink(request),
        AddRuleStep add => CttimeoutOutcome.Rule(ChangeRules(add.IPv6, ["-t", "raw", "-A", "PREROUTING",
            .. add.Protocol is null ? Array.Empty<string>() : ["-p", add.Protocol], "-j", "CT", "--timeout", add.Policy])),
        DeleteRuleStep delete => CttimeoutOutcome.Rule(ChangeRules(delete.IPv6, ["-t", "raw", "-D", "PREROUTING", $"{delete.Number}"])),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };

    /// <summary>A value of /proc/sys/net/netfilter inside the namespace.</summary>
    public string Sysctl(string name) =>
        File.Exists($"/proc/sys/net/netfilter/{name}")
            ? Exec("cat", [$"/proc/sys/net/netfilter/{name}"]).Output.Trim()
            : throw new InvalidOperationException($"no sysctl {name}");

    /// <summary>Runs iptables-legacy (ip6tables-legacy) in the namespace and returns what it printed.</summary>
    public string Iptables(bool ipv6, params string[] arguments) => Exec(ipv6 ? "ip6tables-legacy" : "iptables-legacy", arguments).Output;

    private string RunNfct(string[] arguments)
    {
        var (exit, output, error) = Exec("nfct", arguments);
        return CttimeoutOutcome.Nfct(exit, output, error);
    }

    private string RunNetlink(NetlinkStep step)
    {
        var request = new JsonObject
        {
            ["op"] = step.Op,
            ["name"] = step.Name,
            ["l3"] = step.L3,
            ["l4"] = step.L4,
            ["flags"] = new JsonArray((step.Flags ?? []).Select(f => (JsonNode)f!).ToArray()),
            ["data"] = step.Data is null ? null : new JsonObject(step.Data.Select(kv => KeyValuePair.Create($"{kv.Key}", (JsonNode?)kv.Value))),
        };
        _netlink.StandardInput.WriteLine(request.ToJsonString());
        _netlink.StandardInput.Flush();
        string? line = _netlink.StandardOutput.ReadLine()
            ?? throw new InvalidOperationException("kernel_cttimeout.py ended: " + _netlink.StandardError.ReadToEnd());
        using var reply = JsonDocument.Parse(line);
        var objects = reply.RootElement.GetProperty("objects").EnumerateArray().Select(o => CttimeoutOutcome.NetlinkObject(
            o.GetProperty("name").GetString(),
            Optional(o.GetProperty("l3")),
            Optional(o.GetProperty("l4")),
            Optional(o.GetProperty("use")),
            o.GetProperty("data").EnumerateObject().Select(p => KeyValuePair.Create(int.Parse(p.Name), p.Value.GetUInt32()))));
        return CttimeoutOutcome.Netlink(reply.RootElement.GetProperty("errno").GetInt32(), objects.ToList());
    }

    private static int? Optional(JsonElement element) => element.ValueKind == JsonValueKind.Null ? null : element.GetInt32();

    /// <summary>The errno of an iptables change, from what iptables prints for it.</summary>
    private Errno ChangeRules(bool ipv6, string[] arguments)
    {
        var (exit, output, error) = Exec(ipv6 ? "ip6tables-legacy" : "iptables-legacy", arguments);
        if (exit == 0)
            return Errno.None;
        string text = output + error;
        if (text.Contains("No chain/target/match by that name"))
            return Errno.ENOENT;
        if (text.Contains("Invalid argument"))
            return Errno.EINVAL;
        throw new InvalidOperationException($"iptables {string.Join(' ', arguments)} failed ({exit}) unexpectedly: {text}");
    }

    private (int Exit, string Output, string Error) Exec(string file, string[] arguments)
    {
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string a in new[] { "netns", "exec", _namespace.Name, file }.Concat(arguments))
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var error = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, error.Result);
    }

    public void Dispose()
    {
        _netlink.StandardInput.Close();
        if (!_netlink.WaitForExit(10_000))
            _netlink.Kill();
        _netlink.Dispose();
        _namespace.Dispose();
    }
}

/// <summary>
/// FastPath's side: a <see cref="TimeoutPolicyRegistry"/> driven by <see cref="NfctTool"/> for nfct lines, by its
/// API for raw requests, and by <see cref="TimeoutPolicyRegistry.AcquireForRule"/>/<see cref="TimeoutPolicyRegistry.Release"/>
/// for rules (what the ruleset compiler will do for -j CT --timeout).
/// </summary>
internal sealed class FastPathCttimeoutSide : ICttimeoutSide
{
    private readonly List<TimeoutPolicy?>[] _rules = [[], []];

    public FastPathCttimeoutSide()
    {
        Tool = new NfctTool(Registry);
    }

    public TimeoutPolicyRegistry Registry { get; } = new();

    public NfctTool Tool { get; }

    public int RuleCount(bool ipv6) => _rules[ipv6 ? 1 : 0].Count;

    public string Run(CttimeoutStep step)
    {
        switch (step)
        {
            case NfctStep nfct:
                var result = Tool.Run(nfct.Arguments);
                return CttimeoutOutcome.Nfct(result.ExitStatus, result.Output, result.Error);
            case NetlinkStep request:
                return RunNetlink(request);
            case AddRuleStep add:
            {
                var errno = Registry.AcquireForRule(add.Policy, add.IPv6 ? (ushort)10 : (ushort)2, CttimeoutOutcome.ProtocolNumber(add.Protocol), out var policy);
                if (errno == Errno.None)
                    _rules[add.IPv6 ? 1 : 0].Add(policy);
                return CttimeoutOutcome.Rule(errno);
            }
            case DeleteRuleStep delete:
            {
                var rules = _rules[delete.IPv6 ? 1 : 0];
                var policy = rules[delete.Number - 1];
                rules.RemoveAt(delete.Number - 1);
                if (policy is not null)
                    Registry.Release(policy);
                return CttimeoutOutcome.Rule(Errno.None);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(step));
        }
    }

    private string RunNetlink(NetlinkStep step)
    {
        var data = step.Data?.ToDictionary(kv => kv.Key - 1, kv => kv.Value);
        switch (step.Op)
        {
            case "new":
            {
                var flags = TimeoutCreateFlags.None;
                if (step.Flags?.Contains("excl") == true)
                    flags |= TimeoutCreateFlags.Exclusive;
                if (step.Flags?.Contains("replace") == true)
                    flags |= TimeoutCreateFlags.Replace;
                return CttimeoutOutcome.Netlink((int)Registry.Create(step.Name!, step.L3!.Value, step.L4!.Value, data, flags), []);
            }
            case "get":
            {
                var errno = Registry.Get(step.Name!, out var policy);
                return CttimeoutOutcome.Netlink((int)errno, policy is null ? [] : [Describe(policy)]);
            }
            case "dump":
                return CttimeoutOutcome.Netlink(0, Registry.Dump().Select(Describe));
            case "delete":
                return CttimeoutOutcome.Netlink((int)(step.Name is null ? Registry.DeleteAll() : Registry.Delete(step.Name)), []);
            case "default_set":
                return CttimeoutOutcome.Netlink((int)Registry.SetDefaults(step.L3!.Value, step.L4!.Value, data), []);
            case "default_get":
            {
                var errno = Registry.GetDefaults(step.L3!.Value, step.L4!.Value, out var defaults);
                return CttimeoutOutcome.Netlink((int)errno, defaults is null
                    ? []
                    : [CttimeoutOutcome.NetlinkObject(null, defaults.L3Protocol, defaults.Protocol.Number, null, States(defaults.Protocol, defaults.Seconds))]);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(step));
        }
    }

    private static string Describe(TimeoutPolicy policy) =>
        CttimeoutOutcome.NetlinkObject(policy.Name, policy.L3Protocol, policy.Protocol.Number, policy.Use, States(policy.Protocol, policy.Seconds));

    /// <summary>Every kernel state as the attribute the kernel sends it in (state index + 1).</summary>
    private static IEnumerable<KeyValuePair<int, uint>> States(TimeoutProtocol protocol, Func<int, uint> seconds) =>
        Enumerable.Range(0, protocol.States.Length).Select(i => KeyValuePair.Create(i + 1, seconds(i)));
}
