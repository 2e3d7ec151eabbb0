// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Text;
using FastPath.Core;
using FastPath.Core.Conntrack.Defrag;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Recent;

namespace FastPath.Control.Conntrack;

/// <summary>
/// /proc/sys/net/netfilter/nf_conntrack_* as a Linux 6.x kernel serves them, with its handlers' parsing and errnos
/// (checked on this machine's 6.18 in a network namespace), and of /proc/sys/net/ipv4 the ipfrag_* files a network
/// namespace has, which govern the reassembly before conntrack. Every timeout file reads and writes one state of a
/// tracker's defaults in the <see cref="TimeoutPolicyRegistry"/>, the numbers `nfct default-set` changes too.
/// nf_conntrack_acct only decides whether /proc/net/nf_conntrack shows counters. Management thread only.
/// </summary>
public sealed class ConntrackSysctls
{
    /// <summary>The directories served, as sysctl(8) names them (net.netfilter.NAME, net.ipv4.NAME).</summary>
    public const string Netfilter = "netfilter", Ipv4 = "ipv4";

    private readonly IConntrackTables _backend;
    private readonly TimeoutPolicyRegistry _timeouts;
    private readonly SortedDictionary<string, Sysctl> _files = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, Sysctl> _ipv4Files = new(StringComparer.Ordinal);

    /// <param name="reassembly">The ipfrag_* and nf_conntrack_frag6_* values the workers' defragmenters read.</param>
    public ConntrackSysctls(IConntrackTables backend, TimeoutPolicyRegistry timeouts, ReassemblySettings? reassembly = null)
    {
        _backend = backend;
        _timeouts = timeouts;
        var frag = reassembly ?? new ReassemblySettings();
        foreach (var (name, protocol, state) in TimeoutFiles())
            _files.Add(name, TimeoutFile(protocol, protocol.StateIndex(state)));
        _files.Add("nf_conntrack_acct", new Sysctl(() => Number(Accounting ? 1 : 0), value => WriteSwitch(value, on =>
        {
            // Kept here for reading back (served offline too); the tables mark the connections created while it is on.
            Accounting = on;
            backend.SetConntrackAccounting(on);
        })));
        _files.Add("nf_conntrack_checksum", new Sysctl(() => Number(backend.ConntrackChecksum is { } on ? on ? 1 : 0 : null), WriteChecksum));
        _files.Add("nf_conntrack_timestamp", new Sysctl(() => Number(backend.ConntrackTimestamps is { } on ? on ? 1 : 0 : null), WriteTimestamps));
        _files.Add("nf_conntrack_events", new Sysctl(() => Number(Events), value => WriteByte(value, 2, v => Events = v)));
        _files.Add("nf_conntrack_log_invalid", new Sysctl(() => Number(LogInvalid), value => WriteByte(value, byte.MaxValue, v => LogInvalid = v)));
        AddTcpSwitch("nf_conntrack_tcp_loose", s => s.Loose, (s, on) => s with { Loose = on });
        AddTcpSwitch("nf_conntrack_tcp_be_liberal", s => s.BeLiberal, (s, on) => s with { BeLiberal = on });
        AddTcpSwitch("nf_conntrack_tcp_ignore_invalid_rst", s => s.IgnoreInvalidRst, (s, on) => s with { IgnoreInvalidRst = on });
        _files.Add("nf_conntrack_tcp_max_retrans", new Sysctl(() => Number(backend.ConntrackTcpSettings?.MaxRetransmissions), WriteMaxRetrans));
        _files.Add("nf_conntrack_max", new Sysctl(() => Number(backend.ConntrackMax), WriteMax));
        _files.Add("nf_conntrack_count", new Sysctl(() => Number(backend.ConntrackCount), Write: null));
        _files.Add("nf_conntrack_buckets", new Sysctl(() => Number(backend.ConntrackBuckets), Write: null));
        // nf_ct_expect_max as nf_conntrack_expect_init sizes it (4 a 256 buckets, at least 4), read-only in a network
        // namespace; FastPath runs no helpers, so nothing ever expects a connection.
        _files.Add("nf_conntrack_expect_max", new Sysctl(() => Number(backend.ConntrackBuckets is { } buckets ? Math.Max(buckets / 256, 1) * 4 : null), Write: null));
        // nf_defrag_ipv6's and IPv4's (ip_defrag's), served whether or not connections are tracked, as the kernel's are.
        AddReassemblyFiles(_files, "nf_conntrack_frag6_timeout", "nf_conntrack_frag6_", () => frag.Ipv6TimeoutJiffies, v => frag.Ipv6TimeoutJiffies = v,
            () => frag.Ipv6LowThreshold, v => frag.Ipv6LowThreshold = v, () => frag.Ipv6HighThreshold, v => frag.Ipv6HighThreshold = v);
        AddReassemblyFiles(_ipv4Files, "ipfrag_time", "ipfrag_", () => frag.Ipv4TimeoutJiffies, v => frag.Ipv4TimeoutJiffies = v,
            () => frag.Ipv4LowThreshold, v => frag.Ipv4LowThreshold = v, () => frag.Ipv4HighThreshold, v => frag.Ipv4HighThreshold = v);
        // proc_dointvec_minmax from 0: "-0" is 0, so it passes.
        _ipv4Files.Add("ipfrag_max_dist", new Sysctl(() => Number(frag.Ipv4MaxDistance), value =>
        {
            if ((value.Negative && value.Magnitude != 0) || value.Magnitude > int.MaxValue)
                return ControlResponse.Fail(ControlError.EINVAL, $"0 to {int.MaxValue}");
            frag.Ipv4MaxDistance = (int)value.Magnitude;
            return ControlResponse.Ok();
        }));
    }

    // The time a datagram may take (proc_dointvec_jiffies) and the two thresholds, each bounded by the other (proc_doulongvec_minmax).
    private static void AddReassemblyFiles(SortedDictionary<string, Sysctl> files, string timeoutName, string thresholdPrefix, Func<int> timeout, Action<int> setTimeout,
        Func<ulong> low, Action<ulong> setLow, Func<ulong> high, Action<ulong> setHigh)
    {
        files.Add(timeoutName, new Sysctl(
            () => Seconds(timeout()), value => WriteSeconds(value, seconds =>
            {
                setTimeout(seconds * Jiffies.Hz);
                return ControlResponse.Ok();
            })));
        files.Add(thresholdPrefix + "low_thresh", new Sysctl(() => Number(low()), value => WriteUnsignedLong(value, 0, high(), setLow)));
        files.Add(thresholdPrefix + "high_thresh", new Sysctl(() => Number(high()), value => WriteUnsignedLong(value, low(), ulong.MaxValue, setHigh)));
    }

    /// <summary>nf_conntrack_acct: 1 gives the connections created from then on counters that listings show (packets= bytes=); 0, the kernel's default, none.</summary>
    public bool Accounting { get; private set; }

    /// <summary>nf_conntrack_events: 2 (the kernel's default), 1 or 0. Kept and read back; FastPath sends no conntrack events.</summary>
    public byte Events { get; private set; } = 2;

    /// <summary>nf_conntrack_log_invalid: 0 (the kernel's default) to 255. Kept and read back; FastPath logs no invalid packets.</summary>
    public byte LogInvalid { get; private set; }

    /// <summary>The file names of /proc/sys/net/<paramref name="directory"/> (<see cref="Netfilter"/> or <see cref="Ipv4"/>), in the order ls prints them.</summary>
    public IEnumerable<string> Names(string directory = Netfilter) => Files(directory).Keys;

    public ControlResponse Read(string name, string directory = Netfilter) =>
        Files(directory).TryGetValue(name, out var file) ? file.Read() : NoSuchFile(directory, name);

    /// <summary>
    /// A write of <paramref name="data"/>: EACCES for the read-only files whatever the data (the kernel refuses the
    /// open), nothing changes for no data, EINVAL for text or a value the handler refuses.
    /// </summary>
    public ControlResponse Write(string name, ReadOnlySpan<byte> data, string directory = Netfilter)
    {
        if (!Files(directory).TryGetValue(name, out var file))
            return NoSuchFile(directory, name);
        if (file.Write is null)
            return ControlResponse.Fail(ControlError.EACCES, $"{name} is read-only");
        var value = ProcInteger.Parse(data);
        return value.Result switch
        {
            ProcIntegerParse.Empty => ControlResponse.Ok(),
            ProcIntegerParse.Invalid => ControlResponse.Fail(ControlError.EINVAL,
                $"'{ControlWire.Escape(Encoding.UTF8.GetString(data))}' is not an integer as the kernel reads one (optional '-', decimal, 0x hex or 0 octal, then whitespace or the end)"),
            _ => file.Write(value),
        };
    }

    /// <summary>Whether the file is a default timeout (net.netfilter.nf_conntrack_*_timeout*), which a new timeout policy inherits.</summary>
    public static bool IsDefaultTimeout(string directory, string name) =>
        directory == Netfilter && TimeoutFiles().Any(file => file.Name == name);

    /// <summary>
    /// The timeout files of a 6.18 kernel and the tracker state each one is (nf_conntrack_standalone.c): TCP's
    /// SYN_SENT2 and SCTP's HEARTBEAT_ACKED have none; UDP-Lite shares UDP's; DCCP's went with its tracker in 6.16.
    /// </summary>

    private static IEnumerable<(string Name, TimeoutProtocol Protocol, string State)> TimeoutFiles()
    {
        yield return ("nf_conntrack_generic_timeout", TimeoutProtocols.Generic, "TIMEOUT");
        foreach (string state in new[] { "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE" })
            yield return ("nf_conntrack_tcp_timeout_" + state.ToLowerInvariant(), TimeoutProtocols.Tcp, state);
        yield return ("nf_conntrack_tcp_timeout_max_retrans", TimeoutProtocols.Tcp, "RETRANS");
        yield return ("nf_conntrack_tcp_timeout_unacknowledged", TimeoutProtocols.Tcp, "UNACKNOWLEDGED");
        yield return ("nf_conntrack_udp_timeout", TimeoutProtocols.Udp, "UNREPLIED");
        yield return ("nf_conntrack_udp_timeout_stream", TimeoutProtocols.Udp, "REPLIED");
        yield return ("nf_conntrack_icmp_timeout", TimeoutProtocols.Icmp, "TIMEOUT");
        yield return ("nf_conntrack_icmpv6_timeout", TimeoutProtocols.IcmpV6, "TIMEOUT");
        foreach (string state in new[] { "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT" })
            yield return ("nf_conntrack_sctp_timeout_" + state.ToLowerInvariant(), TimeoutProtocols.Sctp, state);
        yield return ("nf_conntrack_gre_timeout", TimeoutProtocols.Gre, "UNREPLIED");
        yield return ("nf_conntrack_gre_timeout_stream", TimeoutProtocols.Gre, "REPLIED");
    }

    // proc_dointvec_jiffies: at most INT_MAX / HZ seconds either way; the seconds go to the file's own store.
    private static ControlResponse WriteSeconds(ProcInteger value, Func<int, ControlResponse> store)
    {
        if (value.Magnitude > int.MaxValue / Jiffies.Hz)
            return ControlResponse.Fail(ControlError.EINVAL, $"at most {int.MaxValue / Jiffies.Hz} seconds either way (INT_MAX jiffies at HZ {Jiffies.Hz})");
        int seconds = (int)value.Magnitude;
        return store(value.Negative ? -seconds : seconds);
    }

    // proc_doulongvec_minmax: no sign at all, not even "-0", and within the other threshold.
    private static ControlResponse WriteUnsignedLong(ProcInteger value, ulong min, ulong max, Action<ulong> set)
    {
        if (value.Negative || value.Magnitude < min || value.Magnitude > max)
            return ControlResponse.Fail(ControlError.EINVAL, $"{min} to {max}");
        set(value.Magnitude);
        return ControlResponse.Ok();
    }

    /// <summary>
    /// proc_dointvec_jiffies over one state's default: reads the stored jiffies as an int divided by HZ (so a
    /// default above INT_MAX jiffies, which nfct can set, reads negative, as in the kernel); a write of at most
    /// INT_MAX / HZ seconds either way stores seconds * HZ, a negative one included.
    /// </summary>
    private Sysctl TimeoutFile(TimeoutProtocol protocol, int state)
    {
        return new Sysctl(Read, Write);

        ControlResponse Read()
        {
            _timeouts.GetDefaults(2, protocol.Number, out var defaults);
            return Seconds(unchecked((int)defaults!.Jiffies[state]));
        }

        ControlResponse Write(ProcInteger value)
        {
            return WriteSeconds(value, seconds =>
            {
                var errno = _timeouts.SetDefaults(2, protocol.Number, new Dictionary<int, uint> { [state] = unchecked((uint)seconds) });
                return errno == Errno.None ? ControlResponse.Ok() : ControlResponse.Fail(ControlError.From(errno), "");
            });
        }
    }

    // proc_dou8vec_minmax with 0..1: no sign at all, not even "-0".
    private static ControlResponse WriteSwitch(ProcInteger value, Action<bool> set)
    {
        if (value.Negative || value.Magnitude > 1)
            return ControlResponse.Fail(ControlError.EINVAL, "0 or 1");
        set(value.Magnitude == 1);
        return ControlResponse.Ok();
    }

    // proc_dou8vec_minmax with 0..max: no sign at all, not even "-0".
    private static ControlResponse WriteByte(ProcInteger value, byte max, Action<byte> set)
    {
        if (value.Negative || value.Magnitude > max)
            return ControlResponse.Fail(ControlError.EINVAL, $"0 to {max}");
        set((byte)value.Magnitude);
        return ControlResponse.Ok();
    }

    private void AddTcpSwitch(string name, Func<TcpSettings, bool> read, Func<TcpSettings, bool, TcpSettings> write) =>
        _files.Add(name, new Sysctl(
            () => Number(_backend.ConntrackTcpSettings is { } settings ? read(settings) ? 1 : 0 : null),
            value => _backend.ConntrackTcpSettings is { } settings
                ? WriteSwitch(value, on => _backend.SetConntrackTcpSettings(write(settings, on)))
                : NotTracked()));

    // proc_dou8vec_minmax without bounds: 0 to 255, no sign.
    private ControlResponse WriteMaxRetrans(ProcInteger value)
    {
        if (_backend.ConntrackTcpSettings is not { } settings)
            return NotTracked();
        if (value.Negative || value.Magnitude > byte.MaxValue)
            return ControlResponse.Fail(ControlError.EINVAL, "0 to 255");
        _backend.SetConntrackTcpSettings(settings with { MaxRetransmissions = (byte)value.Magnitude });
        return ControlResponse.Ok();
    }

    private ControlResponse WriteChecksum(ProcInteger value)
    {
        if (_backend.ConntrackChecksum is null)
            return NotTracked();
        return WriteSwitch(value, on => _backend.SetConntrackChecksum(on));
    }

    private ControlResponse WriteTimestamps(ProcInteger value)
    {
        if (_backend.ConntrackTimestamps is null)
            return NotTracked();
        return WriteSwitch(value, on => _backend.SetConntrackTimestamps(on));
    }

    // proc_dointvec: any int; the dataplane says which it can enforce.
    private ControlResponse WriteMax(ProcInteger value)
    {
        ulong limit = value.Negative ? (ulong)int.MaxValue + 1 : int.MaxValue;
        if (value.Magnitude > limit)
            return ControlResponse.Fail(ControlError.EINVAL, "not an int");
        int max = value.Negative ? (int)-(long)value.Magnitude : (int)value.Magnitude;
        var errno = _backend.SetConntrackMax(max);
        return errno switch
        {
            Errno.None => ControlResponse.Ok(),
            Errno.ENOSYS => NotTracked(),
            _ => ControlResponse.Fail(ControlError.From(errno), $"the dataplane cannot hold {max} connections"),
        };
    }

    private static ControlResponse Number(long? value) => value is { } known
        ? ControlResponse.Ok(known.ToString(CultureInfo.InvariantCulture) + "\n")
        : NotTracked();

    // proc_dointvec_jiffies reads the sign and the magnitude apart: -1 to -249 jiffies print "-0".
    private static ControlResponse Seconds(int jiffies) => ControlResponse.Ok(
        (jiffies < 0 ? "-" : "") + (Math.Abs((long)jiffies) / Jiffies.Hz).ToString(CultureInfo.InvariantCulture) + "\n");

    private static ControlResponse Number(ulong value) => ControlResponse.Ok(value.ToString(CultureInfo.InvariantCulture) + "\n");

    internal static ControlResponse NotTracked() => ControlResponse.Fail(ControlError.ENOSYS, "this dataplane does not track connections");

    private SortedDictionary<string, Sysctl> Files(string directory) => directory switch
    {
        Netfilter => _files,
        Ipv4 => _ipv4Files,
        _ => throw new ArgumentOutOfRangeException(nameof(directory), directory, "the sysctl directories served are netfilter and ipv4"),
    };

    private static ControlResponse NoSuchFile(string directory, string name) =>
        ControlResponse.Fail(ControlError.ENOENT, $"no sysctl named '{name}' (ls /proc/sys/net/{directory})");

    /// <summary>One file: how it reads, and how it takes a parsed write (null: read-only, EACCES).</summary>
    private sealed record Sysctl(Func<ControlResponse> Read, Func<ProcInteger, ControlResponse>? Write);
}
