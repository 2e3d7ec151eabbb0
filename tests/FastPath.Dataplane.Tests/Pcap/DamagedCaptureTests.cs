// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;

namespace FastPath.Dataplane.Tests.Pcap;

/// <summary>
/// Captures damaged at random (bytes changed, 32-bit fields set to edge values, cut short, trailing junk), classic
/// and pcapng in both byte orders: the reader either reads records or stops with an
/// <see cref="InvalidDataException"/> naming a byte offset, never with another exception, and never reads a record
/// larger than the file.
/// </summary>
public class DamagedCaptureTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void DamagedCapturesAreReadOrRefusedAtAByteOffset(int seed)
    {
        var random = new Random(seed);
        byte[][] captures = [Classic(nanosecond: false), Classic(nanosecond: true), Pcapng(bigEndian: false), Pcapng(bigEndian: true)];
        int refused = 0;
        for (int i = 0; i < 300; i++)
        {
            byte[] bytes = Damage(captures[random.Next(captures.Length)], random);
            using var file = new TempFile(bytes);
            try
            {
                using var reader = PcapFileReader.Open(file.Path);
                while (reader.TryReadNext(out var record))
                    Assert.InRange(record.Span.Length, 0, bytes.Length);
            }
            catch (InvalidDataException e)
            {
                refused++;
                Assert.Contains(file.Path, e.Message);
                Assert.Contains("byte offset", e.Message);
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name}: {e.Message}\nfor the capture {Convert.ToHexString(bytes)}");
            }
        }
        Assert.InRange(refused, 30, 299);
    }

    private static byte[] Damage(byte[] capture, Random random)
    {
        var bytes = capture.ToList();
        for (int change = random.Next(1, 4); change > 0; change--)
        {
            switch (random.Next(4))
            {
                case 0:
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                    break;
                case 1 when bytes.Count >= 4:
                    // Lengths and counts are 32-bit: the edges that overflow arithmetic or ask for huge buffers.
                    int at = random.Next(bytes.Count - 3) & ~3;
                    uint value = random.Next(4) switch { 0 => 0, 1 => uint.MaxValue, 2 => 0x7FFFFFFF, _ => (uint)random.Next() };
                    for (int k = 0; k < 4; k++)
                        bytes[at + k] = (byte)(value >> (8 * k));
                    break;
                case 2:
                    bytes = bytes.Take(random.Next(bytes.Count + 1)).ToList();
                    break;
                default:
                    bytes.AddRange(Enumerable.Range(0, random.Next(1, 64)).Select(_ => (byte)random.Next(256)));
                    break;
            }
            if (bytes.Count == 0)
                break;
        }
        return [.. bytes];
    }

    private static byte[] Classic(bool nanosecond)
    {
        using var file = new TempFile();
        using (var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond)))
        {
            for (int i = 0; i < 4; i++)
                writer.Write(Frames.Make(60 + i * 10, i), (uint)(60 + i * 10), 1_700_000_000_000_000_000L + i);
        }
        return File.ReadAllBytes(file.Path);
    }

    private static byte[] Pcapng(bool bigEndian) => new PcapngBuilder()
        .SectionHeader(bigEndian)
        .Interface(1, 0, tsResol: 9)
        .EnhancedPacket(0, 1, Frames.Make(60, 0), 60)
        .SimplePacket(64, Frames.Make(64, 1))
        .Interface(1, 128)
        .EnhancedPacket(1, 2, Frames.Make(100, 2), 1500)
        .ToArray();
}
