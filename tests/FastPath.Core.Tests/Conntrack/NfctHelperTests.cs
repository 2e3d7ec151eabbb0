// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Core.Tests.Conntrack;

/// <summary>
/// nfct 1.4.7's helper subsystem over a kernel without nfnetlink_cthelper, which is what FastPath is: nfct's own
/// parsing and refusals, and `netlink error: Invalid argument` for every line that reaches the kernel.
/// </summary>
public class NfctHelperTests
{
    private static NfctResult Run(params string[] arguments) =>
        new NfctTool(new TimeoutPolicyRegistry(), "nfct", NfctCommandTests.Protocols).Run(arguments);

    // Each expected text is what nfct 1.4.7 printed on stderr, with exit status 1 and nothing on stdout, run by
    // root in a fresh network namespace of Linux 6.18 (Debian 12's conntrackd package, its helpers installed).
    public static TheoryData<string[], string> Lines => new()
    {
        { ["helper", "list"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["list", "helper"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["l", "h"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["", "helper"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "list", "extra"], "nfct v1.4.7: too many arguments\n" },
        { ["flush", "helper"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "flush", "x"], "nfct v1.4.7: too many arguments\n" },
        { ["helper", "get"], "nfct v1.4.7: missing helper policy name\n" },
        { ["helper", "delete"], "nfct v1.4.7: missing helper policy name\n" },
        { ["get", "helper", "ftp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["get", "helper", "ftp", "inet"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["delete", "helper", "ftp", "inet6", "udp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["get", "helper", "anything", "inet6", "udp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["get", "helper", "ftp", "x"], "nfct v1.4.7: unknown layer 3 protocol\n" },
        { ["delete", "helper", "ftp", "inet", "foo"], "nfct v1.4.7: unsupported layer 4 protocol\n" },
        { ["get", "helper", "ftp", "inet", "TCP"], "nfct v1.4.7: unsupported layer 4 protocol\n" },
        { ["get", "helper", "ftp", "inet", "tcp", "extra"], "nfct v1.4.7: too many arguments\n" },
        { ["helper", "add"], "nfct v1.4.7: missing parameters\nsyntax: nfct add helper name family protocol\n" },
        { ["helper", "add", "ftp"], "nfct v1.4.7: missing parameters\nsyntax: nfct add helper name family protocol\n" },
        { ["helper", "add", "ftp", "inet"], "nfct v1.4.7: missing parameters\nsyntax: nfct add helper name family protocol\n" },
        { ["add", "helper", "ftp", "inet", "tcp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["a", "he", "ftp", "inet6", "tcp", "extra", "more"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "add", "ftp", "inet", "foo"], "nfct v1.4.7: unsupported layer 4 protocol\n" },
        { ["helper", "add", "ftp", "inet", "TCP"], "nfct v1.4.7: unsupported layer 4 protocol\n" },
        { ["helper", "add", "ftp", "inet", "icmp"], "nfct v1.4.7: unsupported layer 4 protocol\n" },
        { ["helper", "add", "ftp", "bad", "tcp"], "nfct v1.4.7: unknown layer 3 protocol\n" },
        { ["helper", "add", "foo", "bad", "foo"], "nfct v1.4.7: unknown layer 3 protocol\n" },
        { ["helper", "add", "ftp", "INET", "tcp"], "nfct v1.4.7: unknown layer 3 protocol\n" },
        { ["helper", "add", "ftp", "inet6", "udp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "add", "foo", "inet", "tcp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "add", "FTP", "inet", "tcp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "add", "x/y", "inet", "tcp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "add", "rpc", "inet", "udp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "add", "rpc", "inet6", "tcp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "add", "ssdp", "inet", "tcp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "add", "tns", "inet", "udp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "add", "tftp", "inet", "udp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "disable"], "nfct v1.4.7: missing parameters\nsyntax: nfct disable helper name family protocol\n" },
        { ["disable", "helper", "ftp"], "nfct v1.4.7: missing parameters\nsyntax: nfct disable helper name family protocol\n" },
        { ["helper", "disable", "ftp", "inet"], "nfct v1.4.7: missing parameters\nsyntax: nfct disable helper name family protocol\n" },
        { ["helper", "disable", "ftp", "inet", "tcp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["di", "h", "tftp", "inet", "tcp"], "nfct v1.4.7: that helper is not supported\n" },
        { ["helper", "disable", "amanda", "inet", "udp"], "nfct v1.4.7: netlink error: Invalid argument\n" },
        { ["helper", "default-set"], "nfct v1.4.7: Unknown command: default-set\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["default-set", "helper"], "nfct v1.4.7: Unknown command: helper\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["helper", "def"], "nfct v1.4.7: Unknown command: def\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["def", "h", "inet", "tcp"], "nfct v1.4.7: Unknown command: h\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["helper", "default-get", "x", "y"], "nfct v1.4.7: Unknown command: default-get\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["default-get", "helper", "inet", "tcp"], "nfct v1.4.7: Unknown command: helper\nnfct v1.4.7: Missing command\nnfct helper list|add|delete|disable|get|flush [parameters...]\n" },
        { ["help", "add"], "nfct v1.4.7: missing parameters\nsyntax: nfct add helper name family protocol\n" },
        { ["add", "help"], "nfct v1.4.7: missing parameters\nsyntax: nfct add helper name family protocol\n" },
        { ["helper", "x"], "nfct v1.4.7: Unknown command: helper\nUsage: nfct command subsystem [parameters]...\n" },
        { ["x", "helper"], "nfct v1.4.7: Unknown subsystem: x\nUsage: nfct command subsystem [parameters]...\n" },
        { ["helpers", "list"], "nfct v1.4.7: Unknown subsystem: helpers\nUsage: nfct command subsystem [parameters]...\n" },
        { ["list", "helpers"], "nfct v1.4.7: Unknown subsystem: list\nUsage: nfct command subsystem [parameters]...\n" },
        { ["helper", "version"], "nfct v1.4.7: Unknown command: helper\nUsage: nfct command subsystem [parameters]...\n" },
        { ["version", "helper"], "nfct v1.4.7: Unknown command: version\nUsage: nfct command subsystem [parameters]...\n" },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void EveryLineFailsAsNfctDoesWithoutCthelper(string[] arguments, string error) =>
        Assert.Equal(NfctResult.Failure(error), Run(arguments));

    [Theory]
    [InlineData("amanda", "udp")]
    [InlineData("dhcpv6", "udp")]
    [InlineData("ftp", "tcp")]
    [InlineData("mdns", "udp")]
    [InlineData("rpc", "tcp")]
    [InlineData("rpc", "udp")]
    [InlineData("sane", "tcp")]
    [InlineData("slp", "udp")]
    [InlineData("ssdp", "tcp")]
    [InlineData("ssdp", "udp")]
    [InlineData("tftp", "udp")]
    [InlineData("tns", "tcp")]
    public void AddAndDisableReachTheKernelOnlyForNfctsOwnHelpers(string name, string protocol)
    {
        string other = protocol == "tcp" ? "udp" : "tcp";
        bool both = name is "rpc" or "ssdp";
        foreach (string command in new[] { "add", "disable" })
        {
            Assert.IsType<NfctHelperRequest>(NfctCommand.Parse([command, "helper", name, "inet6", protocol]));
            Assert.Equal(both, NfctCommand.Parse([command, "helper", name, "inet", other]) is NfctHelperRequest);
        }
    }

    [Fact]
    public void RequestsCarryWhatNfctWouldSend()
    {
        Assert.Equal(new NfctHelperRequest("list"), NfctCommand.Parse(["helper", "l"]));
        Assert.Equal(new NfctHelperRequest("flush"), NfctCommand.Parse(["f", "helper"]));
        Assert.Equal(new NfctHelperRequest("get", "ftp"), NfctCommand.Parse(["get", "helper", "ftp"]));
        Assert.Equal(new NfctHelperRequest("delete", "x", 10), NfctCommand.Parse(["d", "helper", "x", "inet6"]));
        Assert.Equal(new NfctHelperRequest("get", "x", 2, 17), NfctCommand.Parse(["helper", "get", "x", "inet", "udp"]));
        Assert.Equal(new NfctHelperRequest("add", "ftp", 2, 6), NfctCommand.Parse(["add", "helper", "ftp", "inet", "tcp", "ignored"]));
        Assert.Equal(new NfctHelperRequest("disable", "tftp", 10, 17), NfctCommand.Parse(["helper", "disable", "tftp", "inet6", "udp"]));
    }

    [Fact]
    public void TheHelperUsageLineNamesTheProgram() =>
        Assert.Equal("nfct v1.4.7: Unknown command: default-set\nnfct v1.4.7: Missing command\n/usr/sbin/nfct helper list|add|delete|disable|get|flush [parameters...]\n",
            Assert.IsType<NfctRefused>(NfctCommand.Parse(["helper", "default-set"], "/usr/sbin/nfct")).Error);
}
