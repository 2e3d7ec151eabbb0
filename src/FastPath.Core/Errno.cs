// SPDX-License-Identifier: MIT
namespace FastPath.Core;

/// <summary>The Linux errno values FastPath reports, with the kernel's numbers and strerror texts.</summary>
public enum Errno
{
    None = 0,
    ENOENT = 2,
    EBUSY = 16,
    EEXIST = 17,
    EISDIR = 21,
    EINVAL = 22,
    ESPIPE = 29,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    EOPNOTSUPP = 95,
}

public static class Errnos
{
    /// <summary>glibc's strerror text, as nfct, iptables and shells print it.</summary>
    public static string Message(Errno errno) => errno switch
    {
        Errno.None => "Success",
        Errno.ENOENT => "No such file or directory",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.EISDIR => "Is a directory",
        Errno.EINVAL => "Invalid argument",
        Errno.ESPIPE => "Illegal seek",
        Errno.ERANGE => "Numerical result out of range",
        Errno.ENAMETOOLONG => "File name too long",
        Errno.ENOSYS => "Function not implemented",
        Errno.EOPNOTSUPP => "Operation not supported",
        _ => $"Unknown error {(int)errno}",
    };
}
