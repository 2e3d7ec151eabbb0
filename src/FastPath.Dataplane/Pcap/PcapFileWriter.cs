// SPDX-License-Identifier: MIT
using System.Buffers.Binary;

namespace FastPath.Dataplane.Pcap;

/// <summary>
/// Writes classic pcap. The header goes out exactly as given, in the byte order it names, so a classic file
/// read with <see cref="PcapFileReader"/> and rewritten record by record is byte-identical. Writing a record
/// allocates nothing.
/// </summary>
public sealed class PcapFileWriter : IDisposable
{
    private const int BufferSize = 1 << 20;
    private const int HeaderLength = 24;
    private const int RecordHeaderLength = 16;

    private readonly FileStream _stream;
    private readonly bool _bigEndian;
    private readonly bool _nanosecond;

    private PcapFileWriter(FileStream stream, in PcapFileHeader header)
    {
        _stream = stream;
        // "Swapped" is relative to this machine, the bytes on disk are not.
        _bigEndian = header.IsSwapped == BitConverter.IsLittleEndian;
        _nanosecond = header.IsNanosecond;
        Header = header;
    }

    public PcapFileHeader Header { get; }

    public static PcapFileWriter Create(string path, in PcapFileHeader header)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (header.Magic is not (PcapFileHeader.MicrosecondMagic or PcapFileHeader.NanosecondMagic))
            throw new ArgumentException($"Magic 0x{header.Magic:X8} is neither the microsecond nor the nanosecond pcap magic.", nameof(header));

        var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, BufferSize);
        try
        {
            var writer = new PcapFileWriter(stream, header);
            writer.WriteFileHeader(header);
            return writer;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one record. <paramref name="timestampNanoseconds"/> counts from the Unix epoch and is truncated
    /// to microseconds for a microsecond file.
    /// </summary>
    public void Write(ReadOnlySpan<byte> frame, uint originalLength, long timestampNanoseconds)
    {
        long seconds = timestampNanoseconds / 1_000_000_000L;
        if (timestampNanoseconds < 0 || seconds > uint.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(timestampNanoseconds), timestampNanoseconds, "The pcap timestamp holds unsigned 32-bit seconds since the epoch.");
        uint fraction = (uint)(timestampNanoseconds % 1_000_000_000L);
        if (!_nanosecond)
            fraction /= 1_000;

        Span<byte> header = stackalloc byte[RecordHeaderLength];
        Put32(header, (uint)seconds);
        Put32(header.Slice(4), fraction);
        Put32(header.Slice(8), (uint)frame.Length);
        Put32(header.Slice(12), originalLength);
        _stream.Write(header);
        _stream.Write(frame);
    }

    /// <summary>Pushes buffered records to the operating system.</summary>
    public void Flush() => _stream.Flush();

    public void Dispose() => _stream.Dispose();

    private void WriteFileHeader(in PcapFileHeader header)
    {
        Span<byte> bytes = stackalloc byte[HeaderLength];
        Put32(bytes, header.Magic);
        Put16(bytes.Slice(4), header.VersionMajor);
        Put16(bytes.Slice(6), header.VersionMinor);
        Put32(bytes.Slice(8), (uint)header.ThisZone);
        Put32(bytes.Slice(12), header.SigFigs);
        Put32(bytes.Slice(16), header.SnapLength);
        Put32(bytes.Slice(20), header.LinkType);
        _stream.Write(bytes);
    }

    private void Put16(Span<byte> destination, ushort value)
    {
        if (_bigEndian)
            BinaryPrimitives.WriteUInt16BigEndian(destination, value);
        else
            BinaryPrimitives.WriteUInt16LittleEndian(destination, value);
    }

    private void Put32(Span<byte> destination, uint value)
    {
        if (_bigEndian)
            BinaryPrimitives.WriteUInt32BigEndian(destination, value);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(destination, value);
    }
}
