// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;

namespace FastPath.Control;

/// <summary>The two libc calls that give the control socket file its mode and owner, as ip_list_perms/uid/gid do for proc files.</summary>
internal static partial class Libc
{
    /// <summary>chmod(2). Returns 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chmod(string path, uint mode);

    /// <summary>chown(2); -1 leaves the owner or the group as it is. Returns 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Chown(string path, int owner, int group);

    /// <summary>The text of the errno the last call left ("Operation not permitted").</summary>
    internal static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
}
