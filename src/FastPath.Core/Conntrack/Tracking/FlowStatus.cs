// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>The status bits of a connection that the trackers read and write (a subset of the kernel's IPS_*).</summary>
[Flags]
public enum FlowStatus : byte
{
    None = 0,

    /// <summary>IPS_SEEN_REPLY: a packet of the reply direction has been accepted.</summary>
    SeenReply = 1,

    /// <summary>IPS_ASSURED: never evicted by early drop.</summary>
    Assured = 2,

    /// <summary>
    /// Created while nf_conntrack_timestamp was 1: the kernel gives such a connection its tstamp extension, and
    /// listings show how long ago it started (delta-time); no tracker reads it.
    /// </summary>
    Timestamped = 4,

    /// <summary>
    /// Created while nf_conntrack_acct was 1: the kernel gives such a connection its accounting extension, and
    /// listings show its counters from then on, whatever nf_conntrack_acct says later; no tracker reads it.
    /// </summary>
    Accounted = 8,
}

/// <summary>A tracker's answer: the verdict and, when <see cref="Refreshes"/>, the new timeout in jiffies.</summary>
public readonly record struct TrackOutcome
{
    // One 64-bit word, returned in a register (see TrackResult): the timeout, then the verdict, then whether it refreshes.
    private readonly ulong _packed;

    public TrackOutcome(TrackVerdict verdict, uint timeoutJiffies, bool refreshes)
        => _packed = timeoutJiffies | ((ulong)verdict << 32) | (refreshes ? 1UL << 40 : 0);

    public TrackVerdict Verdict => (TrackVerdict)(byte)(_packed >> 32);
    public uint TimeoutJiffies => (uint)_packed;
    public bool Refreshes => (_packed & (1UL << 40)) != 0;

    public static TrackOutcome Invalid => new(TrackVerdict.Invalid, 0, false);
    public static TrackOutcome Ignore => new(TrackVerdict.Ignore, 0, false);
    public static TrackOutcome Reopen => new(TrackVerdict.Reopen, 0, false);
    public static TrackOutcome Refresh(uint timeout) => new(TrackVerdict.Accept, timeout, true);
}
