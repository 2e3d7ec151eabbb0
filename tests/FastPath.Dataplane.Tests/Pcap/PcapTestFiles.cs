// SPDX-License-Identifier: MIT
using System.Buffers.Binary;

namespace FastPath.Dataplane.Tests.Pcap;

/// <summary>A temporary file that is deleted when the test is done with it.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile() => Path = System.IO.Path.GetTempFileName();

    public TempFile(byte[] contents)
        : this() => File.WriteAllBytes(Path, contents);

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}

/// <summary>Builds pcapng files block by block, independently of the code under test.</summary>
internal sealed class PcapngBuilder
{
    private readonly List<byte> _bytes = new();
    private bool _bigEndian;

    public PcapngBuilder SectionHeader(bool bigEndian)
    {
        _bigEndian = bigEndian;
        var body = new List<byte>();
        Add32(body, 0x1A2B3C4D);
        Add16(body, 1);
        Add16(body, 0);
        Add64(body, ulong.MaxValue); // section length unknown
        return Block(0x0A0D0D0A, body);
    }

    public PcapngBuilder Interface(ushort linkType, uint snapLength, byte? tsResol = null, long? tsOffsetSeconds = null)
    {
        var body = new List<byte>();
        Add16(body, linkType);
        Add16(body, 0);
        Add32(body, snapLength);
        AddOption(body, 2, "eth0"u8.ToArray()); // if_name, to prove unknown options are skipped
        if (tsResol is byte resolution)
            AddOption(body, 9, [resolution]);
        if (tsOffsetSeconds is long offset)
        {
            var value = new List<byte>();
            Add64(value, (ulong)offset);
            AddOption(body, 14, value.ToArray());
        }
        AddOption(body, 0, []);
        return Block(1, body);
    }

    public PcapngBuilder EnhancedPacket(uint interfaceId, ulong timestampUnits, byte[] data, uint originalLength)
    {
        var body = new List<byte>();
        Add32(body, interfaceId);
        Add32(body, (uint)(timestampUnits >> 32));
        Add32(body, (uint)timestampUnits);
        Add32(body, (uint)data.Length);
        Add32(body, originalLength);
        AddPadded(body, data);
        AddOption(body, 1, "comment"u8.ToArray());
        AddOption(body, 0, []);
        return Block(6, body);
    }

    public PcapngBuilder SimplePacket(uint originalLength, byte[] data)
    {
        var body = new List<byte>();
        Add32(body, originalLength);
        AddPadded(body, data);
        return Block(3, body);
    }

    public PcapngBuilder Block(uint type, List<byte> body)
    {
        uint length = (uint)(12 + ((body.Count + 3) & ~3));
        Add32(_bytes, type);
        Add32(_bytes, length);
        AddPadded(_bytes, body.ToArray());
        Add32(_bytes, length);
        return this;
    }

    public int Length => _bytes.Count;

    public byte[] ToArray() => _bytes.ToArray();

    private void AddOption(List<byte> body, ushort code, byte[] value)
    {
        Add16(body, code);
        Add16(body, (ushort)value.Length);
        AddPadded(body, value);
    }

    private static void AddPadded(List<byte> target, byte[] data)
    {
        target.AddRange(data);
        for (int i = data.Length; i % 4 != 0; i++)
            target.Add(0);
    }

    private void Add16(List<byte> target, ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        if (_bigEndian)
            BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        else
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        target.AddRange(bytes);
    }

    private void Add32(List<byte> target, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (_bigEndian)
            BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        target.AddRange(bytes);
    }

    private void Add64(List<byte> target, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        if (_bigEndian)
            BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        else
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        target.AddRange(bytes);
    }
}

internal static class Frames
{
    /// <summary>A deterministic frame whose bytes depend on its length and a seed.</summary>
    public static byte[] Make(int length, int seed)
    {
        var frame = new byte[length];
        for (int i = 0; i < length; i++)
            frame[i] = (byte)(i * 31 + seed * 7 + (i >> 8));
        return frame;
    }
}
