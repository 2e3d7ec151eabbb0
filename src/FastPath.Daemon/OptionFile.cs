// SPDX-License-Identifier: MIT
namespace FastPath.Daemon;

/// <summary>
/// Opens the file an option names. A file that cannot be opened is a runtime failure (exit status 1), as a bad
/// rules file or capture is, and the message names the option.
/// </summary>
internal static class OptionFile
{
    public static FileStream Open(string option, string path, FileMode mode, FileAccess access, FileShare share) =>
        Guard(option, () => new FileStream(path, mode, access, share));

    public static string[] ReadAllLines(string option, string path) => Guard(option, () => File.ReadAllLines(path));

    private static T Guard<T>(string option, Func<T> open)
    {
        try
        {
            return open();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option}: {e.Message}", e);
        }
    }
}
