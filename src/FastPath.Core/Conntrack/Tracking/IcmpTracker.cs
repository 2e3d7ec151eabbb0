// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The kernel's ICMP and ICMPv6 trackers (nf_conntrack_proto_icmp.c, nf_conntrack_proto_icmpv6.c, Linux 6.x).
/// Only a query creates a connection (echo, timestamp, information and address-mask requests; ICMPv6 echo and
/// node information queries); its reply belongs to it through the identifier. Errors are RELATED to the
/// connection of the packet they quote. ICMPv6 neighbour discovery and MLD are never tracked.
/// </summary>
public static class IcmpTracker
{
    /// <summary>NR_ICMP_TYPES: icmp_error refuses a higher ICMP type before it looks for a connection.</summary>
    public const byte LastIcmpType = 18;

    /// <summary>What an ICMP message is to the tracker.</summary>
    public enum MessageKind : byte
    {
        /// <summary>A request that may create a connection (valid_new).</summary>
        Request,

        /// <summary>The reply to a request: it belongs to an existing connection or is invalid.</summary>
        Reply,

        /// <summary>An error quoting another packet (icmp_is_err, or any ICMPv6 type below 128).</summary>
        Error,

        /// <summary>ICMPv6 neighbour discovery, MLD and multicast router discovery (noct_valid_new): untracked.</summary>
        Untracked,

        /// <summary>
        /// A type with no inverse (icmp_invert_tuple fails), or past NR_ICMP_TYPES: invalid. This includes the ICMPv6
        /// redirect that <see cref="IsRefusedRedirect"/> lets through, which the kernel relates to the redirected flow
        /// through its header option (not implemented).
        /// </summary>
        Invalid,
    }

    private const byte NdiscRedirect = 137;
    private const int RedirectLength = 40; // struct rd_msg: the ICMPv6 header, the target and the destination

    /// <summary>
    /// nf_conntrack_icmpv6_redirect's refusals, each an icmpv6_error failure (INVALID, counted as error): a redirect
    /// shorter than its fixed part, or of code 0 not sent from a link-local address with hop limit 255 (RFC 4861).
    /// </summary>
    public static bool IsRefusedRedirect(in ParsedPacket packet) =>
        packet.IcmpType == NdiscRedirect
        && (packet.L4Length < RedirectLength || (packet.IcmpCode == 0 && (packet.Ttl != 255 || (packet.Source.Upper >> 54) != 0x3FA)));

    /// <summary>Classifies a message type; for requests and replies <paramref name="requestType"/> is the request's type.</summary>
    public static MessageKind Classify(byte type, bool ipv6, out byte requestType)
    {
        requestType = 0;
        if (!ipv6)
        {
            switch (type)
            {
                case 3 or 4 or 5 or 11 or 12:
                    return MessageKind.Error;
                case 8 or 13 or 15 or 17:
                    requestType = type;
                    return MessageKind.Request;
                case 0 or 14 or 16 or 18:
                    requestType = type == 0 ? (byte)8 : (byte)(type - 1);
                    return MessageKind.Reply;
                default:
                    return MessageKind.Invalid;
            }
        }

        switch (type)
        {
            case < 128:
                return MessageKind.Error;
            case 130 or 131 or 132 or 133 or 134 or 135 or 136 or 143 or 151 or 152:
                return MessageKind.Untracked;
            case 128 or 139:
                requestType = type;
                return MessageKind.Request;
            case 129 or 140:
                requestType = (byte)(type - 1);
                return MessageKind.Reply;
            default:
                return MessageKind.Invalid;
        }
    }

    /// <summary>Every accepted packet of an ICMP connection refreshes it to the single timeout (30 s by default); never ASSURED.</summary>
    public static TrackOutcome Packet(TimeoutPolicySnapshot timeouts, int policyId, bool ipv6)
        => TrackOutcome.Refresh(timeouts.JiffiesFor(policyId, ipv6 ? TimeoutProtocols.IcmpV6 : TimeoutProtocols.Icmp, 0));

    /// <summary>
    /// The tuple of the packet an ICMP error quotes (nf_conntrack_inet_error's inner tuple), as that packet was
    /// sent: ports for the protocols that have them, the call ID for enhanced GRE, addresses alone otherwise.
    /// <paramref name="message"/> starts at the ICMP header and ends with the IP payload. A quoted IPv6 header's
    /// extension headers are walked as ipv6_skip_exthdr walks them; a quoted non-first fragment has no tuple.
    /// <paramref name="answer"/> says whether a quoted ICMP query is the answer (echo reply, ...) rather than the request.
    /// </summary>
    public static bool TryReadQuotedKey(ReadOnlySpan<byte> message, L3Kind family, out ConnectionKey key, out bool answer)
    {
        key = default;
        answer = false;
        if (message.Length < 8)
            return false;
        ReadOnlySpan<byte> ip = message.Slice(8);

        byte protocol;
        InetAddress source, destination;
        ReadOnlySpan<byte> l4;
        if (family == L3Kind.IPv4)
        {
            // ipv4_get_l4proto checks neither the version nor that the header length is at least 20: the L4
            // header is read where the IHL puts it, as long as that is inside the quote.
            if (ip.Length < 20)
                return false;
            int headerLength = (ip[0] & 0x0F) * 4;
            if (ip.Length < headerLength)
                return false;
            // A quoted non-first fragment carries no L4 header.
            if ((BinaryPrimitives.ReadUInt16BigEndian(ip.Slice(6)) & 0x1FFF) != 0)
                return false;
            protocol = ip[9];
            source = InetAddress.FromIPv4(ip.Slice(12, 4));
            destination = InetAddress.FromIPv4(ip.Slice(16, 4));
            l4 = ip.Slice(headerLength);
        }
        else
        {
            // Nor does ipv6_get_l4proto check the version.
            if (ip.Length < 40 || !TrySkipExtensionHeaders(ip, out protocol, out int position))
                return false;
            source = InetAddress.FromIPv6(ip.Slice(8, 16));
            destination = InetAddress.FromIPv6(ip.Slice(24, 16));
            l4 = ip.Slice(position);
        }

        if (ConnectionKey.IsIcmp(protocol, family))
        {
            if (l4.Length < 8)
                return false;
            MessageKind kind = Classify(l4[0], family == L3Kind.IPv6, out byte requestType);
            if (kind is not (MessageKind.Request or MessageKind.Reply))
                return false;
            answer = kind == MessageKind.Reply;
            key = new ConnectionKey(family, protocol, source, destination, BinaryPrimitives.ReadUInt16BigEndian(l4.Slice(4)),
                ConnectionKey.IcmpQuery(requestType, l4[1]));
            return true;
        }

        if (FlowTable.HasPorts(protocol))
        {
            if (l4.Length < 4)
                return false;
            key = new ConnectionKey(family, protocol, source, destination,
                BinaryPrimitives.ReadUInt16BigEndian(l4), BinaryPrimitives.ReadUInt16BigEndian(l4.Slice(2)));
            return true;
        }

        ushort callId = 0;
        if (protocol == GreTracker.Protocol && !GreTracker.TryReadCallId(l4, out callId))
            return false;
        key = new ConnectionKey(family, protocol, source, destination, 0, callId);
        return true;
    }

    // ipv6_skip_exthdr over a quoted packet, which may be cut anywhere: each extension header needs its first two
    // bytes (a fragment header its first four) to be followed; "no next header" and a non-first fragment leave no
    // upper-layer protocol. The position may end past the quote: there is then no L4 header to read.
    private static bool TrySkipExtensionHeaders(ReadOnlySpan<byte> ip, out byte protocol, out int position)
    {
        protocol = ip[6];
        position = 40;
        while (protocol is 0 or 43 or 44 or 51 or 59 or 60)
        {
            if (protocol == 59 || ip.Length - position < 2)
                return false;
            int length;
            if (protocol == 44)
            {
                if (ip.Length - position < 4 || (BinaryPrimitives.ReadUInt16BigEndian(ip.Slice(position + 2)) & 0xFFF8) != 0)
                    return false;
                length = 8;
            }
            else
            {
                length = protocol == 51 ? (ip[position + 1] + 2) * 4 : (ip[position + 1] + 1) * 8;
            }
            protocol = ip[position];
            position += length;
        }
        return position <= ip.Length;
    }
}
