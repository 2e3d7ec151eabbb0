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
    private static readonly Dictionary<string, byte> Protocols = new()
    {
        ["all"] = 0, ["icmp"] = 1, ["igmp"] = 2, ["tcp"] = 6, ["udp"] = 17, ["gre"] = 47, ["esp"] = 50, ["ah"] = 51,
        ["icmpv6"] = 58, ["ipv6-icmp"] = 58, ["sctp"] = 132, ["udplite"] = 136, ["dccp"] = 33,
    };

    private static readonly Dictionary<string, (byte Type, short Code)> IcmpNames = new()
    {
        ["any"] = (255, -1), ["echo-reply"] = (0, -1), ["destination-unreachable"] = (3, -1), ["source-quench"] = (4, -1),
        ["redirect"] = (5, -1), ["echo-request"] = (8, -1), ["router-advertisement"] = (9, -1), ["router-solicitation"] = (10, -1),
        ["time-exceeded"] = (11, -1), ["parameter-problem"] = (12, -1), ["timestamp-request"] = (13, -1),
        ["timestamp-reply"] = (14, -1), ["address-mask-request"] = (17, -1), ["address-mask-reply"] = (18, -1),
    };

    private static readonly Dictionary<string, (byte Type, short Code)> Icmpv6Names = new()
    {
        ["destination-unreachable"] = (1, -1), ["packet-too-big"] = (2, -1), ["time-exceeded"] = (3, -1),
        ["parameter-problem"] = (4, -1), ["echo-request"] = (128, -1), ["echo-reply"] = (129, -1),
        ["router-solicitation"] = (133, -1), ["router-advertisement"] = (134, -1), ["neighbour-solicitation"] = (135, -1),
        ["neighbor-solicitation"] = (135, -1), ["neighbour-advertisement"] = (136, -1), ["neighbor-advertisement"] = (136, -1),
        ["redirect"] = (137, -1),
    };

    private static readonly Dictionary<string, byte> TcpFlagNames = new()
    {
        ["FIN"] = 0x01, ["SYN"] = 0x02, ["RST"] = 0x04, ["PSH"] = 0x08, ["ACK"] = 0x10, ["URG"] = 0x20, ["ALL"] = 0x3F, ["NONE"] = 0,
    };

    private int _position = start;
    private readonly HashSet<string> _modules = [];
    private readonly List<MatchModule> _order = [];
    private readonly List<RecentBuilder> _recent = [];
    private readonly List<ConntrackMatch> _conntrack = [];
    private CtTarget? _ct;

    public Rule Parse(string chain, int line, int number)
    {
        Inverted<byte>? protocol = null;
        Inverted<AddressPrefix>? source = null, destination = null;
        Inverted<InterfaceName>? inInterface = null, outInterface = null;
        Inverted<PortRange>? sport = null, dport = null;
        Inverted<(byte, byte)>? tcpFlags = null;
        Inverted<(byte, short)>? icmp = null;
        Inverted<MultiportMatch>? multiport = null;
        Inverted<byte[]>? mac = null;
        TargetKind target = TargetKind.None;
        string? targetChain = null;
        string? comment = null;

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
                case "-p" or "--protocol":
                    protocol = Once(protocol, option, new Inverted<byte>(ParseProtocol(Next(option)), invert));
                    break;
                case "-s" or "--source" or "--src":
                    source = Once(source, option, new Inverted<AddressPrefix>(ParsePrefix(Next(option)), invert));
                    break;
                case "-d" or "--destination" or "--dst":
                    destination = Once(destination, option, new Inverted<AddressPrefix>(ParsePrefix(Next(option)), invert));
                    break;
                case "-i" or "--in-interface":
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
                case "-j" or "--jump":
                    NoInvert(invert, option);
                    (target, targetChain) = ParseTarget(Next(option), jump: true);
                    break;
                case "-g" or "--goto":
                    NoInvert(invert, option);
                    (target, targetChain) = ParseTarget(Next(option), jump: false);
                    break;
                case "--sport" or "--source-port":
                    RequirePortModule(option, protocol);
                    sport = Once(sport, option, new Inverted<PortRange>(ParsePortRange(Next(option)), invert));
                    break;
                case "--dport" or "--destination-port":
                    RequirePortModule(option, protocol);
                    dport = Once(dport, option, new Inverted<PortRange>(ParsePortRange(Next(option)), invert));
                    break;
                case "--tcp-flags":
                    RequireModule("tcp", option);
                    tcpFlags = Once(tcpFlags, option, new Inverted<(byte, byte)>((ParseTcpFlags(Next(option)), ParseTcpFlags(Next(option))), invert));
                    break;
                case "--syn":
                    RequireModule("tcp", option);
                    tcpFlags = Once(tcpFlags, option, new Inverted<(byte, byte)>((0x17, 0x02), invert));
                    break;
                case "--icmp-type":
                    RequireModule("icmp", option);
                    icmp = Once(icmp, option, new Inverted<(byte, short)>(ParseIcmpType(Next(option), IcmpNames), invert));
                    break;
                case "--icmpv6-type":
                    RequireModule("icmp6", option);
                    icmp = Once(icmp, option, new Inverted<(byte, short)>(ParseIcmpType(Next(option), Icmpv6Names), invert));
                    break;
                case "--sports" or "--source-ports" or "--dports" or "--destination-ports" or "--ports":
                    RequireModule("multiport", option);
                    var direction = option.StartsWith("--s", StringComparison.Ordinal) ? MultiportDirection.Source
                        : option.StartsWith("--d", StringComparison.Ordinal) ? MultiportDirection.Destination : MultiportDirection.Either;
                    multiport = Once(multiport, option, new Inverted<MultiportMatch>(new MultiportMatch(direction, ParsePortList(Next(option))), invert));
                    break;
                case "--mac-source":
                    RequireModule("mac", option);
                    mac = Once(mac, option, new Inverted<byte[]>(ParseMac(Next(option)), invert));
                    break;
                case "--comment":
                    RequireModule("comment", option);
                    NoInvert(invert, option);
                    comment = comment is null ? Next(option) : throw fail($"option '{option}' given twice");
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
                case "--helper" or "--ctevents" or "--expevents" or "--zone" or "--zone-orig" or "--zone-reply":
                    throw fail($"CT: option '{option}' is not supported (FastPath has no helpers, events or zones)");
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
        if (multiport is not null && protocol is not { Invert: false, Value: 6 or 17 or 132 or 136 or 33 })
            throw fail("-m multiport needs -p tcp, udp, udplite, sctp or dccp in the same rule");

        return new Rule
        {
            Chain = chain,
            Line = line,
            Number = number,
            Protocol = protocol,
            Source = source,
            Destination = destination,
            InInterface = inInterface,
            OutInterface = outInterface,
            SourcePort = sport,
            DestinationPort = dport,
            TcpFlags = tcpFlags,
            IcmpType = icmp,
            Multiport = multiport,
            MacSource = mac,
            Comment = comment,
            Recent = _recent.Select(r => r.Build()).ToArray(),
            Conntrack = _conntrack.Select(BuiltConntrack).ToArray(),
            Modules = _order.ToArray(),
            Target = target,
            TargetChain = targetChain,
            Ct = _ct,
        };
    }

    private static string ProtocolName(byte protocol) => protocol switch { 6 => "tcp", 17 => "udp", 1 => "icmp", _ => "icmpv6" };

    private string Next(string? after = null)
    {
        if (_position >= tokens.Count)
            throw fail(after is null ? "unexpected end of rule" : $"option '{after}' needs a value");
        return tokens[_position++];
    }

    private T? Once<T>(T? existing, string option, T value) where T : struct =>
        existing is null ? value : throw fail($"option '{option}' given twice");

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
            case "tcp" or "udp" or "multiport" or "mac" or "comment":
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
            _ => MatchModule.Comment,
        });
    }

    private void RequireModule(string module, string option)
    {
        if (!_modules.Contains(module))
            throw fail($"option '{option}' needs '-m {module}'");
    }

    /// <summary>iptables loads the tcp/udp match by itself after -p tcp/udp, so --dport works with either.</summary>
    private void RequirePortModule(string option, Inverted<byte>? protocol)
    {
        if (_modules.Contains("tcp") || _modules.Contains("udp"))
            return;
        if (protocol is { Invert: false, Value: 6 })
            Load("tcp");
        else if (protocol is { Invert: false, Value: 17 })
            Load("udp");
        else
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
            case "ACCEPT" or "DROP" or "RETURN" or "CT" or "NOTRACK" when !jump:
                throw fail($"-g needs a user-defined chain, not '{name}'");
            case "CT" or "NOTRACK":
                // xt_CT's checkentry: the target exists in the raw table only (EINVAL elsewhere).
                if (table != TableKind.Raw)
                    throw fail($"target '{name}' is only valid in the raw table (the kernel refuses it: {Errnos.Message(Errno.EINVAL)})");
                _ct = new CtTarget(name, NoTrack: name == "NOTRACK", TimeoutPolicy: null);
                return (TargetKind.Ct, null);
            case "REJECT" or "LOG" or "MARK" or "SNAT" or "DNAT" or "MASQUERADE" or "TCPMSS" or "NFLOG" or "QUEUE" or "NFQUEUE":
                throw fail($"target '{name}' is not supported");
            default:
                return (jump ? TargetKind.Jump : TargetKind.Goto, name);
        }
    }

    /// <summary>--notrack and --timeout NAME belong to a preceding -j CT (libxt_CT); the policy name has at most 31 bytes.</summary>
    private void SetCtOption(string option)
    {
        if (_ct?.Name != "CT") // -j NOTRACK has no options
            throw fail($"option '{option}' needs '-j CT' before it");
        if (!_ctOptions.Add(option))
            throw fail($"CT: option \"{option}\" can only be used once.");
        if (option == "--notrack")
        {
            _ct = _ct with { NoTrack = true };
            return;
        }
        string name = Next(option);
        if (Encoding.UTF8.GetByteCount(name) > CtTimeoutNameBytes)
            throw fail($"CT: --timeout name '{name}' is longer than {CtTimeoutNameBytes} bytes");
        _ct = _ct with { TimeoutPolicy = name };
    }

    /// <summary>The size of xt_ct_target_info's timeout field, less its NUL.</summary>
    private const int CtTimeoutNameBytes = 31;

    private readonly HashSet<string> _ctOptions = [];

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

    /// <summary>--ctexpire time[:time], seconds; a single value is both ends.</summary>
    private (uint, uint) ParseExpire(string value)
    {
        int colon = value.IndexOf(':');
        string first = colon < 0 ? value : value[..colon];
        string last = colon < 0 ? value : value[(colon + 1)..];
        if (!uint.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out uint min)
            || !uint.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out uint max))
            throw fail($"conntrack: bad --ctexpire value \"{value}\"");
        return (min, max); // libxt_conntrack takes min > max too: such a range never matches uninverted
    }

    private FlowDirection ParseDirection(string value) =>
        value.Equals("ORIGINAL", StringComparison.OrdinalIgnoreCase) ? FlowDirection.Original
        : value.Equals("REPLY", StringComparison.OrdinalIgnoreCase) ? FlowDirection.Reply
        : throw fail($"Bad ctdir value \"{value}\"");

    private byte ParseProtocol(string text)
    {
        string lower = text.ToLowerInvariant();
        if (Protocols.TryGetValue(lower, out byte p))
        {
            if (family == L3Kind.IPv6 && p == 1)
                throw fail("-p icmp is for IPv4; ip6tables uses -p icmpv6");
            return p;
        }
        if (byte.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out p))
            return p;
        throw fail($"unknown protocol '{text}'");
    }

    private AddressPrefix ParsePrefix(string text)
    {
        int slash = text.IndexOf('/');
        string address = slash < 0 ? text : text[..slash];
        if (!InetAddress.TryParse(address, out var value, out var kind) || kind != family)
            throw fail($"'{address}' is not an {(family == L3Kind.IPv4 ? "IPv4" : "IPv6")} address");
        int bits = family == L3Kind.IPv4 ? 32 : 128;
        InetAddress mask;
        if (slash < 0)
        {
            mask = InetAddress.PrefixMask(bits);
        }
        else
        {
            string suffix = text[(slash + 1)..];
            if (int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int prefix) && prefix <= bits)
                mask = InetAddress.PrefixMask(prefix);
            else if (family == L3Kind.IPv4 && InetAddress.TryParse(suffix, out var dotted, out var mk) && mk == L3Kind.IPv4)
                mask = dotted;
            else
                throw fail($"bad prefix length or mask '{suffix}'");
        }
        return new AddressPrefix(value.And(mask), mask);
    }

    private InterfaceName ParseInterface(string text)
    {
        if (text.Length == 0 || text.Length > 15)
            throw fail($"interface name '{text}' must be 1 to 15 characters");
        return new InterfaceName(text);
    }

    private PortRange ParsePortRange(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0)
        {
            ushort port = ParsePort(text);
            return new PortRange(port, port);
        }
        ushort first = colon == 0 ? (ushort)0 : ParsePort(text[..colon]);
        ushort last = colon == text.Length - 1 ? ushort.MaxValue : ParsePort(text[(colon + 1)..]);
        // iptables swaps a reversed range rather than refusing it.
        return first <= last ? new PortRange(first, last) : new PortRange(last, first);
    }

    private ushort ParsePort(string text) =>
        ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port)
            ? port
            : throw fail($"'{text}' is not a port number (0-65535)");

    private PortRange[] ParsePortList(string text)
    {
        var ranges = text.Split(',').Select(ParsePortRange).ToArray();
        int slots = ranges.Sum(r => r.First == r.Last ? 1 : 2);
        if (slots > 15)
            throw fail($"too many ports in '{text}' (multiport takes 15, a range counting two)");
        return ranges;
    }

    private byte ParseTcpFlags(string text)
    {
        byte flags = 0;
        foreach (string name in text.Split(','))
        {
            if (!TcpFlagNames.TryGetValue(name.ToUpperInvariant(), out byte f))
                throw fail($"unknown TCP flag '{name}'");
            flags |= f;
        }
        return flags;
    }

    private (byte, short) ParseIcmpType(string text, Dictionary<string, (byte Type, short Code)> names)
    {
        if (names.TryGetValue(text, out var named))
            return named;
        var parts = text.Split('/');
        if (parts.Length <= 2 && byte.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out byte type))
        {
            if (parts.Length == 1)
                return (type, -1);
            if (byte.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out byte code))
                return (type, code);
        }
        throw fail($"unknown ICMP type '{text}'");
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
                "--name" => _options with { Name = Truncated(value) },
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

        private static string Truncated(string name)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(name);
            return bytes.Length <= NameBytes ? name : Encoding.UTF8.GetString(bytes, 0, NameBytes);
        }

        /// <summary>
        /// xtables_strtoul: strtoumax with base 0 over the whole value, within [min, 2^32-1]. As strtoumax does, it
        /// skips leading white space and takes a '+' sign (" 3" and "+3" are 3); xtables refuses a '-' itself.
        /// </summary>
        private uint ParseUInt(string option, string value, uint min)
        {
            if (!TryParseStrtoumax(value, out ulong n) || n < min || n > uint.MaxValue)
                throw fail($"recent: bad value for option \"{option}\", or out of range ({min}-{uint.MaxValue})");
            return (uint)n;
        }

        private static bool TryParseStrtoumax(string value, out ulong n)
        {
            n = 0;
            int i = 0;
            while (i < value.Length && value[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
                i++;
            if (i < value.Length && value[i] == '+')
                i++;
            int radix = 10;
            if (i + 2 < value.Length && value[i] == '0' && value[i + 1] is 'x' or 'X' && Uri.IsHexDigit(value[i + 2]))
            {
                radix = 16;
                i += 2;
            }
            else if (i < value.Length && value[i] == '0')
            {
                radix = 8;
            }
            int digits = 0;
            for (; i < value.Length; i++, digits++)
            {
                int d = value[i] switch
                {
                    >= '0' and <= '9' => value[i] - '0',
                    >= 'a' and <= 'f' => value[i] - 'a' + 10,
                    >= 'A' and <= 'F' => value[i] - 'A' + 10,
                    _ => radix,
                };
                if (d >= radix)
                    return false; // trailing junk: xtables wants the whole value to be the number
                if (n > (ulong.MaxValue - (ulong)d) / (ulong)radix)
                    return false; // ERANGE
                n = n * (ulong)radix + (ulong)d;
            }
            return digits > 0;
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
