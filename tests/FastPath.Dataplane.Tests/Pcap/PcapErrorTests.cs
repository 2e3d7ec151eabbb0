// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;

namespace FastPath.Dataplane.Tests.Pcap;

public class PcapErrorTests
{
    [Fact]
    public void BadMagicNamesFileAndOffset()
    {
        byte[] bytes = new byte[64];
        "MZ"u8.CopyTo(bytes);
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => PcapFileReader.Open(file.Path));
        Assert.Contains(file.Path, error.Message);
        Assert.Contains("byte offset 0", error.Message);
        Assert.Contains("magic", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(23)]
    public void TruncatedClassicHeaderIsRejected(int length)
    {
        byte[] bytes = WriteClassic(1).AsSpan(0, length).ToArray();
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => PcapFileReader.Open(file.Path));
        Assert.Contains(file.Path, error.Message);
        Assert.Contains($"byte offset {length}", error.Message);
        Assert.Contains("truncated file header", error.Message);
    }

    [Theory]
    [InlineData(1)]   // one byte of data missing
    [InlineData(70)]  // the whole frame and part of the record header missing
    public void RecordCutShortAtEndOfFileNamesRecordAndOffset(int missing)
    {
        byte[] whole = WriteClassic(3);
        using var file = new TempFile(whole.AsSpan(0, whole.Length - missing).ToArray());
        using var reader = PcapFileReader.Open(file.Path);

        Assert.True(reader.TryReadNext(out _));
        Assert.True(reader.TryReadNext(out _));
        var error = Assert.Throws<InvalidDataException>(() => reader.TryReadNext(out _));
        Assert.Contains("record 3", error.Message);
        Assert.Contains($"byte offset {24 + 2 * (16 + 60)}", error.Message);
        Assert.Contains("cut short", error.Message);
    }

    [Fact]
    public void PcapngBadBlockLengthIsRejectedAtOpen()
    {
        byte[] bytes = new PcapngBuilder().SectionHeader(bigEndian: false).Interface(1, 0).ToArray();
        bytes[4] = 27; // section header length no longer a multiple of 4
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => PcapFileReader.Open(file.Path));
        Assert.Contains("byte offset 0", error.Message);
        Assert.Contains("invalid total length 27", error.Message);
    }

    [Fact]
    public void PcapngTruncatedSectionHeaderIsRejected()
    {
        byte[] bytes = new PcapngBuilder().SectionHeader(bigEndian: true).ToArray().AsSpan(0, 20).ToArray();
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => PcapFileReader.Open(file.Path));
        Assert.Contains("byte offset 20", error.Message);
        Assert.Contains("truncated file header", error.Message);
    }

    [Fact]
    public void PcapngBadByteOrderMagicIsRejected()
    {
        byte[] bytes = new PcapngBuilder().SectionHeader(bigEndian: false).ToArray();
        bytes[8] ^= 0xFF;
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => PcapFileReader.Open(file.Path));
        Assert.Contains("byte offset 8", error.Message);
        Assert.Contains("byte-order magic", error.Message);
    }

    [Fact]
    public void PcapngMismatchedTrailingLengthNamesTheOffset()
    {
        byte[] bytes = new PcapngBuilder().SectionHeader(bigEndian: false).Interface(1, 0).EnhancedPacket(0, 1, Frames.Make(60, 0), 60).ToArray();
        bytes[^4] ^= 0x04; // trailing length differs from the leading one
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        var error = Assert.Throws<InvalidDataException>(() => reader.TryReadNext(out _));
        Assert.Contains($"byte offset {bytes.Length - 4}", error.Message);
        Assert.Contains("trailing length", error.Message);
    }

    [Fact]
    public void PcapngPacketCutShortAtEndOfFileNamesRecordAndOffset()
    {
        var builder = new PcapngBuilder().SectionHeader(bigEndian: true).Interface(1, 0).EnhancedPacket(0, 1, Frames.Make(60, 0), 60);
        int secondOffset = builder.Length;
        byte[] whole = builder.EnhancedPacket(0, 2, Frames.Make(60, 1), 60).ToArray();
        using var file = new TempFile(whole.AsSpan(0, whole.Length - 10).ToArray());
        using var reader = PcapFileReader.Open(file.Path);

        Assert.True(reader.TryReadNext(out _));
        var error = Assert.Throws<InvalidDataException>(() => reader.TryReadNext(out _));
        Assert.Contains("record 2", error.Message);
        Assert.Contains($"byte offset {secondOffset}", error.Message);
        Assert.Contains("cut short", error.Message);
    }

    [Fact]
    public void PcapngPacketOnUndefinedInterfaceIsRejected()
    {
        byte[] bytes = new PcapngBuilder().SectionHeader(bigEndian: false).Interface(1, 0).EnhancedPacket(1, 1, Frames.Make(60, 0), 60).ToArray();
        using var file = new TempFile(bytes);
        using var reader = PcapFileReader.Open(file.Path);

        var error = Assert.Throws<InvalidDataException>(() => reader.TryReadNext(out _));
        Assert.Contains("record 1", error.Message);
        Assert.Contains("interface 1", error.Message);
    }

    [Fact]
    public void DisposedReaderThrows()
    {
        using var file = new TempFile(WriteClassic(1));
        var reader = PcapFileReader.Open(file.Path);
        reader.Dispose();
        reader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => reader.TryReadNext(out _));
    }

    /// <summary>The good records before a damaged one still come out, a burst at a time; the next receive raises the damage.</summary>
    [Fact]
    public void ARecordCutShortEndsTheReplayAfterTheGoodOnesBeforeIt()
    {
        byte[] whole = WriteClassic(40);
        using var file = new TempFile(whole.AsSpan(0, whole.Length - 10).ToArray());
        using var port = FastPath.Dataplane.Ports.PcapFilePort.OpenReader("in", file.Path);
        var burst = new FastPath.Dataplane.Ports.PacketBurst();

        Assert.Equal(32, port.Receive(0, burst));
        Assert.Equal(7, port.Receive(0, burst));
        Assert.False(port.IsExhausted(0));
        Assert.Contains("record 40 is cut short", Assert.Throws<InvalidDataException>(() => port.Receive(0, burst)).Message);
        Assert.Throws<InvalidDataException>(() => port.Receive(0, burst));
    }

    /// <summary>Another link type read as Ethernet would cross unfiltered: such a capture is refused, naming its link type.</summary>
    [Fact]
    public void ACaptureThatIsNotEthernetIsRefused()
    {
        byte[] bytes = WriteClassic(1);
        bytes[20] = 101; // LINKTYPE_RAW, little-endian header
        using var file = new TempFile(bytes);

        var error = Assert.Throws<InvalidDataException>(() => FastPath.Dataplane.Ports.PcapFilePort.OpenReader("in", file.Path));
        Assert.Contains("link type 101 is not Ethernet", error.Message);
    }

    /// <summary>
    /// A pcapng capture on an Ethernet interface and on a raw-IP one (dumpcap -i eth0 -i tun0): the Ethernet frames
    /// before the first raw-IP record go through, then the replay stops naming that record, instead of reading it as
    /// Ethernet and letting it cross unfiltered.
    /// </summary>
    [Fact]
    public void ALaterInterfaceThatIsNotEthernetEndsTheReplayAtItsFirstRecord()
    {
        byte[] bytes = new PcapngBuilder()
            .SectionHeader(bigEndian: false)
            .Interface(1, 0)
            .Interface(101, 0)
            .EnhancedPacket(0, 1, Frames.Make(60, 1), 60)
            .EnhancedPacket(0, 2, Frames.Make(60, 2), 60)
            .EnhancedPacket(1, 3, Frames.Make(60, 3), 60)
            .ToArray();
        using var file = new TempFile(bytes);
        using var port = FastPath.Dataplane.Ports.PcapFilePort.OpenReader("in", file.Path);
        var burst = new FastPath.Dataplane.Ports.PacketBurst();

        Assert.Equal(2, port.Receive(0, burst));
        var error = Assert.Throws<InvalidDataException>(() => port.Receive(0, burst));
        Assert.Equal($"{file.Path}: record 3 has link type 101, not 1: FastPath reads Ethernet frames", error.Message);
    }

    private static byte[] WriteClassic(int records)
    {
        using var file = new TempFile();
        using (var writer = PcapFileWriter.Create(file.Path, PcapFileHeader.Ethernet(nanosecond: false)))
        {
            for (int i = 0; i < records; i++)
                writer.Write(Frames.Make(60, i), 60, 1_700_000_000_000_000_000L + i);
        }
        return File.ReadAllBytes(file.Path);
    }
}
