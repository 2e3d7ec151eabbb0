// SPDX-License-Identifier: MIT
using System.Numerics;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>
/// One -m limit rule's token bucket on one worker, in xt_limit's own units and 32-bit arithmetic: credits refill at
/// <see cref="CreditsPerJiffy"/> a jiffy up to the burst's worth, a packet that finds a packet's cost takes it. As
/// in the kernel the refill is computed in 32 bits: after 2^32 credits of silence (about 37 hours at HZ 250) it
/// wraps, and a full bucket may then read as nearly empty. The bucket starts full when its ruleset starts: at the
/// first packet that reaches it (the kernel's checkentry fills it when the rule is added).
/// </summary>
public struct RateLimit
{
    /// <summary>CREDITS_PER_JIFFY: the largest power of two that keeps a day of credits in 32 bits.</summary>
    public static readonly uint CreditsPerJiffy = BitOperations.RoundUpToPowerOf2(uint.MaxValue / (Jiffies.Hz * 60u * 60 * 24) + 1) >> 1;

    private uint _credit;
    private ulong _previous;
    private bool _started;

    /// <summary>user2credits: a time in 1/10000 s as credits, dividing first where multiplying would overflow.</summary>
    public static uint ToCredits(uint user) => user > uint.MaxValue / ((uint)Jiffies.Hz * CreditsPerJiffy)
        ? user / LimitMatch.Scale * (uint)Jiffies.Hz * CreditsPerJiffy
        : user * (uint)Jiffies.Hz * CreditsPerJiffy / LimitMatch.Scale;

    /// <summary>limit_mt_check: a burst of 0, or one whose credits overflow, is ERANGE.</summary>
    public static bool Accepts(LimitMatch limit) => limit.Burst != 0 && ToCredits(unchecked(limit.Average * limit.Burst)) >= ToCredits(limit.Average);

    /// <summary>limit_mt: whether a packet at <paramref name="now"/> jiffies finds its credit, which it then takes.</summary>
    public bool Take(uint cost, uint cap, ulong now)
    {
        if (!_started)
            (_credit, _previous, _started) = (cap, now, true);
        // The kernel's jiffies never go back; a capture's clock (or a packet handed over from another worker) may.
        ulong elapsed = now > _previous ? now - _previous : 0;
        _previous += elapsed;
        uint increase = unchecked((uint)(elapsed * CreditsPerJiffy));
        uint credit = unchecked(_credit + increase);
        if (credit > cap)
            credit = cap;
        bool taken = credit >= cost;
        _credit = taken ? credit - cost : credit;
        return taken;
    }
}
