// SPDX-License-Identifier: MIT
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Core.Tests.Rules;

/// <summary>inet_aton's forms, as iptables reads a dotted --mask (values checked against iptables-legacy -S).</summary>
public class InetAtonTextTests
{
    [Theory]
    [InlineData("255.255.255.0", 0xFFFFFF00u)]
    [InlineData("1.2.3", 0x01020003u)]
    [InlineData("1.65536", 0x01010000u)]
    [InlineData("10", 0x0000000Au)]
    [InlineData("4294967295", 0xFFFFFFFFu)]
    [InlineData("010.0.0.1", 0x08000001u)]
    [InlineData("0x0a.1.2.3", 0x0A010203u)]
    [InlineData("0", 0u)]
    [InlineData("0xFF.0.0.0", 0xFF000000u)]
    public void AcceptedFormsGiveTheAddressIptablesStores(string text, uint expected)
    {
        Assert.True(InetAtonText.TryParse(text, out uint address));
        Assert.Equal(expected, address);
    }

    [Theory]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.0.0.0")]
    [InlineData("0x100.0.0.0")]
    [InlineData("4294967296")]
    [InlineData("08.0.0.0")]
    [InlineData("1..2")]
    [InlineData(".")]
    [InlineData("1.2.3.4/8")]
    [InlineData("255.255.255.0x")]
    [InlineData("0x")]
    [InlineData("1.16777216")]
    [InlineData("")]
    public void OtherTextIsRefused(string text) => Assert.False(InetAtonText.TryParse(text, out _));

    // inet_aton itself (conntrack -s, checked against conntrack 1.4.7) stops at white space; before it, it is as strict.
    [Theory]
    [InlineData("1.2.3.4 junk", true)]
    [InlineData("1.2.3\tx", true)]
    [InlineData("1.2.3.4\n", true)]
    [InlineData("1.2.3.4junk", false)]
    [InlineData(" 1.2.3.4", false)]
    [InlineData("1. 2", false)]
    public void TheTextBeforeWhiteSpaceIsWhatInetAtonReads(string text, bool accepted)
    {
        Assert.Equal(accepted, InetAtonText.TryParseToSpace(text, out uint address));
        if (accepted)
            Assert.True(InetAtonText.TryParse(text.Split(' ', '\t', '\n')[0], out uint exact) && exact == address);
    }
}
