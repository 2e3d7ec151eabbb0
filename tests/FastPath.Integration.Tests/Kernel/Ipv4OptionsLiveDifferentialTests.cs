// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// IPv4 options against the kernel, live: the routing kernel's ip_rcv_options drops a packet whose options
/// ip_options_compile refuses, or that carries a source route, after raw PREROUTING and before filter FORWARD;
/// FastPath's parser drops the same packets (ipv4_bad_options) and forwards the rest. Only filter FORWARD counts
/// here, as the kernel's raw rules would count the dropped packets and FastPath's never see them.
/// </summary>
public sealed class Ipv4OptionsLiveDifferentialTests
{
    private const string Rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p tcp
        COMMIT

        """;

    // The cases of PacketParserTests.Ipv4OptionsAreCheckedAsIpRcvOptionsChecksThem but for the framing ones (a length
    // below 2 or past the header, dropped since long before) and two timestamps: each dropped frame costs a wait.
    private static readonly string[] s_options =
    [
        "01 01 01 01", "07 07 04 00 00 00 00 00", "07 07 08 00 00 00 00 00", "07 07 03 00 00 00 00 00",
        "07 02 00 00", "07 07 05 00 00 00 00 00", "07 07 04 00 00 00 00 07 07 04 00 00 00 00 00 00",
        "44 0c 05 00 00 00 00 00 00 00 00 00", "44 08 09 00 00 00 00 00", "44 08 09 f0 00 00 00 00",
        "44 08 09 f3 00 00 00 00", "44 08 04 00 00 00 00 00", "44 03 05 00", "44 08 05 01 00 00 00 00",
        "44 0c 05 01 00 00 00 00 00 00 00 00", "44 08 05 02 00 00 00 00", "83 07 04 c6 12 00 01 00",
        "89 07 04 c6 12 00 01 00", "94 04 00 00", "94 04 00 01", "94 02 00 00", "86 0a 00 00 00 01 01 04 00 00 00 00",
        "82 0b 00 00 00 00 00 00 00 00 00 00", "88 04 00 01", "9e 04 00 00",
    ];

    [Fact]
    public void OptionsTheReceivePathRefusesAreDroppedTheOthersForwarded()
    {
        Compare(Rules, null,
        [
            .. s_options.Select((hex, n) => Scapy("tcp", "172.16.0.10", 80, "198.18.0.1",
                $"IP(src='172.16.0.10', dst='198.18.0.1', options=[Raw(bytes.fromhex('{hex}'))])/TCP(sport={41000 + n}, dport=80, flags='S')", lost: true)
                with { SourcePort = (ushort)(41000 + n) }),
        ], workerCounts: [1]);
    }
}
