// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using FastPath.Core;

namespace FastPath.Dataplane.Pcap;

/// <summary>
/// Forward-only reader for classic pcap (either byte order, µs or ns) and pcapng files. The file is
/// memory-mapped once and records point straight into the mapping, so reading allocates nothing per record.
/// As with any mapping, the file must not be truncated by someone else while it is open.
/// </summary>
public sealed unsafe class PcapFileReader : IDisposable
{
    private const uint SectionHeaderBlock = 0x0A0D0D0A;
    private const uint InterfaceDescriptionBlock = 1;
    private const uint SimplePacketBlock = 3;
    private const uint EnhancedPacketBlock = 6;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const int ClassicHeaderLength = 24;
    private const int ClassicRecordHeaderLength = 16;
    // libpcap's largest snap length for Ethernet, and what it takes a snap length of 0 to mean.
    private const uint MaximumSnapLength = PcapFileHeader.DefaultSnapLength;
    private const int MinimumBlockLength = 12;
    private const int MinimumSectionHeaderLength = 28;
    private const ushort OptionEnd = 0;
    private const ushort OptionTsResol = 9;
    private const ushort OptionTsOffset = 14;
    private const byte DefaultTsResol = 6;

    private static readonly ulong[] s_powersOf10 = BuildPowersOf10();

    private readonly string _path;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;
    // Interfaces of the current pcapng section; grows only when an IDB is read, never per record.
    private readonly List<Interface> _interfaces = new();
    private bool _isPcapng;
    private long _offset;
    private long _recordsRead;
    private bool _swapped;
    private bool _nanosecond;
    private bool _disposed;

    private PcapFileReader(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, long length)
    {
        _path = path;
        _file = file;
        _view = view;
        _length = length;

        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
    }

    /// <summary>
    /// For classic files, the header exactly as stored. For pcapng, a synthesised classic nanosecond header
    /// carrying the link type of the first section's interface 0 (Ethernet if the section declares none).
    /// </summary>
    public PcapFileHeader Header { get; private set; }

    /// <summary>Link type of the record last returned by <see cref="TryReadNext"/> (pcapng interfaces may differ).</summary>
    public uint LinkType { get; private set; }

    public static PcapFileReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // The capture is mapped into memory: a pipe cannot be, and opening a FIFO would wait for a writer.
        switch (UnixFile.Kind(path))
        {
            case UnixFileKind.Directory:
                throw new IOException($"{path}: Is a directory");
            case UnixFileKind.Fifo or UnixFileKind.Socket or UnixFileKind.Other:
                throw new IOException($"{path}: not a regular file: FastPath maps the capture into memory (write it to a file first)");
        }

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        PcapFileReader? reader = null;
        try
        {
            long length = stream.Length;
            if (length < 4)
            {
                // Too short to hold any magic; also, an empty file cannot be mapped at all.
                throw new InvalidDataException(
                    $"{path}: at byte offset {length}: truncated file header: the file is {length} bytes, a pcap header needs {ClassicHeaderLength}");
            }

            file = MemoryMappedFile.CreateFromFile(stream, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            reader = new PcapFileReader(path, file, view, length);
            reader.ReadFileHeader();
            return reader;
        }
        catch
        {
            if (reader is not null)
            {
                reader.Dispose();
            }
            else
            {
                view?.Dispose();
                file?.Dispose();
                stream.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// Reads the next packet. Returns false at the clean end of the file; throws <see cref="InvalidDataException"/>
    /// when a record or block is cut short or malformed.
    /// </summary>
    public bool TryReadNext(out PcapRecord record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _isPcapng ? TryReadNextBlock(out record) : TryReadNextClassic(out record);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private void ReadFileHeader()
    {
        _isPcapng = Unsafe.ReadUnaligned<uint>(_base) == SectionHeaderBlock;
        if (_isPcapng)
            ReadFirstSection();
        else
            ReadClassicHeader();
    }

    private void ReadClassicHeader()
    {
        uint raw = Unsafe.ReadUnaligned<uint>(_base);
        uint swappedRaw = BinaryPrimitives.ReverseEndianness(raw);
        if (raw is PcapFileHeader.MicrosecondMagic or PcapFileHeader.NanosecondMagic)
            _swapped = false;
        else if (swappedRaw is PcapFileHeader.MicrosecondMagic or PcapFileHeader.NanosecondMagic)
            _swapped = true;
        else
            throw Invalid(0, $"not a pcap or pcapng file: unknown magic bytes {Convert.ToHexString(new ReadOnlySpan<byte>(_base, 4))}");

        if (_length < ClassicHeaderLength)
            throw Invalid(_length, $"truncated file header: the file is {_length} bytes, the pcap header needs {ClassicHeaderLength}");

        uint magic = _swapped ? swappedRaw : raw;
        _nanosecond = magic == PcapFileHeader.NanosecondMagic;
        Header = new PcapFileHeader(
            magic,
            Read16(4),
            Read16(6),
            (int)Read32(8),
            Read32(12),
            Read32(16),
            Read32(20),
            _swapped);
        LinkType = Header.LinkType;
        _offset = ClassicHeaderLength;
    }

    private bool TryReadNextClassic(out PcapRecord record)
    {
        long remaining = _length - _offset;
        if (remaining == 0)
        {
            record = default;
            return false;
        }

        long recordNumber = _recordsRead + 1;
        if (remaining < ClassicRecordHeaderLength)
        {
            throw Invalid(_offset,
                $"record {recordNumber} is cut short: its {ClassicRecordHeaderLength}-byte header has only {remaining} bytes before the end of the file");
        }

        uint seconds = Read32(_offset);
        uint fraction = Read32(_offset + 4);
        uint capturedLength = Read32(_offset + 8);
        uint originalLength = Read32(_offset + 12);
        if (capturedLength > remaining - ClassicRecordHeaderLength)
        {
            throw Invalid(_offset,
                $"record {recordNumber} is cut short: captured length {capturedLength} but only {remaining - ClassicRecordHeaderLength} bytes follow its header");
        }

        if (capturedLength > MaximumSnapLength)
            throw Invalid(_offset + 8, $"record {recordNumber}: captured length {capturedLength} is over the maximum of {MaximumSnapLength}");

        // Cannot overflow: 2^32 seconds is about 4.3e18 ns.
        long timestamp = seconds * 1_000_000_000L + fraction * (_nanosecond ? 1L : 1_000L);
        // As libpcap reads it: a record longer than the file's snap length is cut to it (the rest is skipped).
        uint snapshot = Header.SnapLength is 0 or > MaximumSnapLength ? MaximumSnapLength : Header.SnapLength;
        record = new PcapRecord(_base + _offset + ClassicRecordHeaderLength, Math.Min(capturedLength, snapshot), originalLength, timestamp);
        _offset += ClassicRecordHeaderLength + capturedLength;
        _recordsRead = recordNumber;
        return true;
    }

    private void ReadFirstSection()
    {
        if (_length < MinimumSectionHeaderLength)
            throw Invalid(_length, $"truncated file header: the file is {_length} bytes, a pcapng section header needs {MinimumSectionHeaderLength}");

        uint length = CheckBlock(0, out uint type);
        StartSection(0, length);
        _offset = length;

        // The classic view needs interface 0's link type, so peek ahead to the section's first IDB.
        uint linkType = PcapFileHeader.LinkTypeEthernet;
        long offset = _offset;
        bool swapped = _swapped; // a following section header may flip it while peeking
        while (offset < _length)
        {
            uint blockLength = CheckBlock(offset, out type);
            if (type == InterfaceDescriptionBlock)
            {
                linkType = ReadInterface(offset, blockLength).LinkType;
                break;
            }
            if (type is SectionHeaderBlock or EnhancedPacketBlock or SimplePacketBlock)
                break;
            offset += blockLength;
        }
        _swapped = swapped;

        Header = new PcapFileHeader(PcapFileHeader.NanosecondMagic, 2, 4, 0, 0, PcapFileHeader.DefaultSnapLength, linkType, IsSwapped: false);
        LinkType = linkType;
    }

    private bool TryReadNextBlock(out PcapRecord record)
    {
        while (_offset < _length)
        {
            long offset = _offset;
            uint length = CheckBlock(offset, out uint type);
            switch (type)
            {
                case SectionHeaderBlock:
                    StartSection(offset, length);
                    break;
                case InterfaceDescriptionBlock:
                    _interfaces.Add(ReadInterface(offset, length));
                    break;
                case EnhancedPacketBlock:
                    record = ReadEnhancedPacket(offset, length);
                    _offset = offset + length;
                    return true;
                case SimplePacketBlock:
                    record = ReadSimplePacket(offset, length);
                    _offset = offset + length;
                    return true;
                default:
                    // Statistics, name resolution, custom blocks and so on carry no packets.
                    break;
            }
            _offset = offset + length;
        }

        record = default;
        return false;
    }

    /// <summary>
    /// Validates the framing of the block at <paramref name="offset"/> and returns its total length. A Section
    /// Header Block also sets the byte order, which is why it is recognised before any field is decoded.
    /// </summary>
    private uint CheckBlock(long offset, out uint type)
    {
        long remaining = _length - offset;
        if (remaining < MinimumBlockLength)
        {
            throw Invalid(offset,
                $"block is cut short (while looking for record {_recordsRead + 1}): {remaining} bytes left, a block needs at least {MinimumBlockLength}");
        }

        if (Unsafe.ReadUnaligned<uint>(_base + offset) == SectionHeaderBlock)
        {
            uint byteOrder = Unsafe.ReadUnaligned<uint>(_base + offset + 8);
            if (byteOrder == ByteOrderMagic)
                _swapped = false;
            else if (BinaryPrimitives.ReverseEndianness(byteOrder) == ByteOrderMagic)
                _swapped = true;
            else
                throw Invalid(offset + 8, $"section header block has an unknown byte-order magic 0x{byteOrder:X8}");
        }

        type = Read32(offset);
        uint length = Read32(offset + 4);
        if (length < MinimumBlockLength || length % 4 != 0)
            throw Invalid(offset, $"block type 0x{type:X8} has an invalid total length {length} (must be a multiple of 4 and at least {MinimumBlockLength})");
        if (length > remaining)
        {
            throw Invalid(offset,
                $"block type 0x{type:X8} is cut short (while looking for record {_recordsRead + 1}): its length is {length} but only {remaining} bytes remain");
        }
        uint trailer = Read32(offset + length - 4);
        if (trailer != length)
            throw Invalid(offset + length - 4, $"block type 0x{type:X8} has leading length {length} but trailing length {trailer}");
        return length;
    }

    private void StartSection(long offset, uint length)
    {
        if (length < MinimumSectionHeaderLength)
            throw Invalid(offset, $"section header block is {length} bytes, needs at least {MinimumSectionHeaderLength}");
        ushort major = Read16(offset + 12);
        if (major != 1)
            throw Invalid(offset + 12, $"unsupported pcapng major version {major}");
        // Interface ids are scoped to their section.
        _interfaces.Clear();
    }

    private Interface ReadInterface(long offset, uint length)
    {
        if (length < 20)
            throw Invalid(offset, $"interface description block is {length} bytes, needs at least 20");

        var result = new Interface(Read16(offset + 8), Read32(offset + 12), DefaultTsResol, 0);
        long position = offset + 16;
        long end = offset + length - 4;
        while (end - position >= 4)
        {
            ushort code = Read16(position);
            ushort optionLength = Read16(position + 2);
            if (code == OptionEnd)
                break;
            long value = position + 4;
            if (optionLength > end - value)
                throw Invalid(position, $"interface option {code} of length {optionLength} runs past the end of its block");

            if (code == OptionTsResol && optionLength >= 1)
            {
                byte resolution = _base[value];
                int exponent = resolution & 0x7F;
                bool powerOf2 = (resolution & 0x80) != 0;
                if (powerOf2 ? exponent > 63 : exponent > 19)
                    throw Invalid(value, $"unsupported if_tsresol 0x{resolution:X2}");
                result = result with { TsResol = resolution };
            }
            else if (code == OptionTsOffset && optionLength == 8)
            {
                long seconds = (long)Read64(value);
                result = result with { OffsetNanoseconds = seconds * 1_000_000_000L };
            }
            position = value + ((optionLength + 3) & ~3);
        }
        return result;
    }

    private PcapRecord ReadEnhancedPacket(long offset, uint length)
    {
        long recordNumber = _recordsRead + 1;
        if (length < 32)
            throw Invalid(offset, $"record {recordNumber}: enhanced packet block is {length} bytes, needs at least 32");

        uint interfaceId = Read32(offset + 8);
        if (interfaceId >= (uint)_interfaces.Count)
            throw Invalid(offset + 8, $"record {recordNumber} names interface {interfaceId} but the section defines {_interfaces.Count}");
        Interface source = _interfaces[(int)interfaceId];

        ulong units = ((ulong)Read32(offset + 12) << 32) | Read32(offset + 16);
        uint capturedLength = Read32(offset + 20);
        uint originalLength = Read32(offset + 24);
        if (capturedLength > length - 32)
        {
            throw Invalid(offset + 20,
                $"record {recordNumber}: captured length {capturedLength} runs past its {length}-byte enhanced packet block");
        }

        long timestamp = ToNanoseconds(units, source, offset, recordNumber);
        LinkType = source.LinkType;
        _recordsRead = recordNumber;
        return new PcapRecord(_base + offset + 28, capturedLength, originalLength, timestamp);
    }

    private PcapRecord ReadSimplePacket(long offset, uint length)
    {
        long recordNumber = _recordsRead + 1;
        if (length < 16)
            throw Invalid(offset, $"record {recordNumber}: simple packet block is {length} bytes, needs at least 16");
        if (_interfaces.Count == 0)
            throw Invalid(offset, $"record {recordNumber} is a simple packet block but the section defines no interface");
        Interface source = _interfaces[0];

        // An SPB stores no captured length: it is the original length cut to the snap length and block.
        uint originalLength = Read32(offset + 8);
        uint capturedLength = Math.Min(originalLength, length - 16);
        if (source.SnapLength != 0)
            capturedLength = Math.Min(capturedLength, source.SnapLength);

        LinkType = source.LinkType;
        _recordsRead = recordNumber;
        // No timestamp is stored in an SPB.
        return new PcapRecord(_base + offset + 12, capturedLength, originalLength, 0);
    }

    private long ToNanoseconds(ulong units, in Interface source, long offset, long recordNumber)
    {
        int exponent = source.TsResol & 0x7F;
        UInt128 nanoseconds;
        if ((source.TsResol & 0x80) != 0)
            nanoseconds = ((UInt128)units * 1_000_000_000UL) >> exponent;
        else if (exponent <= 9)
            nanoseconds = (UInt128)units * s_powersOf10[9 - exponent];
        else
            nanoseconds = units / s_powersOf10[exponent - 9];

        Int128 total = (Int128)nanoseconds + source.OffsetNanoseconds;
        if (total > long.MaxValue || total < long.MinValue)
            throw Invalid(offset + 12, $"record {recordNumber}: timestamp does not fit in 64-bit nanoseconds");
        return (long)total;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort Read16(long offset)
    {
        ushort value = Unsafe.ReadUnaligned<ushort>(_base + offset);
        return _swapped ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Read32(long offset)
    {
        uint value = Unsafe.ReadUnaligned<uint>(_base + offset);
        return _swapped ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Read64(long offset)
    {
        ulong value = Unsafe.ReadUnaligned<ulong>(_base + offset);
        return _swapped ? BinaryPrimitives.ReverseEndianness(value) : value;
    }

    private InvalidDataException Invalid(long offset, string what) => new($"{_path}: at byte offset {offset}: {what}");

    /// <summary>The error for the record last read when its link type is not <paramref name="expected"/>.</summary>
    public InvalidDataException NotLinkType(uint expected, string why) =>
        new($"{_path}: record {_recordsRead} has link type {LinkType}, not {expected}: {why}");

    private static ulong[] BuildPowersOf10()
    {
        var powers = new ulong[20];
        powers[0] = 1;
        for (int i = 1; i < powers.Length; i++)
            powers[i] = powers[i - 1] * 10;
        return powers;
    }

    private readonly record struct Interface(uint LinkType, uint SnapLength, byte TsResol, long OffsetNanoseconds);
}
