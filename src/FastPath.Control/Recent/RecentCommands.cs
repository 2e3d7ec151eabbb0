// SPDX-License-Identifier: MIT
using System.Text;
using FastPath.Core;
using FastPath.Core.Recent;

namespace FastPath.Control.Recent;

/// <summary>
/// /proc/net/xt_recent as the kernel serves it — list the tables, read one in the kernel's line format, write
/// "+ADDR", "-ADDR" or "/" with the kernel's errnos — and the human/JSON views of a table.
/// </summary>
public static class RecentCommands
{
    public const string ProcDirectory = "/proc/net/xt_recent";

    public static void Register(ControlCommands commands, IDataplaneControl backend)
    {
        commands.Register("list", ProcDirectory, "", "the recent tables, one name per line", (_, _) => List(backend));
        commands.RegisterPrefix("read", ProcDirectory + "/", "NAME", "", "recent table NAME as the kernel prints it (stamps in jiffies)",
            (_, name) => Read(backend, name));
        commands.RegisterPrefix("write", ProcDirectory + "/", "NAME", "", "+ADDR adds or refreshes, -ADDR removes, / flushes (the kernel's rules)",
            (request, name) => Write(backend, name, request.Payload));
        commands.RegisterPrefix("show", ProcDirectory + "/", "NAME", "[json]", "recent table NAME with ages in seconds, as a table or JSON",
            (request, name) => Show(backend, name, request.Args));
    }

    // In the order procfs keeps a directory's entries (proc_match): shorter names first, then byte by byte.
    private static ControlResponse List(IDataplaneControl backend)
    {
        var names = new StringBuilder();
        foreach (var name in backend.Ruleset.RecentTables.Select(t => Encoding.UTF8.GetBytes(t.Name))
                     .Order(Comparer<byte[]>.Create((a, b) => a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.AsSpan().SequenceCompareTo(b))))
            names.Append(Encoding.UTF8.GetString(name)).Append('\n');
        return ControlResponse.Ok(names.ToString());
    }

    private static ControlResponse Read(IDataplaneControl backend, string name)
    {
        if (backend.ReadRecentTable(name) is not { } entries)
            return NoSuchTable(name);
        var text = new StringBuilder();
        foreach (var entry in entries)
            text.Append(entry.ProcLine()).Append('\n');
        return ControlResponse.Ok(text.ToString());
    }

    /// <summary>
    /// recent_mt_proc_write: the table must exist before anything is parsed (opening a missing proc file fails
    /// first); an empty write does nothing; an add or remove over 47 bytes is applied and then answers ESPIPE; a
    /// flush over 47 bytes is applied and the rest is written again from its start, as `echo` would.
    /// </summary>
    private static ControlResponse Write(IDataplaneControl backend, string name, byte[] payload)
    {
        if (!backend.Ruleset.RecentTables.Any(t => t.Name == name))
            return NoSuchTable(name);
        if (payload.Length == 0)
            return ControlResponse.Ok();
        var tableError = Errno.None;
        var errno = RecentProcWrite.WriteAll(payload, write => tableError = backend.WriteRecentTable(name, write), out int lastAt);
        if (tableError != Errno.None)
        {
            // The table can go between the check and the write: a reload ran on the dataplane in between.
            var error = ControlError.From(tableError);
            return error == ControlError.ENOENT ? NoSuchTable(name) : ControlResponse.Fail(error, "");
        }
        if (errno == Errno.ESPIPE)
        {
            return ControlResponse.Fail(ControlError.ESPIPE,
                $"the first {RecentProcWrite.BufferSize} bytes were applied; the kernel refuses the rest of a longer write");
        }
        return errno == Errno.None ? ControlResponse.Ok() : ControlResponse.Fail(ControlError.EINVAL, WhyRefused(payload.AsSpan(lastAt)));
    }

    private static ControlResponse Show(IDataplaneControl backend, string name, IReadOnlyList<string> args)
    {
        bool json = args is ["json"];
        if (args.Count > 0 && !json)
            return ControlResponse.Fail(ControlError.EINVAL, $"unknown view '{args[0]}' (the one option is 'json')");
        if (backend.ReadRecentTable(name) is not { } entries)
            return NoSuchTable(name);
        ulong now = backend.NowJiffies;
        return ControlResponse.Ok(json ? RecentTableView.Json(name, entries, now) : RecentTableView.Text(name, entries, now));
    }

    private static ControlResponse NoSuchTable(string name) => ControlResponse.Fail(ControlError.ENOENT, $"no recent table named '{name}'");

    /// <summary>The kernel says only EINVAL; tell the operator which part of the write it did not like.</summary>
    private static string WhyRefused(ReadOnlySpan<byte> payload)
    {
        var shown = payload.Slice(0, Math.Min(payload.Length, RecentProcWrite.BufferSize));
        string text = Printable(Encoding.UTF8.GetString(shown));
        if (shown[0] is not ((byte)'+' or (byte)'-' or (byte)'/'))
            return $"a write is +ADDR, -ADDR or /, got '{text}'";
        int nul = shown.IndexOf((byte)0);
        string family = (nul < 0 ? shown : shown.Slice(0, nul)).IndexOf((byte)':') >= 0 ? "IPv6" : "IPv4";
        return $"'{text}': not an {family} address as the kernel reads it (in{(family == "IPv6" ? 6 : 4)}_pton)";
    }

    /// <summary>The write as C would quote it: control characters and the backslash escaped, the rest as written.</summary>
    private static string Printable(string data)
    {
        var text = new StringBuilder(data.Length);
        foreach (char c in data)
        {
            text.Append(c switch
            {
                '\\' => "\\\\",
                '\0' => "\\0",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                < ' ' or '\x7f' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }
        return text.ToString();
    }
}
