// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using FastPath.Core.Conntrack.Tracking;
using FastPath.Core.Packets;
using FastPath.Core.Recent;

namespace FastPath.Core.Rules;

/// <summary>The options of one "-A CHAIN ..." line, with iptables' rules for '!', -m modules and their options.</summary>
internal sealed class RuleParser(List<string> tokens, int start, L3Kind family, TableKind table, Func<string, RulesetException> fail)
{
    /// <summary>libxtables' xtables_chain_protos: the names it knows when /etc/protocols does not.</summary>
    private static readonly Dictionary<string, byte> XtablesProtocols = new()
    {
        ["tcp"] = 6, ["sctp"] = 132, ["udp"] = 17, ["udplite"] = 136, ["icmp"] = 1, ["icmpv6"] = 58, ["ipv6-icmp"] = 58,
        ["esp"] = 50, ["ah"] = 51, ["ipv6-mh"] = 135, ["mh"] = 135, ["all"] = 0,
    };

    /// <summary>libipt_icmp's names (iptables -p icmp -h), in its order; code -1 is every code.</summary>
    private static readonly (string Name, byte Type, short Code)[] IcmpNames =
    [
        ("any", 255, -1), ("echo-reply", 0, -1), ("pong", 0, -1), ("destination-unreachable", 3, -1),
        ("network-unreachable", 3, 0), ("host-unreachable", 3, 1), ("protocol-unreachable", 3, 2), ("port-unreachable", 3, 3),
        ("fragmentation-needed", 3, 4), ("source-route-failed", 3, 5), ("network-unknown", 3, 6), ("host-unknown", 3, 7),
        ("network-prohibited", 3, 9), ("host-prohibited", 3, 10), ("TOS-network-unreachable", 3, 11), ("TOS-host-unreachable", 3, 12),
        ("communication-prohibited", 3, 13), ("host-precedence-violation", 3, 14), ("precedence-cutoff", 3, 15),
        ("source-quench", 4, -1), ("redirect", 5, -1), ("network-redirect", 5, 0), ("host-redirect", 5, 1),
        ("TOS-network-redirect", 5, 2), ("TOS-host-redirect", 5, 3), ("echo-request", 8, -1), ("ping", 8, -1),
        ("router-advertisement", 9, -1), ("router-solicitation", 10, -1), ("time-exceeded", 11, -1), ("ttl-exceeded", 11, -1),
        ("ttl-zero-during-transit", 11, 0), ("ttl-zero-during-reassembly", 11, 1), ("parameter-problem", 12, -1),
        ("ip-header-bad", 12, 0), ("required-option-missing", 12, 1), ("timestamp-request", 13, -1), ("timestamp-reply", 14, -1),
        ("address-mask-request", 17, -1), ("address-mask-reply", 18, -1),
    ];

    /// <summary>libip6t_icmp6's names (ip6tables -p icmpv6 -h), in its order; there is no "any".</summary>
    private static readonly (string Name, byte Type, short Code)[] Icmpv6Names =
    [
        ("destination-unreachable", 1, -1), ("no-route", 1, 0), ("communication-prohibited", 1, 1), ("beyond-scope", 1, 2),
        ("address-unreachable", 1, 3), ("port-unreachable", 1, 4), ("failed-policy", 1, 5), ("reject-route", 1, 6),
        ("packet-too-big", 2, -1), ("time-exceeded", 3, -1), ("ttl-exceeded", 3, -1), ("ttl-zero-during-transit", 3, 0),
        ("ttl-zero-during-reassembly", 3, 1), ("parameter-problem", 4, -1), ("bad-header", 4, 0), ("unknown-header-type", 4, 1),
        ("unknown-option", 4, 2), ("echo-request", 128, -1), ("ping", 128, -1), ("echo-reply", 129, -1), ("pong", 129, -1),
        ("router-solicitation", 133, -1), ("router-advertisement", 134, -1), ("neighbour-solicitation", 135, -1),
        ("neighbor-solicitation", 135, -1), ("neighbour-advertisement", 136, -1), ("neighbor-advertisement", 136, -1),
        ("redirect", 137, -1),
    ];

    private static readonly Dictionary<string, byte> TcpFlagNames = new()
    {
        ["FIN"] = 0x01, ["SYN"] = 0x02, ["RST"] = 0x04, ["PSH"] = 0x08, ["ACK"] = 0x10, ["URG"] = 0x20, ["ALL"] = 0x3F, ["NONE"] = 0,
    };

    private int _position = start;

    /// <summary>The rule's -c PACKETS BYTES (--set-counters), if it gives them.</summary>
    public (long Packets, long Bytes)? Counters { get; private set; }
    private readonly HashSet<string> _modules = [];
    private readonly List<MatchModule> _order = [];
    private readonly List<RecentBuilder> _recent = [];
    private readonly List<ConntrackMatch> _conntrack = [];
    private CtTarget? _ct;
    private string? _ctIgnoredOption;
    private LogTarget? _log;
    private LimitMatch? _limit;

    /// <summary>
    /// The rule, once for each source and destination pair when -s or -d lists several addresses (iptables adds
    /// one rule per pair, sources outermost), numbered from <paramref name="number"/>.
    /// </summary>
    public List<Rule> Parse(string chain, int line, int number)
    {
        Inverted<byte>? protocol = null;
        Inverted<bool>? fragment = null;
        Inverted<AddressPrefix[]>? sources = null, destinations = null;
        Inverted<InterfaceName>? inInterface = null, outInterface = null;
        Inverted<PortRange>? sport = null, dport = null;
        Inverted<(byte, byte)>? tcpFlags = null;
        Inverted<(byte, short)>? icmp = null;
        Inverted<MultiportMatch>? multiport = null;
        Inverted<byte[]>? mac = null;
        Inverted<AddressRange>? sourceRange = null, destinationRange = null;
        Inverted<PortRange>? length = null;
        TtlMatch? ttl = null;
        string? ttlOption = null;
        Inverted<PacketType>? packetType = null;
        TargetKind target = TargetKind.None;
        string? targetChain = null;
        string? comment = null;
        bool targetGiven = false;

        while (_position < tokens.Count)
        {
            bool invert = false;
            string option = Next();
            if (option == "!")
            {
                invert = true;
                option = Next("an option after '!'");
            }
            switch (option)
            {
                case "-4" or "--ipv4" or "-6" or "--ipv6":
                    // iptables-restore takes a rule for its own family and skips, unread past this point, one for the other.
                    if ((option is "-6" or "--ipv6") == (family == L3Kind.IPv4))
                        return [];
                    break;
                case "-v" or "--verbose":
                    NoInvert(invert, option);
                    break; // iptables-restore prints the rule then; it changes nothing
                case "-f" or "--fragment":
                    if (family == L3Kind.IPv6)
                        throw fail("`-f' is not supported in IPv6, use -m frag instead");
                    fragment = fragment is null ? new Inverted<bool>(true, invert) : throw fail("multiple -f flags not allowed");
                    break;
                case "--":
                    // getopt's end of options: nothing may follow.
                    if (invert || _position < tokens.Count)
                        throw fail("unknown arguments found on commandline");
                    break;
                case "-p" or "--protocol":
                    // iptables lower-cases the name, and refuses a rule that could match no protocol.
                    protocol = Once(protocol, option, new Inverted<byte>(ParseProtocol(Next(option).ToLowerInvariant()), invert));
                    if (protocol is { Value: 0, Invert: true })
                        throw fail("rule would never match protocol");
                    break;
                case "-s" or "--source" or "--src":
                    sources = sources is null ? new(ParseAddresses(Next(option)), invert) : throw fail($"option '{option}' given twice");
                    break;
                case "-d" or "--destination" or "--dst":
                    destinations = destinations is null ? new(ParseAddresses(Next(option)), invert) : throw fail($"option '{option}' given twice");
                    break;
                case "-i" or "--in-interface":
                    if (chain is "OUTPUT" or "POSTROUTING")
                        throw fail($"Can't use -i with {chain}");
                    inInterface = Once(inInterface, option, new Inverted<InterfaceName>(ParseInterface(Next(option)), invert));
                    break;
                case "-o" or "--out-interface":
                    if (chain == "PREROUTING" || chain == "INPUT")
                        throw fail($"-o cannot be used in {chain} (no output interface is known there)");
                    outInterface = Once(outInterface, option, new Inverted<InterfaceName>(ParseInterface(Next(option)), invert));
                    break;
                case "-m" or "--match":
                    LoadModule(Next(option), invert);
                    break;
                case "-j" or "--jump" or "-g" or "--goto":
                    NoInvert(invert, option);
                    if (targetGiven)
                        throw fail("multiple -j flags not allowed");
                    targetGiven = true;
                    (target, targetChain) = ParseTarget(Next(option), jump: option is "-j" or "--jump");
                    break;
                case "--sport" or "--source-port":
                    sport = Once(sport, option, new Inverted<PortRange>(ParsePortRange(option, Next(option), PortModule(option, protocol)), invert));
                    break;
                case "--dport" or "--destination-port":
                    dport = Once(dport, option, new Inverted<PortRange>(ParsePortRange(option, Next(option), PortModule(option, protocol)), invert));
                    break;
                case "--tcp-flags":
                    RequireModule("tcp", option, protocol);
                    tcpFlags = OnceFlags(tcpFlags, new Inverted<(byte, byte)>((ParseTcpFlags(Next(option)), ParseTcpFlags(Next(option))), invert));
                    break;
                case "--syn":
                    RequireModule("tcp", option, protocol);
                    tcpFlags = OnceFlags(tcpFlags, new Inverted<(byte, byte)>((0x17, 0x02), invert));
                    break;
                case "--icmp-type":
                    RequireModule("icmp", option, protocol);
                    icmp = Once(icmp, option, new Inverted<(byte, short)>(ParseIcmpType(Next(option), IcmpNames, "ICMP"), invert));
                    break;
                case "--icmpv6-type":
                    RequireModule("icmp6", option, protocol);
                    icmp = Once(icmp, option, new Inverted<(byte, short)>(ParseIcmpType(Next(option), Icmpv6Names, "ICMPv6"), invert));
                    break;
                case "--sports" or "--source-ports" or "--dports" or "--destination-ports" or "--ports":
                    RequireModule("multiport", option, protocol);
                    var direction = option.StartsWith("--s", StringComparison.Ordinal) ? MultiportDirection.Source
                        : option.StartsWith("--d", StringComparison.Ordinal) ? MultiportDirection.Destination : MultiportDirection.Either;
                    var ports = ParsePortList(Next(option), MultiportProtocol(protocol));
                    multiport = OncePorts(multiport, new Inverted<MultiportMatch>(new MultiportMatch(direction, ports), invert));
                    break;
                case "--mac-source":
                    RequireModule("mac", option, protocol);
                    mac = Once(mac, option, new Inverted<byte[]>(ParseMac(Next(option)), invert));
                    break;
                case "--src-range" or "--dst-range" when _modules.Contains("iprange"):
                    GivenOnce("iprange", option);
                    var range = new Inverted<AddressRange>(ParseAddressRange(option, Next(option)), invert);
                    if (option == "--src-range")
                        sourceRange = range;
                    else
                        destinationRange = range;
                    break;
                case "--length" when _modules.Contains("length"):
                    GivenOnce("length", option);
                    length = new Inverted<PortRange>(ParseLengthRange(Next(option)), invert);
                    break;
                case "--ttl-eq" or "--ttl-lt" or "--ttl-gt" when _modules.Contains("ttl"):
                case "--hl-eq" or "--hl-lt" or "--hl-gt" when _modules.Contains("hl"):
                    string ttlModule = option[2..4] == "tt" ? "ttl" : "hl";
                    if (invert && !option.EndsWith("-eq", StringComparison.Ordinal))
                        throw fail($"{ttlModule}: option \"{option}\" cannot be inverted.");
                    if (ttlOption is not null)
                        throw fail(ttlOption == option
                            ? $"{ttlModule}: option \"{option}\" can only be used once."
                            : $"{ttlModule}: option \"{option}\" cannot be used together with \"{ttlOption}\".");
                    ttlOption = option;
                    byte ttlValue = XtablesText.TryParseUnsigned(Next(option), 0, 255, out ulong parsedTtl) ? (byte)parsedTtl
                        : throw fail($"{ttlModule}: bad value for option \"{option}\", or out of range (0-255).");
                    var comparison = option.EndsWith("-lt", StringComparison.Ordinal) ? TtlComparison.Less
                        : option.EndsWith("-gt", StringComparison.Ordinal) ? TtlComparison.Greater
                        : invert ? TtlComparison.NotEqual : TtlComparison.Equal;
                    ttl = new TtlMatch(comparison, ttlValue);
                    break;
                case "--pkt-type" when _modules.Contains("pkttype"):
                    GivenOnce("pkttype", option);
                    packetType = new Inverted<PacketType>(ParsePacketType(Next(option)), invert);
                    break;
                case "--comment":
                    RequireModule("comment", option, protocol);
                    NoInvert(invert, option);
                    comment = comment is null ? Utf8Text.CutToBytes(Next(option), CommentBytes) : throw fail($"option '{option}' given twice");
                    break;
                case "--set" or "--rcheck" or "--update" or "--remove":
                    CurrentRecent(option).SetCommand(option, invert);
                    break;
                case "--seconds" or "--hitcount" or "--name" or "--mask":
                    NoInvert(invert, option);
                    CurrentRecent(option).SetValue(option, Next(option));
                    break;
                case "--rttl" or "--reap" or "--rsource" or "--rdest":
                    NoInvert(invert, option);
                    CurrentRecent(option).SetFlag(option);
                    break;
                case "--state" or "--ctstate" or "--ctproto" or "--ctstatus" or "--ctexpire" or "--ctdir":
                    SetConntrackOption(option, Next(option), invert);
                    break;
                case "--notrack" or "--timeout":
                    NoInvert(invert, option);
                    SetCtOption(option);
                    break;
                case "--limit" or "--limit-burst":
                    SetLimitOption(option, Next(option), invert);
                    break;
                case "--log-level" or "--log-prefix" or "--log-tcp-sequence" or "--log-tcp-options" or "--log-ip-options" or "--log-uid" or "--log-macdecode":
                    NoInvert(invert, option);
                    SetLogOption(option);
                    break;
                case "--helper" or "--ctevents" or "--expevents" or "--zone" or "--zone-orig" or "--zone-reply":
                    NoInvert(invert, option);
                    SetIgnoredCtOption(option);
                    break;
                case "-c" or "--set-counters":
                    if (invert)
                        throw fail("cannot have ! before -c");
                    if (Counters is not null)
                        throw fail("multiple -c flags not allowed");
                    if (_position + 2 > tokens.Count)
                        throw fail("-c requires packet and byte counter");
                    Counters = (ParseCounter(Next(), "packet"), ParseCounter(Next(), "byte"));
                    break;
                case "--port" when _modules.Contains("multiport"):
                    throw fail(MultiportAbbreviation(option));
                case ['-', '-', ..] when option.Contains('='):
                    throw fail($"option '{option}': iptables (getopt) takes '--NAME=VALUE'; FastPath needs '--NAME VALUE'");
                default:
                    throw fail($"unknown option '{option}'");
            }
        }

        // x_tables refuses a protocol match whose rule does not pin that protocol (EINVAL at commit).
        foreach (var module in _order)
        {
            byte? needed = module switch
            {
                MatchModule.Tcp => 6,
                MatchModule.Udp => 17,
                MatchModule.Icmp => family == L3Kind.IPv4 ? (byte)1 : (byte)58,
                _ => null,
            };
            if (needed is byte proto && (protocol is not { Invert: false } pinned || pinned.Value != proto))
                throw fail($"-m {module.ToString().ToLowerInvariant()} needs -p {ProtocolName(proto)} in the same rule");
        }
        if (_modules.Contains("icmp") && icmp is null)
            throw fail("icmp: option \"--icmp-type\" must be specified");
        if (_modules.Contains("icmp6") && icmp is null)
            throw fail("icmp6: option \"--icmpv6-type\" must be specified");
        if (_modules.Contains("multiport") && multiport is null)
            throw fail("multiport expection an option");
        if (_modules.Contains("iprange") && sourceRange is null && destinationRange is null)
            throw fail("iprange match: You must specify `--src-range' or `--dst-range'");
        if (_modules.Contains("length") && length is null)
            throw fail("length: option \"--length\" must be specified");
        if (_modules.Contains("ttl") && ttl is null)
            throw fail("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt");
        if (_modules.Contains("hl") && ttl is null)
            throw fail("HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'");
        if (_modules.Contains("pkttype") && packetType is null)
            throw fail("pkttype: option \"--pkt-type\" must be specified");
        if (_modules.Contains("comment") && comment is null)
            throw fail("comment: option \"--comment\" must be specified");
        CheckLimit();
        if ((sources?.Value.Length > 1 || destinations?.Value.Length > 1) && (sources?.Invert == true || destinations?.Invert == true))
            throw fail("! not allowed with multiple source or destination IP addresses");

        if (_ctIgnoredOption is { } ignored && _ct?.NoTrack != true)
            throw fail($"CT: option '{ignored}' is not supported without --notrack (FastPath has no helpers, events or zones)");

        var rule = new Rule
        {
            Chain = chain,
            Line = line,
            Number = number,
            Protocol = protocol,
            Fragment = fragment,
            InInterface = inInterface,
            OutInterface = outInterface,
            SourcePort = sport,
            DestinationPort = dport,
            TcpFlags = tcpFlags,
            IcmpType = icmp,
            Multiport = multiport,
            MacSource = mac,
            Comment = comment,
            Limit = _limit,
            SourceRange = sourceRange,
            DestinationRange = destinationRange,
            Length = length,
            Ttl = ttl,
            PacketType = packetType,
            Recent = _recent.Select(r => r.Build()).ToArray(),
            Conntrack = _conntrack.Select(BuiltConntrack).ToArray(),
            Modules = _order.ToArray(),
            Target = target,
            TargetChain = targetChain,
            Ct = _ct,
            Log = _log,
        };
        var rules = new List<Rule>();
        AddressPrefix?[] sourceList = sources is { } all ? [.. all.Value.Select(a => (AddressPrefix?)a)] : [null];
        AddressPrefix?[] destinationList = destinations is { } allTo ? [.. allTo.Value.Select(a => (AddressPrefix?)a)] : [null];
        foreach (var source in sourceList)
        {
            foreach (var destination in destinationList)
            {
                rules.Add(rule with
                {
                    Number = number + rules.Count,
                    Source = source is { } s ? new Inverted<AddressPrefix>(s, sources!.Value.Invert) : null,
                    Destination = destination is { } d ? new Inverted<AddressPrefix>(d, destinations!.Value.Invert) : null,
                });
            }
        }
        return rules;
    }

    /// <summary>
    /// A -c counter as sscanf's %llu reads it: leading blanks, a sign, then digits up to the first other character
    /// ("0x10" is 0, "-1" is 2^64-1). FastPath's counters hold up to 2^63-1.
    /// </summary>
    private long ParseCounter(string text, string which)
    {
        int i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
            i++;
        bool negative = i < text.Length && text[i] == '-';
        if (i < text.Length && text[i] is '+' or '-')
            i++;
        if (i == text.Length || !char.IsAsciiDigit(text[i]))
            throw fail($"-c {which} counter not numeric");
        ulong value = 0;
        for (; i < text.Length && char.IsAsciiDigit(text[i]); i++)
        {
            ulong digit = (ulong)(text[i] - '0');
            value = value > (ulong.MaxValue - digit) / 10 ? ulong.MaxValue : value * 10 + digit;
        }
        if (negative)
            value = unchecked(0 - value);
        return value <= long.MaxValue ? (long)value : throw fail($"-c {which} counter {value} is above {long.MaxValue}, the most FastPath's counters hold");
    }

    /// <summary>XT_MAX_COMMENT_LEN less its NUL: iptables keeps the first 255 bytes of a longer comment.</summary>
    private const int CommentBytes = 255;

    private static string ProtocolName(byte protocol) => protocol switch { 6 => "tcp", 17 => "udp", 1 => "icmp", _ => "icmpv6" };

    private string Next(string? after = null)
    {
        if (_position >= tokens.Count)
            throw fail(after is null ? "unexpected end of rule" : $"option '{after}' needs a value");
        return tokens[_position++];
    }

    private T? Once<T>(T? existing, string option, T value) where T : struct =>
        existing is null ? value : throw fail($"option '{option}' given twice");

    // libxt_tcp's words: --syn is --tcp-flags spelled short, and either may come once.
    private Inverted<(byte, byte)>? OnceFlags(Inverted<(byte, byte)>? existing, Inverted<(byte, byte)> value) =>
        existing is null ? value : throw fail("only one of '--syn' or '--tcp-flags' allowed");

    // libxt_multiport's words, which name its options by their long names.
    private Inverted<MultiportMatch>? OncePorts(Inverted<MultiportMatch>? existing, Inverted<MultiportMatch> value)
    {
        if (existing is not { } first)
            return value;
        string given = MultiportOptionName(value.Value.Direction), earlier = MultiportOptionName(first.Value.Direction);
        throw fail(given == earlier
            ? $"multiport: option \"{given}\" can only be used once"
            : $"multiport: option \"{given}\" cannot be used together with \"{earlier}\"");
    }

    private static string MultiportOptionName(MultiportDirection direction) => direction switch
    {
        MultiportDirection.Source => "--source-ports",
        MultiportDirection.Destination => "--destination-ports",
        _ => "--ports",
    };

    private void NoInvert(bool invert, string option)
    {
        if (invert)
            throw fail($"'!' cannot be used with '{option}'");
    }

    private void LoadModule(string module, bool invert)
    {
        NoInvert(invert, "-m");
        switch (module)
        {
            case "tcp" or "udp" or "multiport" or "mac" or "comment" or "iprange" or "length":
                Load(module);
                break;
            case "icmp":
                if (family != L3Kind.IPv4)
                    throw fail("-m icmp is for IPv4; ip6tables uses -m icmp6");
                Load(module);
                break;
            case "icmp6" or "icmpv6":
                if (family != L3Kind.IPv6)
                    throw fail("-m icmp6 is for IPv6; iptables uses -m icmp");
                Load("icmp6");
                break;
            case "recent":
                _recent.Add(new RecentBuilder(family, fail));
                _order.Add(MatchModule.Recent);
                break;
            case "conntrack" or "state":
                _conntrack.Add(new ConntrackMatch(module));
                _order.Add(MatchModule.Conntrack);
                break;
            case "ttl" or "hl":
                if ((module == "ttl") != (family == L3Kind.IPv4))
                    throw fail($"Couldn't load match `{module}' ({(module == "ttl" ? "ip6tables uses -m hl" : "iptables uses -m ttl")})");
                Load(module);
                break;
            case "pkttype":
                Load(module);
                break;
            case "limit":
                if (_limit is not null)
                    throw fail("-m limit is given twice; FastPath takes one limit per rule");
                _limit = new LimitMatch(LimitMatch.DefaultAverage, LimitMatch.DefaultBurst);
                _order.Add(MatchModule.Limit);
                break;
            default:
                throw fail($"match '-m {module}' is not supported");
        }
    }

    private void Load(string module)
    {
        if (!_modules.Add(module))
            return; // iptables merges a repeated -m tcp into the one already loaded
        _order.Add(module switch
        {
            "tcp" => MatchModule.Tcp,
            "udp" => MatchModule.Udp,
            "icmp" or "icmp6" => MatchModule.Icmp,
            "multiport" => MatchModule.Multiport,
            "mac" => MatchModule.Mac,
            "iprange" => MatchModule.IpRange,
            "length" => MatchModule.Length,
            "ttl" or "hl" => MatchModule.Ttl,
            "pkttype" => MatchModule.PacketType,
            _ => MatchModule.Comment,
        });
    }

    /// <summary>
    /// An option of <paramref name="module"/>. iptables loads the match that -p names by itself when an option is
    /// none of the loaded matches', so "-p tcp --syn" and "-p icmp --icmp-type 8" need no -m.
    /// </summary>
    private void RequireModule(string module, string option, Inverted<byte>? protocol)
    {
        if (_modules.Contains(module))
            return;
        if (protocol is { } p && ProtocolModule(p.Value) == module)
            Load(module);
        else
            throw fail($"option '{option}' needs '-m {module}'");
    }

    /// <summary>The match -p names, among those FastPath has (tcp, udp, icmp for iptables, icmp6 for ip6tables).</summary>
    private string? ProtocolModule(byte protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        1 when family == L3Kind.IPv4 => "icmp",
        58 when family == L3Kind.IPv6 => "icmp6",
        _ => null,
    };

    /// <summary>
    /// getopt_long takes the beginning of one long option for the option: with -m multiport (and no tcp or udp
    /// match) loaded, iptables reads --dport 22,23 as --dports. FastPath wants option names written out.
    /// </summary>
    private static string MultiportAbbreviation(string option) =>
        $"iptables reads '{option}' after -m multiport as multiport's '{option}s' (an abbreviation); FastPath needs '{option}s' written out";

    /// <summary>Which match reads --sport/--dport: a loaded tcp or udp match, or the one -p names.</summary>
    private string PortModule(string option, Inverted<byte>? protocol)
    {
        if (_modules.Contains("tcp"))
            return "tcp";
        if (_modules.Contains("udp"))
            return "udp";
        if (_modules.Contains("multiport"))
            throw fail(MultiportAbbreviation(option));
        if (protocol is { } p && ProtocolModule(p.Value) is "tcp" or "udp")
        {
            Load(ProtocolModule(p.Value)!);
            return ProtocolModule(p.Value)!;
        }
        if (protocol is { Value: 132 or 33 } other)
            throw fail($"option '{option}' is the {(other.Value == 132 ? "sctp" : "dccp")} match's here, and FastPath does not support that match");
        throw fail($"option '{option}' needs -p tcp or -p udp (or -m tcp / -m udp)");
    }

    private RecentBuilder CurrentRecent(string option) =>
        _recent.Count > 0 ? _recent[^1] : throw fail($"option '{option}' needs '-m recent'");

    private (TargetKind, string?) ParseTarget(string name, bool jump)
    {
        switch (name)
        {
            case "ACCEPT" when jump:
                return (TargetKind.Accept, null);
            case "DROP" when jump:
                return (TargetKind.Drop, null);
            case "RETURN" when jump:
                return (TargetKind.Return, null);
            case "ACCEPT" or "DROP" or "RETURN" or "CT" or "NOTRACK" or "LOG" when !jump:
                throw fail($"-g needs a user-defined chain, not '{name}'");
            case "CT" or "NOTRACK":
                // xt_CT's checkentry: the target exists in the raw table only (EINVAL elsewhere).
                if (table != TableKind.Raw)
                    throw fail($"target '{name}' is only valid in the raw table (the kernel refuses it: {Errnos.Message(Errno.EINVAL)})");
                _ct = new CtTarget(name, NoTrack: name == "NOTRACK", TimeoutPolicy: null);
                return (TargetKind.Ct, null);
            case "LOG":
                _log = new LogTarget(LogTarget.DefaultLevel, "", LogFlags.None);
                return (TargetKind.Log, null);
            case "REJECT" or "MARK" or "SNAT" or "DNAT" or "MASQUERADE" or "TCPMSS" or "NFLOG" or "QUEUE" or "NFQUEUE":
                throw fail($"target '{name}' is not supported");
            default:
                return (jump ? TargetKind.Jump : TargetKind.Goto, name);
        }
    }

    /// <summary>
    /// --notrack and --timeout NAME belong to a preceding -j CT (libxt_CT); a longer policy name is cut to 31 bytes, as
    /// iptables cuts it into the target's field (and nfct the name it creates).
    /// </summary>
    private void SetCtOption(string option)
    {
        if (_ct?.Name != "CT") // -j NOTRACK has no options
            throw fail($"option '{option}' needs '-j CT' before it");
        GivenOnce("CT", option);
        if (option == "--notrack")
        {
            _ct = _ct with { NoTrack = true };
            return;
        }
        _ct = _ct with { TimeoutPolicy = Utf8Text.CutToBytes(Next(option), CtTimeoutNameBytes) };
    }

    /// <summary>
    /// --helper, --ctevents, --expevents or a zone option of a preceding -j CT, as libxt_CT parses them: each once, a
    /// helper cut to 15 bytes, events by their exact names, a zone "mark" or a number up to 65535 (C notation). Only
    /// beside --notrack, which makes xt_CT ignore them (checked when the rule is complete).
    /// </summary>
    private void SetIgnoredCtOption(string option)
    {
        if (_ct?.Name != "CT")
            throw fail($"option '{option}' needs '-j CT' before it");
        GivenOnce("CT", option);
        _ctIgnoredOption ??= option;
        string value = Next(option);
        switch (option)
        {
            case "--helper":
                _ct = _ct with { Helper = Utf8Text.CutToBytes(value, CtHelperNameBytes) };
                break;
            case "--ctevents":
                _ct = _ct with { CtEvents = Events(value, CtTarget.CtEventNames) };
                break;
            case "--expevents":
                _ct = _ct with { ExpEvents = Events(value, CtTarget.ExpEventNames) };
                break;
            default:
                var zone = _ct.Zone;
                if (value == "mark")
                    zone.Mark = true;
                else if (CNumberText.Strtoul(value, out int end, out bool outOfRange) is var id && end == value.Length && value.Length > 0
                    && !outOfRange && id <= ushort.MaxValue && !value.TrimStart().StartsWith('-'))
                    zone.Id = (ushort)id;
                else
                    throw fail($"Cannot parse {value} as a zone ID");
                zone.Original |= option == "--zone-orig";
                zone.Reply |= option == "--zone-reply";
                _ct = _ct with { Zone = zone };
                break;
        }

        int Events(string list, string[] names)
        {
            int bits = 0;
            foreach (string name in list.Split(','))
            {
                int bit = Array.IndexOf(names, name);
                if (bit < 0)
                    throw fail($"Unknown event type \"{name}\"");
                bits |= 1 << bit;
            }
            return bits;
        }
    }

    /// <summary>The size of xt_ct_target_info's helper field, less its NUL.</summary>
    private const int CtHelperNameBytes = 15;

    /// <summary>The size of xt_ct_target_info's timeout field, less its NUL.</summary>
    private const int CtTimeoutNameBytes = 31;

    /// <summary>
    /// The options of a preceding -j LOG, as libxt_LOG reads them: each once, a level by number (0-7, C notation)
    /// or syslog name, a prefix of at least one byte and no newline, cut to its first 29 bytes.
    /// </summary>
    private void SetLogOption(string option)
    {
        if (_log is null)
            throw fail($"option '{option}' needs '-j LOG' before it");
        GivenOnce("LOG", option);
        switch (option)
        {
            case "--log-level":
                string level = Next(option);
                byte value = LogLevels.TryGetValue(level, out byte named) ? named
                    : XtablesText.TryParseUnsigned(level, 0, 7, out ulong number) ? (byte)number
                    : throw fail($"log level \"{level}\" unknown");
                _log = _log with { Level = value };
                break;
            case "--log-prefix":
                string prefix = Next(option);
                if (prefix.Length == 0)
                    throw fail("Argument must have a minimum length of 1 characters");
                if (prefix.Contains('\n'))
                    throw fail("Newlines not allowed in --log-prefix");
                _log = _log with { Prefix = Utf8Text.CutToBytes(prefix, LogPrefixBytes) };
                break;
            default:
                _log = _log with { Flags = _log.Flags | LogSwitches[option] };
                break;
        }
    }

    /// <summary>--limit RATE[/second|/minute|/hour|/day] (any prefix of the unit, any case) and --limit-burst N, as libxt_limit reads them.</summary>
    private void SetLimitOption(string option, string value, bool invert)
    {
        if (_limit is null)
            throw fail($"option '{option}' needs '-m limit'");
        if (invert)
            throw fail($"limit: option \"{option}\" cannot be inverted.");
        GivenOnce("limit", option);
        if (option == "--limit-burst")
        {
            _limit = XtablesText.TryParseUnsigned(value, 0, MaxLimitBurst, out ulong burst)
                ? _limit with { Burst = (uint)burst }
                : throw fail($"limit: bad value for option \"--limit-burst\", or out of range (0-{MaxLimitBurst}).");
            return;
        }
        uint perUnit = 1;
        int slash = value.IndexOf('/');
        if (slash >= 0)
        {
            string unit = value[(slash + 1)..];
            perUnit = unit.Length == 0 ? 0u
                : "second".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 1u
                : "minute".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 60u
                : "hour".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 3600u
                : "day".StartsWith(unit, StringComparison.OrdinalIgnoreCase) ? 86400u : 0u;
        }
        uint rate = unchecked((uint)CNumberText.Atoi(value, out _)); // atoi into a uint32_t: "-5/s" is a huge rate
        if (perUnit == 0 || rate == 0)
            throw fail($"bad rate \"{value}\"'");
        uint average = LimitMatch.Scale * perUnit / rate;
        _limit = average != 0 ? _limit with { Average = average } : throw fail($"Rate too fast \"{value}\"");
    }

    /// <summary>
    /// xt_limit's checkentry (ERANGE when the bucket's credit overflows), and FastPath's rule that a limit comes after
    /// the rule's other matches: the kernel takes a credit whenever the matches before it held, and FastPath tests
    /// a rule's pure matches before its limit.
    /// </summary>
    private void CheckLimit()
    {
        if (_limit is not { } limit)
            return;
        if (!RateLimit.Accepts(limit))
            throw fail($"limit: avg {limit.Average} with burst {limit.Burst} overflows the kernel's credit (the kernel refuses it: {Errnos.Message(Errno.ERANGE)})");
        int at = _order.IndexOf(MatchModule.Limit);
        if (_order.Skip(at + 1).Any(m => m != MatchModule.Comment))
            throw fail("-m limit must come after the rule's other matches (FastPath takes its credit last)");
    }

    private const uint MaxLimitBurst = 10000;

    /// <summary>XT_LOG's prefix field (30 bytes) less its NUL.</summary>
    private const int LogPrefixBytes = 29;

    private static readonly Dictionary<string, byte> LogLevels = new(StringComparer.Ordinal)
    {
        ["emerg"] = 0, ["panic"] = 0, ["alert"] = 1, ["crit"] = 2, ["error"] = 3, ["warning"] = 4, ["notice"] = 5, ["info"] = 6, ["debug"] = 7,
    };

    private static readonly Dictionary<string, LogFlags> LogSwitches = new(StringComparer.Ordinal)
    {
        ["--log-tcp-sequence"] = LogFlags.TcpSequence, ["--log-tcp-options"] = LogFlags.TcpOptions, ["--log-ip-options"] = LogFlags.IpOptions,
        ["--log-uid"] = LogFlags.Uid, ["--log-macdecode"] = LogFlags.MacDecode,
    };

    /// <summary>
    /// The options of this rule's target and of its matches that load once (xtables' "can only be used once"): their
    /// names differ from one extension to the next, so one set serves them all.
    /// </summary>
    private readonly HashSet<string> _givenOnce = [];

    private void GivenOnce(string extension, string option)
    {
        if (!_givenOnce.Add(option))
            throw fail($"{extension}: option \"{option}\" can only be used once.");
    }

    /// <summary>One option of the -m conntrack or -m state most recently loaded, as libxt_conntrack parses it.</summary>
    private void SetConntrackOption(string option, string value, bool invert)
    {
        if (_conntrack.Count == 0 || (_conntrack[^1].Module == "state") != (option == "--state"))
            throw fail($"option '{option}' needs '-m {(option == "--state" ? "state" : "conntrack")}'");
        var match = _conntrack[^1];
        bool given = option switch
        {
            "--state" or "--ctstate" => match.State is not null,
            "--ctproto" => match.Protocol is not null,
            "--ctstatus" => match.Status is not null,
            "--ctexpire" => match.Expire is not null,
            _ => match.Direction is not null,
        };
        if (option == "--ctdir" && invert)
            throw fail("conntrack: option \"--ctdir\" cannot be inverted.");
        if (given)
            throw fail($"{match.Module}: option \"{option}\" can only be used once.");
        _conntrack[^1] = option switch
        {
            "--state" => match with { State = new(ParseNames(value, StateNames, "state"), invert) },
            "--ctstate" => match with { State = new(ParseNames(value, CtStateNames, "ctstate"), invert) },
            "--ctproto" => match with { Protocol = new(ParseProtocol(value), invert) },
            "--ctstatus" => match with { Status = new(ParseNames(value, CtStatusNames, "ctstatus"), invert) },
            "--ctexpire" => match with { Expire = new(ParseExpire(value), invert) },
            _ => match with { Direction = new(ParseDirection(value), invert) },
        };
    }

    private ConntrackMatch BuiltConntrack(ConntrackMatch match) =>
        match.Module == "state" && match.State is null ? throw fail("state: option \"--state\" must be specified")
        : match.Module == "conntrack" && match == new ConntrackMatch("conntrack") ? throw fail("conntrack: At least one option is required")
        : match;

    private static readonly (string Name, CtStateMask Bit)[] StateNames =
    [
        ("INVALID", CtStateMask.Invalid), ("NEW", CtStateMask.New), ("ESTABLISHED", CtStateMask.Established),
        ("RELATED", CtStateMask.Related), ("UNTRACKED", CtStateMask.Untracked),
    ];

    private static readonly (string Name, CtStateMask Bit)[] CtStateNames =
        [.. StateNames, ("SNAT", CtStateMask.Snat), ("DNAT", CtStateMask.Dnat)];

    private static readonly (string Name, CtStatusMask Bit)[] CtStatusNames =
    [
        ("NONE", CtStatusMask.None), ("EXPECTED", CtStatusMask.Expected), ("SEEN_REPLY", CtStatusMask.SeenReply),
        ("ASSURED", CtStatusMask.Assured), ("CONFIRMED", CtStatusMask.Confirmed),
    ];

    /// <summary>
    /// A comma-separated list as libxt_conntrack reads it: each item compared with strncasecmp over the item's
    /// own length, so a prefix ("EST") selects the first name it begins; an empty item is refused.
    /// </summary>
    private T ParseNames<T>(string value, (string Name, T Bit)[] names, string what) where T : struct, Enum
    {
        ulong mask = 0;
        foreach (string item in value.Split(','))
        {
            int found = item.Length == 0 ? -1
                : Array.FindIndex(names, n => item.Length <= n.Name.Length && n.Name.StartsWith(item, StringComparison.OrdinalIgnoreCase));
            if (found < 0)
                throw fail($"Bad {what} \"{value}\"");
            mask |= Convert.ToUInt64(names[found].Bit);
        }
        return (T)Enum.ToObject(typeof(T), mask);
    }

    /// <summary>--ctexpire time[:time], seconds (XTTYPE_UINT32RC); libxt_conntrack takes min > max too: such a range never matches uninverted.</summary>
    private (uint, uint) ParseExpire(string value)
    {
        var (min, max) = ParseUnsignedRange("conntrack", "--ctexpire", value, uint.MaxValue);
        return ((uint)min, (uint)max);
    }

    private FlowDirection ParseDirection(string value) =>
        value.Equals("ORIGINAL", StringComparison.OrdinalIgnoreCase) ? FlowDirection.Original
        : value.Equals("REPLY", StringComparison.OrdinalIgnoreCase) ? FlowDirection.Reply
        : throw fail($"Bad ctdir value \"{value}\"");

    /// <summary>
    /// xtables_parse_protocol: a number in C notation up to 255, "all", a name or alias from /etc/protocols, or one of
    /// libxtables' own names.
    /// </summary>
    private byte ParseProtocol(string text)
    {
        if (XtablesText.TryParseUnsigned(text, 0, byte.MaxValue, out ulong number))
            return (byte)number;
        if (text == "all")
            return 0;
        if (NetDb.System.TryGetProtocol(text, out byte p) || XtablesProtocols.TryGetValue(text, out p))
            return p;
        throw fail($"unknown protocol \"{text}\" specified");
    }

    /// <summary>
    /// -s/-d as xtables_ipparse_multiple (ip6parse) reads them: a comma-separated list, each item an address with an
    /// optional /prefix or /mask (after the last '/'). A prefix is a number in C notation; an IPv4 mask has four
    /// dotted parts; a zero mask makes any address 0.0.0.0 (or ::), whatever is written before it.
    /// </summary>
    private AddressPrefix[] ParseAddresses(string text) => [.. text.Split(',').Select(ParsePrefix)];

    private AddressPrefix ParsePrefix(string text)
    {
        int slash = text.LastIndexOf('/');
        string address = slash < 0 ? text : text[..slash];
        InetAddress mask = slash < 0 ? InetAddress.PrefixMask(family == L3Kind.IPv4 ? 32 : 128) : ParseMask(text[(slash + 1)..]);
        if (mask == default)
            return new AddressPrefix(default, mask);
        return new AddressPrefix(ParseAddress(address).And(mask), mask);
    }

    private InetAddress ParseMask(string text)
    {
        if (family == L3Kind.IPv4 && XtablesText.TryParseIPv4(text, mask: true, out uint dotted))
            return InetAddress.FromIPv4(dotted);
        if (family == L3Kind.IPv6 && InetAddress.TryParse(text, out var colons, out var kind) && kind == L3Kind.IPv6)
            return colons;
        int bits = family == L3Kind.IPv4 ? 32 : 128;
        return XtablesText.TryParseUnsigned(text, 0, (ulong)bits, out ulong prefix)
            ? InetAddress.PrefixMask((int)prefix)
            : throw fail($"invalid mask `{text}' specified");
    }

    /// <summary>
    /// An IPv4 address as xtables_numeric_to_ipaddr reads it ("10.1" is 10.1.0.0), else as getaddrinfo does
    /// (inet_aton: "10.1" would be 10.0.0.1, but xtables took it first; "167772161" is 10.0.0.1); an IPv6 address as
    /// inet_pton. iptables would resolve a host name; FastPath does not.
    /// </summary>
    private InetAddress ParseAddress(string text)
    {
        if (family == L3Kind.IPv4)
        {
            if (XtablesText.TryParseIPv4(text, mask: false, out uint numeric) || InetAtonText.TryParse(text, out numeric))
                return InetAddress.FromIPv4(numeric);
        }
        else if (InetAddress.TryParse(text, out var address, out var kind) && kind == L3Kind.IPv6)
        {
            return address;
        }
        throw fail($"host/network `{text}' not found (FastPath takes addresses, not host names)");
    }

    /// <summary>libxt_iprange: FIRST[-LAST] (one address is a range of one), each numeric; a reversed range is taken and never matches.</summary>
    private AddressRange ParseAddressRange(string option, string text)
    {
        int dash = text.IndexOf('-');
        string first = dash < 0 ? text : text[..dash];
        string last = dash < 0 ? text : text[(dash + 1)..];
        return new AddressRange(ParseRangeEnd(option, first), ParseRangeEnd(option, last));
    }

    private InetAddress ParseRangeEnd(string option, string text)
    {
        if (family == L3Kind.IPv4 && XtablesText.TryParseIPv4(text, mask: false, out uint v4))
            return InetAddress.FromIPv4(v4);
        if (family == L3Kind.IPv6 && InetAddress.TryParse(text, out var v6, out var kind) && kind == L3Kind.IPv6)
            return v6;
        throw fail($"iprange: Bad value for \"{option}\" option: \"{text}\"");
    }

    /// <summary>libxt_pkttype's names, in any case.</summary>
    private PacketType ParsePacketType(string text) => text.ToLowerInvariant() switch
    {
        "unicast" or "host" => PacketType.Unicast,
        "broadcast" or "bcast" => PacketType.Broadcast,
        "multicast" or "mcast" => PacketType.Multicast,
        "otherhost" => PacketType.OtherHost,
        _ => throw fail($"Bad packet type '{text}'"),
    };

    /// <summary>libxt_length (XTTYPE_UINT16RC): N, N:M, :M or N:, each a number in C notation up to 65535; a reversed range never matches.</summary>
    private PortRange ParseLengthRange(string text)
    {
        var (min, max) = ParseUnsignedRange("length", "--length", text, ushort.MaxValue);
        return new PortRange((ushort)min, (ushort)max);
    }

    /// <summary>
    /// xtables' ranges of unsigned numbers (xtopt_parse_mint): N, N:M, N: (to the type's largest) or :M (from 0), each
    /// number in any C base as strtoul reads it; a single value is both ends.
    /// </summary>
    private (ulong Min, ulong Max) ParseUnsignedRange(string module, string option, string text, ulong largest)
    {
        var parts = text.Split(':');
        if (parts.Length > 2)
            throw fail($"{module}: Too many components for option \"{option}\" (max: 2)");
        ulong Part(string part, ulong empty) => part.Length == 0 ? empty
            : XtablesText.TryParseUnsigned(part, 0, largest, out ulong value) ? value
            : throw fail($"{module}: bad value for option \"{option}\" near \"{part}\", or out of range (0-{largest}).");
        ulong min = Part(parts[0], 0);
        return (min, parts.Length == 1 ? min : Part(parts[1], largest));
    }

    private InterfaceName ParseInterface(string text)
    {
        if (text.Length == 0 || text.Length > 15)
            throw fail($"interface name '{text}' must be 1 to 15 characters");
        return new InterfaceName(text);
    }

    /// <summary>
    /// --sport/--dport as the match reads them. libxt_tcp: PORT or [FIRST]:[LAST], each a number in C notation or a
    /// tcp service, FIRST > LAST refused. libxt_udp (xtopt_parse_mport): at most two parts, each as getaddrinfo
    /// resolves a service, kept in the order given, so a reversed range never matches.
    /// </summary>
    private PortRange ParsePortRange(string option, string text, string module)
    {
        if (module == "tcp")
        {
            int colon = text.IndexOf(':');
            if (colon < 0)
            {
                ushort port = ParseServicePort(text, "tcp");
                return new PortRange(port, port);
            }
            ushort first = colon == 0 ? (ushort)0 : ParseServicePort(text[..colon], "tcp");
            ushort last = colon == text.Length - 1 ? ushort.MaxValue : ParseServicePort(text[(colon + 1)..], "tcp");
            return first <= last ? new PortRange(first, last) : throw fail("invalid portrange (min > max)");
        }
        var parts = text.Split(':');
        if (parts.Length > 2)
            throw fail($"udp: Too many components for option \"{(option.StartsWith("--s", StringComparison.Ordinal) ? "--source-port" : "--destination-port")}\" (max: 2)");
        ushort low = parts[0].Length == 0 ? (ushort)0 : ParseAddrinfoPort(parts[0]);
        if (parts.Length == 1)
            return new PortRange(low, low);
        return new PortRange(low, parts[1].Length == 0 ? ushort.MaxValue : ParseAddrinfoPort(parts[1]));
    }

    /// <summary>xtables_parse_port: a number in C notation, else the port of the service of that name for <paramref name="protocol"/>.</summary>
    private ushort ParseServicePort(string text, string protocol) =>
        XtablesText.TryParseUnsigned(text, 0, ushort.MaxValue, out ulong port) ? (ushort)port
        : NetDb.System.TryGetService(text, protocol, out ushort named) ? named
        : throw fail($"invalid port/service `{text}' specified");

    private static readonly string[] AddrinfoProtocols = ["tcp", "udp", "dccp", "udplite", "sctp"];

    /// <summary>
    /// xtables_getportbyname, i.e. getaddrinfo's service lookup: a decimal number (strtoul: leading white space and a
    /// sign go) whose value as an int is not negative is that number cut to 16 bits (65536 is port 0); anything else
    /// is a service name, looked up for tcp, then udp, dccp, udplite and sctp.
    /// </summary>
    private ushort ParseAddrinfoPort(string text)
    {
        if (TryStrtoulDecimal(text, out ulong number) && unchecked((int)number) >= 0)
            return unchecked((ushort)number);
        foreach (string protocol in AddrinfoProtocols)
        {
            if (NetDb.System.TryGetService(text, protocol, out ushort port))
                return port;
        }
        throw fail($"Port \"{text}\" does not resolve to anything.");
    }

    /// <summary>strtoul(text, &amp;end, 10) with nothing left after the number; an overflow gives ULONG_MAX, a '-' negates.</summary>
    private static bool TryStrtoulDecimal(string text, out ulong value)
    {
        value = 0;
        int i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
            i++;
        bool negative = i < text.Length && text[i] == '-';
        if (i < text.Length && text[i] is '+' or '-')
            i++;
        if (i == text.Length)
            return false;
        bool overflow = false;
        for (; i < text.Length; i++)
        {
            if (!char.IsAsciiDigit(text[i]))
                return false;
            ulong digit = (ulong)(text[i] - '0');
            overflow |= value > (ulong.MaxValue - digit) / 10;
            value = unchecked(value * 10 + digit);
        }
        value = overflow ? ulong.MaxValue : negative ? unchecked(0 - value) : value;
        return true;
    }

    /// <summary>libxt_multiport's check_proto, as the ports are read: the protocol whose services name them.</summary>
    private string MultiportProtocol(Inverted<byte>? protocol) => protocol switch
    {
        { Invert: true } => throw fail("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"),
        { Value: 6 } => "tcp",
        { Value: 17 } => "udp",
        { Value: 136 } => "udplite",
        { Value: 132 } => "sctp",
        { Value: 33 } => "dccp",
        null or { Value: 0 } => throw fail("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"),
        _ => throw fail("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"),
    };

    /// <summary>
    /// libxt_multiport (revision 1): up to 15 ports, a FIRST:LAST range taking two, FIRST below LAST; each port a
    /// number in C notation or a service of the rule's protocol.
    /// </summary>
    private PortRange[] ParsePortList(string text, string protocol)
    {
        var ranges = new List<PortRange>();
        int slots = 0;
        foreach (string item in text.Split(','))
        {
            int colon = item.IndexOf(':');
            if (slots == 15 || (colon >= 0 && slots == 14))
                throw fail("too many ports specified");
            if (colon < 0)
            {
                ushort port = ParseServicePort(item, protocol);
                ranges.Add(new PortRange(port, port));
                slots++;
                continue;
            }
            ushort first = ParseServicePort(item[..colon], protocol), last = ParseServicePort(item[(colon + 1)..], protocol);
            if (first >= last)
                throw fail("invalid portrange specified");
            ranges.Add(new PortRange(first, last));
            slots += 2;
        }
        return [.. ranges];
    }

    /// <summary>libxt_tcp parse_tcp_flag: names in any case, split with strtok, so empty ones ("SYN,,ACK", "SYN,") are skipped.</summary>
    private byte ParseTcpFlags(string text)
    {
        byte flags = 0;
        foreach (string name in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!TcpFlagNames.TryGetValue(name.ToUpperInvariant(), out byte f))
                throw fail($"unknown TCP flag '{name}'");
            flags |= f;
        }
        return flags;
    }

    /// <summary>
    /// libipt_icmp / libip6t_icmp6 parse_icmp: a name, or the beginning of exactly one name, in any case
    /// ("Echo-Req"); otherwise TYPE[/CODE], numbers in C notation up to 255.
    /// </summary>
    private (byte, short) ParseIcmpType(string text, (string Name, byte Type, short Code)[] names, string what)
    {
        var named = names.Where(n => n.Name.StartsWith(text, StringComparison.OrdinalIgnoreCase)).Take(2).ToArray();
        if (named.Length == 2)
            throw fail($"Ambiguous {what} type `{text}': `{named[0].Name}' or `{named[1].Name}'?");
        if (named.Length == 1)
            return (named[0].Type, named[0].Code);
        int slash = text.IndexOf('/');
        string type = slash < 0 ? text : text[..slash];
        if (!XtablesText.TryParseUnsigned(type, 0, byte.MaxValue, out ulong t))
            throw fail($"Unknown {what} type `{text}'");
        if (slash < 0)
            return ((byte)t, -1);
        string code = text[(slash + 1)..];
        return XtablesText.TryParseUnsigned(code, 0, byte.MaxValue, out ulong c) ? ((byte)t, (short)c) : throw fail($"Unknown {what} code `{text}'");
    }

    private byte[] ParseMac(string text)
    {
        var parts = text.Split(':');
        var mac = new byte[6];
        if (parts.Length != 6 || parts.Any(p => p.Length is 0 or > 2))
            throw fail($"'{text}' is not a MAC address");
        for (int i = 0; i < 6; i++)
        {
            if (!byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out mac[i]))
                throw fail($"'{text}' is not a MAC address");
        }
        return mac;
    }

    /// <summary>
    /// One -m recent match as libxt_recent parses it: every option at most once, --rsource/--rdest the last one
    /// given, numbers as strtoul reads them (0x hex, 0 octal), --seconds from 1, a name cut to 199 bytes.
    /// </summary>
    private sealed class RecentBuilder(L3Kind family, Func<string, RulesetException> fail)
    {
        /// <summary>XT_RECENT_NAME_LEN minus the terminating NUL: iptables copies no more.</summary>
        private const int NameBytes = 199;

        private readonly HashSet<string> _given = [];
        private RecentOptions _options = new();

        public void SetCommand(string option, bool invert)
        {
            Once(option);
            if (_options.Command != RecentCommand.None)
                throw fail("recent: only one of --set, --rcheck, --update or --remove may be given");
            var command = option switch
            {
                "--set" => RecentCommand.Set,
                "--rcheck" => RecentCommand.Check,
                "--update" => RecentCommand.Update,
                _ => RecentCommand.Remove,
            };
            _options = _options with { Command = command, Invert = invert };
        }

        public void SetValue(string option, string value)
        {
            Once(option);
            _options = option switch
            {
                "--seconds" => _options with { Seconds = ParseUInt(option, value, min: 1) },
                "--hitcount" => _options with { HitCount = ParseUInt(option, value, min: 0) },
                "--name" => _options with { Name = Utf8Text.CutToBytes(value, NameBytes) },
                _ => _options with { Mask = ParseMask(value) },
            };
        }

        public void SetFlag(string option)
        {
            Once(option);
            _options = option switch
            {
                "--rttl" => _options with { Ttl = true },
                "--reap" => _options with { Reap = true },
                "--rsource" => _options with { Side = RecentSide.Source },
                _ => _options with { Side = RecentSide.Destination },
            };
        }

        public RecentOptions Build()
        {
            if (_options.Command == RecentCommand.None)
                throw fail("recent: you must specify one of --set, --rcheck, --update or --remove");
            if (_options.Ttl && _options.Command is RecentCommand.Set or RecentCommand.Remove)
                throw fail("recent: --rttl may only be used with --rcheck or --update");
            if (_options.Validate() is { } error)
                throw fail($"recent: {error.Message} (the kernel refuses this rule: {Errnos.Message(error.Errno)})");
            return _options;
        }

        private void Once(string option)
        {
            if (!_given.Add(option))
                throw fail($"recent: option \"{option}\" can only be used once.");
        }

        /// <summary>
        /// xtables_strtoul: strtoumax with base 0 over the whole value, within [min, 2^32-1]. As strtoumax does, it
        /// skips leading white space and takes a '+' sign (" 3" and "+3" are 3); xtables refuses a '-' itself.
        /// </summary>
        private uint ParseUInt(string option, string value, uint min)
        {
            if (!XtablesText.TryParseUnsigned(value, min, uint.MaxValue, out ulong n))
                throw fail($"recent: bad value for option \"{option}\", or out of range ({min}-{uint.MaxValue})");
            return (uint)n;
        }

        /// <summary>
        /// An IPv4 --mask (inet_aton's forms) fills the first four bytes and zeroes the other twelve, as libxt_recent
        /// copies the whole address: IPv6 addresses in a table an IPv4 rule created are masked to 32 bits. Without
        /// --mask the mask stays all ones.
        /// </summary>
        private InetAddress ParseMask(string value)
        {
            if (family == L3Kind.IPv6)
            {
                if (!InetAddress.TryParse(value, out var mask, out var kind) || kind != L3Kind.IPv6)
                    throw fail($"recent: --mask '{value}' is not an IPv6 mask");
                return mask;
            }
            if (!InetAtonText.TryParse(value, out uint v4))
                throw fail($"recent: --mask '{value}' is not an IPv4 mask");
            Span<byte> bytes = stackalloc byte[16];
            bytes.Clear();
            BinaryPrimitives.WriteUInt32BigEndian(bytes, v4);
            return InetAddress.FromIPv6(bytes);
        }
    }
}
