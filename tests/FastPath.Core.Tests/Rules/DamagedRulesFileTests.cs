// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using Xunit;

namespace FastPath.Core.Tests.Rules;

/// <summary>
/// "A bad rules file is rejected with file:line": rules files damaged at random, a word at a time, are either taken
/// or refused with a <see cref="RulesetException"/> naming a line of the file, never with any other exception.
/// </summary>
public class DamagedRulesFileTests
{
    private const string Ipv4File = """
        # a ruleset using every module and target FastPath reads
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
        -A PREROUTING -p tcp -m tcp --dport 22 -j CT --timeout ssh
        -A PREROUTING -m limit --limit 3/min --limit-burst 5 -j LOG --log-prefix "raw: " --log-level 4 --log-tcp-options
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [10:2000]
        :OUTPUT ACCEPT [0:0]
        :knock - [0:0]
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED --ctproto tcp --ctexpire 0:100 -j ACCEPT
        -A FORWARD -i a -o b -s 10.0.0.0/8 ! -d 10.1.2.3/32 -p tcp -m tcp --sport 1024:65535 --dport 22 --tcp-flags SYN,ACK SYN -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --mask 255.255.255.0 --rsource -j DROP
        -A FORWARD -p tcp -m tcp --syn -m recent --set --name SSH --rsource -m comment --comment "guard" -j ACCEPT
        -A FORWARD -p udp -m multiport --dports 53,123:130 -m iprange --src-range 10.0.0.1-10.0.0.9 -m length --length 0:512 -g knock
        -A FORWARD -p icmp -m icmp --icmp-type 8/0 -m ttl --ttl-gt 2 -m pkttype --pkt-type unicast -j ACCEPT
        -A FORWARD -m mac --mac-source 02:00:00:00:00:01 -m state --state NEW -j knock
        -A knock -m recent --rcheck --seconds 10 --reap --name K1 --rdest -j RETURN
        -A knock -m recent ! --remove --name K2 -j ACCEPT
        COMMIT
        """;

    private const string Ipv6File = """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -s 2001:db8::/32 -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -m hl --hl-lt 5 -j DROP
        -A FORWARD -p tcp -m recent --update --seconds 30 --name SSH --mask ffff:ffff:ffff:ffff:: -j DROP
        COMMIT
        """;

    private static readonly string[] OddWords =
        ["", "!", "-", "--", "-A", "-j", "-m", "0", "-1", "65536", "4294967296", "99999999999999999999", "0x", "0xFFFF", "/", ":", ",", "\"", "'",
         "1.2.3.4/33", "::/129", "a:b", "1-", "-1-2", "SYN,,ACK", "é", "\t", "COMMIT", "*filter", ":X - [0:0]", "[1:2]", "x/s", "1/fortnight"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void DamagedFilesAreTakenOrRefusedWithALineOfTheFile(int seed)
    {
        var random = new Random(seed);
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("ssh", TimeoutPolicyRegistry.InetFamily, 6, new Dictionary<int, uint> { [0] = 30 }));
        void Load(string text, bool ipv6)
        {
            var family = RulesetParser.Parse(text, "damaged.rules", ipv6 ? L3Kind.IPv6 : L3Kind.IPv4);
            _ = ipv6
                ? new CompiledRuleset(FamilyRuleset.Empty(L3Kind.IPv4), family, ["a", "b"], timeouts: registry)
                : new CompiledRuleset(family, FamilyRuleset.Empty(L3Kind.IPv6), ["a", "b"], timeouts: registry);
        }
        Load(Ipv4File, ipv6: false);
        Load(Ipv6File, ipv6: true);

        int refused = 0;
        for (int i = 0; i < 400; i++)
        {
            bool ipv6 = random.Next(4) == 0;
            string text = Damage(ipv6 ? Ipv6File : Ipv4File, random);
            int lines = text.Split('\n').Length;
            try
            {
                Load(text, ipv6);
            }
            catch (RulesetException e)
            {
                refused++;
                Assert.Equal("damaged.rules", e.File);
                Assert.InRange(e.Line, 1, lines);
                Assert.False(string.IsNullOrWhiteSpace(e.Reason), $"no reason given for:\n{text}");
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name}: {e.Message}\nfor the file:\n{text}");
            }
        }
        // Most damage is refused, some is harmless (a doubled --rsource, a word moved within a comment).
        Assert.InRange(refused, 100, 399);
    }

    /// <summary>One to three changes, each to one word: dropped, doubled, swapped with the next, replaced by an odd word or by another word of the file.</summary>
    private static string Damage(string file, Random random)
    {
        var lines = file.Split('\n').Select(l => l.Split(' ').ToList()).ToList();
        for (int change = random.Next(1, 4); change > 0; change--)
        {
            var words = lines[random.Next(lines.Count)];
            if (words.Count == 0)
                continue;
            int at = random.Next(words.Count);
            switch (random.Next(5))
            {
                case 0:
                    words.RemoveAt(at);
                    break;
                case 1:
                    words.Insert(at, words[at]);
                    break;
                case 2 when at + 1 < words.Count:
                    (words[at], words[at + 1]) = (words[at + 1], words[at]);
                    break;
                case 3:
                    words[at] = OddWords[random.Next(OddWords.Length)];
                    break;
                default:
                    var other = lines[random.Next(lines.Count)];
                    words[at] = other.Count == 0 ? "" : other[random.Next(other.Count)];
                    break;
            }
        }
        return string.Join('\n', lines.Select(words => string.Join(' ', words)));
    }
}
