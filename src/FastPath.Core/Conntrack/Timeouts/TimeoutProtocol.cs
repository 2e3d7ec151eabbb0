// SPDX-License-Identifier: MIT
using System.Collections.Immutable;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// One layer-4 connection tracker that takes timeout policies, as the running kernel (6.x) has it: its protocol
/// number, its states in the order of the CTA_TIMEOUT_* netlink attributes (attribute = state index + 1) and its
/// compiled-in default timeouts in seconds.
/// </summary>
public sealed class TimeoutProtocol
{
    internal TimeoutProtocol(byte number, string name, int defaultsSlot, params (string State, uint Seconds)[] states)
    {
        Number = number;
        Name = name;
        DefaultsSlot = defaultsSlot;
        States = [.. states.Select(s => s.State)];
        DefaultSeconds = [.. states.Select(s => s.Seconds)];
    }

    /// <summary>The IP protocol number (255, IPPROTO_RAW, for the generic tracker).</summary>
    public byte Number { get; }

    /// <summary>The name nfct accepts for it.</summary>
    public string Name { get; }

    /// <summary>The kernel's state names, in attribute order.</summary>
    public ImmutableArray<string> States { get; }

    /// <summary>What a fresh network namespace starts with, in seconds, per state.</summary>
    public ImmutableArray<uint> DefaultSeconds { get; }

    /// <summary>
    /// Which per-namespace default table the tracker reads: UDP-Lite has none of its own and shares UDP's
    /// (nf_udp_pernet), so a default-set on one changes both.
    /// </summary>
    internal int DefaultsSlot { get; }

    /// <summary>The index of a state by its kernel name (exact), or -1.</summary>
    public int StateIndex(string state) => States.IndexOf(state);

    public override string ToString() => Name;
}

/// <summary>The trackers of the running kernel that take timeout policies (DCCP's was removed in Linux 6.16).</summary>
public static class TimeoutProtocols
{
    public const byte GenericNumber = 255;

    public static TimeoutProtocol Tcp { get; } = new(6, "tcp", 0,
        ("SYN_SENT", 120), ("SYN_RECV", 60), ("ESTABLISHED", 432000), ("FIN_WAIT", 120), ("CLOSE_WAIT", 60),
        ("LAST_ACK", 30), ("TIME_WAIT", 120), ("CLOSE", 10), ("SYN_SENT2", 120), ("RETRANS", 300),
        ("UNACKNOWLEDGED", 300));

    public static TimeoutProtocol Udp { get; } = new(17, "udp", 1, ("UNREPLIED", 30), ("REPLIED", 120));

    public static TimeoutProtocol UdpLite { get; } = new(136, "udplite", 1, ("UNREPLIED", 30), ("REPLIED", 120));

    public static TimeoutProtocol Icmp { get; } = new(1, "icmp", 2, ("TIMEOUT", 30));

    public static TimeoutProtocol IcmpV6 { get; } = new(58, "icmpv6", 3, ("TIMEOUT", 30));

    /// <summary>HEARTBEAT_ACKED is no longer a state the tracker enters; its slot remains, with a default of 0.</summary>
    public static TimeoutProtocol Sctp { get; } = new(132, "sctp", 4,
        ("CLOSED", 10), ("COOKIE_WAIT", 3), ("COOKIE_ECHOED", 3), ("ESTABLISHED", 210), ("SHUTDOWN_SENT", 3),
        ("SHUTDOWN_RECD", 3), ("SHUTDOWN_ACK_SENT", 3), ("HEARTBEAT_SENT", 30), ("HEARTBEAT_ACKED", 0));

    public static TimeoutProtocol Gre { get; } = new(47, "gre", 5, ("UNREPLIED", 30), ("REPLIED", 180));

    /// <summary>Every protocol without a tracker of its own is tracked by this one.</summary>
    public static TimeoutProtocol Generic { get; } = new(GenericNumber, "generic", 6, ("TIMEOUT", 600));

    public static ImmutableArray<TimeoutProtocol> All { get; } = [Tcp, Udp, UdpLite, Icmp, IcmpV6, Sctp, Gre, Generic];

    internal const int DefaultsSlots = 7;

    private static readonly TimeoutProtocol?[] s_byNumber = BuildIndex();

    /// <summary>
    /// The tracker whose number this is, or null: the kernel answers EOPNOTSUPP for a policy of any other
    /// protocol, because nf_ct_l4proto_find hands it the generic tracker, whose number differs.
    /// </summary>
    public static TimeoutProtocol? Find(byte number) => s_byNumber[number];

    /// <summary>The tracker that follows connections of this protocol: its own, or the generic one.</summary>
    public static TimeoutProtocol TrackerFor(byte number) => s_byNumber[number] ?? Generic;

    private static TimeoutProtocol?[] BuildIndex()
    {
        var index = new TimeoutProtocol?[256];
        foreach (var protocol in All)
            index[protocol.Number] = protocol;
        return index;
    }
}
