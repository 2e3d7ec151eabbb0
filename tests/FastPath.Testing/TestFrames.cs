// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;

namespace FastPath.Testing;

/// <summary>
/// Builds frames as byte arrays for tests and benchmarks, layer by layer: each method takes the payload of the layer above it.
/// IPv4 headers get a correct checksum, computed after the optional <c>patch</c> so that a test can plant
/// exactly one defect without also breaking the checksum; so do whole TCP, ICMP, ICMPv6 and SCTP packets.
/// </summary>
public static class TestFrames
{
    public const ushort EtherTypeIPv4 = 0x0800;
    public const ushort EtherTypeIPv6 = 0x86DD;
    public const ushort EtherTypeArp = 0x0806;
    public const ushort Tpid8021Q = 0x8100;
    public const ushort Tpid8021AD = 0x88A8;
    public const ushort TpidQinQOld = 0x9100;

    public const string Client4 = "10.0.0.1";
    public const string Server4 = "192.168.1.20";
    public const string Client6 = "2001:db8::1";
    public const string Server6 = "2001:db8:0:1::20";

    private static readonly byte[] DestinationMac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
    private static readonly byte[] SourceMac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

    public static byte[] Concat(params byte[][] parts)
    {
        var result = new byte[parts.Sum(p => p.Length)];
        int at = 0;
        foreach (byte[] part in parts)
        {
            part.CopyTo(result, at);
            at += part.Length;
        }

        return result;
    }

    /// <summary>An Ethernet II frame; each tag is (TPID, TCI), outermost first.</summary>
    public static byte[] Ethernet(ushort etherType, byte[] payload, params (ushort Tpid, ushort Tci)[] tags)
    {
        var header = new byte[14 + (tags.Length * 4)];
        DestinationMac.CopyTo(header, 0);
        SourceMac.CopyTo(header, 6);
        int at = 12;
        foreach ((ushort tpid, ushort tci) in tags)
        {
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(at), tpid);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(at + 2), tci);
            at += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(at), etherType);
        return Concat(header, payload);
    }

    /// <summary>Pads a frame with zeros to the 60-byte Ethernet minimum (without FCS), as a NIC hands it over.</summary>
    public static byte[] PadToMinimum(byte[] frame)
        => frame.Length >= 60 ? frame : Concat(frame, new byte[60 - frame.Length]);

    public static byte[] Ipv4(
        byte protocol,
        byte[] payload,
        string source = Client4,
        string destination = Server4,
        byte[]? options = null,
        byte ttl = 64,
        byte tos = 0,
        bool moreFragments = false,
        int fragmentOffset = 0,
        Action<byte[]>? patch = null)
    {
        options ??= [];
        if (options.Length % 4 != 0)
        {
            throw new ArgumentException("IPv4 options must fill whole 32-bit words", nameof(options));
        }

        int headerLength = 20 + options.Length;
        var header = new byte[headerLength];
        header[0] = (byte)(0x40 | (headerLength / 4));
        header[1] = tos;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)(headerLength + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), 0x1234);
        ushort flags = (ushort)((moreFragments ? 0x2000 : 0) | ((fragmentOffset / 8) & 0x1FFF));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), flags);
        header[8] = ttl;
        header[9] = protocol;
        AddressBytes(source, L3Kind.IPv4).CopyTo(header, 12);
        AddressBytes(destination, L3Kind.IPv4).CopyTo(header, 16);
        options.CopyTo(header, 20);
        patch?.Invoke(header);
        FixIpv4Checksum(header);
        var packet = Concat(header, payload);
        if (!moreFragments && fragmentOffset == 0)
            FixTransportChecksum(packet, headerLength, protocol, packet.AsSpan(12, 8));
        return packet;
    }

    /// <summary>
    /// Writes the checksum a sender puts in a whole TCP, ICMP, ICMPv6 or SCTP packet starting at <paramref name="offset"/>
    /// (UDP keeps 0: sent without one), so that connection tracking, which checks them, takes the frame as valid. A
    /// test wanting a bad checksum changes a byte afterwards. <paramref name="addresses"/>: source then destination.
    /// </summary>
    private static void FixTransportChecksum(byte[] packet, int offset, byte protocol, ReadOnlySpan<byte> addresses)
    {
        var l4 = packet.AsSpan(offset);
        int field = protocol switch { 6 => 16, 1 or 58 => 2, 132 => 8, _ => -1 };
        if (field < 0 || l4.Length < (protocol == 6 ? 20 : protocol == 132 ? SctpTracker.CommonHeaderLength : 4))
            return;
        if (protocol == 132)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(l4.Slice(field), SctpTracker.Checksum(l4));
            return;
        }
        l4.Slice(field, 2).Clear();
        // ICMP over IPv4 sums the message alone; the others start with the pseudo-header.
        var pseudo = protocol == 1 ? [] : Concat(addresses.ToArray(), [0, 0, (byte)(l4.Length >> 8), (byte)l4.Length, 0, 0, 0, protocol]);
        BinaryPrimitives.WriteUInt16BigEndian(l4.Slice(field), InternetChecksum.Compute(Concat(pseudo, l4.ToArray())));
    }

    /// <summary>Recomputes the checksum of the IPv4 header at the start of <paramref name="ip"/> (IHL as written, at least 20 bytes).</summary>
    public static void FixIpv4Checksum(Span<byte> ip)
    {
        int headerLength = Math.Clamp((ip[0] & 0x0F) * 4, 20, ip.Length);
        ip[10] = 0;
        ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip.Slice(10), InternetChecksum.Compute(ip.Slice(0, headerLength)));
    }

    public static byte[] Ipv6(
        byte nextHeader,
        byte[] payload,
        string source = Client6,
        string destination = Server6,
        byte hopLimit = 64,
        byte trafficClass = 0,
        uint flowLabel = 0)
    {
        var header = new byte[40];
        BinaryPrimitives.WriteUInt32BigEndian(header, (6u << 28) | ((uint)trafficClass << 20) | (flowLabel & 0xFFFFF));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)payload.Length);
        header[6] = nextHeader;
        header[7] = hopLimit;
        AddressBytes(source, L3Kind.IPv6).CopyTo(header, 8);
        AddressBytes(destination, L3Kind.IPv6).CopyTo(header, 24);
        var packet = Concat(header, payload);
        // Past the extension headers this file builds to the transport header, unless a fragment header cuts the packet.
        int offset = 40;
        while (nextHeader is 0 or 43 or 60 or 44 or 51 && offset + 8 <= packet.Length)
        {
            if (nextHeader == 44 && (BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(offset + 2)) & 0xFFF9) != 0)
                return packet;
            int length = nextHeader switch { 44 => 8, 51 => (packet[offset + 1] + 2) * 4, _ => (packet[offset + 1] + 1) * 8 };
            nextHeader = packet[offset];
            offset += length;
        }
        if (offset <= packet.Length)
            FixTransportChecksum(packet, offset, nextHeader, packet.AsSpan(8, 32));
        return packet;
    }

    /// <summary>Hop-by-hop options filling <paramref name="lengthUnits"/> extra 8-byte units with one option the kernel accepts.</summary>
    public static byte[] HopByHop(byte nextHeader, int lengthUnits = 0) => OptionsHeader(nextHeader, lengthUnits);

    public static byte[] DestinationOptions(byte nextHeader, int lengthUnits = 0) => OptionsHeader(nextHeader, lengthUnits);

    /// <summary>A type 4 (segment routing) header with segments left 0 and one 16-byte segment: 24 bytes.</summary>
    public static byte[] Routing(byte nextHeader)
    {
        var header = new byte[24];
        header[0] = nextHeader;
        header[1] = 2;     // (2 + 1) * 8 = 24 bytes
        header[2] = 4;     // SRH
        header[3] = 0;     // segments left: nothing to route
        return header;
    }

    public static byte[] Fragment(byte nextHeader, int offset, bool more, uint identification = 0xCAFE)
    {
        var header = new byte[8];
        header[0] = nextHeader;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)((offset & 0xFFF8) | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), identification);
        return header;
    }

    /// <summary>An authentication header with a 12-byte ICV (HMAC-SHA1-96): (4 + 2) * 4 = 24 bytes.</summary>
    public static byte[] AuthenticationHeader(byte nextHeader)
    {
        var header = new byte[24];
        header[0] = nextHeader;
        header[1] = 4;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), 0x100);  // SPI
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), 1);      // sequence number
        return header;
    }

    public static byte[] Tcp(ushort sourcePort, ushort destinationPort, byte flags = 0x02, byte[]? options = null, byte[]? data = null,
        uint sequence = 1000, uint acknowledgment = 0)
    {
        options ??= [];
        data ??= [];
        var header = new byte[20 + options.Length];
        BinaryPrimitives.WriteUInt16BigEndian(header, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), acknowledgment);
        header[12] = (byte)((header.Length / 4) << 4);
        header[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), 65535);
        options.CopyTo(header, 20);
        return Concat(header, data);
    }

    public static byte[] Udp(ushort sourcePort, ushort destinationPort, byte[]? data = null)
    {
        data ??= [];
        var header = new byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(header, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)(8 + data.Length));
        return Concat(header, data);
    }

    /// <summary>ICMP or ICMPv6: type, code, checksum (written by <see cref="Ipv4"/> or <see cref="Ipv6"/>), id, sequence.</summary>
    public static byte[] Icmp(byte type, byte code, ushort id = 0, ushort sequence = 0, byte[]? data = null)
    {
        var header = new byte[8];
        header[0] = type;
        header[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), sequence);
        return Concat(header, data ?? []);
    }

    /// <summary>An SCTP packet: ports, verification tag, the CRC32c (written by <see cref="Ipv4"/> or <see cref="Ipv6"/>), then the chunks.</summary>
    public static byte[] Sctp(ushort sourcePort, ushort destinationPort, uint verificationTag, params byte[][] chunks)
    {
        var header = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), verificationTag);
        return Concat([header, .. chunks]);
    }

    /// <summary>One SCTP chunk: type, flags, length (header and value, without padding), the value, zeros up to a multiple of four.</summary>
    public static byte[] SctpChunk(byte type, byte flags = 0, byte[]? value = null)
    {
        value ??= [];
        var chunk = new byte[(4 + value.Length + 3) & ~3];
        chunk[0] = type;
        chunk[1] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(chunk.AsSpan(2), (ushort)(4 + value.Length));
        value.CopyTo(chunk, 4);
        return chunk;
    }

    /// <summary>An INIT (type 1) or INIT ACK (type 2) chunk with its fixed part: initiate tag, a_rwnd, stream counts, initial TSN.</summary>
    public static byte[] SctpInit(byte type, uint initiateTag)
    {
        var value = new byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(value, initiateTag);
        BinaryPrimitives.WriteUInt32BigEndian(value.AsSpan(4), 65535);
        BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(8), 10);
        BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(10), 10);
        BinaryPrimitives.WriteUInt32BigEndian(value.AsSpan(12), 1);
        return SctpChunk(type, 0, value);
    }

    /// <summary>A version 0 GRE header (RFC 2784) without options, carrying <paramref name="protocol"/>.</summary>
    public static byte[] Gre(ushort protocol = EtherTypeIPv4, byte[]? payload = null)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), protocol);
        return Concat(header, payload ?? []);
    }

    /// <summary>An enhanced (version 1, PPTP) GRE header (RFC 2637): key present, PPP, payload length, the peer's call ID.</summary>
    public static byte[] PptpGre(ushort callId, ushort protocol = 0x880B, byte[]? payload = null)
    {
        payload ??= [];
        var header = new byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(header, 0x2001);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), protocol);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)payload.Length);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), callId);
        return Concat(header, payload);
    }

    /// <summary>The first <paramref name="length"/> bytes of <paramref name="bytes"/>.</summary>
    public static byte[] Cut(byte[] bytes, int length) => bytes.AsSpan(0, length).ToArray();

    /// <summary>The expected parser value for an address, built independently of <see cref="InetAddress.TryParse"/>.</summary>
    public static InetAddress Address(string text)
    {
        byte[] bytes = IPAddress.Parse(text).GetAddressBytes();
        return bytes.Length == 4 ? InetAddress.FromIPv4(bytes) : InetAddress.FromIPv6(bytes);
    }

    // Common frames.

    public static byte[] Ipv4TcpFrame(ushort sourcePort = 40000, ushort destinationPort = 443, byte flags = 0x02)
        => Ethernet(EtherTypeIPv4, Ipv4(6, Tcp(sourcePort, destinationPort, flags)));

    public static byte[] Ipv4UdpFrame(ushort sourcePort = 40000, ushort destinationPort = 53, int dataLength = 0)
        => Ethernet(EtherTypeIPv4, Ipv4(17, Udp(sourcePort, destinationPort, new byte[dataLength])));

    public static byte[] Ipv6UdpFrame(ushort sourcePort = 40000, ushort destinationPort = 53, int dataLength = 0)
        => Ethernet(EtherTypeIPv6, Ipv6(17, Udp(sourcePort, destinationPort, new byte[dataLength])));

    private static byte[] OptionsHeader(byte nextHeader, int lengthUnits)
    {
        var header = new byte[(lengthUnits + 1) * 8];
        header[0] = nextHeader;
        header[1] = (byte)lengthUnits;
        // A PadN when it is at most the 7 bytes of padding the kernel takes, else an unknown option to be skipped (type 0x1E).
        header[2] = lengthUnits == 0 ? (byte)1 : (byte)0x1E;
        header[3] = (byte)(header.Length - 4);   // covering the rest of the header
        return header;
    }

    private static byte[] AddressBytes(string text, L3Kind family)
    {
        IPAddress address = IPAddress.Parse(text);
        AddressFamily expected = family == L3Kind.IPv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        if (address.AddressFamily != expected)
        {
            throw new ArgumentException($"not an {family} address: {text}", nameof(text));
        }

        return address.GetAddressBytes();
    }
}
