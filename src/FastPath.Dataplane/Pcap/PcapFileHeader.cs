// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Pcap;

/// <summary>
/// The 24-byte classic pcap file header. <see cref="Magic"/> is the logical value (already decoded in the
/// file's byte order), so it is always <see cref="MicrosecondMagic"/> or <see cref="NanosecondMagic"/>;
/// <see cref="IsSwapped"/> says whether the file's byte order differs from this machine's.
/// </summary>
public readonly record struct PcapFileHeader(
    uint Magic,
    ushort VersionMajor,
    ushort VersionMinor,
    int ThisZone,
    uint SigFigs,
    uint SnapLength,
    uint LinkType,
    bool IsSwapped)
{
    public const uint MicrosecondMagic = 0xA1B2C3D4;
    public const uint NanosecondMagic = 0xA1B23C4D;
    public const uint LinkTypeEthernet = 1;
    public const uint DefaultSnapLength = 262144;

    /// <summary>True when record timestamps carry nanoseconds rather than microseconds.</summary>
    public bool IsNanosecond => Magic == NanosecondMagic;

    /// <summary>A version 2.4 Ethernet header in this machine's byte order.</summary>
    public static PcapFileHeader Ethernet(bool nanosecond, uint snapLength = DefaultSnapLength) =>
        new(nanosecond ? NanosecondMagic : MicrosecondMagic, 2, 4, 0, 0, snapLength, LinkTypeEthernet, IsSwapped: false);
}
