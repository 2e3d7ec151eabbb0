// SPDX-License-Identifier: MIT
using System.Globalization;

namespace FastPath.Control;

/// <summary>
/// Who may use the control socket, set like xt_recent's ip_list_perms / ip_list_uid / ip_list_gid: the mode of
/// the socket file (connecting needs write permission on it) and optionally its owner and group. A null id
/// leaves the daemon's own.
/// </summary>
public sealed record SocketPermissions(UnixFileMode Mode, int? Uid, int? Gid)
{
    /// <summary>0600 and the daemon's user: the default.</summary>
    public static SocketPermissions OwnerOnly { get; } = new(UnixFileMode.UserRead | UnixFileMode.UserWrite, null, null);

    /// <summary>The command-line options (name without "--", argument, help), for a daemon's option table.</summary>
    public static readonly (string Name, string Argument, string Help)[] Options =
    [
        ("control-perms", "MODE", "Mode of the control socket file, in octal as chmod takes it (default 0600: only the daemon's user can connect; 0660 lets its group in too). Like xt_recent's ip_list_perms."),
        ("control-uid", "UID", "Numeric user id to own the control socket file (default: the daemon's user). Like ip_list_uid."),
        ("control-gid", "GID", "Numeric group id of the control socket file (default: the daemon's group). Like ip_list_gid."),
    ];

    /// <summary>Parses "--control-perms 0660 --control-gid 27" (or "--control-perms=0660"); anything else is a FormatException.</summary>
    public static SocketPermissions Parse(IReadOnlyList<string> args)
    {
        var permissions = OwnerOnly;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new FormatException($"unexpected argument '{arg}'");
            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
                (name, value) = (name[..eq], name[(eq + 1)..]);
            if (value is null && i + 1 < args.Count)
                value = args[++i];
            permissions = permissions.With(name, value ?? throw new FormatException($"option '--{name}' needs a value"));
        }
        return permissions;
    }

    /// <summary>This value with one option (a name from <see cref="Options"/>) set from its text.</summary>
    public SocketPermissions With(string option, string value) => option switch
    {
        "control-perms" => this with { Mode = ParseMode(value) },
        "control-uid" => this with { Uid = ParseId(option, value) },
        "control-gid" => this with { Gid = ParseId(option, value) },
        _ => throw new FormatException($"unknown option '--{option}'"),
    };

    /// <summary>An octal mode from 0 to 0777 ("0600", "660").</summary>
    public static UnixFileMode ParseMode(string text)
    {
        int mode = 0;
        bool valid = text.Length is > 0 and <= 4;
        foreach (char c in text)
        {
            valid &= c is >= '0' and <= '7';
            mode = (mode * 8) + (c - '0');
        }
        if (!valid || mode > 0x1FF)
            throw new FormatException($"--control-perms: expected an octal mode from 0000 to 0777 such as 0600 or 0660, got '{text}'");
        return (UnixFileMode)mode;
    }

    private static int ParseId(string option, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int id)
            ? id
            : throw new FormatException($"--{option}: expected a numeric id (0 or more), got '{text}'");
}
