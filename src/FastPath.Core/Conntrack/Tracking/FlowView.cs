// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;

namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// One direction of a connection as listings print it (the kernel's print_tuple): addresses, then the ports for
/// protocols keyed on them (TCP, UDP, UDP-Lite, SCTP; GRE's keys), or the ICMP type, code and identifier of the
/// message this direction carries (the reply tuple of an echo request has type 0).
/// </summary>
public readonly record struct FlowTuple(
    InetAddress Source, InetAddress Destination, ushort SourcePort, ushort DestinationPort, byte IcmpType, byte IcmpCode, ushort IcmpId);

/// <summary>
/// A connection as `cat /proc/net/nf_conntrack` and `conntrack -L` show it, taken at one moment by
/// <see cref="FlowTable.Snapshot"/>: immutable, so the management thread can format it while the worker goes on.
/// </summary>
public sealed record FlowView(
    L3Kind Family,
    byte Protocol,
    FlowTuple Original,
    FlowTuple Reply,
    string? State,
    long TimeoutSeconds,
    bool SeenReply,
    bool Assured,
    ulong OriginalPackets,
    ulong OriginalBytes,
    ulong ReplyPackets,
    ulong ReplyBytes,
    string? TimeoutPolicy)
{
    /// <summary>GRE's two timeouts in seconds, fixed at creation; /proc/net/nf_conntrack prints them where TCP prints its state.</summary>
    public (uint Timeout, uint StreamTimeout)? GreTimeouts { get; init; }

    /// <summary>SCTP's verification tags, original then reply direction, as numbers; null for other protocols.</summary>
    public (uint Original, uint Reply)? SctpTags { get; init; }

    /// <summary>
    /// conntrack's id (`-o id`, `-i`): the kernel hashes its connection's address; FastPath has none to hash, so it
    /// hashes what names a connection for its lifetime instead, see <see cref="IdOf"/>. 0 in views not made by a table.
    /// </summary>
    public uint Id { get; init; }

    /// <summary>
    /// How many jiffies before the view was taken the connection started, for a connection created while
    /// nf_conntrack_timestamp was 1 (<see cref="FlowStatus.Timestamped"/>, the kernel's tstamp extension); null otherwise.
    /// </summary>
    public ulong? StartedJiffiesAgo { get; init; }

    /// <summary>Created while nf_conntrack_acct was 1 (<see cref="FlowStatus.Accounted"/>): listings show its counters.</summary>
    public bool Accounted { get; init; }

    /// <summary>The connection mark; FastPath sets none (-j CONNMARK is not implemented), so always 0.</summary>
    public uint Mark => 0;

    /// <summary>The conntrack zone; FastPath has only the default zone.</summary>
    public ushort Zone => 0;

    /// <summary>
    /// The reference count the kernel reports through netlink for an idle connection: its own. /proc/net/nf_conntrack
    /// shows one more, the reference its reader holds while printing.
    /// </summary>
    public int Use => 1;

    /// <summary>The kernel's tcp_conntrack_names, indexed by <see cref="TcpState"/>.</summary>
    private static readonly string[] s_tcpStateNames =
        ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];

    /// <summary>The kernel's sctp_conntrack_names, indexed by <see cref="SctpState"/>.</summary>
    private static readonly string[] s_sctpStateNames =
        ["NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT"];

    /// <summary>
    /// A connection's id: the owning worker (its shard), its slot in that worker's table and the jiffy it was created
    /// in, mixed into 32 bits (SplitMix64's finaliser). Fixed while the connection lives; a later connection in the
    /// same slot was created later and gets another. Like the kernel's, two live connections may share one with a
    /// chance of about one in four billion per pair.
    /// </summary>
    public static uint IdOf(int shard, int slot, ulong createdAt)
    {
        ulong z = createdAt + 0x9E3779B97F4A7C15UL * (((ulong)(uint)shard << 32) | (uint)slot) + 1;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (uint)(z ^ (z >> 32));
    }

    /// <summary>The view of one table entry at <paramref name="now"/>; <paramref name="policyName"/> is null on the defaults.</summary>
    public static FlowView Of(in Flow flow, ulong now, string? policyName, uint id = 0)
    {
        var key = flow.Original;
        return new FlowView(
            key.Family,
            key.Protocol,
            Tuple(key, reply: false),
            Tuple(key, reply: true),
            key.Protocol switch
            {
                6 => s_tcpStateNames[(int)flow.Tcp.State],
                SctpTracker.Protocol => s_sctpStateNames[(int)flow.Sctp.State],
                _ => null,
            },
            flow.SecondsLeft(now),
            (flow.Status & FlowStatus.SeenReply) != 0,
            flow.IsAssured,
            flow.OriginalPackets,
            flow.OriginalBytes,
            flow.ReplyPackets,
            flow.ReplyBytes,
            policyName)
        {
            Id = id,
            GreTimeouts = key.Protocol == GreTracker.Protocol
                ? (TimeoutJiffiesToSeconds(flow.Gre.Timeout), TimeoutJiffiesToSeconds(flow.Gre.StreamTimeout))
                : null,
            SctpTags = key.Protocol == SctpTracker.Protocol ? (flow.Sctp.OriginalTag, flow.Sctp.ReplyTag) : null,
            StartedJiffiesAgo = (flow.Status & FlowStatus.Timestamped) != 0 ? now - flow.CreatedAt : null,
            Accounted = (flow.Status & FlowStatus.Accounted) != 0,
        };
    }

    private static uint TimeoutJiffiesToSeconds(uint jiffies) => Timeouts.TimeoutJiffies.ToSeconds(jiffies);

    private static FlowTuple Tuple(in ConnectionKey original, bool reply)
    {
        var key = reply ? original.Reverse() : original;
        if (!ConnectionKey.IsIcmp(key.Protocol, key.Family))
            return new FlowTuple(key.Source, key.Destination, key.SourcePort, key.DestinationPort, 0, 0, 0);

        // The key holds the request's type and code for both directions; the reply tuple shows the reply's type.
        byte requestType = (byte)(key.DestinationPort >> 8);
        byte code = (byte)key.DestinationPort;
        byte type = reply ? ReplyType(requestType, key.Family == L3Kind.IPv6) : requestType;
        return new FlowTuple(key.Source, key.Destination, 0, 0, type, code, key.SourcePort);
    }

    // icmp_invert_tuple's invmap: echo 8 → 0, the others n → n + 1; ICMPv6 echo 128 → 129, node information 139 → 140.
    private static byte ReplyType(byte requestType, bool ipv6) =>
        !ipv6 && requestType == 8 ? (byte)0 : (byte)(requestType + 1);
}
