// SPDX-License-Identifier: MIT
using System.Text;

namespace FastPath.Control;

/// <summary>
/// One request: a verb ("read", "write", "list", "show", "reload", "help"), the path it applies to (empty for
/// verbs that take none), further arguments, and the raw bytes of a write.
/// </summary>
public sealed record ControlRequest(string Verb, string Path, IReadOnlyList<string> Args, byte[] Payload)
{
    public ControlRequest(string verb, string path = "", params string[] args)
        : this(verb, path, args, [])
    {
    }
}

/// <summary>
/// One response: success with a body, or an error: errno, a one-line message and, for a command whose own error
/// text has several lines (nfct's usage errors), that text as the body. Handlers return it; <see cref="ControlClient"/>
/// hands the client the same type back.
/// </summary>
public sealed record ControlResponse(ControlError? Error, string Message, byte[] Body)
{
    public bool IsOk => Error is null;

    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Body);

    public static ControlResponse Ok(string body = "") => new(null, "", Encoding.UTF8.GetBytes(body));

    public static ControlResponse Fail(ControlError error, string message) => new(error, message, []);

    /// <summary>An error whose whole text, exactly as the command writes it, travels as the body.</summary>
    public static ControlResponse Fail(ControlError error, string message, string text) => new(error, message, Encoding.UTF8.GetBytes(text));
}
