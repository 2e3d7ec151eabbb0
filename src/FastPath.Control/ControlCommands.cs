// SPDX-License-Identifier: MIT
using System.Text;

namespace FastPath.Control;

/// <summary>
/// Handles one request. <paramref name="rest"/> is what follows the registered prefix of a prefix command
/// (the table name of /proc/net/xt_recent/NAME), and empty for an exact path.
/// </summary>
public delegate ControlResponse ControlHandler(ControlRequest request, string rest);

/// <summary>
/// One entry of the command table. <see cref="Arguments"/> is the usage text of the arguments after the path
/// ("[json]"): each word is one argument the command accepts at most, and "..." lifts the limit.
/// </summary>
public sealed record ControlCommand(string Verb, string Path, bool IsPrefix, string Placeholder, string Arguments, string Summary, ControlHandler Handler)
{
    public int MaxArguments => Arguments.Contains("...", StringComparison.Ordinal)
        ? int.MaxValue
        : Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>How help shows the command: "read /proc/net/xt_recent/NAME", "show /proc/net/xt_recent/NAME [json]".</summary>
    public string Usage => string.Join(' ', new[] { Verb, IsPrefix ? Path + Placeholder : Path, Arguments }.Where(p => p.Length > 0));
}

/// <summary>
/// The path-addressed command table the management thread serves: handlers are registered by verb and by exact
/// path or path prefix, so a feature adds its paths (/proc/net/nf_conntrack, /proc/sys/net/netfilter/...) by
/// registering, and `help` lists whatever is registered. Used by one thread only.
/// </summary>
public sealed class ControlCommands
{
    private readonly List<ControlCommand> _commands = [];

    public ControlCommands() => Register("help", "", "", "list the commands this server takes", (_, _) => ControlResponse.Ok(Help()));

    public IReadOnlyList<ControlCommand> Commands => _commands;

    /// <summary>Registers a handler for one verb on one exact path ("" for verbs that take no path).</summary>
    public void Register(string verb, string path, string arguments, string summary, ControlHandler handler) =>
        Add(new ControlCommand(verb, path, IsPrefix: false, "", arguments, summary, handler));

    /// <summary>
    /// Registers a handler for one verb on every path below <paramref name="prefix"/> (which ends in '/');
    /// <paramref name="placeholder"/> names the rest in help ("NAME").
    /// </summary>
    public void RegisterPrefix(string verb, string prefix, string placeholder, string arguments, string summary, ControlHandler handler)
    {
        if (!prefix.EndsWith('/'))
            throw new ArgumentException($"a path prefix ends with '/': '{prefix}'", nameof(prefix));
        Add(new ControlCommand(verb, prefix, IsPrefix: true, placeholder, arguments, summary, handler));
    }

    /// <summary>
    /// Finds the command for the request (an exact path first, then the longest prefix) and runs it. A handler
    /// that throws answers EIO: a bug in one command must not take the management thread down. A worker that does
    /// not get to the request in time (<see cref="TimeoutException"/>) answers ETIMEDOUT.
    /// </summary>
    public ControlResponse Dispatch(ControlRequest request)
    {
        string path = Resolve(request.Path);
        var (command, rest) = Find(request.Verb, path);
        // As opening the file would answer: a directory (a path served by list) cannot be read or written, and a path
        // written as a directory ("NAME/") must be one.
        bool directory = _commands.Any(c => c.Verb == "list" && !c.IsPrefix && c.Path == path);
        if (directory && request.Verb is "read" or "write")
            return ControlResponse.Fail(ControlError.EISDIR, $"'{path}' is a directory: ls it");
        if (!directory && command is not null && path != "/" && IsWrittenAsDirectory(request.Path))
        {
            // A name that does not exist is ENOENT first; reading it to know has no side effect.
            var (read, name) = Find("read", path);
            return read is not null && Run(read, new ControlRequest("read", path), name).Error?.Number == ControlError.ENOENT.Number
                ? ControlResponse.Fail(ControlError.ENOENT, $"no such file: '{path}'")
                : ControlResponse.Fail(ControlError.ENOTDIR, $"'{path}' is not a directory");
        }
        if (command is null)
            return NotFound(request.Verb, path);
        if (request.Args.Count > command.MaxArguments)
        {
            return ControlResponse.Fail(ControlError.EINVAL, command.MaxArguments == 0
                ? $"'{command.Usage}' takes no arguments, got '{string.Join(' ', request.Args)}'"
                : $"too many arguments: usage is '{command.Usage}'");
        }
        return Run(command, request with { Path = path }, rest);
    }

    private static ControlResponse Run(ControlCommand command, ControlRequest request, string rest)
    {
        try
        {
            return command.Handler(request, rest);
        }
        catch (TimeoutException e)
        {
            // A worker that did not take the request in time: nothing broke, and the operator may ask again.
            return ControlResponse.Fail(ControlError.ETIMEDOUT, e.Message);
        }
        catch (Exception e)
        {
            return ControlResponse.Fail(ControlError.EIO, $"internal error in '{command.Usage}': {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Every command, one per line: its usage, then what it does.</summary>
    public string Help()
    {
        int width = _commands.Max(c => c.Usage.Length);
        var text = new StringBuilder();
        foreach (var command in _commands)
            text.Append(command.Usage.PadRight(width)).Append("  ").Append(command.Summary).Append('\n');
        return text.ToString();
    }

    private void Add(ControlCommand command)
    {
        if (command.Verb.Length == 0 || command.Verb.Contains(' ') || command.Path.Contains(' '))
            throw new ArgumentException($"a verb is one non-empty word and a path has no spaces: '{command.Verb} {command.Path}'");
        if (_commands.Any(c => c.Verb == command.Verb && c.Path == command.Path && c.IsPrefix == command.IsPrefix))
            throw new ArgumentException($"'{command.Usage}' is registered twice");
        _commands.Add(command);
    }

    /// <summary>
    /// The path as the kernel resolves one: repeated slashes are one, "." names the directory it is in and ".." the one
    /// above ("/proc/net/xt_recent/../xt_recent//SSH" is "/proc/net/xt_recent/SSH"); a relative path stays relative.
    /// </summary>
    private static string Resolve(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part is "" or ".")
                continue;
            if (part == ".." && parts.Count > 0)
                parts.RemoveAt(parts.Count - 1);
            else if (part != "..")
                parts.Add(part);
        }
        string joined = string.Join('/', parts);
        return path.StartsWith('/') ? "/" + joined : joined;
    }

    // "NAME/", "NAME/." and "NAME/.." name NAME as a directory.
    private static bool IsWrittenAsDirectory(string path) =>
        path.EndsWith('/') || path.EndsWith("/.", StringComparison.Ordinal) || path.EndsWith("/..", StringComparison.Ordinal);

    private (ControlCommand? Command, string Remainder) Find(string verb, string path)
    {
        var exact = _commands.FirstOrDefault(c => c.Verb == verb && !c.IsPrefix && c.Path == path);
        if (exact is not null)
            return (exact, "");
        var prefix = _commands
            .Where(c => c.Verb == verb && c.IsPrefix && path.Length > c.Path.Length && path.StartsWith(c.Path, StringComparison.Ordinal))
            .MaxBy(c => c.Path.Length);
        return prefix is null ? (null, "") : (prefix, path[prefix.Path.Length..]);
    }

    private ControlResponse NotFound(string verb, string path)
    {
        if (!_commands.Any(c => c.Verb == verb))
        {
            string verbs = string.Join(", ", _commands.Select(c => c.Verb).Distinct());
            return ControlResponse.Fail(ControlError.EINVAL, $"unknown verb '{verb}' (verbs: {verbs})");
        }
        var otherVerbs = _commands
            .Where(c => c.IsPrefix ? path.Length > c.Path.Length && path.StartsWith(c.Path, StringComparison.Ordinal) : c.Path == path)
            .Select(c => c.Verb)
            .Distinct()
            .ToList();
        if (otherVerbs.Count > 0)
            return ControlResponse.Fail(ControlError.EINVAL, $"'{path}' takes {string.Join(" or ", otherVerbs)}, not {verb}");
        return ControlResponse.Fail(ControlError.ENOENT, path.Length == 0
            ? $"'{verb}' needs a path; see help"
            : $"no such path for {verb}: '{path}'; see help");
    }
}
