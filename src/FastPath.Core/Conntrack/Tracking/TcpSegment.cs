// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// The TCP header fields the tracker needs beyond what <see cref="ParsedPacket"/> carries: the parser keeps ports,
/// flags and the header length, not sequence numbers, window or options, so they are read from the frame here.
/// </summary>
public readonly ref struct TcpSegment
{
    public const byte Fin = 0x01;
    public const byte Syn = 0x02;
    public const byte Rst = 0x04;
    public const byte Psh = 0x08;
    public const byte AckFlag = 0x10;
    public const byte Urg = 0x20;
    public const byte Ece = 0x40;
    public const byte Cwr = 0x80;

    public TcpSegment(byte flags, uint sequence, uint acknowledgment, ushort window, int payloadLength, ReadOnlySpan<byte> options)
    {
        Flags = flags;
        Sequence = sequence;
        Acknowledgment = acknowledgment;
        Window = window;
        PayloadLength = payloadLength;
        Options = options;
    }

    public byte Flags { get; }
    public uint Sequence { get; }
    public uint Acknowledgment { get; }
    public ushort Window { get; }

    /// <summary>Bytes after the TCP header up to the end of the IP payload.</summary>
    public int PayloadLength { get; }

    /// <summary>The option bytes between the fixed 20-byte header and the data.</summary>
    public ReadOnlySpan<byte> Options { get; }

    public bool HasSyn => (Flags & Syn) != 0;
    public bool HasAck => (Flags & AckFlag) != 0;
    public bool HasFin => (Flags & Fin) != 0;
    public bool HasRst => (Flags & Rst) != 0;

    /// <summary>The kernel's segment_seq_plus_len: sequence + data, SYN and FIN each counting one.</summary>
    public uint End => unchecked(Sequence + (uint)PayloadLength + (HasSyn ? 1u : 0u) + (HasFin ? 1u : 0u));

    /// <summary>Reads the segment of a parsed TCP packet; false when the packet is not TCP.</summary>
    public static bool TryRead(ReadOnlySpan<byte> frame, scoped in ParsedPacket packet, out TcpSegment segment)
    {
        segment = default;
        if (packet.L4 != L4Kind.Tcp || packet.TcpHeaderLength < 20 || packet.L4Offset + packet.TcpHeaderLength > frame.Length)
            return false;

        ReadOnlySpan<byte> tcp = frame.Slice(packet.L4Offset, packet.TcpHeaderLength);
        segment = new TcpSegment(
            packet.TcpFlags,
            BinaryPrimitives.ReadUInt32BigEndian(tcp.Slice(4)),
            BinaryPrimitives.ReadUInt32BigEndian(tcp.Slice(8)),
            BinaryPrimitives.ReadUInt16BigEndian(tcp.Slice(14)),
            packet.L4Length - packet.TcpHeaderLength,
            tcp.Slice(20));
        return true;
    }
}
