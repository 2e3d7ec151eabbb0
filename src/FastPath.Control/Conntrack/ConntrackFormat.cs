// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Control.Conntrack;

/// <summary>
/// Connections as text: the lines of /proc/net/nf_conntrack (ct_seq_show, Linux 6.x) and of `conntrack -L`
/// (conntrack-tools 1.4.7 over libnetfilter_conntrack), byte for byte, plus what only FastPath can say: the timeout
/// policy of each connection and how many connections use each policy.
/// </summary>
public static class ConntrackFormat
{
    /// <summary>
    /// conntrack -S: a line per worker, "cpu=%-4d\t" then struct ip_conntrack_stat's counters as conntrack 1.4.7
    /// prints them (32-bit, as the kernel keeps them), each followed by a space.
    /// </summary>
    public static string Statistics(IReadOnlyList<ConntrackStatistics> workers)
    {
        var text = new StringBuilder();
        for (int cpu = 0; cpu < workers.Count; cpu++)
        {
            var s = workers[cpu];
            text.Append(CultureInfo.InvariantCulture,
                $"cpu={cpu,-4}\tfound=0 invalid={(uint)s.Invalid} insert=0 insert_failed={(uint)s.InsertFailed} drop={(uint)s.Drops} early_drop={(uint)s.EarlyDrops} error={(uint)s.Errors} search_restart=0 clash_resolve={(uint)s.ClashResolves} chaintoolong=0 \n");
        }
        return text.ToString();
    }

    /// <summary>conntrack -S expect: a line per worker, with nothing counted (FastPath has no expectations).</summary>
    public static string ExpectStatistics(int workers) => string.Concat(Enumerable.Range(0, workers).Select(cpu =>
        string.Create(CultureInfo.InvariantCulture, $"cpu={cpu,-4}\texpect_new=0 expect_create=0 expect_delete=0 \n")));

    /// <summary>
    /// /proc/net/stat/nf_conntrack as ct_cpu_seq_show prints it: the header, then a row per worker of 32-bit hex
    /// fields, the first being every worker's connections together (nf_conntrack_count, the same on every row).
    /// </summary>
    public static string ProcStatistics(IReadOnlyList<ConntrackStatistics> workers, int entries)
    {
        var text = new StringBuilder("entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n");
        foreach (var s in workers)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{(uint)entries:x8}  {(uint)s.ClashResolves:x8} {0:x8} {0:x8} {(uint)s.Invalid:x8} {0:x8} {0:x8} {0:x8} {0:x8} {(uint)s.InsertFailed:x8} {(uint)s.Drops:x8} {(uint)s.EarlyDrops:x8} {(uint)s.Errors:x8}  {0:x8} {0:x8} {0:x8} {0:x8}\n");
        }
        return text.ToString();
    }

    /// <summary>What conntrack -L prints on stderr after the listing.</summary>
    public static string Summary(int shown) =>
        string.Create(CultureInfo.InvariantCulture, $"conntrack v1.4.7 (conntrack-tools): {shown} flow entries have been shown.\n");

    /// <summary>What conntrack -D prints on stderr after the connections it deleted.</summary>
    public static string DeletedSummary(int deleted) =>
        string.Create(CultureInfo.InvariantCulture, $"conntrack v1.4.7 (conntrack-tools): {deleted} flow entries have been deleted.\n");

    /// <summary>What conntrack -F prints on stderr.</summary>
    public const string FlushedSummary = "conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.\n";

    /// <summary>What conntrack -L expect prints on stderr after the expectations.</summary>
    public static string ExpectSummary(int shown) =>
        string.Create(CultureInfo.InvariantCulture, $"conntrack v1.4.7 (conntrack-tools): {shown} expectations have been shown.\n");

    /// <summary>What conntrack -F expect prints on stderr.</summary>
    public const string ExpectFlushedSummary = "conntrack v1.4.7 (conntrack-tools): expectation table has been emptied.\n";

    /// <summary>
    /// conntrack's usage, which it prints on stdout (exit status 0) for -h and for a line without a command: the
    /// whole of conntrack's, options FastPath does not serve included (fastpathctl --help names FastPath's own).
    /// </summary>
    public const string Usage =
        "Command line interface for the connection tracking system. Version 1.4.7\n" +
        "Usage: conntrack [commands] [options]\n" +
        "\n" +
        "Commands:\n" +
        "  -L [table] [options]\t\tList conntrack or expectation table\n" +
        "  -G [table] parameters\t\tGet conntrack or expectation\n" +
        "  -D [table] parameters\t\tDelete conntrack or expectation\n" +
        "  -I [table] parameters\t\tCreate a conntrack or expectation\n" +
        "  -U [table] parameters\t\tUpdate a conntrack\n" +
        "  -E [table] [options]\t\tShow events\n" +
        "  -F [table]\t\t\tFlush table\n" +
        "  -C [table]\t\t\tShow counter\n" +
        "  -S\t\t\t\tShow statistics\n" +
        "\n" +
        "Tables: conntrack, expect, dying, unconfirmed\n" +
        "\n" +
        "Conntrack parameters and options:\n" +
        "  -n, --src-nat ip\t\t\tsource NAT ip\n" +
        "  -g, --dst-nat ip\t\t\tdestination NAT ip\n" +
        "  -j, --any-nat ip\t\t\tsource or destination NAT ip\n" +
        "  -m, --mark mark\t\t\tSet mark\n" +
        "  -c, --secmark secmark\t\t\tSet selinux secmark\n" +
        "  -e, --event-mask eventmask\t\tEvent mask, eg. NEW,DESTROY\n" +
        "  -z, --zero \t\t\t\tZero counters while listing\n" +
        "  -o, --output type[,...]\t\tOutput format, eg. xml\n" +
        "  -l, --label label[,...]\t\tconntrack labels\n" +
        "\n" +
        "Expectation parameters and options:\n" +
        "  --tuple-src ip\tSource address in expect tuple\n" +
        "  --tuple-dst ip\tDestination address in expect tuple\n" +
        "\n" +
        "Updating parameters and options:\n" +
        "  --label-add label\tAdd label\n" +
        "  --label-del label\tDelete label\n" +
        "\n" +
        "Common parameters and options:\n" +
        "  -s, --src, --orig-src ip\t\tSource address from original direction\n" +
        "  -d, --dst, --orig-dst ip\t\tDestination address from original direction\n" +
        "  -r, --reply-src ip\t\tSource addres from reply direction\n" +
        "  -q, --reply-dst ip\t\tDestination address from reply direction\n" +
        "  -p, --protonum proto\t\tLayer 4 Protocol, eg. 'tcp'\n" +
        "  -f, --family proto\t\tLayer 3 Protocol, eg. 'ipv6'\n" +
        "  -t, --timeout timeout\t\tSet timeout\n" +
        "  -u, --status status\t\tSet status, eg. ASSURED\n" +
        "  -w, --zone value\t\tSet conntrack zone\n" +
        "  --orig-zone value\t\tSet zone for original direction\n" +
        "  --reply-zone value\t\tSet zone for reply direction\n" +
        "  -b, --buffer-size\t\tNetlink socket buffer size\n" +
        "  --mask-src ip\t\t\tSource mask address\n" +
        "  --mask-dst ip\t\t\tDestination mask address\n" +
        "\n";

    /// <summary>What conntrack -V prints on stdout.</summary>
    public const string Version = "conntrack v1.4.7 (conntrack-tools)\n";

    /// <summary>The field FastPath adds at the end of a conntrack -L line of a connection on a named timeout policy; the name runs to the end of the line.</summary>
    public const string PolicyField = "timeout-policy=";

    /// <summary>
    /// One line of /proc/net/nf_conntrack: "%-8s %u %-8s %u %ld " (family, its number, protocol, its number,
    /// seconds left), the protocol's state, both tuples (counters after each when the connection is <see cref="FlowView.Accounted"/>,
    /// [UNREPLIED] between them), [ASSURED], mark, zone, delta-time (the whole seconds since a timestamped connection
    /// started, <see cref="FlowView.StartedJiffiesAgo"/>), and use counting the reader's own reference.
    /// </summary>
    public static string ProcLine(FlowView flow)
    {
        var line = new StringBuilder(200);
        line.Append(CultureInfo.InvariantCulture, $"{FamilyName(flow.Family),-8} {FamilyNumber(flow.Family)} {ProcProtocolName(flow.Protocol),-8} {flow.Protocol} {flow.TimeoutSeconds} ");
        AppendState(line, flow);
        if (flow.GreTimeouts is { } gre)
            line.Append(CultureInfo.InvariantCulture, $"timeout={gre.Timeout}, stream_timeout={gre.StreamTimeout} "); // gre_print_conntrack
        AppendTuples(line, flow, procLine: true);
        line.Append(CultureInfo.InvariantCulture, $"mark={flow.Mark} zone={flow.Zone} ");
        if (flow.StartedJiffiesAgo is { } ago)
            line.Append(CultureInfo.InvariantCulture, $"delta-time={ago / Jiffies.Hz} ");
        line.Append(CultureInfo.InvariantCulture, $"use={flow.Use + 1}\n");
        return line.ToString();
    }

    /// <summary>
    /// One line of `conntrack -L`: like the proc line without the family columns, IPv6 compressed as inet_ntop
    /// writes it, counters after each tuple when the connection is <see cref="FlowView.Accounted"/> (the kernel dumps
    /// them for a connection with the acct extension), zone only when not 0, the netlink use count; then
    /// <see cref="PolicyField"/> NAME when the connection has a timeout policy. With -o extended the family columns
    /// lead as in the proc line; with -o id, id=N follows use. <paramref name="held"/>: the line answers -G, whose
    /// lookup holds one more reference while the kernel prints (use=2 where -L says 1). A timestamped connection
    /// (<see cref="FlowView.StartedJiffiesAgo"/>) shows delta-time=N before use, and with -o ktimestamp [start=DATE] after
    /// it, as of <paramref name="now"/> (the wall clock when null).
    /// </summary>
    public static string ToolLine(FlowView flow, ConntrackOutput output = ConntrackOutput.None, bool held = false, DateTimeOffset? now = null)
    {
        var line = new StringBuilder(200);
        if (output.HasFlag(ConntrackOutput.Extended))
            line.Append(CultureInfo.InvariantCulture, $"{FamilyName(flow.Family),-8} {FamilyNumber(flow.Family)} ");
        line.Append(CultureInfo.InvariantCulture, $"{ProtocolName(flow.Protocol),-8} {flow.Protocol} {flow.TimeoutSeconds} ");
        AppendState(line, flow);
        AppendTuples(line, flow, procLine: false);
        line.Append(CultureInfo.InvariantCulture, $"mark={flow.Mark} ");
        if (flow.Zone != 0)
            line.Append(CultureInfo.InvariantCulture, $"zone={flow.Zone} ");
        if (Started(flow, now) is var (start, delta))
        {
            line.Append(CultureInfo.InvariantCulture, $"delta-time={delta} ");
            if (output.HasFlag(ConntrackOutput.KernelTimestamp))
                line.Append("[start=").Append(CTime(start)).Append("] ");
        }
        line.Append(CultureInfo.InvariantCulture, $"use={Use(flow, held)}");
        if (output.HasFlag(ConntrackOutput.Id))
            line.Append(CultureInfo.InvariantCulture, $" id={flow.Id}");
        if (flow.TimeoutPolicy is { } policy)
            line.Append(' ').Append(PolicyField).Append(policy);
        return line.Append('\n').ToString();
    }

    /// <summary>
    /// One connection as conntrack -o save prints it (ct_save_snprintf): as the command line that would make it, "-A"
    /// (-L and -G) or "-D" (-D), the timeout, the status bits conntrack names (UNSET for none), the tuples' addresses
    /// and the protocol by its module's name (its number without one) with what the module prints of what the kernel
    /// dumps: ports or GRE keys, the state, ICMP's type, code and id, SCTP's verification tags. No mark, zone, counters
    /// or timeout policy.
    /// </summary>
    public static string SaveLine(FlowView flow, ConntrackAction action)
    {
        var line = new StringBuilder(200);
        line.Append(action == ConntrackAction.Delete ? "-D" : "-A");
        string status = string.Join(',', new[] { (flow.SeenReply, "SEEN_REPLY"), (flow.Assured, "ASSURED") }.Where(b => b.Item1).Select(b => b.Item2));
        line.Append(CultureInfo.InvariantCulture, $" -t {flow.TimeoutSeconds} -u {(status.Length > 0 ? status : "UNSET")}");
        string Text(InetAddress address) => Address(address, flow.Family, ipv6Expanded: false);
        line.Append(CultureInfo.InvariantCulture,
            $" -s {Text(flow.Original.Source)} -d {Text(flow.Original.Destination)} -r {Text(flow.Reply.Source)} -q {Text(flow.Reply.Destination)}");
        string name = ProtocolName(flow.Protocol);
        line.Append(" -p ").Append(name == "unknown" ? flow.Protocol.ToString(CultureInfo.InvariantCulture) : name);
        if (flow.Protocol is 1 or 58)
        {
            line.Append(CultureInfo.InvariantCulture,
                $" --{name}-type {flow.Original.IcmpType} --{name}-code {flow.Original.IcmpCode} --{name}-id {flow.Original.IcmpId}");
        }
        else if (FlowTable.HasPorts(flow.Protocol) || flow.Protocol == ProtocolModule.Gre)
        {
            var (source, destination, replySource, replyDestination) = flow.Protocol == ProtocolModule.Gre
                ? ("srckey", "dstkey", "reply-key-src", "reply-key-dst")
                : ("sport", "dport", "reply-port-src", "reply-port-dst");
            line.Append(CultureInfo.InvariantCulture,
                $" --{source} {flow.Original.SourcePort} --{destination} {flow.Original.DestinationPort} --{replySource} {flow.Reply.SourcePort} --{replyDestination} {flow.Reply.DestinationPort}");
        }
        if (flow.State is { } state)
            line.Append(" --state ").Append(state);
        if (flow.SctpTags is var (originalTag, replyTag))
            line.Append(CultureInfo.InvariantCulture, $" --orig-vtag {AsConntrackPrintsTag(originalTag)} --reply-vtag {AsConntrackPrintsTag(replyTag)}");
        return line.Append('\n').ToString();
    }

    // libnetfilter_conntrack turns the kernel's big-endian tag into a number, and conntrack's save applies ntohl to
    // that number again: on a little-endian host the tag 0x1234 prints as 873594880 (0x34120000).
    private static uint AsConntrackPrintsTag(uint tag) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(tag) : tag;

    /// <summary>
    /// When a timestamped connection started on the wall clock, given <paramref name="now"/> (the wall clock when null),
    /// and the delta-time conntrack prints: the seconds of now less the whole seconds of the start (time(NULL) less the
    /// kernel's start in whole seconds). Null for a connection without a timestamp.
    /// </summary>
    private static (DateTimeOffset Start, long Delta)? Started(FlowView flow, DateTimeOffset? now)
    {
        if (flow.StartedJiffiesAgo is not { } ago)
            return null;
        var wall = now ?? DateTimeOffset.UtcNow;
        var start = wall - TimeSpan.FromMilliseconds(ago * 1000.0 / Jiffies.Hz);
        return (start, wall.ToUnixTimeSeconds() - start.ToUnixTimeSeconds());
    }

    /// <summary>ctime(3) in local time without its line break: "Thu Dec  3 16:42:30 2026".</summary>
    private static string CTime(DateTimeOffset at)
    {
        var local = TimeZoneInfo.ConvertTime(at, TimeZoneInfo.Local);
        return string.Create(CultureInfo.InvariantCulture, $"{local:ddd} {local:MMM} {local.Day,2} {local:HH:mm:ss} {local.Year}");
    }

    /// <summary>Nanoseconds since the epoch, as the kernel's CTA_TIMESTAMP_START.</summary>
    private static long UnixNanoseconds(DateTimeOffset at) => (at.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    /// <summary>The first two lines conntrack prints before its first connection in XML (-L and -G; -D prints none).</summary>
    public const string XmlHeader = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n";

    /// <summary>What conntrack -L prints after the connections in XML, when it printed the header (-G and -D print none).</summary>
    public const string XmlFooter = "</conntrack>\n";

    /// <summary>
    /// What conntrack prints on standard output for the connections an -L (<paramref name="action"/> List), -G (Get)
    /// or -D (Delete) shows, in the format <paramref name="output"/> asks for: one line each, or with -o xml one
    /// &lt;flow&gt; element each, after <see cref="XmlHeader"/> for -L and -G (printed with the first connection,
    /// so nothing at all without one) and, for -L only, before <see cref="XmlFooter"/>.
    /// </summary>
    public static string Lines(IReadOnlyList<FlowView> flows, ConntrackOutput output, ConntrackAction action, DateTimeOffset? now = null)
    {
        bool held = action == ConntrackAction.Get;
        if (output == ConntrackOutput.Save)
            return string.Concat(flows.Select(f => SaveLine(f, action)));
        // conntrack prints no start time for what -D deleted, only its delta-time.
        if (action == ConntrackAction.Delete)
            output &= ~ConntrackOutput.KernelTimestamp;
        now ??= DateTimeOffset.UtcNow;
        if (!output.HasFlag(ConntrackOutput.Xml))
            return string.Concat(flows.Select(f => ToolLine(f, output, held, now)));
        if (flows.Count == 0)
            return "";
        var text = new StringBuilder();
        if (action != ConntrackAction.Delete)
            text.Append(XmlHeader);
        foreach (var flow in flows)
            text.Append(XmlLine(flow, held, output, now));
        if (action == ConntrackAction.List)
            text.Append(XmlFooter);
        return text.ToString();
    }

    /// <summary>How many connections <see cref="Lines"/> printed: its lines, or with -o xml its &lt;flow&gt; elements.</summary>
    public static int CountShown(string lines, ConntrackOutput output) =>
        lines.Split('\n').Count(l => output.HasFlag(ConntrackOutput.Xml) ? l.StartsWith("<flow>", StringComparison.Ordinal) : l.Length > 0);

    /// <summary>
    /// One connection as libnetfilter_conntrack's XML (__snprintf_conntrack_xml, 1.0.9): each direction's layer 3 and
    /// layer 4 (ports, GRE keys; nothing for ICMP) and counters when <see cref="FlowView.Accounted"/>, then the state,
    /// timeout, mark, use, id, [assured] and [unreplied], then for a timestamped connection its start in nanoseconds
    /// (with -o ktimestamp) and deltatime, as of <paramref name="now"/> (the wall clock when null). The timeout policy
    /// is FastPath's and not in conntrack's document: --json or the text line shows it.
    /// </summary>
    public static string XmlLine(FlowView flow, bool held, ConntrackOutput output = ConntrackOutput.Xml, DateTimeOffset? now = null)
    {
        var xml = new StringBuilder(600);
        xml.Append("<flow>");
        AppendXmlDirection(xml, flow, "original", flow.Original, flow.Accounted ? (flow.OriginalPackets, flow.OriginalBytes) : null);
        AppendXmlDirection(xml, flow, "reply", flow.Reply, flow.Accounted ? (flow.ReplyPackets, flow.ReplyBytes) : null);
        xml.Append("<meta direction=\"independent\">");
        if (XmlState(flow) is { } state)
            xml.Append("<state>").Append(state).Append("</state>");
        xml.Append(CultureInfo.InvariantCulture, $"<timeout>{flow.TimeoutSeconds}</timeout><mark>{flow.Mark}</mark><use>{Use(flow, held)}</use><id>{flow.Id}</id>");
        if (flow.Assured)
            xml.Append("<assured/>");
        if (!flow.SeenReply)
            xml.Append("<unreplied/>");
        if (Started(flow, now) is var (start, delta))
        {
            if (output.HasFlag(ConntrackOutput.KernelTimestamp))
                xml.Append(CultureInfo.InvariantCulture, $"<timestamp><start>{UnixNanoseconds(start)}</start></timestamp>");
            xml.Append(CultureInfo.InvariantCulture, $"<deltatime>{delta}</deltatime>");
        }
        return xml.Append("</meta></flow>\n").ToString();
    }

    private static int Use(FlowView flow, bool held) => flow.Use + (held ? 1 : 0);

    private static void AppendXmlDirection(StringBuilder xml, FlowView flow, string direction, FlowTuple tuple, (ulong Packets, ulong Bytes)? counters)
    {
        xml.Append(CultureInfo.InvariantCulture, $"<meta direction=\"{direction}\"><layer3 protonum=\"{FamilyNumber(flow.Family)}\" protoname=\"{FamilyName(flow.Family)}\">");
        xml.Append("<src>").Append(Address(tuple.Source, flow.Family, ipv6Expanded: false)).Append("</src>");
        xml.Append("<dst>").Append(Address(tuple.Destination, flow.Family, ipv6Expanded: false)).Append("</dst></layer3>");
        xml.Append(CultureInfo.InvariantCulture, $"<layer4 protonum=\"{flow.Protocol}\" protoname=\"{ProtocolName(flow.Protocol)}\">");
        if (flow.Protocol == ProtocolModule.Gre)
            xml.Append(CultureInfo.InvariantCulture, $"<srckey>0x{tuple.SourcePort:x}</srckey><dstkey>0x{tuple.DestinationPort:x}</dstkey>");
        else if (FlowTable.HasPorts(flow.Protocol) || flow.Protocol == ProtocolModule.Dccp)
            xml.Append(CultureInfo.InvariantCulture, $"<sport>{tuple.SourcePort}</sport><dport>{tuple.DestinationPort}</dport>");
        xml.Append("</layer4>");
        if (counters is var (packets, bytes))
            xml.Append(CultureInfo.InvariantCulture, $"<counters><packets>{packets}</packets><bytes>{bytes}</bytes></counters>");
        xml.Append("</meta>");
    }

    // libnetfilter_conntrack's XML names every state with TCP's names, SCTP's by its number too (ESTABLISHED, 4, is
    // printed FIN_WAIT).
    private static string? XmlState(FlowView flow)
    {
        if (flow.State is not { } state || flow.Protocol != 132)
            return flow.State;
        string[] tcp = ProtocolModule.All.First(m => m.Number == 6).States.Names, sctp = ProtocolModule.All.First(m => m.Number == 132).States.Names;
        return tcp[Array.IndexOf(sctp, state)];
    }

    /// <summary>The connections as one JSON document, with the same names the text uses.</summary>
    public static string Json(IReadOnlyList<FlowView> flows)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("flows");
            foreach (var flow in flows)
            {
                json.WriteStartObject();
                json.WriteString("family", FamilyName(flow.Family));
                json.WriteString("protocol", ProtocolName(flow.Protocol));
                json.WriteNumber("protocol_number", flow.Protocol);
                json.WriteNumber("timeout", flow.TimeoutSeconds);
                if (flow.State is { } state)
                    json.WriteString("state", state);
                WriteTuple(json, "original", flow, flow.Original, flow.OriginalPackets, flow.OriginalBytes);
                WriteTuple(json, "reply", flow, flow.Reply, flow.ReplyPackets, flow.ReplyBytes);
                json.WriteBoolean("unreplied", !flow.SeenReply);
                json.WriteBoolean("assured", flow.Assured);
                json.WriteNumber("mark", flow.Mark);
                json.WriteNumber("zone", flow.Zone);
                json.WriteNumber("use", flow.Use);
                if (flow.TimeoutPolicy is { } policy)
                    json.WriteString("timeout_policy", policy);
                else
                    json.WriteNull("timeout_policy");
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>-L expect --json: FastPath keeps no expectation, so always an empty list, indented as <see cref="Json"/> writes.</summary>
    public const string ExpectationsJson = "{\n  \"expectations\": []\n}\n";

    /// <summary>
    /// How many connections use each timeout policy, as `uniq -c` counts: the count right-aligned in 7 columns, a
    /// space, the name to the end of the line. "(defaults)" first, for the connections on the per-protocol defaults,
    /// then every policy in nfct's list order, those without connections too.
    /// </summary>
    public static string PolicyCounts(IReadOnlyList<FlowView> flows, TimeoutPolicySnapshot timeouts)
    {
        var text = new StringBuilder();
        foreach (var (name, count) in CountByPolicy(flows, timeouts))
            text.Append(CultureInfo.InvariantCulture, $"{count,7} {name ?? DefaultsLabel}\n");
        return text.ToString();
    }

    /// <summary>The per-policy counts as JSON: {"defaults": N, "policies": [{"name": ..., "flows": N}, ...]}.</summary>
    public static string PolicyCountsJson(IReadOnlyList<FlowView> flows, TimeoutPolicySnapshot timeouts)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            var counts = CountByPolicy(flows, timeouts);
            json.WriteNumber("defaults", counts[0].Count);
            json.WriteStartArray("policies");
            foreach (var (name, count) in counts.Skip(1))
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteNumber("flows", count);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    public const string DefaultsLabel = "(defaults)";

    /// <summary>libnetfilter_conntrack's proto2str, and the kernel's l4proto_name but for DCCP (<see cref="ProcProtocolName"/>): anything else is "unknown".</summary>
    public static string ProtocolName(byte protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        136 => "udplite",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        47 => "gre",
        33 => "dccp",
        _ => "unknown",
    };

    /// <summary>
    /// The proc file's protocol column, the name of the connection's tracker (l4proto_name): DCCP's was removed in
    /// Linux 6.16, so a DCCP connection is the generic tracker's, "unknown".
    /// </summary>
    public static string ProcProtocolName(byte protocol) => protocol == ProtocolModule.Dccp ? "unknown" : ProtocolName(protocol);

    public static string FamilyName(L3Kind family) => family == L3Kind.IPv6 ? "ipv6" : "ipv4";

    private static int FamilyNumber(L3Kind family) => family == L3Kind.IPv6 ? 10 : 2;

    // Policy names are unique, so the defaults (null) and each policy get one row.
    private static List<(string? Name, int Count)> CountByPolicy(IReadOnlyList<FlowView> flows, TimeoutPolicySnapshot timeouts)
    {
        var counts = new List<(string? Name, int Count)> { (null, flows.Count(f => f.TimeoutPolicy is null)) };
        foreach (var policy in timeouts.Policies)
            counts.Add((policy.Name, flows.Count(f => f.TimeoutPolicy == policy.Name)));
        return counts;
    }

    private static void AppendState(StringBuilder line, FlowView flow)
    {
        if (flow.State is { } state)
            line.Append(state).Append(' ');
    }

    // The middle both line formats share: each tuple with its counters, [UNREPLIED] between them, [ASSURED] after.
    private static void AppendTuples(StringBuilder line, FlowView flow, bool procLine)
    {
        AppendTuple(line, flow, flow.Original, procLine);
        if (flow.Accounted)
            AppendCounters(line, flow.OriginalPackets, flow.OriginalBytes);
        if (!flow.SeenReply)
            line.Append("[UNREPLIED] ");
        AppendTuple(line, flow, flow.Reply, procLine);
        if (flow.Accounted)
            AppendCounters(line, flow.ReplyPackets, flow.ReplyBytes);
        if (flow.Assured)
            line.Append("[ASSURED] ");
    }

    /// <summary>
    /// The proc file prints the tuple as the connection's tracker does (print_tuple), IPv6 expanded; conntrack as
    /// libnetfilter_conntrack does, which prints ports for DCCP too: 0, as the generic tracker keeps none.
    /// </summary>
    private static void AppendTuple(StringBuilder line, FlowView flow, FlowTuple tuple, bool procLine)
    {
        line.Append("src=").Append(Address(tuple.Source, flow.Family, procLine))
            .Append(" dst=").Append(Address(tuple.Destination, flow.Family, procLine)).Append(' ');
        if (IsIcmp(flow))
            line.Append(CultureInfo.InvariantCulture, $"type={tuple.IcmpType} code={tuple.IcmpCode} id={tuple.IcmpId} ");
        else if (flow.Protocol == 47)
            line.Append(CultureInfo.InvariantCulture, $"srckey=0x{tuple.SourcePort:x} dstkey=0x{tuple.DestinationPort:x} ");
        else if (FlowTable.HasPorts(flow.Protocol) || (flow.Protocol == ProtocolModule.Dccp && !procLine))
            line.Append(CultureInfo.InvariantCulture, $"sport={tuple.SourcePort} dport={tuple.DestinationPort} ");
    }

    private static void AppendCounters(StringBuilder line, ulong packets, ulong bytes) =>
        line.Append(CultureInfo.InvariantCulture, $"packets={packets} bytes={bytes} ");

    private static void WriteTuple(Utf8JsonWriter json, string name, FlowView flow, FlowTuple tuple, ulong packets, ulong bytes)
    {
        json.WriteStartObject(name);
        json.WriteString("src", Address(tuple.Source, flow.Family, ipv6Expanded: false));
        json.WriteString("dst", Address(tuple.Destination, flow.Family, ipv6Expanded: false));
        if (IsIcmp(flow))
        {
            json.WriteNumber("type", tuple.IcmpType);
            json.WriteNumber("code", tuple.IcmpCode);
            json.WriteNumber("id", tuple.IcmpId);
        }
        else if (FlowTable.HasPorts(flow.Protocol))
        {
            json.WriteNumber("sport", tuple.SourcePort);
            json.WriteNumber("dport", tuple.DestinationPort);
        }
        json.WriteNumber("packets", packets);
        json.WriteNumber("bytes", bytes);
        json.WriteEndObject();
    }

    private static bool IsIcmp(FlowView flow) =>
        (flow.Protocol == 1 && flow.Family == L3Kind.IPv4) || (flow.Protocol == 58 && flow.Family == L3Kind.IPv6);

    /// <summary>The proc file prints IPv6 with %pI6 (every group, four digits); conntrack with inet_ntop (compressed).</summary>
    private static string Address(InetAddress address, L3Kind family, bool ipv6Expanded)
    {
        if (family != L3Kind.IPv6 || ipv6Expanded)
            return address.Format(family);
        Span<byte> bytes = stackalloc byte[16];
        address.CopyTo(bytes);
        return InetNtop6(bytes);
    }

    /// <summary>
    /// glibc's inet_ntop for AF_INET6: lowercase groups without leading zeros, the longest run of two or more zero
    /// groups (the first of equals) as "::", and the last 32 bits as a dotted quad for ::a.b.c.d and ::ffff:a.b.c.d.
    /// </summary>
    public static string InetNtop6(ReadOnlySpan<byte> bytes)
    {
        Span<ushort> words = stackalloc ushort[8];
        for (int i = 0; i < 8; i++)
            words[i] = (ushort)((bytes[2 * i] << 8) | bytes[(2 * i) + 1]);
        int bestStart = -1, bestLength = 0;
        for (int i = 0; i < 8;)
        {
            int j = i;
            while (j < 8 && words[j] == 0)
                j++;
            if (j - i > bestLength && j - i >= 2)
                (bestStart, bestLength) = (i, j - i);
            i = j == i ? i + 1 : j;
        }
        var text = new StringBuilder(39);
        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                text.Append(':');
                i += bestLength - 1;
                if (i == 7)
                    text.Append(':');
                continue;
            }
            if (i > 0)
                text.Append(':');
            bool embeddedIPv4 = i == 6 && bestStart == 0 && (bestLength == 6 || (bestLength == 5 && words[5] == 0xffff));
            if (embeddedIPv4)
            {
                text.Append(new IPAddress(bytes[12..]).ToString());
                break;
            }
            text.Append(words[i].ToString("x", CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
