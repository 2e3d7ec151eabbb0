// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Core.Tests.Conntrack;

/// <summary>The trackers, their states in attribute order and their defaults, as Linux 6.x has them.</summary>
public class TimeoutProtocolTests
{
    public static TheoryData<string, byte, string[], uint[]> Trackers => new()
    {
        {
            "tcp", 6,
            ["SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2", "RETRANS", "UNACKNOWLEDGED"],
            [120, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 300]
        },
        { "udp", 17, ["UNREPLIED", "REPLIED"], [30, 120] },
        { "udplite", 136, ["UNREPLIED", "REPLIED"], [30, 120] },
        { "icmp", 1, ["TIMEOUT"], [30] },
        { "icmpv6", 58, ["TIMEOUT"], [30] },
        {
            "sctp", 132,
            ["CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"],
            [10, 3, 3, 210, 3, 3, 3, 30, 0]
        },
        { "gre", 47, ["UNREPLIED", "REPLIED"], [30, 180] },
        { "generic", 255, ["TIMEOUT"], [600] },
    };

    [Theory]
    [MemberData(nameof(Trackers))]
    public void EveryTrackerHasTheKernelsStatesAndDefaults(string name, byte number, string[] states, uint[] defaults)
    {
        var protocol = TimeoutProtocols.Find(number);
        Assert.NotNull(protocol);
        Assert.Equal(name, protocol.Name);
        Assert.Equal(states, protocol.States);
        Assert.Equal(defaults, protocol.DefaultSeconds);
        Assert.Same(protocol, TimeoutProtocols.TrackerFor(number));
    }

    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)2)]
    [InlineData((byte)33)] // DCCP's tracker is gone since Linux 6.16
    [InlineData((byte)41)]
    public void OtherProtocolsHaveNoTrackerOfTheirOwn(byte number)
    {
        Assert.Null(TimeoutProtocols.Find(number));
        Assert.Same(TimeoutProtocols.Generic, TimeoutProtocols.TrackerFor(number));
    }

    [Fact]
    public void StateIndexesAreTheAttributeNumbersLessOne()
    {
        Assert.Equal(2, TimeoutProtocols.Tcp.StateIndex("ESTABLISHED"));
        Assert.Equal(10, TimeoutProtocols.Tcp.StateIndex("UNACKNOWLEDGED"));
        Assert.Equal(-1, TimeoutProtocols.Tcp.StateIndex("established"));
    }
}
