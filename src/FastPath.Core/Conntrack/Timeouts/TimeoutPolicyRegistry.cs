// SPDX-License-Identifier: MIT
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;

namespace FastPath.Core.Conntrack.Timeouts;

/// <summary>The netlink flags of a create request that change its meaning.</summary>
[Flags]
public enum TimeoutCreateFlags
{
    None = 0,

    /// <summary>NLM_F_EXCL: fail with EEXIST when the name is taken.</summary>
    Exclusive = 1,

    /// <summary>NLM_F_REPLACE: update a policy of the same name, layer-3 and layer-4 protocol in place.</summary>
    Replace = 2,
}

/// <summary>
/// The cttimeout policies of one network namespace with the kernel's semantics and errnos
/// (nfnetlink_cttimeout.c, nf_conntrack_proto_*.c, xt_CT.c of Linux 6.x), and its per-protocol defaults.
/// Every method belongs to the management thread (a single writer, no locks); each change publishes a new
/// immutable <see cref="TimeoutPolicySnapshot"/> that workers read through <see cref="Current"/>.
/// </summary>
public sealed class TimeoutPolicyRegistry
{
    /// <summary>CTNL_TIMEOUT_NAME_MAX (32) less the NUL; a longer name is refused with EINVAL by the attribute policy.</summary>
    public const int MaxNameBytes = 31;

    /// <summary>The layer-3 protocol numbers of policies: AF_INET (nfct's "inet") and AF_INET6 ("inet6").</summary>
    public const ushort InetFamily = 2, Inet6Family = 10;

    // management: writes (Publish); workers: read through Current, never write.
    private TimeoutPolicySnapshot _current = TimeoutPolicySnapshot.Initial;

    // management only.
    private int _nextId = 1;

    public TimeoutPolicySnapshot Current => Volatile.Read(ref _current);

    /// <summary>
    /// IPCTNL_MSG_TIMEOUT_NEW. <paramref name="seconds"/> maps state indexes to seconds (indexes the tracker lacks
    /// are ignored, as the kernel ignores unknown attributes); null means the request carries no
    /// CTA_TIMEOUT_DATA, which the kernel refuses (EINVAL) even when an empty one would do. Every state not given
    /// takes the tracker's current default, also on a replace. Checks in the kernel's order: EEXIST with
    /// <see cref="TimeoutCreateFlags.Exclusive"/>; for a taken name, EINVAL when a replace changes the layer-3 or
    /// layer-4 protocol, EBUSY without <see cref="TimeoutCreateFlags.Replace"/>; for a new one, EOPNOTSUPP when the
    /// protocol has no tracker.
    /// </summary>
    public Errno Create(string name, ushort l3Protocol, byte l4Protocol, IReadOnlyDictionary<int, uint>? seconds,
        TimeoutCreateFlags flags = TimeoutCreateFlags.None)
    {
        if (!IsValidName(name) || seconds is null)
            return Errno.EINVAL;
        var snapshot = _current;
        int index = IndexOf(snapshot, name);
        if (index >= 0)
        {
            if ((flags & TimeoutCreateFlags.Exclusive) != 0)
                return Errno.EEXIST;
            if ((flags & TimeoutCreateFlags.Replace) == 0)
                return Errno.EBUSY;
            var existing = snapshot.Policies[index];
            if (existing.L3Protocol != l3Protocol || existing.Protocol.Number != l4Protocol)
                return Errno.EINVAL;
            var replaced = existing.WithJiffies(Apply(snapshot.DefaultJiffies(existing.Protocol), seconds));
            Publish(snapshot.Policies.SetItem(index, replaced), snapshot.Defaults);
            return Errno.None;
        }
        var protocol = TimeoutProtocols.Find(l4Protocol);
        if (protocol is null)
            return Errno.EOPNOTSUPP;
        var created = new TimeoutPolicy(_nextId++, name, l3Protocol, protocol, Apply(snapshot.DefaultJiffies(protocol), seconds), references: 0);
        Publish(snapshot.Policies.Add(created), snapshot.Defaults);
        return Errno.None;
    }

    /// <summary>IPCTNL_MSG_TIMEOUT_GET of one name: ENOENT when there is none, EINVAL for a name the kernel refuses.</summary>
    public Errno Get(string name, out TimeoutPolicy? policy)
    {
        policy = null;
        if (!IsValidName(name))
            return Errno.EINVAL;
        policy = _current.Find(name);
        return policy is null ? Errno.ENOENT : Errno.None;
    }

    /// <summary>IPCTNL_MSG_TIMEOUT_GET with NLM_F_DUMP: every policy in list order, each with its use count.</summary>
    public ImmutableArray<TimeoutPolicy> Dump() => _current.Policies;

    /// <summary>IPCTNL_MSG_TIMEOUT_DELETE of one name: EBUSY while a rule holds it, ENOENT when there is none.</summary>
    public Errno Delete(string name)
    {
        if (!IsValidName(name))
            return Errno.EINVAL;
        var snapshot = _current;
        int index = IndexOf(snapshot, name);
        if (index < 0)
            return Errno.ENOENT;
        if (snapshot.Policies[index].References > 0)
            return Errno.EBUSY;
        Publish(snapshot.Policies.RemoveAt(index), snapshot.Defaults);
        return Errno.None;
    }

    /// <summary>IPCTNL_MSG_TIMEOUT_DELETE without a name: removes every policy no rule holds, keeps the others, succeeds.</summary>
    public Errno DeleteAll()
    {
        var snapshot = _current;
        var kept = snapshot.Policies.RemoveAll(p => p.References == 0);
        if (kept.Length != snapshot.Policies.Length)
            Publish(kept, snapshot.Defaults);
        return Errno.None;
    }

    /// <summary>
    /// IPCTNL_MSG_TIMEOUT_DEFAULT_SET: the states given change, the others keep their current default; policies
    /// that exist keep the values they copied. EINVAL without CTA_TIMEOUT_DATA (null), EOPNOTSUPP for a protocol
    /// without a tracker. The layer-3 protocol does not matter: the defaults are per tracker.
    /// </summary>
    public Errno SetDefaults(ushort l3Protocol, byte l4Protocol, IReadOnlyDictionary<int, uint>? seconds)
    {
        if (seconds is null)
            return Errno.EINVAL;
        var protocol = TimeoutProtocols.Find(l4Protocol);
        if (protocol is null)
            return Errno.EOPNOTSUPP;
        var snapshot = _current;
        var defaults = snapshot.Defaults.SetItem(protocol.DefaultsSlot, Apply(snapshot.DefaultJiffies(protocol), seconds));
        Publish(snapshot.Policies, defaults);
        return Errno.None;
    }

    /// <summary>IPCTNL_MSG_TIMEOUT_DEFAULT_GET: the tracker's current defaults, echoing the layer-3 protocol asked for.</summary>
    public Errno GetDefaults(ushort l3Protocol, byte l4Protocol, out TimeoutDefaults? defaults)
    {
        defaults = null;
        var protocol = TimeoutProtocols.Find(l4Protocol);
        if (protocol is null)
            return Errno.EOPNOTSUPP;
        defaults = new TimeoutDefaults(l3Protocol, protocol, _current.DefaultJiffies(protocol));
        return Errno.None;
    }

    /// <summary>The kernel's nf_ct_timeout_find_get: takes a reference on the policy of that name (ENOENT if none).</summary>
    public Errno Acquire(string name, out TimeoutPolicy? policy)
    {
        var snapshot = _current;
        int index = IndexOf(snapshot, name);
        if (index < 0)
        {
            policy = null;
            return Errno.ENOENT;
        }
        policy = snapshot.Policies[index].WithReferences(snapshot.Policies[index].References + 1);
        Publish(snapshot.Policies.SetItem(index, policy), snapshot.Defaults);
        return Errno.None;
    }

    /// <summary>
    /// What xt_CT's checkentry does for `-j CT --timeout NAME` in a rule of <paramref name="family"/> (2 iptables,
    /// 10 ip6tables) matching <paramref name="protocol"/> (-p): EINVAL without a protocol, ENOENT without such a
    /// policy, EINVAL when the policy is for another layer-3 protocol or another tracker than the one that follows
    /// the rule's protocol (generic for a protocol without its own). On success the rule holds a reference.
    /// An empty name means no policy at all (xt_CT ignores it): success, and <paramref name="policy"/> is null.
    /// </summary>
    public Errno AcquireForRule(string name, ushort family, byte protocol, out TimeoutPolicy? policy)
    {
        policy = null;
        if (name.Length == 0)
            return Errno.None;
        if (protocol == 0)
            return Errno.EINVAL;
        var candidate = _current.Find(name);
        if (candidate is null)
            return Errno.ENOENT;
        if (candidate.L3Protocol != family || candidate.Protocol != TimeoutProtocols.TrackerFor(protocol))
            return Errno.EINVAL;
        return Acquire(name, out policy);
    }

    /// <summary>The kernel's nf_ct_timeout_put: gives back a reference taken by <see cref="Acquire"/> or <see cref="AcquireForRule"/>.</summary>
    public void Release(TimeoutPolicy policy)
    {
        var snapshot = _current;
        var held = snapshot.FindById(policy.Id);
        int index = held is null ? -1 : snapshot.Policies.IndexOf(held);
        if (index < 0 || snapshot.Policies[index].References == 0)
            throw new InvalidOperationException($"timeout policy '{policy.Name}' (id {policy.Id}) holds no reference to release");
        var released = snapshot.Policies[index].WithReferences(snapshot.Policies[index].References - 1);
        Publish(snapshot.Policies.SetItem(index, released), snapshot.Defaults);
    }

    /// <summary>What the attribute policy (NLA_NUL_STRING, at most 31 bytes) lets through.</summary>
    public static bool IsValidName(string name) =>
        !name.Contains('\0') && Encoding.UTF8.GetByteCount(name) <= MaxNameBytes;

    private static int IndexOf(TimeoutPolicySnapshot snapshot, string name)
    {
        var policies = snapshot.Policies;
        for (int i = 0; i < policies.Length; i++)
        {
            if (policies[i].Name == name)
                return i;
        }
        return -1;
    }

    /// <summary>
    /// ctnl_timeout_parse_policy: every state starts from the tracker's current default, then takes the values
    /// given. This is why a replace resets the states it does not name.
    /// </summary>
    private static ImmutableArray<uint> Apply(ImmutableArray<uint> defaults, IReadOnlyDictionary<int, uint> seconds)
    {
        uint[] jiffies = defaults.ToArray();
        foreach (var (state, value) in seconds)
        {
            if ((uint)state < (uint)jiffies.Length)
                jiffies[state] = TimeoutJiffies.FromSeconds(value);
        }
        return ImmutableCollectionsMarshal.AsImmutableArray(jiffies);
    }

    private void Publish(ImmutableArray<TimeoutPolicy> policies, ImmutableArray<ImmutableArray<uint>> defaults) =>
        Volatile.Write(ref _current, new TimeoutPolicySnapshot(_current.Generation + 1, policies, defaults));
}
