// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;

namespace FastPath.Dataplane.Tests.Pcap;

public class PcapngReaderTests
{
    private const ushort LinkTypeRaw = 101;

    [Fact]
    public void TwoInterfacesWithDifferentResolutionsGiveNanosecondTimestamps()
    {
        byte[] first = Frames.Make(60, 1);
        byte[] second = Frames.Make(77, 2);
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian: false)
            .Interface(1, 0)                          // no if_tsresol: microseconds
            .Block(4, [0, 0, 0, 0])                   // name resolution block: skipped
            .Interface(LinkTypeRaw, 65535, tsResol: 9) // nanoseconds
            .EnhancedPacket(0, 1_700_000_000_123_456UL, first, 1514)
            .Block(0x00000BAD, [1, 2, 3, 4, 5])       // custom block: skipped
            .EnhancedPacket(1, 1_700_000_000_987_654_321UL, second, 77)
            .Block(5, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) // interface statistics: skipped
            .ToArray();
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        var expectedHeader = new PcapFileHeader(PcapFileHeader.NanosecondMagic, 2, 4, 0, 0, 262144, 1, IsSwapped: false);
        Assert.Equal(expectedHeader, reader.Header);
        Assert.True(reader.Header.IsNanosecond);

        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(1_700_000_000_123_456_000L, record.TimestampNanoseconds);
        Assert.Equal(60u, record.CapturedLength);
        Assert.Equal(1514u, record.OriginalLength);
        Assert.True(record.Span.SequenceEqual(first));
        Assert.Equal(1u, reader.LinkType);

        Assert.True(reader.TryReadNext(out record));
        Assert.Equal(1_700_000_000_987_654_321L, record.TimestampNanoseconds);
        Assert.Equal(77u, record.CapturedLength);
        Assert.Equal(77u, record.OriginalLength);
        Assert.True(record.Span.SequenceEqual(second));
        Assert.Equal((uint)LinkTypeRaw, reader.LinkType);

        Assert.False(reader.TryReadNext(out _));
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void BigEndianSectionWithPowerOf2AndOtherPowerOf10Resolutions()
    {
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian: true)
            .Interface(LinkTypeRaw, 0, tsResol: 0x80 | 10, tsOffsetSeconds: 1_700_000_000) // 1/1024 s, offset
            .Interface(1, 0, tsResol: 3)                                                  // milliseconds
            .Interface(1, 0, tsResol: 12)                                                 // picoseconds
            .EnhancedPacket(0, 5 * 1024 + 512, Frames.Make(20, 0), 20)
            .EnhancedPacket(1, 1_700_000_000_042UL, Frames.Make(30, 1), 30)
            .EnhancedPacket(2, 5_000_000_123_456UL, Frames.Make(40, 2), 40)
            .ToArray();
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        // The synthesised header is always in this machine's byte order.
        Assert.False(reader.Header.IsSwapped);
        Assert.Equal((uint)LinkTypeRaw, reader.Header.LinkType);

        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(1_700_000_005_500_000_000L, record.TimestampNanoseconds);
        Assert.True(record.Span.SequenceEqual(Frames.Make(20, 0)));
        Assert.True(reader.TryReadNext(out record));
        Assert.Equal(1_700_000_000_042_000_000L, record.TimestampNanoseconds);
        Assert.True(reader.TryReadNext(out record));
        Assert.Equal(5_000_000_123L, record.TimestampNanoseconds);
        Assert.Equal(40u, record.CapturedLength);
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void NewSectionResetsInterfacesAndByteOrder()
    {
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian: false)
            .Interface(1, 0, tsResol: 9)
            .EnhancedPacket(0, 1_000, Frames.Make(60, 0), 60)
            .SectionHeader(bigEndian: true)
            .Interface(LinkTypeRaw, 0)
            .EnhancedPacket(0, 2_000, Frames.Make(61, 1), 61)
            .ToArray();
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        Assert.Equal(1u, reader.Header.LinkType);
        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(1_000L, record.TimestampNanoseconds);
        Assert.Equal(1u, reader.LinkType);
        Assert.True(reader.TryReadNext(out record));
        Assert.Equal(2_000_000L, record.TimestampNanoseconds); // the new interface is back to microseconds
        Assert.Equal(61u, record.CapturedLength);
        Assert.True(record.Span.SequenceEqual(Frames.Make(61, 1)));
        Assert.Equal((uint)LinkTypeRaw, reader.LinkType);
        Assert.False(reader.TryReadNext(out _));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SimplePacketBlocksAreCutToTheSnapLength(bool bigEndian)
    {
        byte[] small = Frames.Make(60, 5);
        byte[] large = Frames.Make(64, 6);
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian)
            .Interface(1, snapLength: 64)
            .SimplePacket(60, small)
            .SimplePacket(1500, large)
            .ToArray();
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(60u, record.CapturedLength);
        Assert.Equal(60u, record.OriginalLength);
        Assert.Equal(0L, record.TimestampNanoseconds); // SPBs carry no timestamp
        Assert.True(record.Span.SequenceEqual(small));

        Assert.True(reader.TryReadNext(out record));
        Assert.Equal(64u, record.CapturedLength);
        Assert.Equal(1500u, record.OriginalLength);
        Assert.True(record.Span.SequenceEqual(large));
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void PcapngRewrittenAsClassicNanosecondKeepsEverything()
    {
        byte[] frame = Frames.Make(90, 9);
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian: false)
            .Interface(1, 0, tsResol: 9)
            .EnhancedPacket(0, 1_700_000_000_000_000_001UL, frame, 128)
            .ToArray();
        using var source = new TempFile(bytes);
        using var classic = new TempFile();

        using (var reader = PcapFileReader.Open(source.Path))
        using (var writer = PcapFileWriter.Create(classic.Path, reader.Header))
        {
            while (reader.TryReadNext(out PcapRecord record))
                writer.Write(record.Span, record.OriginalLength, record.TimestampNanoseconds);
        }

        using var check = PcapFileReader.Open(classic.Path);
        Assert.Equal(PcapFileHeader.Ethernet(nanosecond: true), check.Header);
        Assert.True(check.TryReadNext(out PcapRecord copy));
        Assert.Equal(1_700_000_000_000_000_001L, copy.TimestampNanoseconds);
        Assert.Equal(128u, copy.OriginalLength);
        Assert.True(copy.Span.SequenceEqual(frame));
    }
}
