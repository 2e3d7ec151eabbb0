// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// iptables-save rulesets with recent matches, replayed live over veth pairs through the kernel and through a
/// running fastpath (one worker, then two), with proc writes between the packets (see <see cref="LiveDifferentialHarness"/>).
/// </summary>
public sealed class RecentLiveDifferentialTests
{
    private const string SshGuard = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :SSHGUARD - [0:0]
        -A FORWARD -p tcp -m tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN -j SSHGUARD
        -A SSHGUARD -m recent --rcheck --seconds 60 --hitcount 4 --rttl --name SSH --mask 255.255.255.255 --rsource -j LOG --log-prefix "SSH brute force: "
        -A SSHGUARD -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --mask 255.255.255.255 --rsource -j DROP
        -A SSHGUARD -m recent --set --name SSH --mask 255.255.255.255 --rsource
        COMMIT

        """;

    [Fact]
    public void SshBruteForceLimiterWithProcBansAndUnbans()
    {
        const string A = "192.0.2.10", B = "192.0.2.11", Banned = "192.0.2.66";
        Compare(SshGuard, null,
        [
            Syn(A, 22), Syn(A, 22), Syn(B, 22), Syn(A, 22),
            Syn(A, 22),                                     // three stamps before it: --update misses, --set makes four
            Syn(A, 22),                                     // fourth hit: dropped (and the refresh is a stamp)
            Udp(A, 22),                                     // not a SYN: not the guard's business
            Syn(A, 22, ttl: 50),                            // another TTL: --rttl misses, --set takes TTL 50
            Syn(A, 22, ttl: 50),                            // same TTL again, the ring is full of recent stamps: dropped
            new List("SSH"),
            new Write("SSH", $"+{Banned}"), new Write("SSH", $"+{Banned}"), new Write("SSH", $"+{Banned}"), new Write("SSH", $"+{Banned}"),
            Syn(Banned, 22, ttl: 99),                       // pre-banned: proc entries have TTL 0, which --rttl takes for any TTL
            new Write("SSH", $"-{A}"),                      // unban mid-stream
            Syn(A, 22),
            new Write("SSH", "+192.0.2.300"), new Write("NOPE", "+192.0.2.1"), new Write("SSH", "-192.0.2.200"),
            Syn(B, 22),
            new List("SSH"),
            new Write("SSH", "/" + new string('x', 46) + $"+{Banned}"), // a flush over 47 bytes: the rest is a write of its own
            new List("SSH"),
            new Write("SSH", "/" + new string('x', 50)),     // flushed, then the rest "xxxx" is EINVAL
            Syn(Banned, 22),
            new Write("SSH", "/"),
            Syn(Banned, 22),
            new List("SSH"),
        ]);
    }

    /// <summary>The classic "log a few of them" pairing: -m limit before -j LOG, here behind a recent check.</summary>
    private const string LoggedProbes = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp -m udp --dport 9999 -m recent --set --name BAD --mask 255.255.255.255 --rsource -j DROP
        -A FORWARD -p udp -m recent --rcheck --seconds 30 --name BAD --mask 255.255.255.255 --rsource -m limit --limit 20/min --limit-burst 2 -j LOG --log-prefix "bad: "
        -A FORWARD -p udp -m recent --rcheck --seconds 30 --name BAD --mask 255.255.255.255 --rsource -j DROP
        COMMIT

        """;

    [Fact]
    public void ALimitedLogOfTheProbesOfAMarkedSource()
    {
        const string A = "192.0.2.10", B = "192.0.2.11";
        Compare(LoggedProbes, null,
        [
            Udp(A, 9999),                                   // marks A
            Udp(A, 53), Udp(A, 53), Udp(A, 53),             // the burst of 2 is logged, the third is not; all dropped
            new Sleep(3.5),                                 // 20/min: one credit every 3 s
            Udp(A, 53), Udp(A, 53),                         // one credit: logged, then not
            Udp(B, 53),                                     // not marked: crosses
            new List("BAD"),
        ]);
    }

    /// <summary>Header matches around a recent table: TTLs as raw and FORWARD see them (ip_forward decrements in between), an address range, a length.</summary>
    private const string HeaderMatches = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -m ttl --ttl-eq 50 -j DROP
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m ttl --ttl-eq 40 -j DROP
        -A FORWARD -m iprange --src-range 192.0.2.20-192.0.2.29 -m length --length 0:40 -j DROP
        -A FORWARD -p udp -m recent --set --name SEEN --mask 255.255.255.255 --rsource
        COMMIT

        """;

    [Fact]
    public void HeaderMatchesSeeThePacketAsTheKernelDoesInEachChain()
    {
        Compare(HeaderMatches, null,
        [
            Udp("192.0.2.10", 53, ttl: 50),                 // raw sees 50: dropped before the table
            Udp("192.0.2.10", 53, ttl: 41),                 // FORWARD sees 40
            Udp("192.0.2.10", 53, ttl: 40),                 // FORWARD sees 39: crosses, and is SEEN
            Udp("192.0.2.25", 53),                          // in the range, 40 bytes long
            Udp("192.0.2.30", 53),                          // out of it
            new List("SEEN"),
        ]);
    }

    private const string PortKnocking = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :KNOCK - [0:0]
        :KNOCK2 - [0:0]
        :KNOCK3 - [0:0]
        -A FORWARD -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j KNOCK
        -A KNOCK -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 2 --name OPEN --mask 255.255.255.255 --rsource -j ACCEPT
        -A KNOCK -m recent --remove --name OPEN --mask 255.255.255.255 --rsource -j DROP
        -A KNOCK -p tcp -m tcp --dport 9000 -m recent --rcheck --seconds 10 --name K2 --mask 255.255.255.255 --rsource -j KNOCK3
        -A KNOCK -m recent --remove --name K2 --mask 255.255.255.255 --rsource -j DROP
        -A KNOCK -p tcp -m tcp --dport 8000 -m recent --rcheck --seconds 10 --name K1 --mask 255.255.255.255 --rsource -j KNOCK2
        -A KNOCK -m recent --remove --name K1 --mask 255.255.255.255 --rsource -j DROP
        -A KNOCK -p tcp -m tcp --dport 7000 -m recent --set --name K1 --mask 255.255.255.255 --rsource -j DROP
        -A KNOCK -j DROP
        -A KNOCK2 -m recent --set --name K2 --mask 255.255.255.255 --rsource -j DROP
        -A KNOCK3 -m recent --set --name OPEN --mask 255.255.255.255 --rsource -j DROP
        COMMIT

        """;

    [Fact]
    public void PortKnockingThatSucceedsFailsAndExpires()
    {
        const string A = "198.51.100.5", B = "198.51.100.6", C = "198.51.100.7";
        Compare(PortKnocking, null,
        [
            Syn(A, 22),                                     // closed
            Syn(A, 7000), Syn(A, 8000), Syn(A, 9000),       // the knock: K1, K2, then OPEN
            Syn(A, 22),                                     // open
            Udp(A, 22),
            new List("OPEN"),
            Syn(B, 7000), Syn(B, 9000),                     // out of order: --remove takes B out of K1
            Syn(B, 8000), Syn(B, 22),                       // so the rest of the sequence fails
            new List("K1"),
            new Write("OPEN", $"+{B}"),                     // opened by hand
            Syn(B, 22),
            new Write("K1", "/"),
            Syn(C, 8000),
            new Sleep(2.5),
            Syn(A, 22),                                     // OPEN is stale: --rcheck misses, --remove drops it
            Syn(A, 22),
            Syn(B, 22),
            new List("OPEN"), new List("K2"),
        ]);
    }

    private const string Masks = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 53 -m recent --set --name NET --mask 255.255.255.0 --rsource
        -A PREROUTING -p udp -m udp --dport 80 -m recent --rcheck --hitcount 2 --name NET --mask 255.255.255.0 --rsource -j DROP
        -A PREROUTING -p udp -m udp --dport 81 -m recent --rcheck --name NET --mask 255.255.0.0 --rsource -j DROP
        -A PREROUTING -p udp -m udp --dport 82 -m recent --update --seconds 30 --name NET --mask 255.255.255.0 --rdest -j DROP
        COMMIT

        """;

    [Fact]
    public void MasksGroupLookupsButNotProcWrites()
    {
        Compare(Masks, null,
        [
            Udp("192.0.2.1", 53), Udp("192.0.2.99", 80), Udp("192.0.2.200", 53), Udp("192.0.2.99", 80), Udp("192.0.3.1", 80),
            Udp("192.0.2.77", 81),                          // the table keeps the /24 of the rule that created it
            Udp("192.0.9.9", 81),
            new Write("NET", "+198.51.100.77"), new Write("NET", "+198.51.100.77"), // stored as written, not masked
            Udp("198.51.100.77", 80),                       // looks up 198.51.100.0: not there
            Udp("198.51.100.12", 82, destination: "198.51.100.77"),
            new Write("NET", "+198.51.100.0"),
            Udp("10.0.0.1", 82, destination: "198.51.100.200"), // --rdest finds the written /24 and refreshes it
            Udp("198.51.100.5", 80),
            new Write("NET", "-198.51.100.77"), new Write("NET", "+198.51.100.300"), new Write("NET", "+0198.051.100.1"),
            new Write("NET", "-"), new Write("NET", "+198.51.100.9\0junk"), // a lone "-" is EINVAL; a NUL ends the address
            Udp("198.51.100.1", 81),
            new List("NET"),
        ]);
    }

    // What iptables-save prints: an IPv4 recent match always with its --mask.
    internal const string Shared = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 7 -m recent --set --name BOTH --mask 255.255.255.255 --rsource
        -A PREROUTING -p udp -m udp --dport 8 -m recent --rcheck --name BOTH --mask 255.255.255.255 --rdest -j DROP
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp -m udp --dport 9 -m recent ! --update --seconds 2 --name BOTH --mask 255.255.255.255 --rsource -j DROP
        COMMIT

        """;

    // The same rules as written by hand, without --mask: then the table the first of them creates has an
    // all-ones mask for IPv6 addresses too (an explicit IPv4 --mask is another story: RecentLiveDisagreementTests).
    private static readonly string SharedByHand = Shared.Replace(" --mask 255.255.255.255", "", StringComparison.Ordinal);

    internal const string Shared6 = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 7 -m recent --set --name BOTH --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource
        -A PREROUTING -p udp -m udp --dport 8 -m recent --rcheck --hitcount 2 --name BOTH --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rdest -j DROP
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p udp -m udp --dport 9 -m recent ! --update --seconds 2 --name BOTH --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource -j DROP
        COMMIT

        """;

    [Fact]
    public void IPv6SharesTheTableWithRdestAndInvertedUpdate()
    {
        const string X = "2001:db8::1", Y = "192.0.2.1", Z = "2001:db8::99", W = "203.0.113.5";
        Compare(SharedByHand, Shared6,
        [
            Udp(X, 9),                                      // unknown: "! --update" matches
            Udp(X, 7), Udp(X, 9),                           // recent: it does not
            Udp(Y, 9), Udp(Y, 7),                           // IPv4 in the same table
            new List("BOTH"),
            Udp(Z, 8, destination: X),                      // --rdest, one stamp of two
            Udp(X, 7), Udp(Z, 8, destination: X),
            Udp(W, 8, destination: Y), Udp(W, 8, destination: "192.0.2.2"),
            new Sleep(2.5),
            Udp(X, 9),                                      // stale: "! --update" matches and refreshes
            Udp(X, 9), Udp(Y, 9),
            new Write("BOTH", $"-{X}"), Udp(X, 9),
            new Write("BOTH", "+2001:DB8::1"), Udp(X, 9),
            new Write("BOTH", "+2001:db8::1::2"),
            Udp(Z, 8, destination: X),
            new List("BOTH"),
        ]);
    }

    /// <summary>
    /// A seeded random session (<see cref="RandomRecentSession"/>): rules over one to three tables, packets, proc
    /// writes, listings, pauses across --seconds windows and restores, compared with one worker and, unless a rule
    /// reaps (a shard reaps its own least recently used entry, compatibility row 19), two.
    /// </summary>
    [Theory]
    [InlineData(137)] // IPv6 rules too, and a --reap: one worker
    [InlineData(138)] // IPv4 only, 34 packets: one and two workers
    public void RandomRecentSessionsMatchTheKernel(int seed)
    {
        var session = new RandomRecentSession(seed);
        TestContext.Current.TestOutputHelper?.WriteLine($"{session.Rules}\n{session.Rules6}\n{string.Join("\n", session.Events)}");
        Compare(session.Rules, session.Rules6, session.Events, workerCounts: session.Reaps ? [1] : [1, 2]);
    }
}
