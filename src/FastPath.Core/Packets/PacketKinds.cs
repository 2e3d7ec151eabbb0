// SPDX-License-Identifier: MIT
namespace FastPath.Core.Packets;

/// <summary>The network layer protocol of a frame.</summary>
public enum L3Kind : byte
{
    /// <summary>Not IP (ARP, LLC, anything else): not inspected, forwarded.</summary>
    None = 0,
    IPv4,
    IPv6,
}

/// <summary>The transport layer header the parser found.</summary>
public enum L4Kind : byte
{
    /// <summary>No L4 header to look at: a non-IP frame or a non-first fragment.</summary>
    None = 0,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,

    /// <summary>Any other protocol number, including ESP, GRE, SCTP and IPv6 "no next header".</summary>
    Generic,
}

/// <summary>Where a packet sits in a fragmented datagram.</summary>
public enum FragmentKind : byte
{
    None = 0,

    /// <summary>Offset 0 with more fragments to follow: carries the L4 header.</summary>
    First,

    /// <summary>Offset above 0: carries no L4 header.</summary>
    NonFirst,
}
