// SPDX-License-Identifier: MIT
using System.Runtime.CompilerServices;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// One direction's tuple of a connection (the kernel's nf_conntrack_tuple): family, L4 protocol, addresses and
/// the two L4 identifiers. For TCP, UDP, UDP-Lite, SCTP and DCCP those are the ports; for ICMP and ICMPv6 queries
/// <see cref="SourcePort"/> is the identifier and <see cref="DestinationPort"/> the request's type (8 echo, 13
/// timestamp, 15 info, 17 address mask; 128 echo, 139 node information) in the high byte and the code in the low
/// byte (<see cref="IcmpQuery"/>), so that a request and its reply carry the same value, as the kernel's inverted
/// tuple does; for GRE <see cref="DestinationPort"/> is the call ID of an enhanced (version 1) header and
/// <see cref="SourcePort"/> is 0 (the kernel's keys, without the PPTP helper's keymap); for the generic tracker both are 0.
/// </summary>
public readonly record struct ConnectionKey(
    L3Kind Family, byte Protocol, InetAddress Source, InetAddress Destination, ushort SourcePort, ushort DestinationPort)
{
    /// <summary>The tuple a packet of the other direction carries (nf_ct_invert_tuple).</summary>
    public ConnectionKey Reverse() => IsIcmp(Protocol, Family)
        ? this with { Source = Destination, Destination = Source }
        : this with { Source = Destination, Destination = Source, SourcePort = DestinationPort, DestinationPort = SourcePort };

    /// <summary>The same value for a tuple and its reverse, so both directions find one hash bucket.</summary>
    public uint SymmetricHash()
    {
        // ICMP identifiers do not swap with the addresses, so they are hashed beside the endpoints, not in them.
        bool icmp = IsIcmp(Protocol, Family);
        ulong a = FlowHash.Mix(Source.Upper ^ Secret0, Source.Lower ^ (icmp ? 0u : SourcePort));
        ulong b = FlowHash.Mix(Destination.Upper ^ Secret0, Destination.Lower ^ (icmp ? 0u : DestinationPort));
        ulong rest = ((ulong)Protocol << 8) | (byte)Family;
        if (icmp)
            rest |= ((ulong)SourcePort << 32) | ((ulong)DestinationPort << 16);

        // Sum and xor are both blind to the order of the two endpoints.
        ulong h = FlowHash.Mix((a + b) ^ Secret1, a ^ b ^ rest ^ Secret2);
        return (uint)(h ^ (h >> 32));
    }

    // Arbitrary odd constants (wyhash's secrets), fixed so a hash is the same in every process.
    private const ulong Secret0 = 0xA076_1D64_78BD_642FUL;
    private const ulong Secret1 = 0xE703_7ED1_A0B4_28DBUL;
    private const ulong Secret2 = 0x8EBC_6AF0_9C88_C6E3UL;

    /// <summary>The <see cref="DestinationPort"/> of an ICMP query tuple: the request's type, then the code.</summary>
    public static ushort IcmpQuery(byte requestType, byte code) => (ushort)((requestType << 8) | code);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsIcmp(byte protocol, L3Kind family)
        => (protocol == 1 && family == L3Kind.IPv4) || (protocol == 58 && family == L3Kind.IPv6);
}
