// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The TCP tracker's switches, the kernel's per-namespace sysctls of the same names (nf_conntrack_standalone.c), with
/// its defaults in <see cref="Kernel"/>. Immutable: management publishes a new one, each worker reads the current one
/// with its next packet.
/// </summary>
/// <param name="Loose">nf_conntrack_tcp_loose: a segment other than a SYN may open a connection (picked up mid-stream).</param>
/// <param name="BeLiberal">nf_conntrack_tcp_be_liberal: segments outside the window are accepted, as if both sides were liberal.</param>
/// <param name="IgnoreInvalidRst">nf_conntrack_tcp_ignore_invalid_rst: a RST below what the other side acknowledged is not INVALID for that.</param>
/// <param name="MaxRetransmissions">nf_conntrack_tcp_max_retrans: identical ACK segments before the RETRANS timeout applies.</param>
public sealed record TcpSettings(bool Loose, bool BeLiberal, bool IgnoreInvalidRst, byte MaxRetransmissions)
{
    public static readonly TcpSettings Kernel = new(Loose: true, BeLiberal: false, IgnoreInvalidRst: false, MaxRetransmissions: 3);
}
