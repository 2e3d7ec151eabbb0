// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>What one write to /proc/net/xt_recent/NAME asks for, parsed with the kernel's rules.</summary>
public readonly record struct RecentProcWrite(RecentProcWriteKind Kind, InetAddress Address, bool IsIPv6, bool Truncated = false)
{
    /// <summary>The kernel copies at most this many bytes of a write: sizeof("+b335:1d35:1e55:dead:c0de:1715:255.255.255.255").</summary>
    public const int BufferSize = 47;

    /// <summary>
    /// Parses one write(2) the way recent_mt_proc_write does: "/" flushes (whatever follows), "+ADDR" adds or
    /// refreshes, "-ADDR" removes; an address with a ':' before any NUL is IPv6. Errors are EINVAL, as in the
    /// kernel. An empty write does nothing. A write longer than <see cref="BufferSize"/> is cut to it and marked
    /// <see cref="Truncated"/>: the kernel applies the first part, and what the writer's next write of the rest
    /// meets depends on the kind (see <see cref="ResultAfterApply"/> and <see cref="RestAt"/>).
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
        // strnchr looks for the ':' only up to a NUL: "+1.2.3.4\0::" is IPv4.
        int nul = text.IndexOf((byte)0);
        bool ipv6 = (nul < 0 ? text : text.Slice(0, nul)).IndexOf((byte)':') >= 0;
        bool ok = ipv6 ? KernelAddressText.TryParseIPv6(text, bytes) : KernelAddressText.TryParseIPv4(text, bytes, out _);
        if (!ok)
            return Errno.EINVAL;
        write = new RecentProcWrite(kind, ipv6 ? InetAddress.FromIPv6(bytes) : InetAddress.FromIPv4(bytes.Slice(0, 4)), ipv6, truncated);
        return Errno.None;
    }

    /// <summary>
    /// What the writer sees once the write has been applied: success, or ESPIPE when an add or remove was longer
    /// than the kernel's buffer (the kernel took part of it, moved the file offset, and refuses the rest there).
    /// </summary>
    public Errno ResultAfterApply => Truncated && Kind != RecentProcWriteKind.Flush ? Errno.ESPIPE : Errno.None;

    /// <summary>
    /// Where the writer's next write begins when this one was a flush longer than the buffer, else 0. The kernel
    /// answers a flush with the bytes it took but leaves the file offset at 0, so the rest of the buffer is a
    /// write of its own, parsed from its first byte ("/" and 46 bytes, then "+1.2.3.4" adds 1.2.3.4).
    /// </summary>
    public int RestAt => Truncated && Kind == RecentProcWriteKind.Flush ? BufferSize : 0;

    /// <summary>
    /// A writer's whole buffer as a program that writes the rest after a short write (echo, a write loop) puts it
    /// through: one kernel write after another, each parsed, then carried out by <paramref name="apply"/> (which
    /// may fail, e.g. when the table is gone). Returns the errno the writer ends with; <paramref name="lastAt"/>
    /// is where in <paramref name="input"/> the last write began.
    /// </summary>
    public static Errno WriteAll(ReadOnlySpan<byte> input, Func<RecentProcWrite, Errno> apply, out int lastAt)
    {
        lastAt = 0;
        while (true)
        {
            var errno = TryParse(input.Slice(lastAt), out var write);
            if (errno != Errno.None)
                return errno;
            errno = apply(write);
            if (errno != Errno.None)
                return errno;
            if (write.RestAt == 0)
                return write.ResultAfterApply;
            lastAt += write.RestAt;
        }
    }

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
