// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;

namespace FastPath.Dataplane.Tests.Pcap;

public class PcapClassicTests
{
    private const long Epoch2023 = 1_700_000_000L * 1_000_000_000L;
    private static readonly int[] s_lengths = [60, 0, 1, 14, 61, 1514, 9000, 64];

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public unsafe void RoundTripIsByteExact(bool nanosecond, bool swapped)
    {
        using var first = new TempFile();
        using var second = new TempFile();
        var header = PcapFileHeader.Ethernet(nanosecond, 65535) with { IsSwapped = swapped, ThisZone = -3600, SigFigs = 7 };

        using (var writer = PcapFileWriter.Create(first.Path, header))
        {
            for (int i = 0; i < s_lengths.Length; i++)
                writer.Write(Frames.Make(s_lengths[i], i), (uint)s_lengths[i] + (uint)i, Timestamp(i));
        }

        // The magic is the only field whose bytes are the same in every file, so it shows the byte order.
        bool bigEndian = swapped == BitConverter.IsLittleEndian;
        byte[] magic = nanosecond ? [0xA1, 0xB2, 0x3C, 0x4D] : [0xA1, 0xB2, 0xC3, 0xD4];
        if (!bigEndian)
            Array.Reverse(magic);
        Assert.Equal(magic, File.ReadAllBytes(first.Path).AsSpan(0, 4).ToArray());

        using (var reader = PcapFileReader.Open(first.Path))
        {
            Assert.Equal(header, reader.Header);
            Assert.Equal(nanosecond, reader.Header.IsNanosecond);
            Assert.Equal(swapped, reader.Header.IsSwapped);

            using var writer = PcapFileWriter.Create(second.Path, reader.Header);
            int count = 0;
            while (reader.TryReadNext(out PcapRecord record))
            {
                int length = s_lengths[count];
                Assert.Equal((uint)length, record.CapturedLength);
                Assert.Equal((uint)length + (uint)count, record.OriginalLength);
                long expected = nanosecond ? Timestamp(count) : Timestamp(count) / 1000 * 1000;
                Assert.Equal(expected, record.TimestampNanoseconds);
                Assert.True(record.Span.SequenceEqual(Frames.Make(length, count)));
                writer.Write(new ReadOnlySpan<byte>(record.Data, (int)record.CapturedLength), record.OriginalLength, record.TimestampNanoseconds);
                count++;
            }
            Assert.Equal(s_lengths.Length, count);
            Assert.False(reader.TryReadNext(out _));
        }

        Assert.Equal(File.ReadAllBytes(first.Path), File.ReadAllBytes(second.Path));
    }

    [Fact]
    public void ReadsHandBuiltBigEndianNanosecondFile()
    {
        byte[] bytes =
        [
            0xA1, 0xB2, 0x3C, 0x4D, 0x00, 0x02, 0x00, 0x04, // magic, version 2.4
            0xFF, 0xFF, 0xF1, 0xF0, 0x00, 0x00, 0x00, 0x00, // thiszone -3600, sigfigs
            0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01, // snaplen 65535, Ethernet
            0x65, 0x53, 0xF1, 0x00, 0x07, 0x5B, 0xCD, 0x15, // 1700000000 s, 123456789 ns
            0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x3C, // caplen 4, origlen 60
            0xDE, 0xAD, 0xBE, 0xEF,
        ];
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        var expected = new PcapFileHeader(PcapFileHeader.NanosecondMagic, 2, 4, -3600, 0, 65535, 1, IsSwapped: BitConverter.IsLittleEndian);
        Assert.Equal(expected, reader.Header);
        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(1_700_000_000_123_456_789L, record.TimestampNanoseconds);
        Assert.Equal(4u, record.CapturedLength);
        Assert.Equal(60u, record.OriginalLength);
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF }, record.Span.ToArray());
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void SnapLengthTruncatedRecordKeepsOriginalLength()
    {
        using var file = new TempFile();
        byte[] frame = Frames.Make(1514, 3);
        using (var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: false, snapLength: 64)))
            writer.Write(frame.AsSpan(0, 64), originalLength: 1514, Epoch2023);

        using var reader = PcapFileReader.Open(file.Path);
        Assert.Equal(64u, reader.Header.SnapLength);
        Assert.True(reader.TryReadNext(out PcapRecord record));
        Assert.Equal(64u, record.CapturedLength);
        Assert.Equal(1514u, record.OriginalLength);
        Assert.True(record.Span.SequenceEqual(frame.AsSpan(0, 64)));
    }

    [Fact]
    public void RecordLongerThanTheSnapLengthIsCutToItAsLibpcapCutsIt()
    {
        using var file = new TempFile();
        byte[] frame = Frames.Make(100, 5);
        using (var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: false, snapLength: 60)))
        {
            writer.Write(frame, originalLength: 100, Epoch2023);
            writer.Write(frame.AsSpan(0, 42), originalLength: 42, Epoch2023);
        }

        using var reader = PcapFileReader.Open(file.Path);
        Assert.True(reader.TryReadNext(out PcapRecord first));
        Assert.True(first.Span.SequenceEqual(frame.AsSpan(0, 60)));
        Assert.Equal(100u, first.OriginalLength);
        Assert.True(reader.TryReadNext(out PcapRecord second));
        Assert.True(second.Span.SequenceEqual(frame.AsSpan(0, 42)));
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void RecordOverTheLargestSnapLengthIsRefused()
    {
        using var file = new TempFile();
        using (var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: false, snapLength: 0)))
            writer.Write(new byte[262145], originalLength: 262145, Epoch2023);

        using var reader = PcapFileReader.Open(file.Path);
        var error = Assert.Throws<InvalidDataException>(() => reader.TryReadNext(out _));
        Assert.Contains("captured length 262145 is over the maximum of 262144", error.Message);
    }

    [Fact]
    public void EmptyCaptureHasNoRecords()
    {
        using var file = new TempFile();
        using (PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: true)))
        {
        }

        Assert.Equal(24, new FileInfo(file.Path).Length);
        using var reader = PcapFileReader.Open(file.Path);
        Assert.Equal(PcapFileHeader.Ethernet(nanosecond: true), reader.Header);
        Assert.False(reader.TryReadNext(out _));
    }

    [Fact]
    public void WriterRejectsTimestampsThePcapFieldsCannotHold()
    {
        using var file = new TempFile();
        using var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write([1, 2, 3], 3, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write([1, 2, 3], 3, (uint.MaxValue + 1L) * 1_000_000_000L));
        Assert.Throws<ArgumentException>(() => PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(false) with { Magic = 0x12345678 }));
    }

    [Fact]
    public void ReadingAndWritingDoNotAllocatePerRecord()
    {
        using var source = new TempFile();
        using var copy = new TempFile();
        byte[] frame = Frames.Make(100, 1);
        const int Records = 20_000; // well past the writer's buffer, so flushes are measured too

        using (var writer = PcapFileWriter.Create(source.Path, PcapFileHeader.Ethernet(nanosecond: true)))
        {
            // The first half warms up: flushes, and the JIT's on-stack replacement of the loop, which allocates on this thread.
            for (int i = 0; i < Records / 2; i++)
                writer.Write(frame, 100, Epoch2023 + i);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = Records / 2; i < Records; i++)
                writer.Write(frame, 100, Epoch2023 + i);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        using var reader = PcapFileReader.Open(source.Path);
        long sum = 0;
        for (int i = 0; i < Records / 2 && reader.TryReadNext(out PcapRecord warm); i++)
            sum += warm.CapturedLength;
        long start = GC.GetAllocatedBytesForCurrentThread();
        while (reader.TryReadNext(out PcapRecord record))
            sum += record.CapturedLength;
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - start);
        Assert.Equal(100L * Records, sum);
    }

    private static long Timestamp(int index) => Epoch2023 + index * 1_001_001L + (index % 3) * 123;
}
