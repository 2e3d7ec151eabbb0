// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Packets;

/// <summary>Valid frames of every kind parse to the expected fields. Defects live in <see cref="PacketParserDropTests"/>.</summary>
public class PacketParserTests
{
    private const byte Tcp6 = 6;
    private const byte Udp17 = 17;
    private const byte Icmp1 = 1;
    private const byte Icmpv658 = 58;

    internal static ParsedPacket ParseAccepted(byte[] frame)
    {
        var packet = default(ParsedPacket);
        Assert.Equal(DropReason.None, PacketParser.Parse(frame, ref packet));
        return packet;
    }

    [Fact]
    public void Ipv4Tcp()
    {
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(40000, 443, flags: 0x12, data: new byte[10]), ttl: 63, tos: 0xB8));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(EtherTypeIPv4, p.EtherType);
        Assert.Equal(0, p.VlanCount);
        Assert.Equal(0, p.OuterVlanId);
        Assert.Equal(0, p.InnerVlanId);
        Assert.Equal(14, p.L3Offset);
        Assert.Equal(L3Kind.IPv4, p.L3);
        Assert.Equal(Address(Client4), p.Source);
        Assert.Equal(Address(Server4), p.Destination);
        Assert.Equal(Tcp6, p.Protocol);
        Assert.Equal(63, p.Ttl);
        Assert.Equal(0xB8, p.Tos);
        Assert.Equal(20 + 20 + 10, p.IpLength);
        Assert.Equal(FragmentKind.None, p.Fragment);
        Assert.Equal(0, p.FragmentOffset);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(34, p.L4Offset);
        Assert.Equal(30, p.L4Length);
        Assert.Equal(40000, p.SourcePort);
        Assert.Equal(443, p.DestinationPort);
        Assert.Equal(0x12, p.TcpFlags);
        Assert.Equal(20, p.TcpHeaderLength);
        Assert.Equal(0, p.IcmpType);
        Assert.Equal(0, p.IcmpId);
    }

    [Fact]
    public void Ipv4TcpWithOptionsReportsTheDataOffset()
    {
        byte[] mssSackWscale = [2, 4, 0x05, 0xB4, 4, 2, 1, 3, 3, 7, 0, 0];
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1, 2, flags: 0x02, options: mssSackWscale)));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(32, p.TcpHeaderLength);
        Assert.Equal(32, p.L4Length);
        Assert.Equal(0x02, p.TcpFlags);
    }

    [Fact]
    public void Ipv4Udp()
    {
        ParsedPacket p = ParseAccepted(Ipv4UdpFrame(5353, 53, dataLength: 30));

        Assert.Equal(L3Kind.IPv4, p.L3);
        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(34, p.L4Offset);
        Assert.Equal(38, p.L4Length);
        Assert.Equal(58, p.IpLength);
        Assert.Equal(5353, p.SourcePort);
        Assert.Equal(53, p.DestinationPort);
        Assert.Equal(0, p.TcpHeaderLength);
    }

    [Theory]
    [InlineData(8, 0x4242)]   // echo request
    [InlineData(0, 0x4242)]   // echo reply
    [InlineData(13, 0x4343)]  // timestamp request
    [InlineData(14, 0x4343)]  // timestamp reply
    [InlineData(15, 0x1)]     // information request
    [InlineData(16, 0x1)]     // information reply
    [InlineData(17, 0xFFFF)]  // address mask request
    [InlineData(18, 0xFFFF)]  // address mask reply
    public void Ipv4IcmpQueriesReportTheIdentifier(byte type, ushort id)
    {
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Icmp1, Icmp(type, 0, id, sequence: 7, data: new byte[56])));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Icmp, p.L4);
        Assert.Equal(Icmp1, p.Protocol);
        Assert.Equal(type, p.IcmpType);
        Assert.Equal(0, p.IcmpCode);
        Assert.Equal(id, p.IcmpId);
        Assert.Equal(64, p.L4Length);
        Assert.Equal(0, p.SourcePort);
    }

    [Fact]
    public void Ipv4IcmpErrorHasNoIdentifier()
    {
        // Port unreachable: bytes 4..7 are unused, not an identifier.
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Icmp1, Icmp(3, 3, id: 0x1111, sequence: 0)));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Icmp, p.L4);
        Assert.Equal(3, p.IcmpType);
        Assert.Equal(3, p.IcmpCode);
        Assert.Equal(0, p.IcmpId);
    }

    [Fact]
    public void Ipv4WithOptions()
    {
        // NOP, router alert (4 bytes), record route with room for one address (7 bytes), end of list.
        byte[] options = [1, 0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Udp17, Udp(1000, 2000), options: options));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 36, p.L4Offset);
        Assert.Equal(8, p.L4Length);
        Assert.Equal(44, p.IpLength);
        Assert.Equal(1000, p.SourcePort);
    }

    [Fact]
    public void Ipv4OptionsEndAtEndOfList()
    {
        // After EOL the rest of the header is padding and is not parsed, whatever it holds.
        byte[] options = [0, 0xFF, 0xFF, 0xFF];
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1, 2), options: options)));

        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(14 + 24, p.L4Offset);
    }

    // As ip_rcv_options takes or refuses them; DamagedFrameLiveDifferentialTests sends the same options through Linux 6.18.
    [Theory]
    [InlineData("01 01 01 01", true)]                            // NOPs
    [InlineData("07 07 04 00 00 00 00 00", true)]                // record route with room for an address
    [InlineData("07 07 08 00 00 00 00 00", true)]                // record route, full
    [InlineData("07 07 03 00 00 00 00 00", false)]               // record route pointing below 4
    [InlineData("07 02 00 00", false)]                           // record route of 2 bytes
    [InlineData("07 07 05 00 00 00 00 00", false)]               // record route pointing at less than an address
    [InlineData("07 07 04 00 00 00 00 07 07 04 00 00 00 00 00 00", false)] // two record routes
    [InlineData("44 0c 05 00 00 00 00 00 00 00 00 00", true)]    // timestamps only
    [InlineData("44 08 09 00 00 00 00 00", true)]                // timestamps, full: the overflow count goes up
    [InlineData("44 08 09 f0 00 00 00 00", false)]               // full, overflow count 15
    [InlineData("44 08 09 f3 00 00 00 00", true)]                // full, prespecified: nothing counted
    [InlineData("44 08 04 00 00 00 00 00", false)]               // pointing below 5
    [InlineData("44 03 05 00", false)]                           // 3 bytes
    [InlineData("44 08 05 01 00 00 00 00", false)]               // address and timestamp: no room for both
    [InlineData("44 0c 05 01 00 00 00 00 00 00 00 00", true)]    // address and timestamp with room
    [InlineData("44 08 05 02 00 00 00 00", true)]                // unknown flags: taken
    [InlineData("44 08 05 00 00 00 00 00 44 08 05 00 00 00 00 00", false)] // two timestamps
    [InlineData("83 07 04 c6 12 00 01 00", false)]               // loose source route (accept_source_route 0)
    [InlineData("89 07 04 c6 12 00 01 00", false)]               // strict source route
    [InlineData("94 04 00 00", true)]                            // router alert
    [InlineData("94 04 00 01", true)]                            // router alert with another value
    [InlineData("94 02 00 00", false)]                           // router alert of 2 bytes
    [InlineData("86 0a 00 00 00 01 01 04 00 00 00 00", false)]   // CIPSO, no DOI configured
    [InlineData("82 0b 00 00 00 00 00 00 00 00 00 00", true)]    // security
    [InlineData("88 04 00 01", true)]                            // stream ID
    [InlineData("9e 04 00 00", true)]                            // unknown
    [InlineData("44 01 00 00", false)]                           // a length below 2
    [InlineData("9e 08 00 00", false)]                           // running past the header
    [InlineData("01 01 01 9e", false)]                           // no room for the length
    public void Ipv4OptionsAreCheckedAsIpRcvOptionsChecksThem(string options, bool accepted)
    {
        byte[] bytes = Convert.FromHexString(options.Replace(" ", "", StringComparison.Ordinal));
        var packet = default(ParsedPacket);

        DropReason reason = PacketParser.Parse(Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1, 2), options: bytes)), ref packet);

        Assert.Equal(accepted ? DropReason.None : DropReason.Ipv4BadOptions, reason);
    }

    [Fact]
    public void Vlan8021Q()
    {
        // PCP 7 and DEI set: only the low 12 bits are the VID.
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1234, 80)), (Tpid8021Q, 0xF064));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(1, p.VlanCount);
        Assert.Equal(100, p.OuterVlanId);
        Assert.Equal(0, p.InnerVlanId);
        Assert.Equal(EtherTypeIPv4, p.EtherType);
        Assert.Equal(18, p.L3Offset);
        Assert.Equal(38, p.L4Offset);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(80, p.DestinationPort);
    }

    [Theory]
    [InlineData(Tpid8021AD)]
    [InlineData(TpidQinQOld)]
    [InlineData(Tpid8021Q)]
    public void QinQ(ushort outerTpid)
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2)), (outerTpid, 0x0FFE), (Tpid8021Q, 0x2005));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(2, p.VlanCount);
        Assert.Equal(0xFFE, p.OuterVlanId);
        Assert.Equal(5, p.InnerVlanId);
        Assert.Equal(EtherTypeIPv6, p.EtherType);
        Assert.Equal(22, p.L3Offset);
        Assert.Equal(L3Kind.IPv6, p.L3);
        Assert.Equal(62, p.L4Offset);
        Assert.Equal(L4Kind.Udp, p.L4);
    }

    [Fact]
    public void Ipv6Tcp()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(Tcp6, Tcp(50000, 22, flags: 0x18, data: new byte[5]), hopLimit: 255, trafficClass: 0x2E, flowLabel: 0xABCDE));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(EtherTypeIPv6, p.EtherType);
        Assert.Equal(14, p.L3Offset);
        Assert.Equal(L3Kind.IPv6, p.L3);
        Assert.Equal(Address(Client6), p.Source);
        Assert.Equal(Address(Server6), p.Destination);
        Assert.Equal(Tcp6, p.Protocol);
        Assert.Equal(255, p.Ttl);
        Assert.Equal(0x2E, p.Tos);
        Assert.Equal(40 + 25, p.IpLength);
        Assert.Equal(FragmentKind.None, p.Fragment);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(54, p.L4Offset);
        Assert.Equal(25, p.L4Length);
        Assert.Equal(50000, p.SourcePort);
        Assert.Equal(22, p.DestinationPort);
        Assert.Equal(0x18, p.TcpFlags);
        Assert.Equal(20, p.TcpHeaderLength);
    }

    [Fact]
    public void Ipv6Udp()
    {
        ParsedPacket p = ParseAccepted(Ipv6UdpFrame(546, 547, dataLength: 12));

        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(54, p.L4Offset);
        Assert.Equal(20, p.L4Length);
        Assert.Equal(60, p.IpLength);
        Assert.Equal(546, p.SourcePort);
        Assert.Equal(547, p.DestinationPort);
    }

    [Theory]
    [InlineData(128)]   // echo request
    [InlineData(129)]   // echo reply
    [InlineData(139)]   // node information query
    [InlineData(140)]   // node information reply
    public void Ipv6Icmpv6QueriesReportTheIdentifier(byte type)
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(Icmpv658, Icmp(type, 0, id: 0xBEEF, sequence: 1)));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Icmpv6, p.L4);
        Assert.Equal(Icmpv658, p.Protocol);
        Assert.Equal(type, p.IcmpType);
        Assert.Equal(0xBEEF, p.IcmpId);
    }

    [Fact]
    public void Ipv6NeighborSolicitationHasNoIdentifier()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(Icmpv658, Icmp(135, 0, id: 0x1234, data: new byte[16]), hopLimit: 255));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Icmpv6, p.L4);
        Assert.Equal(135, p.IcmpType);
        Assert.Equal(0, p.IcmpId);
    }

    [Fact]
    public void Ipv6HopByHop()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(0, Concat(HopByHop(Udp17, lengthUnits: 1), Udp(7, 8))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 40 + 16, p.L4Offset);
        Assert.Equal(8, p.L4Length);
        Assert.Equal(7, p.SourcePort);
    }

    [Fact]
    public void Ipv6Routing()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(43, Concat(Routing(Tcp6), Tcp(1, 2))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(Tcp6, p.Protocol);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(14 + 40 + 24, p.L4Offset);
        Assert.Equal(20, p.L4Length);
    }

    [Fact]
    public void Ipv6DestinationOptions()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(60, Concat(DestinationOptions(Icmpv658), Icmp(128, 0, id: 9))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(Icmpv658, p.Protocol);
        Assert.Equal(L4Kind.Icmpv6, p.L4);
        Assert.Equal(14 + 40 + 8, p.L4Offset);
        Assert.Equal(9, p.IcmpId);
    }

    [Fact]
    public void Ipv6FirstFragmentCarriesTheL4Header()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(Udp17, offset: 0, more: true), Udp(1111, 2222, new byte[32]))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.First, p.Fragment);
        Assert.Equal(0, p.FragmentOffset);
        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 48, p.L4Offset);
        Assert.Equal(40, p.L4Length);
        Assert.Equal(1111, p.SourcePort);
    }

    [Fact]
    public void Ipv6NonFirstFragmentStopsTheWalk()
    {
        // The payload after the fragment header is the middle of a UDP datagram, not a UDP header.
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(Udp17, offset: 1232, more: false), new byte[3])));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L3Kind.IPv6, p.L3);
        Assert.Equal(FragmentKind.NonFirst, p.Fragment);
        Assert.Equal(1232, p.FragmentOffset);
        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(L4Kind.None, p.L4);
        Assert.Equal(0, p.L4Offset);
        Assert.Equal(0, p.SourcePort);
        Assert.Equal(51, p.IpLength);
    }

    [Fact]
    public void Ipv6AtomicFragmentIsNotAFragment()
    {
        // RFC 6946: offset 0 without M is a whole packet.
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(44, Concat(Fragment(Tcp6, offset: 0, more: false), Tcp(3, 4))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.None, p.Fragment);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(14 + 48, p.L4Offset);
    }

    [Fact]
    public void Ipv6AuthenticationHeader()
    {
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(51, Concat(AuthenticationHeader(Tcp6), Tcp(5, 6))));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(Tcp6, p.Protocol);
        Assert.Equal(L4Kind.Tcp, p.L4);
        Assert.Equal(14 + 40 + 24, p.L4Offset);
        Assert.Equal(5, p.SourcePort);
    }

    [Fact]
    public void Ipv6ExtensionHeaderChain()
    {
        byte[] chain = Concat(
            HopByHop(60),
            DestinationOptions(43),
            Routing(44),
            Fragment(51, offset: 0, more: true),
            AuthenticationHeader(60),
            DestinationOptions(Udp17, lengthUnits: 2),
            Udp(9, 10));
        byte[] frame = Ethernet(EtherTypeIPv6, Ipv6(0, chain));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.First, p.Fragment);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 40 + 8 + 8 + 24 + 8 + 24 + 24, p.L4Offset);
        Assert.Equal(8, p.L4Length);
        Assert.Equal(10, p.DestinationPort);
    }

    [Fact]
    public void Ipv6ExtensionHeadersAreWalkedWithoutALimit()
    {
        // The kernel forwards nine or more, and its -p and conntrack find the upper-layer header behind them.
        byte[][] parts = [.. Enumerable.Repeat<byte[]>(DestinationOptions(60), 19), DestinationOptions(Udp17), Udp(1, 2)];
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv6, Ipv6(60, Concat(parts))));

        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 40 + 160, p.L4Offset);
    }

    [Fact]
    public void Ipv6HopByHopAfterAnotherHeaderIsWalkedPast()
    {
        // Only the receive path looks at hop-by-hop options, and only right after the fixed header; a forwarding
        // kernel lets a later one through unread, even with an option that would be refused first.
        byte[] hopByHop = HopByHop(Udp17);
        hopByHop[2] = 0x7E;
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv6, Ipv6(60, Concat(DestinationOptions(0), hopByHop, Udp(1, 2)))));

        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(14 + 40 + 16, p.L4Offset);
    }

    // Hop-by-hop options after the header's two bytes, padded by the test to a multiple of 8 with Pad1s where noted;
    // each verdict seen on Linux 6.18 forwarding the packet (Ipv6LiveDifferentialTests).
    [Theory]
    [InlineData("01 04 00 00 00 00", true)]                       // PadN of 6: the header's usual filler
    [InlineData("00 00 00 00 00 00", true)]                       // six Pad1s
    [InlineData("00 00 00 00 00 00 01 00 01 00 01 00 01 00", false)] // 6 + 8 bytes of padding in a row
    [InlineData("01 04 01 00 00 00", false)]                      // PadN bytes that are not zero
    [InlineData("01 02 00 00 1e 00 1e 00 01 04 00 00 00 00", true)] // padding counted anew after an option
    [InlineData("01 02 00 00 1e 00 01 04 00 00 00 00 01 00", false)] // 6 then 2 bytes of padding after the option
    [InlineData("1e 02 61 62 01 00", true)]                       // unknown, top bits 00: skipped
    [InlineData("7e 02 61 62 01 00", false)]                      // 01: discard
    [InlineData("be 02 61 62 01 00", false)]                      // 10: discard and answer
    [InlineData("fe 02 61 62 01 00", false)]                      // 11: discard, answer unless multicast
    [InlineData("05 02 00 00 01 00", true)]                       // router alert
    [InlineData("05 04 00 00 00 00", false)]                      // router alert of 4 bytes
    [InlineData("c2 04 00 01 11 70", false)]                      // jumbo payload
    [InlineData("07 0a 00 00 00 00 00 00 00 00 00 00 01 00", false)] // CALIPSO, no domain configured
    [InlineData("00 00 31 04 00 00 00 00 01 02 00 00 00 00", true)]  // IOAM at 44: aligned, and IOAM is off
    [InlineData("31 04 00 00 00 00", false)]                      // IOAM at 42: not 4-byte aligned
    [InlineData("1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 01 04 00 00 00 00", true)]  // 8 options
    [InlineData("1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 1e 00 01 02 00 00", false)] // 9 options
    [InlineData("1e 05 00 00 00 00", false)]                      // an option running past the header
    public void Ipv6HopByHopOptionsAreCheckedAsTheReceivePathChecksThem(string options, bool accepted)
    {
        byte[] bytes = Convert.FromHexString(options.Replace(" ", "", StringComparison.Ordinal));
        Assert.True((bytes.Length + 2) % 8 == 0, "the test's options must fill the header");
        byte[] hopByHop = Concat([Udp17, (byte)((bytes.Length + 2) / 8 - 1)], bytes);
        var packet = default(ParsedPacket);

        DropReason reason = PacketParser.Parse(Ethernet(EtherTypeIPv6, Ipv6(0, Concat(hopByHop, Udp(1, 2)))), ref packet);

        Assert.Equal(accepted ? DropReason.None : DropReason.Ipv6BadHopByHopOptions, reason);
    }

    [Theory]
    [InlineData("ff02::1", "2001:db8::2", false)]     // multicast source
    [InlineData("::1", "2001:db8::2", false)]         // loopback source
    [InlineData("2001:db8::1", "::1", false)]         // loopback destination
    [InlineData("2001:db8::1", "ff00::1", false)]     // multicast scope 0 (reserved)
    [InlineData("2001:db8::1", "ff01::1", false)]     // multicast scope 1 (interface-local)
    [InlineData("2001:db8::1", "ff02::1", true)]      // link-local scope: received (not forwarded: routing's business)
    [InlineData("::", "2001:db8::2", true)]           // unspecified source: raw PREROUTING sees it
    [InlineData("::ffff:192.0.2.1", "2001:db8::2", true)]
    [InlineData("2001:db8::1", "::ffff:192.0.2.1", true)]
    public void Ipv6AddressesTheReceivePathDropsAreDropped(string source, string destination, bool accepted)
    {
        var packet = default(ParsedPacket);

        DropReason reason = PacketParser.Parse(Ethernet(EtherTypeIPv6, Ipv6(Udp17, Udp(1, 2), source, destination)), ref packet);

        Assert.Equal(accepted ? DropReason.None : DropReason.Ipv6BadAddress, reason);
    }

    [Fact]
    public void Ipv4FirstFragmentCarriesTheL4Header()
    {
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Udp17, Udp(4000, 5000, new byte[1472]), moreFragments: true));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.First, p.Fragment);
        Assert.Equal(0, p.FragmentOffset);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(4000, p.SourcePort);
        Assert.Equal(1480, p.L4Length);
    }

    [Fact]
    public void UdpLengthInAFirstFragmentCoversTheWholeDatagram()
    {
        // A 3000-byte datagram's first 1480 bytes: the UDP length field says 3000, the fragment holds less.
        byte[] udp = Udp(4000, 5000, new byte[2992]);
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Udp17, Cut(udp, 1480), moreFragments: true));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.First, p.Fragment);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(5000, p.DestinationPort);
    }

    [Fact]
    public void Ipv4NonFirstFragmentHasNoL4()
    {
        // The tail of a UDP datagram: the first bytes are payload, and must not be taken for ports.
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Udp17, [0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 0, 0, 1, 2], fragmentOffset: 1480));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L3Kind.IPv4, p.L3);
        Assert.Equal(FragmentKind.NonFirst, p.Fragment);
        Assert.Equal(1480, p.FragmentOffset);
        Assert.Equal(Udp17, p.Protocol);
        Assert.Equal(L4Kind.None, p.L4);
        Assert.Equal(0, p.SourcePort);
        Assert.Equal(0, p.DestinationPort);
        Assert.Equal(30, p.IpLength);
    }

    [Fact]
    public void Ipv4MiddleFragmentIsNonFirst()
    {
        byte[] frame = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, new byte[8], moreFragments: true, fragmentOffset: 8));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(FragmentKind.NonFirst, p.Fragment);
        Assert.Equal(8, p.FragmentOffset);
        Assert.Equal(L4Kind.None, p.L4);
    }

    [Fact]
    public void ArpIsForwardedUnparsed()
    {
        byte[] arp = new byte[28];
        arp[1] = 1;       // hardware type Ethernet
        arp[2] = 0x08;    // protocol type IPv4
        arp[4] = 6;
        arp[5] = 4;
        arp[7] = 1;       // request
        ParsedPacket p = ParseAccepted(PadToMinimum(Ethernet(EtherTypeArp, arp)));

        Assert.Equal(L3Kind.None, p.L3);
        Assert.Equal(EtherTypeArp, p.EtherType);
        Assert.Equal(14, p.L3Offset);
        Assert.Equal(L4Kind.None, p.L4);
        Assert.Equal(default, p.Source);
    }

    [Fact]
    public void VlanTaggedArpIsForwardedUnparsed()
    {
        ParsedPacket p = ParseAccepted(PadToMinimum(Ethernet(EtherTypeArp, new byte[28], (Tpid8021Q, 42))));

        Assert.Equal(L3Kind.None, p.L3);
        Assert.Equal(EtherTypeArp, p.EtherType);
        Assert.Equal(1, p.VlanCount);
        Assert.Equal(42, p.OuterVlanId);
        Assert.Equal(18, p.L3Offset);
    }

    [Fact]
    public void Ieee8023LengthFieldIsForwardedUnparsed()
    {
        // An 802.3 frame: the type field is a length (46), followed by LLC (STP BPDU: DSAP/SSAP 0x42).
        byte[] llc = new byte[46];
        llc[0] = 0x42;
        llc[1] = 0x42;
        llc[2] = 0x03;
        ParsedPacket p = ParseAccepted(Ethernet(46, llc));

        Assert.Equal(L3Kind.None, p.L3);
        Assert.Equal(46, p.EtherType);
    }

    [Fact]
    public void Ipv4GreIsGeneric()
    {
        byte[] gre = [0, 0, 0x08, 0x00, .. Ipv4(Icmp1, Icmp(8, 0, 1))];
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv4, Ipv4(47, gre)));

        Assert.Equal(L4Kind.Generic, p.L4);
        Assert.Equal(47, p.Protocol);
        Assert.Equal(34, p.L4Offset);
        Assert.Equal(gre.Length, p.L4Length);
        Assert.Equal(0, p.SourcePort);
        Assert.Equal(0, p.IcmpType);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EspIsGeneric(bool ipv6)
    {
        byte[] esp = [0, 0, 0x10, 0x01, 0, 0, 0, 1, .. new byte[32]];
        byte[] frame = ipv6 ? Ethernet(EtherTypeIPv6, Ipv6(50, esp)) : Ethernet(EtherTypeIPv4, Ipv4(50, esp));

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(L4Kind.Generic, p.L4);
        Assert.Equal(50, p.Protocol);
        Assert.Equal(40, p.L4Length);
        Assert.Equal(0, p.SourcePort);
        Assert.Equal(0, p.DestinationPort);
    }

    [Theory]
    [InlineData(132)]   // SCTP
    [InlineData(136)]   // UDP-Lite
    [InlineData(33)]    // DCCP
    public void GenericProtocolsWithPortsReportThem(byte protocol)
    {
        byte[] header = [0x0B, 0x59, 0x0B, 0x5A, 0, 0, 0, 0, 0, 0, 0, 0];
        ParsedPacket p4 = ParseAccepted(Ethernet(EtherTypeIPv4, Ipv4(protocol, header)));
        ParsedPacket p6 = ParseAccepted(Ethernet(EtherTypeIPv6, Ipv6(protocol, header)));

        foreach (ParsedPacket p in new[] { p4, p6 })
        {
            Assert.Equal(L4Kind.Generic, p.L4);
            Assert.Equal(protocol, p.Protocol);
            Assert.Equal(2905, p.SourcePort);
            Assert.Equal(2906, p.DestinationPort);
        }
    }

    [Fact]
    public void GenericProtocolShorterThanPortsIsAcceptedWithoutPorts()
    {
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv4, Ipv4(132, [0x0B, 0x59, 0x0B])));

        Assert.Equal(L4Kind.Generic, p.L4);
        Assert.Equal(3, p.L4Length);
        Assert.Equal(0, p.SourcePort);
        Assert.Equal(0, p.DestinationPort);
    }

    [Fact]
    public void Ipv6NoNextHeaderIsGeneric()
    {
        ParsedPacket p = ParseAccepted(Ethernet(EtherTypeIPv6, Ipv6(60, DestinationOptions(59))));

        Assert.Equal(L4Kind.Generic, p.L4);
        Assert.Equal(59, p.Protocol);
        Assert.Equal(14 + 48, p.L4Offset);
        Assert.Equal(0, p.L4Length);
    }

    [Fact]
    public void IcmpNumbersBelongToTheirOwnFamily()
    {
        // ICMPv4 inside IPv6 and ICMPv6 inside IPv4 are just unknown protocols.
        ParsedPacket icmpIn6 = ParseAccepted(Ethernet(EtherTypeIPv6, Ipv6(Icmp1, new byte[2])));
        ParsedPacket icmp6In4 = ParseAccepted(Ethernet(EtherTypeIPv4, Ipv4(Icmpv658, new byte[2])));

        Assert.Equal(L4Kind.Generic, icmpIn6.L4);
        Assert.Equal(L4Kind.Generic, icmp6In4.L4);
    }

    [Fact]
    public void EthernetPaddingAfterAShortIpv4PacketIsIgnored()
    {
        byte[] frame = PadToMinimum(Ipv4UdpFrame(1, 2));
        frame[^1] = 0xFF;   // padding is garbage as far as IP is concerned
        Assert.Equal(60, frame.Length);

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(28, p.IpLength);
        Assert.Equal(L4Kind.Udp, p.L4);
        Assert.Equal(8, p.L4Length);
    }

    [Fact]
    public void L4LengthStopsAtTheIpv6PayloadNotTheFrame()
    {
        byte[] frame = Concat(Ethernet(EtherTypeIPv6, Ipv6(Tcp6, Tcp(1, 2))), new byte[10]);

        ParsedPacket p = ParseAccepted(frame);

        Assert.Equal(60, p.IpLength);
        Assert.Equal(20, p.L4Length);
    }

    [Fact]
    public void ParseOverwritesEveryField()
    {
        var packet = default(ParsedPacket);
        byte[] tcp = Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1, 2, flags: 0x10)), (Tpid8021AD, 5), (Tpid8021Q, 6));
        Assert.Equal(DropReason.None, PacketParser.Parse(tcp, ref packet));
        Assert.Equal(DropReason.None, PacketParser.Parse(PadToMinimum(Ethernet(EtherTypeArp, new byte[28])), ref packet));

        ParsedPacket expected = default;
        expected.EtherType = EtherTypeArp;
        expected.L3Offset = 14;
        Assert.Equal(expected, packet);
    }

    [Fact]
    public void EveryTruncationOfAValidFrameIsHandledWithoutThrowing()
    {
        byte[][] frames =
        [
            Ethernet(EtherTypeIPv4, Ipv4(Tcp6, Tcp(1, 2), options: [1, 1, 1, 0]), (Tpid8021AD, 1), (Tpid8021Q, 2)),
            Ethernet(EtherTypeIPv6, Ipv6(0, Concat(HopByHop(44), Fragment(51, 0, true), AuthenticationHeader(Udp17), Udp(1, 2)))),
            Ethernet(EtherTypeIPv6, Ipv6(Icmpv658, Icmp(128, 0, 1))),
        ];

        foreach (byte[] frame in frames)
        {
            for (int length = 0; length < frame.Length; length++)
            {
                var packet = default(ParsedPacket);
                Assert.NotEqual(DropReason.None, PacketParser.Parse(frame.AsSpan(0, length), ref packet));
            }
        }
    }
}
