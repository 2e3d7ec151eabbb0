// SPDX-License-Identifier: MIT
using Xunit;
using static FastPath.Integration.Tests.Kernel.KernelRecentHarness;
using static FastPath.Integration.Tests.Kernel.LiveDifferentialHarness;

namespace FastPath.Integration.Tests.Kernel;

/// <summary>
/// How the recent tables of iptables-save files come to be, live against the kernel (each was a FastPath bug
/// this harness found): which rule creates a table (and so fixes its mask), and what an IPv4 --mask means for
/// the IPv6 addresses of a shared table.
/// </summary>
public sealed class RecentTableCreationDifferentialTests
{
    /// <summary>
    /// libxt_recent stores an IPv4 --mask in the first four bytes of the 16-byte mask and zeroes the other twelve
    /// (xtables' host option copies the whole address union), so when an IPv4 rule with --mask creates a table
    /// that IPv6 rules share, the kernel masks IPv6 addresses to their first 32 bits.
    /// </summary>
    [Fact]
    public void AnIPv4MaskThatCreatesASharedTableAppliesToIPv6Addresses() =>
        Compare(RecentLiveDifferentialTests.Shared, RecentLiveDifferentialTests.Shared6,
        [
            Udp("2001:db8::1", 7), Udp("2001:db8::1", 7),
            Udp("2001:db8::99", 8, destination: "2001:db8::2"), // 2001:db8:: has two stamps
            Udp("2001:db8::3", 9),                              // and is recent
            new List("BOTH"),
        ]);

    /// <summary>
    /// iptables-restore commits the tables in the order of the file, and iptables-save prints them in the
    /// kernel's order, often *filter before *raw: the first rule naming a table in that order creates it.
    /// </summary>
    [Fact]
    public void TheTableCommittedFirstCreatesTheRecentTable() =>
        Compare("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p udp -m udp --dport 8 -m recent --rcheck --name T --mask 255.255.255.0 --rsource -j DROP
            COMMIT
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 7 -m recent --set --name T --mask 255.255.255.255 --rsource
            COMMIT

            """, null,
        [
            Udp("192.0.2.1", 7),                            // the kernel stores 192.0.2.0: the filter rule's /24
            Udp("192.0.2.2", 8),
            new List("T"),
        ]);

    /// <summary>
    /// Within a table the kernel checks the rules in libiptc's chain order: built-in chains in hook order, then
    /// user chains sorted by name, not in the order a hand-written file declares them.
    /// </summary>
    [Fact]
    public void UserChainsCreateTablesInNameOrderNotFileOrder() =>
        Compare("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :ZED - [0:0]
            :ALPHA - [0:0]
            -A FORWARD -p udp -m udp --dport 7 -j ZED
            -A FORWARD -p udp -m udp --dport 8 -j ALPHA
            -A ZED -m recent --set --name T --mask 255.255.255.0 --rsource
            -A ALPHA -m recent --rcheck --name T --mask 255.255.255.255 --rsource -j DROP
            COMMIT

            """, null,
        [
            Udp("192.0.2.1", 7),                            // ALPHA's rule created T: stored whole, not as 192.0.2.0
            Udp("192.0.2.2", 8),                            // so another address of the /24 is not recent
            new List("T"),
        ]);

    /// <summary>
    /// iptables-restore commits *raw, then *filter, each replacing its table's rules: a recent table named only by
    /// the old raw rules and the new filter rules is destroyed by raw's commit and created empty by filter's, with
    /// the filter rule's mask.
    /// </summary>
    [Fact]
    public void ARestoreThatMovesATableFromRawToFilterEmptiesIt() =>
        Compare("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 7 -m recent --set --name MOVE --mask 255.255.255.0 --rsource
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            COMMIT

            """, null,
        [
            Udp("192.0.2.1", 7), Udp("192.0.2.1", 7),
            new List("MOVE"),
            new RulesRestore("""
                *raw
                :PREROUTING ACCEPT [0:0]
                :OUTPUT ACCEPT [0:0]
                COMMIT
                *filter
                :INPUT ACCEPT [0:0]
                :FORWARD ACCEPT [0:0]
                :OUTPUT ACCEPT [0:0]
                -A FORWARD -p udp -m udp --dport 8 -m recent --rcheck --name MOVE --mask 255.255.255.255 --rsource -j DROP
                -A FORWARD -p udp -m udp --dport 9 -m recent --set --name MOVE --mask 255.255.255.255 --rsource
                COMMIT

                """),
            new List("MOVE"),                               // empty
            Udp("192.0.2.1", 8),                            // not recent
            Udp("192.0.2.1", 9), Udp("192.0.2.99", 8),      // stored whole: another address of the /24 is not recent
            new List("MOVE"),
        ]);

    /// <summary>
    /// iptables-restore replaces only the tables its file has: restored with *filter alone, raw keeps its rules,
    /// their counters and the recent table they name.
    /// </summary>
    [Fact]
    public void ARestoreWithoutRawLeavesRawAlone() =>
        Compare("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 7 -m recent --set --name KEEP --mask 255.255.255.0 --rsource
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -p udp -m udp --dport 9 -j DROP
            COMMIT

            """, null,
        [
            Udp("192.0.2.1", 7), Udp("192.0.2.1", 9),
            new RulesRestore("""
                *filter
                :INPUT ACCEPT [0:0]
                :FORWARD ACCEPT [0:0]
                :OUTPUT ACCEPT [0:0]
                -A FORWARD -p udp -m udp --dport 8 -m recent --rcheck --name KEEP --mask 255.255.255.255 --rsource -j DROP
                COMMIT

                """),
            Udp("192.0.2.2", 7),                            // raw's --set still runs, into the /24 of the table kept
            Udp("192.0.2.3", 8),                            // so 192.0.2.0 is recent
            Udp("192.0.2.3", 9),
            new List("KEEP"),
        ]);
}
