// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;

namespace FastPath.Dataplane.Ports;

/// <summary>
/// A capture file as a port, the embedded default that runs on any machine: a reader port has one rx
/// queue fed from a memory-mapped pcap/pcapng file (frames are read in place, timestamps come from the
/// capture, so a replay is deterministic); a writer port has one tx queue that appends classic pcap records.
/// </summary>
public sealed unsafe class PcapFilePort : IPort
{
    private readonly PcapFileReader? _reader;
    private readonly PcapFileWriter? _writer;
    private volatile bool _exhausted; // rx worker writes; the host polls it
    private ulong _inPackets, _inBytes, _outPackets, _outBytes; // owning worker writes; readers take a stale value

    private PcapFilePort(string name, PcapFileReader? reader, PcapFileWriter? writer)
    {
        Name = name;
        _reader = reader;
        _writer = writer;
    }

    public static PcapFilePort OpenReader(string name, string path) => new(name, PcapFileReader.Open(path), null);

    /// <summary>A writer whose file header is <paramref name="header"/> (pass the reader's to keep a replay byte-identical).</summary>
    public static PcapFilePort CreateWriter(string name, string path, in PcapFileHeader header) =>
        new(name, null, PcapFileWriter.Create(path, header));

    public string Name { get; }
    public int RxQueueCount => _reader is null ? 0 : 1;
    public int TxQueueCount => _writer is null ? 0 : 1;
    public bool HashesFlowsToQueues => false;

    /// <summary>The input file's header (readers only).</summary>
    public PcapFileHeader Header => _reader?.Header ?? throw new InvalidOperationException($"port '{Name}' is not a reader");

    public int Receive(int queue, PacketBurst burst)
    {
        int count = 0;
        var reader = _reader!;
        burst.Count = 0;
        while (count < PacketBurst.Capacity && reader.TryReadNext(out var record))
        {
            // Handles are unused by this port (the mapping outlives every frame); the record number helps debugging.
            burst.Add((nint)(_inPackets + (ulong)count), (nint)record.Data, record.CapturedLength, record.OriginalLength, record.TimestampNanoseconds);
            _inBytes += record.OriginalLength;
            count++;
        }
        if (count < PacketBurst.Capacity)
            _exhausted = true;
        _inPackets += (ulong)count;
        return count;
    }

    public int Transmit(int queue, PacketBurst burst)
    {
        var writer = _writer!;
        int n = burst.Count;
        for (int i = 0; i < n; i++)
        {
            writer.Write(burst.Frame(i), burst.WireLength(i), burst.Timestamp(i));
            _outBytes += burst.WireLength(i);
        }
        _outPackets += (ulong)n;
        return n;
    }

    public void Release(ReadOnlySpan<nint> handles)
    {
    }

    public bool IsExhausted(int queue) => _exhausted;

    public PortCounters ReadDeviceCounters() => new(_inPackets, _inBytes, _outPackets, _outBytes, 0, 0, 0);

    public void Dispose()
    {
        _writer?.Dispose();
        _reader?.Dispose();
    }
}
