// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text.RegularExpressions;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// A `conntrack -L` listing as the live differential tests compare it: every connection as its line without the
/// seconds left (protocol, TCP state, both tuples with their counters, [UNREPLIED], [ASSURED], mark, use), and
/// the timeout it was given: the seconds left plus the time since the packet that set it. The kernel and FastPath
/// run one after the other, and a step (a fastpathctl start, a poll) takes longer on one side than on the other, so
/// the seconds left alone would differ by however much time the steps since that packet took. The listing is read
/// at some moment while its command runs (late in a fastpathctl that took long to start on a loaded machine), so
/// each timeout is the range the command's start and end give. Which of the
/// connection's packets set the timer is not visible from outside (an INVALID or ignored packet, a retransmitted
/// SYN, set none), so each side keeps one candidate per packet of the connection, and the sides agree when the
/// candidates of one packet do: the same packet set the timer on both, to the same timeout.
/// </summary>
internal sealed record ConntrackListing(IReadOnlyList<(string Connection, (double Low, double High)[] Timeouts)> Connections)
{
    /// <summary>How far apart the two sides' timeout ranges may be: the seconds left are rounded down, and a frame is sent a moment before its time is taken.</summary>
    public const double Tolerance = 2.0;

    /// <param name="listing">conntrack's standard output, or fastpathctl's (its timeout-policy=NAME ending is left out).</param>
    /// <param name="sent">Every frame sent before the listing, with when it was sent.</param>
    /// <param name="startedAt">When the listing command started, on the same clock.</param>
    /// <param name="finishedAt">When it had finished.</param>
    public static ConntrackListing Parse(string listing, IReadOnlyList<(Frame Frame, double SentAt)> sent, double startedAt, double finishedAt)
    {
        var connections = new List<(string, (double, double)[])>();
        foreach (string line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int policy = line.IndexOf(" timeout-policy=", StringComparison.Ordinal);
            var fields = (policy >= 0 ? line[..policy] : line).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int secondsLeft = int.Parse(fields[2], CultureInfo.InvariantCulture);
            double[] packets = [.. sent.Where(s => Belongs(s.Frame, fields)).Select(s => s.SentAt)];
            (double, double)[] timeouts = packets.Length == 0
                ? [(secondsLeft, secondsLeft)]
                : [.. packets.Select(at => (secondsLeft + (startedAt - at), secondsLeft + (finishedAt - at)))];
            connections.Add((string.Join(' ', fields.Take(2).Concat(fields.Skip(3)).Select(MaskDeltaTime)), timeouts));
        }
        return new ConntrackListing(connections.OrderBy(c => c.Item1, StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// Null when both list the same connections and, for each, the candidate ranges of one of its packets are within
    /// <see cref="Tolerance"/> of each other; else both listings.
    /// </summary>
    public static string? Difference(ConntrackListing kernel, ConntrackListing fastpath)
    {
        bool same = kernel.Connections.Count == fastpath.Connections.Count
            && kernel.Connections.Zip(fastpath.Connections).All(p => p.First.Connection == p.Second.Connection
                && p.First.Timeouts.Zip(p.Second.Timeouts).Any(t => Math.Max(t.First.Low, t.Second.Low) - Math.Min(t.First.High, t.Second.High) <= Tolerance));
        return same ? null : $"== kernel (timeout given if its last packet set it, connection):\n{kernel}\n== FastPath:\n{fastpath}";
    }

    public static string Formatted(string output)
    {
        string masked = Regex.Replace(output, " timeout-policy=.*$", "", RegexOptions.Multiline);
        masked = Regex.Replace(masked, "<timeout>[0-9]+</timeout>", "<timeout>T</timeout>");
        masked = Regex.Replace(masked, "<id>[0-9]+</id>", "<id>I</id>");
        masked = Regex.Replace(masked, "(use=[0-9]+) id=[0-9]+", "$1 id=I");
        masked = Regex.Replace(masked, "^((?:ipv[46] +[0-9]+ +)?[a-z][a-z0-9]* +[0-9]+ )[0-9]+ ", "$1T ", RegexOptions.Multiline);
        masked = Regex.Replace(masked, "^(-[AD] -t )[0-9]+ ", "$1T ", RegexOptions.Multiline); // -o save
        masked = Regex.Replace(masked, "delta-time=[0-9]+ ", "delta-time=D ");
        masked = Regex.Replace(masked, @"\[start=[^\]]*\] ", "[start=S] ");
        masked = Regex.Replace(masked, "<deltatime>[0-9]+</deltatime>", "<deltatime>D</deltatime>");
        masked = Regex.Replace(masked, "<start>[0-9]+</start>", "<start>S</start>");
        return string.Join('\n', masked.Split('\n').Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// A timestamped connection's delta-time=N without N: the seconds since it started are read a moment apart on the
    /// two sides and may straddle a second; that it has one is compared.
    /// </summary>
    private static string MaskDeltaTime(string field) =>
        field.StartsWith("delta-time=", StringComparison.Ordinal) ? "delta-time=D" : field;

    public override string ToString() => string.Join('\n', Connections.Select(c => $"{c.Timeouts[^1].Low,7:F1}-{c.Timeouts[^1].High:F1} {c.Connection}"));

    /// <summary>Whether the frame is of the connection whose line this is, in either direction (a server's packet may open one).</summary>
    private static bool Belongs(Frame frame, string[] fields)
    {
        string Original(string name) => fields.First(f => f.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];
        if (fields[0] != frame.Protocol)
            return false;
        string source = Original("src"), destination = Original("dst");
        bool sameAddresses = (source, destination) == (frame.Source, frame.Destination) || (source, destination) == (frame.Destination, frame.Source);
        if (frame.Protocol is "icmp" or "icmpv6")
            return Original("id") == $"{frame.SourcePort}" && sameAddresses;
        // conntrack names a protocol of the generic tracker "unknown": its connections are keyed on addresses alone,
        // as are GRE's without keys (both keys 0).
        if (frame.Protocol is "unknown" or "gre")
            return sameAddresses;
        var original = (source, Original("sport"), destination, Original("dport"));
        return original == (frame.Source, $"{frame.SourcePort}", frame.Destination, $"{frame.Port}")
            || original == (frame.Destination, $"{frame.Port}", frame.Source, $"{frame.SourcePort}");
    }
}
