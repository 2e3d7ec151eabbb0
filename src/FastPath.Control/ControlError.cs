// SPDX-License-Identifier: MIT
using FastPath.Core;

namespace FastPath.Control;

/// <summary>
/// An error as the control protocol carries it: the Linux errno number, its symbolic name and glibc's strerror
/// text, so a client prints what the kernel's proc files would have made a shell print.
/// </summary>
public sealed record ControlError(int Number, string Name, string StrError)
{
    public static readonly ControlError EPERM = new(1, "EPERM", "Operation not permitted");
    public static readonly ControlError ENOENT = new(2, "ENOENT", "No such file or directory");
    public static readonly ControlError EIO = new(5, "EIO", "Input/output error");
    public static readonly ControlError EACCES = new(13, "EACCES", "Permission denied");
    public static readonly ControlError EBUSY = new(16, "EBUSY", "Device or resource busy");
    public static readonly ControlError EEXIST = new(17, "EEXIST", "File exists");
    public static readonly ControlError ENOTDIR = new(20, "ENOTDIR", "Not a directory");
    public static readonly ControlError EISDIR = new(21, "EISDIR", "Is a directory");
    public static readonly ControlError EINVAL = new(22, "EINVAL", "Invalid argument");
    public static readonly ControlError ESPIPE = new(29, "ESPIPE", "Illegal seek");
    public static readonly ControlError ERANGE = new(34, "ERANGE", "Numerical result out of range");
    public static readonly ControlError ENAMETOOLONG = new(36, "ENAMETOOLONG", "File name too long");
    public static readonly ControlError ENOSYS = new(38, "ENOSYS", "Function not implemented");
    public static readonly ControlError EMSGSIZE = new(90, "EMSGSIZE", "Message too long");
    public static readonly ControlError EOPNOTSUPP = new(95, "EOPNOTSUPP", "Operation not supported");
    public static readonly ControlError ETIMEDOUT = new(110, "ETIMEDOUT", "Connection timed out");

    private static readonly ControlError[] Known = [EPERM, ENOENT, EIO, EACCES, EBUSY, EEXIST, ENOTDIR, EISDIR, EINVAL, ESPIPE, ERANGE, ENAMETOOLONG, ENOSYS, EMSGSIZE, EOPNOTSUPP, ETIMEDOUT];

    /// <summary>The error for an errno number; numbers not listed here keep their number and get glibc's "Unknown error N".</summary>
    public static ControlError FromNumber(int number) =>
        Array.Find(Known, e => e.Number == number) ?? new ControlError(number, $"E{number}", $"Unknown error {number}");

    /// <summary>Core's <see cref="Errno"/> by number.</summary>
    public static ControlError From(Errno errno) => FromNumber((int)errno);

    /// <summary>The known error whose strerror text a tool's message ends with ("netlink error: File exists"), if any.</summary>
    public static ControlError? NamedIn(string message) =>
        Array.Find(Known, e => message.EndsWith(e.StrError, StringComparison.Ordinal));
}
