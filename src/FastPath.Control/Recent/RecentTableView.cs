// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Control.Recent;

/// <summary>
/// A recent table for people and scripts: what the proc file says, with every stamp also as an age in seconds
/// at the current jiffies. Addresses are written as the proc file writes them (IPv6 fully expanded).
/// </summary>
public static class RecentTableView
{
    /// <summary>Seconds from <paramref name="stamp"/> to <paramref name="now"/>, correct across the jiffies wraparound.</summary>
    public static double AgeSeconds(ulong now, ulong stamp) => unchecked((long)(now - stamp)) / (double)Jiffies.Hz;

    public static string Text(string table, IReadOnlyList<RecentEntryView> entries, ulong now)
    {
        var rows = entries.Select(e => new[]
        {
            Address(e),
            e.Ttl.ToString(CultureInfo.InvariantCulture),
            e.Stamps.Length.ToString(CultureInfo.InvariantCulture),
            Seconds(AgeSeconds(now, e.LastSeen)),
            e.Stamps.Length > 0 ? Seconds(e.Stamps.Max(s => AgeSeconds(now, s))) : "-",
        }).ToList();
        string[] header = ["ADDRESS", "TTL", "HITS", "LAST SEEN (s ago)", "OLDEST STAMP (s ago)"];
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"table {table}: {entries.Count} {(entries.Count == 1 ? "entry" : "entries")}, now {now} jiffies (HZ {Jiffies.Hz})\n");
        foreach (var row in rows.Prepend(header))
        {
            text.Append(row[0].PadRight(widths[0]));
            for (int i = 1; i < row.Length; i++)
                text.Append("  ").Append(row[i].PadLeft(widths[i]));
            text.Append('\n');
        }
        return text.ToString();
    }

    public static string Json(string table, IReadOnlyList<RecentEntryView> entries, ulong now)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("table", table);
            json.WriteNumber("hz", Jiffies.Hz);
            json.WriteNumber("now_jiffies", now);
            json.WriteStartArray("entries");
            foreach (var entry in entries)
            {
                json.WriteStartObject();
                json.WriteString("address", Address(entry));
                json.WriteString("family", entry.IsIPv6 ? "ipv6" : "ipv4");
                json.WriteNumber("ttl", entry.Ttl);
                json.WriteNumber("last_seen_jiffies", entry.LastSeen);
                json.WriteNumber("last_seen_age_seconds", AgeSeconds(now, entry.LastSeen));
                json.WriteStartArray("stamps_jiffies");
                foreach (ulong stamp in entry.Stamps)
                    json.WriteNumberValue(stamp);
                json.WriteEndArray();
                json.WriteStartArray("stamp_ages_seconds");
                foreach (ulong stamp in entry.Stamps)
                    json.WriteNumberValue(AgeSeconds(now, stamp));
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static string Address(RecentEntryView entry) => entry.Address.Format(entry.IsIPv6 ? L3Kind.IPv6 : L3Kind.IPv4);

    private static string Seconds(double seconds) => seconds.ToString("F3", CultureInfo.InvariantCulture);
}
