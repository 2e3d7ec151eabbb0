// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>What one write to /proc/net/xt_recent/NAME asks for, parsed with the kernel's rules.</summary>
public readonly record struct RecentProcWrite(RecentProcWriteKind Kind, InetAddress Address, bool IsIPv6, bool Truncated = false)
{
    /// <summary>The kernel copies at most this many bytes of a write: sizeof("+b335:1d35:1e55:dead:c0de:1715:255.255.255.255").</summary>
    public const int BufferSize = 47;

    /// <summary>
    /// Parses a write the way recent_mt_proc_write does: "/" flushes (whatever follows), "+ADDR" adds or
    /// refreshes, "-ADDR" removes; an address containing ':' is IPv6. Errors are EINVAL, as in the kernel.
    /// An empty write does nothing. A write longer than <see cref="BufferSize"/> is cut to it and marked
    /// <see cref="Truncated"/>: the kernel applies the first part and the writer's next write of the rest fails
    /// with ESPIPE (see <see cref="ResultAfterApply"/>).
    /// </summary>
    public static Errno TryParse(ReadOnlySpan<byte> input, out RecentProcWrite write)
    {
        write = default;
        if (input.Length == 0)
            return Errno.None;
        bool truncated = input.Length > BufferSize;
        if (truncated)
            input = input.Slice(0, BufferSize);
        RecentProcWriteKind kind;
        switch (input[0])
        {
            case (byte)'/':
                write = new RecentProcWrite(RecentProcWriteKind.Flush, default, false, truncated);
                return Errno.None;
            case (byte)'-':
                kind = RecentProcWriteKind.Remove;
                break;
            case (byte)'+':
                kind = RecentProcWriteKind.Add;
                break;
            default:
                return Errno.EINVAL;
        }
        var text = input.Slice(1);
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        bool ipv6 = text.IndexOf((byte)':') >= 0;
        bool ok = ipv6 ? KernelAddressText.TryParseIPv6(text, bytes) : KernelAddressText.TryParseIPv4(text, bytes, out _);
        if (!ok)
            return Errno.EINVAL;
        write = new RecentProcWrite(kind, ipv6 ? InetAddress.FromIPv6(bytes) : InetAddress.FromIPv4(bytes.Slice(0, 4)), ipv6, truncated);
        return Errno.None;
    }

    /// <summary>
    /// What the writer sees once the write has been applied: success, or ESPIPE when it was longer than the
    /// kernel's buffer (the kernel took part of it and refuses the rest at a non-zero offset).
    /// </summary>
    public Errno ResultAfterApply => Truncated ? Errno.ESPIPE : Errno.None;

    /// <summary>Carries the write out on a table (or on the shard that owns the address) at <paramref name="now"/> jiffies.</summary>
    public void ApplyTo(RecentTable table, ulong now)
    {
        switch (Kind)
        {
            case RecentProcWriteKind.Flush:
                table.Flush();
                break;
            case RecentProcWriteKind.Add:
                table.AddOrRefresh(Address, IsIPv6, now);
                break;
            case RecentProcWriteKind.Remove:
                table.RemoveAddress(Address, IsIPv6);
                break;
        }
    }
}

public enum RecentProcWriteKind : byte
{
    /// <summary>An empty write (and the default value): applying it changes nothing.</summary>
    Nothing,
    Flush,
    Add,
    Remove,
}
