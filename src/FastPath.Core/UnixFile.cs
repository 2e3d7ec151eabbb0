// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;

namespace FastPath.Core;

/// <summary>What kind of file a path names, after symbolic links.</summary>
public enum UnixFileKind
{
    Missing,
    Regular,
    Directory,
    Socket,
    Fifo,
    Other,
}

/// <summary>
/// What the runtime does not tell: a file's type beyond file or directory (opening a FIFO with no writer blocks,
/// and only a socket may be removed as a stale one) and its identity (two paths, hard links included, naming one
/// file). struct statx is laid out alike on every architecture, unlike struct stat.
/// </summary>
public static partial class UnixFile
{
    private const int AtFdCwd = -100;
    private const uint StatxTypeAndIno = 0x1 | 0x100;
    // Offsets in struct statx; stx_dev_major and stx_dev_minor sit side by side.
    private const int ModeOffset = 28, InoOffset = 32, DevOffset = 136;

    public static UnixFileKind Kind(string path)
    {
        if (!TryStat(path, out var statx))
            return UnixFileKind.Missing;
        return (MemoryMarshal.Read<ushort>(statx.AsSpan(ModeOffset)) & 0xF000) switch
        {
            0x8000 => UnixFileKind.Regular,
            0x4000 => UnixFileKind.Directory,
            0xC000 => UnixFileKind.Socket,
            0x1000 => UnixFileKind.Fifo,
            _ => UnixFileKind.Other,
        };
    }

    /// <summary>Whether both paths exist and are the same file: the same device and inode.</summary>
    public static bool Same(string a, string b) =>
        TryStat(a, out var first) && TryStat(b, out var second)
        && first.AsSpan(InoOffset, 8).SequenceEqual(second.AsSpan(InoOffset, 8))
        && first.AsSpan(DevOffset, 8).SequenceEqual(second.AsSpan(DevOffset, 8));

    private static bool TryStat(string path, out byte[] statx)
    {
        statx = new byte[256];
        return path.Length > 0 && Statx(AtFdCwd, path, 0, StatxTypeAndIno, statx) == 0;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, [Out] byte[] buffer);
}
