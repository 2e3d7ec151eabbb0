// SPDX-License-Identifier: MIT
using System.Text;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// A seeded random session for <see cref="LiveDifferentialHarness"/>: timeout policies over several trackers (TCP,
/// UDP, ICMP, GRE, SCTP, the generic one for protocol 253; inet and inet6), a raw PREROUTING ruleset that attaches
/// them with -j CT --timeout by protocol and port (or --notrack, or nothing) and a filter FORWARD that counts each
/// packet under its connection state; then live flows in both directions interleaved with pauses, nfct lines (add,
/// delete of busy and unused policies, flush, default-set, get, list, default-get), rulesets replaced under the
/// flows, conntrack -L, -D and -F.
/// <para>
/// Every timeout a connection can be given is either short (<see cref="s_expiring"/>, so that expiry is crossed
/// within the session), 0, or longer than any session: the built-in defaults short enough to run out are set to
/// such values before the rules load. The kernel and FastPath run the events one after the other, and an event
/// takes longer on one side (fastpathctl starts a process); so the generator keeps, for every packet sent, the
/// least and the most time that can have passed since, and never lets an event look at a connection (its packet, a
/// listing, a deletion by filter) while one of its timeouts may have run out on one side and not on the other: it
/// pauses past that moment first.
/// </para>
/// </summary>
internal sealed class PolicySessionScenario
{
    private const string Client = "172.16.0.10", Server = "198.18.0.1", Client6 = "2001:db8:1::10", Server6 = "2001:db8:ffff::1";

    // How far from a timeout an observation must be on both sides: the 100 ms expiry sweep, jiffies, scheduling.
    private const double Margin = 0.4;

    // What an event may take, least and most, on the slower side (a fastpathctl start on a busy machine).
    private const double PacketLeast = 0.002, PacketMost = 0.12, CommandLeast = 0.005, CommandMost = 0.5, RestoreMost = 1.0;

    /// <summary>The timeouts that run out within a session; UDP's 2 s to a stream is one more such moment.</summary>
    private static readonly int[] s_expiring = [2, 5];

    private static readonly string[] s_values = ["2", "2", "5", "5", "5", "300", "3600", "0"];

    // nfct's state names, per tracker as nfct names the protocol.
    private static readonly Dictionary<string, string[]> s_states = new()
    {
        ["tcp"] = ["syn_sent", "syn_recv", "established", "fin_wait", "close_wait", "last_ack", "time_wait", "close", "syn_sent2", "retrans", "unacknowledged"],
        ["udp"] = ["unreplied", "replied"],
        ["icmp"] = ["timeout"],
        ["gre"] = ["unreplied", "replied"],
        ["generic"] = ["timeout"],
        ["sctp"] = ["closed", "cookie_wait", "cookie_echoed", "established", "shutdown_sent", "shutdown_recd", "shutdown_ack_sent"],
    };

    // The built-in defaults below a minute (the states a session reaches; SCTP's heartbeat states are never entered).
    private static readonly Dictionary<string, string[]> s_shortDefaults = new()
    {
        ["tcp"] = ["syn_recv", "close_wait", "last_ack", "close"],
        ["udp"] = ["unreplied"],
        ["icmp"] = ["timeout"],
        ["gre"] = ["unreplied"],
        ["sctp"] = ["closed", "cookie_wait", "cookie_echoed", "shutdown_sent", "shutdown_recd", "shutdown_ack_sent"],
    };

    // At most 4 bytes: iptables-legacy cuts a rule's --timeout name to 4 (docs/cttimeout-compatibility.md).
    private static readonly string[] s_names = ["web", "dns", "ic", "gre", "gen", "sc", "t6", "u6", "x", "y"];

    private static readonly string[] s_clientTcp = ["S", "S", "A", "A", "PA", "PA", "FA", "R", "RA", "SA"];
    private static readonly string[] s_serverTcp = ["SA", "SA", "A", "A", "PA", "PA", "FA", "R", "RA", "S"];
    private static readonly (bool Server, string Flags)[] s_tcpScript =
        [(false, "S"), (true, "SA"), (false, "A"), (false, "PA"), (true, "A"), (true, "PA"), (false, "A"), (false, "FA"), (true, "A"), (true, "FA"), (false, "A")];
    private static readonly (bool Server, string Chunk)[] s_sctpScript =
        [(false, "INIT"), (true, "INIT_ACK"), (false, "COOKIE_ECHO"), (true, "COOKIE_ACK"), (false, "DATA"), (true, "SACK"), (false, "SHUTDOWN"), (true, "SHUTDOWN_ACK"), (false, "SHUTDOWN_COMPLETE")];
    private static readonly string[] s_clientSctp = ["INIT", "COOKIE_ECHO", "DATA", "SACK", "SHUTDOWN", "SHUTDOWN_ACK", "SHUTDOWN_COMPLETE", "ABORT"];
    private static readonly string[] s_serverSctp = ["INIT_ACK", "COOKIE_ACK", "DATA", "SACK", "SHUTDOWN", "SHUTDOWN_ACK", "SHUTDOWN_COMPLETE", "ABORT"];

    /// <summary>What a raw rule matches: a tracker (nfct's name for it) over IPv4 or IPv6, and a port where it has one.</summary>
    private sealed record Service(string Tracker, bool IPv6, ushort Port);

    private sealed record Policy(string Name, string Tracker, bool IPv6);

    /// <summary>A conversation of one service; <see cref="Key"/> names its connection as the generator tells them apart.</summary>
    private sealed class Conversation(Service service, string client, ushort clientPort, string server)
    {
        public Service Service { get; } = service;
        public string Client { get; } = client;
        public ushort ClientPort { get; } = clientPort;
        public string Server { get; } = server;
        public int Step { get; set; }
        public Flow Flow => new(Service.Tracker, Client, ClientPort, Server, Service.Port);
        public string Key => $"{Service.Tracker} {Client} {ClientPort} {Server}";
    }

    private readonly Random _random;
    private readonly List<Service> _services = [];
    private readonly Dictionary<string, Policy> _policies = [];
    private readonly List<Conversation> _conversations = [];
    private readonly List<Event> _events = [];
    private Dictionary<Service, string> _attached = [];

    // The session's clock: pauses exactly, and the least and most the other events can have taken.
    private double _paused, _least, _most;
    private readonly List<(string Key, double Paused, double Least, double Most)> _sent = [];

    public string Rules { get; }
    public string? Rules6 { get; }
    public IReadOnlyList<string> TimeoutPolicies { get; }
    public IReadOnlyList<Event> Events => _events;

    public PolicySessionScenario(int seed, int steps)
    {
        _random = new Random(seed);
        _services.Add(new Service("tcp", false, 80));
        _services.Add(new Service("udp", false, 53));
        foreach (var candidate in new Service[]
        {
            new("tcp", false, 443), new("udp", false, 123), new("icmp", false, 0), new("gre", false, 0),
            new("generic", false, 0), new("sctp", false, 5000), new("tcp", true, 80), new("udp", true, 53),
        })
        {
            if (_random.Next(2) == 0)
                _services.Add(candidate);
        }
        bool ipv6 = _services.Any(s => s.IPv6);

        var setup = new List<string>();
        foreach (string tracker in _services.Select(s => s.Tracker).Distinct())
        {
            if (s_shortDefaults.TryGetValue(tracker, out var states))
                setup.Add($"default-set timeout inet {tracker} {string.Join(' ', states.Select(s => $"{s} {Value()}"))}");
        }
        int count = 1 + _random.Next(4);
        for (int i = 0; i < count; i++)
        {
            var service = Pick(_services);
            string name = s_names.First(n => !_policies.ContainsKey(n));
            _policies[name] = new Policy(name, service.Tracker, service.IPv6);
            setup.Add($"add timeout {name} {Family(service.IPv6)} {service.Tracker} {string.Join(' ', States(service.Tracker, atLeast: 1))}");
        }
        TimeoutPolicies = setup;
        _attached = Attachments(validOnly: true);
        Rules = RawTable(false, _attached) + FilterTable(ClientNetwork, _random.Next(2) == 0);
        Rules6 = ipv6 ? RawTable(true, _attached) + FilterTable(ClientNetwork6, _random.Next(2) == 0) : null;

        for (int i = 0; i < steps; i++)
            NextEvent();
        Settle(_ => true);
        _events.Add(ConntrackList());
    }

    private void NextEvent()
    {
        int roll = _random.Next(100);
        var quiet = _conversations.Where(c => Settled(key => key == c.Key, 0)).ToList();
        if (roll < 50 && quiet.Count > 0)
            NextPacket(Pick(quiet));
        else if (roll < 60)
            NextPacket(NewConversation());
        else if (roll < 66)
            Pause(Math.Round(_random.NextDouble() * 4, 1));
        else if (roll < 76)
            NextTimeoutCommand();
        else if (roll < 90)
        {
            // A listing of every connection, or of one tracker's; it waits until none it shows is about to run out.
            string? tracker = _random.Next(3) == 0 ? Pick(_services).Tracker : null;
            Func<string, bool> shown = key => tracker is null || key.StartsWith(tracker + " ", StringComparison.Ordinal);
            if (!Settled(shown, CommandMost) && _random.Next(2) == 0)
            {
                NextTimeoutCommand();
                return;
            }
            Settle(shown);
            Add(tracker is not null ? Conntrack("-L", "-p", ConntrackProtocol(tracker))
                : _random.Next(5) == 0 ? new ProcConntrackRead() : ConntrackList(), CommandMost);
        }
        else if (roll < 93)
        {
            var service = Pick(_services);
            Settle(_ => true);
            string[] filter = _random.Next(4) switch
            {
                0 when service.Port != 0 => ["--dport", $"{service.Port}"],
                1 => ["-u", Pick(["ASSURED", "SEEN_REPLY", "!SEEN_REPLY"])],
                2 when service.Tracker == "tcp" => ["--state", Pick(["SYN_SENT", "ESTABLISHED", "CLOSE", "TIME_WAIT", "FIN_WAIT"])],
                _ => [],
            };
            Add(Conntrack(["-D", "-p", ConntrackProtocol(service.Tracker), .. filter]), CommandMost);
        }
        else if (roll < 95)
        {
            Add(Conntrack("-F"), CommandMost);
            _sent.Clear(); // nothing left to run out, on either side
        }
        else
            Restore();
    }

    private Conversation NewConversation()
    {
        var service = Pick(_services);
        int n = _conversations.Count;
        // The generic tracker and GRE without keys tell connections apart by their addresses alone.
        var conversation = service.Tracker is "generic" or "gre"
            ? new Conversation(service, $"172.16.0.{20 + n}", 0, Server)
            : new Conversation(service, service.IPv6 ? Client6 : Client, (ushort)(41000 + n), service.IPv6 ? Server6 : Server);
        _conversations.Add(conversation);
        return conversation;
    }

    private void NextPacket(Conversation c)
    {
        var flow = c.Flow;
        bool scripted = _random.Next(10) < 6;
        Frame frame;
        switch (c.Service.Tracker)
        {
            case "tcp":
                var (server, flags) = scripted && c.Step < s_tcpScript.Length
                    ? s_tcpScript[c.Step++]
                    : _random.Next(2) == 0 ? (true, Pick(s_serverTcp)) : (false, Pick(s_clientTcp));
                int payload = flags == "PA" ? 1 + _random.Next(200) : 0;
                frame = _random.Next(8) == 0
                    ? (server ? flow.Reanswer(flags, payload) : flow.Resend(flags, payload))
                    : (server ? flow.Answer(flags, payload) : flow.Send(flags, payload));
                break;
            case "udp":
                int roll = _random.Next(10);
                frame = roll < 5 ? flow.Send(payload: 20) : roll < 9 || c.Service.IPv6 ? flow.Answer(payload: 40) : flow.Unreachable();
                break;
            case "icmp":
                frame = _random.Next(2) == 0 ? flow.Send(payload: 8) : flow.Answer(payload: 8);
                break;
            case "sctp":
                var (fromServer, chunk) = scripted && c.Step < s_sctpScript.Length
                    ? s_sctpScript[c.Step++]
                    : _random.Next(2) == 0 ? (true, Pick(s_serverSctp)) : (false, Pick(s_clientSctp));
                frame = Sctp(c, fromServer, chunk);
                break;
            default:
                bool reply = _random.Next(2) == 0;
                var (from, to) = reply ? (c.Server, c.Client) : (c.Client, c.Server);
                string expression = c.Service.Tracker == "gre"
                    ? $"IP(src='{from}', dst='{to}')/GRE(proto=0x0800)/Raw(b'tunnelled')"
                    : $"IP(src='{from}', dst='{to}', proto=253)/Raw(b'experimental')";
                frame = Scapy(c.Service.Tracker == "gre" ? "gre" : "unknown", c.Client, 0, c.Server, expression, reply);
                break;
        }
        Add(frame, PacketMost);
        _sent.Add((c.Key, _paused, _least - PacketLeast, _most - PacketMost));
    }

    /// <summary>An SCTP packet of one chunk with the verification tag its sender uses (0 in an INIT).</summary>
    private static Frame Sctp(Conversation c, bool fromServer, string chunk)
    {
        uint clientTag = 0x1000u + c.ClientPort, serverTag = 0x2000u + c.ClientPort;
        string body = chunk switch
        {
            "INIT" => $"SCTPChunkInit(init_tag={clientTag}, a_rwnd=65535, n_out_streams=1, n_in_streams=1, init_tsn=1)",
            "INIT_ACK" => $"SCTPChunkInitAck(init_tag={serverTag}, a_rwnd=65535, n_out_streams=1, n_in_streams=1, init_tsn=1)",
            "COOKIE_ECHO" => "SCTPChunkCookieEcho(cookie=b'cookie00')",
            "COOKIE_ACK" => "SCTPChunkCookieAck()",
            "DATA" => "SCTPChunkData(tsn=1, data=b'payload!')",
            "SACK" => "SCTPChunkSACK(cumul_tsn_ack=1)",
            "SHUTDOWN" => "SCTPChunkShutdown(cumul_tsn_ack=1)",
            "SHUTDOWN_ACK" => "SCTPChunkShutdownAck()",
            "SHUTDOWN_COMPLETE" => "SCTPChunkShutdownComplete()",
            _ => "SCTPChunkAbort()",
        };
        uint tag = chunk == "INIT" ? 0 : fromServer ? clientTag : serverTag;
        var (from, to, sport, dport) = fromServer ? (c.Server, c.Client, c.Service.Port, c.ClientPort) : (c.Client, c.Server, c.ClientPort, c.Service.Port);
        return Scapy("sctp", c.Client, c.Service.Port, c.Server,
            $"IP(src='{from}', dst='{to}')/SCTP(sport={sport}, dport={dport}, tag={tag})/{body}", fromServer) with { SourcePort = c.ClientPort };
    }

    /// <summary>An nfct line on the policies or the defaults, or a default's sysctl written.</summary>
    private void NextTimeoutCommand()
    {
        int roll = _random.Next(100);
        if (roll < 30)
        {
            var service = Pick(_services);
            string name = Pick(s_names);
            var states = States(service.Tracker, atLeast: _random.Next(6) == 0 ? 0 : 1);
            Add(Nfct(["add", "timeout", name, Family(service.IPv6), service.Tracker, .. states]), CommandMost);
            if (states.Length > 0)
                _policies.TryAdd(name, new Policy(name, service.Tracker, service.IPv6));
        }
        else if (roll < 50)
        {
            string name = _random.Next(3) == 0 || _policies.Count == 0 ? Pick(s_names) : Pick(_policies.Keys.ToList());
            Add(Nfct("delete", "timeout", name), CommandMost);
            if (!_attached.ContainsValue(name))
                _policies.Remove(name);
        }
        else if (roll < 58)
        {
            Add(Nfct("flush", "timeout"), CommandMost);
            foreach (string name in _policies.Keys.Where(n => !_attached.ContainsValue(n)).ToList())
                _policies.Remove(name);
        }
        else if (roll < 70)
        {
            string tracker = Pick(_services).Tracker;
            Add(Nfct(["default-set", "timeout", Family(_random.Next(4) == 0), tracker, .. States(tracker, atLeast: 1)]), CommandMost);
        }
        else if (roll < 78)
        {
            // The same defaults through their sysctls.
            string tracker = Pick(_services).Tracker;
            string name = SysctlName(tracker, Pick(s_states[tracker].Where(s => s != "syn_sent2").ToList()));
            Add(new SysctlWrite(name, Value()), CommandMost);
            if (_random.Next(2) == 0)
                Add(new SysctlRead(name), CommandMost);
        }
        else if (roll < 88)
            Add(Nfct("get", "timeout", _policies.Count > 0 && _random.Next(4) > 0 ? Pick(_policies.Keys.ToList()) : Pick(s_names)), CommandMost);
        else if (roll < 94)
            Add(Nfct("list", "timeout"), CommandMost);
        else
            Add(Nfct("default-get", "timeout", "inet", Pick(_services).Tracker), CommandMost);
    }

    /// <summary>The IPv4 rules again with other attachments; now and then one naming a policy that is not there, which fails.</summary>
    private void Restore()
    {
        bool valid = _random.Next(6) > 0;
        var attached = Attachments(validOnly: valid);
        var v6 = _attached.Where(a => a.Key.IPv6);
        var next = attached.Where(a => !a.Key.IPv6).Concat(v6).ToDictionary(a => a.Key, a => a.Value);
        string rules = RawTable(false, next) + FilterTable(ClientNetwork, _random.Next(2) == 0);
        Add(new RulesRestore(rules), RestoreMost);
        if (next.All(a => a.Value == "" || _policies.TryGetValue(a.Value, out var p) && p.Tracker == a.Key.Tracker && p.IPv6 == a.Key.IPv6))
            _attached = next;
    }

    /// <summary>For each service: a policy of its tracker and family (or, when not <paramref name="validOnly"/>, any name), "" for --notrack, or none.</summary>
    private Dictionary<Service, string> Attachments(bool validOnly)
    {
        var attached = new Dictionary<Service, string>();
        foreach (var service in _services)
        {
            var fitting = _policies.Values.Where(p => p.Tracker == service.Tracker && p.IPv6 == service.IPv6).Select(p => p.Name).ToList();
            int roll = _random.Next(10);
            if (!validOnly && roll < 2)
                attached[service] = Pick(s_names);
            else if (roll < 7 && fitting.Count > 0)
                attached[service] = Pick(fitting);
            else if (roll < 8)
                attached[service] = "";
        }
        return attached;
    }

    private static string RawTable(bool ipv6, Dictionary<Service, string> attached)
    {
        var text = new StringBuilder("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        foreach (var (service, name) in attached.Where(a => a.Key.IPv6 == ipv6))
        {
            string match = service.Tracker switch
            {
                "tcp" or "udp" => $"-p {service.Tracker} -m {service.Tracker} --dport {service.Port}",
                "generic" => "-p 253",
                _ => $"-p {service.Tracker}",
            };
            text.Append($"-A PREROUTING {match} -j CT {(name == "" ? "--notrack" : $"--timeout {name}")}\n");
        }
        return text.Append("COMMIT\n").ToString();
    }

    /// <summary>Each packet counted by the rule of its connection state (untracked ones let through or not).</summary>
    private static string FilterTable(string clients, bool acceptUntracked) => $"""
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate INVALID -j DROP
        -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
        -A FORWARD -m conntrack --ctstate UNTRACKED -j {(acceptUntracked ? "ACCEPT" : "DROP")}
        -A FORWARD -s {clients} -m state --state NEW -j ACCEPT
        COMMIT

        """;

    /// <summary>A random subset of the tracker's states with values (at least <paramref name="atLeast"/>), as nfct's arguments.</summary>
    private string[] States(string tracker, int atLeast)
    {
        var states = s_states[tracker].Where(_ => _random.Next(3) == 0).ToList();
        if (states.Count < atLeast)
            states.Add(Pick(s_states[tracker]));
        return [.. states.SelectMany(s => new[] { s, Value() })];
    }

    private string Value() => Pick(s_values);

    /// <summary>The sysctl of a tracker's default for a state (nfct's name; TCP's RETRANS is "max_retrans").</summary>
    private static string SysctlName(string tracker, string state) => (tracker, state) switch
    {
        ("tcp", "retrans") => "nf_conntrack_tcp_timeout_max_retrans",
        ("udp" or "gre", "unreplied") => $"nf_conntrack_{tracker}_timeout",
        ("udp" or "gre", _) => $"nf_conntrack_{tracker}_timeout_stream",
        ("icmp" or "generic", _) => $"nf_conntrack_{tracker}_timeout",
        _ => $"nf_conntrack_{tracker}_timeout_{state}",
    };

    private static string Family(bool ipv6) => ipv6 ? "inet6" : "inet";

    private static string ConntrackProtocol(string tracker) => tracker == "generic" ? "253" : tracker;

    private void Pause(double seconds)
    {
        if (seconds <= 0)
            return;
        _events.Add(new Sleep(seconds));
        _paused += seconds;
        _sent.RemoveAll(s => _paused - s.Paused > s_expiring.Max() + Margin);
    }

    private void Add(Event e, double most)
    {
        _events.Add(e);
        _least += e is Frame ? PacketLeast : CommandLeast;
        _most += most;
    }

    /// <summary>
    /// Whether, after a pause of <paramref name="pause"/>, no connection <paramref name="observed"/> picks can have run
    /// out on one side and not on the other while the next event looks at it (from its start until
    /// <paramref name="duration"/> after).
    /// </summary>
    private bool Settled(Func<string, bool> observed, double duration, double pause = 0) =>
        !_sent.Any(s =>
        {
            if (!observed(s.Key))
                return false;
            double least = _paused + pause - s.Paused + _least - s.Least, most = _paused + pause - s.Paused + _most - s.Most + duration;
            return s_expiring.Any(t => least < t + Margin && most > t - Margin);
        });

    /// <summary>Pauses, when needed, until a command that looks at the connections <paramref name="observed"/> picks is <see cref="Settled"/>.</summary>
    private void Settle(Func<string, bool> observed)
    {
        double wait = _sent
            .Where(s => observed(s.Key))
            .SelectMany(s => s_expiring.Select(t => Math.Ceiling((t + Margin - (_paused - s.Paused + _least - s.Least)) * 10) / 10))
            .Prepend(0)
            .Where(w => w >= 0)
            .Order()
            .First(w => Settled(observed, CommandMost, w));
        Pause(wait);
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];
}
