// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;

namespace FastPath.Daemon;

/// <summary>
/// Tells a regular file from a FIFO, socket or device: the runtime only tells files from directories, and
/// opening a FIFO that has no writer blocks the caller until one comes.
/// </summary>
internal static partial class RegularFile
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int FileTypeMask = 0xF000;
    private const int RegularFileType = 0x8000;

    /// <summary>False for an existing file that is not a regular one (after symbolic links); true otherwise, a missing file included, so that opening it reports why.</summary>
    public static bool IsRegularOrMissing(string path)
    {
        // struct statx is the same on every architecture, unlike struct stat.
        var statx = new byte[256];
        if (Statx(AtFdCwd, path, 0, StatxType, statx) != 0)
            return true;
        int mode = BitConverter.ToUInt16(statx, StatxModeOffset);
        return (mode & FileTypeMask) == RegularFileType;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, [Out] byte[] buffer);
}
