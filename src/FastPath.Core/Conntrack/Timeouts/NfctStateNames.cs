// SPDX-License-Identifier: MIT
using System.Collections.Immutable;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>
/// The state names nfct knows (libnetfilter_cttimeout 1.0.1's tables): what `nfct add`/`default-set` accept
/// (ASCII case-insensitively) and what list/get print. They differ from the kernel's: SCTP lacks
/// HEARTBEAT_SENT and HEARTBEAT_ACKED (nfct can neither set nor show them), DCCP is still there (the kernel
/// answers EOPNOTSUPP), and every other protocol has none (so any state name is wrong for it).
/// </summary>
public static class NfctStateNames
{
    private static readonly ImmutableArray<string> s_tcp =
    [
        "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
        "SYN_SENT2", "RETRANS", "UNACKNOWLEDGED",
    ];

    private static readonly ImmutableArray<string> s_udp = ["UNREPLIED", "REPLIED"];

    private static readonly ImmutableArray<string> s_sctp =
    [
        "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
    ];

    private static readonly ImmutableArray<string> s_dccp = ["REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT"];

    private static readonly ImmutableArray<string> s_timeout = ["TIMEOUT"];

    /// <summary>
    /// The names for a protocol number as nfct holds it: an int from getprotobyname, so mptcp (262) has none
    /// even though the kernel receives it as 6 (TCP). Index = state index of the kernel's attribute order.
    /// </summary>
    public static ImmutableArray<string> For(int protocol) => protocol switch
    {
        1 or 58 or 255 => s_timeout,
        6 => s_tcp,
        17 or 136 or 47 => s_udp,
        132 => s_sctp,
        33 => s_dccp,
        _ => [],
    };

    /// <summary>The index of a state name for nfct (strcasecmp: ASCII letters only fold), or -1.</summary>
    public static int IndexOf(int protocol, string state)
    {
        var names = For(protocol);
        for (int i = 0; i < names.Length; i++)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(names[i], state))
                return i;
        }
        return -1;
    }
}
