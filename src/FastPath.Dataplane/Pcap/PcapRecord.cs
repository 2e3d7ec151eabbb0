// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Pcap;

/// <summary>
/// One captured frame. <see cref="Data"/> points into the reader's mapping and stays valid until the
/// <see cref="PcapFileReader"/> that produced it is disposed.
/// </summary>
public readonly unsafe struct PcapRecord
{
    public readonly byte* Data;
    public readonly uint CapturedLength;
    public readonly uint OriginalLength;

    /// <summary>Nanoseconds since the Unix epoch.</summary>
    public readonly long TimestampNanoseconds;

    public PcapRecord(byte* data, uint capturedLength, uint originalLength, long timestampNanoseconds)
    {
        Data = data;
        CapturedLength = capturedLength;
        OriginalLength = originalLength;
        TimestampNanoseconds = timestampNanoseconds;
    }

    /// <summary>The captured bytes; same lifetime as <see cref="Data"/>.</summary>
    public ReadOnlySpan<byte> Span => new(Data, checked((int)CapturedLength));
}
