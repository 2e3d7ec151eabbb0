// SPDX-License-Identifier: MIT
using static FastPath.Control.Conntrack.ModuleOption;

namespace FastPath.Control.Conntrack;

/// <summary>
/// The rows of conntrack's commands_v_options that FastPath checks options against: the commands it serves, per
/// table. -C (either table) and -F on expectations take no option; dying and unconfirmed take -L's row. GET's row
/// was read off conntrack 1.4.7 option by option, as the others were.
/// </summary>
[Flags]
internal enum Legal
{
    None = 0,

    /// <summary>-L on conntrack, dying or unconfirmed, and FastPath's --policy-counts.</summary>
    List = 1,
    Delete = 2,
    Flush = 4,

    /// <summary>-L expect: only -f and -o.</summary>
    ExpectList = 8,

    /// <summary>-D expect and -G expect: -s, -d and -p compulsory, -r and -q optional, nothing else.</summary>
    ExpectByTuple = 16,

    /// <summary>
    /// A line without a command: conntrack 1.4.7 then reads the row past its table's end, which on Debian 12's
    /// build refuses every option but --reply-zone (and makes none compulsory).
    /// </summary>
    NoCommand = 32,

    /// <summary>
    /// -G on conntrack: -p compulsory; -s and -d, or -r and -q, as a pair (conntrack's "undecided" 3: one of the two
    /// pairs whole, else "you have to specify"); -i, -o and -l optional; nothing else (not even -f).
    /// </summary>
    Get = 64,

    /// <summary>-h (either table): -p, optional, for its module's help; nothing else, and no module check.</summary>
    Help = 128,

    /// <summary>-V (either table): nothing.</summary>
    Version = 256,
}

/// <summary>One of conntrack's optflags: its short name, its name in conntrack's messages, the rows it is legal in and those it is compulsory in.</summary>
internal readonly record struct OptionFlag(char Val, string Name, Legal Legal, Legal Required = Legal.None);

/// <summary>What a protocol module's option sets (its parse_options case).</summary>
internal enum ModuleOption
{
    SourcePort,
    DestinationPort,
    ReplySourcePort,
    ReplyDestinationPort,
    State,
    IcmpType,
    IcmpCode,
    IcmpId,

    /// <summary>DCCP's --role: its value is checked when read, and it is illegal with every command FastPath serves.</summary>
    Role,

    /// <summary>Masks and expectation tuples: illegal with every command FastPath serves, and no filter.</summary>
    NoFilter,

    /// <summary>SCTP's verification tags: legal with -G only, where FastPath (like the kernel's lookup) does not compare them.</summary>
    VerificationTag,
}

/// <summary>
/// A conntrack protocol module (extensions/libct_proto_*.c): the options -p merges into the option table, each
/// option's val (<see cref="FirstVal"/> plus its bit), and per bit the name the module's final check gives it
/// and what parsing it sets. <see cref="FlagCount"/> is the module's own count of flags: a bit set by another
/// module's option and named by none of this one's is checked all the same, as the option "(null)".
/// </summary>
/// <param name="Help">The module's lines in conntrack -h -p NAME, after "Proto `NAME' help:".</param>
/// <param name="GetPairs">
/// The module's messages for -G when neither its original nor its reply ports (keys) are given as a pair, in its
/// own words; null for a module whose -G row has no pair (ICMP's type and code are compulsory instead).
/// </param>
internal sealed record ProtocolModule(
    string Name, byte Number, int FirstVal, int FlagCount, (string Flag, ModuleOption Sets)[] Bits, (string Name, int Bit)[] Options,
    string Help, (string Original, string Reply)? GetPairs = null)
{
    public const byte Gre = 47;
    public const byte Dccp = 33;

    /// <summary>The generic module, for protocols conntrack has none for: no option, no final check.</summary>
    public static readonly ProtocolModule Generic = new("unknown", 0, 0, 0, [], [], "  no options (unsupported)\n");

    // The help lines of the modules with ports (GRE's keys), tabs and the second "tuple-...-src" (sic) as conntrack prints them.
    private static string PortHelp(string word) =>
        $"  --orig-{word}-src\t\toriginal source {word}\n  --orig-{word}-dst\t\toriginal destination {word}\n" +
        $"  --reply-{word}-src\t\treply source {word}\n  --reply-{word}-dst\t\treply destination {word}\n" +
        $"  --mask-{word}-src\t\tmask source {word}\n  --mask-{word}-dst\t\tmask destination {word}\n" +
        $"  --tuple-{word}-src\t\texpectation tuple src {word}\n  --tuple-{word}-src\t\texpectation tuple dst {word}\n";

    private static string StateHelp(string protocol, string example) => $"  --state\t\t\t{protocol} state, fe. {example}\n";

    private static string IcmpHelp(string name) => $"  --{name}-type\t\t\t{name} type\n  --{name}-code\t\t\t{name} code\n  --{name}-id\t\t\t{name} id\n";

    private static readonly (string, ModuleOption)[] s_portBits =
        [("sport", SourcePort), ("dport", DestinationPort), ("reply-port-src", ReplySourcePort), ("reply-port-dst", ReplyDestinationPort),
         ("mask-port-src", NoFilter), ("mask-port-dst", NoFilter)];

    private static readonly (string, ModuleOption)[] s_tupleBits = [("tuple-port-src", NoFilter), ("tuple-port-dst", NoFilter)];

    private static readonly (string, string) s_portPairs = ("`--sport' and `--dport'", "`--reply-src-port' and `--reply-dst-port'");

    private static readonly (string, int)[] s_portOptions =
        [("orig-port-src", 0), ("sport", 0), ("orig-port-dst", 1), ("dport", 1), ("reply-port-src", 2), ("reply-port-dst", 3),
         ("mask-port-src", 4), ("mask-port-dst", 5)];

    /// <summary>The modules of conntrack 1.4.7, each option table in its order.</summary>
    public static readonly ProtocolModule[] All =
    [
        new("tcp", 6, '1', 10, [.. s_portBits, ("state", State), .. s_tupleBits],
            [.. s_portOptions, ("state", 6), ("tuple-port-src", 7), ("tuple-port-dst", 8)], PortHelp("port") + StateHelp("TCP", "ESTABLISHED"), s_portPairs),
        new("udp", 17, '1', 9, [.. s_portBits, .. s_tupleBits], [.. s_portOptions, ("tuple-port-src", 6), ("tuple-port-dst", 7)], PortHelp("port"), s_portPairs),
        new("udplite", 136, '1', 11, [.. s_portBits, .. s_tupleBits],
            [("orig-port-src", 0), ("orig-port-dst", 1), ("reply-port-src", 2), ("reply-port-dst", 3), ("mask-port-src", 4),
             ("mask-port-dst", 5), ("tuple-port-src", 6), ("tuple-port-dst", 7), ("sport", 0), ("dport", 1)], PortHelp("port"), s_portPairs),
        new("icmp", 1, '1', 4, [("icmp-type", IcmpType), ("icmp-code", IcmpCode), ("icmp-id", IcmpId)],
            [("icmp-type", 0), ("icmp-code", 1), ("icmp-id", 2)], IcmpHelp("icmp")),
        new("icmpv6", 58, '1', 4, [("icmpv6-type", IcmpType), ("icmpv6-code", IcmpCode), ("icmpv6-id", IcmpId)],
            [("icmpv6-type", 0), ("icmpv6-code", 1), ("icmpv6-id", 2)], IcmpHelp("icmpv6")),
        new("sctp", 132, 1, 14, [.. s_portBits, ("state", State), .. s_tupleBits, ("orig-vtag", VerificationTag), ("reply-vtag", VerificationTag)],
            [("orig-port-src", 0), ("orig-port-dst", 1), ("reply-port-src", 2), ("reply-port-dst", 3), ("mask-port-src", 4),
             ("mask-port-dst", 5), ("state", 6), ("tuple-port-src", 7), ("tuple-port-dst", 8), ("orig-vtag", 9), ("reply-vtag", 10),
             ("sport", 0), ("dport", 1)],
            PortHelp("port") + StateHelp("SCTP", "ESTABLISHED") + "  --orig-vtag\t\toriginal verification tag\n  --reply-vtag\t\treply verification tag\n",
            s_portPairs),
        new("dccp", Dccp, 1, 13, [.. s_portBits, ("state", State), .. s_tupleBits, ("role", Role)],
            [("orig-port-src", 0), ("orig-port-dst", 1), ("reply-port-src", 2), ("reply-port-dst", 3), ("mask-port-src", 4),
             ("mask-port-dst", 5), ("state", 6), ("tuple-port-src", 7), ("tuple-port-dst", 8), ("sport", 0), ("dport", 1), ("role", 9)],
            PortHelp("port") + StateHelp("DCCP", "RESPOND"), ("`--sport' and `--dport'", "`--reply-port-src' and `--report-port-dst'")), // sic
        new("gre", Gre, '1', 11,
            [("srckey", SourcePort), ("dstkey", DestinationPort), ("reply-key-src", ReplySourcePort), ("reply-key-dst", ReplyDestinationPort),
             ("mask-key-src", NoFilter), ("mask-key-dst", NoFilter), ("tuple-key-src", NoFilter), ("tuple-key-dst", NoFilter)],
            [("orig-key-src", 0), ("srckey", 0), ("orig-key-dst", 1), ("dstkey", 1), ("reply-key-src", 2), ("reply-key-dst", 3),
             ("mask-key-src", 4), ("mask-key-dst", 5), ("tuple-key-src", 6), ("tuple-key-dst", 7)], PortHelp("key"),
            ("`--srckey' and `--dstkey'", "`--reply-src-key' and `--reply-dst-key'")),
    ];

    /// <summary>The states --state takes (TCP's, SCTP's, DCCP's), as the kernel names them, and conntrack's message for another.</summary>
    public (string[] Names, string Unknown) States => Number switch
    {
        6 => (["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"], "unknown TCP state"),
        132 => (["NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"], "unknown SCTP state"),
        _ => (["NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID"], "Unknown DCCP state"),
    };

    /// <summary>The options -p merges in, their vals raised by the merge's offset so that each merge's are distinct.</summary>
    public IEnumerable<LongOption> LongOptions(int offset) => Options.Select(o => new LongOption(o.Name, 1, offset + FirstVal + o.Bit));
}

/// <summary>conntrack 1.4.7's option table (src/conntrack.c) and FastPath's own options.</summary>
internal static class ConntrackOptions
{
    /// <summary>conntrack's getopt_str.</summary>
    public const string Short = ":L::I::U::D::G::E::F::A::hVs:d:r:q:p:t:u:e:a:z[:]:{:}:m:i:f:o:n::g::c:b:C::Sj::w:l:<:>::(:):";

    /// <summary>Each -p raises the vals of the options it merges in by this much more (conntrack's OPTION_OFFSET).</summary>
    public const int ModuleOffset = 256;

    // FastPath's own options, with vals that no conntrack option has.
    public const int PolicyCounts = -2, Json = -3, TimeoutPolicy = -4;

    /// <summary>conntrack's original_opts, then FastPath's own (matched only when spelled out).</summary>
    public static readonly LongOption[] Long =
    [
        new("dump", 2, 'L'), new("create", 2, 'I'), new("add", 2, 'A'), new("delete", 2, 'D'), new("update", 2, 'U'),
        new("get", 2, 'G'), new("flush", 2, 'F'), new("event", 2, 'E'), new("counter", 2, 'C'), new("stats", 0, 'S'),
        new("version", 0, 'V'), new("help", 0, 'h'), new("orig-src", 1, 's'), new("src", 1, 's'), new("orig-dst", 1, 'd'),
        new("dst", 1, 'd'), new("reply-src", 1, 'r'), new("reply-dst", 1, 'q'), new("protonum", 1, 'p'), new("timeout", 1, 't'),
        new("status", 1, 'u'), new("zero", 0, 'z'), new("event-mask", 1, 'e'), new("tuple-src", 1, '['), new("tuple-dst", 1, ']'),
        new("mask-src", 1, '{'), new("mask-dst", 1, '}'), new("nat-range", 1, 'a'), new("mark", 1, 'm'), new("secmark", 1, 'c'),
        new("id", 2, 'i'), new("family", 1, 'f'), new("src-nat", 2, 'n'), new("dst-nat", 2, 'g'), new("output", 1, 'o'),
        new("buffer-size", 1, 'b'), new("any-nat", 2, 'j'), new("zone", 1, 'w'), new("label", 1, 'l'), new("label-add", 1, '<'),
        new("label-del", 2, '>'), new("orig-zone", 1, '('), new("reply-zone", 1, ')'),
        new("policy-counts", 0, PolicyCounts, ExactOnly: true), new("json", 0, Json, ExactOnly: true),
        new("timeout-policy", 1, TimeoutPolicy, ExactOnly: true),
    ];

    /// <summary>
    /// conntrack's optflags in the order it checks them after reading every option (--nat-range, only warned
    /// about, sets no flag). A -s or -d with a prefix shorter than the address sets --mask-src or --mask-dst too.
    /// </summary>
    public static readonly OptionFlag[] Flags =
    [
        new('s', "src", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectByTuple, Legal.ExpectByTuple),
        new('d', "dst", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectByTuple, Legal.ExpectByTuple),
        new('r', "reply-src", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectByTuple),
        new('q', "reply-dst", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectByTuple),
        new('p', "protonum", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectByTuple | Legal.Help, Legal.Get | Legal.ExpectByTuple),
        new('t', "timeout", Legal.Delete), new('u', "status", Legal.List | Legal.Delete), new('z', "zero", Legal.List),
        new('e', "event-mask", Legal.None), new('[', "tuple-src", Legal.None), new(']', "tuple-dst", Legal.None),
        new('{', "mask-src", Legal.List | Legal.Delete), new('}', "mask-dst", Legal.List | Legal.Delete),
        new('m', "mark", Legal.List | Legal.Delete), new('i', "id", Legal.Delete | Legal.Get),
        new('f', "family", Legal.List | Legal.Delete | Legal.Flush | Legal.ExpectList),
        new('n', "src-nat", Legal.List | Legal.Delete), new('g', "dst-nat", Legal.List | Legal.Delete),
        new('o', "output", Legal.List | Legal.Delete | Legal.Get | Legal.ExpectList), new('c', "secmark", Legal.List),
        new('b', "buffer-size", Legal.None), new('j', "any-nat", Legal.List), new('w', "zone", Legal.List | Legal.Delete),
        new('l', "label", Legal.List | Legal.Delete | Legal.Get), new('<', "label-add", Legal.None), new('>', "label-del", Legal.None),
        new('(', "orig-zone", Legal.List | Legal.Delete), new(')', "reply-zone", Legal.List | Legal.Delete | Legal.NoCommand),
    ];
}
