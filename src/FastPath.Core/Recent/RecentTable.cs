// SPDX-License-Identifier: MIT
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using FastPath.Core.Packets;

namespace FastPath.Core.Recent;

/// <summary>
/// One xt_recent table (or one worker's shard of it) with the semantics of the current Linux kernel:
/// a hash of entries, each an address with a ring of jiffies stamps, evicted least-recently-used first once
/// <see cref="Capacity"/> (ip_list_tot) entries exist. Everything is preallocated: matching a packet never
/// allocates. Not thread-safe: exactly one thread (the owning worker) touches a table.
/// </summary>
public sealed class RecentTable
{
    private const int None = -1;

    private Entry[] _entries;
    private ulong[] _stamps;       // entry i's ring is _stamps[i * StampSlots .. (i + 1) * StampSlots)
    private readonly int[] _buckets;
    private readonly int _bucketMask;
    private int _free;             // first free entry, chained through HashNext
    private int _lruHead = None;   // least recently used (the kernel's t->lru_list.next)
    private int _lruTail = None;   // most recently used

    /// <param name="name">The table name (--name).</param>
    /// <param name="mask">The table's --mask, fixed by the first rule that created it, as in the kernel.</param>
    /// <param name="capacity">Entries before LRU eviction (the kernel's ip_list_tot, default 100).</param>
    /// <param name="stampSlots">Timestamps per entry, a power of two (the kernel's nstamps_max_mask + 1).</param>
    /// <param name="hashBuckets">Hash buckets, a power of two; 0 picks the kernel's 1 &lt;&lt; fls(capacity).</param>
    public RecentTable(string name, InetAddress mask, int capacity = 100, int stampSlots = 32, int hashBuckets = 0)
    {
        if (capacity < 1)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "at least one entry");
        if (stampSlots < 1 || stampSlots > 65536 || !BitOperations.IsPow2(stampSlots))
            throw new ArgumentOutOfRangeException(nameof(stampSlots), stampSlots, "a power of two from 1 to 65536");
        if (hashBuckets == 0)
            hashBuckets = 1 << (32 - BitOperations.LeadingZeroCount((uint)capacity));
        if (!BitOperations.IsPow2(hashBuckets))
            throw new ArgumentOutOfRangeException(nameof(hashBuckets), hashBuckets, "a power of two");
        Name = name;
        Mask = mask;
        Capacity = capacity;
        StampSlots = stampSlots;
        _entries = new Entry[capacity];
        _stamps = new ulong[checked(capacity * stampSlots)];
        _buckets = new int[hashBuckets];
        _bucketMask = hashBuckets - 1;
        Reset();
    }

    public string Name { get; }
    public InetAddress Mask { get; }
    public int Capacity { get; }
    public int StampSlots { get; private set; }
    public int HashBuckets => _buckets.Length;
    public int Count { get; private set; }

    /// <summary>
    /// Like the kernel when a rule needing more stamps joins an existing table: the table is flushed and
    /// its entries get the larger ring. A smaller need changes nothing.
    /// </summary>
    public void EnsureStampSlots(int slots)
    {
        if (slots <= StampSlots)
            return;
        StampSlots = slots;
        _stamps = new ulong[checked(Capacity * slots)];
        Reset();
    }

    /// <summary>
    /// The recent match (the kernel's recent_mt) for a packet whose looked-up address is
    /// <paramref name="address"/> (source or destination, unmasked) and whose TTL or hop limit is
    /// <paramref name="ttl"/>, at <paramref name="now"/> jiffies. Returns whether the match matched.
    /// </summary>
    public bool Match(RecentOptions options, in InetAddress address, bool ipv6, byte ttl, ulong now)
    {
        bool matched = options.Invert;
        var key = address.And(Mask);
        int e = Lookup(key, ipv6, options.Ttl ? ttl : (byte)0);
        if (e == None)
        {
            if (options.Command != RecentCommand.Set)
                return matched;
            Insert(key, ipv6, ttl, now);
            return !matched;
        }

        switch (options.Command)
        {
            case RecentCommand.Set:
                matched = !matched;
                break;
            case RecentCommand.Remove:
                Remove(e);
                return !matched;
            default:
                // seconds * HZ is a 32-bit product in the kernel and wraps past ~198 days; so does ours.
                ulong oldest = now - unchecked(options.Seconds * (uint)Jiffies.Hz);
                ref Entry entry = ref _entries[e];
                int stamps = e * StampSlots;
                uint hits = 0;
                for (int i = 0; i < entry.StampCount; i++)
                {
                    if (options.Seconds != 0 && Jiffies.After(oldest, _stamps[stamps + i]))
                        continue;
                    if (options.HitCount == 0 || ++hits >= options.HitCount)
                    {
                        matched = !matched;
                        break;
                    }
                }
                if (options.Reap)
                    ReapOldest(oldest, e, spare: options.Command == RecentCommand.Update && matched);
                break;
        }

        // As in the kernel, --update refreshes on the *result*: with ! it refreshes when the check failed.
        if (options.Command == RecentCommand.Set || (options.Command == RecentCommand.Update && matched))
        {
            Touch(e, now);
            _entries[e].Ttl = ttl;
        }
        return matched;
    }

    /// <summary>A proc write "+ADDR": add with TTL 0 (a wildcard for --rttl), or refresh an existing entry. Not masked.</summary>
    public void AddOrRefresh(in InetAddress address, bool ipv6, ulong now)
    {
        int e = Lookup(address, ipv6, 0);
        if (e == None)
            Insert(address, ipv6, 0, now);
        else
            Touch(e, now);
    }

    /// <summary>A proc write "-ADDR": remove the entry if there is one (a missing one is not an error).</summary>
    public void RemoveAddress(in InetAddress address, bool ipv6)
    {
        int e = Lookup(address, ipv6, 0);
        if (e != None)
            Remove(e);
    }

    /// <summary>A proc write "/": forget every entry.</summary>
    public void Flush() => Reset();

    /// <summary>The entries from least to most recently used, as the proc file shows them.</summary>
    public IEnumerable<RecentEntryView> Entries()
    {
        for (int e = _lruHead; e != None; e = _entries[e].LruNext)
        {
            ref Entry entry = ref _entries[e];
            int last = (entry.Index - 1) & (StampSlots - 1);
            var stamps = new ulong[entry.StampCount];
            Array.Copy(_stamps, e * StampSlots, stamps, 0, entry.StampCount);
            yield return new RecentEntryView(entry.Address, entry.IsIPv6, entry.Ttl, _stamps[e * StampSlots + last], entry.Index, stamps);
        }
    }

    private void Reset()
    {
        Array.Fill(_buckets, None);
        for (int i = 0; i < _entries.Length; i++)
            _entries[i].HashNext = i + 1 < _entries.Length ? i + 1 : None;
        _free = 0;
        _lruHead = _lruTail = None;
        Count = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Bucket(in InetAddress address, bool ipv6) => (address.GetHashCode() ^ (ipv6 ? 0x5bd1e995 : 0)) & _bucketMask;

    /// <summary>The kernel's recent_entry_lookup: a TTL of 0 on either side is a wildcard.</summary>
    private int Lookup(in InetAddress address, bool ipv6, byte ttl)
    {
        for (int e = _buckets[Bucket(address, ipv6)]; e != None; e = _entries[e].HashNext)
        {
            ref Entry entry = ref _entries[e];
            if (entry.IsIPv6 == ipv6 && entry.Address == address && (ttl == entry.Ttl || ttl == 0 || entry.Ttl == 0))
                return e;
        }
        return None;
    }

    /// <summary>The kernel's recent_entry_init: evict the least recently used entry when full.</summary>
    private void Insert(in InetAddress address, bool ipv6, byte ttl, ulong now)
    {
        if (Count >= Capacity)
            Remove(_lruHead);
        int e = _free;
        ref Entry entry = ref _entries[e];
        _free = entry.HashNext;
        entry.Address = address;
        entry.IsIPv6 = ipv6;
        entry.Ttl = ttl;
        entry.Index = 1;
        entry.StampCount = 1;
        _stamps[e * StampSlots] = now;
        int bucket = Bucket(address, ipv6);
        entry.HashNext = _buckets[bucket];
        _buckets[bucket] = e;
        LinkLruTail(e);
        Count++;
    }

    /// <summary>The kernel's recent_entry_update: the next ring slot gets <paramref name="now"/>; the entry becomes most recent.</summary>
    private void Touch(int e, ulong now)
    {
        ref Entry entry = ref _entries[e];
        // index and nstamps are 16-bit in the kernel: with 65536 slots the index wraps to 0 (a kernel quirk we keep).
        int slot = entry.Index & (StampSlots - 1);
        _stamps[e * StampSlots + slot] = now;
        entry.Index = (ushort)(slot + 1);
        if (entry.Index > entry.StampCount)
            entry.StampCount = entry.Index;
        UnlinkLru(e);
        LinkLruTail(e);
    }

    /// <summary>
    /// The kernel's recent_entry_reap: only the least recently used entry is looked at, and it goes if its
    /// newest stamp is older than <paramref name="oldest"/> — unless it is the entry this match is about to
    /// refresh (<paramref name="spare"/>).
    /// </summary>
    private void ReapOldest(ulong oldest, int working, bool spare)
    {
        int e = _lruHead;
        if (e == working && spare)
            return;
        ref Entry entry = ref _entries[e];
        int last = (entry.Index - 1) & (StampSlots - 1);
        if (Jiffies.After(oldest, _stamps[e * StampSlots + last]))
            Remove(e);
    }

    private void Remove(int e)
    {
        ref Entry entry = ref _entries[e];
        int bucket = Bucket(entry.Address, entry.IsIPv6);
        if (_buckets[bucket] == e)
        {
            _buckets[bucket] = entry.HashNext;
        }
        else
        {
            int p = _buckets[bucket];
            while (_entries[p].HashNext != e)
                p = _entries[p].HashNext;
            _entries[p].HashNext = entry.HashNext;
        }
        UnlinkLru(e);
        entry.HashNext = _free;
        _free = e;
        Count--;
    }

    private void LinkLruTail(int e)
    {
        _entries[e].LruPrev = _lruTail;
        _entries[e].LruNext = None;
        if (_lruTail != None)
            _entries[_lruTail].LruNext = e;
        else
            _lruHead = e;
        _lruTail = e;
    }

    private void UnlinkLru(int e)
    {
        ref Entry entry = ref _entries[e];
        if (entry.LruPrev != None)
            _entries[entry.LruPrev].LruNext = entry.LruNext;
        else
            _lruHead = entry.LruNext;
        if (entry.LruNext != None)
            _entries[entry.LruNext].LruPrev = entry.LruPrev;
        else
            _lruTail = entry.LruPrev;
    }

    private struct Entry
    {
        public InetAddress Address;
        public int HashNext;   // next entry in the bucket, or next free entry
        public int LruPrev;
        public int LruNext;
        public ushort Index;   // next ring slot to write, 1-based as in the kernel
        public ushort StampCount;
        public byte Ttl;
        public bool IsIPv6;
    }
}

/// <summary>One entry as the proc file and the control views see it.</summary>
public sealed record RecentEntryView(InetAddress Address, bool IsIPv6, byte Ttl, ulong LastSeen, int Index, ulong[] Stamps)
{
    /// <summary>The kernel's line: "src=ADDR ttl: N last_seen: J oldest_pkt: I s1, s2, ..." (stamps in ring-slot order).</summary>
    public string ProcLine()
    {
        var line = new StringBuilder();
        line.Append("src=").Append(Address.Format(IsIPv6 ? L3Kind.IPv6 : L3Kind.IPv4))
            .Append(" ttl: ").Append(Ttl)
            .Append(" last_seen: ").Append(LastSeen)
            .Append(" oldest_pkt: ").Append(Index);
        for (int i = 0; i < Stamps.Length; i++)
            line.Append(i == 0 ? " " : ", ").Append(Stamps[i]);
        return line.ToString();
    }
}
