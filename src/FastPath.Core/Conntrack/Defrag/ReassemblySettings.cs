// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Conntrack.Defrag;

/// <summary>
/// The reassembly sysctls, shared by every worker's <see cref="Defragmenter"/>: net.ipv4.ipfrag_* (nf_defrag_ipv4
/// reassembles with ip_defrag, so IPv4's own settings apply) and net.netfilter.nf_conntrack_frag6_*. Written by the
/// thread that owns the control (management, or the start-up), read by the workers when they open a reassembly queue.
/// </summary>
public sealed class ReassemblySettings
{
    private int _ipv4TimeoutJiffies = 30 * Jiffies.Hz;
    private ulong _ipv4LowThreshold = 3 * 1024 * 1024;
    private ulong _ipv4HighThreshold = 4 * 1024 * 1024;
    private int _ipv4MaxDistance = 64;
    private int _ipv6TimeoutJiffies = 60 * Jiffies.Hz;
    private ulong _ipv6LowThreshold = 3 * 1024 * 1024;
    private ulong _ipv6HighThreshold = 4 * 1024 * 1024;

    /// <summary>ipfrag_time in jiffies (IP_FRAG_TIME, 30 s): an IPv4 datagram's time from its first fragment (or its restart); negative expires at once.</summary>
    public int Ipv4TimeoutJiffies
    {
        get => Volatile.Read(ref _ipv4TimeoutJiffies);
        set => Volatile.Write(ref _ipv4TimeoutJiffies, value);
    }

    /// <summary>ipfrag_low_thresh (bytes, 3 MiB). Kept and read back: FastPath's limit is its count of queues.</summary>
    public ulong Ipv4LowThreshold
    {
        get => Volatile.Read(ref _ipv4LowThreshold);
        set => Volatile.Write(ref _ipv4LowThreshold, value);
    }

    /// <summary>ipfrag_high_thresh (bytes, 4 MiB). Kept and read back, as <see cref="Ipv4LowThreshold"/>.</summary>
    public ulong Ipv4HighThreshold
    {
        get => Volatile.Read(ref _ipv4HighThreshold);
        set => Volatile.Write(ref _ipv4HighThreshold, value);
    }

    /// <summary>
    /// ipfrag_max_dist (64): a datagram starts again when more fragments than this came from its source since its last
    /// one. 0 turns the check off; a datagram begun while it was 0 is never checked (the kernel gives it no peer).
    /// </summary>
    public int Ipv4MaxDistance
    {
        get => Volatile.Read(ref _ipv4MaxDistance);
        set => Volatile.Write(ref _ipv4MaxDistance, value);
    }

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

    /// <summary>A queue's lifetime in nanoseconds for a datagram of <paramref name="family"/> (negative when the sysctl is).</summary>
    public long TimeoutNanoseconds(L3Kind family) =>
        (long)(family == L3Kind.IPv4 ? Ipv4TimeoutJiffies : Ipv6TimeoutJiffies) * (1_000_000_000 / Jiffies.Hz);
}
