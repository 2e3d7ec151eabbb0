// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Core.Tests.Conntrack;

/// <summary>nfct's output and exit status, byte for byte as nfct 1.4.7 prints them on Linux 6.x.</summary>
public class NfctToolTests
{
    private readonly NfctTool _tool = new(new TimeoutPolicyRegistry(), "nfct", NfctCommandTests.Protocols);

    private NfctResult Run(params string[] arguments) => _tool.Run(arguments);

    private const string TestTcp = """
        .test-tcp = {
        	.l3proto = 2,
        	.l4proto = 6,
        	.policy = {
        		.SYN_SENT = 120,
        		.SYN_RECV = 60,
        		.ESTABLISHED = 100,
        		.FIN_WAIT = 120,
        		.CLOSE_WAIT = 10,
        		.LAST_ACK = 30,
        		.TIME_WAIT = 120,
        		.CLOSE = 10,
        		.SYN_SENT2 = 120,
        		.RETRANS = 300,
        		.UNACKNOWLEDGED = 300,
        	},
        };

        """;

    [Fact]
    public void TheManPageExamplePrintsLikeNfct()
    {
        Assert.Equal(NfctResult.Success(), Run("add", "timeout", "test-tcp", "inet", "tcp", "established", "100", "close", "10", "close_wait", "10"));
        Assert.Equal(NfctResult.Success(TestTcp), Run("get", "timeout", "test-tcp"));
        Assert.Equal(NfctResult.Success(TestTcp), Run("list", "timeout"));
        Assert.Equal(NfctResult.Success(TestTcp), Run("timeout", "list"));
        Assert.Equal(NfctResult.Success(), Run("delete", "timeout", "test-tcp"));
        Assert.Equal(NfctResult.Success(), Run("list", "timeout"));
    }

    [Fact]
    public void ListPrintsEveryPolicyInCreationOrder()
    {
        Run("add", "timeout", "u", "inet6", "udp", "replied", "5");
        Run("add", "timeout", "g", "inet", "generic", "timeout", "4294967295");
        Run("add", "timeout", "", "inet", "icmpv6", "timeout", "1");
        Assert.Equal(NfctResult.Success("""
            .u = {
            	.l3proto = 10,
            	.l4proto = 17,
            	.policy = {
            		.UNREPLIED = 30,
            		.REPLIED = 5,
            	},
            };
            .g = {
            	.l3proto = 2,
            	.l4proto = 255,
            	.policy = {
            		.TIMEOUT = 17179868,
            	},
            };
            . = {
            	.l3proto = 2,
            	.l4proto = 58,
            	.policy = {
            		.TIMEOUT = 1,
            	},
            };

            """), Run("list", "timeout"));
    }

    [Fact]
    public void SctpShowsOnlyTheStatesNfctKnows() =>
        Assert.Equal(NfctResult.Success("""
            	.l3proto = 2,
            	.l4proto = 132,
            	.policy = {
            		.CLOSED = 10,
            		.COOKIE_WAIT = 3,
            		.COOKIE_ECHOED = 3,
            		.ESTABLISHED = 210,
            		.SHUTDOWN_SENT = 3,
            		.SHUTDOWN_RECD = 3,
            		.SHUTDOWN_ACK_SENT = 3,
            	},
            };

            """), Run("default-get", "timeout", "inet", "sctp"));

    [Fact]
    public void DefaultSetPrintsNothingAndDefaultGetEchoesTheFamily()
    {
        Assert.Equal(NfctResult.Success(), Run("default-set", "timeout", "inet", "udp", "unreplied", "44"));
        Assert.Equal(NfctResult.Success("""
            	.l3proto = 10,
            	.l4proto = 136,
            	.policy = {
            		.UNREPLIED = 44,
            		.REPLIED = 120,
            	},
            };

            """), Run("default-get", "timeout", "inet6", "udplite"));
        Assert.Equal(NfctResult.Success("""
            	.l3proto = 2,
            	.l4proto = 6,
            	.policy = {
            		.SYN_SENT = 120,
            		.SYN_RECV = 60,
            		.ESTABLISHED = 432000,
            		.FIN_WAIT = 120,
            		.CLOSE_WAIT = 60,
            		.LAST_ACK = 30,
            		.TIME_WAIT = 120,
            		.CLOSE = 10,
            		.SYN_SENT2 = 120,
            		.RETRANS = 300,
            		.UNACKNOWLEDGED = 300,
            	},
            };

            """), Run("default-get", "timeout", "inet", "mptcp"));
    }

    public static TheoryData<string[], string> KernelErrors => new()
    {
        { ["add", "timeout", "web", "inet", "tcp"], "Invalid argument" }, // no state: no CTA_TIMEOUT_DATA
        { ["add", "timeout", "web", "inet", "dccp", "request", "5"], "Operation not supported" },
        { ["add", "timeout", "web", "inet", "igmp"], "Invalid argument" },
        { ["get", "timeout", "nosuch"], "No such file or directory" },
        { ["delete", "timeout", "nosuch"], "No such file or directory" },
        { ["default-set", "timeout", "inet", "dccp", "open", "5"], "Operation not supported" },
        { ["default-get", "timeout", "inet", "igmp"], "Operation not supported" },
        { ["default-get", "timeout", "inet6", "ip"], "Operation not supported" },
    };

    [Theory]
    [MemberData(nameof(KernelErrors))]
    public void KernelErrorsAreNetlinkErrorsWithExitStatus1(string[] arguments, string message) =>
        Assert.Equal(NfctResult.Failure($"nfct v1.4.7: netlink error: {message}\n"), Run(arguments));

    [Fact]
    public void AddingATakenNameIsBusyAndATakenPolicyCannotBeDeleted()
    {
        var registry = new TimeoutPolicyRegistry();
        var tool = new NfctTool(registry, "nfct", NfctCommandTests.Protocols);
        Assert.Equal(0, tool.Run(["add", "timeout", "web", "inet", "tcp", "close", "1"]).ExitStatus);
        Assert.Equal(NfctResult.Failure("nfct v1.4.7: netlink error: Device or resource busy\n"), tool.Run(["add", "timeout", "web", "inet", "tcp", "close", "2"]));
        registry.AcquireForRule("web", 2, 6, out var rule);
        Assert.Equal(NfctResult.Failure("nfct v1.4.7: netlink error: Device or resource busy\n"), tool.Run(["delete", "timeout", "web"]));
        Assert.Equal(NfctResult.Success(), tool.Run(["flush", "timeout"]));
        Assert.Single(registry.Dump());
        registry.Release(rule!);
        Assert.Equal(NfctResult.Success(), tool.Run(["flush", "timeout"]));
        Assert.Empty(registry.Dump());
    }

    [Fact]
    public void ALongNameIsCutSoItsPolicyIsFoundByEitherName()
    {
        Run("add", "timeout", "abcdefghijklmnopqrstuvwxyz0123456789", "inet", "tcp", "close", "1");
        Assert.StartsWith(".abcdefghijklmnopqrstuvwxyz01234 = {\n", Run("get", "timeout", "abcdefghijklmnopqrstuvwxyz01234").Output);
        Assert.Equal(NfctResult.Success(), Run("delete", "timeout", "abcdefghijklmnopqrstuvwxyz01234-other-tail"));
    }

    [Fact]
    public void RefusalsEndWithExitStatus1AndNothingOnStdout()
    {
        Assert.Equal(NfctResult.Failure("Usage: nfct command subsystem [parameters]...\n"), Run());
        Assert.Equal(NfctResult.Failure("nfct v1.4.7: Wrong state name: `bogus' for protocol `tcp'\n"), Run("add", "timeout", "w", "inet", "tcp", "bogus", "1"));
    }

    [Fact]
    public void VersionPrintsTheDisclaimer() =>
        Assert.Equal(NfctResult.Success("""
            nfct v1.4.7: utility for the Netfilter's Connection Tracking System
            Copyright (C) 2012 Pablo Neira Ayuso <pablo@netfilter.org>
            This program comes with ABSOLUTELY NO WARRANTY.
            This is free software, and you are welcome to redistribute it under certain 
            conditions; see LICENSE file distributed in this package for details.

            """), Run("list", "version"));
}
