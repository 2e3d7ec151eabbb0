// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Core.Tests;

public class DropReasonNameTests
{
    [Theory]
    [InlineData(DropReason.Ipv4BadVersion, "ipv4_bad_version")]
    [InlineData(DropReason.Icmpv6Truncated, "icmpv6_truncated")]
    [InlineData(DropReason.TxQueueFull, "tx_queue_full")]
    public void NamesAreSnakeCase(DropReason reason, string expected)
    {
        Assert.Equal(expected, DropReasons.Name(reason));
        Assert.True(DropReasons.TryParse(expected, out var parsed));
        Assert.Equal(reason, parsed);
    }
}
