// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;

namespace FastPath.Integration.Tests;

/// <summary>A capture's frames as byte arrays, for comparisons.</summary>
internal static class CaptureFile
{
    public static List<byte[]> ReadFrames(string path)
    {
        using var reader = PcapFileReader.Open(path);
        var frames = new List<byte[]>();
        while (reader.TryReadNext(out var record))
            frames.Add(record.Span.ToArray());
        return frames;
    }

    /// <summary>The bundled sample's expectations: (1-based index, "forward" or "drop", reason or "-").</summary>
    public static List<(int Index, bool Forward, string Reason)> ReadExpectations(string path) =>
        File.ReadAllLines(path)
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .Select(f => (int.Parse(f[0]), f[1] == "forward", f[2]))
            .ToList();

    /// <summary>
    /// The bytes a pcap file would have if only the records whose 0-based index passes <paramref name="keep"/>
    /// were left: the same header and the same record bytes, in order.
    /// </summary>
    public static byte[] FilterRecords(string classicPcapPath, Func<int, bool> keep)
    {
        byte[] file = File.ReadAllBytes(classicPcapPath);
        bool swapped = BitConverter.ToUInt32(file, 0) is 0xD4C3B2A1 or 0x4D3CB2A1;
        var result = new MemoryStream();
        result.Write(file, 0, 24);
        int offset = 24, index = 0;
        while (offset < file.Length)
        {
            uint captured = BitConverter.ToUInt32(file, offset + 8);
            if (swapped)
                captured = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(captured);
            int size = 16 + (int)captured;
            if (keep(index))
                result.Write(file, offset, size);
            offset += size;
            index++;
        }
        return result.ToArray();
    }
}
