// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// Which `-m recent` option combinations the running kernel (with iptables' own checks in front of it)
/// accepts and which it refuses, against FastPath's rules parser: a rule FastPath loads must be one
/// iptables-legacy could install, and the other way round.
/// </summary>
public sealed class RecentCheckentryDifferentialTests
{
    private static readonly string LongName = new('n', 199);
    private static readonly string TooLongName = new('n', 200);

    public static TheoryData<bool, string> Cases => new()
    {
        { false, "--set" }, { false, "--rcheck" }, { false, "--update" }, { false, "--remove" },
        { false, "! --rcheck" }, { false, "! --set" },
        { false, "--set --rcheck" }, { false, "--update --remove" },
        { false, "--rcheck --seconds 10" }, { false, "--update --seconds 10 --hitcount 3" },
        { false, "--set --seconds 10" }, { false, "--remove --hitcount 2" }, { false, "--set --rttl" }, { false, "--remove --rttl" },
        { false, "--rcheck --rttl" }, { false, "--rcheck --hitcount 65535" }, { false, "--rcheck --hitcount 65536" },
        { false, "--rcheck --hitcount 0" }, { false, "--rcheck --seconds 0" },
        { false, "--rcheck --reap" }, { false, "--rcheck --seconds 5 --reap" }, { false, "--set --reap" },
        { false, "--update --seconds 4294967295" },
        { false, "--set --name ." }, { false, "--set --name .." }, { false, "--set --name a/b" },
        { false, $"--set --name {LongName}" }, { false, $"--set --name {TooLongName}" },
        { false, "--set --rsource" }, { false, "--set --rdest" }, { false, "--set --rsource --rdest" },
        { false, "--set --mask 255.255.255.0" }, { false, "--set --mask 255.0.255.0" }, { false, "--set --mask 1.2.3" },
        { false, "--set --mask 010.0.0.1" }, { false, "--set --mask 1.65536" }, { false, "--set --mask 4294967295" },
        { false, "--set --mask 4294967296" }, { false, "--set --mask 08.0.0.0" }, { false, "--set --mask 1..2" },
        { false, "--set --mask 0x100.0.0.0" }, { false, "--set --mask 0xff.0.0.0" }, { false, "--set --mask 1.2.3.4/8" },
        { false, "--seconds 10" }, { false, "--hitcount 2" }, { false, "--rcheck --seconds 10 --seconds 20" },
        { false, "--set --set" }, { false, "--rsource --rsource --set" }, { false, "--rcheck --rttl --rttl" },
        { false, "--rcheck --name X --name Y" }, { false, "--rcheck --seconds 5 --reap --reap" },
        { false, "--rcheck --seconds +3" }, { false, "--rcheck --hitcount +0x10" }, { false, "--rcheck --seconds +-3" },
        { false, "--rcheck --seconds -1" }, { false, "--rcheck --seconds 0x" }, { false, "--rcheck --seconds +" },
        { false, "--rcheck --seconds 0x10" }, { false, "--rcheck --seconds 010" }, { false, "--rcheck --hitcount 0x10000" },
        { true, "--set" }, { true, "--update --seconds 60 --hitcount 4 --rttl" },
        { true, "--set --mask ffff:ffff:ffff:ffff::" }, { true, "--set --mask 255.255.255.0" }, { true, "--set --mask ::ffff:1.2.3.4" },
        { true, "--set --mask ffff:: --mask ffff::" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FastPathLoadsExactlyTheRecentRulesTheKernelInstalls(bool ipv6, string options)
    {
        TestEnvironment.SkipIf(TestEnvironment.NamespacesUnavailable() ?? TestEnvironment.IptablesLegacyUnavailable());
        string[] words = options.Split(' ');
        bool kernelAccepts;
        using (var ns = new NetworkNamespace())
        {
            var (exit, output) = ns.Exec(ipv6 ? "ip6tables-legacy" : "iptables-legacy",
                ["-t", "raw", "-A", "PREROUTING", "-m", "recent", .. words, "-j", "ACCEPT"]);
            Assert.True(exit is 0 or 1 or 2, $"iptables failed to run: {output}");
            kernelAccepts = exit == 0;
        }

        string rules = $"*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m recent {options} -j ACCEPT\nCOMMIT\n";
        string? refusal = null;
        try
        {
            RulesetParser.Parse(rules, "case.rules", ipv6 ? L3Kind.IPv6 : L3Kind.IPv4);
        }
        catch (RulesetException e)
        {
            refusal = e.Message;
        }

        Assert.True(kernelAccepts == (refusal is null),
            kernelAccepts ? $"the kernel installs '-m recent {options}', FastPath refuses it: {refusal}" : $"the kernel refuses '-m recent {options}', FastPath loads it");
    }
}
