// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Text;
using FastPath.Core.Packets;
using FastPath.Core.Recent;
using FastPath.Core.Rules;

namespace FastPath.Core.Logging;

/// <summary>
/// The line the kernel's LOG target writes (nf_log_syslog: nf_log_ip_packet and nf_log_ip6_packet), field for field:
/// <c>PREFIXIN=in OUT=out MAC=... SRC=... DST=... LEN=...</c> and the transport's fields, each followed by a space.
/// The kernel gives it to printk at the rule's level; FastPath writes it as <c>dmesg -r</c> shows such a line,
/// <c>&lt;LEVEL&gt;[SECONDS.MICROSECONDS] </c> first, the time being the dataplane's clock (capture time offline).
/// A forwarded packet has no local socket and no mark here, so --log-uid adds nothing and no MARK= appears.
/// </summary>
public sealed class PacketLogLine(IReadOnlyList<string> ports)
{
    /// <summary>Room for the longest line: the kernel's estimate (an ICMP error quoting a packet) is about 810 bytes, the port names come on top.</summary>
    public const int MaxBytes = 2048;

    private readonly byte[] _buffer = new byte[MaxBytes];
    private int _length;

    /// <summary>
    /// <paramref name="record"/>'s line, newline included, valid until the next call. Written into a buffer of this
    /// object's: a line costs no allocation, so a worker may write its own.
    /// </summary>
    public ReadOnlySpan<byte> Format(in PacketLogRecord record)
    {
        _length = 0;
        var target = record.Target;
        ulong seconds = record.Jiffies / Jiffies.Hz;
        ulong micros = record.Jiffies % Jiffies.Hz * (1_000_000 / Jiffies.Hz);
        Char('<').Number(target.Level).Text(">[").Number(seconds).Char('.').Number(micros, digits: 6).Text("] ");
        Text(target.Prefix).Text("IN=").Text(PortName(record.InPort)).Text(" OUT=").Text(PortName(record.OutPort)).Char(' ');
        Mac(record, target.Flags);
        ReadOnlySpan<byte> network = record.Network;
        var dump = new Dump(network[..record.Captured], record.PacketLength, target.Flags);
        if (record.Family == L3Kind.IPv4)
            dump.Ipv4(this, 0);
        else
            dump.Ipv6(this, 0, recurse: true);
        _buffer[_length++] = (byte)'\n';
        return _buffer.AsSpan(0, _length);
    }

    private string PortName(short port) => port >= 0 && port < ports.Count ? ports[port] : "";

    // dump_mac_header: every hook FastPath runs has an input device, an Ethernet one.
    private void Mac(in PacketLogRecord record, LogFlags flags)
    {
        ReadOnlySpan<byte> mac = record.Mac;
        if ((flags & LogFlags.MacDecode) != 0)
        {
            Text("MACSRC=").MacAddress(mac.Slice(6, 6)).Text(" MACDST=").MacAddress(mac[..6]).Char(' ');
            if (record.VlanProtocol != 0)
                Text("VPROTO=").Hex(record.VlanProtocol, 4, upper: false).Text(" VID=").Number(record.VlanId).Char(' ');
            Text("MACPROTO=").Hex(BinaryPrimitives.ReadUInt16BigEndian(mac[12..]), 4, upper: false).Char(' ');
            return;
        }
        Text("MAC=").MacAddress(mac).Char(' ');
    }

    /// <summary>The packet's headers as dump_ipv4_packet and dump_ipv6_packet walk them; offsets count from the IP header.</summary>
    private readonly ref struct Dump(ReadOnlySpan<byte> packet, int length, LogFlags flags)
    {
        private readonly ReadOnlySpan<byte> _packet = packet;

        // skb_header_pointer: the bytes exist within the packet (those past the copy kept count as missing too).
        private bool Has(int offset, int count) => offset >= 0 && offset + count <= Math.Min(length, _packet.Length);

        private ushort U16(int offset) => BinaryPrimitives.ReadUInt16BigEndian(_packet[offset..]);

        private uint U32(int offset) => BinaryPrimitives.ReadUInt32BigEndian(_packet[offset..]);

        public void Ipv4(PacketLogLine w, int at)
        {
            if (!Has(at, 20))
            {
                w.Text("TRUNCATED");
                return;
            }
            int headerLength = (_packet[at] & 0xF) * 4;
            byte tos = _packet[at + 1];
            ushort fragment = U16(at + 6);
            byte protocol = _packet[at + 9];
            w.Text("SRC=").Ipv4Address(_packet.Slice(at + 12, 4)).Text(" DST=").Ipv4Address(_packet.Slice(at + 16, 4)).Char(' ');
            w.Text("LEN=").Number(U16(at + 2)).Text(" TOS=0x").Hex((uint)(tos & 0x1E), 2, upper: true).Text(" PREC=0x").Hex((uint)(tos & 0xE0), 2, upper: true)
                .Text(" TTL=").Number(_packet[at + 8]).Text(" ID=").Number(U16(at + 4)).Char(' ');
            if ((fragment & 0x8000) != 0)
                w.Text("CE ");
            if ((fragment & 0x4000) != 0)
                w.Text("DF ");
            if ((fragment & 0x2000) != 0)
                w.Text("MF ");
            int offset = fragment & 0x1FFF;
            if (offset != 0)
                w.Text("FRAG:").Number((uint)offset).Char(' ');
            if ((flags & LogFlags.IpOptions) != 0 && headerLength > 20)
            {
                if (!Has(at + 20, headerLength - 20))
                {
                    w.Text("TRUNCATED");
                    return;
                }
                w.Text("OPT (").HexBytes(_packet.Slice(at + 20, headerLength - 20)).Text(") ");
            }

            int l4 = at + headerLength;
            bool later = offset != 0;
            switch (protocol)
            {
                case 6:
                    Tcp(w, later, l4);
                    break;
                case 17 or 136:
                    Udp(w, protocol, later, l4);
                    break;
                case 1:
                    Icmp(w, later, at, l4);
                    break;
                case 51:
                    // dump_ipv4_packet names AH only for a first fragment, ESP for any.
                    if (later)
                        break;
                    w.Text("PROTO=AH ");
                    Spi(w, l4, 4, 12);
                    break;
                case 50:
                    w.Text("PROTO=ESP ");
                    if (!later)
                        Spi(w, l4, 0, 8);
                    break;
                default:
                    w.Text("PROTO=").Number(protocol).Char(' ');
                    break;
            }
        }

        private void Spi(PacketLogLine w, int l4, int spiAt, int header)
        {
            if (!Has(l4, header))
                Incomplete(w, l4);
            else
                w.Text("SPI=0x").Hex(U32(l4 + spiAt), 1, upper: false).Char(' ');
        }

        private void Incomplete(PacketLogLine w, int at) => w.Text("INCOMPLETE [").Number((uint)(length - at)).Text(" bytes] ");

        // The ICMP types whose fields the kernel reads past the first 8 bytes, and how many bytes it wants (required_len).
        private static int IcmpRequired(byte type) => type switch
        {
            0 or 8 => 4,
            3 or 4 or 5 or 11 or 12 => 8 + 20,
            13 or 14 => 20,
            17 or 18 => 12,
            _ => 0,
        };

        private void Icmp(PacketLogLine w, bool later, int ip, int l4)
        {
            w.Text("PROTO=ICMP ");
            if (later)
                return;
            if (!Has(l4, 8))
            {
                Incomplete(w, l4);
                return;
            }
            byte type = _packet[l4], code = _packet[l4 + 1];
            w.Text("TYPE=").Number(type).Text(" CODE=").Number(code).Char(' ');
            int required = IcmpRequired(type);
            if (required != 0 && length - l4 < required)
            {
                Incomplete(w, l4);
                return;
            }
            switch (type)
            {
                case 0 or 8:
                    w.Text("ID=").Number(U16(l4 + 4)).Text(" SEQ=").Number(U16(l4 + 6)).Char(' ');
                    break;
                case 12:
                    w.Text("PARAMETER=").Number(_packet[l4 + 4]).Char(' ');
                    break;
                case 5 or 3 or 4 or 11:
                    if (type == 5)
                        w.Text("GATEWAY=").Ipv4Address(_packet.Slice(l4 + 4, 4)).Char(' ');
                    if (ip == 0)
                    {
                        w.Char('[');
                        Ipv4(w, l4 + 8);
                        w.Text("] ");
                    }
                    if (type == 3 && code == 4)
                        w.Text("MTU=").Number(U16(l4 + 6)).Char(' ');
                    break;
            }
        }

        private void Tcp(PacketLogLine w, bool later, int l4)
        {
            w.Text("PROTO=TCP ");
            if (later)
                return;
            if (!Has(l4, 20))
            {
                Incomplete(w, l4);
                return;
            }
            w.Text("SPT=").Number(U16(l4)).Text(" DPT=").Number(U16(l4 + 2)).Char(' ');
            if ((flags & LogFlags.TcpSequence) != 0)
                w.Text("SEQ=").Number(U32(l4 + 4)).Text(" ACK=").Number(U32(l4 + 8)).Char(' ');
            w.Text("WINDOW=").Number(U16(l4 + 14)).Char(' ');
            // The flag word's reserved bits (0x0E000000 since AccECN took the fourth as AE), shifted as the kernel does.
            uint flagWord = U32(l4 + 12);
            w.Text("RES=0x").Hex((flagWord & 0x0E000000) >> 22, 2, upper: false).Char(' ');
            byte tcpFlags = _packet[l4 + 13];
            if ((flagWord & 0x01000000) != 0)
                w.Text("AE ");
            ReadOnlySpan<(byte Bit, string Name)> names = [(0x80, "CWR "), (0x40, "ECE "), (0x20, "URG "), (0x10, "ACK "), (0x08, "PSH "), (0x04, "RST "), (0x02, "SYN "), (0x01, "FIN ")];
            foreach (var (bit, name) in names)
            {
                if ((tcpFlags & bit) != 0)
                    w.Text(name);
            }
            w.Text("URGP=").Number(U16(l4 + 18)).Char(' ');
            int optionBytes = (_packet[l4 + 12] >> 4) * 4 - 20;
            if ((flags & LogFlags.TcpOptions) != 0 && optionBytes > 0)
            {
                if (!Has(l4 + 20, optionBytes))
                    w.Text("OPT (TRUNCATED)");
                else
                    w.Text("OPT (").HexBytes(_packet.Slice(l4 + 20, optionBytes)).Text(") ");
            }
        }

        private void Udp(PacketLogLine w, byte protocol, bool later, int l4)
        {
            w.Text(protocol == 17 ? "PROTO=UDP " : "PROTO=UDPLITE ");
            if (later)
                return;
            if (!Has(l4, 8))
            {
                Incomplete(w, l4);
                return;
            }
            w.Text("SPT=").Number(U16(l4)).Text(" DPT=").Number(U16(l4 + 2)).Text(" LEN=").Number(U16(l4 + 4)).Char(' ');
        }

        public void Ipv6(PacketLogLine w, int at, bool recurse)
        {
            if (!Has(at, 40))
            {
                w.Text("TRUNCATED");
                return;
            }
            uint first = U32(at);
            w.Text("SRC=").Ipv6Address(_packet.Slice(at + 8, 16)).Text(" DST=").Ipv6Address(_packet.Slice(at + 24, 16)).Char(' ');
            w.Text("LEN=").Number(U16(at + 4) + 40u).Text(" TC=").Number((first & 0x0FF00000) >> 20).Text(" HOPLIMIT=").Number(_packet[at + 7])
                .Text(" FLOWLBL=").Number(first & 0x000FFFFF).Char(' ');

            bool options = (flags & LogFlags.IpOptions) != 0;
            bool later = false;
            byte header = _packet[at + 6];
            int ptr = at + 40;
            while (header is 0 or 43 or 44 or 50 or 51 or 60)
            {
                if (!Has(ptr, 2))
                {
                    w.Text("TRUNCATED");
                    return;
                }
                if (options)
                    w.Text("OPT ( ");
                int headerLength;
                switch (header)
                {
                    case 44:
                        w.Text("FRAG:");
                        if (!Has(ptr, 8))
                        {
                            w.Text("TRUNCATED ");
                            return;
                        }
                        ushort fragment = U16(ptr + 2);
                        w.Number((uint)(fragment & 0xFFF8)).Char(' ');
                        if ((fragment & 1) != 0)
                            w.Text("INCOMPLETE ");
                        w.Text("ID:").Hex(U32(ptr + 4), 8, upper: false).Char(' ');
                        later |= (fragment & 0xFFF8) != 0;
                        headerLength = 8;
                        break;
                    case 0 or 43 or 60:
                        if (later)
                        {
                            if (options)
                                w.Char(')');
                            return;
                        }
                        headerLength = (_packet[ptr + 1] + 1) * 8;
                        break;
                    case 51:
                        if (options)
                        {
                            w.Text("AH ");
                            if (later)
                            {
                                w.Char(')');
                                return;
                            }
                            if (!Has(ptr, 12))
                            {
                                w.Text("INCOMPLETE [").Number((uint)(length - ptr)).Text(" bytes] )");
                                return;
                            }
                            w.Text("SPI=0x").Hex(U32(ptr + 4), 1, upper: false).Char(' ');
                        }
                        headerLength = (_packet[ptr + 1] + 2) * 4;
                        break;
                    default: // 50, ESP: what follows is encrypted
                        if (options)
                        {
                            w.Text("ESP ");
                            if (later)
                                w.Char(')');
                            else if (!Has(ptr, 8))
                                w.Text("INCOMPLETE [").Number((uint)(length - ptr)).Text(" bytes] )");
                            else
                                w.Text("SPI=0x").Hex(U32(ptr), 1, upper: false).Text(" )");
                        }
                        return;
                }
                if (options)
                    w.Text(") ");
                header = _packet[ptr];
                ptr += headerLength;
            }

            switch (header)
            {
                case 6:
                    Tcp(w, later, ptr);
                    break;
                case 17 or 136:
                    Udp(w, header, later, ptr);
                    break;
                case 58:
                    Icmpv6(w, later, ptr, recurse);
                    break;
                default:
                    w.Text("PROTO=").Number(header).Char(' ');
                    break;
            }
        }

        private void Icmpv6(PacketLogLine w, bool later, int l4, bool recurse)
        {
            w.Text("PROTO=ICMPv6 ");
            if (later)
                return;
            if (!Has(l4, 8))
            {
                Incomplete(w, l4);
                return;
            }
            byte type = _packet[l4];
            w.Text("TYPE=").Number(type).Text(" CODE=").Number(_packet[l4 + 1]).Char(' ');
            switch (type)
            {
                case 128 or 129:
                    w.Text("ID=").Number(U16(l4 + 4)).Text(" SEQ=").Number(U16(l4 + 6)).Char(' ');
                    break;
                case 1 or 2 or 3 or 4:
                    if (type == 4)
                        w.Text("POINTER=").Hex(U32(l4 + 4), 8, upper: false).Char(' ');
                    if (recurse)
                    {
                        w.Char('[');
                        Ipv6(w, l4 + 8, recurse: false);
                        w.Text("] ");
                    }
                    if (type == 2)
                        w.Text("MTU=").Number(U32(l4 + 4)).Char(' ');
                    break;
            }
        }
    }

    // ASCII into the buffer; a line longer than it is cut (room for the newline stays), as the kernel's nf_log_buf cuts its own.
    private PacketLogLine Char(char c)
    {
        if (_length < _buffer.Length - 1)
            _buffer[_length++] = (byte)c;
        return this;
    }

    private PacketLogLine Text(string text)
    {
        // Prefixes and port names are UTF-8, as the kernel copies their bytes.
        int room = _buffer.Length - 1 - _length;
        if (Encoding.UTF8.GetByteCount(text) <= room)
            _length += Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_length));
        return this;
    }

    /// <summary>printf's %u, or %0Nu with <paramref name="digits"/>: at least that many digits.</summary>
    private PacketLogLine Number(ulong value, int digits = 1)
    {
        Span<byte> reversed = stackalloc byte[20];
        int n = 0;
        do
        {
            reversed[n++] = (byte)('0' + value % 10);
            value /= 10;
        } while (value != 0 || n < digits);
        while (n > 0)
            Char((char)reversed[--n]);
        return this;
    }

    /// <summary>printf's %0Nx / %0NX: at least <paramref name="width"/> digits.</summary>
    private PacketLogLine Hex(uint value, int width, bool upper)
    {
        int digits = 1;
        while (digits < 8 && value >> (4 * digits) != 0)
            digits++;
        for (int i = Math.Max(digits, width) - 1; i >= 0; i--)
        {
            int nibble = (int)(value >> (4 * i)) & 0xF;
            Char((char)(nibble < 10 ? '0' + nibble : (upper ? 'A' : 'a') + nibble - 10));
        }
        return this;
    }

    private PacketLogLine HexBytes(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            Hex(b, 2, upper: true);
        return this;
    }

    private PacketLogLine MacAddress(ReadOnlySpan<byte> address)
    {
        for (int i = 0; i < address.Length; i++)
        {
            if (i > 0)
                Char(':');
            Hex(address[i], 2, upper: false);
        }
        return this;
    }

    private PacketLogLine Ipv4Address(ReadOnlySpan<byte> address)
    {
        for (int i = 0; i < 4; i++)
        {
            if (i > 0)
                Char('.');
            Number(address[i]);
        }
        return this;
    }

    /// <summary>%pI6: eight groups of four lower-case digits, nothing compressed.</summary>
    private PacketLogLine Ipv6Address(ReadOnlySpan<byte> address)
    {
        for (int i = 0; i < 16; i += 2)
        {
            if (i > 0)
                Char(':');
            Hex((uint)(address[i] << 8 | address[i + 1]), 4, upper: false);
        }
        return this;
    }
}
