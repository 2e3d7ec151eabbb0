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
    private InvalidDataException? _damage; // a bad record found after good ones: raised by the next Receive, once they are out
    private ulong _inPackets, _inBytes, _outPackets, _outBytes; // owning worker writes; readers take a stale value

    private PcapFilePort(string name, PcapFileReader? reader, PcapFileWriter? writer)
    {
        Name = name;
        _reader = reader;
        _writer = writer;
    }

    /// <summary>A reader of an Ethernet capture (link type 1): FastPath's parsers read Ethernet frames, and another link type read as one would cross unfiltered.</summary>
    public static PcapFilePort OpenReader(string name, string path)
    {
        var reader = PcapFileReader.Open(path);
        if (reader.LinkType != PcapFileHeader.LinkTypeEthernet)
        {
            reader.Dispose();
            throw new InvalidDataException($"{path}: link type {reader.LinkType} is not Ethernet ({PcapFileHeader.LinkTypeEthernet}): FastPath reads Ethernet frames (re-capture on an Ethernet interface, not 'any')");
        }
        return new(name, reader, null);
    }

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
        if (_damage is { } damage)
            throw damage;
        try
        {
            while (count < PacketBurst.Capacity && reader.TryReadNext(out var record))
            {
                // A pcapng file may capture on several interfaces: each record's, not only the first's, must be Ethernet.
                if (reader.LinkType != PcapFileHeader.LinkTypeEthernet)
                    throw reader.NotLinkType(PcapFileHeader.LinkTypeEthernet, "FastPath reads Ethernet frames");
                // Handles are unused by this port (the mapping outlives every frame); the record number helps debugging.
                burst.Add((nint)(_inPackets + (ulong)count), (nint)record.Data, record.CapturedLength, record.OriginalLength, record.TimestampNanoseconds);
                _inBytes += record.OriginalLength;
                count++;
            }
        }
        catch (InvalidDataException e) when (count > 0)
        {
            // The frames before the damage go through first; the next call stops the replay with the error.
            _damage = e;
            _inPackets += (ulong)count;
            return count;
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
