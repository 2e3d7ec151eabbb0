// SPDX-License-Identifier: MIT
using FastPath.Core;
using FastPath.Core.Conntrack.Timeouts;
using Xunit;

namespace FastPath.Core.Tests.Conntrack;

/// <summary>The registry answers like nfnetlink_cttimeout of Linux 6.x: every errno, in the kernel's order of checks.</summary>
public class TimeoutPolicyRegistryTests
{
    private const ushort Inet = 2;
    private const ushort Inet6 = 10;
    private const byte Tcp = 6;
    private const byte Udp = 17;
    private const byte UdpLite = 136;
    private const byte Dccp = 33;
    private const byte Igmp = 2;
    private static readonly int s_established = TimeoutProtocols.Tcp.StateIndex("ESTABLISHED");
    private static readonly int s_close = TimeoutProtocols.Tcp.StateIndex("CLOSE");
    private static readonly int s_synSent = TimeoutProtocols.Tcp.StateIndex("SYN_SENT");

    private static Dictionary<int, uint> Values(params (int State, uint Seconds)[] values) => values.ToDictionary(v => v.State, v => v.Seconds);

    private static uint[] Seconds(TimeoutPolicy policy) => [.. Enumerable.Range(0, policy.Protocol.States.Length).Select(policy.Seconds)];

    [Fact]
    public void ANewPolicyTakesTheDefaultsForTheStatesItDoesNotSet()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("web", Inet, Tcp, Values((s_established, 100), (s_close, 10))));
        Assert.Equal(Errno.None, registry.Get("web", out var policy));
        Assert.Equal([120u, 60, 100, 120, 60, 30, 120, 10, 120, 300, 300], Seconds(policy!));
        Assert.Equal((ushort)Inet, policy!.L3Protocol);
        Assert.Same(TimeoutProtocols.Tcp, policy.Protocol);
        Assert.Equal(0, policy.References);
        Assert.Equal(1, policy.Use);
    }

    [Fact]
    public void WithoutDataTheCreateIsRefusedButEmptyDataGivesAllDefaults()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.EINVAL, registry.Create("none", Inet, Tcp, null));
        Assert.Equal(Errno.ENOENT, registry.Get("none", out _));
        Assert.Equal(Errno.None, registry.Create("empty", Inet, Tcp, Values()));
        registry.Get("empty", out var policy);
        Assert.Equal(TimeoutProtocols.Tcp.DefaultSeconds, Seconds(policy!));
    }

    [Theory]
    [InlineData(Dccp)]
    [InlineData(Igmp)]
    [InlineData((byte)0)]
    [InlineData((byte)41)]
    public void AProtocolWithoutATrackerIsNotSupported(byte protocol)
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.EOPNOTSUPP, registry.Create("x", Inet, protocol, Values((0, 1))));
        Assert.Equal(Errno.EOPNOTSUPP, registry.SetDefaults(Inet, protocol, Values((0, 1))));
        Assert.Equal(Errno.EOPNOTSUPP, registry.GetDefaults(Inet, protocol, out _));
        Assert.Empty(registry.Dump());
    }

    [Fact]
    public void EveryTrackerIsSupportedWithAnyLayer3Protocol()
    {
        var registry = new TimeoutPolicyRegistry();
        foreach (var protocol in TimeoutProtocols.All)
            Assert.Equal(Errno.None, registry.Create(protocol.Name, 99, protocol.Number, Values()));
        Assert.Equal(TimeoutProtocols.All.Select(p => p.Name), registry.Dump().Select(p => p.Name));
    }

    [Fact]
    public void ATakenNameWithoutFlagsIsBusyWhateverTheProtocol()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values((s_established, 100)));
        Assert.Equal(Errno.EBUSY, registry.Create("web", Inet, Tcp, Values((s_established, 5))));
        Assert.Equal(Errno.EBUSY, registry.Create("web", Inet6, Udp, Values()));
        // The name is looked at before the protocol: an unsupported one is not what the kernel complains about.
        Assert.Equal(Errno.EBUSY, registry.Create("web", Inet, Dccp, Values()));
        registry.Get("web", out var policy);
        Assert.Equal(100u, policy!.Seconds(s_established));
    }

    [Theory]
    [InlineData(TimeoutCreateFlags.Exclusive, Inet, Tcp)]
    [InlineData(TimeoutCreateFlags.Exclusive, Inet, Dccp)]
    [InlineData(TimeoutCreateFlags.Exclusive | TimeoutCreateFlags.Replace, Inet, Tcp)]
    [InlineData(TimeoutCreateFlags.Exclusive | TimeoutCreateFlags.Replace, Inet6, Udp)]
    public void ExclusiveOnATakenNameIsEexistBeforeAnythingElse(TimeoutCreateFlags flags, ushort l3, byte l4)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values());
        Assert.Equal(Errno.EEXIST, registry.Create("web", l3, l4, Values((0, 1)), flags));
    }

    [Fact]
    public void ExclusiveOnAFreeNameCreates()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("web", Inet, Tcp, Values(), TimeoutCreateFlags.Exclusive));
        Assert.Single(registry.Dump());
    }

    [Theory]
    [InlineData(Inet6, Tcp)]
    [InlineData(Inet, Udp)]
    [InlineData(Inet, Dccp)]
    public void ReplacingWithAnotherKindOfPolicyIsInvalid(ushort l3, byte l4)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values((s_established, 100)));
        Assert.Equal(Errno.EINVAL, registry.Create("web", l3, l4, Values((0, 1)), TimeoutCreateFlags.Replace));
        registry.Get("web", out var policy);
        Assert.Equal(100u, policy!.Seconds(s_established));
    }

    [Fact]
    public void AReplaceUpdatesInPlaceAndResetsTheStatesItDoesNotName()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("first", Inet, Udp, Values());
        registry.Create("web", Inet, Tcp, Values((s_synSent, 5), (s_established, 100)));
        registry.Create("last", Inet, Udp, Values());
        registry.AcquireForRule("web", Inet, Tcp, out var held);
        Assert.Equal(Errno.None, registry.Create("web", Inet, Tcp, Values((s_close, 3)), TimeoutCreateFlags.Replace));
        registry.Get("web", out var replaced);
        Assert.Equal(held!.Id, replaced!.Id);
        Assert.Equal(1, replaced.References);
        Assert.Equal(["first", "web", "last"], registry.Dump().Select(p => p.Name));
        Assert.Equal([120u, 60, 432000, 120, 60, 30, 120, 3, 120, 300, 300], Seconds(replaced));
        Assert.Equal(Errno.None, registry.Create("web", Inet, Tcp, Values(), TimeoutCreateFlags.Replace));
        registry.Get("web", out replaced);
        Assert.Equal(TimeoutProtocols.Tcp.DefaultSeconds, Seconds(replaced!));
        Assert.Equal(Errno.EINVAL, registry.Create("web", Inet, Tcp, null, TimeoutCreateFlags.Replace));
    }

    [Fact]
    public void AReplaceOfAFreeNameCreates()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("web", Inet, Tcp, Values((s_established, 1)), TimeoutCreateFlags.Replace));
        Assert.Equal(Errno.None, registry.Get("web", out _));
    }

    [Theory]
    [InlineData("", Errno.None)]
    [InlineData("abcdefghijklmnopqrstuvwxyz01234", Errno.None)]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345", Errno.EINVAL)]
    [InlineData("ééééééééééééééé", Errno.None)] // 30 bytes
    [InlineData("éééééééééééééééé", Errno.EINVAL)] // 32 bytes
    [InlineData("two words", Errno.None)]
    [InlineData("nul\0inside", Errno.EINVAL)]
    public void NamesAreAtMost31Bytes(string name, Errno expected)
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(expected, registry.Create(name, Inet, Tcp, Values()));
        Assert.Equal(expected == Errno.None ? Errno.None : Errno.EINVAL, registry.Get(name, out _));
        Assert.Equal(expected, registry.Delete(name));
    }

    [Fact]
    public void GetAndDeleteOfAMissingNameAreEnoent()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values());
        Assert.Equal(Errno.ENOENT, registry.Get("dns", out var policy));
        Assert.Null(policy);
        Assert.Equal(Errno.ENOENT, registry.Delete("dns"));
        Assert.Equal(Errno.ENOENT, registry.Get("WEB", out _));
    }

    [Fact]
    public void APolicyARuleHoldsIsBusyUntilTheRuleGoes()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values());
        Assert.Equal(Errno.None, registry.AcquireForRule("web", Inet, Tcp, out var first));
        Assert.Equal(Errno.None, registry.AcquireForRule("web", Inet, Tcp, out var second));
        Assert.Equal(3, registry.Dump()[0].Use);
        Assert.Equal(Errno.EBUSY, registry.Delete("web"));
        registry.Release(first!);
        Assert.Equal(Errno.EBUSY, registry.Delete("web"));
        registry.Release(second!);
        Assert.Equal(1, registry.Dump()[0].Use);
        Assert.Equal(Errno.None, registry.Delete("web"));
        Assert.Empty(registry.Dump());
    }

    [Fact]
    public void DeleteAllRemovesTheFreePoliciesKeepsTheBusyOnesAndSucceeds()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.DeleteAll());
        registry.Create("a", Inet, Tcp, Values());
        registry.Create("b", Inet, Udp, Values());
        registry.Create("c", Inet6, Tcp, Values());
        registry.AcquireForRule("b", Inet, Udp, out _);
        Assert.Equal(Errno.None, registry.DeleteAll());
        Assert.Equal(["b"], registry.Dump().Select(p => p.Name));
    }

    [Fact]
    public void DefaultsChangeOnlyTheStatesGivenAndOnlyForNewPolicies()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("before", Inet, Tcp, Values());
        Assert.Equal(Errno.None, registry.SetDefaults(Inet6, Tcp, Values((s_established, 3600))));
        Assert.Equal(Errno.None, registry.GetDefaults(Inet, Tcp, out var defaults));
        Assert.Equal(3600u, defaults!.Seconds(s_established));
        Assert.Equal(120u, defaults.Seconds(s_synSent));
        registry.Create("after", Inet, Tcp, Values((s_close, 1)));
        registry.Get("before", out var before);
        registry.Get("after", out var after);
        Assert.Equal(432000u, before!.Seconds(s_established));
        Assert.Equal(3600u, after!.Seconds(s_established));
        // A replace also starts from the current defaults.
        registry.Create("before", Inet, Tcp, Values(), TimeoutCreateFlags.Replace);
        registry.Get("before", out before);
        Assert.Equal(3600u, before!.Seconds(s_established));
    }

    [Fact]
    public void DefaultSetNeedsDataAndAnEmptyOneChangesNothing()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.EINVAL, registry.SetDefaults(Inet, Tcp, null));
        Assert.Equal(Errno.None, registry.SetDefaults(Inet, Tcp, Values()));
        registry.GetDefaults(Inet, Tcp, out var defaults);
        Assert.Equal(TimeoutProtocols.Tcp.DefaultSeconds, defaults!.Jiffies.Select(TimeoutJiffies.ToSeconds));
    }

    [Fact]
    public void UdpAndUdpLiteShareTheirDefaults()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.SetDefaults(Inet, Udp, Values((0, 44)));
        registry.GetDefaults(Inet6, UdpLite, out var defaults);
        Assert.Equal((ushort)Inet6, defaults!.L3Protocol);
        Assert.Same(TimeoutProtocols.UdpLite, defaults.Protocol);
        Assert.Equal([44u, 120], defaults.Jiffies.Select(TimeoutJiffies.ToSeconds));
        registry.GetDefaults(Inet, (byte)1, out var icmp);
        Assert.Equal([30u], icmp!.Jiffies.Select(TimeoutJiffies.ToSeconds));
    }

    [Theory]
    [InlineData(0u, 0u)]
    [InlineData(17179869u, 17179869u)]
    [InlineData(17179870u, 0u)]
    [InlineData(4294967295u, 17179868u)]
    [InlineData(2147483648u, 0u)]
    public void ValuesAreStoredAsJiffiesIn32BitsAndWrap(uint given, uint reported)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("g", Inet, TimeoutProtocols.GenericNumber, Values((0, given)));
        registry.Get("g", out var policy);
        Assert.Equal(reported, policy!.Seconds(0));
        Assert.Equal(unchecked(given * 250), policy.Jiffies[0]);
    }

    [Fact]
    public void StatesTheTrackerLacksAreIgnored()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.None, registry.Create("u", Inet, Udp, Values((1, 5), (2, 99), (11, 99))));
        registry.Get("u", out var policy);
        Assert.Equal([30u, 5], Seconds(policy!));
    }

    [Fact]
    public void SctpKeepsTheHeartbeatAckedSlotWithADefaultOfZero()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.GetDefaults(Inet, 132, out var defaults);
        Assert.Equal([10u, 3, 3, 210, 3, 3, 3, 30, 0], defaults!.Jiffies.Select(TimeoutJiffies.ToSeconds));
        registry.Create("s", Inet, 132, Values((8, 17)));
        registry.Get("s", out var policy);
        Assert.Equal(17u, policy!.Seconds(8));
    }

    [Fact]
    public void AcquireIsTheKernelsFindGet()
    {
        var registry = new TimeoutPolicyRegistry();
        Assert.Equal(Errno.ENOENT, registry.Acquire("web", out var none));
        Assert.Null(none);
        registry.Create("web", Inet, Tcp, Values());
        Assert.Equal(Errno.None, registry.Acquire("web", out var policy));
        Assert.Equal(1, policy!.References);
        registry.Release(policy);
        Assert.Throws<InvalidOperationException>(() => registry.Release(policy));
    }

    [Fact]
    public void ReleasingAPolicyThatIsGoneIsAMistake()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values());
        registry.Get("web", out var policy);
        registry.Delete("web");
        Assert.Throws<InvalidOperationException>(() => registry.Release(policy!));
    }

    [Theory]
    [InlineData("web", Inet, Tcp, Errno.None)]
    [InlineData("web", Inet, (byte)0, Errno.EINVAL)] // no -p
    [InlineData("dns", Inet, Tcp, Errno.ENOENT)]
    [InlineData("web", Inet6, Tcp, Errno.EINVAL)]
    [InlineData("web", Inet, Udp, Errno.EINVAL)]
    [InlineData("udp", Inet, UdpLite, Errno.EINVAL)]
    [InlineData("generic", Inet, Igmp, Errno.None)] // no tracker of its own: the generic one
    [InlineData("generic", Inet, Dccp, Errno.None)]
    [InlineData("generic", Inet, Tcp, Errno.EINVAL)]
    public void ARuleTakesAPolicyOfItsFamilyAndTracker(string name, ushort family, byte protocol, Errno expected)
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values());
        registry.Create("udp", Inet, Udp, Values());
        registry.Create("generic", Inet, TimeoutProtocols.GenericNumber, Values());
        Assert.Equal(expected, registry.AcquireForRule(name, family, protocol, out var policy));
        Assert.Equal(expected == Errno.None, policy is not null);
        Assert.Equal(expected == Errno.None ? 1 : 0, registry.Dump().Sum(p => p.References));
    }

    [Fact]
    public void ARuleWithAnEmptyTimeoutNameHoldsNoPolicy()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("", Inet, Tcp, Values());
        Assert.Equal(Errno.None, registry.AcquireForRule("", Inet, Tcp, out var policy));
        Assert.Null(policy);
        Assert.Equal(1, registry.Dump()[0].Use);
    }

    [Fact]
    public void EveryChangePublishesANewSnapshotAndLeavesTheOldOneAlone()
    {
        var registry = new TimeoutPolicyRegistry();
        var empty = registry.Current;
        registry.Create("web", Inet, Tcp, Values((s_established, 100)));
        var created = registry.Current;
        Assert.Equal(empty.Generation + 1, created.Generation);
        Assert.Empty(empty.Policies);
        registry.Create("web", Inet, Tcp, Values((s_established, 200)), TimeoutCreateFlags.Replace);
        var replaced = registry.Current;
        int id = created.Policies[0].Id;
        Assert.Equal(100u, TimeoutJiffies.ToSeconds(created.FindById(id)!.Jiffies[s_established]));
        Assert.Equal(200u, TimeoutJiffies.ToSeconds(replaced.FindById(id)!.Jiffies[s_established]));
        // Refused requests publish nothing.
        registry.Create("web", Inet, Tcp, Values());
        Assert.Same(replaced, registry.Current);
    }

    [Fact]
    public void AConnectionOfADeletedPolicyFallsBackToTheLiveDefaults()
    {
        var registry = new TimeoutPolicyRegistry();
        registry.Create("web", Inet, Tcp, Values((s_established, 100)));
        int id = registry.Current.Policies[0].Id;
        Assert.Equal(100u * 250, registry.Current.JiffiesFor(id, TimeoutProtocols.Tcp, s_established));
        registry.Delete("web");
        Assert.Equal(432000u * 250, registry.Current.JiffiesFor(id, TimeoutProtocols.Tcp, s_established));
        registry.SetDefaults(Inet, Tcp, Values((s_established, 7)));
        Assert.Equal(7u * 250, registry.Current.JiffiesFor(id, TimeoutProtocols.Tcp, s_established));
        // A new policy of the same name is another policy.
        registry.Create("web", Inet, Tcp, Values((s_established, 100)));
        Assert.NotEqual(id, registry.Current.Policies[0].Id);
        Assert.Null(registry.Current.FindById(id));
    }
}
