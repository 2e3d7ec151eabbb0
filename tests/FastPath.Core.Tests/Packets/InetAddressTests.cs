// SPDX-License-Identifier: MIT
using System.Net;
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Core.Tests.Packets;

public class InetAddressTests
{
    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("192.168.1.20")]
    public void Ipv4FormatsAsDottedQuad(string text)
    {
        InetAddress address = InetAddress.FromIPv4(IPAddress.Parse(text).GetAddressBytes());

        Assert.Equal(text, address.Format(L3Kind.IPv4));
    }

    [Theory]
    [InlineData("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001")]
    [InlineData("::", "0000:0000:0000:0000:0000:0000:0000:0000")]
    [InlineData("::1", "0000:0000:0000:0000:0000:0000:0000:0001")]
    [InlineData("fe80::abcd:ef01:2345:6789", "fe80:0000:0000:0000:abcd:ef01:2345:6789")]
    [InlineData("FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("::ffff:192.0.2.128", "0000:0000:0000:0000:0000:ffff:c000:0280")]
    public void Ipv6FormatsFullyExpandedLikePercentPI6(string text, string expected)
    {
        InetAddress address = InetAddress.FromIPv6(IPAddress.Parse(text).GetAddressBytes());

        Assert.Equal(expected, address.Format(L3Kind.IPv6));
    }

    [Fact]
    public void UnknownFamilyFormatsAsEmpty()
    {
        Assert.Equal(string.Empty, InetAddress.FromIPv4(0x0A000001).Format(L3Kind.None));
    }

    [Fact]
    public void Ipv4LivesInTheFirstFourBytes()
    {
        var bytes = new byte[16];
        bytes.AsSpan().Fill(0xEE);

        InetAddress.FromIPv4(0x0A000001).CopyTo(bytes);

        Assert.Equal([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bytes);
    }

    [Fact]
    public void HostOrderAndNetworkBytesAgree()
    {
        Assert.Equal(InetAddress.FromIPv4([192, 168, 1, 20]), InetAddress.FromIPv4(0xC0A80114u));
    }

    [Fact]
    public void Ipv6RoundTripsThroughCopyTo()
    {
        byte[] original = IPAddress.Parse("2001:db8:1:2:3:4:5:6").GetAddressBytes();
        var copy = new byte[16];

        InetAddress.FromIPv6(original).CopyTo(copy);

        Assert.Equal(original, copy);
    }

    [Fact]
    public void EqualityComparesAllSixteenBytes()
    {
        byte[] a = IPAddress.Parse("2001:db8::1").GetAddressBytes();
        byte[] b = IPAddress.Parse("2001:db8::2").GetAddressBytes();
        byte[] c = IPAddress.Parse("2001:db9::1").GetAddressBytes();

        Assert.True(InetAddress.FromIPv6(a) == InetAddress.FromIPv6(a));
        Assert.Equal(InetAddress.FromIPv6(a).GetHashCode(), InetAddress.FromIPv6(a).GetHashCode());
        Assert.True(InetAddress.FromIPv6(a) != InetAddress.FromIPv6(b));
        Assert.True(InetAddress.FromIPv6(a) != InetAddress.FromIPv6(c));
        Assert.False(InetAddress.FromIPv6(a).Equals((object)"2001:db8::1"));
        Assert.NotEqual(InetAddress.FromIPv4(0x01020304), InetAddress.FromIPv4(0x01020305));
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("255.255.255.255", "255.255.255.255")]
    [InlineData("010.001.000.009", "10.1.0.9")]
    public void ParsesDottedQuad(string text, string formatted)
    {
        Assert.True(InetAddress.TryParse(text, out InetAddress address, out L3Kind family));

        Assert.Equal(L3Kind.IPv4, family);
        Assert.Equal(formatted, address.Format(L3Kind.IPv4));
    }

    [Theory]
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001")]   // preferred form
    [InlineData("2001:db8:0:0:0:0:0:1")]                      // leading zeros dropped
    [InlineData("2001:db8::1")]                               // compressed
    [InlineData("2001:DB8::0:1")]                             // upper case, partly compressed
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("1::")]
    [InlineData("::ffff:10.0.0.1")]                           // mixed, IPv4-mapped
    [InlineData("64:ff9b::192.0.2.33")]                       // mixed, NAT64
    [InlineData("1:2:3:4:5:6:7:8")]
    public void ParsesEveryRfc4291TextForm(string text)
    {
        byte[] expected = IPAddress.Parse(text).GetAddressBytes();

        Assert.True(InetAddress.TryParse(text, out InetAddress address, out L3Kind family));

        Assert.Equal(L3Kind.IPv6, family);
        Assert.Equal(InetAddress.FromIPv6(expected), address);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("10.0.0")]
    [InlineData("10.0.0.1.2")]
    [InlineData("256.0.0.1")]
    [InlineData("10.0.0.1 ")]
    [InlineData(" 10.0.0.1")]
    [InlineData("10..0.1")]
    [InlineData("10.0.0.")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("127.1")]
    [InlineData("1000.0.0.1")]
    [InlineData("2001:db8::1::2")]
    [InlineData("2001:db8:::1")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("12345::1")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    [InlineData("2001:db8::/32")]
    [InlineData("::ffff:10.0.0")]
    [InlineData("::ffff:10.0.0.256")]
    [InlineData("::ffff:10.0.0.01")]
    [InlineData("g::1")]
    [InlineData("localhost")]
    public void RejectsAnythingElse(string? text)
    {
        Assert.False(InetAddress.TryParse(text, out InetAddress address, out L3Kind family));

        Assert.Equal(default, address);
        Assert.Equal(L3Kind.None, family);
    }
}
