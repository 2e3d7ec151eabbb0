// SPDX-License-Identifier: MIT
using FastPath.Core.Recent;

namespace FastPath.Core.Conntrack.Defrag;

/// <summary>
/// The nf_conntrack_frag6_* sysctls, shared by every worker's <see cref="Defragmenter"/>: written by the thread that
/// owns the control (management, or the start-up), read by the workers when they open a reassembly queue.
/// </summary>
public sealed class ReassemblySettings
{
    private int _ipv6TimeoutJiffies = 60 * Jiffies.Hz;
    private ulong _ipv6LowThreshold = 3 * 1024 * 1024;
    private ulong _ipv6HighThreshold = 4 * 1024 * 1024;

    /// <summary>nf_conntrack_frag6_timeout in jiffies (IPV6_FRAG_TIMEOUT, 60 s): an IPv6 datagram's time from its first fragment; negative expires at once.</summary>
    public int Ipv6TimeoutJiffies
    {
        get => Volatile.Read(ref _ipv6TimeoutJiffies);
        set => Volatile.Write(ref _ipv6TimeoutJiffies, value);
    }

    /// <summary>nf_conntrack_frag6_low_thresh (bytes, 3 MiB). Kept and read back: FastPath's limit is its count of queues.</summary>
    public ulong Ipv6LowThreshold
    {
        get => Volatile.Read(ref _ipv6LowThreshold);
        set => Volatile.Write(ref _ipv6LowThreshold, value);
    }

    /// <summary>nf_conntrack_frag6_high_thresh (bytes, 4 MiB). Kept and read back, as <see cref="Ipv6LowThreshold"/>.</summary>
    public ulong Ipv6HighThreshold
    {
        get => Volatile.Read(ref _ipv6HighThreshold);
        set => Volatile.Write(ref _ipv6HighThreshold, value);
    }

    /// <summary>An IPv6 queue's lifetime in nanoseconds (negative when the sysctl is).</summary>
    public long Ipv6TimeoutNanoseconds => (long)Ipv6TimeoutJiffies * (1_000_000_000 / Jiffies.Hz);
}
