// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Core.Rules;

/// <summary>
/// The protocol and service names iptables looks up through libc (getprotobyname, getservbyname, getaddrinfo),
/// read from the same files: /etc/protocols (through <see cref="ProtocolNames"/>, as nfct's lines read it) and
/// /etc/services, "name number[/protocol] aliases... # comment". A missing file names nothing, as it would for iptables.
/// </summary>
public sealed class NetDb
{
    private readonly ProtocolNames _protocols;
    private readonly Dictionary<(string Name, string Protocol), ushort> _services = [];

    public NetDb(string protocols, string services)
    {
        _protocols = ProtocolNames.Parse(protocols);
        foreach (var (names, portAndProtocol) in NetDbLines.Entries(services))
        {
            var parts = portAndProtocol.Split('/');
            if (parts.Length == 2 && ushort.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
            {
                // libc reads the file from the top and stops at the first line that names the key.
                foreach (string name in names)
                    _services.TryAdd((name, parts[1]), port);
            }
        }
    }

    /// <summary>/etc/protocols and /etc/services of this machine, read once.</summary>
    public static NetDb System => s_system.Value;

    private static readonly Lazy<NetDb> s_system = new(() => new NetDb(ReadOrEmpty("/etc/protocols"), ReadOrEmpty("/etc/services")));

    /// <summary>getprotobyname: a protocol's name or alias, as written (case matters).</summary>
    public bool TryGetProtocol(string name, out byte protocol)
    {
        bool known = _protocols.TryGetNumber(name, out int number) && number <= byte.MaxValue;
        protocol = known ? (byte)number : (byte)0;
        return known;
    }

    /// <summary>getservbyname(name, protocol): a service's name or alias for that protocol ("tcp", "udp", ...).</summary>
    public bool TryGetService(string name, string protocol, out ushort port) => _services.TryGetValue((name, protocol), out port);

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
