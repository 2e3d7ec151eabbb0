// SPDX-License-Identifier: MIT
namespace FastPath.Core.Recent;

/// <summary>
/// The kernel's tick count, which xt_recent stores and prints. FastPath ticks at <see cref="Hz"/> = 250
/// (the HZ of Debian's kernels) and derives jiffies from the dataplane clock: capture timestamps offline,
/// the TSC live. jiffies = nanoseconds / 4,000,000; comparisons use the kernel's wrap-safe time_after.
/// </summary>
public static class Jiffies
{
    public const int Hz = 250;
    public const long NanosecondsPerJiffy = 1_000_000_000 / Hz;

    public static ulong FromNanoseconds(long nanoseconds) => (ulong)(nanoseconds / NanosecondsPerJiffy);

    /// <summary>The kernel's time_after(a, b): true when a is later than b, correct across wraparound.</summary>
    public static bool After(ulong a, ulong b) => (long)(b - a) < 0;
}
