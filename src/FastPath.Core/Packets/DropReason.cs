// SPDX-License-Identifier: MIT
namespace FastPath.Core.Packets;

/// <summary>
/// Why a frame was not forwarded. Every reason has a counter per worker and a test that feeds exactly
/// that defect. <see cref="None"/> means "keep going".
/// </summary>
public enum DropReason : byte
{
    None = 0,

    // Layer 2
    EthernetTruncated,          // fewer than 14 bytes
    VlanTruncated,              // an 802.1Q/802.1ad tag is cut short
    VlanTooManyTags,            // more than two stacked tags (QinQ is the deepest we parse)

    // IPv4
    Ipv4Truncated,              // fewer than 20 bytes after the L2 header
    Ipv4BadVersion,             // ethertype says IPv4, version nibble does not
    Ipv4BadHeaderLength,        // IHL below 5
    Ipv4HeaderExceedsFrame,     // IHL*4 runs past the frame
    Ipv4BadOptions,             // options ip_rcv_options refuses: bad lengths or pointers, a second RR or TS, CIPSO, a source route
    Ipv4BadChecksum,            // header checksum does not verify (the kernel drops these in ip_rcv)
    Ipv4TotalLengthBelowHeader, // total length shorter than the header itself
    Ipv4TotalLengthExceedsFrame,// total length claims more bytes than the frame holds
    Ipv4FragmentTooLarge,       // offset*8 + payload would end past 65535

    // IPv6
    Ipv6Truncated,              // fewer than 40 bytes after the L2 header
    Ipv6BadVersion,             // ethertype says IPv6, version nibble does not
    Ipv6BadAddress,             // a multicast source, loopback at either end, a multicast destination of scope 0 or 1
    Ipv6PayloadExceedsFrame,    // payload length claims more bytes than the frame holds
    Ipv6BadHopByHopOptions,     // hop-by-hop options the kernel's receive path refuses (ip6_parse_tlv)
    Ipv6ExtensionHeaderTruncated, // an extension header runs past the payload
    Ipv6FragmentTooLarge,       // offset*8 + fragment payload would end past 65535

    // Layer 4 (only checked where the L4 header is present: unfragmented or first fragment)
    TcpTruncated,               // fewer than 20 bytes of TCP header
    TcpBadDataOffset,           // data offset below 5 or past the segment
    UdpTruncated,               // fewer than 8 bytes of UDP header
    UdpBadLength,               // UDP length below 8 or past the datagram
    IcmpTruncated,              // fewer than 8 bytes of ICMP header
    Icmpv6Truncated,            // fewer than 8 bytes of ICMPv6 header

    // Dataplane
    MultiSegment,               // a chained mbuf: the parsers see one contiguous buffer only
    HandoffRingFull,            // the owning worker's inbound ring had no room
    TxQueueFull,                // the output queue refused the frame
    RuleDrop,                   // the ruleset's verdict was DROP
    ConntrackTableFull,         // a new connection found the table full with nothing to evict (nf_conntrack_max)
    ConntrackClash,             // a new TCP connection's tuple was confirmed by another packet first (insert_failed)

    // Reassembly before connection tracking (nf_defrag_ipv4, nf_defrag_ipv6)
    FragmentDuplicate,          // all its data is already held: dropped alone
    FragmentOverlap,            // overlaps data held without duplicating it: its whole datagram is discarded (RFC 5722)
    FragmentInconsistent,       // empty, or ends out of line with the datagram's last fragment (IPv4 discards the datagram)
    FragmentMisaligned,         // IPv6: the fragments held when one not last ends off an 8-byte boundary (that one goes on alone)
    FragmentTooFar,             // IPv4: held while more than 64 fragments came from its source (ipfrag_max_dist): the datagram starts again
    ReassemblyNoRoom,           // no reassembly queue or fragment record free, or a whole datagram with no buffer free (all its fragments)
    ReassemblyFailed,           // whole but unusable: longer than 65535 bytes, or ECN-capable and not-ECT fragments mixed
    ReassemblyTimeout,          // still incomplete 30 s (IPv4) or 60 s (IPv6) after its first fragment
    ReassemblyUnfinished,       // still incomplete when the dataplane stopped
}

public static class DropReasons
{
    public const int Count = (int)DropReason.ReassemblyUnfinished + 1;

    private static readonly string[] Names = BuildNames();

    /// <summary>The snake_case name used in counters, stats lines and the control protocol.</summary>
    public static string Name(DropReason reason) => Names[(int)reason];

    public static bool TryParse(string name, out DropReason reason)
    {
        int index = Array.IndexOf(Names, name);
        reason = index < 0 ? DropReason.None : (DropReason)index;
        return index >= 0;
    }

    private static string[] BuildNames()
    {
        var names = new string[Count];
        for (int i = 0; i < Count; i++)
        {
            string pascal = ((DropReason)i).ToString();
            var snake = new System.Text.StringBuilder(pascal.Length + 8);
            for (int c = 0; c < pascal.Length; c++)
            {
                char ch = pascal[c];
                if (c > 0 && char.IsUpper(ch))
                    snake.Append('_');
                snake.Append(char.ToLowerInvariant(ch));
            }
            names[i] = snake.ToString();
        }
        return names;
    }
}
