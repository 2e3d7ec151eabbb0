// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// A seeded random mix of cttimeout steps, valid and invalid: nfct lines in both word orders and with nfct's
/// abbreviations, every protocol nfct or the kernel knows and some neither does, good and bad state names,
/// values from 0 to past 2^32, names up to and past 31 bytes; raw requests with NLM_F_EXCL and NLM_F_REPLACE; and
/// rules that reference policies (so that delete and flush meet busy ones). It peeks at FastPath's registry to
/// aim replaces and rules at policies that exist; the comparison keeps that state equal to the kernel's.
/// </summary>
internal sealed class CttimeoutScenario(int seed, FastPathCttimeoutSide fastpath)
{
    private const string Name31 = "abcdefghijklmnopqrstuvwxyz01234";

    private static readonly string[] s_names = ["web", "dns", "ssh", "a", "web", "dns", "", Name31, Name31 + "xyz", "café", "two words"];
    private static readonly string[] s_netlinkNames = ["web", "dns", "ssh", "a", "", Name31, Name31 + "5", Name31 + "56789"];
    private static readonly string[] s_protocols =
    [
        "tcp", "tcp", "tcp", "udp", "udp", "udplite", "UDPLite", "icmp", "ICMP", "icmpv6", "ipv6-icmp", "IPv6-ICMP",
        "sctp", "sctp", "gre", "generic", "generic", "dccp", "igmp", "ip", "mptcp", "TCP", "Tcp", "nosuch",
    ];
    private static readonly string[] s_values =
    [
        "0", "1", "5", "30", "100", "600", "3600", "432000", "4294967295", "-1", "17179869", "17179870", "abc",
        "99999999999", "99999999999999999999", "12abc", " 7", "+5", "0x10",
    ];
    private static readonly byte[] s_l4 = [6, 6, 17, 136, 1, 58, 132, 47, 255, 33, 2, 0];
    private static readonly uint[] s_netlinkValues = [0, 1, 5, 30, 300, 4294967295, 17179870];
    private static readonly string[][] s_flags = [[], ["create"], ["excl"], ["replace"], ["create", "excl"], ["create", "replace"], ["excl", "replace"]];

    private readonly Random _random = new(seed);

    public CttimeoutStep Next()
    {
        int roll = _random.Next(100);
        if (roll < 68)
            return NextNfct();
        if (roll < 84)
            return NextNetlink();
        if (roll < 94 || fastpath.RuleCount(false) + fastpath.RuleCount(true) == 0)
            return NextRule();
        bool ipv6 = fastpath.RuleCount(true) > 0 && (fastpath.RuleCount(false) == 0 || _random.Next(2) == 0);
        return new DeleteRuleStep(ipv6, 1 + _random.Next(fastpath.RuleCount(ipv6)));
    }

    /// <summary>An nfct line only (it does not look at the registry).</summary>
    public NfctStep NextNfct()
    {
        int roll = _random.Next(100);
        (string[] Words, string[] Parameters) choice = roll switch
        {
            < 34 => (["add", "a", "ad"], [Name(), .. Policy(statesAtLeast: 0)]),
            < 44 => (["list", "l", "li", ""], Extra()),
            < 56 => (["get", "g", "ge"], NameOrNot()),
            < 68 => (["delete", "d", "del"], NameOrNot()),
            < 73 => (["flush", "f", "fl"], Extra()),
            < 84 => (["default-set", "def", "default", "default-s"], Policy(statesAtLeast: 1)),
            < 94 => (["default-get", "default-g"], [Family(), Pick(s_protocols), .. Extra()]),
            _ => ([], []),
        };
        var (words, parameters) = choice;
        if (words.Length == 0)
            return new NfctStep(Pick<string[]>([["disable", "timeout"], ["x", "timeout"], ["timeout", "x"], ["list", "x"], ["list"], [],
                ["version", "list"], ["list", "version"], ["timeout", "disable"], ["add", "timeout", "web"], ["default-get", "timeout", "inet"],
                // The helper subsystem: nfct's own refusals, and the kernel's EINVAL (no nfnetlink_cthelper) for what reaches it.
                ["helper", "list"], ["list", "helper"], ["flush", "helper", "x"], ["get", "helper"], ["get", "helper", "ftp", "inet", "tcp"],
                ["delete", "helper", "ftp", "bad"], ["add", "helper", "ftp", "inet", "tcp"], ["add", "helper", "ftp", "inet6", "udp"],
                ["add", "helper", "ftp", "inet"], ["disable", "helper", "tftp", "inet", "udp"], ["helper", "default-set"]]));
        string command = Pick(words);
        string subsystem = Pick(["timeout", "timeout", "timeout", "t", "time"]);
        string[] head = _random.Next(5) == 0 ? [subsystem, command] : [command, subsystem];
        return new NfctStep([.. head, .. parameters]);
    }

    private string Name() => Pick(s_names);

    private string[] NameOrNot() => _random.Next(12) switch
    {
        0 => [],
        1 => [Name(), "extra"],
        _ => [Name()],
    };

    private string[] Extra() => _random.Next(10) == 0 ? ["extra"] : [];

    private string Family() => _random.Next(12) switch
    {
        0 => Pick(["ip", "INET", "inet4", "ipv6"]),
        < 7 => "inet",
        _ => "inet6",
    };

    /// <summary>FAMILY PROTOCOL [STATE VALUE]..., sometimes with a bad state name or a missing last value.</summary>
    private string[] Policy(int statesAtLeast)
    {
        string protocol = Pick(s_protocols);
        var names = NfctStateNames.For(protocol switch
        {
            "TCP" or "tcp" => 6,
            "udp" => 17,
            "udplite" or "UDPLite" => 136,
            "icmp" or "ICMP" => 1,
            "icmpv6" or "ipv6-icmp" or "IPv6-ICMP" => 58,
            "sctp" => 132,
            "gre" => 47,
            "generic" => 255,
            "dccp" => 33,
            _ => -1,
        });
        var words = new List<string> { Family(), protocol };
        int states = statesAtLeast + _random.Next(4);
        for (int i = 0; i < states; i++)
        {
            words.Add(names.Length > 0 && _random.Next(8) != 0
                ? Cased(Pick(names.ToArray()))
                : Pick(["bogus", "heartbeat_sent", "timeout", "established", "TIMEOUT"]));
            words.Add(Pick(s_values));
        }
        if (states > 0 && _random.Next(10) == 0)
            words.RemoveAt(words.Count - 1);
        return [.. words];
    }

    private string Cased(string state) => _random.Next(3) switch
    {
        0 => state.ToLowerInvariant(),
        1 => state,
        _ => string.Concat(state.Select((c, i) => i % 2 == 0 ? char.ToLowerInvariant(c) : c)),
    };

    private NetlinkStep NextNetlink()
    {
        int roll = _random.Next(100);
        var policies = fastpath.Registry.Dump();
        switch (roll)
        {
            case < 45:
            {
                string name = Pick(s_netlinkNames);
                ushort l3 = Pick<ushort>([2, 2, 10, 10, 99]);
                byte l4 = Pick(s_l4);
                if (policies.Length > 0 && _random.Next(2) == 0)
                {
                    // Aimed at a policy that exists: a replace in place, or one that changes its kind.
                    var target = Pick(policies.ToArray());
                    name = target.Name;
                    l3 = _random.Next(4) == 0 ? Pick<ushort>([2, 10]) : target.L3Protocol;
                    l4 = _random.Next(4) == 0 ? Pick(s_l4) : target.Protocol.Number;
                }
                return new NetlinkStep("new", name, l3, l4, Pick(s_flags), Data());
            }
            case < 55:
                return new NetlinkStep("get", Pick(s_netlinkNames));
            case < 70:
                return new NetlinkStep("dump");
            case < 85:
                return new NetlinkStep("delete", _random.Next(4) == 0 ? null : Pick(s_netlinkNames));
            case < 93:
                return new NetlinkStep("default_set", null, Pick<ushort>([2, 10]), Pick(s_l4), null, Data());
            default:
                return new NetlinkStep("default_get", null, Pick<ushort>([2, 10, 99]), Pick(s_l4));
        }
    }

    /// <summary>CTA_TIMEOUT_DATA: absent, empty, or some attributes (numbers past the tracker's states included).</summary>
    private SortedDictionary<int, uint>? Data()
    {
        int roll = _random.Next(10);
        if (roll == 0)
            return null;
        var data = new SortedDictionary<int, uint>();
        if (roll == 1)
            return data;
        int count = 1 + _random.Next(4);
        for (int i = 0; i < count; i++)
            data[1 + _random.Next(12)] = Pick(s_netlinkValues);
        return data;
    }

    private AddRuleStep NextRule()
    {
        // Only names of at most 4 bytes: the kernel hands a CT target's --timeout back to iptables-legacy cut to 4
        // bytes, and iptables-legacy sends every rule of the table again with each change (see
        // KernelCutsTheTimeoutNamesOfRulesToFourBytes), so longer names would test that quirk, not cttimeout.
        var policies = fastpath.Registry.Dump().Where(p => System.Text.Encoding.UTF8.GetByteCount(p.Name) <= 4).ToArray();
        if (policies.Length > 0 && _random.Next(3) != 0)
        {
            var target = Pick(policies);
            bool ipv6 = target.L3Protocol switch { 2 => false, 10 => true, _ => _random.Next(2) == 0 };
            if (_random.Next(5) == 0)
                ipv6 = !ipv6;
            string? protocol = target.Protocol.Number switch
            {
                6 => "tcp",
                17 => "udp",
                136 => "udplite",
                1 => "icmp",
                58 => "icmpv6",
                132 => "sctp",
                47 => "gre",
                _ => Pick(["igmp", "dccp"]),
            };
            if (_random.Next(6) == 0)
                protocol = Pick<string?>([null, "tcp", "udp"]);
            return new AddRuleStep(ipv6, protocol, target.Name);
        }
        return new AddRuleStep(_random.Next(2) == 0, Pick<string?>([null, "tcp", "udp", "udplite", "icmp", "sctp", "gre", "igmp"]), Pick(["web", "dns", "ssh", "a", "", "nope"]));
    }

    private T Pick<T>(T[] choices) => choices[_random.Next(choices.Length)];
}
