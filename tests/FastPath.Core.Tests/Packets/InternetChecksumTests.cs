// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Packets;
using Xunit;

namespace FastPath.Core.Tests.Packets;

public class InternetChecksumTests
{
    // The worked example of a real IPv4 header (192.168.0.1 -> 192.168.0.199), checksum 0xb861.
    private static readonly byte[] Ipv4Header =
        [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xB8, 0x61, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7];

    [Fact]
    public void ComputesTheRfc1071Example()
    {
        // RFC 1071 section 3: these bytes sum to 0xddf2, so the checksum is its complement, 0x220d.
        byte[] data = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7];

        Assert.Equal(0x220D, InternetChecksum.Compute(data));
    }

    [Fact]
    public void ComputesARealIpv4HeaderChecksum()
    {
        byte[] header = (byte[])Ipv4Header.Clone();
        header[10] = 0;
        header[11] = 0;

        Assert.Equal(0xB861, InternetChecksum.Compute(header));
        Assert.True(InternetChecksum.Verify(Ipv4Header));
    }

    [Fact]
    public void VerifyRejectsAnyFlippedBit()
    {
        for (int bit = 0; bit < Ipv4Header.Length * 8; bit++)
        {
            byte[] header = (byte[])Ipv4Header.Clone();
            header[bit / 8] ^= (byte)(1 << (bit % 8));

            Assert.False(InternetChecksum.Verify(header), $"bit {bit}");
        }
    }

    [Fact]
    public void OddLengthPadsWithAZeroByte()
    {
        byte[] odd = [0x12, 0x34, 0x56];
        byte[] padded = [0x12, 0x34, 0x56, 0x00];

        Assert.Equal(InternetChecksum.Compute(padded), InternetChecksum.Compute(odd));
    }

    [Fact]
    public void CarriesWrapAround()
    {
        // 0xffff + 0xffff + 0x0002 = 0x20000 -> end-around carries give 0x0002, checksum 0xfffd.
        Assert.Equal(0xFFFD, InternetChecksum.Compute([0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x02]));
    }

    [Fact]
    public void StoringTheComputedValueMakesAnyBufferVerify()
    {
        var random = new Random(42);
        for (int length = 2; length < 200; length += 2)
        {
            var data = new byte[length];
            random.NextBytes(data);
            data[0] = 0;
            data[1] = 0;

            BinaryPrimitives.WriteUInt16BigEndian(data, InternetChecksum.Compute(data));

            Assert.True(InternetChecksum.Verify(data), $"length {length}");
        }
    }

    [Fact]
    public void AllZeroHeaderDoesNotVerify()
    {
        Assert.False(InternetChecksum.Verify(new byte[20]));
    }
}
