// SPDX-License-Identifier: MIT
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's generic tracker (nf_conntrack_proto_generic.c) for every protocol without one of its own: one
/// state, one timeout (600 s by default), refreshed by every packet; a generic flow is never ASSURED.
/// </summary>
public static class GenericTracker
{
    public static TrackOutcome Packet(TimeoutPolicySnapshot timeouts, int policyId)
        => TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, TimeoutProtocols.Generic, 0));
}
