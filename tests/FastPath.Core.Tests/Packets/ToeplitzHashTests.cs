// SPDX-License-Identifier: MIT
using System.Net;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using Xunit;

namespace FastPath.Core.Tests.Packets;

public class ToeplitzHashTests
{
    // The key and vectors of Microsoft's "Verifying the RSS Hash Calculation", which NIC vendors and DPDK's
    // test_thash.c check their Toeplitz implementations against.
    private static readonly byte[] VerificationKey = Convert.FromHexString(
        "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa");

    [Theory]
    [InlineData("66.9.149.187", 2794, "161.142.100.80", 1766, 0x323e8fc2u, 0x51ccc178u)]
    [InlineData("199.92.111.2", 14230, "65.69.140.83", 4739, 0xd718262au, 0xc626b0eau)]
    [InlineData("24.19.198.95", 12898, "12.22.207.184", 38024, 0xd2d0a5deu, 0x5c2b394au)]
    [InlineData("38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176u, 0xafc7327fu)]
    [InlineData("153.39.163.191", 44251, "202.188.127.2", 1303, 0x5d1809c5u, 0x10e828a2u)]
    [InlineData("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766, 0x2cc18cd5u, 0x40207d3du)]
    [InlineData("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739, 0x0f0c461cu, 0xdde51bbfu)]
    [InlineData("3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, "fe80::200:f8ff:fe21:67cf", 38024, 0x4b61e985u, 0x02d1feefu)]
    public void Hash_EqualsTheVerificationSuite(string source, int sourcePort, string destination, int destinationPort, uint addressesHash, uint withPortsHash)
    {
        var toeplitz = new ToeplitzHash(VerificationKey);
        byte[] addresses = [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes()];
        byte[] ports = [(byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort];

        Assert.Equal(addressesHash, toeplitz.Hash(addresses));
        Assert.Equal(withPortsHash, toeplitz.Hash([.. addresses, .. ports]));
    }

    [Theory]
    [InlineData("66.9.149.187")]
    [InlineData("10.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("3ffe:501:8::260:97ff:fe40:efab")]
    [InlineData("2001:db8::")]
    [InlineData("::ffff:192.0.2.1")]
    public void Address_HashesTheAddressBytesAlone(string text)
    {
        var ip = IPAddress.Parse(text);
        var address = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? InetAddress.FromIPv4(ip.GetAddressBytes())
            : InetAddress.FromIPv6(ip.GetAddressBytes());
        var toeplitz = new ToeplitzHash(VerificationKey);

        Assert.Equal(toeplitz.Hash(ip.GetAddressBytes()), toeplitz.Address(address));
    }

    [Fact]
    public void Address_WithTheSymmetricKey_HashesTheAddressBytesAlone()
    {
        // The symmetric key's address hash folds the address to two bytes before looking up; it must still be the
        // hash a device computes over the address's bytes.
        var random = new Random(11);
        var bytes = new byte[16];
        for (int i = 0; i < 2000; i++)
        {
            random.NextBytes(bytes);
            if (i % 7 == 0)
                bytes.AsSpan(8).Clear();
            Assert.Equal(ToeplitzHash.Symmetric.Hash(bytes.AsSpan(0, 4)), ToeplitzHash.Symmetric.Address(InetAddress.FromIPv4(bytes.AsSpan(0, 4))));
            Assert.Equal(ToeplitzHash.Symmetric.Hash(bytes), ToeplitzHash.Symmetric.Address(InetAddress.FromIPv6(bytes)));
        }
    }

    [Fact]
    public void SymmetricKey_HashesBothDirectionsAlike()
    {
        // 0x6d5a repeated: swapping two 32-bit fields (addresses) or two 16-bit fields (ports) shifts them by a whole
        // period of the key, which is why the shim programs it into every device.
        var random = new Random(7);
        for (int i = 0; i < 1000; i++)
        {
            var a = new byte[4];
            var b = new byte[4];
            var ports = new byte[4];
            random.NextBytes(a);
            random.NextBytes(b);
            random.NextBytes(ports);
            byte[] forward = [.. a, .. b, .. ports];
            byte[] reverse = [.. b, .. a, ports[2], ports[3], ports[0], ports[1]];
            Assert.Equal(ToeplitzHash.Symmetric.Hash(forward), ToeplitzHash.Symmetric.Hash(reverse));
        }
    }

    [Fact]
    public void Hash_RefusesInputBeyondTheKey()
    {
        var toeplitz = new ToeplitzHash(VerificationKey);

        Assert.Equal(36, toeplitz.MaxInput);
        Assert.Throws<ArgumentException>(() => toeplitz.Hash(new byte[37]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    public void Indirection_GivesEveryQueueAContiguousBlockOfEntries(int queues)
    {
        var byEntry = Enumerable.Range(0, RssIndirection.Entries).Select(e => RssIndirection.QueueOf((uint)e, queues)).ToList();

        Assert.Equal(Enumerable.Range(0, queues), byEntry.Distinct());
        Assert.Equal(byEntry.Order(), byEntry);
        var sizes = byEntry.GroupBy(q => q).Select(g => g.Count()).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1, $"blocks of {string.Join(", ", sizes)}");
        // Only the low bits of the hash choose: a device's larger table repeats these 64 entries.
        Assert.All(Enumerable.Range(0, 4096), h => Assert.Equal(byEntry[h % RssIndirection.Entries], RssIndirection.QueueOf((uint)h, queues)));
    }

    [Fact]
    public void RecentKeyOwner_IsTheQueueOfADeviceHashingThatAddress()
    {
        var map = new RecentShardMap(0, 3);
        for (uint i = 0; i < 500; i++)
        {
            var address = InetAddress.FromIPv4(0x0A000000 + i * 7919);
            Assert.Equal(RssIndirection.QueueOf(ToeplitzHash.Symmetric.Address(address), 3), map.OwnerOf(address));
        }
    }
}
