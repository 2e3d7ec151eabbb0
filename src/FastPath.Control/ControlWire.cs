// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;

namespace FastPath.Control;

/// <summary>
/// The bytes on the control socket (docs/control-protocol.md). A request is one header line,
/// "VERB [PATH [ARG ...]]\n", fields separated by single spaces, each field with '%', space and control
/// characters written as %XX and an empty argument as a lone '%'; a write's header ends with the payload's
/// length and exactly that many raw bytes follow. A response is "OK\n" and the body, or
/// "ERR NUMBER NAME message\n"; the server then closes.
/// </summary>
public static class ControlWire
{
    /// <summary>The largest request (header and payload) the server reads.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>The verb whose last header field is the length of the payload that follows.</summary>
    public const string WriteVerb = "write";

    /// <summary>
    /// An empty argument on the wire: a field cannot be empty (it would vanish between the separators), and a lone
    /// '%' is no other field, as '%' itself travels as %25. nfct takes empty words ("" is the list command).
    /// </summary>
    private const string EmptyField = "%";

    public static byte[] EncodeRequest(ControlRequest request)
    {
        // An empty path would vanish between the separators, so a path-less request has no arguments either.
        if (request.Verb.Length == 0 || (request.Path.Length == 0 && (request.Args.Count > 0 || request.Verb == WriteVerb)))
            throw new ArgumentException($"'{request.Verb} {request.Path}': the verb, and the path of a write or of a request with arguments, must be non-empty", nameof(request));
        var header = new StringBuilder(Escape(request.Verb));
        if (request.Path.Length > 0)
            header.Append(' ').Append(Escape(request.Path));
        foreach (string arg in request.Args)
            header.Append(' ').Append(arg.Length == 0 ? EmptyField : Escape(arg));
        if (request.Verb == WriteVerb)
            header.Append(' ').Append(request.Payload.Length.ToString(CultureInfo.InvariantCulture));
        header.Append('\n');
        var bytes = Encoding.UTF8.GetBytes(header.ToString());
        return request.Verb == WriteVerb ? [.. bytes, .. request.Payload] : bytes;
    }

    /// <summary>
    /// Parses a header line (without its '\n'); <paramref name="payloadLength"/> is how many payload bytes
    /// follow it. Returns null and the reason when the header is malformed.
    /// </summary>
    public static ControlRequest? ParseHeader(ReadOnlySpan<byte> line, out int payloadLength, out string error)
    {
        payloadLength = 0;
        error = "";
        if (line.Length > 0 && line[^1] == '\r')
            line = line[..^1];
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(line);
        }
        catch (DecoderFallbackException)
        {
            error = "the request header is not UTF-8";
            return null;
        }
        var fields = new List<string>();
        foreach (string raw in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (raw == EmptyField && fields.Count >= 2)
            {
                fields.Add("");
                continue;
            }
            if (!TryUnescape(raw, out string field))
            {
                error = $"bad %-escape in '{raw}'";
                return null;
            }
            fields.Add(field);
        }
        if (fields.Count == 0)
        {
            error = "empty request (expected 'VERB [PATH [ARG ...]]'; try 'help')";
            return null;
        }
        string verb = fields[0];
        string path = fields.Count > 1 ? fields[1] : "";
        var args = fields.Skip(2).ToList();
        if (verb == WriteVerb)
        {
            if (fields.Count != 3 || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out payloadLength))
            {
                error = "a write is 'write PATH LENGTH' followed by LENGTH bytes";
                return null;
            }
            args.Clear();
        }
        return new ControlRequest(verb, path, args, []);
    }

    public static byte[] EncodeResponse(ControlResponse response)
    {
        if (response.Error is not { } e)
            return [.. "OK\n"u8, .. response.Body];
        string message = response.Message.Length > 0 ? response.Message : e.StrError;
        message = message.ReplaceLineEndings(" ");
        return [.. Encoding.UTF8.GetBytes($"ERR {e.Number} {e.Name} {message}\n"), .. response.Body];
    }

    /// <summary>Parses a whole response as the server sent it before closing; null when it is not one.</summary>
    public static ControlResponse? ParseResponse(ReadOnlySpan<byte> data)
    {
        int newline = data.IndexOf((byte)'\n');
        if (newline < 0)
            return null;
        string status = Encoding.UTF8.GetString(data[..newline]);
        var body = data[(newline + 1)..].ToArray();
        if (status == "OK")
            return new ControlResponse(null, "", body);
        var parts = status.Split(' ', 4);
        if (parts.Length < 3 || parts[0] != "ERR" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int number))
            return null;
        var known = ControlError.FromNumber(number);
        var error = known.Name == parts[2] ? known : new ControlError(number, parts[2], known.StrError);
        return new ControlResponse(error, parts.Length > 3 ? parts[3] : "", body);
    }

    /// <summary>Writes '%', space and the ASCII control characters as %XX so a field never contains a separator.</summary>
    public static string Escape(string field)
    {
        var text = new StringBuilder(field.Length);
        foreach (char c in field)
        {
            if (c is '%' or ' ' or '\x7f' or < ' ')
                text.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            else
                text.Append(c);
        }
        return text.ToString();
    }

    private static bool TryUnescape(string field, out string value)
    {
        value = field;
        if (!field.Contains('%'))
            return true;
        var bytes = new List<byte>();
        var utf8 = Encoding.UTF8.GetBytes(field);
        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] != '%')
            {
                bytes.Add(utf8[i]);
                continue;
            }
            if (i + 2 >= utf8.Length
                || !byte.TryParse(utf8.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
                return false;
            bytes.Add(b);
            i += 2;
        }
        try
        {
            value = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
