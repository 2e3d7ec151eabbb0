// SPDX-License-Identifier: MIT
/*
 * ssh-guard-baseline: the plain C program FastPath's end-to-end SSH-guard numbers are held against
 * ("within 1.0x of a plain C program doing the same parse + lookup + check on the same machine"), and with
 * connection tracking the conntrack numbers ("... the same parse + conntrack + recent job").
 *
 * It does the work `fastpath-throughput --port memory --protocol tcp --dport 22 --rules FILE` does, the way a
 * C programmer would write it: the same synthetic frames replayed from memory in bursts of 32, the same header
 * validation as src/FastPath.Core/Packets/PacketParser.cs, the rules of the FORWARD chain walked in order, an
 * xt_recent table with the kernel's semantics (hash chains, LRU eviction at capacity, a ring of jiffies per
 * entry), per-rule and per-port counters, and accepted frames queued 32 at a time for a counting tx queue.
 * Plain -O2, no SIMD, no prefetching, no specialisation to the ruleset (it is read from the file at start).
 *
 * With a ruleset that uses conntrack (perf/conntrack-bench.rules: raw PREROUTING `-j CT --timeout`, filter
 * `-m conntrack --ctstate`) it also tracks TCP connections as FastPath's FlowTable and TcpTracker do, which is the
 * kernel's nf_conntrack_proto_tcp.c (tcp_error, tcp_new with nf_conntrack_tcp_loose = 1, nf_conntrack_tcp_packet,
 * tcp_in_window without NAT offsets): a preallocated table of 128-byte entries (two cache lines: tuple, chain and
 * deadline, then the TCP state and the counters) chained from power-of-two buckets by a symmetric 5-tuple hash,
 * both directions finding the same entry. Per TCP packet: the flag check; sequence, acknowledgment and window
 * read from the header (the SACK blocks when the receiver allowed SACK, window scale and SACK-permitted from a
 * SYN's options); the state table (tcp_conntracks) with the kernel's special cases (an ignored packet remembered
 * in last_*, the SYN/ACK that resynchronises, a SYN reopening a closed connection, the RST sequence checks and
 * challenge ACKs); tcp_in_window on both sides' td_end, td_maxend, td_maxwin, td_maxack, td_scale and flags (a
 * connection picked up mid-stream from an ACK has both sides liberal), with retransmission counting (last_dir,
 * last_seq, last_ack, last_end, last_win, retrans); a segment outside the window is INVALID, or let through
 * without touching the connection where the kernel ignores it (nf_tcp_handle_invalid shortens the timeout of an
 * assured connection answered out of window by FIN or RST); the timeout chosen as the kernel does (RETRANS,
 * UNACK, CLOSE, the state's) from the CT template's policy; SEEN_REPLY and ASSURED; a RST as the only reply ends
 * the connection; a new connection is held unconfirmed until the packet's verdict (linked into its bucket if
 * accepted, freed if dropped); an expired one is replaced on lookup.
 * Not done (FastPath does them): early drop when full (this table drops the packet), expiry sweeps (nothing
 * expires during a run), the clash check when confirming (no packet here is handed to another worker), prefetching
 * the bucket, the connection's status and seconds left filled in for matches that would read them, protocols other
 * than TCP (INVALID).
 *
 * Scope: the benchmark mixes are IPv4/TCP only and the ruleset has no ip6tables rules, so IPv6 and other
 * ethertypes are forwarded uninspected, and only TCP gets an L4 parse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BURST 32
#define PORTS 2                      /* mem0 (the loaded frames) and mem1, a bump-in-the-wire pair */
#define FRAME_SIZE 60                /* Ethernet without FCS, as fastpath-throughput's default */
#define LOOP_PERIOD_NS 1000000       /* MemoryPort.Load(loopPeriod: 1_000_000): each replay round is 1 ms later */
#define HZ 250                       /* Debian's kernels; jiffies = ns / 4,000,000 as in Jiffies.cs */
#define NS_PER_JIFFY (1000000000 / HZ)
#define NONE UINT32_MAX
#define MAX_RULES 64
#define MAX_TABLES 8
#define NAME_LEN 200

static _Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("ssh-guard-baseline: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* Zeroed memory for a large table on 2 MB transparent huge pages (MADV_HUGEPAGE), as FastPath's HugePageArray
 * backs its connection tables: both programs then pay the same TLB cost. */
static void *huge_table(size_t n, size_t size)
{
    const size_t huge = (size_t)2 << 20;
    size_t bytes = (n * size + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, bytes);
    if (p == NULL)
        die("out of memory");
    madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* A native-endian load of 4 network-order bytes: hashing and equality do not care about byte order. */
static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- Counters: written by their worker only, read by the main thread while it runs. ---- */

/* Relaxed load + store, not an atomic add: one writer, so a plain increment is enough and the reader sees a
 * value that is at most a little stale (FastPath's WorkerCounters make the same bargain). */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* ---- Parsing: the checks PacketParser.cs makes on the IPv4/TCP path, in the same order. ---- */

enum drop_reason {
    DROP_NONE,
    DROP_ETHERNET_TRUNCATED,
    DROP_VLAN_TRUNCATED,
    DROP_VLAN_TOO_MANY_TAGS,
    DROP_IPV4_TRUNCATED,
    DROP_IPV4_BAD_VERSION,
    DROP_IPV4_BAD_HEADER_LENGTH,
    DROP_IPV4_HEADER_EXCEEDS_FRAME,
    DROP_IPV4_BAD_OPTIONS,
    DROP_IPV4_BAD_CHECKSUM,
    DROP_IPV4_TOTAL_LENGTH_BELOW_HEADER,
    DROP_IPV4_TOTAL_LENGTH_EXCEEDS_FRAME,
    DROP_IPV4_FRAGMENT_TOO_LARGE,
    DROP_TCP_TRUNCATED,
    DROP_TCP_BAD_DATA_OFFSET,
    DROP_RULE,
    DROP_REASONS
};

enum l3_kind { L3_NONE, L3_IPV4 };          /* the values FlowHash mixes in: IPv4 is 1 */
enum l4_kind { L4_NONE, L4_TCP, L4_OTHER };
enum fragment_kind { FRAG_NONE, FRAG_FIRST, FRAG_NONFIRST };

/* Everything PacketParser fills in for IPv4/TCP, so the parse does the same work even where the ruleset reads less. */
struct packet {
    uint16_t ether_type, outer_vlan, inner_vlan;
    uint8_t vlan_count, l3, l4, fragment, protocol, ttl, tos, tcp_flags;
    uint32_t l3_offset, ip_length, l4_offset, l4_length, tcp_header_length;
    uint16_t fragment_offset, sport, dport;
    uint64_t src[2], dst[2];                  /* nf_inet_addr: IPv4 in the first 4 bytes, the rest zero */
};

static inline bool is_vlan_tag(uint16_t t) { return t == 0x8100 || t == 0x88A8 || t == 0x9100; }

/* RFC 1071 over 32-bit big-endian words into a 64-bit sum; carries folded at the end. */
static uint64_t checksum_sum(const uint8_t *p, uint32_t len)
{
    uint64_t sum = 0;
    for (; len >= 4; p += 4, len -= 4)
        sum += (uint32_t)be16(p) << 16 | be16(p + 2);
    if (len >= 2) {
        sum += be16(p);
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static inline uint32_t checksum_fold(uint64_t sum)
{
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    uint32_t f = (uint32_t)sum;
    f = (f & 0xffff) + (f >> 16);
    f = (f & 0xffff) + (f >> 16);
    return f;
}

/* The TCP pseudo-header of an IPv4 header: both addresses, the protocol and the segment's length. */
static inline uint64_t tcp_pseudo_sum(const uint8_t *ip, uint32_t tcp_length)
{
    return checksum_sum(ip + 12, 8) + 6 + tcp_length;
}

/* The common 20-byte header: five native-endian words (the one's-complement sum is byte-order independent). */
static inline bool ipv4_checksum20_ok(const uint8_t *h)
{
    uint64_t sum = (uint64_t)load32(h) + load32(h + 4) + load32(h + 8) + load32(h + 12) + load32(h + 16);
    return checksum_fold(sum) == 0xffff;
}

/* ip_options_compile's framing checks: EOL ends, NOP is one byte, any other option has a length >= 2 inside. */
static bool ipv4_options_valid(const uint8_t *o, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        if (o[i] == 0)
            break;
        if (o[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2 || o[i + 1] > len - i)
            return false;
        i += o[i + 1];
    }
    return true;
}

static enum drop_reason parse_tcp(const uint8_t *t, uint32_t len, struct packet *p)
{
    if (len < 20)
        return DROP_TCP_TRUNCATED;
    uint32_t hl = (uint32_t)(t[12] >> 4) * 4;
    if (hl < 20 || hl > len)
        return DROP_TCP_BAD_DATA_OFFSET;
    p->l4 = L4_TCP;
    p->sport = be16(t);
    p->dport = be16(t + 2);
    p->tcp_flags = t[13];
    p->tcp_header_length = hl;
    return DROP_NONE;
}

static enum drop_reason parse_ipv4(const uint8_t *ip, uint32_t len, uint32_t l3_offset, struct packet *p)
{
    if (len < 20)
        return DROP_IPV4_TRUNCATED;
    if (ip[0] >> 4 != 4)
        return DROP_IPV4_BAD_VERSION;
    uint32_t hl = (uint32_t)(ip[0] & 0x0f) * 4;
    if (hl < 20)
        return DROP_IPV4_BAD_HEADER_LENGTH;
    if (hl > len)
        return DROP_IPV4_HEADER_EXCEEDS_FRAME;
    if (hl > 20 && !ipv4_options_valid(ip + 20, hl - 20))
        return DROP_IPV4_BAD_OPTIONS;
    if (!(hl == 20 ? ipv4_checksum20_ok(ip) : checksum_fold(checksum_sum(ip, hl)) == 0xffff))
        return DROP_IPV4_BAD_CHECKSUM;
    uint32_t total = be16(ip + 2);
    if (total < hl)
        return DROP_IPV4_TOTAL_LENGTH_BELOW_HEADER;
    if (total > len)                      /* bytes past total are Ethernet padding */
        return DROP_IPV4_TOTAL_LENGTH_EXCEEDS_FRAME;

    p->l3 = L3_IPV4;
    p->tos = ip[1];
    p->ttl = ip[8];
    p->protocol = ip[9];
    p->ip_length = total;
    p->src[0] = load32(ip + 12);
    p->dst[0] = load32(ip + 16);

    uint32_t payload = total - hl;
    uint16_t flags_offset = be16(ip + 6);
    if (flags_offset & 0x3fff) {          /* MF or a non-zero offset */
        uint32_t offset = (uint32_t)(flags_offset & 0x1fff) * 8;
        if (offset + payload > 65535)
            return DROP_IPV4_FRAGMENT_TOO_LARGE;
        p->fragment_offset = (uint16_t)offset;
        if (offset) {
            p->fragment = FRAG_NONFIRST;  /* no L4 header in here */
            return DROP_NONE;
        }
        p->fragment = FRAG_FIRST;
    }
    p->l4_offset = l3_offset + hl;
    p->l4_length = payload;
    if (p->protocol == 6)
        return parse_tcp(ip + hl, payload, p);
    p->l4 = L4_OTHER;
    return DROP_NONE;
}

static enum drop_reason parse(const uint8_t *f, uint32_t len, struct packet *p)
{
    *p = (struct packet){0};
    if (len < 14)
        return DROP_ETHERNET_TRUNCATED;
    uint16_t ether_type = be16(f + 12);
    uint32_t offset = 14;
    if (is_vlan_tag(ether_type)) {        /* one predictable branch when untagged */
        int tags = 0;
        do {
            if (tags == 2)
                return DROP_VLAN_TOO_MANY_TAGS;
            if (len < offset + 4)
                return DROP_VLAN_TRUNCATED;
            uint16_t vid = be16(f + offset) & 0x0fff;
            if (tags == 0)
                p->outer_vlan = vid;
            else
                p->inner_vlan = vid;
            ether_type = be16(f + offset + 2);
            offset += 4;
            tags++;
        } while (is_vlan_tag(ether_type));
        p->vlan_count = (uint8_t)tags;
    }
    p->ether_type = ether_type;
    p->l3_offset = offset;
    if (ether_type == 0x0800)
        return parse_ipv4(f + offset, len - offset, offset, p);
    return DROP_NONE;
}

/* ---- FlowHash.Symmetric, only to split the flows between workers exactly as fastpath-throughput does. ---- */

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 product = (unsigned __int128)a * b;
    return (uint64_t)(product >> 64) ^ (uint64_t)product;
}

static uint32_t flow_hash_symmetric(const struct packet *p)
{
    uint64_t au = p->src[0], al = p->src[1], bu = p->dst[0], bl = p->dst[1], t;
    uint32_t ap = p->sport, bp = p->dport, tp;
    bool swap = au != bu ? au > bu : al != bl ? al > bl : ap > bp;
    if (swap) {
        t = au, au = bu, bu = t;
        t = al, al = bl, bl = t;
        tp = ap, ap = bp, bp = tp;
    }
    uint64_t rest = (uint64_t)ap << 48 | (uint64_t)bp << 32 | (uint64_t)p->protocol << 8 | p->l3;
    uint64_t h = mix(au ^ 0xA0761D6478BD642Full, al ^ 0xE7037ED1A0B428DBull);
    h ^= mix(bu ^ 0x8EBC6AF09C88C6E3ull, bl ^ 0x589965CC75374CC3ull);
    h = mix(h ^ 0xE7037ED1A0B428DBull, rest ^ 0xA0761D6478BD642Full);
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- The recent table: the kernel's xt_recent data structure, preallocated. ---- */

enum recent_command { RECENT_NONE, RECENT_SET, RECENT_CHECK, RECENT_UPDATE, RECENT_REMOVE };

struct recent_match {
    enum recent_command command;
    uint32_t seconds, hit_count, table;
    bool rttl, reap, destination;
};

/* The kernel's struct recent_entry with the links as indices into one preallocated array (a free entry is
 * chained through hash_next). Its ring of stamps lives in a separate array, not after the entry as in the
 * kernel: a hash-chain walk then touches only these 40-byte headers, and each ring is a line-aligned block
 * whose first stamps share one cache line. On the 1M-flow mix this ran 1.4-1.9x faster than the kernel's layout. */
struct recent_entry {
    uint64_t addr[2];
    uint32_t hash_next, lru_prev, lru_next;
    uint16_t index;                           /* next ring slot to write, 1-based as in the kernel */
    uint16_t nstamps;
    uint8_t ttl;
    bool ipv6;
};

struct recent_table {
    struct recent_entry *entries;
    uint64_t *stamps;                         /* entry e's ring: stamps[e * slots .. (e + 1) * slots) */
    uint32_t *buckets;
    uint32_t slots, bucket_mask, capacity, count, free, lru_head, lru_tail;
    uint64_t mask[2];                         /* --mask: always all ones here */
};

static inline struct recent_entry *entry_at(const struct recent_table *t, uint32_t e) { return &t->entries[e]; }

static inline uint64_t *ring_of(const struct recent_table *t, uint32_t e) { return &t->stamps[(size_t)e * t->slots]; }

/* The same hash as FastPath's InetAddress.GetHashCode, so both tables have the same chains. */
static inline uint32_t bucket_of(const struct recent_table *t, const uint64_t a[2], bool ipv6)
{
    uint64_t h = (a[0] ^ (a[1] << 29 | a[1] >> 35)) * 0x9E3779B97F4A7C15ull;
    return ((uint32_t)(h ^ (h >> 32)) ^ (ipv6 ? 0x5bd1e995u : 0)) & t->bucket_mask;
}

/* The kernel's time_after(a, b), wrap-safe. */
static inline bool time_after(uint64_t a, uint64_t b) { return (int64_t)(b - a) < 0; }

static void recent_init(struct recent_table *t, uint32_t capacity, uint32_t slots)
{
    uint32_t buckets = 1;
    while (buckets <= capacity)               /* the kernel's 1 << fls(ip_list_tot) */
        buckets <<= 1;
    t->entries = xcalloc(capacity, sizeof(struct recent_entry));
    t->stamps = aligned_alloc(64, ((size_t)capacity * slots * sizeof(uint64_t) + 63) & ~(size_t)63);
    if (t->stamps == NULL)
        die("out of memory");
    t->buckets = xcalloc(buckets, sizeof(uint32_t));
    t->bucket_mask = buckets - 1;
    t->slots = slots;
    t->capacity = capacity;
    t->mask[0] = t->mask[1] = ~0ull;
    for (uint32_t b = 0; b < buckets; b++)
        t->buckets[b] = NONE;
    for (uint32_t e = 0; e < capacity; e++)
        entry_at(t, e)->hash_next = e + 1 < capacity ? e + 1 : NONE;
    t->free = 0;
    t->count = 0;
    t->lru_head = t->lru_tail = NONE;
}

/* recent_entry_lookup: a TTL of 0 on either side is a wildcard. */
static uint32_t recent_lookup(const struct recent_table *t, const uint64_t key[2], bool ipv6, uint8_t ttl)
{
    for (uint32_t e = t->buckets[bucket_of(t, key, ipv6)]; e != NONE;) {
        const struct recent_entry *en = entry_at(t, e);
        if (en->ipv6 == ipv6 && en->addr[0] == key[0] && en->addr[1] == key[1]
            && (ttl == en->ttl || ttl == 0 || en->ttl == 0))
            return e;
        e = en->hash_next;
    }
    return NONE;
}

static void lru_link_tail(struct recent_table *t, uint32_t e)
{
    struct recent_entry *en = entry_at(t, e);
    en->lru_prev = t->lru_tail;
    en->lru_next = NONE;
    if (t->lru_tail != NONE)
        entry_at(t, t->lru_tail)->lru_next = e;
    else
        t->lru_head = e;
    t->lru_tail = e;
}

static void lru_unlink(struct recent_table *t, uint32_t e)
{
    struct recent_entry *en = entry_at(t, e);
    if (en->lru_prev != NONE)
        entry_at(t, en->lru_prev)->lru_next = en->lru_next;
    else
        t->lru_head = en->lru_next;
    if (en->lru_next != NONE)
        entry_at(t, en->lru_next)->lru_prev = en->lru_prev;
    else
        t->lru_tail = en->lru_prev;
}

static void recent_remove(struct recent_table *t, uint32_t e)
{
    struct recent_entry *en = entry_at(t, e);
    uint32_t *link = &t->buckets[bucket_of(t, en->addr, en->ipv6)];
    while (*link != e)
        link = &entry_at(t, *link)->hash_next;
    *link = en->hash_next;
    lru_unlink(t, e);
    en->hash_next = t->free;
    t->free = e;
    t->count--;
}

/* recent_entry_init: evicts the least recently used entry when the table is full. */
static void recent_insert(struct recent_table *t, const uint64_t key[2], bool ipv6, uint8_t ttl, uint64_t now)
{
    if (t->count >= t->capacity)
        recent_remove(t, t->lru_head);
    uint32_t e = t->free;
    struct recent_entry *en = entry_at(t, e);
    t->free = en->hash_next;
    en->addr[0] = key[0];
    en->addr[1] = key[1];
    en->ipv6 = ipv6;
    en->ttl = ttl;
    en->index = 1;
    en->nstamps = 1;
    ring_of(t, e)[0] = now;
    uint32_t *bucket = &t->buckets[bucket_of(t, key, ipv6)];
    en->hash_next = *bucket;
    *bucket = e;
    lru_link_tail(t, e);
    t->count++;
}

/* recent_entry_update: the next ring slot gets now; the entry becomes the most recently used. */
static void recent_touch(struct recent_table *t, uint32_t e, uint64_t now)
{
    struct recent_entry *en = entry_at(t, e);
    uint32_t slot = en->index & (t->slots - 1);
    ring_of(t, e)[slot] = now;
    en->index = (uint16_t)(slot + 1);
    if (en->index > en->nstamps)
        en->nstamps = en->index;
    lru_unlink(t, e);
    lru_link_tail(t, e);
}

/* recent_entry_reap: only the LRU head is looked at, and spared if it is the entry about to be refreshed. */
static void recent_reap(struct recent_table *t, uint64_t oldest, uint32_t working, bool spare)
{
    uint32_t e = t->lru_head;
    if (e == working && spare)
        return;
    struct recent_entry *en = entry_at(t, e);
    if (time_after(oldest, ring_of(t, e)[(en->index - 1) & (t->slots - 1)]))
        recent_remove(t, e);
}

/* recent_mt: whether the match matches, updating the table as the kernel does. */
static bool recent_match(struct recent_table *t, const struct recent_match *m, const uint64_t addr[2], bool ipv6,
                         uint8_t ttl, uint64_t now)
{
    bool matched = false;                     /* no '!' in the rules this program reads */
    uint64_t key[2] = { addr[0] & t->mask[0], addr[1] & t->mask[1] };
    uint32_t e = recent_lookup(t, key, ipv6, m->rttl ? ttl : 0);
    if (e == NONE) {
        if (m->command != RECENT_SET)
            return matched;
        recent_insert(t, key, ipv6, ttl, now);
        return !matched;
    }
    struct recent_entry *en = entry_at(t, e);
    if (m->command == RECENT_SET) {
        matched = !matched;
    } else if (m->command == RECENT_REMOVE) {
        recent_remove(t, e);
        return !matched;
    } else {
        /* seconds * HZ is a 32-bit product in the kernel */
        uint64_t oldest = now - (uint32_t)(m->seconds * HZ);
        const uint64_t *stamps = ring_of(t, e);
        uint32_t hits = 0;
        for (uint32_t i = 0; i < en->nstamps; i++) {
            if (m->seconds != 0 && time_after(oldest, stamps[i]))
                continue;
            if (m->hit_count == 0 || ++hits >= m->hit_count) {
                matched = !matched;
                break;
            }
        }
        if (m->reap)
            recent_reap(t, oldest, e, m->command == RECENT_UPDATE && matched);
    }
    /* --update refreshes on the result, --set always */
    if (m->command == RECENT_SET || (m->command == RECENT_UPDATE && matched)) {
        recent_touch(t, e, now);
        en->ttl = ttl;
    }
    return matched;
}

/* ---- Connection tracking: one worker's table of TCP connections, as nf_conntrack_proto_tcp.c tracks them. ---- */

enum { CT_INVALID = 1, CT_ESTABLISHED = 2, CT_RELATED = 4, CT_NEW = 8, CT_UNTRACKED = 64 };   /* XT_CONNTRACK_STATE bits */
enum { CT_SEEN_REPLY = 1, CT_ASSURED = 2 };
enum { DIR_ORIGINAL, DIR_REPLY };
enum { sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2, sIV, sIG };
enum { TCP_SYN, TCP_SYNACK, TCP_FIN, TCP_ACK, TCP_RST, TCP_NONE };
enum { TCP_TIMEOUT_RETRANS = 10, TCP_TIMEOUT_UNACK = 11 };
enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10 };

/* The flags of struct ip_ct_tcp_state (IP_CT_TCP_FLAG_*), and the two the kernel keeps in last_flags only. */
enum {
    TF_WINDOW_SCALE = 0x01, TF_SACK_PERM = 0x02, TF_CLOSE_INIT = 0x04, TF_BE_LIBERAL = 0x08,
    TF_DATA_UNACKNOWLEDGED = 0x10, TF_MAXACK_SET = 0x20, TF_EXP_CHALLENGE_ACK = 0x40, TF_SIMULTANEOUS_OPEN = 0x80,
};

#define TCP_MAX_RETRANS 3                     /* nf_conntrack_tcp_max_retrans */
#define MAXACKWINCONST 66000
#define TCP_MAX_WSCALE 14

/* tcp_conntracks[dir][flag index][state] of nf_conntrack_proto_tcp.c. */
static const uint8_t tcp_conntracks[2][6][10] = {
    {
        { sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2 },
        { sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR },
        { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
        { sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV },
        { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
        { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
    },
    {
        { sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2 },
        { sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
        { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
        { sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG },
        { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
        { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
    },
};

/* tcp_valid_flags, indexed by the flags without ECE, CWR and PSH. */
static const uint8_t tcp_valid_flags[0x38] = {
    [0x02] = 1, [0x04] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x14] = 1, [0x22] = 1, [0x30] = 1, [0x31] = 1,
};

/* Timeouts in seconds by TCP state (NONE reads SYN_SENT's, then RETRANS and UNACK): the kernel's defaults, and
 * the policy 'bench' that fastpath-throughput creates for -j CT --timeout bench. */
static const struct ct_policy {
    const char *name;
    uint32_t tcp[12];
} ct_policies[] = {
    { "", { 120, 120, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 300 } },
    { "bench", { 120, 120, 60, 300, 120, 60, 30, 120, 10, 120, 300, 300 } },
};

/* struct ip_ct_tcp_state: what the tracker knows of one side's sequence space. */
struct tcp_peer {
    uint32_t end, maxend, maxwin, maxack;     /* td_end, td_maxend, td_maxwin, td_maxack */
    uint8_t scale, flags;                     /* td_scale, TF_* */
};

/* struct ip_ct_tcp: the state, both sides, and the last packet seen (retransmissions, ignored packets). */
struct tcp_ct {
    struct tcp_peer seen[2];                  /* original, reply */
    uint32_t last_seq, last_ack, last_end;
    uint16_t last_win;
    uint8_t state, last_dir, last_index, last_wscale, last_flags, retrans;
};

/* 128 bytes, two cache lines: the lookup (tuple, chain, deadline) in the first 32 bytes, then the TCP state and
 * the counters, all of which a packet of the connection updates. */
struct ct_entry {
    uint32_t src, dst;                        /* the original direction's tuple */
    uint16_t sport, dport;
    uint8_t protocol, status, policy;
    uint32_t next;                            /* bucket chain, or free list */
    uint64_t deadline;                        /* jiffies */
    struct tcp_ct tcp;
    uint64_t packets[2], bytes[2];            /* original, reply */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct ct_entry) == 128, "a connection is two cache lines");

struct ct_table {
    struct ct_entry *entries;
    uint32_t *buckets;
    uint32_t mask, capacity, count, free;
    uint64_t table_full;
};

struct ct_result {
    uint8_t state;                            /* a CT_* bit */
    bool unconfirmed, table_full;
    uint32_t entry, hash;
};

/* The TCP header fields the tracker reads beyond what the parser keeps (FastPath's TcpSegment). */
struct tcp_segment {
    uint32_t seq, ack, end;                   /* end: the kernel's segment_seq_plus_len */
    uint16_t win;
    uint8_t flags;
    uint32_t options_len;
    const uint8_t *options;
};

/* What the tracker makes of a packet of a connection, and the timeout (jiffies) when refresh is set. */
enum { TV_ACCEPT, TV_IGNORE, TV_INVALID, TV_ACCEPT_KILL, TV_REOPEN };
struct tcp_outcome {
    uint8_t verdict;
    bool refresh;
    uint32_t timeout;
};

enum { WIN_ACCEPT, WIN_IGNORE, WIN_INVALID };

static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The kernel's before() and after() on sequence numbers, wrap-safe. */
static inline bool seq_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_after(uint32_t a, uint32_t b) { return (int32_t)(b - a) < 0; }

static void ct_init(struct ct_table *t, uint32_t capacity)
{
    uint32_t buckets = 1;
    while (buckets < capacity)
        buckets <<= 1;
    t->entries = huge_table(capacity, sizeof *t->entries);
    t->buckets = huge_table(buckets, sizeof *t->buckets);
    memset(t->buckets, 0xff, buckets * sizeof *t->buckets);
    for (uint32_t e = 0; e < capacity; e++)
        t->entries[e].next = e + 1 < capacity ? e + 1 : NONE;
    t->mask = buckets - 1;
    t->capacity = capacity;
    t->free = 0;
}

/* The same for a tuple and its reverse: sum and xor of the two endpoints do not depend on their order. */
static inline uint32_t ct_hash(uint32_t a, uint16_t a_port, uint32_t b, uint16_t b_port, uint8_t protocol)
{
    uint64_t x = (uint64_t)a << 16 | a_port, y = (uint64_t)b << 16 | b_port;
    uint64_t h = mix((x + y) ^ 0xE7037ED1A0B428DBull, (x ^ y ^ protocol) ^ 0x8EBC6AF09C88C6E3ull);
    return (uint32_t)(h ^ (h >> 32));
}

/* get_conntrack_index: RST wins, then SYN (with or without ACK), then FIN, then ACK. */
static inline uint8_t tcp_index(uint8_t flags)
{
    if (flags & TH_RST)
        return TCP_RST;
    if (flags & TH_SYN)
        return flags & TH_ACK ? TCP_SYNACK : TCP_SYN;
    if (flags & TH_FIN)
        return TCP_FIN;
    return flags & TH_ACK ? TCP_ACK : TCP_NONE;
}

/* A timeout of the connection's policy in jiffies, by kernel index (a state, RETRANS or UNACK). */
static inline uint32_t tcp_jiffies(const struct ct_entry *c, int index) { return ct_policies[c->policy].tcp[index] * HZ; }

static void read_segment(const uint8_t *frame, const struct packet *p, struct tcp_segment *s)
{
    const uint8_t *tcp = frame + p->l4_offset;
    s->flags = p->tcp_flags;
    s->seq = be32(tcp + 4);
    s->ack = be32(tcp + 8);
    s->win = be16(tcp + 14);
    s->end = s->seq + (p->l4_length - p->tcp_header_length) + (s->flags & TH_SYN ? 1 : 0) + (s->flags & TH_FIN ? 1 : 0);
    s->options = tcp + 20;
    s->options_len = p->tcp_header_length - 20;
}

/* The option at *at, stepping over NOPs; false at the end-of-list option or where a length runs past the options. */
static bool next_option(const struct tcp_segment *s, uint32_t *at, const uint8_t **option, uint32_t *size)
{
    const uint8_t *o = s->options;
    uint32_t i = *at, len = s->options_len;
    while (i < len && o[i] == 1)
        i++;
    if (i >= len || o[i] == 0 || len - i < 2)
        return false;
    uint32_t n = o[i + 1];
    if (n < 2 || n > len - i)
        return false;
    *option = o + i;
    *size = n;
    *at = i + n;
    return true;
}

/* tcp_options: window scale and SACK-permitted. */
static void tcp_options(const struct tcp_segment *s, struct tcp_peer *peer)
{
    const uint8_t *o;
    uint32_t n, at = 0;
    if (s->options_len == 0)
        return;
    peer->scale = 0;
    peer->flags &= TF_BE_LIBERAL;
    while (next_option(s, &at, &o, &n)) {
        if (o[0] == 4 && n == 2) {
            peer->flags |= TF_SACK_PERM;
        } else if (o[0] == 3 && n == 3) {
            peer->scale = o[2] < TCP_MAX_WSCALE ? o[2] : TCP_MAX_WSCALE;
            peer->flags |= TF_WINDOW_SCALE;
        }
    }
}

/* tcp_sack: the highest right edge among the blocks of the first well-formed SACK option. */
static uint32_t tcp_sack(const struct tcp_segment *s, uint32_t sack)
{
    const uint8_t *o;
    uint32_t n, at = 0;
    while (next_option(s, &at, &o, &n)) {
        if (o[0] == 5 && n >= 10 && (n - 2) % 8 == 0) {
            for (uint32_t block = 2; block < n; block += 8) {
                uint32_t right = be32(o + block + 4);
                if (seq_after(right, sack))
                    sack = right;
            }
            break;
        }
    }
    return sack;
}

/* tcp_new: whether a first packet may open a connection, and the original side's window. A SYN opens one; with
 * nf_conntrack_tcp_loose = 1 so does an ACK, picking the connection up mid-stream with both sides liberal. */
static bool tcp_new(struct tcp_ct *tcp, const struct tcp_segment *s)
{
    uint8_t next = tcp_conntracks[DIR_ORIGINAL][tcp_index(s->flags)][sNO];
    if (next >= sIV)
        return false;
    struct tcp_peer *sender = &tcp->seen[DIR_ORIGINAL];
    sender->end = s->end;
    sender->maxwin = s->win ? s->win : 1;
    if (next == sSS) {
        sender->maxend = sender->end;
        tcp_options(s, sender);
    } else {
        sender->maxend = sender->end + sender->maxwin;
        tcp->seen[0].flags = tcp->seen[1].flags = TF_SACK_PERM | TF_BE_LIBERAL;
    }
    tcp->last_index = TCP_NONE;
    return true;
}

static void tcp_init_sender(struct tcp_peer *sender, struct tcp_peer *receiver, const struct tcp_segment *s, uint32_t end,
                            uint32_t win, int dir)
{
    sender->end = sender->maxend = end;
    sender->maxwin = win ? win : 1;
    tcp_options(s, sender);
    /* RFC 1323: scaling applies only when both sides offered it */
    if (dir == DIR_REPLY && !((sender->flags & TF_WINDOW_SCALE) && (receiver->flags & TF_WINDOW_SCALE)))
        sender->scale = receiver->scale = 0;
}

/* tcp_in_window, with no NAT sequence offset. */
static int tcp_in_window(struct tcp_ct *tcp, int dir, uint8_t index, const struct tcp_segment *s)
{
    struct tcp_peer *sender = &tcp->seen[dir], *receiver = &tcp->seen[!dir];
    uint32_t seq = s->seq, ack = s->ack, sack = ack, win = s->win, end = s->end;

    if ((receiver->flags & TF_SACK_PERM) && s->options_len)
        sack = tcp_sack(s, sack);

    if (sender->maxwin == 0) {
        if (s->flags & TH_SYN) {
            tcp_init_sender(sender, receiver, s, end, win, dir);
            if (!(s->flags & TH_ACK))
                return WIN_ACCEPT;            /* simultaneous open */
        } else {
            /* mid-connection: its history is lost to us, so take what this packet says */
            sender->end = end;
            uint32_t scaled = win << sender->scale;
            sender->maxwin = scaled ? scaled : 1;
            sender->maxend = end + sender->maxwin;
            if (receiver->maxwin == 0)
                receiver->end = receiver->maxend = sack;
            else if (sack == receiver->end + 1)
                receiver->end++;              /* a reply to a keepalive */
        }
    } else if ((s->flags & TH_SYN) && seq_after(end, sender->end) && (tcp->state == sSS || tcp->state == sSR)) {
        /* RFC 793: a reinitialised TCP may use larger sequence numbers at once; start this side over */
        tcp_init_sender(sender, receiver, s, end, win, dir);
        if (dir == DIR_REPLY && !(s->flags & TH_ACK))
            return WIN_ACCEPT;
    }

    if (!(s->flags & TH_ACK))
        ack = sack = receiver->end;
    else if ((s->flags & (TH_ACK | TH_RST)) == (TH_ACK | TH_RST) && ack == 0)
        ack = sack = receiver->end;           /* broken stacks send RST|ACK with a zero ack */

    if ((s->flags & TH_RST) && seq == 0 && tcp->state == sSS)
        seq = end = sender->end;              /* RST answering a SYN */

    bool liberal = sender->flags & TF_BE_LIBERAL;
    uint32_t maxackwin = sender->maxwin > MAXACKWINCONST ? sender->maxwin : MAXACKWINCONST;
    if (!seq_before(seq, sender->maxend + 1)) {
        uint32_t overshot = end - sender->maxend + 1;
        bool ack_ok = seq_after(sack, receiver->end - maxackwin - 1);
        bool in_recv_win = receiver->maxwin != 0 && seq_after(end, sender->end - receiver->maxwin - 1);
        if (in_recv_win && ack_ok && overshot <= receiver->maxwin && seq_before(sack, receiver->end + 1)) {
            /* more than the window allows: remember it so the ACK for it is not over the bound */
            sender->end = end;
            sender->flags |= TF_DATA_UNACKNOWLEDGED;
            return liberal ? WIN_ACCEPT : WIN_IGNORE;
        }
        return liberal ? WIN_ACCEPT : WIN_INVALID;                   /* SEQ is over the upper bound */
    }
    if (!seq_before(sack, receiver->end + 1))
        return liberal ? WIN_ACCEPT : WIN_INVALID;                   /* ACK is over the upper bound */
    if (receiver->maxwin != 0 && !seq_after(end, sender->end - receiver->maxwin - 1))
        return liberal ? WIN_ACCEPT : WIN_IGNORE;                    /* already acknowledged data retransmitted */
    if (!seq_after(sack, receiver->end - maxackwin - 1))
        return liberal ? WIN_ACCEPT : WIN_IGNORE;                    /* an overly delayed ACK */

    if (!(s->flags & TH_SYN))
        win <<= sender->scale;
    uint32_t scaled = win + (sack - ack);
    if (sender->maxwin < scaled)
        sender->maxwin = scaled;
    if (seq_after(end, sender->end)) {
        sender->end = end;
        sender->flags |= TF_DATA_UNACKNOWLEDGED;
    }
    if (s->flags & TH_ACK) {
        if (!(sender->flags & TF_MAXACK_SET)) {
            sender->maxack = ack;
            sender->flags |= TF_MAXACK_SET;
        } else if (seq_after(ack, sender->maxack)) {
            sender->maxack = ack;
        }
    }
    if (receiver->maxwin != 0 && seq_after(end, sender->maxend))
        receiver->maxwin += end - sender->maxend;
    if (seq_after(sack + win, receiver->maxend - 1)) {
        receiver->maxend = sack + win;
        if (win == 0)
            receiver->maxend++;
    }
    if (ack == receiver->end)
        receiver->flags &= (uint8_t)~TF_DATA_UNACKNOWLEDGED;

    /* the same ACK segment again: a retransmission, counted towards the RETRANS timeout (a u8: it wraps) */
    if (index == TCP_ACK) {
        if (tcp->last_dir == dir && tcp->last_seq == seq && tcp->last_ack == ack && tcp->last_end == end
            && tcp->last_win == s->win) {
            tcp->retrans++;
        } else {
            tcp->last_dir = (uint8_t)dir;
            tcp->last_seq = seq;
            tcp->last_ack = ack;
            tcp->last_end = end;
            tcp->last_win = s->win;
            tcp->retrans = 0;
        }
    }
    return WIN_ACCEPT;
}

/* tcp_can_early_drop: the closing states. */
static inline bool tcp_closing(uint8_t state)
{
    return state == sFW || state == sLA || state == sTW || state == sCL || state == sCW;
}

/* The SYN/ACK answers a SYN we ignored: the ignored side's state is taken from what was recorded of it, and the
 * answering side starts over. */
static void tcp_resync(struct tcp_ct *tcp, struct tcp_peer *sender)
{
    struct tcp_peer *last = &tcp->seen[tcp->last_dir];
    last->end = last->maxend = tcp->last_end;
    last->maxwin = tcp->last_win ? tcp->last_win : 1;
    last->scale = tcp->last_wscale;
    tcp->last_flags &= (uint8_t)~TF_EXP_CHALLENGE_ACK;
    last->flags = tcp->last_flags;
    *sender = (struct tcp_peer){ .flags = sender->flags & TF_BE_LIBERAL };
}

/* What an ignored packet leaves behind (the last_* fields), for the packet that may prove it right. */
static void tcp_record_ignored(struct tcp_ct *tcp, int dir, uint8_t index, uint8_t old, const struct tcp_segment *s)
{
    tcp->last_index = index;
    tcp->last_dir = (uint8_t)dir;
    tcp->last_seq = s->seq;
    tcp->last_end = s->end;
    tcp->last_win = s->win;
    if (index == TCP_SYN && dir == DIR_ORIGINAL) {
        struct tcp_peer seen = { 0 };
        tcp_options(s, &seen);
        tcp->last_flags = seen.flags & (TF_WINDOW_SCALE | TF_SACK_PERM);
        tcp->last_wscale = seen.flags & TF_WINDOW_SCALE ? seen.scale : 0;
        if (old == sLA)
            tcp->last_flags |= TF_EXP_CHALLENGE_ACK;
    }
    if (old == sSS && index == TCP_ACK && dir == DIR_REPLY)
        tcp->last_ack = s->ack;
}

/* nf_tcp_handle_invalid: an assured connection answered out of window by a FIN or RST from both sides in turn
 * drops to the UNACK timeout. */
static struct tcp_outcome tcp_handle_invalid(struct ct_entry *c, int dir, uint8_t index, uint64_t now)
{
    struct tcp_ct *tcp = &c->tcp;
    if (!(c->status & CT_ASSURED) || (index != TCP_RST && index != TCP_FIN))
        return (struct tcp_outcome){ .verdict = TV_INVALID };
    if (tcp->last_dir != dir && (tcp->last_index == TCP_FIN || tcp->last_index == TCP_RST)) {
        uint32_t unack = tcp_jiffies(c, TCP_TIMEOUT_UNACK);
        uint64_t left = (int64_t)(c->deadline - now) > 0 ? c->deadline - now : 0;
        if (left >= 120 * HZ && left > unack)
            return (struct tcp_outcome){ .verdict = TV_INVALID, .refresh = true, .timeout = unack };
    } else {
        tcp->last_index = index;
        tcp->last_dir = (uint8_t)dir;
    }
    return (struct tcp_outcome){ .verdict = TV_INVALID };
}

/* nf_conntrack_tcp_packet after the flag check: the state table, the window check and the timeout. The status
 * is as it was before this packet (the caller sets SEEN_REPLY after an accepted reply); ASSURED is set here. */
static struct tcp_outcome tcp_packet(struct ct_entry *c, int dir, const struct tcp_segment *s, uint64_t now)
{
    struct tcp_ct *tcp = &c->tcp;
    struct tcp_peer *sender = &tcp->seen[dir], *receiver = &tcp->seen[!dir];
    uint8_t old = tcp->state, index = tcp_index(s->flags), next = tcp_conntracks[dir][index][old];
    bool skip_window = false;

    switch (next) {
    case sSS:
    case sIG:
        if (next == sSS && old < sTW)
            break;
        if (next == sSS
            && (((sender->flags | receiver->flags) & TF_CLOSE_INIT) || (tcp->last_dir == dir && tcp->last_index == TCP_RST)))
            return (struct tcp_outcome){ .verdict = TV_REOPEN };
        if (index == TCP_SYNACK && tcp->last_index == TCP_SYN && tcp->last_dir != dir && s->ack == tcp->last_end) {
            tcp_resync(tcp, sender);
            old = sSS;
            next = sSR;
            break;
        }
        tcp_record_ignored(tcp, dir, index, old, s);
        return (struct tcp_outcome){ .verdict = TV_IGNORE };
    case sIV:
        return (struct tcp_outcome){ .verdict = TV_INVALID };
    case sTW:
        /* an RFC 5961 challenge ACK answering a SYN in LAST_ACK does not acknowledge the last FIN */
        if (old == sLA && index == TCP_ACK && tcp->last_dir != dir && tcp->last_index == TCP_SYN
            && (tcp->last_flags & TF_EXP_CHALLENGE_ACK)) {
            tcp->last_flags &= (uint8_t)~TF_EXP_CHALLENGE_ACK;
            return (struct tcp_outcome){ .verdict = TV_ACCEPT };
        }
        break;
    case sS2:
        tcp->last_flags |= TF_SIMULTANEOUS_OPEN;
        break;
    case sSR:
        if (dir == DIR_REPLY && index == TCP_ACK && (tcp->last_flags & TF_SIMULTANEOUS_OPEN))
            next = sES;
        break;
    case sCL:
        if (index != TCP_RST)
            break;
        if (tcp_closing(old)) {
            skip_window = true;
            break;
        }
        if ((receiver->flags & TF_MAXACK_SET) && tcp->last_index != TCP_SYN) {
            uint32_t seq = s->seq;
            bool established = old == sES && (c->status & CT_ASSURED);
            if (seq == 0 && !established)
                break;
            if (seq_before(seq, receiver->maxack))
                return (struct tcp_outcome){ .verdict = TV_INVALID };
            if (!established || seq == receiver->maxack)
                break;
            if (tcp->last_index == TCP_ACK && tcp->last_dir == dir && seq == tcp->last_end)
                break;
            next = old;                       /* not an exact match: keep the state to allow a challenge ACK */
        }
        /* RST answering a SYN or ACK we let through; Linux 6.18 takes the SYN case only from the other side */
        if ((((c->status & CT_SEEN_REPLY) && tcp->last_index == TCP_SYN && tcp->last_dir != dir)
             || (!(c->status & CT_ASSURED) && tcp->last_index == TCP_ACK))
            && s->ack == tcp->last_end) {
            skip_window = true;
            break;
        }
        if (old == sSS && tcp->last_index == TCP_ACK && tcp->last_dir == DIR_REPLY && s->seq == tcp->last_ack)
            skip_window = true;               /* RST answering a challenge ACK we let through */
        break;
    }

    if (!skip_window) {
        int w = tcp_in_window(tcp, dir, index, s);
        if (w == WIN_IGNORE)
            return (struct tcp_outcome){ .verdict = TV_IGNORE };
        if (w == WIN_INVALID)
            return tcp_handle_invalid(c, dir, index, now);
    }

    tcp->last_index = index;
    tcp->last_dir = (uint8_t)dir;
    tcp->state = next;
    if (old != next && next == sFW)
        tcp->seen[dir].flags |= TF_CLOSE_INIT;

    uint32_t state_timeout = tcp_jiffies(c, next), timeout;
    if (tcp->retrans >= TCP_MAX_RETRANS && state_timeout > tcp_jiffies(c, TCP_TIMEOUT_RETRANS))
        timeout = tcp_jiffies(c, TCP_TIMEOUT_RETRANS);
    else if (index == TCP_RST)
        timeout = tcp_jiffies(c, sCL);
    else if (((tcp->seen[0].flags | tcp->seen[1].flags) & TF_DATA_UNACKNOWLEDGED)
             && state_timeout > tcp_jiffies(c, TCP_TIMEOUT_UNACK))
        timeout = tcp_jiffies(c, TCP_TIMEOUT_UNACK);
    else if (tcp->last_win == 0 && state_timeout > tcp_jiffies(c, TCP_TIMEOUT_RETRANS))
        timeout = tcp_jiffies(c, TCP_TIMEOUT_RETRANS);
    else
        timeout = state_timeout;

    if (!(c->status & CT_SEEN_REPLY)) {
        if (s->flags & TH_RST)                /* only a RST came back: not a connection worth keeping */
            return (struct tcp_outcome){ .verdict = TV_ACCEPT_KILL };
        if (index == TCP_SYN && old == sSS)   /* a retransmitted SYN does not renew the timer */
            return (struct tcp_outcome){ .verdict = TV_ACCEPT };
        if (next == sES && timeout > tcp_jiffies(c, TCP_TIMEOUT_UNACK))
            timeout = tcp_jiffies(c, TCP_TIMEOUT_UNACK);   /* picked up mid-stream, unanswered */
    } else if (!(c->status & CT_ASSURED) && (old == sSR || old == sES) && next == sES) {
        c->status |= CT_ASSURED;
    }
    return (struct tcp_outcome){ .verdict = TV_ACCEPT, .refresh = true, .timeout = timeout };
}

static void ct_free(struct ct_table *t, uint32_t e)
{
    t->entries[e].next = t->free;
    t->free = e;
    t->count--;
}

static void ct_confirm(struct ct_table *t, uint32_t e, uint32_t hash)
{
    uint32_t *head = &t->buckets[hash & t->mask];
    t->entries[e].next = *head;
    *head = e;
}

/* A new connection for the packet, held unconfirmed; INVALID when its first packet cannot open one. */
static struct ct_result ct_create(struct ct_table *t, const struct packet *p, const struct tcp_segment *s, uint32_t hash,
                                  uint8_t policy, uint64_t now)
{
    struct ct_result r = { .state = CT_INVALID, .entry = NONE, .hash = hash };
    if (t->count == t->capacity) {
        t->table_full++;
        r.table_full = true;
        return r;
    }
    uint32_t e = t->free;
    struct ct_entry *c = &t->entries[e];
    t->free = c->next;
    t->count++;
    *c = (struct ct_entry){ .src = (uint32_t)p->src[0], .dst = (uint32_t)p->dst[0], .sport = p->sport,
                            .dport = p->dport, .protocol = 6, .policy = policy, .next = NONE };
    struct tcp_outcome o;
    if (!tcp_new(&c->tcp, s) || (o = tcp_packet(c, DIR_ORIGINAL, s, now)).verdict == TV_INVALID || o.verdict == TV_REOPEN) {
        ct_free(t, e);
        return r;
    }
    c->deadline = now + o.timeout;
    c->packets[0] = 1;
    c->bytes[0] = p->ip_length;
    r.state = CT_NEW;
    r.entry = e;
    r.unconfirmed = true;
    return r;
}

/* nf_conntrack_in for TCP: the flag check, then the connection in either direction (an expired one is freed on
 * the way), or a new one held unconfirmed; the tracker's verdict decides what the packet is. */
static struct ct_result ct_track(struct ct_table *t, const uint8_t *frame, const struct packet *p, uint8_t policy, uint64_t now)
{
    struct ct_result r = { .state = CT_INVALID, .entry = NONE };
    /* tcp_error: the flags, and the checksum as nf_conntrack_checksum 1 (the default) asks at PREROUTING. */
    if (p->l4 != L4_TCP || !tcp_valid_flags[p->tcp_flags & 0x37]
        || checksum_fold(tcp_pseudo_sum(frame + p->l3_offset, p->l4_length) + checksum_sum(frame + p->l4_offset, p->l4_length)) != 0xffff)
        return r;
    struct tcp_segment s;
    read_segment(frame, p, &s);
    uint32_t src = (uint32_t)p->src[0], dst = (uint32_t)p->dst[0];
    uint32_t hash = ct_hash(src, p->sport, dst, p->dport, 6);
    uint32_t *link = &t->buckets[hash & t->mask];
    for (uint32_t e = *link; e != NONE; e = *link) {
        struct ct_entry *c = &t->entries[e];
        int dir;
        if (c->src == src && c->dst == dst && c->sport == p->sport && c->dport == p->dport)
            dir = DIR_ORIGINAL;
        else if (c->src == dst && c->dst == src && c->sport == p->dport && c->dport == p->sport)
            dir = DIR_REPLY;
        else {
            link = &c->next;
            continue;
        }
        if ((int64_t)(c->deadline - now) <= 0) {   /* expired: a packet never revives it */
            *link = c->next;
            ct_free(t, e);
            break;
        }
        r.state = dir == DIR_REPLY || (c->status & CT_SEEN_REPLY) ? CT_ESTABLISHED : CT_NEW;
        struct tcp_outcome o = tcp_packet(c, dir, &s, now);
        switch (o.verdict) {
        case TV_ACCEPT:
        case TV_IGNORE:
            if (o.refresh) {
                c->deadline = now + o.timeout;
                c->packets[dir]++;
                c->bytes[dir] += p->ip_length;
            }
            if (dir == DIR_REPLY)
                c->status |= CT_SEEN_REPLY;
            r.entry = e;
            return r;
        case TV_INVALID:
            if (o.refresh)
                c->deadline = now + o.timeout;
            r.state = CT_INVALID;
            return r;
        case TV_ACCEPT_KILL:                  /* the packet keeps its state; the connection is gone */
            c->packets[dir]++;
            c->bytes[dir] += p->ip_length;
            *link = c->next;
            ct_free(t, e);
            return r;
        default:                              /* TV_REOPEN: a SYN starts a new connection over a closed one */
            *link = c->next;
            ct_free(t, e);
            return ct_create(t, p, &s, hash, policy, now);
        }
    }
    return ct_create(t, p, &s, hash, policy, now);
}

/* ---- The ruleset: raw PREROUTING and filter FORWARD of an iptables-save file, with the matches the benchmarks use. ---- */

enum target { TARGET_ACCEPT, TARGET_DROP, TARGET_CT };

struct rule {
    uint8_t protocol;                         /* 0: any */
    bool has_dport, has_recent;
    uint16_t dport_first, dport_last;         /* -m tcp --dport */
    uint8_t ctstate;                          /* -m conntrack --ctstate: CT_* bits, 0 when absent */
    struct recent_match recent;
    enum target target;
    uint8_t ct_policy;                        /* -j CT --timeout: the policy's index in ct_policies */
};

struct chain {
    struct rule rules[MAX_RULES];
    uint32_t count;
    enum target policy;
};

struct ruleset {
    struct chain raw, forward;                /* raw PREROUTING and filter FORWARD */
    bool uses_conntrack;
    char table_names[MAX_TABLES][NAME_LEN];
    uint32_t table_slots[MAX_TABLES];         /* stamps per entry, the largest any rule on the table needs */
    uint32_t tables;
};

/* RecentOptions.StampSlots: the hit count rounded up to a power of two, else 32. */
static uint32_t stamp_slots(uint32_t hit_count)
{
    uint32_t slots = 1;
    if (hit_count == 0)
        return 32;
    while (slots < hit_count)
        slots <<= 1;
    return slots;
}

static uint32_t parse_uint(const char *s, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        die("bad number '%s'", s);
    return (uint32_t)v;
}

static const char *next_token(char **cursor)
{
    char *t = strtok_r(NULL, " \t\r\n", cursor);
    if (t == NULL)
        die("an option lacks its value");
    return t;
}

static uint8_t parse_ctstate(const char *list)
{
    static const struct { const char *name; uint8_t bit; } states[] = {
        { "INVALID", CT_INVALID }, { "ESTABLISHED", CT_ESTABLISHED }, { "RELATED", CT_RELATED },
        { "NEW", CT_NEW }, { "UNTRACKED", CT_UNTRACKED },
    };
    char copy[128], *cursor;
    uint8_t mask = 0;
    snprintf(copy, sizeof copy, "%s", list);
    for (const char *name = strtok_r(copy, ",", &cursor); name != NULL; name = strtok_r(NULL, ",", &cursor)) {
        size_t i = 0;
        while (i < sizeof states / sizeof states[0] && strcmp(states[i].name, name))
            i++;
        if (i == sizeof states / sizeof states[0])
            die("unsupported ctstate '%s'", name);
        mask |= states[i].bit;
    }
    return mask;
}

static uint8_t ct_policy_index(const char *name)
{
    for (uint8_t i = 1; i < sizeof ct_policies / sizeof ct_policies[0]; i++)
        if (!strcmp(ct_policies[i].name, name))
            return i;
    die("no timeout policy named '%s'", name);
}

static void parse_rule(struct ruleset *rs, struct chain *chain, char **cursor)
{
    if (chain->count == MAX_RULES)
        die("more than %d rules", MAX_RULES);
    struct rule *r = &chain->rules[chain->count++];
    char name[NAME_LEN] = "DEFAULT";
    bool has_target = false;
    for (const char *tok; (tok = strtok_r(NULL, " \t\r\n", cursor)) != NULL;) {
        if (!strcmp(tok, "-p")) {
            const char *p = next_token(cursor);
            r->protocol = !strcmp(p, "tcp") ? 6 : !strcmp(p, "udp") ? 17 : !strcmp(p, "icmp") ? 1
                        : !strcmp(p, "all") ? 0 : (uint8_t)parse_uint(p, 255);
        } else if (!strcmp(tok, "-m")) {
            const char *m = next_token(cursor);
            if (strcmp(m, "tcp") && strcmp(m, "recent") && strcmp(m, "conntrack"))
                die("unsupported match '%s'", m);
            r->has_recent |= !strcmp(m, "recent");
        } else if (!strcmp(tok, "--dport")) {
            char range[32];
            snprintf(range, sizeof range, "%s", next_token(cursor));
            char *colon = strchr(range, ':');
            if (colon)
                *colon = '\0';
            r->has_dport = true;
            r->dport_first = (uint16_t)parse_uint(range, 65535);
            r->dport_last = colon ? (uint16_t)parse_uint(colon + 1, 65535) : r->dport_first;
        } else if (!strcmp(tok, "--set") || !strcmp(tok, "--rcheck") || !strcmp(tok, "--update")
                   || !strcmp(tok, "--remove")) {
            r->recent.command = tok[2] == 's' ? RECENT_SET : tok[3] == 'c' ? RECENT_CHECK
                              : tok[2] == 'u' ? RECENT_UPDATE : RECENT_REMOVE;
        } else if (!strcmp(tok, "--seconds")) {
            r->recent.seconds = parse_uint(next_token(cursor), UINT32_MAX);
        } else if (!strcmp(tok, "--hitcount")) {
            r->recent.hit_count = parse_uint(next_token(cursor), 65535);
        } else if (!strcmp(tok, "--rttl")) {
            r->recent.rttl = true;
        } else if (!strcmp(tok, "--reap")) {
            r->recent.reap = true;
        } else if (!strcmp(tok, "--name")) {
            snprintf(name, sizeof name, "%s", next_token(cursor));
        } else if (!strcmp(tok, "--rsource") || !strcmp(tok, "--rdest")) {
            r->recent.destination = tok[3] == 'd';
        } else if (!strcmp(tok, "--ctstate")) {
            r->ctstate = parse_ctstate(next_token(cursor));
            rs->uses_conntrack = true;
        } else if (!strcmp(tok, "--timeout")) {
            r->ct_policy = ct_policy_index(next_token(cursor));
        } else if (!strcmp(tok, "-j")) {
            const char *t = next_token(cursor);
            if (strcmp(t, "ACCEPT") && strcmp(t, "DROP") && strcmp(t, "CT"))
                die("unsupported target '%s'", t);
            r->target = t[0] == 'A' ? TARGET_ACCEPT : t[0] == 'D' ? TARGET_DROP : TARGET_CT;
            rs->uses_conntrack |= r->target == TARGET_CT;
            has_target = true;
        } else {
            die("unsupported option '%s'", tok);
        }
    }
    if (!has_target)
        die("a rule without -j ACCEPT, DROP or CT");
    if ((r->target == TARGET_CT) != (chain == &rs->raw))
        die("raw PREROUTING takes -j CT rules only, and -j CT belongs there");
    if (r->has_dport && r->protocol != 6)
        die("--dport needs -p tcp");
    if (r->has_recent != (r->recent.command != RECENT_NONE))
        die("-m recent needs exactly one of --set, --rcheck, --update, --remove");
    if (!r->has_recent)
        return;
    uint32_t t = 0;                           /* tables are created by the first rule naming them */
    while (t < rs->tables && strcmp(rs->table_names[t], name))
        t++;
    if (t == rs->tables) {
        if (t == MAX_TABLES)
            die("more than %d recent tables", MAX_TABLES);
        snprintf(rs->table_names[t], NAME_LEN, "%s", name);
        rs->tables++;
    }
    r->recent.table = t;
    uint32_t slots = stamp_slots(r->recent.hit_count);
    if (slots > rs->table_slots[t])
        rs->table_slots[t] = slots;
}

static void load_rules(const char *path, struct ruleset *rs)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("cannot open %s", path);
    char line[4096], *table = NULL, table_name[32] = "";
    *rs = (struct ruleset){ .raw.policy = TARGET_ACCEPT, .forward.policy = TARGET_ACCEPT };
    while (fgets(line, sizeof line, f)) {
        char *cursor;
        const char *first = strtok_r(line, " \t\r\n", &cursor);
        if (first == NULL || first[0] == '#' || !strcmp(first, "COMMIT"))
            continue;
        if (first[0] == '*') {
            snprintf(table_name, sizeof table_name, "%s", first + 1);
            table = table_name;
            if (strcmp(table, "filter") && strcmp(table, "raw"))
                die("only the filter and raw tables are supported, not '%s'", table);
        } else if (first[0] == ':') {
            const char *policy = strtok_r(NULL, " \t\r\n", &cursor);
            if (!strcmp(first, ":FORWARD") && policy != NULL)
                rs->forward.policy = !strcmp(policy, "DROP") ? TARGET_DROP : TARGET_ACCEPT;
        } else if (!strcmp(first, "-A")) {
            const char *chain = strtok_r(NULL, " \t\r\n", &cursor);
            if (table == NULL || chain == NULL)
                die("a rule outside a table in %s", path);
            /* INPUT and OUTPUT never see forwarded frames */
            if (!strcmp(table, "filter") && !strcmp(chain, "FORWARD"))
                parse_rule(rs, &rs->forward, &cursor);
            else if (!strcmp(table, "raw") && !strcmp(chain, "PREROUTING"))
                parse_rule(rs, &rs->raw, &cursor);
        } else {
            die("cannot read the line starting '%s'", first);
        }
    }
    fclose(f);
}

/* One worker's side of the ruleset: its own recent tables, connections and counters, as FastPath's RulesetState. */
struct chain_counters {
    uint64_t rule_packets[MAX_RULES], rule_bytes[MAX_RULES], policy_packets, policy_bytes;
};

struct ruleset_state {
    const struct ruleset *rs;
    struct recent_table tables[MAX_TABLES];
    struct ct_table conntrack;
    struct chain_counters raw, forward;
};

/* The matches in the order the benchmark rulesets give them: -p, --dport, --ctstate, recent. */
static bool rule_matches(struct ruleset_state *s, const struct rule *r, const struct packet *p, uint8_t ctstate, uint64_t now)
{
    if (r->protocol != 0 && p->protocol != r->protocol)
        return false;
    /* port matches never match a non-first fragment */
    if (r->has_dport && (p->fragment == FRAG_NONFIRST || p->dport < r->dport_first || p->dport > r->dport_last))
        return false;
    if (r->ctstate && !(r->ctstate & ctstate))
        return false;
    if (r->has_recent) {
        const uint64_t *addr = r->recent.destination ? p->dst : p->src;
        if (!recent_match(&s->tables[r->recent.table], &r->recent, addr, false, p->ttl, now))
            return false;
    }
    return true;
}

/* A chain's first matching rule with a verdict; -j CT records the template's policy (the first one wins) and goes on. */
static enum target walk_chain(struct ruleset_state *s, const struct chain *chain, struct chain_counters *counters,
                              const struct packet *p, uint8_t ctstate, uint64_t now, int *ct_policy)
{
    for (uint32_t i = 0; i < chain->count; i++) {
        const struct rule *r = &chain->rules[i];
        if (!rule_matches(s, r, p, ctstate, now))
            continue;
        counters->rule_packets[i]++;
        counters->rule_bytes[i] += p->ip_length;
        if (r->target != TARGET_CT)
            return r->target;
        if (*ct_policy < 0)
            *ct_policy = r->ct_policy;
    }
    counters->policy_packets++;
    counters->policy_bytes += p->ip_length;
    return chain->policy;
}

/* raw PREROUTING, connection tracking, filter FORWARD; then the new connection is confirmed or forgotten. */
static enum target evaluate(struct ruleset_state *s, const uint8_t *frame, const struct packet *p, uint64_t now)
{
    if (p->l3 != L3_IPV4)
        return TARGET_ACCEPT;
    const struct ruleset *rs = s->rs;
    int ct_policy = -1;
    if (rs->raw.count > 0 && walk_chain(s, &rs->raw, &s->raw, p, 0, now, &ct_policy) == TARGET_DROP)
        return TARGET_DROP;
    if (!rs->uses_conntrack)
        return walk_chain(s, &rs->forward, &s->forward, p, 0, now, &ct_policy);
    struct ct_result ct = ct_track(&s->conntrack, frame, p, ct_policy < 0 ? 0 : (uint8_t)ct_policy, now);
    if (ct.table_full)
        return TARGET_DROP;
    enum target verdict = walk_chain(s, &rs->forward, &s->forward, p, ct.state, now, &ct_policy);
    if (ct.unconfirmed) {
        if (verdict == TARGET_ACCEPT)
            ct_confirm(&s->conntrack, ct.entry, ct.hash);
        else
            ct_free(&s->conntrack, ct.entry);
    }
    return verdict;
}

/* ---- The in-memory port, as MemoryPort: frames replayed in a loop, transmitted frames counted. ---- */

struct burst {
    uint32_t count;
    uintptr_t handle[BURST];
    const uint8_t *data[BURST];
    uint32_t length[BURST], wire_length[BURST];
    int64_t timestamp[BURST];
};

struct rx_queue {
    const uint8_t *arena;
    uint32_t *offsets, *lengths;
    int64_t *timestamps;
    uint32_t frames, next;
    int64_t round;
    uint64_t received;
};

struct tx_queue {
    uint64_t packets, bytes;
};

static uint32_t port_receive(struct rx_queue *q, struct burst *b)
{
    uint32_t n = 0;
    if (q->frames == 0) {
        b->count = 0;
        return 0;
    }
    while (n < BURST) {
        if (q->next == q->frames) {
            q->next = 0;
            q->round++;
        }
        uint32_t i = q->next++;
        b->handle[n] = i;
        b->data[n] = q->arena + q->offsets[i];
        b->length[n] = q->lengths[i];
        b->wire_length[n] = q->lengths[i];
        b->timestamp[n] = q->timestamps[i] + q->round * LOOP_PERIOD_NS;
        n++;
    }
    q->received += n;
    b->count = n;
    return n;
}

static uint32_t port_transmit(struct tx_queue *q, const struct burst *b)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < b->count; i++)
        bytes += b->length[i];
    q->packets += b->count;
    q->bytes += bytes;
    return b->count;
}

/* ---- The worker: poll, parse, verdict, queue for tx, count. ---- */

struct counters {
    _Alignas(64) _Atomic uint64_t rx_packets[PORTS], rx_bytes[PORTS], tx_packets[PORTS], tx_bytes[PORTS];
    _Atomic uint64_t dropped[PORTS], drops[DROP_REASONS], polls, busy_polls;
    char padding[64];                         /* no line shared with the next worker's counters */
};

struct worker {
    int core;
    struct rx_queue rx_queue[PORTS];
    struct tx_queue tx_queue[PORTS];
    struct burst rx, tx[PORTS];
    uintptr_t release[PORTS][BURST];          /* dropped frames, given back a burst at a time */
    uint32_t release_count[PORTS];
    struct ruleset_state state;
    struct counters counters;
    pthread_t thread;
};

static atomic_bool stop_requested;

static inline int peer_of(int port) { return port ^ 1; }

/* The memory port frees nothing (MemoryPort.Release is empty); a DPDK build would call rte_pktmbuf_free_bulk. */
static void flush_release(struct worker *w, int port) { w->release_count[port] = 0; }

static inline void drop(struct worker *w, int port, uintptr_t handle, enum drop_reason reason)
{
    bump(&w->counters.dropped[port], 1);
    bump(&w->counters.drops[reason], 1);
    w->release[port][w->release_count[port]++] = handle;
    if (w->release_count[port] == BURST)
        flush_release(w, port);
}

static void flush_tx(struct worker *w, int port)
{
    struct burst *tx = &w->tx[port];
    uint32_t sent = port_transmit(&w->tx_queue[port], tx);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < sent; i++)
        bytes += tx->wire_length[i];
    bump(&w->counters.tx_packets[port], sent);
    bump(&w->counters.tx_bytes[port], bytes);
    tx->count = 0;                            /* the memory port takes every frame: nothing refused */
}

static void process_rx_burst(struct worker *w, int port)
{
    const struct burst *b = &w->rx;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        struct packet p;
        bytes += b->wire_length[i];
        enum drop_reason reason = parse(b->data[i], b->length[i], &p);
        if (reason != DROP_NONE) {
            drop(w, port, b->handle[i], reason);
            continue;
        }
        if (evaluate(&w->state, b->data[i], &p, (uint64_t)(b->timestamp[i] / NS_PER_JIFFY)) != TARGET_ACCEPT) {
            drop(w, port, b->handle[i], DROP_RULE);
            continue;
        }
        int out = peer_of(port);
        struct burst *tx = &w->tx[out];
        uint32_t n = tx->count++;
        tx->handle[n] = b->handle[i];
        tx->data[n] = b->data[i];
        tx->length[n] = b->length[i];
        tx->wire_length[n] = b->wire_length[i];
        tx->timestamp[n] = b->timestamp[i];
        if (tx->count == BURST)
            flush_tx(w, out);
    }
    bump(&w->counters.rx_packets[port], b->count);
    bump(&w->counters.rx_bytes[port], bytes);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->core, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (err)
        die("cannot pin a worker: %s", strerror(err));
    while (!atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
        bool busy = false;
        for (int port = 0; port < PORTS; port++) {
            if (port_receive(&w->rx_queue[port], &w->rx) > 0) {
                process_rx_burst(w, port);
                busy = true;
            }
        }
        for (int port = 0; port < PORTS; port++) {
            if (w->tx[port].count > 0)
                flush_tx(w, port);
        }
        for (int port = 0; port < PORTS; port++) {
            if (w->release_count[port] > 0)
                flush_release(w, port);
        }
        bump(&w->counters.polls, 1);
        if (busy)
            bump(&w->counters.busy_polls, 1);
    }
    return NULL;
}

/* ---- Traffic: SyntheticTraffic.Build for IPv4 TCP ACK segments to one port, 60-byte frames. ---- */

/* Flow i: client 10.s.s.s (s = i % sources) port 1024 + (i / sources) % 60000 -> 198.51.100.80:dport; the reply
 * goes the other way. With both directions (TrafficProfile.BothDirections) the segments acknowledge each other:
 * the client's from sequence 1000 acknowledging 5000, the server's from 5000 acknowledging the client's 6 bytes. */
static void build_frame(uint8_t *f, uint32_t i, uint32_t sources, uint16_t dport, bool both, bool reply)
{
    static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
    static const uint8_t server[4] = { 198, 51, 100, 80 };
    uint32_t source = i % sources;
    uint16_t client_port = (uint16_t)(1024 + (i / sources) % 60000);
    uint8_t client[4] = { 10, (uint8_t)(source >> 16), (uint8_t)(source >> 8), (uint8_t)source };
    uint16_t sport = reply ? dport : client_port, dst_port = reply ? client_port : dport;
    uint32_t seq = reply ? 5000 : 1000, ack = !both ? 0 : reply ? 1000 + FRAME_SIZE - 54 : 5000;
    uint8_t *ip = f + 14, *tcp = ip + 20;
    memset(f, 0, FRAME_SIZE);                 /* the 6 bytes after the TCP header are zero data */
    memcpy(f, macs, sizeof macs);
    f[12] = 0x08;
    ip[0] = 0x45;
    ip[3] = FRAME_SIZE - 14;                  /* total length 46: 20 + 20 + 6 */
    ip[4] = 0x12;
    ip[5] = 0x34;
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, reply ? server : client, 4);
    memcpy(ip + 16, reply ? client : server, 4);
    uint16_t checksum = (uint16_t)~checksum_fold(checksum_sum(ip, 20));
    ip[10] = (uint8_t)(checksum >> 8);
    ip[11] = (uint8_t)checksum;
    tcp[0] = (uint8_t)(sport >> 8);
    tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dst_port >> 8);
    tcp[3] = (uint8_t)dst_port;
    for (int k = 0; k < 4; k++) {
        tcp[4 + k] = (uint8_t)(seq >> (24 - 8 * k));
        tcp[8 + k] = (uint8_t)(ack >> (24 - 8 * k));
    }
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;                           /* ACK */
    tcp[14] = tcp[15] = 0xff;
    uint16_t tcp_checksum = (uint16_t)~checksum_fold(tcp_pseudo_sum(ip, FRAME_SIZE - 34) + checksum_sum(tcp, FRAME_SIZE - 34));
    tcp[16] = (uint8_t)(tcp_checksum >> 8);
    tcp[17] = (uint8_t)tcp_checksum;
}

/* MemoryPort.Load: one arena, frame k stamped k * 1000 ns in its first round. */
static void load_queue(struct rx_queue *q, const uint8_t *frames, const uint32_t *which, uint32_t n)
{
    uint8_t *arena = xcalloc(n ? n : 1, FRAME_SIZE);
    q->offsets = xcalloc(n ? n : 1, sizeof(uint32_t));
    q->lengths = xcalloc(n ? n : 1, sizeof(uint32_t));
    q->timestamps = xcalloc(n ? n : 1, sizeof(int64_t));
    for (uint32_t k = 0; k < n; k++) {
        memcpy(arena + (size_t)k * FRAME_SIZE, frames + (size_t)which[k] * FRAME_SIZE, FRAME_SIZE);
        q->offsets[k] = k * FRAME_SIZE;
        q->lengths[k] = FRAME_SIZE;
        q->timestamps[k] = (int64_t)k * 1000;
    }
    q->arena = arena;
    q->frames = n;
}

/* ---- Measurement: the same window and counters as fastpath-throughput's Measure. ---- */

struct snapshot {
    uint64_t rx, accepted, dropped;
};

static struct snapshot read_counters(struct counters *c)
{
    struct snapshot s = { .rx = peek(&c->rx_packets[0]) };
    for (int p = 0; p < PORTS; p++)
        s.accepted += peek(&c->tx_packets[p]);
    for (int r = 0; r < DROP_REASONS; r++)
        s.dropped += peek(&c->drops[r]);
    return s;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static const char usage[] =
    "usage: ssh-guard-baseline [options]\n"
    "  --rules FILE        iptables-save ruleset (default perf/ssh-guard-bench.rules)\n"
    "  --flows N           distinct 5-tuples (default 1024)\n"
    "  --sources N         distinct source addresses (default 256)\n"
    "  --capacity N        entries per recent table (default 100, the kernel's ip_list_tot)\n"
    "  --workers N         workers, pinned to the last N cores (default 1)\n"
    "  --dport N           destination port of the flows (default 22)\n"
    "  --directions 1|2    2: each flow also answers, one frame per direction (default 1)\n"
    "  --conntrack-max N   connections when the rules use conntrack, shared out between workers (default 1048576)\n"
    "  --warmup SECONDS    not measured (default 2)\n"
    "  --duration SECONDS  measured (default 10)\n"
    "Prints one markdown table row (header with --header).\n";

int main(int argc, char **argv)
{
    const char *rules_path = "perf/ssh-guard-bench.rules";
    uint32_t flows = 1024, sources = 256, capacity = 100, workers = 1, dport = 22, directions = 1, conntrack_max = 1u << 20;
    double warmup = 2, duration = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--header")) {
            puts("| program | workers | frame | flows | sources | recent capacity | Mpps total | Mpps per worker "
                 "| ns/packet per worker | accepted | dropped |\n|---|---|---|---|---|---|---|---|---|---|---|");
            return 0;
        }
        if (i + 1 == argc) {
            fputs(usage, stderr);
            return 2;
        }
        const char *o = argv[i], *v = argv[++i];
        if (!strcmp(o, "--rules"))
            rules_path = v;
        else if (!strcmp(o, "--flows"))
            flows = parse_uint(v, 1u << 26);
        else if (!strcmp(o, "--sources"))
            sources = parse_uint(v, 1u << 24);
        else if (!strcmp(o, "--capacity"))
            capacity = parse_uint(v, 1u << 26);
        else if (!strcmp(o, "--workers"))
            workers = parse_uint(v, 64);
        else if (!strcmp(o, "--dport"))
            dport = parse_uint(v, 65535);
        else if (!strcmp(o, "--directions"))
            directions = parse_uint(v, 2);
        else if (!strcmp(o, "--conntrack-max"))
            conntrack_max = parse_uint(v, 1u << 28);
        else if (!strcmp(o, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(o, "--duration"))
            duration = atof(v);
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (flows == 0 || capacity == 0 || workers == 0 || workers > cores || duration <= 0 || directions == 0 || conntrack_max == 0)
        die("flows, capacity, directions, conntrack-max and duration must be above 0, workers 1 to %ld", cores);
    sources = sources < 1 ? 1 : sources > flows ? flows : sources;  /* SyntheticTraffic clamps to 1..flows */

    static struct ruleset rs;
    load_rules(rules_path, &rs);

    /* Every frame (a flow's two directions one after the other), then each worker's share: the flows whose
     * symmetric hash it owns, as with symmetric RSS. */
    uint32_t count = flows * directions;
    uint8_t *frames = xcalloc(count, FRAME_SIZE);
    uint32_t *owner = xcalloc(count, sizeof(uint32_t));
    for (uint32_t i = 0; i < count; i++) {
        struct packet p;
        build_frame(frames + (size_t)i * FRAME_SIZE, i / directions, sources, (uint16_t)dport, directions == 2, i % directions);
        if (parse(frames + (size_t)i * FRAME_SIZE, FRAME_SIZE, &p) != DROP_NONE)
            die("a generated frame does not parse");
        owner[i] = (uint32_t)(((uint64_t)flow_hash_symmetric(&p) * workers) >> 32);
    }

    struct worker *ws = aligned_alloc(64, workers * sizeof *ws);
    if (ws == NULL)
        die("out of memory");
    memset(ws, 0, workers * sizeof *ws);
    uint32_t *which = xcalloc(count, sizeof(uint32_t));
    for (uint32_t w = 0; w < workers; w++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < count; i++)
            if (owner[i] == w)
                which[n++] = i;
        load_queue(&ws[w].rx_queue[0], frames, which, n);
        load_queue(&ws[w].rx_queue[1], frames, which, 0);
        ws[w].core = (int)(cores - workers + w);
        ws[w].state.rs = &rs;
        for (uint32_t t = 0; t < rs.tables; t++)
            recent_init(&ws[w].state.tables[t], capacity, rs.table_slots[t]);
        if (rs.uses_conntrack)   /* ConnectionTracker.ShardCapacity */
            ct_init(&ws[w].state.conntrack, (conntrack_max + workers - 1) / workers);
    }
    free(which);
    free(owner);
    free(frames);

    for (uint32_t w = 0; w < workers; w++) {
        int err = pthread_create(&ws[w].thread, NULL, worker_main, &ws[w]);
        if (err)
            die("cannot start a worker: %s", strerror(err));
    }
    sleep_seconds(warmup);
    struct snapshot before[64], after[64];
    for (uint32_t w = 0; w < workers; w++)
        before[w] = read_counters(&ws[w].counters);
    double start = now_seconds();
    sleep_seconds(duration);
    double elapsed = now_seconds() - start;
    for (uint32_t w = 0; w < workers; w++)
        after[w] = read_counters(&ws[w].counters);
    atomic_store(&stop_requested, true);
    for (uint32_t w = 0; w < workers; w++)
        pthread_join(ws[w].thread, NULL);

    uint64_t packets = 0, accepted = 0, dropped = 0;
    char mpps[512] = "", ns[512] = "";
    for (uint32_t w = 0; w < workers; w++) {
        uint64_t rx = after[w].rx - before[w].rx;
        packets += rx;
        accepted += after[w].accepted - before[w].accepted;
        dropped += after[w].dropped - before[w].dropped;
        size_t m = strlen(mpps), k = strlen(ns);
        snprintf(mpps + m, sizeof mpps - m, "%s%.2f", w ? " / " : "", rx / elapsed / 1e6);
        snprintf(ns + k, sizeof ns - k, "%s%.1f", w ? " / " : "", rx ? elapsed * 1e9 / rx : 0.0);
    }
    printf("| c-baseline | %u | %d | %u | %u | %u | %.2f | %s | %s | %" PRIu64 " | %" PRIu64 " |\n", workers,
           FRAME_SIZE, flows, sources, capacity, packets / elapsed / 1e6, mpps, ns, accepted, dropped);
    return 0;
}
