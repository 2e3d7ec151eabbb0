// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
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

    // Entries and rings are addressed through refs without bounds checks: every index stored in _buckets,
    // HashNext, the LRU links and _free is None or below Capacity, kept so by this class alone (no packet
    // or rule value is ever used as an index), and each ring is StampSlots long.
    private readonly Entry[] _entries;
    private ulong[] _stamps;       // entry i's ring is _stamps[i * StampSlots .. (i + 1) * StampSlots)
    private readonly int[] _buckets; // pinned, so a prefetch can take an element's address
    private readonly int _bucketMask;
    private readonly ulong _maskUpper; // Mask's halves, so a key is two ANDs in registers
    private readonly ulong _maskLower;
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
        _maskUpper = mask.Upper;
        _maskLower = mask.Lower;
        Capacity = capacity;
        StampSlots = stampSlots;
        _entries = new Entry[capacity];
        _stamps = new ulong[checked(capacity * stampSlots)];
        _buckets = GC.AllocateArray<int>(hashBuckets, pinned: true);
        _bucketMask = hashBuckets - 1;
        Reset();
    }

    public string Name { get; }
    public InetAddress Mask { get; }
    public int Capacity { get; }
    public int StampSlots { get; private set; }
    public int HashBuckets => _buckets.Length;
    public int Count { get; private set; }

    /// <summary>Bytes of entries, rings and buckets.</summary>
    public long FootprintBytes => (long)_entries.Length * Unsafe.SizeOf<Entry>() + (long)_stamps.Length * sizeof(ulong) + (long)_buckets.Length * sizeof(int);

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
    /// <remarks>Builds a <see cref="RecentMatch"/> on every call; the packet path builds it once per rule.</remarks>
    public bool Match(RecentOptions options, in InetAddress address, bool ipv6, byte ttl, ulong now) =>
        Match(new RecentMatch(options), address, ipv6, ttl, now);

    /// <summary>
    /// <see cref="Match(RecentOptions, in InetAddress, bool, byte, ulong)"/> for the packet path: the lookup is
    /// inlined into the caller, the rarer work (insert, stamps, refresh) is a call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Match(RecentMatch match, in InetAddress address, bool ipv6, byte ttl, ulong now)
    {
        ulong upper = address.Upper & _maskUpper;
        ulong lower = address.Lower & _maskLower;
        int bucket = Bucket(upper, lower, ipv6);
        int e = Lookup(bucket, upper, lower, ipv6, match.Ttl ? ttl : (byte)0);
        if (e != None)
            return MatchEntry(match, e, ttl, now);
        if (match.Command != RecentCommand.Set)
            return match.Invert;
        Insert(bucket, upper, lower, ipv6, ttl, now);
        return !match.Invert;
    }

    /// <summary>
    /// Asks the cache for the hash bucket a <see cref="Match"/> on <paramref name="address"/> will read first, so
    /// that a burst's cache misses overlap instead of queueing one per packet. A hint: nothing changes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void PrefetchBucket(in InetAddress address, bool ipv6)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref BucketData, Bucket(address.Upper & _maskUpper, address.Lower & _maskLower, ipv6))));
    }

    /// <summary>A proc write "+ADDR": add with TTL 0 (a wildcard for --rttl), or refresh an existing entry. Not masked.</summary>
    public void AddOrRefresh(in InetAddress address, bool ipv6, ulong now)
    {
        int bucket = Bucket(address.Upper, address.Lower, ipv6);
        int e = Lookup(bucket, address.Upper, address.Lower, ipv6, 0);
        if (e == None)
            Insert(bucket, address.Upper, address.Lower, ipv6, 0, now);
        else
            Touch(e, now);
    }

    /// <summary>A proc write "-ADDR": remove the entry if there is one (a missing one is not an error).</summary>
    public void RemoveAddress(in InetAddress address, bool ipv6)
    {
        int e = Lookup(Bucket(address.Upper, address.Lower, ipv6), address.Upper, address.Lower, ipv6, 0);
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
            var entry = _entries[e];
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

    // The data of the three arrays, to be fetched once per operation and passed on: the JIT cannot tell that
    // a store into an entry leaves the array fields alone, so it would load (and null-check) them again.
    private ref Entry EntryData => ref MemoryMarshal.GetArrayDataReference(_entries);

    private ref int BucketData => ref MemoryMarshal.GetArrayDataReference(_buckets);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref Entry At(ref Entry entries, int e)
    {
        Debug.Assert(e >= 0);
        return ref Unsafe.Add(ref entries, e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry At(int e)
    {
        Debug.Assert((uint)e < (uint)_entries.Length);
        return ref At(ref EntryData, e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ulong RingOf(int e)
    {
        Debug.Assert((uint)e < (uint)_entries.Length);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_stamps), e * StampSlots);
    }

    // InetAddress.GetHashCode of the key, with the family mixed in so that IPv4 and IPv6 keys spread apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Bucket(ulong upper, ulong lower, bool ipv6)
    {
        ulong h = (upper ^ BitOperations.RotateLeft(lower, 29)) * 0x9E37_79B9_7F4A_7C15UL;
        return ((int)(h ^ (h >> 32)) ^ (ipv6 ? 0x5bd1e995 : 0)) & _bucketMask;
    }

    /// <summary>The kernel's recent_entry_lookup: a TTL of 0 on either side is a wildcard.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Lookup(int bucket, ulong upper, ulong lower, bool ipv6, byte ttl)
    {
        ref Entry entries = ref EntryData;
        int e = Unsafe.Add(ref BucketData, bucket); // bucket is masked to the array's length
        while (e != None)
        {
            ref Entry entry = ref At(ref entries, e);
            if (entry.Address.Upper == upper && entry.Address.Lower == lower && entry.IsIPv6 == ipv6
                && (ttl == entry.Ttl || ttl == 0 || entry.Ttl == 0))
                break;
            e = entry.HashNext;
        }
        return e;
    }

    /// <summary>recent_mt once the entry is found: --set, --remove, or the hit count in the --seconds window.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool MatchEntry(RecentMatch match, int e, byte ttl, ulong now)
    {
        bool matched = match.Invert;
        switch (match.Command)
        {
            case RecentCommand.Set:
                matched = !matched;
                break;
            case RecentCommand.Remove:
                Remove(e);
                return !matched;
            default:
                ulong oldest = now - match.WindowJiffies;
                ref ulong ring = ref RingOf(e);
                int stampCount = At(e).StampCount;
                uint hits = 0;
                for (int i = 0; i < stampCount; i++)
                {
                    if (match.Seconds != 0 && Jiffies.After(oldest, Unsafe.Add(ref ring, i)))
                        continue;
                    if (match.HitCount == 0 || ++hits >= match.HitCount)
                    {
                        matched = !matched;
                        break;
                    }
                }
                if (match.Reap)
                    ReapOldest(oldest, e, spare: match.Command == RecentCommand.Update && matched);
                break;
        }

        // As in the kernel, --update refreshes on the *result*: with ! it refreshes when the check failed.
        if (match.Command == RecentCommand.Set || (match.Command == RecentCommand.Update && matched))
        {
            Touch(e, now);
            At(e).Ttl = ttl;
        }
        return matched;
    }

    /// <summary>
    /// The kernel's recent_entry_init. A full table first evicts its least recently used entry, whose slot the
    /// new one takes at once (what removing it onto the free list and taking the free list's head would do).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Insert(int bucket, ulong upper, ulong lower, bool ipv6, byte ttl, ulong now)
    {
        ref Entry entries = ref EntryData;
        ref int buckets = ref BucketData;
        int e;
        if (Count >= Capacity)
        {
            e = _lruHead;
            ref Entry oldest = ref At(ref entries, e);
            UnlinkHash(ref entries, ref buckets, e, ref oldest);
            _lruHead = oldest.LruNext;
            if (_lruHead != None)
                At(ref entries, _lruHead).LruPrev = None;
            else
                _lruTail = None;
        }
        else
        {
            e = _free;
            _free = At(ref entries, e).HashNext;
            Count++;
        }
        ref Entry entry = ref At(ref entries, e);
        entry.Address = InetAddress.FromHalves(upper, lower);
        entry.IsIPv6 = ipv6;
        entry.Ttl = ttl;
        entry.Index = 1;
        entry.StampCount = 1;
        entry.Bucket = bucket;
        RingOf(e) = now;
        ref int head = ref Unsafe.Add(ref buckets, bucket);
        entry.HashNext = head;
        head = e;
        LinkLruTail(ref entries, e, ref entry);
    }

    /// <summary>The kernel's recent_entry_update: the next ring slot gets <paramref name="now"/>; the entry becomes most recent.</summary>
    private void Touch(int e, ulong now)
    {
        ref Entry entries = ref EntryData;
        ref Entry entry = ref At(ref entries, e);
        // index and nstamps are 16-bit in the kernel: with 65536 slots the index wraps to 0 (a kernel quirk we keep).
        int slot = entry.Index & (StampSlots - 1);
        Unsafe.Add(ref RingOf(e), slot) = now;
        entry.Index = (ushort)(slot + 1);
        if (entry.Index > entry.StampCount)
            entry.StampCount = entry.Index;
        if (e != _lruTail)
        {
            UnlinkLru(ref entries, ref entry);
            LinkLruTail(ref entries, e, ref entry);
        }
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
        int last = (At(e).Index - 1) & (StampSlots - 1);
        if (Jiffies.After(oldest, Unsafe.Add(ref RingOf(e), last)))
            Remove(e);
    }

    private void Remove(int e)
    {
        ref Entry entries = ref EntryData;
        ref Entry entry = ref At(ref entries, e);
        UnlinkHash(ref entries, ref BucketData, e, ref entry);
        UnlinkLru(ref entries, ref entry);
        entry.HashNext = _free;
        _free = e;
        Count--;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnlinkHash(ref Entry entries, ref int buckets, int e, ref Entry entry)
    {
        ref int link = ref Unsafe.Add(ref buckets, entry.Bucket);
        while (link != e)
            link = ref At(ref entries, link).HashNext;
        link = entry.HashNext;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LinkLruTail(ref Entry entries, int e, ref Entry entry)
    {
        entry.LruPrev = _lruTail;
        entry.LruNext = None;
        if (_lruTail != None)
            At(ref entries, _lruTail).LruNext = e;
        else
            _lruHead = e;
        _lruTail = e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void UnlinkLru(ref Entry entries, ref Entry entry)
    {
        if (entry.LruPrev != None)
            At(ref entries, entry.LruPrev).LruNext = entry.LruNext;
        else
            _lruHead = entry.LruNext;
        if (entry.LruNext != None)
            At(ref entries, entry.LruNext).LruPrev = entry.LruPrev;
        else
            _lruTail = entry.LruPrev;
    }

    // 40 bytes. The ring lives apart in _stamps: a chain walk reads only entries. The kernel's layout (the
    // ring right after its entry, here 64-byte aligned) and 64-byte aligned entries both measured slower.
    private struct Entry
    {
        public InetAddress Address;
        public int HashNext;   // next entry in the bucket, or next free entry
        public int LruPrev;
        public int LruNext;
        public int Bucket;     // the chain it is on, so removing it does not hash again
        public ushort Index;   // next ring slot to write, 1-based as in the kernel
        public ushort StampCount;
        public byte Ttl;
        public bool IsIPv6;
    }
}

/// <summary>
/// One `-m recent` match flattened for the packet path: the options as plain fields, the window already in
/// jiffies. A class, so that the walk passes a reference instead of copying the options onto its stack.
/// </summary>
public sealed class RecentMatch(RecentOptions options)
{
    internal readonly RecentCommand Command = options.Command;
    internal readonly bool Invert = options.Invert;
    internal readonly bool Ttl = options.Ttl;
    internal readonly bool Reap = options.Reap;
    internal readonly uint Seconds = options.Seconds;
    internal readonly uint HitCount = options.HitCount;

    // seconds * HZ is a 32-bit product in the kernel and wraps past ~198 days; so does ours.
    internal readonly ulong WindowJiffies = unchecked(options.Seconds * (uint)Jiffies.Hz);
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
