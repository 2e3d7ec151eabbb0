// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Recent;
using Xunit;

namespace FastPath.Core.Tests.Recent;

/// <summary>The kernel's checkentry for -m recent: which combinations are refused, and with which errno.</summary>
public class RecentOptionsTests
{
    public static TheoryData<RecentOptions, Errno> Cases => new()
    {
        { new RecentOptions { Command = RecentCommand.Set }, Errno.None },
        { new RecentOptions { Command = RecentCommand.Check, Seconds = 60, HitCount = 4, Ttl = true, Reap = true }, Errno.None },
        { new RecentOptions { Command = RecentCommand.Update, HitCount = 65535 }, Errno.None },
        { new RecentOptions { Command = RecentCommand.Update, HitCount = 65536 }, Errno.EINVAL },
        { new RecentOptions(), Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Set, Seconds = 1 }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Set, HitCount = 1 }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Remove, Ttl = true }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Check, Reap = true }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Check, Name = "" }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Check, Name = new string('n', 199) }, Errno.None },
        { new RecentOptions { Command = RecentCommand.Check, Name = new string('n', 200) }, Errno.ENAMETOOLONG },
        { new RecentOptions { Command = RecentCommand.Check, Name = "a/b" }, Errno.EINVAL },
        { new RecentOptions { Command = RecentCommand.Check, Name = ".." }, Errno.EINVAL },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValidateAnswersLikeTheKernel(RecentOptions options, Errno expected) =>
        Assert.Equal(expected, options.Validate()?.Errno ?? Errno.None);

    [Theory]
    [InlineData(0u, 32)]
    [InlineData(1u, 1)]
    [InlineData(20u, 32)]
    [InlineData(33u, 64)]
    [InlineData(65535u, 65536)]
    public void TheRingIsTheHitCountRoundedUpToAPowerOfTwoOr32(uint hitCount, int slots) =>
        Assert.Equal(slots, new RecentOptions { Command = RecentCommand.Check, HitCount = hitCount }.StampSlots);
}
