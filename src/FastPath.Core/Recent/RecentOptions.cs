// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>The operation of one `-m recent` match (exactly one per match).</summary>
public enum RecentCommand : byte
{
    None,
    Set,     // --set
    Check,   // --rcheck
    Update,  // --update
    Remove,  // --remove
}

/// <summary>Which address of the packet is looked up.</summary>
public enum RecentSide : byte
{
    Source, // --rsource (default)
    Destination, // --rdest
}

/// <summary>
/// One `-m recent` match as iptables hands it to the kernel (struct xt_recent_mtinfo_v1): immutable, shared
/// by every worker. <see cref="Validate"/> is the kernel's checkentry.
/// </summary>
public sealed record RecentOptions
{
    /// <summary>The name of the longest table: the kernel's XT_RECENT_NAME_LEN is 200 bytes with the NUL.</summary>
    public const int MaxNameLength = 199;

    /// <summary>Since Linux 6.x hitcount may be up to 65535 (XT_RECENT_MAX_NSTAMPS = 65536).</summary>
    public const uint MaxHitCount = 65535;

    public string Name { get; init; } = "DEFAULT";
    public RecentCommand Command { get; init; }
    public uint Seconds { get; init; }
    public uint HitCount { get; init; }
    public bool Ttl { get; init; }     // --rttl
    public bool Reap { get; init; }    // --reap
    public RecentSide Side { get; init; }
    public bool Invert { get; init; }  // ! before --set/--rcheck/--update/--remove

    /// <summary>--mask; all ones (the default) keeps the whole address. Applies per table (see docs).</summary>
    public InetAddress Mask { get; init; } = InetAddress.AllOnes;

    /// <summary>
    /// The kernel's recent_mt_check (and xt_check_proc_name for the name): null when the match is
    /// acceptable, otherwise the errno the kernel answers and why.
    /// </summary>
    public RecentCheckError? Validate()
    {
        if (Command == RecentCommand.None)
            return new(Errno.EINVAL, "exactly one of --set, --rcheck, --update or --remove is needed");
        if (Command is RecentCommand.Set or RecentCommand.Remove && (Seconds != 0 || HitCount != 0 || Ttl || Reap))
            return new(Errno.EINVAL, "--seconds, --hitcount, --rttl and --reap only go with --rcheck or --update");
        if (Reap && Seconds == 0)
            return new(Errno.EINVAL, "--reap needs --seconds");
        if (HitCount > MaxHitCount)
            return new(Errno.EINVAL, $"hitcount ({HitCount}) is larger than allowed maximum ({MaxHitCount})");
        if (Name.Length == 0)
            return new(Errno.EINVAL, "--name cannot be empty");
        if (System.Text.Encoding.UTF8.GetByteCount(Name) > MaxNameLength)
            return new(Errno.ENAMETOOLONG, $"--name is longer than {MaxNameLength} bytes");
        if (Name.Contains('/') || Name is "." or "..")
            return new(Errno.EINVAL, $"--name '{Name}' cannot be a file name in /proc/net/xt_recent");
        return null;
    }

    /// <summary>
    /// How many timestamps an entry of a table needs for this match (the kernel's nstamps_max_mask + 1,
    /// with ip_pkt_list_tot = 0 as on current kernels): the hit count rounded up to a power of two, else 32.
    /// </summary>
    public int StampSlots => HitCount == 0 ? 32 : (int)System.Numerics.BitOperations.RoundUpToPowerOf2(HitCount);
}

/// <summary>Why the kernel would refuse a recent match, with the errno it returns.</summary>
public sealed record RecentCheckError(Errno Errno, string Message);
